/* The pretraining methods (methods/method.h) on fabricated batches: the
 * method table, the pairs and masks of the QPT batch layout, the MoCo key
 * encoder's start, and that a few steps on one fixed batch lower the
 * contrastive losses. End to end runs: tests/cli/test_pretrain.c. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "methods/contrastive.h"
#include "methods/method.h"

Test(method, table_finds_every_method_by_name)
{
    const char *names[] = {"scratch", "supervised", "moco", "simclr", "qpt"};
    cr_assert_eq(biqa_method_count(), 5);
    for (int i = 0; i < 5; i++) {
        const biqa_method *m = biqa_method_find(names[i]);
        cr_assert_not_null(m, "%s", names[i]);
        cr_assert_str_eq(m->name, names[i]);
    }
    cr_assert_null(biqa_method_find("byol"));
    cr_assert_eq(biqa_method_find("qpt")->recipe, BIQA_RECIPE_QPT);
    cr_assert_eq(biqa_method_find("moco")->recipe, BIQA_RECIPE_MOCO);
    cr_assert_null(biqa_method_find("scratch")->step, "scratch does not train");
}

/* A batch with the loader's QPT layout: view (i V + v) 2 + p, group i V + v
 * (datasets/loader.h); x filled with smooth random images. */
typedef struct fake {
    biqa_batch b;
    int source[64], group[64], label[64];
} fake;

static void fake_batch(fake *f, int items, int variants, int size, uint64_t seed)
{
    memset(f, 0, sizeof *f);
    const int per = 2 * variants, views = items * per;
    f->b.items = items, f->b.views = views, f->b.size = size;
    f->b.source = f->source, f->b.group = f->group, f->b.label = f->label;
    for (int v = 0; v < views; v++) {
        f->source[v] = v / per;
        f->group[v] = (v / per) * variants + (v % per) / 2;
    }
    for (int i = 0; i < items; i++)
        f->label[i] = i % 2;
    size_t n = (size_t)views * 3 * size * size;
    f->b.x = malloc(n * sizeof(float));
    cr_assert_not_null(f->b.x);
    for (size_t k = 0; k < n; k++) {
        size_t plane = k / ((size_t)size * size), px = k % ((size_t)size * size);
        double a = biqa_rng_uniform(seed, 1, plane), ph = biqa_rng_uniform(seed, 2, plane);
        f->b.x[k] = (float)(sin(6.28 * (a * (double)(px % size) / size + ph)) +
                            0.3 * (biqa_rng_uniform(seed, 3, k) - 0.5));
    }
}

Test(method, qpt_mask_drops_exactly_the_two_keys_of_the_same_degraded_image)
{
    enum { items = 3, variants = 3 };
    fake f;
    fake_batch(&f, items, variants, 4, 1);
    const int n = f.b.views;
    int32_t rows[2 * 64], cols[2 * 64];
    int partner[64];
    biqa_error err = {{0}};
    cr_assert_eq(biqa_pair_partners(&f.b, partner, &err), 0, "%s", err.msg);
    int count = biqa_pair_mask(&f.b, rows, cols);
    cr_assert_eq(count, 2 * n);
    for (int r = 0; r < n; r++) {
        int item = r / (2 * variants), variant = (r % (2 * variants)) / 2;
        int other = item * 2 * variants + 2 * variant + (r % 2 ? 0 : 1);
        cr_assert_eq(partner[r], other, "view %d", r);
        int hits = 0, self = 0, pair = 0;
        for (int k = 0; k < count; k++)
            if (rows[k] == r) {
                hits++;
                self += cols[k] == r, pair += cols[k] == other;
                /* never another variant of the same image, nor another image */
                cr_assert_eq(cols[k] / (2 * variants), item);
                cr_assert_eq((cols[k] % (2 * variants)) / 2, variant);
            }
        cr_assert_eq(hits, 2, "view %d: %d masked keys", r, hits);
        cr_assert(self && pair, "view %d", r);
    }
    /* a group of three views is not a pair */
    f.group[2] = f.group[0];
    cr_assert_eq(biqa_pair_partners(&f.b, partner, &err), -1);
    cr_assert(strstr(err.msg, "not 1"), "%s", err.msg);
    free(f.b.x);
}

static biqa_pretrain_config tiny(const char *method)
{
    biqa_pretrain_config c = {.method = method, .backbone = "resnet18-w0.125", .seed = 3,
                              .epochs = 1, .batch_size = 4, .size = 32, .lr = 0.03,
                              .momentum = 0.9, .weight_decay = 1e-4, .queue_size = 256,
                              .key_momentum = 0.99, .temperature = 0.2, .proj_hidden = 0,
                              .proj_dim = 16, .variants = 2, .progress_every = 1};
    return c;
}

static biqa_backend *backend(void)
{
    biqa_error err = {{0}};
    biqa_backend *be = biqa_backend_create("cpu", 1, &err);
    cr_assert_not_null(be, "%s", err.msg);
    return be;
}

static void expect_equal_params(biqa_backend *be, biqa_model *a, biqa_model *b, const char *what)
{
    biqa_param *pa, *pb;
    size_t n = biqa_model_params(a, &pa);
    cr_assert_eq(biqa_model_params(b, &pb), n);
    for (size_t i = 0; i < n; i++) {
        size_t k = biqa_numel(&pa[i].value);
        float *x = malloc(k * sizeof *x), *y = malloc(k * sizeof *y);
        be->download(be, x, pa[i].value.data, k);
        be->download(be, y, pb[i].value.data, k);
        cr_assert_eq(memcmp(x, y, k * sizeof *x), 0, "%s: %s differs", what, pa[i].name);
        free(x), free(y);
    }
}

Test(method, momentum_encoder_starts_equal_to_the_query_encoder)
{
    biqa_backend *be = backend();
    biqa_pretrain_config c = tiny("moco");
    biqa_error err = {{0}};
    void *s;
    cr_assert_eq(biqa_moco_create(&c, 0, be, &s, &err), 0, "%s", err.msg);
    biqa_model *qb, *qh, *kb, *kh;
    biqa_moco_query_encoder(s, &qb, &qh);
    biqa_moco_key_encoder(s, &kb, &kh);
    expect_equal_params(be, qb, kb, "backbone");
    expect_equal_params(be, qh, kh, "head");
    biqa_moco_destroy(s);
    biqa_backend_destroy(be);
}

/* Steps on one fixed batch lower the loss. MoCo/QPT: query update and
 * momentum update, the ring held fixed (enqueueing the fixed batch's own
 * keys would make them its negatives, a different objective every step). */
static void contrastive_loss_falls(const char *name, int variants)
{
    biqa_backend *be = backend();
    biqa_pretrain_config c = tiny(name);
    c.variants = variants;
    fake f;
    fake_batch(&f, c.batch_size, variants, c.size, 11);
    biqa_error err = {{0}};
    void *s;
    cr_assert_eq(biqa_moco_create(&c, !strcmp(name, "qpt"), be, &s, &err), 0, "%s", err.msg);
    biqa_param *params;
    size_t np = biqa_moco_params(s, &params);
    biqa_optim_config oc = {.kind = BIQA_OPTIM_SGD, .momentum = 0.9f, .weight_decay = 1e-4f};
    biqa_optim *o = biqa_optim_create(be, &oc, params, np, &err);
    cr_assert_not_null(o, "%s", err.msg);
    size_t n = (size_t)f.b.views * 3 * c.size * c.size;
    void *xd = be->alloc(be, n * sizeof(float));
    be->upload(be, xd, f.b.x, n);
    biqa_tensor x = biqa_view(xd, f.b.views, 3, c.size, c.size);
    biqa_model *qb, *qh, *kb, *kh;
    biqa_moco_query_encoder(s, &qb, &qh);
    biqa_moco_key_encoder(s, &kb, &kh);
    float first = 0, loss = 0;
    for (int k = 0; k < 12; k++) {
        biqa_optim_zero_grad(o);
        cr_assert_eq(biqa_moco_step(s, &f.b, &x, &loss, &err), 0, "%s", err.msg);
        if (k == 0)
            first = loss;
        biqa_optim_step(o, 0.05f);
        biqa_param *kp, *qp;
        size_t m = biqa_model_params(kb, &kp);
        biqa_model_params(qb, &qp);
        biqa_momentum_update(be, kp, qp, m, (float)c.key_momentum);
        m = biqa_model_params(kh, &kp);
        biqa_model_params(qh, &qp);
        biqa_momentum_update(be, kp, qp, m, (float)c.key_momentum);
    }
    cr_assert_lt(loss, first - 0.1f, "%s: loss %g at step 12, %g at the first", name, loss, first);
    be->free(be, xd);
    biqa_optim_destroy(o);
    biqa_moco_destroy(s);
    free(f.b.x);
    biqa_backend_destroy(be);
}

Test(method, moco_steps_on_a_fixed_batch_lower_the_loss) { contrastive_loss_falls("moco", 1); }
Test(method, qpt_steps_on_a_fixed_batch_lower_the_loss) { contrastive_loss_falls("qpt", 2); }

/* SimCLR has no queue: the whole pretrainer step, fixed batch. */
Test(method, simclr_steps_on_a_fixed_batch_lower_the_loss)
{
    biqa_backend *be = backend();
    biqa_pretrain_config c = tiny("simclr");
    fake f;
    fake_batch(&f, c.batch_size, 1, c.size, 11);
    biqa_pretrainer p;
    biqa_error err = {{0}};
    cr_assert_eq(biqa_pretrainer_init(&p, &biqa_method_simclr, &c, 2, be, &err), 0, "%s", err.msg);
    float first = 0, loss = 0;
    for (int k = 0; k < 12; k++) {
        cr_assert_eq(biqa_pretrainer_step(&p, &f.b, 0.05f, &loss, &err), 0, "%s", err.msg);
        if (k == 0)
            first = loss;
    }
    cr_assert_lt(loss, first - 0.1f, "simclr: loss %g at step 12, %g at the first", loss, first);
    biqa_pretrainer_free(&p);
    free(f.b.x);
    biqa_backend_destroy(be);
}

Test(method, supervised_steps_on_a_fixed_batch_lower_the_loss)
{
    biqa_backend *be = backend();
    biqa_pretrain_config c = tiny("supervised");
    fake f;
    fake_batch(&f, 8, 1, 32, 5);
    /* CLASSIFY: one view per item */
    f.b.views = 8;
    for (int v = 0; v < 8; v++)
        f.source[v] = v, f.group[v] = v;
    biqa_pretrainer p;
    biqa_error err = {{0}};
    cr_assert_eq(biqa_pretrainer_init(&p, &biqa_method_supervised, &c, 2, be, &err), 0, "%s",
                 err.msg);
    float first = 0, loss = 0;
    for (int s = 0; s < 12; s++) {
        cr_assert_eq(biqa_pretrainer_step(&p, &f.b, 0.05f, &loss, &err), 0, "%s", err.msg);
        if (s == 0)
            first = loss;
    }
    cr_assert_lt(loss, first - 0.1f, "supervised: %g after 12 steps, %g at the first", loss, first);
    biqa_pretrainer_free(&p);
    free(f.b.x);
    biqa_backend_destroy(be);
}
