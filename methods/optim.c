#include "methods/optim.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* State buffers start on 64-byte boundaries within the one block, so a
 * backend's vector loads see the same alignment as in its own tensors. */
#define STATE_ALIGN 64

struct biqa_optim {
    biqa_backend *be;
    biqa_optim_config cfg;
    biqa_param *params; /* a copy of the caller's array */
    size_t count;
    biqa_tensor *state; /* per parameter: velocity (SGD), or m then v (AdamW) */
    void *block;        /* the backend memory every state tensor points into */
    int step;           /* AdamW: updates done, so bias correction uses t = step */
};

static int per_param(const biqa_optim_config *cfg)
{
    return cfg->kind == BIQA_OPTIM_ADAMW ? 2 : 1;
}

static int check_config(const biqa_optim_config *c, biqa_error *err)
{
    /* The ranges torch.optim checks in SGD.__init__ and AdamW.__init__. */
    if (c->kind != BIQA_OPTIM_SGD && c->kind != BIQA_OPTIM_ADAMW)
        return biqa_fail(err, "optimiser: unknown kind %d (sgd or adamw)", (int)c->kind);
    if (!(c->weight_decay >= 0 && isfinite(c->weight_decay)))
        return biqa_fail(err, "optimiser: weight_decay %g must be finite and >= 0",
                         c->weight_decay);
    if (c->kind == BIQA_OPTIM_SGD) {
        if (!(c->momentum >= 0 && isfinite(c->momentum)))
            return biqa_fail(err, "optimiser: momentum %g must be finite and >= 0", c->momentum);
        if (c->nesterov && !(c->momentum > 0))
            return biqa_fail(err, "optimiser: nesterov needs momentum > 0");
        return 0;
    }
    if (!(c->beta1 >= 0 && c->beta1 < 1))
        return biqa_fail(err, "optimiser: beta1 %g must be in [0, 1)", c->beta1);
    if (!(c->beta2 >= 0 && c->beta2 < 1))
        return biqa_fail(err, "optimiser: beta2 %g must be in [0, 1)", c->beta2);
    if (!(c->eps >= 0 && isfinite(c->eps)))
        return biqa_fail(err, "optimiser: eps %g must be finite and >= 0", c->eps);
    return 0;
}

static size_t align_up(size_t bytes)
{
    return (bytes + STATE_ALIGN - 1) / STATE_ALIGN * STATE_ALIGN;
}

biqa_optim *biqa_optim_create(biqa_backend *be, const biqa_optim_config *cfg,
                              biqa_param *params, size_t count, biqa_error *err)
{
    if (check_config(cfg, err) < 0)
        return NULL;
    for (size_t i = 0; i < count; i++)
        if (biqa_numel(&params[i].value) != biqa_numel(&params[i].grad)) {
            biqa_fail(err, "optimiser: parameter '%s': %zu values but %zu gradients",
                      params[i].name, biqa_numel(&params[i].value),
                      biqa_numel(&params[i].grad));
            return NULL;
        }
    int k = per_param(cfg);
    biqa_optim *o = calloc(1, sizeof *o);
    if (!o || !(o->params = malloc((count ? count : 1) * sizeof *o->params)) ||
        !(o->state = calloc(count ? count * (size_t)k : 1, sizeof *o->state))) {
        biqa_optim_destroy(o);
        biqa_fail(err, "optimiser: out of memory");
        return NULL;
    }
    o->be = be;
    o->cfg = *cfg;
    o->count = count;
    if (count)
        memcpy(o->params, params, count * sizeof *params);

    size_t bytes = 0;
    for (size_t i = 0; i < count; i++)
        bytes += (size_t)k * align_up(biqa_numel(&params[i].value) * sizeof(float));
    if (bytes && !(o->block = be->alloc(be, bytes))) {
        biqa_optim_destroy(o);
        biqa_fail(err, "optimiser: out of %s memory for %zu bytes of state", be->name, bytes);
        return NULL;
    }
    /* State tensors take the shape and layout of their parameter, so the
     * update ops see matching operands on every backend. */
    size_t off = 0;
    for (size_t i = 0; i < count * (size_t)k; i++) {
        biqa_tensor *s = &o->state[i];
        *s = params[i / (size_t)k].value;
        s->data = (char *)o->block + off;
        off += align_up(biqa_numel(s) * sizeof(float));
        be->fill(be, s, 0.0f);
    }
    return o;
}

void biqa_optim_step(biqa_optim *o, float lr)
{
    const biqa_optim_config *c = &o->cfg;
    o->step++;
    for (size_t i = 0; i < o->count; i++) {
        biqa_param *p = &o->params[i];
        float wd = p->no_decay ? 0.0f : c->weight_decay;
        if (c->kind == BIQA_OPTIM_SGD)
            o->be->sgd_step(o->be, &p->value, &p->grad, &o->state[i], lr, c->momentum, wd,
                            c->nesterov);
        else
            o->be->adamw_step(o->be, &p->value, &p->grad, &o->state[2 * i],
                              &o->state[2 * i + 1], lr, c->beta1, c->beta2, c->eps, wd,
                              o->step);
    }
}

void biqa_optim_zero_grad(biqa_optim *o)
{
    for (size_t i = 0; i < o->count; i++)
        o->be->fill(o->be, &o->params[i].grad, 0.0f);
}

size_t biqa_optim_state(biqa_optim *o, const biqa_param **params, biqa_tensor **state,
                        int *per_param_out, int **step)
{
    *params = o->params, *state = o->state, *step = &o->step;
    *per_param_out = per_param(&o->cfg);
    return o->count;
}

void biqa_optim_destroy(biqa_optim *o)
{
    if (!o)
        return;
    if (o->block)
        o->be->free(o->be, o->block);
    free(o->state);
    free(o->params);
    free(o);
}

/* ---- schedules ---- */

int biqa_schedule_check(const biqa_schedule *s, biqa_error *err)
{
    if (s->kind != BIQA_SCHED_CONSTANT && s->kind != BIQA_SCHED_COSINE &&
        s->kind != BIQA_SCHED_STEP)
        return biqa_fail(err, "schedule: unknown kind %d (constant, cosine or step)",
                         (int)s->kind);
    if (!(s->base_lr > 0 && isfinite(s->base_lr)))
        return biqa_fail(err, "schedule: base_lr %g must be finite and > 0", s->base_lr);
    if (s->warmup_steps < 0)
        return biqa_fail(err, "schedule: warmup_steps %ld must be >= 0", s->warmup_steps);
    if (s->kind == BIQA_SCHED_COSINE) {
        if (!(s->min_lr >= 0 && s->min_lr <= s->base_lr))
            return biqa_fail(err, "schedule: min_lr %g must be in [0, base_lr %g]", s->min_lr,
                             s->base_lr);
        if (s->total_steps <= s->warmup_steps)
            return biqa_fail(err, "schedule: total_steps %ld must exceed warmup_steps %ld",
                             s->total_steps, s->warmup_steps);
    }
    if (s->kind == BIQA_SCHED_STEP) {
        if (s->step_size < 1)
            return biqa_fail(err, "schedule: step_size %ld must be >= 1", s->step_size);
        if (!(s->gamma > 0 && isfinite(s->gamma)))
            return biqa_fail(err, "schedule: gamma %g must be finite and > 0", s->gamma);
    }
    return 0;
}

double biqa_schedule_lr(const biqa_schedule *s, long step)
{
    if (step < 0)
        step = 0;
    if (step < s->warmup_steps)
        return s->base_lr * (double)(step + 1) / (double)s->warmup_steps;
    long k = step - s->warmup_steps;
    switch (s->kind) {
    case BIQA_SCHED_COSINE: {
        long span = s->total_steps - s->warmup_steps;
        if (k >= span)
            return s->min_lr;
        return s->min_lr +
               (s->base_lr - s->min_lr) * (1 + cos(M_PI * (double)k / (double)span)) / 2;
    }
    case BIQA_SCHED_STEP:
        return s->step_size > 0 ? s->base_lr * pow(s->gamma, (double)(k / s->step_size))
                                : s->base_lr;
    case BIQA_SCHED_CONSTANT:
        break;
    }
    return s->base_lr;
}
