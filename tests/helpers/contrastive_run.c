/* The contrastive loss of methods/contrastive.h on a case from
 * tests/ref/contrastive_vs_torch.py:
 *   contrastive_run BACKEND CASE OUT
 * CASE: q, k (n x d), neg (m x d), mask_rows, mask_cols (I32, may be
 * empty), metadata tau. OUT: loss (1), dq, dk, dneg. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "methods/contrastive.h"
#include "methods/model_io.h"

static const int32_t *i32(const biqa_safetensors *st, const char *name, int *count)
{
    const biqa_st_tensor *t = biqa_st_find(st, name);
    *count = t && strcmp(t->dtype, "I32") == 0 ? (int)biqa_st_numel(t) : 0;
    return *count ? (const int32_t *)(st->map + st->data_start + t->offset) : NULL;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: contrastive_run BACKEND CASE OUT\n");
        return 2;
    }
    biqa_error err = {{0}};
    biqa_safetensors st = {0};
    biqa_tensor q = {0}, k = {0}, neg = {0};
    biqa_backend *be = biqa_backend_create(argv[1], 1, &err);
    int rc = be && biqa_st_open(argv[2], &st, &err) == 0 &&
                     biqa_tensor_from_st(&st, "q", be, &q, &err) == 0 &&
                     biqa_tensor_from_st(&st, "k", be, &k, &err) == 0 &&
                     biqa_tensor_from_st(&st, "neg", be, &neg, &err) == 0
                 ? 0
                 : -1;
    const char *tau = rc == 0 ? biqa_st_meta(&st, "tau") : NULL;
    if (rc == 0 && !tau)
        rc = biqa_fail(&err, "%s: metadata tau missing", argv[2]);
    float loss = 0;
    size_t nq = biqa_numel(&q), nn = biqa_numel(&neg);
    float *g = malloc((2 * nq + nn) * sizeof *g);
    void *dmem = be ? be->alloc(be, (2 * nq + nn) * sizeof(float)) : NULL;
    if (rc == 0 && (!g || !dmem))
        rc = biqa_fail(&err, "out of memory");
    if (rc == 0) {
        int nr, nc;
        const int32_t *rows = i32(&st, "mask_rows", &nr), *cols = i32(&st, "mask_cols", &nc);
        biqa_tensor dq = biqa_view(dmem, q.n, q.c, 1, 1);
        biqa_tensor dk = biqa_view((float *)dmem + nq, k.n, k.c, 1, 1);
        biqa_tensor dneg = biqa_view((float *)dmem + 2 * nq, neg.n, neg.c, 1, 1);
        biqa_infonce c;
        biqa_infonce_init(&c, be);
        rc = nr == nc ? biqa_infonce_loss(&c, &q, &k, &neg, rows, cols, nr, strtof(tau, NULL),
                                          &loss, &dq, &dk, &dneg, &err)
                      : biqa_fail(&err, "%s: mask_rows and mask_cols differ in length", argv[2]);
        biqa_infonce_free(&c);
        if (rc == 0) {
            be->download(be, g, dmem, 2 * nq + nn);
            biqa_st_entry e[4] = {{"loss", 1, {1}, &loss, NULL},
                                  {"dq", 2, {q.n, q.c}, g, NULL},
                                  {"dk", 2, {k.n, k.c}, g + nq, NULL},
                                  {"dneg", 2, {neg.n, neg.c}, g + 2 * nq, NULL}};
            rc = biqa_st_write(argv[3], e, 4, NULL, &err);
        }
    }
    if (rc < 0)
        fprintf(stderr, "contrastive_run: %s\n", err.msg);
    free(g);
    if (dmem)
        be->free(be, dmem);
    biqa_tensor *ts[3] = {&q, &k, &neg};
    for (int i = 0; i < 3; i++)
        if (ts[i]->data)
            be->free(be, ts[i]->data);
    biqa_st_close(&st);
    biqa_backend_destroy(be);
    return rc < 0 ? 1 : 0;
}
