/* biqa datasets list | info | fetch | verify | import: the real datasets
 * (datasets/manifest.h, datasets/dataset_state.h, datasets/dataset_fetch.h).
 * A dataset is named by its built-in manifest, by --manifest FILE, or by a
 * dataset directory under --root that records its manifest (dataset.json). */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/file.h"
#include "core/log.h"
#include "datasets/dataset_fetch.h"
#include "datasets/dataset_state.h"
#include "datasets/manifest.h"
#include "harness/commands.h"
#include "harness/output.h"
#include "results/datasets_table.h"


static int fail(const biqa_error *err)
{
    biqa_error_line("%s", err->msg);
    return BIQA_EXIT_FAIL;
}

/* The manifest recorded in ROOT/NAME/dataset.json (a dataset fetched with
 * --manifest); *found = 0 when there is none. */
static int load_recorded(const char *root, const char *name, biqa_manifest *m, int *found,
                         biqa_error *err)
{
    char path[BIQA_DS_PATH + 128];
    *found = 0;
    if (snprintf(path, sizeof path, "%s/%s/dataset.json", root, name) >= (int)sizeof path ||
        access(path, F_OK) != 0)
        return 0;
    char *text;
    size_t len;
    if (biqa_read_file(path, &text, &len, err) < 0)
        return -1;
    cJSON *o = cJSON_ParseWithLength(text, len);
    free(text);
    char *mtext = cJSON_Print(cJSON_GetObjectItemCaseSensitive(o, "manifest"));
    cJSON_Delete(o);
    if (!mtext)
        return biqa_fail(err, "%s: no manifest recorded", path);
    int rc = biqa_manifest_parse(path, mtext, strlen(mtext), m, err);
    cJSON_free(mtext);
    *found = rc == 0;
    return rc;
}

/* The dataset an info/fetch/verify/import command is about: NAME or
 * --manifest FILE (both: they must agree). Returns an exit code, or -1 to
 * go on with m loaded. */
static int resolve(const biqa_cli *cli, biqa_manifest *m)
{
    const biqa_args *a = cli->args;
    if (biqa_expect_args(cli, 0, 1, "the dataset name (see 'biqa datasets list')") != 0)
        return BIQA_EXIT_USAGE;
    const char *name = a->npositional ? a->positional[0] : NULL;
    const char *file = biqa_arg(a, "manifest");
    if (!name && !file)
        return biqa_usage_error(a, "missing the dataset name or --manifest FILE");
    biqa_error err = {{0}};
    if (file) {
        if (biqa_manifest_load_file(file, m, &err) < 0)
            return fail(&err);
        if (name && strcmp(name, m->name) != 0) {
            biqa_manifest_free(m);
            return biqa_usage_error(a, "%s describes '%s', not '%s'", file, m->name, name);
        }
        return -1;
    }
    if (biqa_manifest_load_builtin(name, m, &err) == 0)
        return -1;
    biqa_error err2 = {{0}};
    int found = 0;
    if (load_recorded(cli->root, name, m, &found, &err2) < 0)
        return fail(&err2);
    return found ? -1 : fail(&err);
}

static const char *or_dash(const char *s) { return s && *s ? s : "-"; }

/* Records the dataset's verdict in the results store; a failure is a
 * warning (the dataset itself is in place either way). */
static void record(const biqa_cli *cli, const biqa_manifest *m)
{
    biqa_error err = {{0}};
    biqa_ds_paths p;
    biqa_ds_status st;
    if (biqa_ds_paths_init(cli->root, m->name, &p, &err) < 0 ||
        biqa_ds_status_read(&p, &st, &err) < 0) {
        biqa_warn("not recorded in %s: %s", cli->db, err.msg);
        return;
    }
    char dir[PATH_MAX];
    if (!realpath(p.dir, dir))
        snprintf(dir, sizeof dir, "%s", p.dir);
    biqa_store store;
    if (biqa_store_open(&store, cli->db, BIQA_STORE_WRITE, &err) < 0) {
        biqa_warn("not recorded in %s: %s", cli->db, err.msg);
        return;
    }
    const biqa_dataset_row row = {m->name, dir, m->sha256, st.source, biqa_ds_state_name(st.state),
                                  st.n_images, st.index_sha256, st.digests_sha256};
    if (biqa_datasets_table_put(&store, &row, &err) < 0)
        biqa_warn("not recorded in %s: %s", cli->db, err.msg);
    biqa_store_close(&store);
}

static biqa_ds_options options(const biqa_cli *cli)
{
    const biqa_args *a = cli->args;
    return (biqa_ds_options){.offline = biqa_flag(a, "offline"),
                             .progress = biqa_log_get_level() != BIQA_LOG_QUIET,
                             .delete_archives = biqa_flag(a, "delete-archives"),
                             .copy = biqa_flag(a, "copy"),
                             .source = biqa_arg(a, "source")};
}

/* ---- list ----------------------------------------------------------------- */

/* The generated benchmark's state: which ROOT/NAME-SIZE folders are made. */
static void generated_state(const char *root, const biqa_manifest *m, biqa_ds_status *st)
{
    static const char *const sizes[] = {"test", "demo", "large"};
    memset(st, 0, sizeof *st);
    char made[64] = "";
    for (int i = 0; i < 3; i++) {
        char path[BIQA_DS_PATH + 64];
        snprintf(path, sizeof path, "%s/%s-%s/manifest.json", root, m->name, sizes[i]);
        if (access(path, F_OK) == 0)
            snprintf(made + strlen(made), sizeof made - strlen(made), "%s%s", *made ? ", " : "",
                     sizes[i]);
    }
    st->state = *made ? BIQA_DS_VERIFIED : BIQA_DS_ABSENT;
    st->n_images = -1;
    if (*made)
        snprintf(st->detail, sizeof st->detail, "made: %s (biqa datasets verify %s rehashes them)",
                 made, m->name);
    else
        snprintf(st->detail, sizeof st->detail, "generated on demand: biqa datasets make %s",
                 m->name);
}

static int status_of(const char *root, const biqa_manifest *m, biqa_ds_status *st,
                     biqa_error *err)
{
    if (m->kind == BIQA_MANIFEST_GENERATED) {
        generated_state(root, m, st);
        return 0;
    }
    biqa_ds_paths p;
    if (biqa_ds_paths_init(root, m->name, &p, err) < 0 || biqa_ds_status_read(&p, st, err) < 0)
        return -1;
    if (st->state == BIQA_DS_ABSENT && m->kind == BIQA_MANIFEST_LOCAL)
        snprintf(st->detail, sizeof st->detail,
                 "never downloaded: biqa datasets import %s --from DIR", m->name);
    else if (st->state == BIQA_DS_ABSENT && m->n_sources > 0 && m->sources[0].manual)
        snprintf(st->detail, sizeof st->detail,
                 "not present: download it by hand, then biqa datasets import %s --from PATH",
                 m->name);
    return 0;
}

/* Manifests to list: built-in, --manifest files (replacing a built-in of
 * the same name) and datasets under the root that record their own. */
typedef struct mlist {
    biqa_manifest *v;
    int n, cap;
} mlist;

static int mlist_has(const mlist *l, const char *name)
{
    for (int i = 0; i < l->n; i++)
        if (strcmp(l->v[i].name, name) == 0)
            return i;
    return -1;
}

static int mlist_put(mlist *l, biqa_manifest *m, biqa_error *err)
{
    int at = mlist_has(l, m->name);
    if (at >= 0) {
        biqa_manifest_free(&l->v[at]);
        l->v[at] = *m;
        return 0;
    }
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 32;
        biqa_manifest *v = realloc(l->v, (size_t)cap * sizeof *v);
        if (!v) {
            biqa_manifest_free(m);
            return biqa_fail(err, "out of memory");
        }
        l->v = v, l->cap = cap;
    }
    l->v[l->n++] = *m;
    return 0;
}

static void mlist_free(mlist *l)
{
    for (int i = 0; i < l->n; i++)
        biqa_manifest_free(&l->v[i]);
    free(l->v);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const biqa_manifest *)a)->name, ((const biqa_manifest *)b)->name);
}

static int collect(const biqa_cli *cli, mlist *l, biqa_error *err)
{
    biqa_manifest m;
    for (size_t i = 0; i < biqa_manifest_builtin_count(); i++)
        if (biqa_manifest_load_builtin(biqa_manifest_builtin_name(i), &m, err) < 0 ||
            mlist_put(l, &m, err) < 0)
            return -1;
    const char *const *files;
    int nf = biqa_arg_all(cli->args, "manifest", &files);
    for (int i = 0; i < nf; i++)
        if (biqa_manifest_load_file(files[i], &m, err) < 0 || mlist_put(l, &m, err) < 0)
            return -1;
    DIR *d = opendir(cli->root);
    for (struct dirent *e; d && (e = readdir(d));) {
        int found = 0;
        if (e->d_name[0] == '.' || mlist_has(l, e->d_name) >= 0)
            continue;
        biqa_error ignore;
        if (load_recorded(cli->root, e->d_name, &m, &found, &ignore) == 0 && found &&
            strcmp(m.name, e->d_name) == 0) {
            if (mlist_put(l, &m, err) < 0) {
                closedir(d);
                return -1;
            }
        } else if (found) {
            biqa_manifest_free(&m);
        }
    }
    if (d)
        closedir(d);
    qsort(l->v, (size_t)l->n, sizeof *l->v, by_name);
    return 0;
}

int biqa_cmd_datasets_list(biqa_cli *cli)
{
    if (biqa_expect_args(cli, 0, 0, "") != 0)
        return BIQA_EXIT_USAGE;
    biqa_error err = {{0}};
    mlist l = {0};
    if (collect(cli, &l, &err) < 0) {
        mlist_free(&l);
        return fail(&err);
    }
    cJSON *arr = cli->json ? cJSON_CreateArray() : NULL;
    biqa_table t;
    if (!cli->json)
        biqa_table_init(&t, 5, (const char *const[]){"dataset", "kind", "state", "images", "detail"});
    int rc = BIQA_EXIT_OK;
    for (int i = 0; i < l.n; i++) {
        const biqa_manifest *m = &l.v[i];
        biqa_ds_status st;
        if (status_of(cli->root, m, &st, &err) < 0) {
            biqa_error_line("%s", err.msg);
            rc = BIQA_EXIT_FAIL;
            continue;
        }
        const char *state = biqa_ds_state_name(st.state);
        if (arr) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "name", m->name);
            cJSON_AddStringToObject(o, "title", m->title);
            cJSON_AddStringToObject(o, "kind", biqa_manifest_kind_name(m->kind));
            cJSON_AddStringToObject(o, "state", state);
            cJSON_AddStringToObject(o, "detail", st.detail);
            cJSON_AddStringToObject(o, "manifest", m->origin);
            if (m->images >= 0)
                cJSON_AddNumberToObject(o, "images_expected", (double)m->images);
            if (st.n_images >= 0)
                cJSON_AddNumberToObject(o, "images", (double)st.n_images);
            if (*st.source)
                cJSON_AddStringToObject(o, "source", st.source);
            cJSON_AddItemToArray(arr, o);
            continue;
        }
        char images[32] = "";
        if (st.n_images >= 0)
            snprintf(images, sizeof images, "%lld", (long long)st.n_images);
        else if (m->images >= 0)
            snprintf(images, sizeof images, "(%lld)", (long long)m->images);
        biqa_table_add(&t, (const char *const[]){m->name, biqa_manifest_kind_name(m->kind), state,
                                                 images, st.detail});
    }
    if (arr) {
        biqa_print_json(arr, stdout);
    } else {
        printf("datasets under %s (images: in the index; in brackets: expected)\n", cli->root);
        biqa_table_print(&t, stdout);
        biqa_table_free(&t);
    }
    mlist_free(&l);
    return rc;
}

/* ---- info ------------------------------------------------------------------ */

static void print_file(const biqa_ds_paths *p, const biqa_manifest_source *s,
                       const biqa_manifest_file *f)
{
    char pin[BIQA_SHA256_HEX_LEN] = "", bytes[32] = "size unknown";
    int64_t pb = -1;
    int found = 0;
    biqa_error ignore;
    if (!f->sha256)
        biqa_ds_pin_get(p, s->name, f->file, pin, &pb, &found, &ignore);
    if (f->bytes >= 0)
        snprintf(bytes, sizeof bytes, "%lld bytes", (long long)f->bytes);
    printf("     %s  (%s, %s)\n       sha256 %s%s\n", f->file, f->format, bytes,
           f->sha256 ? f->sha256 : found ? pin : "unknown",
           f->sha256 ? "" : found ? "  (pinned at its first download)"
                                  : "  (to be pinned at its first download)");
    if (f->md5)
        printf("       md5 %s (published)\n", f->md5);
    for (int u = 0; u < f->n_urls; u++)
        printf("       %s\n", f->urls[u]);
}

static void print_source(const biqa_ds_paths *p, int i, const biqa_manifest_source *s)
{
    const biqa_manifest_labels *l = &s->labels;
    printf("  %d. %s%s%s%s\n", i + 1, s->name, s->manual ? " (manual: import only)" : "",
           s->note ? ": " : "", s->note ? s->note : "");
    for (int j = 0; j < s->n_files; j++)
        print_file(p, s, &s->files[j]);
    printf("     labels: %s, %s (images in %s), MOS [%g, %g], %s is better\n", l->parser, l->file,
           *l->image_dir ? l->image_dir : ".", l->mos_lo, l->mos_hi,
           l->higher_better ? "higher" : "lower");
    if (s->splits.pyiqa)
        printf("     splits: pyiqa's ratio802_seed123_split_NN columns of %s\n", s->splits.pyiqa);
    if (s->splits.official_file && s->splits.test_list)
        printf("     official split: test list %s\n", s->splits.official_file);
    else if (s->splits.official_file)
        printf("     official split: %s, columns %s / %s\n", s->splits.official_file,
               s->splits.name_column, s->splits.set_column);
}

static cJSON *status_json(const biqa_ds_status *st, const biqa_ds_paths *p)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "state", biqa_ds_state_name(st->state));
    cJSON_AddStringToObject(o, "detail", st->detail);
    cJSON_AddStringToObject(o, "dir", p->dir);
    cJSON_AddStringToObject(o, "downloads", p->downloads);
    if (*st->source)
        cJSON_AddStringToObject(o, "source", st->source);
    if (st->n_images >= 0)
        cJSON_AddNumberToObject(o, "images", (double)st->n_images);
    if (*st->index_sha256)
        cJSON_AddStringToObject(o, "index_sha256", st->index_sha256);
    if (*st->digests_sha256)
        cJSON_AddStringToObject(o, "digests_sha256", st->digests_sha256);
    if (*st->updated_at)
        cJSON_AddStringToObject(o, "updated_at", st->updated_at);
    cJSON_AddNumberToObject(o, "download_bytes", (double)st->download_bytes);
    return o;
}

int biqa_cmd_datasets_info(biqa_cli *cli)
{
    biqa_manifest m;
    int rc = resolve(cli, &m);
    if (rc >= 0)
        return rc;
    biqa_error err = {{0}};
    biqa_ds_paths p;
    biqa_ds_status st;
    if (biqa_ds_paths_init(cli->root, m.name, &p, &err) < 0 ||
        status_of(cli->root, &m, &st, &err) < 0) {
        biqa_manifest_free(&m);
        return fail(&err);
    }
    if (cli->json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", m.name);
        cJSON_AddStringToObject(o, "manifest_origin", m.origin);
        cJSON_AddStringToObject(o, "manifest_sha256", m.sha256);
        cJSON_AddBoolToObject(o, "builtin", m.builtin);
        cJSON *mj = cJSON_Parse(m.text);
        cJSON_AddItemToObject(o, "manifest", mj ? mj : cJSON_CreateNull());
        cJSON_AddItemToObject(o, "local", status_json(&st, &p));
        biqa_print_json(o, stdout);
        biqa_manifest_free(&m);
        return BIQA_EXIT_OK;
    }
    printf("%s: %s (%s)\n", m.name, m.title, biqa_manifest_kind_name(m.kind));
    printf("manifest:   %s%s, sha256 %s\n", m.origin, m.builtin ? " (built in)" : "", m.sha256);
    if (m.homepage)
        printf("homepage:   %s\n", m.homepage);
    printf("licence:    %s\n", m.licence);
    if (m.citation)
        printf("citation:   %s\n", m.citation);
    if (m.images >= 0)
        printf("images:     %lld%s%s%s\n", (long long)m.images, m.distortions ? " (" : "",
               m.distortions ? m.distortions : "", m.distortions ? " distortions)" : "");
    if (m.kind == BIQA_MANIFEST_DOWNLOAD) {
        if (m.references >= 0)
            printf("references: %lld (splits are content-disjoint by reference)\n",
                   (long long)m.references);
        else
            printf("references: none (every image its own content)\n");
    }
    if (m.classes >= 0)
        printf("classes:    %lld (%s)\n", (long long)m.classes, or_dash(m.layout));
    for (int i = 0; i < m.n_notes; i++)
        printf("%s %s\n", i ? "           " : "notes:     ", m.notes[i]);
    if (m.n_sources)
        printf("sources (tried in this order):\n");
    for (int i = 0; i < m.n_sources; i++)
        print_source(&p, i, &m.sources[i]);
    printf("state:      %s: %s\n", biqa_ds_state_name(st.state), st.detail);
    if (m.kind != BIQA_MANIFEST_GENERATED)
        printf("directory:  %s\n", p.dir);
    if (m.kind == BIQA_MANIFEST_DOWNLOAD)
        printf("downloads:  %s\n", p.downloads);
    if (*st.index_sha256)
        printf("index.csv:  sha256 %s (%lld images, source %s)\n", st.index_sha256,
               (long long)st.n_images, st.source);
    biqa_manifest_free(&m);
    return BIQA_EXIT_OK;
}

/* ---- fetch, import, verify ------------------------------------------------- */

static void print_result(const biqa_cli *cli, const biqa_manifest *m, const char *verb,
                         const biqa_ds_result *r)
{
    biqa_ds_paths p;
    biqa_error ignore;
    biqa_ds_paths_init(cli->root, m->name, &p, &ignore);
    if (cli->json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", m->name);
        cJSON_AddStringToObject(o, "result", r->already ? "already present" : verb);
        cJSON_AddStringToObject(o, "dir", p.dir);
        cJSON_AddStringToObject(o, "source", r->source);
        cJSON_AddNumberToObject(o, "images", (double)r->n_images);
        cJSON_AddNumberToObject(o, "files", (double)r->n_files);
        cJSON_AddStringToObject(o, "index_sha256", r->index_sha256);
        cJSON_AddStringToObject(o, "digests_sha256", r->digests_sha256);
        if (!strcmp(verb, "imported")) {
            cJSON_AddNumberToObject(o, "hard_linked", (double)r->n_linked);
            cJSON_AddNumberToObject(o, "copied", (double)r->n_copied);
        }
        if (*r->pinned)
            cJSON_AddStringToObject(o, "pinned", r->pinned);
        biqa_print_json(o, stdout);
        return;
    }
    if (r->already) {
        printf("%s: already fetched and verified (%s, source %s, %lld images); "
               "'biqa datasets verify %s' rehashes every file\n",
               m->name, p.dir, r->source, (long long)r->n_images, m->name);
        return;
    }
    printf("%s: %s from source %s: %lld images, %lld files -> %s\n", m->name, verb, r->source,
           (long long)r->n_images, (long long)r->n_files, p.dir);
    if (!strcmp(verb, "imported") && strcmp(r->source, "local") != 0)
        printf("files: %lld hard-linked (they share their bytes with the originals), %lld "
               "copied\n", (long long)r->n_linked, (long long)r->n_copied);
    else if (!strcmp(r->source, "local"))
        printf("%s/train links to the folder; nothing was copied\n", p.dir);
    if (*r->index_sha256)
        printf("index.csv sha256 %s\n", r->index_sha256);
    printf("digests.sha256 sha256 %s\n", r->digests_sha256);
    if (*r->pinned)
        printf("pinned (digest unknown to the manifest): %s\n", r->pinned);
}

int biqa_cmd_datasets_fetch(biqa_cli *cli)
{
    biqa_manifest m;
    int rc = resolve(cli, &m);
    if (rc >= 0)
        return rc;
    biqa_error err = {{0}};
    const biqa_ds_options o = options(cli);
    biqa_ds_result r;
    if (biqa_dataset_fetch(cli->root, &m, &o, &r, &err) < 0) {
        biqa_manifest_free(&m);
        return fail(&err);
    }
    if (!r.already)
        record(cli, &m);
    print_result(cli, &m, "fetched", &r);
    biqa_manifest_free(&m);
    return BIQA_EXIT_OK;
}

int biqa_cmd_datasets_import(biqa_cli *cli)
{
    const char *const *from;
    const int n = biqa_arg_all(cli->args, "from", &from);
    if (n == 0)
        return biqa_usage_error(cli->args, "missing --from PATH (a folder or an archive)");
    biqa_manifest m;
    int rc = resolve(cli, &m);
    if (rc >= 0)
        return rc;
    biqa_error err = {{0}};
    const biqa_ds_options o = options(cli);
    biqa_ds_result r;
    if (biqa_dataset_import(cli->root, &m, from, n, &o, &r, &err) < 0) {
        biqa_manifest_free(&m);
        return fail(&err);
    }
    record(cli, &m);
    print_result(cli, &m, "imported", &r);
    biqa_manifest_free(&m);
    return BIQA_EXIT_OK;
}

int biqa_cmd_datasets_verify(biqa_cli *cli)
{
    biqa_manifest m;
    int rc = resolve(cli, &m);
    if (rc >= 0)
        return rc;
    biqa_error err = {{0}};
    const biqa_ds_options o = options(cli);
    biqa_ds_verify_result r;
    if (biqa_dataset_verify(cli->root, &m, &o, &r, &err) < 0) {
        biqa_manifest_free(&m);
        return fail(&err);
    }
    if (m.kind != BIQA_MANIFEST_GENERATED)
        record(cli, &m);
    if (cli->json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "name", m.name);
        cJSON_AddStringToObject(j, "state", r.ok ? "verified" : "corrupt");
        cJSON_AddNumberToObject(j, "files", (double)r.n_files);
        cJSON_AddNumberToObject(j, "bytes", (double)r.bytes);
        cJSON_AddNumberToObject(j, "changed", (double)r.n_bad);
        cJSON_AddNumberToObject(j, "missing", (double)r.n_missing);
        cJSON_AddNumberToObject(j, "not_listed", (double)r.n_extra);
        if (!r.ok)
            cJSON_AddStringToObject(j, "first_problem", r.first_bad);
        biqa_print_json(j, stdout);
    } else if (r.ok) {
        printf("%s: verified: %lld files, %.1f MB, every SHA-256 as recorded\n", m.name,
               (long long)r.n_files, (double)r.bytes / 1e6);
    }
    if (r.n_extra)
        biqa_warn("%s: %lld file(s) under the dataset are not in digests.sha256 (not part of "
                  "the dataset as fetched)", m.name, (long long)r.n_extra);
    if (!r.ok)
        biqa_error_line("%s: corrupt: %s (%lld changed, %lld missing of %lld files; "
                        "'biqa datasets fetch %s' restores it)",
                        m.name, r.first_bad, (long long)r.n_bad, (long long)r.n_missing,
                        (long long)r.n_files, m.name);
    biqa_manifest_free(&m);
    return r.ok ? BIQA_EXIT_OK : BIQA_EXIT_FAIL;
}
