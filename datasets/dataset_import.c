/* biqa datasets import: adopt files already on disk through the same
 * staging path as fetch (datasets/dataset_fetch.h). */
#include "core/digest.h"
#include "datasets/dataset_fetch.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/file.h"
#include "core/log.h"
#include "datasets/extract.h"

/* out = a/b ("a" alone when b is empty); a path too long is an error. */
static int join(char *out, size_t n, const char *a, const char *b, biqa_error *err)
{
    if (snprintf(out, n, "%s%s%s", a, *b ? "/" : "", b) >= (int)n)
        return biqa_fail(err, "%s/%s: path too long", a, b);
    return 0;
}

/* Walk of a folder being adopted. */
typedef struct adopt {
    const char *from, *staging;
    int copy;      /* copy even where a hard link would do */
    int local;     /* ImageNet: only hash, files stay where they are */
    const char *prefix; /* local: the path the files get in the dataset ("train") */
    biqa_ds_files *files;
    biqa_ds_result *r;
    biqa_ds_progress pr;
    int64_t done, bytes;
} adopt;

/* Adopts one regular file at rel (relative to from). */
static int adopt_file(adopt *a, const char *rel, biqa_error *err)
{
    char src[BIQA_DS_PATH * 2], dst[BIQA_DS_PATH * 2], hex[65];
    int64_t bytes = 0;
    if (join(src, sizeof src, a->from, rel, err) < 0)
        return -1;
    if (a->local) {
        if (join(dst, sizeof dst, a->prefix, rel, err) < 0 ||
            biqa_sha256_file(src, hex, &bytes, err) < 0)
            return -1;
        a->done++, a->bytes += bytes;
        biqa_ds_progress_step(&a->pr, a->done, a->bytes, 0);
        return biqa_ds_files_add(a->files, dst, bytes, hex, err);
    }
    if (join(dst, sizeof dst, a->staging, rel, err) < 0)
        return -1;
    int linked = !a->copy && link(src, dst) == 0;
    if (!linked && !a->copy && errno != EXDEV && errno != EPERM && errno != EMLINK &&
        errno != ENOTSUP)
        return biqa_fail(err, "%s: cannot link into %s: %s", src, a->staging, strerror(errno));
    if (linked ? biqa_sha256_file(dst, hex, &bytes, err) < 0
               : biqa_ds_copy_file(src, dst, hex, &bytes, err) < 0)
        return -1;
    linked ? a->r->n_linked++ : a->r->n_copied++;
    a->done++, a->bytes += bytes;
    biqa_ds_progress_step(&a->pr, a->done, a->bytes, 0);
    return biqa_ds_files_add(a->files, rel, bytes, hex, err);
}

/* Adopts the folder from/rel ("" = from itself) recursively. Links and
 * special files are refused: a dataset is plain files (the policy of
 * datasets/extract.h). */
static int adopt_dir(adopt *a, const char *rel, int depth, biqa_error *err)
{
    char path[BIQA_DS_PATH * 2];
    if (join(path, sizeof path, a->from, rel, err) < 0)
        return -1;
    if (depth > 64)
        return biqa_fail(err, "%s: folders nested deeper than 64 levels", path);
    if (*rel && !a->local) {
        char dst[BIQA_DS_PATH * 2];
        if (join(dst, sizeof dst, a->staging, rel, err) < 0)
            return -1;
        if (mkdir(dst, 0755) != 0 && errno != EEXIST)
            return biqa_fail(err, "%s: %s", dst, strerror(errno));
    }
    DIR *d = opendir(path);
    if (!d)
        return biqa_fail(err, "%s: %s", path, strerror(errno));
    int rc = 0;
    for (struct dirent *e; rc == 0 && (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char sub[BIQA_DS_PATH * 2], full[BIQA_DS_PATH * 2];
        struct stat sb;
        if (join(sub, sizeof sub, *rel ? rel : e->d_name, *rel ? e->d_name : "", err) < 0 ||
            join(full, sizeof full, a->from, sub, err) < 0)
            rc = -1;
        else if (lstat(full, &sb) != 0)
            rc = biqa_fail(err, "%s: %s", full, strerror(errno));
        else if (S_ISDIR(sb.st_mode))
            rc = adopt_dir(a, sub, depth + 1, err);
        else if (S_ISREG(sb.st_mode))
            rc = adopt_file(a, sub, err);
        else
            rc = biqa_fail(err, "%s: %s: biqa adopts only regular files and folders", full,
                           S_ISLNK(sb.st_mode) ? "a symbolic link" : "a special file");
    }
    closedir(d);
    return rc;
}

/* An archive given to import: if its name is a file of the manifest whose
 * digest is known (or pinned), the bytes must match it. */
static int check_known_archive(const biqa_ds_paths *p, const biqa_manifest *m, const char *path,
                               cJSON *origin, biqa_error *err)
{
    char hex[65];
    int64_t bytes;
    if (biqa_sha256_file(path, hex, &bytes, err) < 0)
        return -1;
    cJSON_AddStringToObject(origin, "sha256", hex);
    cJSON_AddNumberToObject(origin, "bytes", (double)bytes);
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    for (int i = 0; i < m->n_sources; i++)
        for (int j = 0; j < m->sources[i].n_files; j++) {
            const biqa_manifest_file *f = &m->sources[i].files[j];
            if (strcmp(f->file, base) != 0)
                continue;
            char pin[65] = "";
            int64_t pb;
            int found = 0;
            if (!f->sha256 && biqa_ds_pin_get(p, m->sources[i].name, f->file, pin, &pb, &found,
                                              err) < 0)
                return -1;
            const char *want = f->sha256 ? f->sha256 : found ? pin : NULL;
            if (want && strcmp(want, hex) != 0)
                return biqa_fail(err, "%s: SHA-256 %s differs from %s's %s %s for %s", path, hex,
                                 m->origin, f->sha256 ? "published" : "pinned", want, f->file);
            if (want)
                biqa_info("%s: matches %s of source %s (sha256 %s)", path, f->file,
                          m->sources[i].name, hex);
        }
    return 0;
}

/* The source whose label file the staged files hold (or the one named). */
static const biqa_manifest_source *pick_source(const biqa_manifest *m, const char *staging,
                                               const char *want, biqa_error *err)
{
    char looked[768] = "";
    for (int i = 0; i < m->n_sources; i++) {
        const biqa_manifest_source *s = &m->sources[i];
        if (want && strcmp(want, s->name) != 0)
            continue;
        char path[BIQA_DS_PATH * 2];
        snprintf(path, sizeof path, "%s/%s", staging, s->labels.file);
        if (access(path, F_OK) == 0)
            return s;
        size_t n = strlen(looked);
        snprintf(looked + n, sizeof looked - n, "%s%s: %s", n ? "; " : "", s->name,
                 s->labels.file);
    }
    if (want && !*looked)
        biqa_fail(err, "%s: %s has no source '%s'", m->name, m->origin, want);
    else
        biqa_fail(err, "%s: the imported files hold none of the label files the manifest "
                       "knows (%s)", m->name, looked);
    return NULL;
}

/* ImageNet and other local datasets: ROOT/NAME/train -> the folder, every
 * file hashed in place; class folders and images counted against the
 * manifest. */
static int import_local(const biqa_ds_paths *p, const biqa_manifest *m, const char *from,
                        const biqa_ds_options *o, biqa_ds_result *r, biqa_error *err)
{
    char real[PATH_MAX];
    if (!realpath(from, real))
        return biqa_fail(err, "%s: %s", from, strerror(errno));
    DIR *d = opendir(real);
    if (!d)
        return biqa_fail(err, "%s: %s", real, strerror(errno));
    int64_t classes = 0;
    for (struct dirent *e; (e = readdir(d));) {
        char path[PATH_MAX + 256];
        struct stat sb;
        snprintf(path, sizeof path, "%s/%s", real, e->d_name);
        classes += e->d_name[0] != '.' && lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
    }
    closedir(d);
    if (m->classes >= 0 && classes != m->classes)
        return biqa_fail(err, "%s: %lld class folders, %s expects %lld (the ILSVRC-2012 train "
                              "layout: one folder per class)",
                         real, (long long)classes, m->origin, (long long)m->classes);
    char staging[BIQA_DS_PATH], link_path[BIQA_DS_PATH + 16];
    biqa_ds_files files = {0};
    if (biqa_ds_staging_new(p, staging, err) < 0)
        return -1;
    snprintf(link_path, sizeof link_path, "%s/train", staging);
    int rc = symlink(real, link_path) == 0 ? 0 : biqa_fail(err, "%s: %s", link_path, strerror(errno));
    adopt a = {.from = real, .staging = staging, .local = 1, .prefix = "train", .files = &files,
               .r = r};
    biqa_ds_progress_start(&a.pr, "hashing", m->images, o->progress);
    if (rc == 0)
        rc = adopt_dir(&a, "", 0, err);
    biqa_ds_progress_step(&a.pr, a.done, a.bytes, 1);
    if (rc == 0 && m->images >= 0 && a.done != m->images)
        rc = biqa_fail(err, "%s: %lld files, %s expects %lld images", real, (long long)a.done,
                       m->origin, (long long)m->images);
    if (rc == 0) {
        cJSON *rec = cJSON_CreateObject();
        cJSON_AddStringToObject(rec, "linked_from", real);
        cJSON_AddStringToObject(rec, "layout", m->layout ? m->layout : "");
        cJSON_AddNumberToObject(rec, "classes", (double)classes);
        cJSON_AddNumberToObject(rec, "images", (double)a.done);
        r->n_linked = 1;
        rc = biqa_ds_commit_local(p, m, staging, &files, rec, a.done, r, err);
        cJSON_Delete(rec);
    }
    if (rc < 0) {
        biqa_error e2;
        if (biqa_ds_remove_tree(staging, &e2) < 0)
            biqa_warn("%s", e2.msg);
    }
    biqa_ds_files_free(&files);
    return rc;
}

int biqa_dataset_import(const char *root, const biqa_manifest *m, const char *const *from,
                        int n_from, const biqa_ds_options *o, biqa_ds_result *r, biqa_error *err)
{
    memset(r, 0, sizeof *r);
    if (m->kind == BIQA_MANIFEST_GENERATED)
        return biqa_fail(err, "%s is generated, not imported: biqa datasets make %s", m->name,
                         m->name);
    if (n_from < 1)
        return biqa_fail(err, "%s: nothing to import (--from PATH)", m->name);
    if (m->kind == BIQA_MANIFEST_LOCAL && n_from != 1)
        return biqa_fail(err, "%s: a local dataset is one folder: give --from once", m->name);
    biqa_ds_paths p;
    int lock = -1;
    if (biqa_ds_paths_init(root, m->name, &p, err) < 0 || biqa_ds_lock(&p, &lock, err) < 0)
        return -1;
    if (biqa_ds_check_replaceable(&p, err) < 0) {
        biqa_ds_unlock(lock);
        return biqa_fail_wrap(err, "%s", m->name);
    }
    if (m->kind == BIQA_MANIFEST_LOCAL) {
        int rc = import_local(&p, m, from[0], o, r, err);
        biqa_ds_unlock(lock);
        return rc < 0 ? biqa_fail_wrap(err, "%s", m->name) : 0;
    }
    char staging[BIQA_DS_PATH] = "";
    biqa_ds_files files = {0};
    cJSON *origins = cJSON_CreateArray();
    int rc = biqa_ds_staging_new(&p, staging, err);
    for (int i = 0; rc == 0 && i < n_from; i++) {
        struct stat sb;
        cJSON *origin = cJSON_CreateObject();
        cJSON_AddItemToArray(origins, origin);
        char real[PATH_MAX];
        if (stat(from[i], &sb) != 0 || !realpath(from[i], real)) {
            rc = biqa_fail(err, "%s: %s", from[i], strerror(errno));
        } else if (S_ISDIR(sb.st_mode)) {
            biqa_info("adopting the folder %s", real);
            const int64_t linked = r->n_linked, copied = r->n_copied;
            adopt a = {.from = real, .staging = staging, .copy = o->copy, .files = &files, .r = r};
            biqa_ds_progress_start(&a.pr, "adopting", -1, o->progress);
            rc = adopt_dir(&a, "", 0, err);
            biqa_ds_progress_step(&a.pr, a.done, a.bytes, 1);
            cJSON_AddStringToObject(origin, "folder", real);
            cJSON_AddNumberToObject(origin, "linked", (double)(r->n_linked - linked));
            cJSON_AddNumberToObject(origin, "copied", (double)(r->n_copied - copied));
        } else if (S_ISREG(sb.st_mode)) {
            cJSON_AddStringToObject(origin, "archive", real);
            biqa_extract_limits lim;
            biqa_extract_limits_default(&lim);
            biqa_extract_list list = {0};
            biqa_info("extracting %s", real);
            rc = check_known_archive(&p, m, real, origin, err) < 0 ||
                         biqa_extract(real, staging, &lim, &list, err) < 0
                     ? -1
                     : 0;
            for (size_t k = 0; k < list.n && rc == 0; k++)
                rc = biqa_ds_files_add(&files, list.files[k].path, list.files[k].bytes,
                                       list.files[k].sha256, err);
            biqa_extract_list_free(&list);
            /* biqa_extract removes dest on failure when it created it: staging
             * exists already, so only its own files go. */
        } else {
            rc = biqa_fail(err, "%s: neither a folder nor an archive file", from[i]);
        }
    }
    const biqa_manifest_source *src = rc == 0 ? pick_source(m, staging, o->source, err) : NULL;
    if (rc == 0 && !src)
        rc = -1;
    if (rc == 0)
        biqa_info("%s: the files match source %s's layout (labels %s)", m->name, src->name,
                  src->labels.file);
    if (rc == 0)
        rc = biqa_ds_finish(&p, m, src, "imported", staging, &files, origins, r, err);
    if (rc < 0 && *staging) {
        biqa_error e2;
        if (biqa_ds_remove_tree(staging, &e2) < 0)
            biqa_warn("%s", e2.msg);
    }
    biqa_ds_files_free(&files);
    cJSON_Delete(origins);
    biqa_ds_unlock(lock);
    if (rc < 0 && strncmp(err->msg, m->name, strlen(m->name)) != 0)
        biqa_fail_wrap(err, "%s", m->name);
    return rc;
}
