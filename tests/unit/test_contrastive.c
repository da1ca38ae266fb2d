/* The key bank (MoCo's queue) and the momentum update against their
 * definitions; the losses themselves are checked against PyTorch by
 * tests/ref/contrastive_vs_torch.py. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "methods/contrastive.h"

static biqa_backend *ref(void)
{
    biqa_error err = {{0}};
    biqa_backend *be = biqa_backend_create("ref", 1, &err);
    cr_assert_not_null(be, "%s", err.msg);
    return be;
}

Test(contrastive, key_bank_is_a_ring_of_past_keys)
{
    biqa_backend *be = ref();
    biqa_error err = {{0}};
    biqa_key_bank b;
    enum { batch = 3, cap = 7, dim = 4 };
    cr_assert_eq(biqa_key_bank_init(&b, be, batch, cap, dim, 9, &err), 0, "%s", err.msg);
    float ring[cap * dim];
    biqa_tensor r = biqa_key_bank_ring(&b);
    be->download(be, ring, r.data, cap * dim);
    for (int i = 0; i < cap; i++) { /* starts as unit vectors */
        double n = 0;
        for (int j = 0; j < dim; j++)
            n += ring[i * dim + j] * ring[i * dim + j];
        cr_assert_float_eq(n, 1.0, 1e-6, "row %d", i);
    }
    /* Enqueue steps 0..4 of 3 keys each, key value = step * 10 + row; the
     * definition: key j of step s lands in ring row (3 s + j) mod 7. */
    float expect[cap * dim];
    memcpy(expect, ring, sizeof ring);
    for (int s = 0; s < 5; s++) {
        float keys[batch * dim];
        for (int j = 0; j < batch; j++)
            for (int c = 0; c < dim; c++)
                keys[j * dim + c] = (float)(s * 10 + j);
        biqa_tensor kb = biqa_key_bank_batch(&b);
        be->upload(be, kb.data, keys, batch * dim);
        biqa_key_bank_enqueue(&b);
        for (int j = 0; j < batch; j++)
            for (int c = 0; c < dim; c++)
                expect[((3 * s + j) % cap) * dim + c] = (float)(s * 10 + j);
    }
    be->download(be, ring, r.data, cap * dim);
    cr_assert_eq(memcmp(ring, expect, sizeof ring), 0);
    cr_assert_eq(b.ptr, 15 % cap);
    biqa_tensor all = biqa_key_bank_all(&b);
    cr_assert_eq(all.n, batch + cap);
    cr_assert_eq((float *)all.data + batch * dim, (float *)r.data, "ring follows the batch keys");
    biqa_key_bank_free(&b);
    biqa_backend_destroy(be);
}

Test(contrastive, momentum_update_is_an_ema)
{
    biqa_backend *be = ref();
    float kv[3] = {1, 2, 3}, qv[3] = {0, 4, -3}, kg[3], qg[3];
    biqa_param key = {.name = "w", .value = biqa_view(kv, 3, 1, 1, 1), .grad = biqa_view(kg, 3, 1, 1, 1)};
    biqa_param query = {.name = "w", .value = biqa_view(qv, 3, 1, 1, 1), .grad = biqa_view(qg, 3, 1, 1, 1)};
    biqa_momentum_update(be, &key, &query, 1, 0.9f);
    cr_assert_float_eq(kv[0], 0.9f, 1e-6);
    cr_assert_float_eq(kv[1], 2.2f, 1e-6);
    cr_assert_float_eq(kv[2], 2.4f, 1e-6);
    biqa_backend_destroy(be);
}

Test(contrastive, masked_entries_leave_the_softmax)
{
    /* One query, a positive and three negatives; masking negative 1 must
     * give the loss of the same problem without that negative. */
    biqa_backend *be = ref();
    float q[2] = {1, 0}, k[2] = {0.6f, 0.8f}, neg[6] = {0, 1, 1, 0, -1, 0}, neg2[4] = {0, 1, -1, 0};
    biqa_tensor tq = biqa_view(q, 1, 2, 1, 1), tk = biqa_view(k, 1, 2, 1, 1);
    biqa_tensor tn = biqa_view(neg, 3, 2, 1, 1), tn2 = biqa_view(neg2, 2, 2, 1, 1);
    biqa_infonce c;
    biqa_infonce_init(&c, be);
    biqa_error err = {{0}};
    float masked, reduced;
    int32_t rows[1] = {0}, cols[1] = {1};
    cr_assert_eq(biqa_infonce_loss(&c, &tq, &tk, &tn, rows, cols, 1, 0.5f, &masked, NULL, NULL,
                                   NULL, &err), 0, "%s", err.msg);
    cr_assert_eq(biqa_infonce_loss(&c, &tq, &tk, &tn2, NULL, NULL, 0, 0.5f, &reduced, NULL, NULL,
                                   NULL, &err), 0, "%s", err.msg);
    cr_assert_float_eq(masked, reduced, 1e-6);
    /* By hand: -log(e^(0.6/0.5) / (e^(0.6/0.5) + e^0 + e^(-2))). */
    double want = -log(exp(1.2) / (exp(1.2) + 1 + exp(-2.0)));
    cr_assert_float_eq(masked, want, 1e-6);
    biqa_tensor none = biqa_view(neg, 0, 2, 1, 1);
    cr_assert_eq(biqa_infonce_loss(&c, &tq, &tk, &none, NULL, NULL, 0, 0.5f, &masked, NULL, NULL,
                                   NULL, &err), -1);
    biqa_infonce_free(&c);
    biqa_backend_destroy(be);
}
