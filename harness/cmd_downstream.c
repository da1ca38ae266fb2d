/* biqa finetune | probe | eval: the downstream protocol (paper/QPT.md) over
 * the repeated splits of datasets/splits.h, one run per split in the results
 * store, each with its split id and hash, the parent pretraining run, test
 * metrics and per-epoch curves.
 *
 * Artifacts of run ID go to <database less .db>.artifacts/run-ID/ (harness/reuse.h):
 *   predictions.csv   image,mos,pred,part for every image of the dataset
 *                     (mos on 0..1, higher = better; part train|val|test;
 *                     pred from the selected model)
 *   model.safetensors, model.head.safetensors   (finetune) the selected
 *                     backbone and regression head (methods/finetune.h);
 *                     `biqa eval --checkpoint .../model.safetensors` reads
 *                     both.
 *
 * Data-parallel fine-tuning (compute.comm, methods/dist.h): under
 * mpirun/srun every rank runs the splits; rank 0 alone opens the store,
 * decides each split's run and tells the others, and writes checkpoints,
 * predictions and metrics (the run config notes the world size). probe and
 * eval do not train: under several ranks rank 0 does their work alone. */
#include <cjson/cJSON.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/digest.h"
#include "core/file.h"
#include "core/log.h"
#include "core/rng.h"
#include "core/safetensors.h"
#include "datasets/index.h"
#include "datasets/splits.h"
#include "datasets/splits_import.h"
#include "harness/commands.h"
#include "harness/config.h"
#include "harness/reuse.h"
#include "methods/dist.h"
#include "methods/finetune.h"
#include "methods/model_io.h"
#include "methods/probe.h"
#include "results/aggregate.h"
#include "results/metrics.h"
#include "results/runs.h"

typedef struct setup {
    const biqa_cli *cli;
    const char *kind, *data, *checkpoint;
    char method[64];
    int64_t parent;
    biqa_config cfg;
    int has_cfg;
    biqa_index idx;
    biqa_image *images;
    double *mos;
    biqa_backend *be;
    biqa_dist *dist; /* NULL: one process */
    int idle;        /* a rank other than 0 of probe or eval: nothing to do */
    biqa_store store;
    int has_store;
    int nsplits;
    uint64_t seed;
    double srcc[64], plcc[64]; /* per split, for the summary */
    double *features; /* probe: idx.n x dim */
    size_t dim;
} setup;

static double knob_num(const setup *s, const char *key) { return biqa_config_get(&s->cfg, key)->valuedouble; }
static const char *knob_str(const setup *s, const char *key) { return biqa_config_get(&s->cfg, key)->valuestring; }

/* Checkpoint metadata gives the method and the parent run when --method and
 * --parent do not. */
static int checkpoint_provenance(setup *s, biqa_error *err)
{
    biqa_safetensors st;
    if (biqa_st_open(s->checkpoint, &st, err) < 0)
        return -1;
    const char *method = biqa_st_meta(&st, "method"), *run = biqa_st_meta(&st, "run_id");
    if (!s->method[0])
        snprintf(s->method, sizeof s->method, "%s", method ? method : "checkpoint");
    if (!s->parent && run)
        s->parent = strtoll(run, NULL, 10);
    biqa_st_close(&st);
    return 0;
}

static int setup_open(setup *s, biqa_cli *cli, const char *kind, biqa_error *err)
{
    const biqa_args *a = cli->args;
    s->cli = cli, s->kind = kind;
    s->data = biqa_arg(a, "data"), s->checkpoint = biqa_arg(a, "checkpoint");
    snprintf(s->method, sizeof s->method, "%s", biqa_arg(a, "method") ? biqa_arg(a, "method") : "");
    if (biqa_config_from_cli(&s->cfg, cli, err) < 0)
        return -1;
    s->has_cfg = 1;
    s->seed = (uint64_t)(int64_t)knob_num(s, "run.seed");
    s->nsplits = (int)knob_num(s, "splits.count");
    if (biqa_arg(a, "splits"))
        s->nsplits = atoi(biqa_arg(a, "splits"));
    if (s->nsplits < 1 || s->nsplits > 64)
        return biqa_fail(err, "--splits / splits.count: %d is not in 1..64", s->nsplits);
    if (!strcmp(knob_str(s, "splits.source"), "official") && s->nsplits != 1) {
        biqa_info("splits.source official: one split (not %d)", s->nsplits);
        s->nsplits = 1;
    }
    if (s->checkpoint && checkpoint_provenance(s, err) < 0)
        return -1;
    if (!s->method[0])
        snprintf(s->method, sizeof s->method, "scratch");
    /* Before the backend: NCCL ranks pick their GPU first. */
    if (biqa_dist_open(knob_str(s, "compute.comm"), knob_str(s, "compute.backend"), &s->dist,
                       err) < 0)
        return -1;
    const int lead = biqa_dist_rank(s->dist) == 0, trains = !strcmp(kind, "finetune");
    if (!trains && !lead) {
        s->idle = 1;
        return 0;
    }
    int rc = biqa_index_read_dir(s->data, &s->idx, err);
    if (rc == 0) {
        s->images = calloc(s->idx.n, sizeof *s->images);
        s->mos = malloc(s->idx.n * sizeof *s->mos);
        if (!s->images || !s->mos)
            rc = biqa_fail(err, "%s: out of memory", s->data);
    }
    for (size_t i = 0; rc == 0 && i < s->idx.n; i++) {
        rc = biqa_image_read(s->idx.items[i].path, &s->images[i], err);
        s->mos[i] = s->idx.items[i].mos;
    }
    if (rc == 0 && !(s->be = biqa_backend_from_config(&s->cfg, err)))
        rc = -1;
    if (rc == 0 && trains)
        rc = biqa_dist_attach(s->dist, s->be, err);
    if (rc == 0 && lead && (rc = biqa_store_open(&s->store, cli->db, BIQA_STORE_WRITE, err)) == 0)
        s->has_store = 1;
    return trains ? biqa_dist_agree(s->dist, rc, err) : rc;
}

static void setup_close(setup *s, int failed)
{
    biqa_dist_close(s->dist, failed); /* first: it may abort the job, and it uses the backend */
    for (size_t i = 0; s->images && i < s->idx.n; i++)
        biqa_image_free(&s->images[i]);
    free(s->images);
    free(s->mos);
    free(s->features);
    biqa_index_free(&s->idx);
    biqa_backend_destroy(s->be);
    if (s->has_store)
        biqa_store_close(&s->store);
    if (s->has_cfg)
        biqa_config_free(&s->cfg);
}

/* The run config of one split: the resolved knobs plus a "downstream"
 * section naming the data, checkpoint (with digest) and split; its hash
 * identifies the run (--resume). */
static char *run_config(setup *s, const biqa_split *sp, biqa_error *err)
{
    char *canon = biqa_config_canonical(&s->cfg, err);
    if (!canon)
        return NULL;
    cJSON *root = cJSON_Parse(canon);
    free(canon);
    if (!root) {
        biqa_fail(err, "config: out of memory");
        return NULL;
    }
    cJSON *ds = cJSON_AddObjectToObject(root, "downstream");
    cJSON_AddStringToObject(ds, "kind", s->kind);
    cJSON_AddStringToObject(ds, "data", s->data);
    cJSON_AddStringToObject(ds, "method", s->method);
    cJSON_AddStringToObject(ds, "split", sp->id);
    cJSON_AddStringToObject(ds, "split_hash", sp->hash);
    if (!strcmp(s->kind, "finetune") && biqa_dist_size(s->dist) > 1)
        cJSON_AddNumberToObject(ds, "world_size", biqa_dist_size(s->dist));
    int rc = 0;
    if (s->checkpoint) {
        char sha[BIQA_SHA256_HEX_LEN];
        rc = biqa_sha256_file(s->checkpoint, sha, NULL, err);
        cJSON_AddStringToObject(ds, "checkpoint", s->checkpoint);
        cJSON_AddStringToObject(ds, "checkpoint_sha256", rc == 0 ? sha : "");
    }
    char *json = rc == 0 ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (rc == 0 && !json)
        biqa_fail(err, "config: out of memory");
    return json;
}

/* The run of one split: new, or (--resume) the earlier one of the same
 * config, finished (reused) or interrupted (reopened). */
static int begin_run(setup *s, const biqa_split *sp, const char *snapshot_file, int64_t *id,
                     biqa_reuse *r, biqa_error *err)
{
    char *json = run_config(s, sp, err);
    if (!json)
        return -1;
    int rc = biqa_reuse_decide(&s->store, s->cli, s->kind, json, snapshot_file, r, err);
    if (rc == 0 && r->kind != BIQA_REUSE_NEW) {
        *id = r->run;
    } else if (rc == 0) {
        biqa_run_spec spec = {.kind = s->kind, .method = s->method,
                              .backbone = knob_str(s, "model.backbone"),
                              .dataset = s->idx.dataset, .split_id = sp->id,
                              .split_hash = sp->hash, .seed = (int64_t)s->seed,
                              .config_json = json, .parent_run = s->parent};
        rc = biqa_run_begin(&s->store, &spec, id, err);
    }
    cJSON_free(json);
    if (rc == 0)
        rc = biqa_reuse_member(&s->store, s->cli, *id, r->kind == BIQA_REUSE_FINISHED, err);
    return rc;
}

/* A reused split's test SRCC and PLCC, for the summary. */
static int reused_scores(setup *s, int k, int64_t id, biqa_error *err)
{
    static const char *const names[2] = {"srcc", "plcc"};
    double *dst[2] = {&s->srcc[k], &s->plcc[k]};
    for (int i = 0; i < 2; i++) {
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(s->store.db,
                               "SELECT value FROM metrics WHERE run_id = ?1 AND metric = ?2 AND "
                               "step IS NULL",
                               -1, &st, NULL) != SQLITE_OK)
            return biqa_store_fail(&s->store, err, "reading a reused run's metrics");
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_text(st, 2, names[i], -1, SQLITE_STATIC);
        *dst[i] = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL
                      ? sqlite3_column_double(st, 0)
                      : NAN;
        sqlite3_finalize(st);
    }
    if (!s->cli->json)
        printf("split%d: run %lld finished earlier with the same config: reused (test SRCC "
               "%.4f PLCC %.4f)\n", k, (long long)id, s->srcc[k], s->plcc[k]);
    return 0;
}

static void artifact_path(const setup *s, int64_t id, const char *file, char *out, size_t len)
{
    biqa_artifact_path(s->cli->db, id, file, out, len);
}

static int write_predictions(const setup *s, const char *path, const unsigned char *part,
                             const double *pred, biqa_error *err)
{
    biqa_atomic_file f;
    if (biqa_atomic_open(&f, path, err) < 0)
        return -1;
    int rc = biqa_atomic_write(&f, "image,mos,pred,part\n", 20, err);
    for (size_t i = 0; rc == 0 && i < s->idx.n; i++) {
        char line[4400];
        int n = snprintf(line, sizeof line, "\"%s\",%.9g,%.9g,%s\n", s->idx.items[i].name,
                         s->mos[i], pred[i], part ? biqa_part_name((enum biqa_part)part[i]) : "test");
        rc = biqa_atomic_write(&f, line, (size_t)n, err);
    }
    return rc == 0 ? biqa_atomic_commit(&f, err) : -1;
}

/* Test metrics of pred over the test part, as rows. */
static int test_scores(setup *s, const biqa_split *sp, const double *pred, int64_t id,
                       biqa_scores *sc, biqa_error *err)
{
    size_t n;
    size_t *rows = biqa_split_rows(sp, s->idx.n, BIQA_PART_TEST, &n);
    double *m = malloc((n ? n : 1) * sizeof *m), *p = malloc((n ? n : 1) * sizeof *p);
    int rc = rows && m && p ? 0 : biqa_fail(err, "out of memory");
    for (size_t i = 0; rc == 0 && i < n; i++)
        m[i] = s->mos[rows[i]], p[i] = pred[rows[i]];
    if (rc == 0) {
        biqa_score(m, p, n, sc);
        char flags[128] = "";
        for (unsigned bit = 1; bit; bit <<= 1)
            if (sc->flags & bit)
                snprintf(flags + strlen(flags), sizeof flags - strlen(flags), "%s%s",
                         flags[0] ? "," : "", biqa_metric_flag_name(bit));
        const char *ds = s->idx.dataset, *f = flags[0] ? flags : NULL;
        biqa_metric_row r[6] = {{ds, sp->id, "srcc", -1, sc->srcc, f},
                                {ds, sp->id, "plcc", -1, sc->plcc, f},
                                {ds, sp->id, "plcc_logistic", -1, sc->plcc_logistic, f},
                                {ds, sp->id, "krcc", -1, sc->krcc, f},
                                {ds, sp->id, "rmse", -1, sc->rmse, f},
                                {ds, sp->id, "n_test", -1, (double)n, NULL}};
        rc = biqa_run_add_metrics(&s->store, id, r, 6, err);
    }
    free(rows), free(m), free(p);
    return rc;
}

static void summary(const setup *s, int done)
{
    if (done < 1)
        return;
    biqa_aggregate as, ap;
    biqa_aggregate_compute(s->srcc, (size_t)done, s->seed, 0, 0.95, &as);
    biqa_aggregate_compute(s->plcc, (size_t)done, s->seed, 0, 0.95, &ap);
    if (s->cli->json) {
        printf("{\"kind\": \"%s\", \"method\": \"%s\", \"dataset\": \"%s\", \"splits\": %d, "
               "\"median_srcc\": %.6f, \"median_plcc\": %.6f}\n",
               s->kind, s->method, s->idx.dataset, done, as.median, ap.median);
        return;
    }
    printf("%s %s on %s: median over %d splits: SRCC %.4f, PLCC %.4f\n", s->kind, s->method,
           s->idx.dataset, done, as.median, ap.median);
}

/* A split that came with the dataset (splits.source pyiqa or official),
 * from the file its dataset.json names (biqa datasets fetch/import). */
static int imported_split(setup *s, const char *source, int k, biqa_split *sp, biqa_error *err)
{
    char path[4200], *text;
    size_t n;
    snprintf(path, sizeof path, "%s/dataset.json", s->data);
    if (biqa_read_file(path, &text, &n, err) < 0)
        return biqa_fail(err, "splits.source %s: %s has no dataset.json (a dataset from 'biqa "
                              "datasets fetch' or 'import')", source, s->data);
    cJSON *root = cJSON_ParseWithLength(text, n);
    free(text);
    const cJSON *splits = cJSON_GetObjectItemCaseSensitive(root, "splits");
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(splits, source);
    const cJSON *file = cJSON_IsString(it) ? it : cJSON_GetObjectItemCaseSensitive(it, "file");
    const double val = knob_num(s, "splits.val_fraction");
    int rc;
    if (!cJSON_IsString(file)) {
        rc = biqa_fail(err, "splits.source %s: %s has no %s split (dataset.json: splits.%s)",
                       source, s->data, source, source);
    } else {
        char csv[4200];
        snprintf(csv, sizeof csv, "%s/%s", s->data, file->valuestring);
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(it, "name_column");
        const cJSON *set = cJSON_GetObjectItemCaseSensitive(it, "set_column");
        if (!strcmp(source, "pyiqa"))
            rc = biqa_split_import_pyiqa(&s->idx, csv, k + 1, val, s->seed, sp, err);
        else if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(it, "test_list")))
            rc = biqa_split_import_test_list(&s->idx, csv, val, s->seed, sp, err);
        else if (cJSON_IsString(name) && cJSON_IsString(set))
            rc = biqa_split_import_official(&s->idx, csv, name->valuestring, set->valuestring,
                                            val, s->seed, sp, err);
        else
            rc = biqa_fail(err, "%s: splits.official needs name_column and set_column", path);
    }
    cJSON_Delete(root);
    return rc;
}

/* Split k of the protocol and the run that uses it (r says whether it was
 * reused or resumed). */
static int open_split(setup *s, int k, const char *snapshot_file, biqa_split *sp, int64_t *id,
                      biqa_reuse *r, biqa_error *err)
{
    const char *source = knob_str(s, "splits.source");
    int made = strcmp(source, "random") != 0
                   ? imported_split(s, source, k, sp, err)
                   : biqa_split_make(&s->idx, s->seed, k, knob_num(s, "splits.train_fraction"),
                                     knob_num(s, "splits.val_fraction"), sp, err);
    if (made < 0)
        return -1;
    if (begin_run(s, sp, snapshot_file, id, r, err) < 0) {
        biqa_split_free(sp);
        return -1;
    }
    return 0;
}

/* ---- finetune ----------------------------------------------------------- */

/* Each epoch's curve rows, written as the epoch ends. */
struct epoch_sink {
    setup *s;
    const biqa_split *sp;
    int64_t id;
};

static int record_epoch(void *ctx, int epoch, double train_loss, double val_srcc,
                        biqa_error *err)
{
    const struct epoch_sink *k = ctx;
    const char *ds = k->s->idx.dataset, *split = k->sp->id;
    biqa_metric_row r[2] = {{ds, split, "train_loss", epoch, train_loss, NULL},
                            {ds, split, "val_srcc", epoch, val_srcc, NULL}};
    return biqa_run_add_metrics(&k->s->store, k->id, r, 2, err);
}

/* Split k on every rank; rank 0 also opens its run and tells the others
 * its id and whether it was reused or is resumed. */
static int share_split(setup *s, int k, biqa_split *sp, int64_t *id, biqa_reuse *reuse,
                       biqa_error *err)
{
    const int lead = biqa_dist_rank(s->dist) == 0;
    memset(reuse, 0, sizeof *reuse);
    int rc = lead ? open_split(s, k, "snapshot.safetensors", sp, id, reuse, err)
                  : biqa_split_make(&s->idx, s->seed, k, knob_num(s, "splits.train_fraction"),
                                    knob_num(s, "splits.val_fraction"), sp, err);
    const int have = rc == 0;
    if (biqa_dist_agree(s->dist, rc, err) < 0) {
        if (have && lead && *id > 0 && reuse->kind != BIQA_REUSE_FINISHED)
            biqa_run_fail(&s->store, *id, err->msg, NULL);
        if (have)
            biqa_split_free(sp);
        return -1;
    }
    int64_t decision[3] = {*id, reuse->kind, reuse->from_snapshot};
    if (biqa_dist_share(s->dist, decision, sizeof decision, err) < 0) {
        biqa_split_free(sp);
        return -1;
    }
    *id = decision[0], reuse->kind = (biqa_reuse_kind)decision[1];
    reuse->from_snapshot = (int)decision[2];
    return 0;
}

static int finetune_split(setup *s, int k, biqa_error *err)
{
    const int lead = biqa_dist_rank(s->dist) == 0;
    biqa_split sp;
    int64_t id = 0;
    biqa_reuse reuse;
    if (share_split(s, k, &sp, &id, &reuse, err) < 0)
        return -1;
    if (reuse.kind == BIQA_REUSE_FINISHED) {
        biqa_split_free(&sp);
        return biqa_dist_agree(s->dist, lead ? reused_scores(s, k, id, err) : 0, err);
    }
    const char *loss = knob_str(s, "finetune.loss");
    biqa_finetune_config fc = {
        .backbone = knob_str(s, "model.backbone"), .init_weights = s->checkpoint,
        .loss = !strcmp(loss, "l1") ? BIQA_LOSS_L1 : !strcmp(loss, "mse") ? BIQA_LOSS_MSE
                                                                         : BIQA_LOSS_SMOOTH_L1,
        .epochs = (int)knob_num(s, "finetune.epochs"),
        .batch_size = (int)knob_num(s, "finetune.batch_size"),
        .patch = (int)knob_num(s, "finetune.patch_size"),
        .crops = (int)knob_num(s, "finetune.test_crops"), .lr = knob_num(s, "finetune.lr"),
        .weight_decay = knob_num(s, "finetune.weight_decay"),
        /* one seed per split, from run.seed */
        .seed = biqa_rng_u64(s->seed, biqa_rng_stream("finetune"), (uint64_t)k), .run_id = id,
        .resume = reuse.kind == BIQA_REUSE_RESUME && reuse.from_snapshot,
        .epoch_done = lead ? record_epoch : NULL, .dist = s->dist};
    char dir[4096], ckpt[4200], preds[4200], snapshot[4200];
    struct epoch_sink sink = {s, &sp, id};
    fc.epoch_ctx = &sink;
    artifact_path(s, id, "snapshot.safetensors", snapshot, sizeof snapshot);
    fc.snapshot_path = snapshot;
    artifact_path(s, id, NULL, dir, sizeof dir);
    artifact_path(s, id, "model.safetensors", ckpt, sizeof ckpt);
    artifact_path(s, id, "predictions.csv", preds, sizeof preds);
    biqa_ds_data d = {s->images, s->mos, sp.part, s->idx.n};
    biqa_finetune_result res = {0};
    biqa_scores sc;
    char sha[BIQA_SHA256_HEX_LEN];
    int rc = biqa_dist_agree(s->dist, lead ? biqa_mkdir_p(dir, err) : 0, err);
    if (rc == 0)
        rc = biqa_finetune(s->be, &fc, &d, ckpt, &res, err);
    const int trained = rc == 0; /* agreed by every rank, unless one broke */
    if (!lead) {
        biqa_finetune_result_free(&res);
        biqa_split_free(&sp);
        return trained ? biqa_dist_agree(s->dist, 0, err) : rc;
    }
    if (rc == 0)
        rc = test_scores(s, &sp, res.pred, id, &sc, err);
    if (rc == 0) {
        biqa_metric_row r = {s->idx.dataset, sp.id, "best_epoch", -1, res.best_epoch, NULL};
        rc = biqa_run_add_metrics(&s->store, id, &r, 1, err);
    }
    if (rc == 0)
        rc = write_predictions(s, preds, sp.part, res.pred, err);
    if (rc == 0)
        rc = biqa_sha256_file(ckpt, sha, NULL, err);
    if (rc == 0)
        rc = biqa_run_set_checkpoint(&s->store, id, ckpt, sha, err);
    if (rc == 0)
        rc = biqa_run_finish(&s->store, id, err);
    else
        biqa_run_fail(&s->store, id, err->msg, NULL);
    if (trained)
        rc = biqa_dist_agree(s->dist, rc, err);
    if (rc == 0)
        unlink(snapshot); /* only for resuming; the selected checkpoint stays */
    if (rc == 0) {
        s->srcc[k] = sc.srcc, s->plcc[k] = sc.plcc;
        if (!s->cli->json)
            printf("%s: run %lld, best epoch %d, test SRCC %.4f PLCC %.4f (%zu test images, "
                   "split %.12s)\n", sp.id, (long long)id, res.best_epoch + 1, sc.srcc, sc.plcc,
                   sp.count[BIQA_PART_TEST], sp.hash);
    }
    biqa_finetune_result_free(&res);
    biqa_split_free(&sp);
    return rc;
}

/* ---- probe ------------------------------------------------------------- */

/* Frozen features of every image (methods/probe.h): the checkpoint's
 * backbone, or a random init of run.seed without one, in eval mode. */
static int extract_features(setup *s, biqa_error *err)
{
    biqa_model_options opt = {.seed = s->seed};
    if (s->checkpoint && biqa_weights_classes(s->checkpoint, &opt.num_classes, err) < 0)
        return -1;
    biqa_model *m = biqa_model_create(knob_str(s, "model.backbone"), &opt, s->be, err);
    if (!m || (s->checkpoint && biqa_model_load(m, s->checkpoint, 1, err) < 0)) {
        biqa_model_destroy(m);
        return -1;
    }
    const int patch = (int)knob_num(s, "finetune.patch_size");
    s->dim = (size_t)biqa_model_feature_dim(m);
    size_t *all = malloc(s->idx.n * sizeof *all);
    s->features = malloc(s->idx.n * s->dim * sizeof *s->features);
    int rc = all && s->features ? 0 : biqa_fail(err, "probe: out of memory");
    for (size_t i = 0; rc == 0 && i < s->idx.n; i++) {
        all[i] = i;
        if (s->images[i].w < patch || s->images[i].h < patch)
            rc = biqa_fail(err, "finetune.patch_size %d: %s is only %d x %d", patch,
                           s->idx.items[i].path, s->images[i].w, s->images[i].h);
    }
    if (rc == 0)
        rc = biqa_predict_crops(s->be, m, NULL, s->images, all, s->idx.n, patch,
                                (int)knob_num(s, "finetune.test_crops"),
                                (int)knob_num(s, "finetune.batch_size"), s->features, err);
    if (rc == 0)
        biqa_info("probe: %zu images, %zu features each", s->idx.n, s->dim);
    free(all);
    biqa_model_destroy(m);
    return rc;
}

static int probe_split(setup *s, int k, biqa_error *err)
{
    biqa_split sp;
    int64_t id = 0;
    biqa_reuse reuse;
    if (open_split(s, k, NULL, &sp, &id, &reuse, err) < 0)
        return -1;
    if (reuse.kind == BIQA_REUSE_FINISHED) {
        biqa_split_free(&sp);
        return reused_scores(s, k, id, err);
    }
    size_t ntrain, nval;
    size_t *train = biqa_split_rows(&sp, s->idx.n, BIQA_PART_TRAIN, &ntrain);
    size_t *val = biqa_split_rows(&sp, s->idx.n, BIQA_PART_VAL, &nval);
    double *pred = malloc(s->idx.n * sizeof *pred), val_srcc[BIQA_PROBE_GRID];
    char dir[4096], preds[4200];
    artifact_path(s, id, NULL, dir, sizeof dir);
    artifact_path(s, id, "predictions.csv", preds, sizeof preds);
    biqa_ridge ridge = {0};
    biqa_scores sc;
    int rc = train && val && pred ? 0 : biqa_fail(err, "probe: out of memory");
    if (rc == 0)
        rc = biqa_ridge_select(s->features, s->mos, s->dim, train, ntrain, val, nval, &ridge,
                               val_srcc, err);
    for (size_t i = 0; rc == 0 && i < s->idx.n; i++)
        pred[i] = biqa_ridge_predict(&ridge, s->features + i * s->dim);
    if (rc == 0)
        rc = test_scores(s, &sp, pred, id, &sc, err);
    for (int g = 0; rc == 0 && g < BIQA_PROBE_GRID; g++) {
        biqa_metric_row r[2] = {{s->idx.dataset, sp.id, "val_srcc", g, val_srcc[g], NULL},
                                {s->idx.dataset, sp.id, "ridge_lambda_grid", g,
                                 biqa_probe_grid(g), NULL}};
        rc = biqa_run_add_metrics(&s->store, id, r, 2, err);
    }
    if (rc == 0) {
        biqa_metric_row r = {s->idx.dataset, sp.id, "ridge_lambda", -1, ridge.lambda, NULL};
        rc = biqa_run_add_metrics(&s->store, id, &r, 1, err);
    }
    if (rc == 0)
        rc = biqa_mkdir_p(dir, err);
    if (rc == 0)
        rc = write_predictions(s, preds, sp.part, pred, err);
    if (rc == 0)
        rc = biqa_run_finish(&s->store, id, err);
    else
        biqa_run_fail(&s->store, id, err->msg, NULL);
    if (rc == 0) {
        s->srcc[k] = sc.srcc, s->plcc[k] = sc.plcc;
        if (!s->cli->json)
            printf("%s: run %lld, lambda %g, test SRCC %.4f PLCC %.4f (%zu test images, "
                   "split %.12s)\n", sp.id, (long long)id, ridge.lambda, sc.srcc, sc.plcc,
                   sp.count[BIQA_PART_TEST], sp.hash);
    }
    biqa_ridge_free(&ridge);
    free(train), free(val), free(pred);
    biqa_split_free(&sp);
    return rc;
}

static int downstream_main(biqa_cli *cli, const char *kind,
                           int (*per_split)(setup *, int, biqa_error *))
{
    const biqa_args *a = cli->args;
    if (biqa_expect_args(cli, 0, 0, "") != 0)
        return BIQA_EXIT_USAGE;
    if (!biqa_arg(a, "data"))
        return biqa_usage_error(a, "missing --data DIR (a dataset directory with index.csv or meta.csv)");
    setup s = {0};
    biqa_error err = {{0}};
    int rc = setup_open(&s, cli, kind, &err);
    if (rc == 0 && !s.idle && per_split == probe_split)
        rc = extract_features(&s, &err);
    int done = 0;
    for (int k = 0; rc == 0 && !s.idle && k < s.nsplits; k++, done++)
        rc = per_split(&s, k, &err);
    if (rc == 0 && !s.idle && biqa_dist_rank(s.dist) == 0)
        summary(&s, done);
    else if (rc < 0)
        biqa_dist_report(s.dist, &err);
    setup_close(&s, rc < 0);
    return rc == 0 ? BIQA_EXIT_OK : BIQA_EXIT_FAIL;
}

int biqa_cmd_finetune(biqa_cli *cli) { return downstream_main(cli, "finetune", finetune_split); }
int biqa_cmd_probe(biqa_cli *cli) { return downstream_main(cli, "probe", probe_split); }

/* ---- eval --------------------------------------------------------------- */

/* A fine-tuned backbone + head on every image of another dataset: one run
 * of kind eval, split "all" (every image a test image), parent = the
 * fine-tuning run named in the checkpoint. */
int biqa_cmd_eval(biqa_cli *cli)
{
    const biqa_args *a = cli->args;
    if (biqa_expect_args(cli, 0, 0, "") != 0)
        return BIQA_EXIT_USAGE;
    if (!biqa_arg(a, "data") || !biqa_arg(a, "checkpoint"))
        return biqa_usage_error(a, "needs --checkpoint FT.safetensors and --data DIR");
    setup s = {0};
    biqa_error err = {{0}};
    biqa_model *bb = NULL, *head = NULL;
    unsigned char *parts = NULL;
    size_t *all = NULL;
    double *pred = NULL;
    biqa_split sp = {0};
    int64_t id = 0;
    int rc = setup_open(&s, cli, "eval", &err);
    if (rc == 0 && s.idle) {
        setup_close(&s, 0);
        return BIQA_EXIT_OK;
    }
    if (rc == 0)
        rc = biqa_finetune_load(s.be, s.checkpoint, &bb, &head, &err);
    if (rc == 0) {
        parts = malloc(s.idx.n), all = malloc(s.idx.n * sizeof *all);
        pred = malloc(s.idx.n * sizeof *pred);
        if (!parts || !all || !pred)
            rc = biqa_fail(&err, "eval: out of memory");
    }
    for (size_t i = 0; rc == 0 && i < s.idx.n; i++)
        parts[i] = BIQA_PART_TEST, all[i] = i;
    if (rc == 0 && (rc = biqa_split_from_parts(&s.idx, 0, parts, &sp, &err)) == 0) {
        snprintf(sp.id, sizeof sp.id, "all");
        biqa_reuse new_run; /* eval takes no --resume: always a new run */
        rc = begin_run(&s, &sp, NULL, &id, &new_run, &err);
    }
    const int patch = (int)knob_num(&s, "finetune.patch_size");
    for (size_t i = 0; rc == 0 && i < s.idx.n; i++)
        if (s.images[i].w < patch || s.images[i].h < patch)
            rc = biqa_fail(&err, "finetune.patch_size %d: %s is only %d x %d", patch,
                           s.idx.items[i].path, s.images[i].w, s.images[i].h);
    biqa_scores sc;
    char dir[4096], preds[4200];
    if (id > 0) {
        artifact_path(&s, id, NULL, dir, sizeof dir);
        artifact_path(&s, id, "predictions.csv", preds, sizeof preds);
    }
    if (rc == 0)
        rc = biqa_predict_crops(s.be, bb, head, s.images, all, s.idx.n, patch,
                                (int)knob_num(&s, "finetune.test_crops"),
                                (int)knob_num(&s, "finetune.batch_size"), pred, &err);
    if (rc == 0)
        rc = test_scores(&s, &sp, pred, id, &sc, &err);
    if (rc == 0 && (rc = biqa_mkdir_p(dir, &err)) == 0)
        rc = write_predictions(&s, preds, NULL, pred, &err);
    if (rc == 0)
        rc = biqa_run_finish(&s.store, id, &err);
    else if (id > 0)
        biqa_run_fail(&s.store, id, err.msg, NULL);
    if (rc == 0 && !cli->json)
        printf("eval %s on %s: run %lld, SRCC %.4f PLCC %.4f (%zu images)\n", s.checkpoint,
               s.idx.dataset, (long long)id, sc.srcc, sc.plcc, s.idx.n);
    else if (rc == 0)
        printf("{\"run_id\": %lld, \"srcc\": %.6f, \"plcc\": %.6f, \"n\": %zu}\n",
               (long long)id, sc.srcc, sc.plcc, s.idx.n);
    if (rc < 0)
        biqa_dist_report(s.dist, &err);
    biqa_split_free(&sp);
    biqa_model_destroy(bb);
    biqa_model_destroy(head);
    free(parts), free(all), free(pred);
    setup_close(&s, rc < 0);
    return rc == 0 ? BIQA_EXIT_OK : BIQA_EXIT_FAIL;
}
