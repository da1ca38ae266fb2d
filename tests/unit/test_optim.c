/* methods/optim.h on the ref backend, by hand: SGD with momentum, Nesterov
 * and a no-decay parameter over two steps; AdamW's bias correction with its
 * own step counter; zero_grad; refused configurations. PyTorch parity over
 * whole runs on every CPU backend: tests/ref/optim_vs_torch.py. */
#include <criterion/criterion.h>
#include <math.h>

#include "methods/optim.h"

typedef struct fixture {
    biqa_backend *be;
    biqa_param p[2];
} fixture;

/* Two one-element parameters: "a" (decayed) and "b" (no_decay). */
static void setup(fixture *f, float a, float b)
{
    biqa_error err = {{0}};
    f->be = biqa_backend_create("ref", 1, &err);
    cr_assert_not_null(f->be, "%s", err.msg);
    const char *names[2] = {"a", "b"};
    float v[2] = {a, b};
    for (int i = 0; i < 2; i++) {
        f->p[i].name = names[i];
        f->p[i].value = biqa_view(f->be->alloc(f->be, sizeof(float)), 1, 1, 1, 1);
        f->p[i].grad = biqa_view(f->be->alloc(f->be, sizeof(float)), 1, 1, 1, 1);
        f->p[i].no_decay = i == 1;
        f->be->upload(f->be, f->p[i].value.data, &v[i], 1);
    }
}

static void teardown(fixture *f)
{
    for (int i = 0; i < 2; i++) {
        f->be->free(f->be, f->p[i].value.data);
        f->be->free(f->be, f->p[i].grad.data);
    }
    biqa_backend_destroy(f->be);
}

static float get(fixture *f, const biqa_tensor *t)
{
    float x;
    f->be->download(f->be, &x, t->data, 1);
    return x;
}

static void set_grads(fixture *f, biqa_optim *o, float ga, float gb)
{
    biqa_optim_zero_grad(o);
    cr_assert_eq(get(f, &f->p[0].grad), 0.0f);
    f->be->upload(f->be, f->p[0].grad.data, &ga, 1);
    f->be->upload(f->be, f->p[1].grad.data, &gb, 1);
}

Test(optim, sgd_momentum_and_no_decay_by_hand)
{
    fixture f;
    setup(&f, 1.0f, -2.0f);
    biqa_optim_config c = {.kind = BIQA_OPTIM_SGD, .momentum = 0.9f, .weight_decay = 0.1f};
    biqa_error err = {{0}};
    biqa_optim *o = biqa_optim_create(f.be, &c, f.p, 2, &err);
    cr_assert_not_null(o, "%s", err.msg);
    set_grads(&f, o, 0.5f, 0.25f);
    biqa_optim_step(o, 0.1f);
    /* a: g = 0.5 + 0.1 * 1 = 0.6, v = 0.6, p = 1 - 0.06; b: no decay, v = g. */
    cr_assert_float_eq(get(&f, &f.p[0].value), 0.94f, 1e-6);
    cr_assert_float_eq(get(&f, &f.p[1].value), -2.025f, 1e-6);
    set_grads(&f, o, 0.5f, 0.25f);
    biqa_optim_step(o, 0.1f);
    /* a: g = 0.5 + 0.094 = 0.594, v = 0.54 + 0.594 = 1.134; b: v = 0.475. */
    cr_assert_float_eq(get(&f, &f.p[0].value), 0.8266f, 1e-6);
    cr_assert_float_eq(get(&f, &f.p[1].value), -2.0725f, 1e-6);
    biqa_optim_destroy(o);

    c.nesterov = 1;
    f.be->upload(f.be, f.p[0].value.data, (float[]){1.0f}, 1);
    o = biqa_optim_create(f.be, &c, f.p, 2, &err);
    cr_assert_not_null(o, "%s", err.msg);
    set_grads(&f, o, 0.5f, 0.25f);
    biqa_optim_step(o, 0.1f);
    /* Nesterov: p -= lr (g + mu v) = 0.1 (0.6 + 0.54). */
    cr_assert_float_eq(get(&f, &f.p[0].value), 0.886f, 1e-6);
    biqa_optim_destroy(o);
    teardown(&f);
}

Test(optim, adamw_bias_correction_counts_steps)
{
    /* With a constant gradient the bias-corrected moments are g and g^2,
     * so with eps = 0 every step moves by exactly lr sign(g) after the
     * decoupled decay p (1 - lr wd): true only if step t = 1, 2, 3. */
    fixture f;
    setup(&f, 1.0f, -1.0f);
    biqa_optim_config c = {.kind = BIQA_OPTIM_ADAMW, .weight_decay = 0.5f, .beta1 = 0.9f,
                           .beta2 = 0.999f, .eps = 0.0f};
    biqa_error err = {{0}};
    biqa_optim *o = biqa_optim_create(f.be, &c, f.p, 2, &err);
    cr_assert_not_null(o, "%s", err.msg);
    double a = 1.0, b = -1.0, lr = 0.01;
    for (int t = 1; t <= 3; t++) {
        set_grads(&f, o, 0.3f, -0.02f);
        biqa_optim_step(o, (float)lr);
        a = a * (1 - lr * 0.5) - lr;
        b = b + lr; /* no_decay */
        cr_assert_float_eq(get(&f, &f.p[0].value), a, 1e-6, "step %d", t);
        cr_assert_float_eq(get(&f, &f.p[1].value), b, 1e-6, "step %d", t);
    }
    biqa_optim_destroy(o);
    teardown(&f);
}

struct bad_config {
    biqa_optim_config c;
    const char *msg;
};

Test(optim, refuses_bad_configurations)
{
    static const struct bad_config cases[] = {
        {{.kind = 5}, "optimiser: unknown kind 5 (sgd or adamw)"},
        {{.kind = BIQA_OPTIM_SGD, .nesterov = 1}, "optimiser: nesterov needs momentum > 0"},
        {{.kind = BIQA_OPTIM_SGD, .momentum = -0.5f}, "optimiser: momentum -0.5 must be finite and >= 0"},
        {{.kind = BIQA_OPTIM_SGD, .weight_decay = -1e-4f},
         "optimiser: weight_decay -0.0001 must be finite and >= 0"},
        {{.kind = BIQA_OPTIM_ADAMW, .beta1 = 0.9f, .beta2 = 1.0f},
         "optimiser: beta2 1 must be in [0, 1)"},
        {{.kind = BIQA_OPTIM_ADAMW, .beta1 = -0.1f}, "optimiser: beta1 -0.1 must be in [0, 1)"},
        {{.kind = BIQA_OPTIM_ADAMW, .beta1 = 0.9f, .beta2 = 0.99f, .eps = -1e-8f},
         "optimiser: eps -1e-08 must be finite and >= 0"},
    };
    fixture f;
    setup(&f, 0, 0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        biqa_error err = {{0}};
        cr_assert_null(biqa_optim_create(f.be, &cases[i].c, f.p, 2, &err), "case %zu", i);
        cr_assert_str_eq(err.msg, cases[i].msg);
    }
    biqa_optim_config ok = {.kind = BIQA_OPTIM_SGD};
    biqa_param mismatched = f.p[0];
    mismatched.grad.n = 2;
    biqa_error err = {{0}};
    cr_assert_null(biqa_optim_create(f.be, &ok, &mismatched, 1, &err));
    cr_assert_str_eq(err.msg, "optimiser: parameter 'a': 1 values but 2 gradients");
    /* No parameters: a valid optimiser that does nothing. */
    biqa_optim *o = biqa_optim_create(f.be, &ok, NULL, 0, &err);
    cr_assert_not_null(o, "%s", err.msg);
    biqa_optim_zero_grad(o);
    biqa_optim_step(o, 0.1f);
    biqa_optim_destroy(o);
    teardown(&f);
}
