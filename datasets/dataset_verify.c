/* biqa datasets verify: rehash every file against digests.sha256 and check
 * the index against it (datasets/dataset_fetch.h). */
#include "core/digest.h"
#include "datasets/dataset_fetch.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/file.h"
#include "core/log.h"
#include "datasets/index.h"

/* Formats into out (size n), truncating quietly: for messages. */
static void set_text(char *out, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_text(char *out, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out, n, fmt, ap);
    va_end(ap);
}

/* The first problem found is the one named. */
#define note_bad(r, ...) \
    (*(r)->first_bad ? (void)0 : set_text((r)->first_bad, sizeof (r)->first_bad, __VA_ARGS__))

/* Parses digests.sha256 (sha256sum's "<hex>  <path>" lines) into l. */
static int read_digests(const char *path, biqa_ds_files *l, biqa_error *err)
{
    char *text;
    size_t len;
    if (biqa_read_file(path, &text, &len, err) < 0)
        return -1;
    int rc = 0;
    size_t line = 0;
    for (char *s = text, *e; rc == 0 && s < text + len; s = e + 1) {
        line++;
        e = memchr(s, '\n', (size_t)(text + len - s));
        if (!e)
            e = text + len;
        *e = '\0';
        int hex = e - s > 66 && s[64] == ' ' && s[65] == ' ';
        for (int i = 0; hex && i < 64; i++)
            hex = (s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f');
        const char *rel = s + 66;
        if (!hex || rel[0] == '/' || strstr(rel, "../") || !strcmp(rel, "..") ||
            strncmp(rel, "./", 2) == 0)
            rc = biqa_fail(err, "%s:%zu: not '<sha256>  <relative path>'", path, line);
        else {
            s[64] = '\0';
            rc = biqa_ds_files_add(l, rel, -1, s, err);
        }
    }
    free(text);
    if (rc == 0 && l->n == 0)
        rc = biqa_fail(err, "%s: lists no file", path);
    return rc;
}

static int by_path(const void *a, const void *b)
{
    return strcmp(((const biqa_ds_file *)a)->path, ((const biqa_ds_file *)b)->path);
}

static const biqa_ds_file *find(const biqa_ds_files *l, const char *rel)
{
    const biqa_ds_file key = {.path = (char *)rel};
    return bsearch(&key, l->v, l->n, sizeof *l->v, by_path);
}

/* Counts regular files under dir/rel that the list does not hold (links
 * are not followed: a local dataset's train/ is checked through the list). */
static void count_extra(const char *dir, const char *rel, const biqa_ds_files *l, int depth,
                        biqa_ds_verify_result *r)
{
    char path[BIQA_DS_PATH * 2];
    if (depth > 64 || snprintf(path, sizeof path, "%s%s%s", dir, *rel ? "/" : "", rel) >=
                          (int)sizeof path)
        return;
    DIR *d = opendir(path);
    for (struct dirent *e; d && (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char sub[BIQA_DS_PATH * 2], full[BIQA_DS_PATH * 3];
        struct stat sb;
        if (snprintf(sub, sizeof sub, "%s%s%s", rel, *rel ? "/" : "", e->d_name) >=
                (int)sizeof sub ||
            snprintf(full, sizeof full, "%s/%s", dir, sub) >= (int)sizeof full ||
            lstat(full, &sb) != 0)
            continue;
        if (S_ISDIR(sb.st_mode))
            count_extra(dir, sub, l, depth + 1, r);
        else if (strcmp(sub, "digests.sha256") != 0 && !S_ISLNK(sb.st_mode) && !find(l, sub))
            r->n_extra++;
    }
    if (d)
        closedir(d);
}

/* Rehashes every listed file of dir; fills r (ok, counts, first_bad). */
static int check_dir(const char *dir, int progress, biqa_ds_verify_result *r, biqa_error *err)
{
    char path[BIQA_DS_PATH + 32];
    biqa_ds_files l = {0};
    snprintf(path, sizeof path, "%s/digests.sha256", dir);
    if (read_digests(path, &l, err) < 0) {
        biqa_ds_files_free(&l);
        return -1;
    }
    qsort(l.v, l.n, sizeof *l.v, by_path);
    biqa_ds_progress pr;
    biqa_ds_progress_start(&pr, "verifying", (int64_t)l.n, progress);
    for (size_t i = 0; i < l.n; i++) {
        char file[BIQA_DS_PATH * 2], hex[BIQA_SHA256_HEX_LEN];
        int64_t bytes = 0;
        biqa_error e;
        r->n_files++;
        if (i > 0 && strcmp(l.v[i].path, l.v[i - 1].path) == 0) {
            r->n_bad++;
            note_bad(r, "%s/digests.sha256: '%s' is listed twice", dir, l.v[i].path);
        } else if (snprintf(file, sizeof file, "%s/%s", dir, l.v[i].path) >= (int)sizeof file ||
                   access(file, F_OK) != 0) {
            r->n_missing++;
            note_bad(r, "%s: missing", file);
        } else if (biqa_sha256_file(file, hex, &bytes, &e) < 0) {
            r->n_bad++;
            note_bad(r, "%s", e.msg);
        } else if (strcmp(hex, l.v[i].sha256) != 0) {
            r->n_bad++;
            note_bad(r, "%s: SHA-256 %s, digests.sha256 says %s", file, hex, l.v[i].sha256);
        }
        r->bytes += bytes;
        biqa_ds_progress_step(&pr, (int64_t)i + 1, r->bytes, 0);
    }
    biqa_ds_progress_step(&pr, (int64_t)l.n, r->bytes, 1);
    /* The index may name only listed files (it is itself listed, so its
     * bytes were just checked). */
    snprintf(path, sizeof path, "%s/index.csv", dir);
    if (access(path, F_OK) == 0 && find(&l, "index.csv")) {
        biqa_index idx;
        biqa_error e;
        if (biqa_index_read_dataset(dir, &idx, &e) < 0) {
            r->n_bad++;
            note_bad(r, "%s", e.msg);
        } else {
            const size_t dl = strlen(dir);
            for (size_t i = 0; i < idx.n; i++)
                if (!find(&l, idx.items[i].path + dl + 1)) {
                    r->n_bad++;
                    note_bad(r, "%s/index.csv: image '%s' is not in digests.sha256", dir,
                             idx.items[i].path + dl + 1);
                }
            biqa_index_free(&idx);
        }
    }
    count_extra(dir, "", &l, 0, r);
    biqa_ds_files_free(&l);
    r->ok = r->n_bad == 0 && r->n_missing == 0;
    return 0;
}

/* The synthetic benchmark: every ROOT/synthetic-SIZE present. */
static int verify_generated(const char *root, const biqa_manifest *m, const biqa_ds_options *o,
                            biqa_ds_verify_result *r, biqa_error *err)
{
    static const char *const sizes[] = {"test", "demo", "large"};
    int found = 0;
    for (int i = 0; i < 3; i++) {
        char dir[BIQA_DS_PATH];
        struct stat sb;
        if (snprintf(dir, sizeof dir, "%s/%s-%s", root, m->name, sizes[i]) >= (int)sizeof dir ||
            stat(dir, &sb) != 0)
            continue;
        found = 1;
        biqa_info("%s", dir);
        if (check_dir(dir, o->progress, r, err) < 0)
            return -1;
    }
    if (!found)
        return biqa_fail(err, "%s: none of %s/%s-{test,demo,large} exists: biqa datasets make %s",
                         m->name, root, m->name, m->name);
    return 0;
}

int biqa_dataset_verify(const char *root, const biqa_manifest *m, const biqa_ds_options *o,
                        biqa_ds_verify_result *r, biqa_error *err)
{
    memset(r, 0, sizeof *r);
    if (m->kind == BIQA_MANIFEST_GENERATED)
        return verify_generated(root, m, o, r, err);
    biqa_ds_paths p;
    int lock = -1;
    if (biqa_ds_paths_init(root, m->name, &p, err) < 0)
        return -1;
    struct stat sb;
    if (stat(p.dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return biqa_fail(err, "%s: not fetched or imported (%s does not exist)", m->name, p.dir);
    if (biqa_ds_lock(&p, &lock, err) < 0)
        return -1;
    biqa_ds_status st;
    int rc = biqa_ds_status_read(&p, &st, err) < 0 || check_dir(p.dir, o->progress, r, err) < 0
                 ? -1
                 : 0;
    char path[BIQA_DS_PATH + 32];
    snprintf(path, sizeof path, "%s/digests.sha256", p.dir);
    if (rc == 0 && biqa_sha256_file(path, st.digests_sha256, NULL, err) < 0)
        rc = -1;
    if (rc == 0) {
        /* The verdict, kept with what the last fetch/import recorded. */
        st.state = r->ok ? BIQA_DS_VERIFIED : BIQA_DS_CORRUPT;
        st.n_files = r->n_files;
        if (r->ok)
            set_text(st.detail, sizeof st.detail, "rehashed %lld files (%.1f MB): all as recorded%s",
                     (long long)st.n_files, (double)r->bytes / 1e6,
                     r->n_extra ? " (and files not in digests.sha256)" : "");
        else
            set_text(st.detail, sizeof st.detail, "%s (%lld changed, %lld missing of %lld)",
                     r->first_bad, (long long)r->n_bad, (long long)r->n_missing,
                     (long long)r->n_files);
        if (biqa_ds_status_write(&p, &st, err) < 0)
            rc = -1;
    }
    biqa_ds_unlock(lock);
    return rc;
}
