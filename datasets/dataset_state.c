/* A dataset's local state under --root (datasets/dataset_state.h). */
#include "core/digest.h"
#include "datasets/dataset_state.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "core/file.h"
#include "datasets/lock.h"

static int path_join(char out[BIQA_DS_PATH], biqa_error *err, const char *fmt, const char *a,
                     const char *b)
{
    if (snprintf(out, BIQA_DS_PATH, fmt, a, b) >= BIQA_DS_PATH)
        return biqa_fail(err, "%s: path too long", a);
    return 0;
}

int biqa_ds_paths_init(const char *root, const char *name, biqa_ds_paths *p, biqa_error *err)
{
    memset(p, 0, sizeof *p);
    if (strlen(name) >= sizeof p->name)
        return biqa_fail(err, "dataset name '%s' is too long", name);
    strcpy(p->name, name);
    if (path_join(p->dir, err, "%s/%s", root, name) < 0 ||
        path_join(p->work, err, "%s/.biqa/%s", root, name) < 0 ||
        path_join(p->downloads, err, "%s/%s", p->work, "downloads") < 0 ||
        path_join(p->lock, err, "%s/%s", p->work, "lock") < 0 ||
        path_join(p->pins, err, "%s/%s", p->work, "pins.json") < 0 ||
        path_join(p->state, err, "%s/%s", p->work, "state.json") < 0)
        return -1;
    return 0;
}

void biqa_ds_now(char out[32])
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03dZ", (int)(tv.tv_usec / 1000));
}

const char *biqa_ds_state_name(enum biqa_ds_state s)
{
    static const char *const names[] = {"absent", "partial", "verified", "corrupt"};
    return s <= BIQA_DS_CORRUPT ? names[s] : "?";
}

/* ---- small JSON files ------------------------------------------------------ */

/* Reads path as a JSON object; *out = NULL when the file does not exist. */
static int read_json(const char *path, cJSON **out, biqa_error *err)
{
    *out = NULL;
    char *text;
    size_t len;
    if (access(path, F_OK) != 0)
        return 0;
    if (biqa_read_file(path, &text, &len, err) < 0)
        return -1;
    *out = cJSON_ParseWithLength(text, len);
    free(text);
    if (!*out || !cJSON_IsObject(*out)) {
        cJSON_Delete(*out);
        *out = NULL;
        return biqa_fail(err, "%s: not a JSON object (remove it to start over)", path);
    }
    return 0;
}

static int write_json(const char *path, const cJSON *o, biqa_error *err)
{
    char *text = cJSON_Print(o);
    if (!text)
        return biqa_fail(err, "%s: out of memory", path);
    size_t len = strlen(text);
    text[len] = '\n'; /* cJSON_Print's buffer has room for the NUL; reuse it */
    int rc = biqa_write_file_atomic(path, text, len + 1, err);
    cJSON_free(text);
    return rc;
}

static void copy_str(char *dst, size_t n, const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    snprintf(dst, n, "%s", cJSON_IsString(v) ? v->valuestring : "");
}

static int64_t get_i64(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : -1;
}

/* ---- state ----------------------------------------------------------------- */

static void set_detail(biqa_ds_status *st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void set_detail(biqa_ds_status *st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->detail, sizeof st->detail, fmt, ap);
    va_end(ap);
}

/* Counts downloads (complete and .part) and staging folders. */
static void scan_work(const biqa_ds_paths *p, biqa_ds_status *st)
{
    DIR *d = opendir(p->downloads);
    for (struct dirent *e; d && (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        char path[BIQA_DS_PATH + 256];
        struct stat sb;
        snprintf(path, sizeof path, "%s/%s", p->downloads, e->d_name);
        if (lstat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
            continue;
        size_t n = strlen(e->d_name);
        if (n > 5 && strcmp(e->d_name + n - 5, ".part") == 0)
            st->n_part++;
        else
            st->n_downloads++;
        st->download_bytes += sb.st_size;
    }
    if (d)
        closedir(d);
    d = opendir(p->work);
    for (struct dirent *e; d && (e = readdir(d));)
        st->n_staging += strncmp(e->d_name, "staging-", 8) == 0;
    if (d)
        closedir(d);
}

static void human_bytes(int64_t b, char *out, size_t n)
{
    const char *unit[] = {"B", "KB", "MB", "GB", "TB"};
    double v = (double)b;
    int u = 0;
    while (v >= 1000 && u < 4)
        v /= 1000, u++;
    snprintf(out, n, u ? "%.1f %s" : "%.0f %s", v, unit[u]);
}

int biqa_ds_status_read(const biqa_ds_paths *p, biqa_ds_status *st, biqa_error *err)
{
    memset(st, 0, sizeof *st);
    st->n_images = st->n_files = -1;
    scan_work(p, st);
    struct stat sb;
    if (stat(p->dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        if (st->n_downloads + st->n_part + st->n_staging == 0) {
            st->state = BIQA_DS_ABSENT;
            set_detail(st, "not downloaded");
            return 0;
        }
        char size[32];
        human_bytes(st->download_bytes, size, sizeof size);
        st->state = BIQA_DS_PARTIAL;
        set_detail(st, "%d file(s) downloaded, %d incomplete (.part), %s in %s%s; not extracted",
                 st->n_downloads, st->n_part, size, p->downloads,
                 st->n_staging ? ", an interrupted extraction" : "");
        return 0;
    }
    cJSON *o;
    if (read_json(p->state, &o, err) < 0)
        return -1;
    if (!o) {
        st->state = BIQA_DS_PARTIAL;
        set_detail(st, "%s exists but has no verdict in %s: run 'biqa datasets verify %s'", p->dir,
                 p->state, p->name);
        return 0;
    }
    char state[32];
    copy_str(state, sizeof state, o, "state");
    copy_str(st->detail, sizeof st->detail, o, "detail");
    copy_str(st->source, sizeof st->source, o, "source");
    copy_str(st->manifest_sha256, sizeof st->manifest_sha256, o, "manifest_sha256");
    copy_str(st->index_sha256, sizeof st->index_sha256, o, "index_sha256");
    copy_str(st->digests_sha256, sizeof st->digests_sha256, o, "digests_sha256");
    copy_str(st->updated_at, sizeof st->updated_at, o, "updated_at");
    st->n_images = get_i64(o, "n_images");
    st->n_files = get_i64(o, "n_files");
    cJSON_Delete(o);
    st->state = !strcmp(state, "verified") ? BIQA_DS_VERIFIED
                : !strcmp(state, "corrupt") ? BIQA_DS_CORRUPT
                                            : BIQA_DS_PARTIAL;
    if (st->state != BIQA_DS_VERIFIED)
        return 0;
    /* A verdict holds only for the digest list it was made on. */
    char digests[BIQA_DS_PATH + 32], hex[BIQA_SHA256_HEX_LEN];
    snprintf(digests, sizeof digests, "%s/digests.sha256", p->dir);
    biqa_error ignore;
    if (biqa_sha256_file(digests, hex, NULL, &ignore) < 0) {
        st->state = BIQA_DS_CORRUPT;
        set_detail(st, "%s: %s", digests,
                 access(digests, F_OK) ? "missing" : "unreadable");
    } else if (strcmp(hex, st->digests_sha256) != 0) {
        st->state = BIQA_DS_CORRUPT;
        set_detail(st, "%s changed since it was verified", digests);
    }
    return 0;
}

int biqa_ds_status_write(const biqa_ds_paths *p, biqa_ds_status *st, biqa_error *err)
{
    if (biqa_mkdir_p(p->work, err) < 0)
        return -1;
    biqa_ds_now(st->updated_at);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "state", biqa_ds_state_name(st->state));
    cJSON_AddStringToObject(o, "detail", st->detail);
    cJSON_AddStringToObject(o, "source", st->source);
    cJSON_AddStringToObject(o, "manifest_sha256", st->manifest_sha256);
    cJSON_AddStringToObject(o, "index_sha256", st->index_sha256);
    cJSON_AddStringToObject(o, "digests_sha256", st->digests_sha256);
    cJSON_AddNumberToObject(o, "n_images", (double)st->n_images);
    cJSON_AddNumberToObject(o, "n_files", (double)st->n_files);
    cJSON_AddStringToObject(o, "updated_at", st->updated_at);
    int rc = write_json(p->state, o, err);
    cJSON_Delete(o);
    return rc;
}

/* ---- pins ------------------------------------------------------------------ */

int biqa_ds_pin_get(const biqa_ds_paths *p, const char *source, const char *file,
                    char sha256[BIQA_SHA256_HEX_LEN], int64_t *bytes, int *found,
                    biqa_error *err)
{
    *found = 0;
    cJSON *o;
    if (read_json(p->pins, &o, err) < 0)
        return -1;
    char key[512];
    snprintf(key, sizeof key, "%s/%s", source, file);
    const cJSON *e = o ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
    const cJSON *sha = cJSON_GetObjectItemCaseSensitive(e, "sha256");
    if (cJSON_IsString(sha) && strlen(sha->valuestring) == 64) {
        snprintf(sha256, BIQA_SHA256_HEX_LEN, "%s", sha->valuestring);
        *bytes = get_i64(e, "bytes");
        *found = 1;
    } else if (e) {
        cJSON_Delete(o);
        return biqa_fail(err, "%s: entry '%s' has no valid sha256", p->pins, key);
    }
    cJSON_Delete(o);
    return 0;
}

int biqa_ds_pin_put(const biqa_ds_paths *p, const char *source, const char *file,
                    const char *sha256, int64_t bytes, const char *url, biqa_error *err)
{
    cJSON *o;
    if (biqa_mkdir_p(p->work, err) < 0 || read_json(p->pins, &o, err) < 0)
        return -1;
    if (!o)
        o = cJSON_CreateObject();
    char key[512], now[32];
    snprintf(key, sizeof key, "%s/%s", source, file);
    biqa_ds_now(now);
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "sha256", sha256);
    cJSON_AddNumberToObject(e, "bytes", (double)bytes);
    cJSON_AddStringToObject(e, "url", url ? url : "");
    cJSON_AddStringToObject(e, "pinned_at", now);
    cJSON_DeleteItemFromObjectCaseSensitive(o, key);
    cJSON_AddItemToObject(o, key, e);
    int rc = write_json(p->pins, o, err);
    cJSON_Delete(o);
    return rc;
}

/* ---- lock, removal, hashing ------------------------------------------------ */

int biqa_ds_lock(const biqa_ds_paths *p, int *fd, biqa_error *err)
{
    *fd = -1;
    if (biqa_mkdir_p(p->work, err) < 0)
        return -1;
    if (biqa_lock_acquire(p->lock, 0, fd, err) < 0)
        return biqa_fail_wrap(err, "%s: another biqa is fetching, importing or verifying it",
                              p->name);
    return 0;
}

void biqa_ds_unlock(int fd) { biqa_lock_release(fd); }

static int remove_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)ftw;
    return (flag == FTW_DP ? rmdir(path) : unlink(path)) == 0 || errno == ENOENT ? 0 : -1;
}

int biqa_ds_remove_tree(const char *path, biqa_error *err)
{
    struct stat sb;
    if (lstat(path, &sb) != 0)
        return errno == ENOENT ? 0 : biqa_fail(err, "%s: %s", path, strerror(errno));
    if (!S_ISDIR(sb.st_mode))
        return unlink(path) == 0 ? 0 : biqa_fail(err, "%s: cannot remove: %s", path,
                                                 strerror(errno));
    if (nftw(path, remove_one, 32, FTW_DEPTH | FTW_PHYS) != 0)
        return biqa_fail(err, "%s: cannot remove: %s", path, strerror(errno));
    return 0;
}
