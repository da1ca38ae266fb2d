/* The synthetic benchmark's writer: generates every file in parallel into
 * a temporary directory beside the target, writes meta.csv, the digest list
 * and the manifest, syncs, and renames the directory into place
 * (synthetic.h describes the layout). */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <stdarg.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/file.h"
#include "core/log.h"
#include "datasets/observer.h"
#include "datasets/synthetic.h"

enum { PATH_MAX_LEN = 4096, NAME_LEN = 48 };

/* Paths under the dataset directory: biqa_synthetic_make bounds the
 * directory's length so that every path fits in PATH_MAX_LEN. */
static void path_fmt(char *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void path_fmt(char *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out, PATH_MAX_LEN, fmt, ap);
    va_end(ap);
}

typedef struct entry {
    char path[NAME_LEN]; /* relative to the dataset directory */
    char sha[BIQA_SHA256_HEX_LEN];
} entry;

/* One downstream image's row of meta.csv. */
typedef struct row {
    biqa_chain chain;
    uint64_t apply_seed;
    double mos, std;
    int cls;
} row;

/* The first failure of a parallel loop, by index, so the message does not
 * depend on the schedule. */
typedef struct failure {
    long index;
    biqa_error err;
} failure;

static void note_failure(failure *f, long index, const biqa_error *e)
{
#pragma omp critical(biqa_synthetic_failure)
    if (index < f->index) {
        f->index = index;
        f->err = *e;
    }
}

/* Progress as plain lines, at every quarter of a phase. */
static void progress(const char *what, long *done, long total)
{
    long now;
#pragma omp atomic capture
    now = ++*done;
    if (total >= 8 && now % ((total + 3) / 4) == 0 && now < total)
        biqa_info("synthetic: %s %ld/%ld", what, now, total);
}

/* Writes a new file (never replacing one): the directory around it is
 * private until the final rename, so no per-file temporary is needed. */
static int write_new(const char *path, const void *data, size_t len, biqa_error *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return biqa_fail(err, "%s: %s", path, strerror(errno));
    const char *p = data;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            int e = errno;
            close(fd);
            return biqa_fail(err, "%s: %s", path, strerror(e));
        }
        p += w;
        len -= (size_t)w;
    }
    if (close(fd) < 0)
        return biqa_fail(err, "%s: %s", path, strerror(errno));
    return 0;
}

/* Encodes im as PNG at dir/rel, recording its digest in e. */
static int write_png(const char *dir, const char *rel, const biqa_image *im, entry *e,
                     biqa_error *err)
{
    uint8_t *data;
    size_t len;
    char path[PATH_MAX_LEN];
    path_fmt(path, "%s/%s", dir, rel);
    if (biqa_image_encode_png(im, &data, &len, err) < 0)
        return biqa_fail_wrap(err, "%s", path);
    snprintf(e->path, sizeof e->path, "%s", rel);
    biqa_sha256_hex(data, len, e->sha);
    int rc = write_new(path, data, len, err);
    free(data);
    return rc;
}

static int make_dir(const char *path, biqa_error *err)
{
    if (mkdir(path, 0755) < 0 && errno != EEXIST)
        return biqa_fail(err, "%s: cannot create the directory: %s", path, strerror(errno));
    return 0;
}

/* mkdir -p of path's parent directories and path itself. */
static int make_dirs(const char *path, biqa_error *err)
{
    char buf[PATH_MAX_LEN];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (make_dir(buf, err) < 0)
                return -1;
            *p = '/';
        }
    return make_dir(buf, err);
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

/* rm -rf of a directory this process made or owns (never follows links). */
static void remove_tree(const char *path)
{
    if (nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS) < 0 && errno != ENOENT)
        biqa_warn("could not remove %s: %s", path, strerror(errno));
}

static int is_empty_dir(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return 0;
    const struct dirent *e;
    int empty = 1;
    while (empty && (e = readdir(d)))
        empty = strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0;
    closedir(d);
    return empty;
}

/* What is at out now: 0 nothing (or an empty directory), 1 a synthetic
 * dataset that may be replaced (force given), -1 an error. */
static int inspect_target(const char *out, int force, biqa_error *err)
{
    struct stat st;
    if (lstat(out, &st) < 0) {
        if (errno == ENOENT)
            return 0;
        return biqa_fail(err, "%s: %s", out, strerror(errno));
    }
    if (!S_ISDIR(st.st_mode))
        return biqa_fail(err, "%s exists and is not a directory", out);
    char path[PATH_MAX_LEN], *text;
    size_t len;
    path_fmt(path, "%s/manifest.json", out);
    if (access(path, F_OK) < 0) {
        if (is_empty_dir(out))
            return 0; /* rename(2) replaces an empty directory */
        return biqa_fail(err, "%s is a directory with files but no manifest.json; biqa does "
                              "not replace it (remove it or choose another --out)", out);
    }
    if (biqa_read_file(path, &text, &len, err) < 0)
        return -1;
    cJSON *m = cJSON_Parse(text);
    free(text);
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(m, "name");
    const int synthetic = cJSON_IsString(name) && strcmp(name->valuestring, "synthetic") == 0;
    cJSON_Delete(m);
    if (!synthetic)
        return biqa_fail(err, "%s holds a dataset that is not a synthetic one (%s); biqa does "
                              "not replace it", out, path);
    if (!force)
        return biqa_fail(err, "%s already holds a complete synthetic dataset; replacing it "
                              "needs --force", out);
    return 1;
}

static int by_path(const void *a, const void *b)
{
    return strcmp(((const entry *)a)->path, ((const entry *)b)->path);
}

/* The pretraining contents, in parallel. */
static int make_pretrain(const biqa_synthetic_spec *s, uint64_t seed, const char *dir,
                         int threads, entry *files, biqa_error *err)
{
    const int n = s->classes * s->pretrain_per_class;
    failure f = {.index = n};
    long done = 0;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (int i = 0; i < n; i++) {
        biqa_error e = {{0}};
        biqa_image im;
        char rel[NAME_LEN];
        int cls, rc = biqa_synthetic_pretrain_image(s, seed, i, &im, &cls, &e);
        if (rc == 0) {
            snprintf(rel, sizeof rel, "pretrain/c%02d/p%06d.png", cls, i);
            rc = write_png(dir, rel, &im, &files[i], &e);
            biqa_image_free(&im);
        }
        if (rc < 0)
            note_failure(&f, i, &e);
        progress("pretraining images", &done, n);
    }
    if (f.index < n) {
        *err = f.err;
        return -1;
    }
    return 0;
}

/* One reference, its distortions and their ratings. */
static int make_reference(const biqa_synthetic_spec *s, uint64_t seed, const char *dir,
                          const biqa_observer *obs, int r, entry *ref_file, entry *files,
                          row *rows, biqa_error *err)
{
    biqa_image ref;
    int cls;
    char rel[NAME_LEN];
    if (biqa_synthetic_reference(s, seed, r, &ref, &cls, err) < 0)
        return -1;
    snprintf(rel, sizeof rel, "refs/r%05d.png", r);
    int rc = write_png(dir, rel, &ref, ref_file, err);
    for (int d = 0; d < s->distortions && rc == 0; d++) {
        const long i = (long)r * s->distortions + d;
        row *w = &rows[i];
        w->cls = cls;
        biqa_synthetic_chain(s, seed, r, d, &w->chain, &w->apply_seed);
        biqa_image dist;
        biqa_observation o;
        if (biqa_chain_apply(&w->chain, &ref, w->apply_seed, &dist, err) < 0) {
            char text[512];
            biqa_chain_format(&w->chain, text, sizeof text);
            rc = biqa_fail_wrap(err, "synthetic image %ld (chain %s)", i, text);
            break;
        }
        snprintf(rel, sizeof rel, "images/r%05d_d%02d.png", r, d);
        rc = write_png(dir, rel, &dist, &files[i], err);
        if (rc == 0)
            rc = biqa_observer_score(obs, &ref, &dist, &o, err);
        if (rc == 0)
            biqa_observer_rate(obs, seed, (uint64_t)i, o.score, &w->mos, &w->std);
        biqa_image_free(&dist);
    }
    biqa_image_free(&ref);
    return rc;
}

static int make_downstream(const biqa_synthetic_spec *s, uint64_t seed, const char *dir,
                           const biqa_observer *obs, int threads, entry *ref_files,
                           entry *files, row *rows, biqa_error *err)
{
    failure f = {.index = s->refs};
    long done = 0;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (int r = 0; r < s->refs; r++) {
        biqa_error e = {{0}};
        if (make_reference(s, seed, dir, obs, r, &ref_files[r], files, rows, &e) < 0)
            note_failure(&f, r, &e);
        progress("references", &done, s->refs);
    }
    if (f.index < s->refs) {
        *err = f.err;
        return -1;
    }
    return 0;
}

/* meta.csv (RFC 4180: the chain, which holds commas, is quoted). */
static char *meta_csv(const biqa_synthetic_spec *s, uint64_t seed, const row *rows,
                      const entry *files, size_t *len)
{
    char *text = NULL;
    FILE *f = open_memstream(&text, len);
    if (!f)
        return NULL;
    fputs("image,mos,std,ref,chain,seed,content_class,split_hint\n", f);
    for (int r = 0; r < s->refs; r++) {
        const char *hint = biqa_synthetic_is_test(s, seed, r) ? "test" : "train";
        for (int d = 0; d < s->distortions; d++) {
            const long i = (long)r * s->distortions + d;
            char chain[512];
            biqa_chain_format(&rows[i].chain, chain, sizeof chain);
            fprintf(f, "%s,%.6f,%.6f,refs/r%05d.png,\"%s\",%llu,%d,%s\n", files[i].path,
                    rows[i].mos, rows[i].std, r, chain, (unsigned long long)rows[i].apply_seed,
                    rows[i].cls, hint);
        }
    }
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

static char *manifest_json(const biqa_synthetic_spec *s, uint64_t seed,
                           const biqa_observer *o, const char *meta_sha,
                           const char *digests_sha)
{
    cJSON *m = cJSON_CreateObject();
    char buf[32];
    cJSON_AddStringToObject(m, "name", "synthetic");
    cJSON_AddNumberToObject(m, "format", 1);
    cJSON_AddStringToObject(m, "size", s->size);
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)seed);
    cJSON_AddStringToObject(m, "seed", buf);
    cJSON_AddStringToObject(m, "generator", "biqa datasets make synthetic (datasets/synthetic.h)");
    cJSON_AddNumberToObject(m, "image_size", s->image_size);
    cJSON_AddNumberToObject(m, "classes", s->classes);
    cJSON_AddNumberToObject(m, "max_shapes", s->max_shapes);
    cJSON *p = cJSON_AddObjectToObject(m, "pretrain");
    cJSON_AddStringToObject(p, "layout", "pretrain/cKK/pPPPPPP.png, one folder per class");
    cJSON_AddNumberToObject(p, "images", s->classes * s->pretrain_per_class);
    cJSON_AddNumberToObject(p, "per_class", s->pretrain_per_class);
    cJSON *d = cJSON_AddObjectToObject(m, "downstream");
    cJSON_AddStringToObject(d, "meta", "meta.csv");
    cJSON_AddStringToObject(d, "meta_sha256", meta_sha);
    cJSON_AddNumberToObject(d, "references", s->refs);
    cJSON_AddNumberToObject(d, "distortions_per_reference", s->distortions);
    cJSON_AddNumberToObject(d, "images", s->refs * s->distortions);
    cJSON *k = cJSON_AddArrayToObject(d, "chain_lengths");
    for (int slot = 0; slot < s->distortions; slot++)
        cJSON_AddItemToArray(k, cJSON_CreateNumber(biqa_synthetic_chain_length(s, slot)));
    cJSON_AddStringToObject(d, "sampler", "default chain sampler with k = chain_lengths[slot]: "
                                          "types with replacement from all 26, levels 1..5, "
                                          "random order");
    cJSON_AddNumberToObject(d, "test_percent", s->test_percent);
    cJSON *range = cJSON_AddArrayToObject(d, "mos_range");
    cJSON_AddItemToArray(range, cJSON_CreateNumber(1));
    cJSON_AddItemToArray(range, cJSON_CreateNumber(100));
    cJSON_AddStringToObject(d, "mos_direction", "higher is better");
    cJSON *ob = cJSON_AddObjectToObject(m, "observer");
    cJSON_AddStringToObject(ob, "model", "datasets/observer.h");
    cJSON_AddNumberToObject(ob, "chroma_exponent", o->chroma_exponent);
    cJSON_AddNumberToObject(ob, "tau0", o->tau0);
    cJSON_AddNumberToObject(ob, "kappa", o->kappa);
    cJSON_AddNumberToObject(ob, "s_min", o->s_min);
    cJSON_AddNumberToObject(ob, "s_max", o->s_max);
    cJSON_AddNumberToObject(ob, "d50", o->d50);
    cJSON_AddNumberToObject(ob, "slope", o->slope);
    cJSON_AddNumberToObject(ob, "raters", o->raters);
    cJSON_AddNumberToObject(ob, "sigma_end", o->sigma_end);
    cJSON_AddNumberToObject(ob, "sigma_mid", o->sigma_mid);
    cJSON_AddStringToObject(m, "digests", "digests.sha256");
    cJSON_AddStringToObject(m, "digests_sha256", digests_sha);
    char *text = cJSON_Print(m);
    cJSON_Delete(m);
    return text;
}

/* meta.csv, digests.sha256 and manifest.json into dir. */
static int write_index(const biqa_synthetic_spec *s, uint64_t seed, const char *dir,
                       const biqa_observer *obs, const row *rows, entry *all, size_t nall,
                       biqa_synthetic_summary *sum, biqa_error *err)
{
    char path[PATH_MAX_LEN];
    size_t len;
    const entry *images = all + (size_t)s->classes * s->pretrain_per_class + (size_t)s->refs;
    char *meta = meta_csv(s, seed, rows, images, &len);
    if (!meta)
        return biqa_fail(err, "%s/meta.csv: out of memory", dir);
    path_fmt(path, "%s/meta.csv", dir);
    entry *m = &all[nall++];
    snprintf(m->path, sizeof m->path, "meta.csv");
    biqa_sha256_hex(meta, len, m->sha);
    snprintf(sum->meta_sha256, sizeof sum->meta_sha256, "%s", m->sha);
    int rc = write_new(path, meta, len, err);
    free(meta);
    if (rc < 0)
        return -1;
    qsort(all, nall, sizeof *all, by_path);
    char *digests = malloc(nall * (NAME_LEN + BIQA_SHA256_HEX_LEN + 3) + 1);
    if (!digests)
        return biqa_fail(err, "%s/digests.sha256: out of memory", dir);
    len = 0;
    for (size_t i = 0; i < nall; i++)
        len += (size_t)sprintf(digests + len, "%s  %s\n", all[i].sha, all[i].path);
    char digests_sha[BIQA_SHA256_HEX_LEN];
    biqa_sha256_hex(digests, len, digests_sha);
    path_fmt(path, "%s/digests.sha256", dir);
    rc = write_new(path, digests, len, err);
    free(digests);
    if (rc < 0)
        return -1;
    char *manifest = manifest_json(s, seed, obs, sum->meta_sha256, digests_sha);
    if (!manifest)
        return biqa_fail(err, "%s/manifest.json: out of memory", dir);
    path_fmt(path, "%s/manifest.json", dir);
    rc = write_new(path, manifest, strlen(manifest), err);
    cJSON_free(manifest);
    return rc;
}

/* Flushes the whole temporary tree to disk before it is renamed into place. */
static int sync_tree(const char *dir, biqa_error *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || syncfs(fd) < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return biqa_fail(err, "%s: cannot sync: %s", dir, strerror(e));
    }
    close(fd);
    return 0;
}

/* tmp -> out; an existing dataset at out (replace = 1) is moved aside
 * first and removed only once the new one is in place. */
static int move_into_place(const char *tmp, const char *out, int replace, biqa_error *err)
{
    char old[PATH_MAX_LEN];
    path_fmt(old, "%s.old-%ld", out, (long)getpid());
    if (replace && rename(out, old) < 0)
        return biqa_fail(err, "%s: cannot move the old dataset aside: %s", out, strerror(errno));
    if (rename(tmp, out) < 0) {
        int e = errno;
        if (replace && rename(old, out) < 0)
            biqa_warn("the old dataset stays at %s", old);
        if (e == ENOTEMPTY || e == EEXIST)
            return biqa_fail(err, "%s appeared while the dataset was generated (another biqa?); "
                                  "nothing replaced", out);
        return biqa_fail(err, "%s: cannot rename %s into place: %s", out, tmp, strerror(e));
    }
    if (replace)
        remove_tree(old);
    return 0;
}

static int generate(const biqa_synthetic_spec *s, uint64_t seed, const char *tmp, int threads,
                    biqa_synthetic_summary *sum, biqa_error *err)
{
    const biqa_observer obs = biqa_observer_default();
    const size_t npre = (size_t)s->classes * s->pretrain_per_class;
    const size_t nimg = (size_t)s->refs * s->distortions;
    const size_t nall = npre + (size_t)s->refs + nimg;
    entry *all = calloc(nall + 1, sizeof *all); /* + meta.csv */
    row *rows = calloc(nimg, sizeof *rows);
    char path[PATH_MAX_LEN];
    int rc = all && rows ? 0 : biqa_fail(err, "%s: out of memory", tmp);
    static const char *const subdirs[] = {"images", "refs", "pretrain"};
    for (int i = 0; i < 3 && rc == 0; i++) {
        path_fmt(path, "%s/%s", tmp, subdirs[i]);
        rc = make_dir(path, err);
    }
    for (int c = 0; c < s->classes && s->pretrain_per_class > 0 && rc == 0; c++) {
        path_fmt(path, "%s/pretrain/c%02d", tmp, c);
        rc = make_dir(path, err);
    }
    if (rc == 0)
        rc = make_pretrain(s, seed, tmp, threads, all, err);
    if (rc == 0)
        rc = make_downstream(s, seed, tmp, &obs, threads, all + npre, all + npre + s->refs,
                             rows, err);
    if (rc == 0)
        rc = write_index(s, seed, tmp, &obs, rows, all, nall, sum, err);
    if (rc == 0) {
        sum->pretrain = (int)npre;
        sum->refs = s->refs;
        sum->images = (int)nimg;
        sum->mos_min = INFINITY, sum->mos_max = -INFINITY, sum->mos_mean = 0;
        for (size_t i = 0; i < nimg; i++) {
            sum->mos_min = fmin(sum->mos_min, rows[i].mos);
            sum->mos_max = fmax(sum->mos_max, rows[i].mos);
            sum->mos_mean += rows[i].mos / (double)nimg;
        }
    }
    free(all);
    free(rows);
    return rc;
}

int biqa_synthetic_make(const biqa_synthetic_spec *s, uint64_t seed, const char *out,
                        int threads, int force, biqa_synthetic_summary *summary,
                        biqa_error *err)
{
    if (biqa_synthetic_spec_check(s, err) < 0)
        return -1;
    char target[PATH_MAX_LEN], tmp[PATH_MAX_LEN];
    size_t n = strlen(out);
    while (n > 1 && out[n - 1] == '/')
        n--;
    if (n == 0 || n + 64 >= sizeof target)
        return biqa_fail(err, "synthetic: output directory '%s' is empty or too long", out);
    memcpy(target, out, n);
    target[n] = '\0';
    char *slash = strrchr(target, '/');
    if (slash && slash != target) {
        *slash = '\0';
        int rc = make_dirs(target, err);
        *slash = '/';
        if (rc < 0)
            return -1;
    }
    const int replace = inspect_target(target, force, err);
    if (replace < 0)
        return -1;
    path_fmt(tmp, "%s.partial-%ld", target, (long)getpid());
    if (mkdir(tmp, 0755) < 0)
        return biqa_fail(err, "%s: cannot create the directory: %s", tmp, strerror(errno));
    if (threads <= 0)
        threads = omp_get_max_threads();
    biqa_synthetic_summary sum = {0};
    int rc = generate(s, seed, tmp, threads, &sum, err);
    if (rc == 0)
        rc = sync_tree(tmp, err);
    if (rc == 0)
        rc = move_into_place(tmp, target, replace, err);
    if (rc < 0) {
        remove_tree(tmp);
        return -1;
    }
    if (summary)
        *summary = sum;
    return 0;
}
