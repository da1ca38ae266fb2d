#include "methods/snapshot.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

void biqa_snapshot_init(biqa_snapshot *s) { memset(s, 0, sizeof *s); }

void biqa_snapshot_free(biqa_snapshot *s)
{
    biqa_state_free(&s->sd);
    memset(s, 0, sizeof *s);
}

static int add(biqa_snapshot *s, const char *prefix, const char *name, int ndim,
               const int64_t *shape, biqa_tensor *t, int64_t *counter, biqa_error *err)
{
    char full[512];
    if (snprintf(full, sizeof full, "%s%s", prefix, name) >= (int)sizeof full)
        return biqa_fail(err, "snapshot: tensor name %s%s is too long", prefix, name);
    for (size_t i = 0; i < s->sd.count; i++)
        if (!strcmp(s->sd.entries[i].name, full))
            return biqa_fail(err, "snapshot: two tensors named %s", full);
    if (biqa_state_add(&s->sd, full, ndim, shape, t, counter) < 0)
        return biqa_fail(err, "snapshot: out of memory");
    return 0;
}

int biqa_snapshot_model(biqa_snapshot *s, const char *prefix, biqa_model *m, biqa_error *err)
{
    for (size_t i = 0; i < m->sd->count; i++) {
        const biqa_state_entry *e = &m->sd->entries[i];
        if (add(s, prefix, e->name, e->ndim, e->shape, e->tensor, e->counter, err) < 0)
            return -1;
    }
    return 0;
}

int biqa_snapshot_optim(biqa_snapshot *s, const char *prefix, biqa_optim *o, biqa_error *err)
{
    const biqa_param *params;
    biqa_tensor *state;
    int k, *step;
    size_t n = biqa_optim_state(o, &params, &state, &k, &step);
    static const char *const sgd[] = {"momentum_buffer"}, *const adamw[] = {"exp_avg", "exp_avg_sq"};
    for (size_t i = 0; i < n; i++)
        for (int j = 0; j < k; j++) {
            char name[400];
            snprintf(name, sizeof name, "%s.%s", params[i].name, k == 1 ? sgd[0] : adamw[j]);
            int64_t shape[1] = {(int64_t)biqa_numel(&state[i * (size_t)k + (size_t)j])};
            if (add(s, prefix, name, 1, shape, &state[i * (size_t)k + (size_t)j], NULL, err) < 0)
                return -1;
        }
    char name[400];
    snprintf(name, sizeof name, "%sstep", prefix);
    return biqa_snapshot_int(s, name, step, err);
}

int biqa_snapshot_tensor(biqa_snapshot *s, const char *name, biqa_tensor *t, biqa_error *err)
{
    if (s->nowned == BIQA_SNAPSHOT_MAX_INTS)
        return biqa_fail(err, "snapshot: more than %d extra tensors", BIQA_SNAPSHOT_MAX_INTS);
    biqa_tensor *own = &s->owned[s->nowned++];
    *own = *t;
    int64_t shape[1] = {(int64_t)biqa_numel(t)};
    return add(s, "", name, 1, shape, own, NULL, err);
}

int biqa_snapshot_int(biqa_snapshot *s, const char *name, int *v, biqa_error *err)
{
    if (s->nints == BIQA_SNAPSHOT_MAX_INTS)
        return biqa_fail(err, "snapshot: more than %d integers", BIQA_SNAPSHOT_MAX_INTS);
    if (snprintf(s->int_names[s->nints], sizeof s->int_names[0], "%s", name) >=
        (int)sizeof s->int_names[0])
        return biqa_fail(err, "snapshot: integer name %s is too long", name);
    s->ints[s->nints++] = v;
    return 0;
}

/* The test hook of the header: counts snapshots written by this process. */
static void fault_after_save(void)
{
    static int saved;
    const char *n = getenv("BIQA_FAULT_KILL_AFTER_SNAPSHOT");
    if (n && ++saved == atoi(n)) {
        biqa_warn("BIQA_FAULT_KILL_AFTER_SNAPSHOT=%s: killing this process", n);
        raise(SIGKILL);
    }
}

int biqa_snapshot_save(const biqa_snapshot *s, biqa_backend *be, const char *path,
                       const biqa_snapshot_pos *pos, biqa_error *err)
{
    /* Integers and the loss sum as decimal strings (safetensors metadata is
     * string to string); %.17g round-trips a double exactly. */
    char meta[2048];
    int n = snprintf(meta, sizeof meta,
                     "{\"format\": \"biqa-snapshot\", \"epoch\": \"%lld\", \"batch\": \"%lld\", "
                     "\"step\": \"%lld\", \"loss_n\": \"%lld\", \"failures\": \"%lld\", "
                     "\"best_epoch\": \"%lld\", \"loss_sum\": \"%.17g\", \"best_score\": \"%.17g\"",
                     (long long)pos->epoch, (long long)pos->batch, (long long)pos->step,
                     (long long)pos->loss_n, (long long)pos->failures,
                     (long long)pos->best_epoch, pos->loss_sum, pos->best_score);
    for (int i = 0; i < s->nints && n < (int)sizeof meta; i++)
        n += snprintf(meta + n, sizeof meta - (size_t)n, ", \"int.%s\": \"%d\"", s->int_names[i],
                      *s->ints[i]);
    if (n + 2 >= (int)sizeof meta)
        return biqa_fail(err, "%s: snapshot metadata too long", path);
    strcat(meta, "}");
    if (biqa_state_save(&s->sd, be, path, meta, err) < 0)
        return -1;
    fault_after_save();
    return 0;
}

static int meta_num(const biqa_safetensors *st, const char *path, const char *key, double *out,
                    biqa_error *err)
{
    const char *v = biqa_st_meta(st, key);
    char *end;
    if (!v || (*out = strtod(v, &end), end == v || *end))
        return biqa_fail(err, "%s: snapshot metadata \"%s\" is missing or not a number", path,
                         key);
    return 0;
}

/* The position and integers of a snapshot's metadata (ints: nints values). */
static int read_meta(const char *path, const char (*int_names)[64], int nints,
                     biqa_snapshot_pos *pos, int *ints, biqa_error *err)
{
    biqa_safetensors st;
    if (biqa_st_open(path, &st, err) < 0)
        return -1;
    static const char *const keys[8] = {"epoch", "batch", "step", "loss_n", "failures",
                                        "best_epoch", "loss_sum", "best_score"};
    double v[8];
    const char *format = biqa_st_meta(&st, "format");
    int rc = format && !strcmp(format, "biqa-snapshot")
                 ? 0
                 : biqa_fail(err, "%s: not a biqa training snapshot", path);
    for (int i = 0; rc == 0 && i < 8; i++)
        rc = meta_num(&st, path, keys[i], &v[i], err);
    for (int i = 0; rc == 0 && i < nints; i++) {
        char key[160];
        double x;
        snprintf(key, sizeof key, "int.%s", int_names[i]);
        if ((rc = meta_num(&st, path, key, &x, err)) == 0)
            ints[i] = (int)x;
    }
    biqa_st_close(&st);
    if (rc == 0)
        *pos = (biqa_snapshot_pos){.epoch = (int64_t)v[0], .batch = (int64_t)v[1],
                                   .step = (int64_t)v[2], .loss_n = (int64_t)v[3],
                                   .failures = (int64_t)v[4], .best_epoch = (int64_t)v[5],
                                   .loss_sum = v[6], .best_score = v[7]};
    return rc;
}

int biqa_snapshot_position(const char *path, biqa_snapshot_pos *pos, biqa_error *err)
{
    return read_meta(path, NULL, 0, pos, NULL, err);
}

int biqa_snapshot_load(const biqa_snapshot *s, biqa_backend *be, const char *path,
                       biqa_snapshot_pos *pos, biqa_error *err)
{
    int ints[BIQA_SNAPSHOT_MAX_INTS];
    biqa_snapshot_pos at;
    /* Tensors after the metadata checks: a strict load that fails changes
     * nothing, and then neither do the integers or the position. */
    if (read_meta(path, s->int_names, s->nints, &at, ints, err) < 0 ||
        biqa_state_load(&s->sd, be, path, 1, err) < 0)
        return -1;
    *pos = at;
    for (int i = 0; i < s->nints; i++)
        *s->ints[i] = ints[i];
    return 0;
}
