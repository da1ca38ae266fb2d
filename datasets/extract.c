#include "datasets/extract.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/file.h"
#include "core/log.h"

void biqa_extract_limits_default(biqa_extract_limits *l)
{
    *l = (biqa_extract_limits){.max_total_bytes = (int64_t)64 << 30,
                               .max_ratio = 200,
                               .max_entries = 1000000};
}

/* What this call created, in creation order: undone in reverse on failure. */
typedef struct made {
    char *rel;  /* relative to dest */
    int is_dir;
} made;

typedef struct job {
    const char *archive, *dest;
    const biqa_extract_limits *lim;
    int dest_fd;
    double archive_bytes;
    int64_t total;           /* file bytes written so far */
    made *made;
    size_t n_made, cap_made;
    biqa_extract_list list;
    size_t cap_files;
    char *buf;               /* copy buffer */
} job;

enum { COPY_CHUNK = 256 << 10 };

static int remember(job *j, const char *rel, int is_dir)
{
    if (j->n_made == j->cap_made) {
        size_t cap = j->cap_made ? 2 * j->cap_made : 64;
        made *m = realloc(j->made, cap * sizeof *m);
        if (!m)
            return -1;
        j->made = m;
        j->cap_made = cap;
    }
    char *copy = strdup(rel);
    if (!copy)
        return -1;
    j->made[j->n_made++] = (made){copy, is_dir};
    return 0;
}

/* Normalises an entry's path: '/'-separated components, "" and "." dropped.
 * Refuses absolute paths and ".." anywhere. Writes the result (possibly
 * empty: the destination itself) to out. */
static int clean_path(const char *p, char *out, size_t n, const char **why)
{
    if (p[0] == '/') {
        *why = "absolute path";
        return -1;
    }
    size_t len = 0;
    out[0] = '\0';
    for (const char *s = p; *s;) {
        const char *e = strchr(s, '/');
        size_t cl = e ? (size_t)(e - s) : strlen(s);
        if (cl == 2 && s[0] == '.' && s[1] == '.') {
            *why = "'..' in its path";
            return -1;
        }
        if (cl > 0 && !(cl == 1 && s[0] == '.')) {
            if (len + cl + 2 > n) {
                *why = "path too long";
                return -1;
            }
            if (len)
                out[len++] = '/';
            memcpy(out + len, s, cl);
            len += cl;
            out[len] = '\0';
        }
        s += cl + (e != NULL);
    }
    return 0;
}

/* Makes (or enters) the directories of rel[0, upto) one component at a
 * time, never following a link, and returns a descriptor of the last one. */
static int open_dirs(job *j, char *rel, size_t upto, const char *entry, biqa_error *err)
{
    int fd = dup(j->dest_fd);
    if (fd < 0)
        return biqa_fail(err, "%s: %s", j->dest, strerror(errno));
    for (size_t at = 0; at < upto;) {
        char *slash = memchr(rel + at, '/', upto - at);
        size_t end = slash ? (size_t)(slash - rel) : upto;
        char saved = rel[end];
        rel[end] = '\0';
        const char *comp = rel + at;
        int created = mkdirat(fd, comp, 0755) == 0;
        int e = errno;
        if (!created && e != EEXIST) {
            close(fd);
            biqa_fail(err, "%s: entry '%s': cannot create directory %s/%s: %s", j->archive,
                      entry, j->dest, rel, strerror(e));
            rel[end] = saved;
            return -1;
        }
        if (created && remember(j, rel, 1) < 0) {
            close(fd);
            rel[end] = saved;
            return biqa_fail(err, "%s: out of memory", j->archive);
        }
        int next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        e = errno;
        close(fd);
        if (next < 0) {
            biqa_fail(err, "%s: entry '%s': %s/%s is not a directory (%s)", j->archive, entry,
                      j->dest, rel, strerror(e));
            rel[end] = saved;
            return -1;
        }
        rel[end] = saved;
        fd = next;
        at = end + 1;
    }
    return fd;
}

static int over_limits(job *j, int64_t total, const char *entry, const char *what,
                       biqa_error *err)
{
    if (total > j->lim->max_total_bytes)
        return biqa_fail(err, "%s: entry '%s': %s %lld bytes in all, over the cap of %lld",
                         j->archive, entry, what, (long long)total,
                         (long long)j->lim->max_total_bytes);
    if ((double)total > j->lim->max_ratio * j->archive_bytes)
        return biqa_fail(err, "%s: entry '%s': %s %lld bytes from a %.0f-byte archive, over the "
                         "compression ratio cap of %g (a compression bomb?)", j->archive, entry,
                         what, (long long)total, j->archive_bytes, j->lim->max_ratio);
    return 0;
}

static int add_file(job *j, const char *rel, int64_t bytes, const char hex[65])
{
    if (j->list.n == j->cap_files) {
        size_t cap = j->cap_files ? 2 * j->cap_files : 64;
        biqa_extracted_file *f = realloc(j->list.files, cap * sizeof *f);
        if (!f)
            return -1;
        j->list.files = f;
        j->cap_files = cap;
    }
    biqa_extracted_file *f = &j->list.files[j->list.n];
    if (!(f->path = strdup(rel)))
        return -1;
    f->bytes = bytes;
    memcpy(f->sha256, hex, 65);
    j->list.n++;
    j->list.total_bytes += bytes;
    return 0;
}

/* Streams the current entry's data into dir/leaf, created exclusively, with
 * the caps checked after every block. */
static int write_file(job *j, struct archive *a, struct archive_entry *ae, int dir, char *rel,
                      const char *leaf, const char *entry, biqa_error *err)
{
    int declared = archive_entry_size_is_set(ae);
    int64_t size = archive_entry_size(ae);
    if (declared && over_limits(j, j->total + size, entry, "declares", err) < 0)
        return -1;
    int fd = openat(dir, leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0 && errno == EEXIST)
        return biqa_fail(err, "%s: entry '%s': %s/%s already exists", j->archive, entry, j->dest,
                         rel);
    if (fd < 0)
        return biqa_fail(err, "%s: entry '%s': cannot create %s/%s: %s", j->archive, entry,
                         j->dest, rel, strerror(errno));
    if (remember(j, rel, 0) < 0) {
        close(fd);
        return biqa_fail(err, "%s: out of memory", j->archive);
    }
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
        EVP_MD_CTX_free(md);
        close(fd);
        return biqa_fail(err, "%s: cannot initialise SHA-256", j->archive);
    }
    int64_t got = 0;
    int rc = 0;
    for (;;) {
        /* archive_read_data fills a sparse entry's holes with zeros. */
        la_ssize_t n = archive_read_data(a, j->buf, COPY_CHUNK);
        if (n == 0)
            break;
        if (n < 0) {
            rc = biqa_fail(err, "%s: entry '%s': truncated or corrupt archive: %s", j->archive,
                           entry, archive_error_string(a));
            break;
        }
        got += n;
        if (over_limits(j, j->total + got, entry, "expands to", err) < 0) {
            rc = -1;
            break;
        }
        if (declared && got > size) {
            rc = biqa_fail(err, "%s: entry '%s': more data than its declared %lld bytes",
                           j->archive, entry, (long long)size);
            break;
        }
        for (la_ssize_t at = 0; at < n;) {
            ssize_t w = write(fd, j->buf + at, (size_t)(n - at));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0) {
                rc = biqa_fail(err, "%s/%s: %s", j->dest, rel, strerror(errno));
                break;
            }
            at += w;
        }
        if (rc < 0)
            break;
        EVP_DigestUpdate(md, j->buf, (size_t)n);
    }
    if (close(fd) < 0 && rc == 0)
        rc = biqa_fail(err, "%s/%s: %s", j->dest, rel, strerror(errno));
    if (rc == 0 && declared && got != size)
        rc = biqa_fail(err, "%s: entry '%s': %lld bytes of its declared %lld: truncated archive",
                       j->archive, entry, (long long)got, (long long)size);
    if (rc == 0) {
        unsigned char d[EVP_MAX_MD_SIZE];
        unsigned int dn = 0;
        char hex[65];
        EVP_DigestFinal_ex(md, d, &dn);
        for (unsigned i = 0; i < dn; i++)
            snprintf(hex + 2 * i, 3, "%02x", d[i]);
        j->total += got;
        if (add_file(j, rel, got, hex) < 0)
            rc = biqa_fail(err, "%s: out of memory", j->archive);
    }
    EVP_MD_CTX_free(md);
    return rc;
}

static const char *kind_name(mode_t type)
{
    switch (type) {
    case AE_IFLNK:
        return "a symbolic link";
    case AE_IFCHR:
        return "a character device";
    case AE_IFBLK:
        return "a block device";
    case AE_IFIFO:
        return "a FIFO";
    case AE_IFSOCK:
        return "a socket";
    default:
        return "of an unknown type";
    }
}

static int one_entry(job *j, struct archive *a, struct archive_entry *ae, int64_t index,
                     biqa_error *err)
{
    const char *entry = archive_entry_pathname(ae);
    if (!entry)
        entry = archive_entry_pathname_utf8(ae);
    if (!entry)
        return biqa_fail(err, "%s: entry %lld: its path cannot be read", j->archive,
                         (long long)index);
    char rel[4096];
    const char *why = NULL;
    if (clean_path(entry, rel, sizeof rel, &why) < 0)
        return biqa_fail(err, "%s: entry '%s': refused: %s", j->archive, entry, why);
    const char *link = archive_entry_hardlink(ae);
    if (link)
        return biqa_fail(err, "%s: entry '%s': refused: a hard link (to '%s'); links are never "
                         "extracted", j->archive, entry, link);
    mode_t type = archive_entry_filetype(ae);
    if (type == AE_IFLNK)
        return biqa_fail(err, "%s: entry '%s': refused: a symbolic link (to '%s'); links are "
                         "never extracted", j->archive, entry, archive_entry_symlink(ae));
    if (type != AE_IFREG && type != AE_IFDIR)
        return biqa_fail(err, "%s: entry '%s': refused: %s", j->archive, entry, kind_name(type));
    if (type == AE_IFDIR) {
        int fd = open_dirs(j, rel, strlen(rel), entry, err);
        if (fd < 0)
            return -1;
        close(fd);
        return 0;
    }
    if (!rel[0])
        return biqa_fail(err, "%s: entry '%s': refused: a file with an empty path", j->archive,
                         entry);
    char *slash = strrchr(rel, '/');
    size_t dir_len = slash ? (size_t)(slash - rel) : 0;
    int dir = open_dirs(j, rel, dir_len, entry, err);
    if (dir < 0)
        return -1;
    int rc = write_file(j, a, ae, dir, rel, slash ? slash + 1 : rel, entry, err);
    close(dir);
    return rc;
}

/* Creates dest's missing components, remembering which (they are removed on
 * failure along with everything else). Returns how many were created, or -1. */
static int make_dest(const char *dest, char ***made_out, biqa_error *err)
{
    *made_out = NULL;
    size_t len = strlen(dest);
    char *p = strdup(dest);
    char **made = calloc(len + 1, sizeof *made);
    if (!p || !made) {
        free(p);
        free(made);
        return biqa_fail(err, "%s: out of memory", dest);
    }
    int n = 0;
    for (size_t i = 1; i <= len; i++) {
        if (p[i] != '/' && p[i] != '\0')
            continue;
        char c = p[i];
        p[i] = '\0';
        int created = mkdir(p, 0755) == 0;
        if (created && !(made[n] = strdup(p)))
            rmdir(p);
        if (created && made[n]) {
            n++;
        } else if (created || errno != EEXIST) {
            if (created)
                biqa_fail(err, "%s: out of memory", dest);
            else
                biqa_fail(err, "%s: cannot create directory: %s", p, strerror(errno));
            for (int k = n - 1; k >= 0; k--)
                rmdir(made[k]), free(made[k]);
            free(made);
            free(p);
            return -1;
        }
        p[i] = c;
    }
    free(p);
    *made_out = made;
    return n;
}

static int cmp_files(const void *a, const void *b)
{
    return strcmp(((const biqa_extracted_file *)a)->path, ((const biqa_extracted_file *)b)->path);
}

/* Formats read: the dataset archive formats. Not archive_read_support_format_all:
 * it includes mtree, whose "archives" name files on the local disk to copy. */
static void support_formats(struct archive *a)
{
    archive_read_support_filter_all(a);
    archive_read_support_format_tar(a);
    archive_read_support_format_gnutar(a);
    archive_read_support_format_zip(a);
    archive_read_support_format_7zip(a);
    archive_read_support_format_rar(a);
    archive_read_support_format_rar5(a);
    archive_read_support_format_cpio(a);
}

int biqa_extract(const char *archive, const char *dest, const biqa_extract_limits *lim,
                 biqa_extract_list *out, biqa_error *err)
{
    *out = (biqa_extract_list){0};
    struct stat st;
    if (stat(archive, &st) < 0)
        return biqa_fail(err, "%s: %s", archive, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return biqa_fail(err, "%s: not a regular file", archive);
    job j = {.archive = archive, .dest = dest, .lim = lim, .dest_fd = -1,
             .archive_bytes = st.st_size > 0 ? (double)st.st_size : 1};
    char **dest_made = NULL;
    int n_dest_made = make_dest(dest, &dest_made, err);
    if (n_dest_made < 0)
        return -1;
    int rc = -1;
    locale_t utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0), saved = (locale_t)0;
    struct archive *a = archive_read_new();
    j.buf = malloc(COPY_CHUNK);
    j.dest_fd = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (!a || !j.buf) {
        biqa_fail(err, "%s: out of memory", archive);
        goto done;
    }
    if (j.dest_fd < 0) {
        biqa_fail(err, "%s: %s", dest, strerror(errno));
        goto done;
    }
    support_formats(a);
    /* Entry names are converted to the current locale's charset; under the C
     * locale a UTF-8 name (zip's flag 11, pax headers) does not convert, so
     * this thread reads with a UTF-8 LC_CTYPE and the names land on disk as
     * UTF-8 bytes. The caller's locale is restored below. */
    if (utf8 != (locale_t)0)
        saved = uselocale(utf8);
    if (archive_read_open_filename(a, archive, 1 << 16) != ARCHIVE_OK) {
        biqa_fail(err, "%s: not an archive biqa can read: %s", archive, archive_error_string(a));
        goto done;
    }
    int64_t entries = 0;
    for (;;) {
        struct archive_entry *ae;
        int r = archive_read_next_header(a, &ae);
        if (r == ARCHIVE_EOF)
            break;
        if (r == ARCHIVE_WARN)
            biqa_debug("%s: %s", archive, archive_error_string(a));
        else if (r != ARCHIVE_OK) {
            biqa_fail(err, "%s: truncated or corrupt archive after %lld entries: %s", archive,
                      (long long)entries, archive_error_string(a));
            goto done;
        }
        if (++entries > lim->max_entries) {
            biqa_fail(err, "%s: more than the cap of %lld entries", archive,
                      (long long)lim->max_entries);
            goto done;
        }
        if (one_entry(&j, a, ae, entries, err) < 0)
            goto done;
    }
    qsort(j.list.files, j.list.n, sizeof *j.list.files, cmp_files);
    *out = j.list;
    j.list = (biqa_extract_list){0};
    rc = 0;
done:
    if (rc < 0) {
        for (size_t i = j.n_made; i-- > 0;)
            if (unlinkat(j.dest_fd, j.made[i].rel, j.made[i].is_dir ? AT_REMOVEDIR : 0) < 0)
                biqa_warn("%s/%s: could not remove after the failed extraction: %s", dest,
                          j.made[i].rel, strerror(errno));
        for (int k = n_dest_made - 1; k >= 0; k--)
            rmdir(dest_made[k]);
    }
    for (int k = 0; k < n_dest_made; k++)
        free(dest_made[k]);
    free(dest_made);
    for (size_t i = 0; i < j.n_made; i++)
        free(j.made[i].rel);
    free(j.made);
    biqa_extract_list_free(&j.list);
    if (j.dest_fd >= 0)
        close(j.dest_fd);
    if (a)
        archive_read_free(a);
    if (saved != (locale_t)0)
        uselocale(saved);
    if (utf8 != (locale_t)0)
        freelocale(utf8);
    free(j.buf);
    return rc;
}

void biqa_extract_list_free(biqa_extract_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->files[i].path);
    free(l->files);
    *l = (biqa_extract_list){0};
}

int biqa_extract_list_write(const biqa_extract_list *l, const char *path, biqa_error *err)
{
    biqa_atomic_file f;
    if (biqa_atomic_open(&f, path, err) < 0)
        return -1;
    for (size_t i = 0; i < l->n; i++) {
        char head[68];
        snprintf(head, sizeof head, "%s  ", l->files[i].sha256);
        if (biqa_atomic_write(&f, head, 66, err) < 0 ||
            biqa_atomic_write(&f, l->files[i].path, strlen(l->files[i].path), err) < 0 ||
            biqa_atomic_write(&f, "\n", 1, err) < 0)
            return -1;
    }
    return biqa_atomic_commit(&f, err);
}
