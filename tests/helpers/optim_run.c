/* optim_run BACKEND CASE.safetensors OUT.safetensors: runs methods/optim.h
 * on one backend (2 threads where it has them) over a case written by
 * tests/ref/optim_vs_torch.py and writes the trajectory for it to compare
 * with torch.optim.
 *
 * CASE holds, for every parameter NAME listed in the metadata "params"
 * (comma-separated), "init.NAME" (its initial value, at most 4 dimensions)
 * and "grads.NAME" (steps x its shape: the gradient of each step); the
 * metadata also holds the optimiser ("optim": sgd|adamw, momentum, nesterov,
 * weight_decay, beta1, beta2, eps), "no_decay" (comma-separated names), the
 * schedule ("schedule": constant|cosine|step, base_lr, total_steps,
 * warmup_steps, min_lr, step_size, gamma) and "steps".
 *
 * Every step zeroes the gradients with biqa_optim_zero_grad and accumulates
 * the step's gradient into them (axpy), so a zero_grad that did nothing
 * would show in the trajectory. OUT holds "traj.NAME" ((steps + 1) x its
 * shape: the initial value, then the value after each update) and the
 * metadata "lr": the learning rate of each step, %.17g, comma-separated. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/safetensors.h"
#include "kernels/backend.h"
#include "methods/optim.h"

typedef struct run_param {
    char name[128];
    int ndim;
    int64_t shape[BIQA_ST_MAX_DIMS];
    size_t numel;
    float *grads, *traj; /* host: steps x numel, (steps + 1) x numel */
    biqa_tensor scratch;   /* backend: the step's gradient before accumulation */
} run_param;

typedef struct run {
    biqa_backend *be;
    biqa_safetensors st;
    long steps;
    run_param *rp;
    biqa_param *params;
    size_t count;
    biqa_optim *opt;
} run;

static const char *meta_str(const run *r, const char *key, biqa_error *err)
{
    const char *v = biqa_st_meta(&r->st, key);
    if (!v)
        biqa_fail(err, "%s: metadata '%s' missing", r->st.path, key);
    return v;
}

static int meta_num(const run *r, const char *key, double *out, biqa_error *err)
{
    const char *s = meta_str(r, key, err);
    char *end;
    if (!s)
        return -1;
    *out = strtod(s, &end);
    if (end == s || *end)
        return biqa_fail(err, "%s: metadata '%s' = '%s' is not a number", r->st.path, key, s);
    return 0;
}

static int in_list(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == n && strncmp(p, name, n) == 0)
            return 1;
        p += len + (comma != NULL);
    }
    return 0;
}

static int read_config(run *r, biqa_optim_config *oc, biqa_schedule *sc, biqa_error *err)
{
    const char *kind = meta_str(r, "optim", err), *sched = meta_str(r, "schedule", err);
    double v[13];
    static const char *keys[13] = {"momentum", "nesterov", "weight_decay", "beta1", "beta2",
                                   "eps", "base_lr", "total_steps", "warmup_steps", "min_lr",
                                   "step_size", "gamma", "steps"};
    if (!kind || !sched)
        return -1;
    for (int i = 0; i < 13; i++)
        if (meta_num(r, keys[i], &v[i], err) < 0)
            return -1;
    memset(oc, 0, sizeof *oc);
    memset(sc, 0, sizeof *sc);
    if (strcmp(kind, "sgd") == 0)
        oc->kind = BIQA_OPTIM_SGD;
    else if (strcmp(kind, "adamw") == 0)
        oc->kind = BIQA_OPTIM_ADAMW;
    else
        return biqa_fail(err, "%s: unknown optim '%s'", r->st.path, kind);
    oc->momentum = (float)v[0];
    oc->nesterov = v[1] != 0;
    oc->weight_decay = (float)v[2];
    oc->beta1 = (float)v[3];
    oc->beta2 = (float)v[4];
    oc->eps = (float)v[5];
    if (strcmp(sched, "constant") == 0)
        sc->kind = BIQA_SCHED_CONSTANT;
    else if (strcmp(sched, "cosine") == 0)
        sc->kind = BIQA_SCHED_COSINE;
    else if (strcmp(sched, "step") == 0)
        sc->kind = BIQA_SCHED_STEP;
    else
        return biqa_fail(err, "%s: unknown schedule '%s'", r->st.path, sched);
    sc->base_lr = v[6];
    sc->total_steps = (long)v[7];
    sc->warmup_steps = (long)v[8];
    sc->min_lr = v[9];
    sc->step_size = (long)v[10];
    sc->gamma = v[11];
    r->steps = (long)v[12];
    if (r->steps < 1)
        return biqa_fail(err, "%s: steps must be >= 1", r->st.path);
    return biqa_schedule_check(sc, err);
}

static biqa_tensor alloc_like(biqa_backend *be, const run_param *p)
{
    int d[4] = {1, 1, 1, 1};
    for (int i = 0; i < p->ndim; i++)
        d[i] = (int)p->shape[i];
    return biqa_view(be->alloc(be, p->numel * sizeof(float)), d[0], d[1], d[2], d[3]);
}

/* Reads "init.NAME" and "grads.NAME" and makes the backend tensors. */
static int load_param(run *r, size_t i, const char *name, const char *no_decay,
                      biqa_error *err)
{
    run_param *p = &r->rp[i];
    biqa_param *bp = &r->params[i];
    char key[160];
    snprintf(p->name, sizeof p->name, "%s", name);
    snprintf(key, sizeof key, "init.%s", name);
    const biqa_st_tensor *init = biqa_st_find(&r->st, key);
    snprintf(key, sizeof key, "grads.%s", name);
    const biqa_st_tensor *grads = biqa_st_find(&r->st, key);
    if (!init || !grads)
        return biqa_fail(err, "%s: init.%s or grads.%s missing", r->st.path, name, name);
    if (init->ndim > 4)
        return biqa_fail(err, "%s: init.%s has %d dimensions (at most 4)", r->st.path, name,
                         init->ndim);
    p->ndim = init->ndim;
    memcpy(p->shape, init->shape, sizeof p->shape);
    p->numel = biqa_st_numel(init);
    if (biqa_st_numel(grads) != (size_t)r->steps * p->numel)
        return biqa_fail(err, "%s: grads.%s needs %ld x %zu elements", r->st.path, name,
                         r->steps, p->numel);
    p->grads = malloc(biqa_st_numel(grads) * sizeof(float));
    p->traj = malloc(((size_t)r->steps + 1) * p->numel * sizeof(float));
    if (!p->grads || !p->traj)
        return biqa_fail(err, "out of memory");
    if (biqa_st_read_f32(&r->st, grads, p->grads, err) < 0 ||
        biqa_st_read_f32(&r->st, init, p->traj, err) < 0)
        return -1;
    bp->name = p->name;
    bp->value = alloc_like(r->be, p);
    bp->grad = alloc_like(r->be, p);
    p->scratch = alloc_like(r->be, p);
    bp->no_decay = in_list(no_decay, name);
    if (!bp->value.data || !bp->grad.data || !p->scratch.data)
        return biqa_fail(err, "out of backend memory");
    r->be->upload(r->be, bp->value.data, p->traj, p->numel);
    return 0;
}

static int load(run *r, const char *path, biqa_optim_config *oc, biqa_schedule *sc,
                biqa_error *err)
{
    if (biqa_st_open(path, &r->st, err) < 0 || read_config(r, oc, sc, err) < 0)
        return -1;
    const char *names = meta_str(r, "params", err), *no_decay = meta_str(r, "no_decay", err);
    if (!names || !no_decay)
        return -1;
    r->count = 1;
    for (const char *c = names; *c; c++)
        r->count += *c == ',';
    r->rp = calloc(r->count, sizeof *r->rp);
    r->params = calloc(r->count, sizeof *r->params);
    if (!r->rp || !r->params)
        return biqa_fail(err, "out of memory");
    const char *p = names;
    for (size_t i = 0; i < r->count; i++) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)len, p);
        if (load_param(r, i, name, no_decay, err) < 0)
            return -1;
        p += len + 1;
    }
    return 0;
}

static void train(run *r, const biqa_schedule *sc, double *lrs)
{
    biqa_backend *be = r->be;
    for (long s = 0; s < r->steps; s++) {
        lrs[s] = biqa_schedule_lr(sc, s);
        biqa_optim_zero_grad(r->opt);
        for (size_t i = 0; i < r->count; i++) {
            run_param *p = &r->rp[i];
            be->upload(be, p->scratch.data, p->grads + (size_t)s * p->numel, p->numel);
            be->axpy(be, 1.0f, &p->scratch, &r->params[i].grad);
        }
        biqa_optim_step(r->opt, (float)lrs[s]);
        for (size_t i = 0; i < r->count; i++)
            be->download(be, r->rp[i].traj + (size_t)(s + 1) * r->rp[i].numel,
                         r->params[i].value.data, r->rp[i].numel);
    }
}

static int save(run *r, const char *path, const double *lrs, biqa_error *err)
{
    biqa_st_entry *e = calloc(r->count, sizeof *e);
    char (*names)[160] = calloc(r->count, sizeof *names);
    /* {"lr":"a,b,..."}: numbers need no JSON escaping. */
    char *meta = malloc((size_t)r->steps * 32 + 16);
    int rc = -1;
    if (!e || !names || !meta) {
        biqa_fail(err, "out of memory");
        goto done;
    }
    size_t len = (size_t)sprintf(meta, "{\"lr\":\"");
    for (long s = 0; s < r->steps; s++)
        len += (size_t)sprintf(meta + len, "%s%.17g", s ? "," : "", lrs[s]);
    strcpy(meta + len, "\"}");
    for (size_t i = 0; i < r->count; i++) {
        run_param *p = &r->rp[i];
        snprintf(names[i], sizeof names[i], "traj.%s", p->name);
        e[i].name = names[i];
        e[i].ndim = p->ndim + 1;
        e[i].shape[0] = r->steps + 1;
        memcpy(&e[i].shape[1], p->shape, (size_t)p->ndim * sizeof p->shape[0]);
        e[i].data = p->traj;
    }
    rc = biqa_st_write(path, e, r->count, meta, err);
done:
    free(meta);
    free(names);
    free(e);
    return rc;
}

static void cleanup(run *r)
{
    biqa_optim_destroy(r->opt);
    for (size_t i = 0; r->params && r->rp && i < r->count; i++) {
        biqa_param *bp = &r->params[i];
        if (bp->value.data)
            r->be->free(r->be, bp->value.data);
        if (bp->grad.data)
            r->be->free(r->be, bp->grad.data);
        if (r->rp[i].scratch.data)
            r->be->free(r->be, r->rp[i].scratch.data);
        free(r->rp[i].grads);
        free(r->rp[i].traj);
    }
    free(r->params);
    free(r->rp);
    biqa_st_close(&r->st);
    biqa_backend_destroy(r->be);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: optim_run BACKEND CASE.safetensors OUT.safetensors\n");
        return 2;
    }
    run r;
    memset(&r, 0, sizeof r);
    biqa_error err = {{0}};
    biqa_optim_config oc;
    biqa_schedule sc;
    double *lrs = NULL;
    int rc = 1;
    if (!(r.be = biqa_backend_create(argv[1], 2, &err)) || load(&r, argv[2], &oc, &sc, &err) < 0)
        goto done;
    if (!(r.opt = biqa_optim_create(r.be, &oc, r.params, r.count, &err)))
        goto done;
    if (!(lrs = malloc((size_t)r.steps * sizeof *lrs))) {
        biqa_fail(&err, "out of memory");
        goto done;
    }
    train(&r, &sc, lrs);
    rc = save(&r, argv[3], lrs, &err) < 0;
done:
    if (rc)
        fprintf(stderr, "optim_run: %s\n", err.msg);
    free(lrs);
    if (r.be)
        cleanup(&r);
    else
        biqa_st_close(&r.st);
    return rc;
}
