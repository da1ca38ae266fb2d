/* biqa datasets fetch, and the staging path import shares
 * (datasets/dataset_fetch.h). */
#include "core/digest.h"
#include "datasets/dataset_fetch.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "build_info.h"
#include "core/file.h"
#include "core/log.h"
#include "datasets/extract.h"
#include "datasets/fetch.h"
#include "datasets/index.h"
#include "datasets/labels.h"

/* ---- file lists, staging, progress ------------------------------------------ */

int biqa_ds_files_add(biqa_ds_files *l, const char *path, int64_t bytes, const char *sha256,
                      biqa_error *err)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 256;
        biqa_ds_file *v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return biqa_fail(err, "%s: out of memory", path);
        l->v = v, l->cap = cap;
    }
    biqa_ds_file *f = &l->v[l->n];
    if (!(f->path = strdup(path)))
        return biqa_fail(err, "%s: out of memory", path);
    f->bytes = bytes;
    snprintf(f->sha256, sizeof f->sha256, "%s", sha256);
    l->n++;
    return 0;
}

void biqa_ds_files_free(biqa_ds_files *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].path);
    free(l->v);
    memset(l, 0, sizeof *l);
}

int biqa_ds_staging_new(const biqa_ds_paths *p, char out[BIQA_DS_PATH], biqa_error *err)
{
    if (biqa_mkdir_p(p->work, err) < 0)
        return -1;
    /* Staging folders of runs that died: the caller holds the lock, so no
     * live process owns them. */
    DIR *d = opendir(p->work);
    for (struct dirent *e; d && (e = readdir(d));)
        if (strncmp(e->d_name, "staging-", 8) == 0 || strncmp(e->d_name, "replaced-", 9) == 0) {
            char path[BIQA_DS_PATH + 256];
            snprintf(path, sizeof path, "%s/%s", p->work, e->d_name);
            if (biqa_ds_remove_tree(path, err) < 0) {
                closedir(d);
                return -1;
            }
        }
    if (d)
        closedir(d);
    if (snprintf(out, BIQA_DS_PATH, "%s/staging-XXXXXX", p->work) >= BIQA_DS_PATH)
        return biqa_fail(err, "%s: path too long", p->work);
    if (!mkdtemp(out))
        return biqa_fail(err, "%s: cannot create a staging folder: %s", p->work, strerror(errno));
    biqa_ds_default_mode(out, 0777);
    return 0;
}

void biqa_ds_default_mode(const char *path, unsigned mode)
{
    /* mkdtemp and mkstemp create private (0700 / 0600) entries; a dataset
     * gets the modes any new file would get under the user's umask. */
    const mode_t mask = umask(0);
    umask(mask);
    chmod(path, (mode_t)mode & ~mask);
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

void biqa_ds_progress_start(biqa_ds_progress *pr, const char *what, int64_t total, int on)
{
    pr->what = what, pr->total = total, pr->on = on;
    pr->t0 = pr->last = now_s();
}

void biqa_ds_progress_step(biqa_ds_progress *pr, int64_t done, int64_t bytes, int final)
{
    const double t = now_s();
    if (!pr->on || (!final && t - pr->last < 2.0))
        return;
    pr->last = t;
    const double rate = bytes / (t - pr->t0 > 1e-9 ? t - pr->t0 : 1e-9) / 1e6;
    const double eta = done > 0 && pr->total > done ? (t - pr->t0) * (double)(pr->total - done) / (double)done : 0;
    if (final)
        biqa_info("%s: %lld/%lld files, %.1f MB in %.1f s", pr->what, (long long)done,
                  (long long)pr->total, (double)bytes / 1e6, t - pr->t0);
    else
        biqa_info("%s: %lld/%lld files, %.1f MB/s, ETA %.0f s", pr->what, (long long)done,
                  (long long)pr->total, rate, eta);
}

/* Appends formatted text to buf (size n), truncating quietly: for messages. */
static void append(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void append(char *buf, size_t n, const char *fmt, ...)
{
    size_t used = strlen(buf);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + used, n - used, fmt, ap);
    va_end(ap);
}

/* ---- downloading one source ------------------------------------------------- */

static int file_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

static int md5_file(const char *path, char hex[33], biqa_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return biqa_fail(err, "%s: %s", path, strerror(errno));
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char buf[1 << 16];
    int rc = md && EVP_DigestInit_ex(md, EVP_md5(), NULL) == 1 ? 0
                                                               : biqa_fail(err, "%s: MD5 unavailable", path);
    for (size_t n; rc == 0 && (n = fread(buf, 1, sizeof buf, f)) > 0;)
        EVP_DigestUpdate(md, buf, n);
    if (rc == 0 && ferror(f))
        rc = biqa_fail(err, "%s: read error", path);
    if (rc == 0) {
        unsigned char d[EVP_MAX_MD_SIZE];
        unsigned int dl = 0;
        EVP_DigestFinal_ex(md, d, &dl);
        for (unsigned i = 0; i < dl; i++)
            snprintf(hex + 2 * i, 3, "%02x", d[i]);
    }
    EVP_MD_CTX_free(md);
    fclose(f);
    return rc;
}

/* Downloads every file of s (or, offline, checks them), pinning unknown
 * digests; each file is described in the downloads array. */
static int fetch_source(const biqa_ds_paths *p, const biqa_manifest_source *s,
                        const biqa_ds_options *o, cJSON *downloads, biqa_ds_result *r,
                        biqa_error *err)
{
    biqa_fetch_options fo;
    biqa_fetch_options_default(&fo);
    fo.offline = o->offline;
    fo.progress = o->progress;
    if (biqa_mkdir_p(p->downloads, err) < 0)
        return -1;
    for (int i = 0; i < s->n_files; i++) {
        const biqa_manifest_file *f = &s->files[i];
        char pin[BIQA_SHA256_HEX_LEN] = "";
        int64_t pin_bytes = -1;
        int pinned = 0;
        if (!f->sha256 && biqa_ds_pin_get(p, s->name, f->file, pin, &pin_bytes, &pinned, err) < 0)
            return -1;
        const char *want = f->sha256 ? f->sha256 : pinned ? pin : NULL;
        biqa_fetch_source *m = calloc((size_t)f->n_urls, sizeof *m);
        if (!m)
            return biqa_fail(err, "%s: out of memory", f->file);
        for (int u = 0; u < f->n_urls; u++)
            m[u] = (biqa_fetch_source){f->urls[u], f->file, f->bytes >= 0 ? f->bytes : pin_bytes,
                                       want};
        char hex[65];
        const char *used = NULL;
        int rc = biqa_fetch_file(m, f->n_urls, p->downloads, &fo, hex, &used, err);
        free(m);
        if (rc < 0)
            return -1;
        char path[BIQA_DS_PATH + 256];
        snprintf(path, sizeof path, "%s/%s", p->downloads, f->file);
        struct stat sb;
        if (stat(path, &sb) != 0)
            return biqa_fail(err, "%s: %s", path, strerror(errno));
        if (!want) {
            /* First download of a file of unknown digest: check the published
             * MD5 if any, then pin what arrived so later downloads must match. */
            if (f->md5) {
                char md5[33];
                if (md5_file(path, md5, err) < 0)
                    return -1;
                if (strcmp(md5, f->md5) != 0) {
                    unlink(path);
                    return biqa_fail(err, "%s: MD5 %s differs from the published %s (deleted)",
                                     used ? used : path, md5, f->md5);
                }
            }
            if (biqa_ds_pin_put(p, s->name, f->file, hex, (int64_t)sb.st_size, used, err) < 0)
                return -1;
            append(r->pinned, sizeof r->pinned, "%s%s sha256 %s", *r->pinned ? "; " : "",
                   f->file, hex);
            biqa_info("%s: digest unknown to the manifest: pinned sha256 %s (%s); later "
                      "downloads must match it", f->file, hex, p->pins);
        }
        cJSON *d = cJSON_CreateObject();
        cJSON_AddStringToObject(d, "file", f->file);
        cJSON_AddStringToObject(d, "sha256", hex);
        cJSON_AddNumberToObject(d, "bytes", (double)sb.st_size);
        cJSON_AddStringToObject(d, "url", used ? used : "");
        cJSON_AddStringToObject(d, "format", f->format);
        cJSON_AddStringToObject(d, "digest_origin", f->sha256 ? "manifest" : want ? "pinned" : "pinned now");
        cJSON_AddItemToArray(downloads, d);
        r->bytes += sb.st_size;
    }
    return 0;
}

int biqa_ds_copy_file(const char *src, const char *dst, char hex[BIQA_SHA256_HEX_LEN],
                      int64_t *bytes, biqa_error *err)
{
    int in = open(src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (in < 0)
        return biqa_fail(err, "%s: %s", src, strerror(errno));
    int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (out < 0) {
        int e = errno;
        close(in);
        return biqa_fail(err, "%s: %s", dst, strerror(e));
    }
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char *buf = malloc(1 << 20);
    int rc = md && buf && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1
                 ? 0
                 : biqa_fail(err, "%s: out of memory", dst);
    int64_t total = 0;
    while (rc == 0) {
        ssize_t n = read(in, buf, 1 << 20);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            rc = biqa_fail(err, "%s: read: %s", src, strerror(errno));
        if (n <= 0)
            break;
        for (ssize_t w = 0; rc == 0 && w < n;) {
            ssize_t k = write(out, buf + w, (size_t)(n - w));
            if (k < 0 && errno != EINTR)
                rc = biqa_fail(err, "%s: write: %s", dst, strerror(errno));
            w += k > 0 ? k : 0;
        }
        EVP_DigestUpdate(md, buf, (size_t)n);
        total += n;
    }
    if (close(out) != 0 && rc == 0)
        rc = biqa_fail(err, "%s: close: %s", dst, strerror(errno));
    close(in);
    if (rc == 0) {
        unsigned char d[EVP_MAX_MD_SIZE];
        unsigned int dl = 0;
        EVP_DigestFinal_ex(md, d, &dl);
        for (unsigned i = 0; i < dl; i++)
            snprintf(hex + 2 * i, 3, "%02x", d[i]);
        *bytes = total;
    } else {
        unlink(dst);
    }
    EVP_MD_CTX_free(md);
    free(buf);
    return rc;
}

/* Puts a downloaded file of format "file" into staging under its name: a
 * hard link when possible (same file system), else a copy. */
static int place_file(const char *src, const char *staging, const char *name,
                      biqa_ds_files *files, biqa_error *err)
{
    char dst[BIQA_DS_PATH + 256], hex[65];
    int64_t bytes;
    snprintf(dst, sizeof dst, "%s/%s", staging, name);
    if (link(src, dst) == 0) {
        if (biqa_sha256_file(dst, hex, &bytes, err) < 0)
            return -1;
    } else if (errno == EEXIST) {
        return biqa_fail(err, "%s: an archive of the same source already holds '%s'", src, name);
    } else if (biqa_ds_copy_file(src, dst, hex, &bytes, err) < 0) {
        return -1;
    }
    return biqa_ds_files_add(files, name, bytes, hex, err);
}

/* Extracts (or places) every file of s from the downloads into staging. */
static int unpack_source(const biqa_ds_paths *p, const biqa_manifest_source *s,
                         const char *staging, biqa_ds_files *files, biqa_error *err)
{
    for (int i = 0; i < s->n_files; i++) {
        const biqa_manifest_file *f = &s->files[i];
        char path[BIQA_DS_PATH + 256];
        snprintf(path, sizeof path, "%s/%s", p->downloads, f->file);
        if (strcmp(f->format, "file") == 0) {
            if (place_file(path, staging, f->file, files, err) < 0)
                return -1;
            continue;
        }
        biqa_info("extracting %s", f->file);
        biqa_extract_limits lim;
        biqa_extract_limits_default(&lim);
        biqa_extract_list list = {0};
        if (biqa_extract(path, staging, &lim, &list, err) < 0)
            return -1;
        int rc = 0;
        for (size_t k = 0; k < list.n && rc == 0; k++)
            rc = biqa_ds_files_add(files, list.files[k].path, list.files[k].bytes,
                                   list.files[k].sha256, err);
        biqa_extract_list_free(&list);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* ---- labels, index, provenance, commit --------------------------------------- */

int biqa_ds_check_replaceable(const biqa_ds_paths *p, biqa_error *err)
{
    /* Only a dataset biqa made is ever replaced: a folder of the user's own
     * under that name is never touched. */
    char path[BIQA_DS_PATH + 16];
    struct stat sb;
    snprintf(path, sizeof path, "%s/dataset.json", p->dir);
    if (lstat(p->dir, &sb) == 0 && lstat(path, &sb) != 0)
        return biqa_fail(err, "%s exists and was not made by biqa (no dataset.json): move it "
                              "away first", p->dir);
    return 0;
}

static int by_path(const void *a, const void *b)
{
    return strcmp(((const biqa_ds_file *)a)->path, ((const biqa_ds_file *)b)->path);
}

/* Writes "<sha256>  <path>" lines (sha256sum's format) sorted by path. */
static int write_digests(biqa_ds_files *files, const char *path, biqa_error *err)
{
    qsort(files->v, files->n, sizeof *files->v, by_path);
    biqa_atomic_file f;
    if (biqa_atomic_open(&f, path, err) < 0)
        return -1;
    for (size_t i = 0; i < files->n; i++) {
        const biqa_ds_file *e = &files->v[i];
        if (strpbrk(e->path, "\n\r\\")) {
            biqa_atomic_abort(&f);
            return biqa_fail(err, "'%s': a file name with a line break or backslash cannot be "
                                  "listed in digests.sha256", e->path);
        }
        if (biqa_atomic_write(&f, e->sha256, 64, err) < 0 ||
            biqa_atomic_write(&f, "  ", 2, err) < 0 ||
            biqa_atomic_write(&f, e->path, strlen(e->path), err) < 0 ||
            biqa_atomic_write(&f, "\n", 1, err) < 0)
            return -1;
    }
    return biqa_atomic_commit(&f, err);
}

/* Hashes staging/<name> (written by us) and lists it. */
static int add_written(const char *staging, const char *name, biqa_ds_files *files,
                       char hex[BIQA_SHA256_HEX_LEN], biqa_error *err)
{
    char path[BIQA_DS_PATH + 64];
    int64_t bytes;
    snprintf(path, sizeof path, "%s/%s", staging, name);
    biqa_ds_default_mode(path, 0666);
    if (biqa_sha256_file(path, hex, &bytes, err) < 0)
        return -1;
    return biqa_ds_files_add(files, name, bytes, hex, err);
}

/* Writes dataset.json and digests.sha256 into staging, records the verdict
 * and renames staging into place. record is dataset.json's object (its
 * common fields are added here). */
static int commit(const biqa_ds_paths *p, const biqa_manifest *m, const char *how,
                  const char *source, const char *staging, biqa_ds_files *files, cJSON *record, int64_t n_images,
                  const char *index_sha256, biqa_ds_result *r, biqa_error *err)
{
    char now[32], path[BIQA_DS_PATH + 64], hex[BIQA_SHA256_HEX_LEN];
    biqa_ds_now(now);
    cJSON_AddNumberToObject(record, "format", 1);
    cJSON_AddStringToObject(record, "name", m->name);
    cJSON_AddStringToObject(record, "title", m->title);
    cJSON_AddStringToObject(record, "kind", biqa_manifest_kind_name(m->kind));
    cJSON_AddStringToObject(record, "source", source);
    cJSON_AddStringToObject(record, "created_at", now);
    cJSON_AddStringToObject(record, "biqa_commit", BIQA_GIT_COMMIT);
    cJSON_AddStringToObject(record, "manifest_origin", m->origin);
    cJSON_AddStringToObject(record, "manifest_sha256", m->sha256);
    cJSON *mj = cJSON_Parse(m->text);
    if (mj)
        cJSON_AddItemToObject(record, "manifest", mj);
    char *text = cJSON_Print(record);
    if (!text)
        return biqa_fail(err, "%s: out of memory", staging);
    snprintf(path, sizeof path, "%s/dataset.json", staging);
    int rc = biqa_write_file_atomic(path, text, strlen(text), err);
    cJSON_free(text);
    if (rc < 0 || add_written(staging, "dataset.json", files, hex, err) < 0)
        return -1;
    snprintf(path, sizeof path, "%s/digests.sha256", staging);
    if (write_digests(files, path, err) < 0 ||
        biqa_sha256_file(path, r->digests_sha256, NULL, err) < 0)
        return -1;
    biqa_ds_default_mode(path, 0666);
    int64_t total = 0;
    for (size_t i = 0; i < files->n; i++)
        total += files->v[i].bytes;

    if (biqa_ds_check_replaceable(p, err) < 0)
        return -1;
    /* The verdict first: it is read only while ROOT/NAME exists, and it
     * names the digest list it holds for, so a crash before the rename
     * leaves nothing that claims to be verified. */
    biqa_ds_status st = {.state = BIQA_DS_VERIFIED, .n_images = n_images,
                         .n_files = (int64_t)files->n};
    snprintf(st.detail, sizeof st.detail, "%s from source %s: %lld files, %.1f MB",
             how, source,
             (long long)st.n_files, (double)total / 1e6);
    snprintf(st.source, sizeof st.source, "%s", source);
    snprintf(st.manifest_sha256, sizeof st.manifest_sha256, "%s", m->sha256);
    snprintf(st.index_sha256, sizeof st.index_sha256, "%s", index_sha256);
    snprintf(st.digests_sha256, sizeof st.digests_sha256, "%s", r->digests_sha256);
    if (biqa_ds_status_write(p, &st, err) < 0)
        return -1;

    char aside[BIQA_DS_PATH] = "";
    struct stat sb;
    if (lstat(p->dir, &sb) == 0) {
        append(aside, sizeof aside, "%s/replaced-XXXXXX", p->work);
        if (!mkdtemp(aside) || rmdir(aside) != 0 || rename(p->dir, aside) != 0)
            return biqa_fail(err, "%s: cannot move the old copy aside: %s", p->dir,
                             strerror(errno));
    }
    if (rename(staging, p->dir) != 0) {
        int e = errno;
        if (*aside)
            rename(aside, p->dir);
        return biqa_fail(err, "%s: cannot rename %s into place: %s", p->dir, staging,
                         strerror(e));
    }
    if (*aside && biqa_ds_remove_tree(aside, err) < 0)
        biqa_warn("%s", err->msg);
    snprintf(r->source, sizeof r->source, "%s", source);
    snprintf(r->index_sha256, sizeof r->index_sha256, "%s", index_sha256);
    r->n_images = n_images;
    r->n_files = st.n_files;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Distinct reference ids of the index (images without one not counted). */
static int64_t count_refs(const biqa_index *idx)
{
    const char **refs = malloc((idx->n + 1) * sizeof *refs);
    size_t n = 0;
    for (size_t i = 0; refs && i < idx->n; i++)
        if (idx->items[i].ref)
            refs[n++] = idx->items[i].ref;
    if (!refs)
        return -1;
    qsort(refs, n, sizeof *refs, cmp_str);
    int64_t distinct = 0;
    for (size_t i = 0; i < n; i++)
        distinct += i == 0 || strcmp(refs[i], refs[i - 1]) != 0;
    free(refs);
    return distinct;
}

/* Drops the items whose name is in the manifest's exclude list. */
static void drop_excluded(biqa_index *idx, const biqa_manifest_labels *l)
{
    size_t w = 0;
    for (size_t i = 0; i < idx->n; i++) {
        biqa_index_item *it = &idx->items[i];
        int drop = 0;
        for (int k = 0; k < l->n_exclude && !drop; k++)
            drop = strcmp(it->name, l->exclude[k]) == 0;
        if (drop)
            free(it->path), free(it->name), free(it->ref), free(it->distortion);
        else
            idx->items[w++] = *it;
    }
    idx->n = w;
}

static cJSON *labels_json(const biqa_manifest_source *s)
{
    const biqa_manifest_labels *l = &s->labels;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "parser", l->parser);
    cJSON_AddStringToObject(o, "file", l->file);
    cJSON_AddStringToObject(o, "image_dir", l->image_dir);
    return o;
}

static int check_split_file(const char *staging, const char *rel, biqa_error *err)
{
    char path[BIQA_DS_PATH + 512];
    snprintf(path, sizeof path, "%s/%s", staging, rel);
    return file_exists(path) ? 0 : biqa_fail(err, "split file '%s' is not among the files", rel);
}

int biqa_ds_finish(const biqa_ds_paths *p, const biqa_manifest *m,
                   const biqa_manifest_source *src, const char *how, const char *staging,
                   biqa_ds_files *files, const cJSON *downloads, biqa_ds_result *r,
                   biqa_error *err)
{
    const biqa_manifest_labels *l = &src->labels;
    const biqa_label_spec spec = {l->parser, l->file, l->image_dir, l->mos_lo, l->mos_hi,
                                  l->higher_better, l->sheet, l->ref_mode, l->std_is_variance};
    biqa_index idx;
    biqa_index_init(&idx, m->name, NULL);
    size_t missing = 0;
    char **names = NULL;
    if (biqa_labels_read(staging, &spec, &idx, &missing, &names, err) < 0) {
        biqa_index_free(&idx);
        return -1;
    }
    int rc = 0;
    if (missing > 0) {
        char list[512] = "";
        for (size_t i = 0; i < missing && i < 3; i++)
            append(list, sizeof list, "%s'%s%s%s'", i ? ", " : "", l->image_dir,
                   *l->image_dir ? "/" : "", names[i]);
        rc = biqa_fail(err, "%zu labelled image(s) of %s are missing from the files: %s%s",
                       missing, l->file, list, missing > 3 ? ", ..." : "");
    }
    biqa_labels_free_names(names, missing);
    drop_excluded(&idx, l);
    if (rc == 0 && m->images >= 0 && (int64_t)idx.n != m->images)
        rc = biqa_fail(err, "the labels (%s) hold %zu images, the manifest expects %lld", l->file,
                       idx.n, (long long)m->images);
    const int64_t refs = count_refs(&idx);
    if (rc == 0 && m->references >= 0 && refs != m->references)
        rc = biqa_fail(err, "the labels (%s) name %lld reference contents, the manifest "
                            "expects %lld", l->file, (long long)refs, (long long)m->references);
    if (rc == 0 && src->splits.pyiqa)
        rc = check_split_file(staging, src->splits.pyiqa, err);
    if (rc == 0 && src->splits.official_file)
        rc = check_split_file(staging, src->splits.official_file, err);
    char index_path[BIQA_DS_PATH + 32], index_sha[BIQA_SHA256_HEX_LEN];
    snprintf(index_path, sizeof index_path, "%s/index.csv", staging);
    if (rc == 0)
        rc = biqa_index_write_dataset(&idx, staging, index_path, err) < 0 ||
                     add_written(staging, "index.csv", files, index_sha, err) < 0
                 ? -1
                 : 0;
    const int64_t n_images = (int64_t)idx.n;
    biqa_index_free(&idx);
    if (rc < 0)
        return -1;
    cJSON *rec = cJSON_CreateObject();
    cJSON_AddItemToObject(rec, "labels", labels_json(src));
    cJSON *range = cJSON_AddArrayToObject(rec, "mos_range");
    cJSON_AddItemToArray(range, cJSON_CreateNumber(l->mos_lo));
    cJSON_AddItemToArray(range, cJSON_CreateNumber(l->mos_hi));
    cJSON_AddBoolToObject(rec, "higher_better", l->higher_better);
    cJSON_AddNumberToObject(rec, "images", (double)n_images);
    cJSON_AddNumberToObject(rec, "references", (double)refs);
    cJSON_AddStringToObject(rec, "index", "index.csv");
    cJSON_AddStringToObject(rec, "index_sha256", index_sha);
    cJSON *sp = cJSON_AddObjectToObject(rec, "splits");
    if (src->splits.pyiqa)
        cJSON_AddStringToObject(sp, "pyiqa", src->splits.pyiqa);
    if (src->splits.official_file) {
        cJSON *off = cJSON_AddObjectToObject(sp, "official");
        cJSON_AddStringToObject(off, "file", src->splits.official_file);
        if (src->splits.test_list)
            cJSON_AddBoolToObject(off, "test_list", 1);
        else {
            cJSON_AddStringToObject(off, "name_column", src->splits.name_column);
            cJSON_AddStringToObject(off, "set_column", src->splits.set_column);
        }
    }
    cJSON_AddItemToObject(rec, "files", downloads ? cJSON_Duplicate(downloads, 1)
                                                  : cJSON_CreateArray());
    rc = commit(p, m, how, src->name, staging, files, rec, n_images, index_sha, r, err);
    cJSON_Delete(rec);
    return rc;
}

int biqa_ds_commit_local(const biqa_ds_paths *p, const biqa_manifest *m, const char *staging,
                         biqa_ds_files *files, cJSON *record, int64_t n_images,
                         biqa_ds_result *r, biqa_error *err)
{
    return commit(p, m, "imported", "local", staging, files, record, n_images, "", r, err);
}

/* ---- fetch -------------------------------------------------------------------- */

static int source_complete(const biqa_ds_paths *p, const biqa_manifest_source *s, char *lacks,
                           size_t n)
{
    int ok = 1;
    for (int i = 0; i < s->n_files; i++) {
        char path[BIQA_DS_PATH + 256];
        snprintf(path, sizeof path, "%s/%s", p->downloads, s->files[i].file);
        if (!file_exists(path)) {
            append(lacks, n, "%s%s", ok ? "" : ", ", s->files[i].file);
            ok = 0;
        }
    }
    return ok;
}

/* One source end to end; -1 with err filled (staging removed). */
static int try_source(const biqa_ds_paths *p, const biqa_manifest *m,
                      const biqa_manifest_source *s, const biqa_ds_options *o, biqa_ds_result *r,
                      biqa_error *err)
{
    cJSON *downloads = cJSON_CreateArray();
    char staging[BIQA_DS_PATH] = "";
    biqa_ds_files files = {0};
    biqa_info("%s: source %s%s%s", m->name, s->name, s->note ? ": " : "", s->note ? s->note : "");
    int rc = fetch_source(p, s, o, downloads, r, err) < 0 ||
                     biqa_ds_staging_new(p, staging, err) < 0 ||
                     unpack_source(p, s, staging, &files, err) < 0 ||
                     biqa_ds_finish(p, m, s, "fetched", staging, &files, downloads, r, err) < 0
                 ? -1
                 : 0;
    if (rc < 0 && *staging) {
        biqa_error e2;
        if (biqa_ds_remove_tree(staging, &e2) < 0)
            biqa_warn("%s", e2.msg);
    }
    if (rc == 0 && o->delete_archives)
        for (int i = 0; i < s->n_files; i++) {
            char path[BIQA_DS_PATH + 256];
            snprintf(path, sizeof path, "%s/%s", p->downloads, s->files[i].file);
            unlink(path);
        }
    biqa_ds_files_free(&files);
    cJSON_Delete(downloads);
    return rc;
}

int biqa_dataset_fetch(const char *root, const biqa_manifest *m, const biqa_ds_options *o,
                       biqa_ds_result *r, biqa_error *err)
{
    memset(r, 0, sizeof *r);
    if (m->kind == BIQA_MANIFEST_LOCAL)
        return biqa_fail(err, "%s is a local dataset: biqa never downloads it (%s); point biqa "
                              "at your copy: biqa datasets import %s --from DIR",
                         m->name, m->licence, m->name);
    if (m->kind == BIQA_MANIFEST_GENERATED)
        return biqa_fail(err, "%s is generated, not downloaded: biqa datasets make %s", m->name,
                         m->name);
    biqa_ds_paths p;
    int lock = -1;
    if (biqa_ds_paths_init(root, m->name, &p, err) < 0 || biqa_ds_lock(&p, &lock, err) < 0)
        return -1;
    biqa_ds_status st;
    if (biqa_ds_status_read(&p, &st, err) < 0) {
        biqa_ds_unlock(lock);
        return -1;
    }
    if (st.state != BIQA_DS_VERIFIED && biqa_ds_check_replaceable(&p, err) < 0) {
        biqa_ds_unlock(lock);
        return -1;
    }
    if (st.state == BIQA_DS_VERIFIED) {
        r->already = 1;
        snprintf(r->source, sizeof r->source, "%s", st.source);
        snprintf(r->index_sha256, sizeof r->index_sha256, "%s", st.index_sha256);
        snprintf(r->digests_sha256, sizeof r->digests_sha256, "%s", st.digests_sha256);
        r->n_images = st.n_images, r->n_files = st.n_files;
        biqa_ds_unlock(lock);
        return 0;
    }
    /* The candidates: downloadable sources, in manifest order. */
    const biqa_manifest_source *cand[64];
    int nc = 0, known = 0;
    char manual[256] = "";
    for (int i = 0; i < m->n_sources && nc < 64; i++) {
        const biqa_manifest_source *s = &m->sources[i];
        if (o->source && strcmp(o->source, s->name) != 0)
            continue;
        known = 1;
        if (s->manual || s->n_files == 0) {
            if (!*manual)
                snprintf(manual, sizeof manual, "%s", s->note ? s->note : s->name);
            continue;
        }
        cand[nc++] = s;
    }
    int rc = 0;
    if (o->source && !known)
        rc = biqa_fail(err, "%s: %s has no source '%s'", m->name, m->origin, o->source);
    else if (nc == 0)
        rc = biqa_fail(err, "%s: no source biqa can download (%s): download it by hand, then "
                            "biqa datasets import %s --from PATH",
                       m->name, *manual ? manual : "none listed", m->name);
    if (rc == 0 && o->offline) {
        /* Offline, only a source already downloaded in full can work. */
        char lacks[768] = "";
        int pick = -1;
        for (int i = 0; i < nc && pick < 0; i++) {
            append(lacks, sizeof lacks, "%s%s lacks ", i ? "; " : "", cand[i]->name);
            if (source_complete(&p, cand[i], lacks + strlen(lacks), sizeof lacks - strlen(lacks)))
                pick = i;
        }
        if (pick < 0)
            rc = biqa_fail(err, "%s: --offline, and no source is downloaded in full in %s (%s)",
                           m->name, p.downloads, lacks);
        else
            cand[0] = cand[pick], nc = 1;
    }
    char all[1024] = "";
    for (int i = 0; rc == 0 && i < nc; i++) {
        if (try_source(&p, m, cand[i], o, r, err) == 0) {
            *all = '\0';
            break;
        }
        append(all, sizeof all, "%s[%s] %s", *all ? "; " : "", cand[i]->name, err->msg);
        if (i + 1 < nc)
            biqa_warn("%s: source %s failed (%s); trying source %s", m->name, cand[i]->name,
                      err->msg, cand[i + 1]->name);
        else
            rc = nc == 1 ? biqa_fail_wrap(err, "%s: source %s", m->name, cand[i]->name)
                         : biqa_fail(err, "%s: no source worked: %s", m->name, all);
    }
    biqa_ds_unlock(lock);
    return rc;
}
