/* bench_ops: times single backend ops at given shapes (best of R runs), to
 * compare backends with each other and with PyTorch at the same shapes.
 *
 *   bench_ops [--backend NAME] [--threads T] [--reps R] OP ARGS...
 *     conv N C H O K S P   conv2d, x (N, C, H, H), w (O, C, K, K), stride S,
 *                          pad P, no bias: forward; backward with dx and dw
 *     bn N C H             batch norm: training forward; backward (dx, dgamma,
 *                          dbeta)
 *     relu N C H           forward (in place); backward
 *     maxpool N C H K S P  forward; backward
 *     linear N I O         forward with bias; backward (dx, dw, db)
 *
 * Prints one line: the op and shape, then "fwd F ms bwd B ms". Inputs are
 * uniform in [-1, 1) from core/rng.h. Exit 2 on bad usage, 1 when the
 * backend cannot be created. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/rng.h"
#include "kernels/backend.h"

static biqa_backend *be;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static biqa_tensor tensor(int n, int c, int h, int w, uint64_t stream)
{
    biqa_tensor t = biqa_view(NULL, n, c, h, w);
    size_t count = biqa_numel(&t);
    float *host = malloc(count * sizeof(float));
    t.data = be->alloc(be, count * sizeof(float));
    if (!host || !t.data) {
        fprintf(stderr, "bench_ops: error: out of memory for a %dx%dx%dx%d tensor\n", n, c, h, w);
        exit(1);
    }
    for (size_t i = 0; i < count; i++)
        host[i] = (float)(2.0 * biqa_rng_uniform(1, stream, i) - 1.0);
    be->upload(be, t.data, host, count);
    free(host);
    return t;
}

static void release(biqa_tensor *t) { be->free(be, t->data); }

typedef struct op_args {
    int v[7];
    biqa_tensor t[8];
    int32_t *argmax;
} op_args;

/* Runs fn(a) reps times after one warm-up run; the best time in ms. */
static double best_ms(void (*fn)(op_args *), op_args *a, int reps)
{
    fn(a);
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t = now();
        fn(a);
        t = now() - t;
        best = t < best ? t : best;
    }
    return best * 1e3;
}

static void conv_fwd(op_args *a)
{
    biqa_conv_params p = {a->v[5], a->v[6]};
    be->conv2d_fwd(be, &p, &a->t[0], &a->t[1], NULL, &a->t[2]);
}

static void conv_bwd(op_args *a)
{
    biqa_conv_params p = {a->v[5], a->v[6]};
    be->conv2d_bwd(be, &p, &a->t[0], &a->t[1], &a->t[3], &a->t[4], &a->t[5], NULL);
}

static void bn_fwd(op_args *a)
{
    be->bn_fwd_train(be, &a->t[0], &a->t[1], &a->t[2], &a->t[3], &a->t[4], 0.1f, 1e-5f,
                     &a->t[5], &a->t[6], &a->t[7]);
}

static void bn_bwd(op_args *a)
{
    /* dy = x, dx into y: the values do not matter for timing. */
    be->bn_bwd(be, 1, &a->t[0], &a->t[0], &a->t[1], &a->t[6], &a->t[7], &a->t[5], &a->t[3],
               &a->t[4]);
}

static void relu_fwd(op_args *a) { be->relu_fwd(be, &a->t[0], &a->t[0]); }
static void relu_bwd(op_args *a) { be->relu_bwd(be, &a->t[0], &a->t[1], &a->t[2]); }

static void pool_fwd(op_args *a)
{
    biqa_pool_params p = {a->v[3], a->v[4], a->v[5]};
    be->maxpool_fwd(be, &p, &a->t[0], &a->t[1], a->argmax);
}

static void pool_bwd(op_args *a) { be->maxpool_bwd(be, &a->t[1], a->argmax, &a->t[0]); }

static void lin_fwd(op_args *a) { be->linear_fwd(be, &a->t[0], &a->t[1], &a->t[2], &a->t[3]); }

static void lin_bwd(op_args *a)
{
    be->linear_bwd(be, &a->t[0], &a->t[1], &a->t[3], &a->t[4], &a->t[5], &a->t[6]);
}

static int usage(void)
{
    fprintf(stderr, "usage: bench_ops [--backend NAME] [--threads T] [--reps R] OP ARGS...\n"
                    "  conv N C H O K S P | bn N C H | relu N C H | maxpool N C H K S P |"
                    " linear N I O\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *backend = "cpu";
    int threads = 0, reps = 5, i = 1;
    for (; i + 1 < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
        if (strcmp(argv[i], "--backend") == 0)
            backend = argv[i + 1];
        else if (strcmp(argv[i], "--threads") == 0)
            threads = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--reps") == 0)
            reps = atoi(argv[i + 1]);
        else
            return usage();
    }
    if (i >= argc || reps < 1)
        return usage();
    const char *op = argv[i++];
    static const struct {
        const char *name;
        int nargs, pad; /* the padding argument may be 0, the others not */
    } ops[] = {{"conv", 7, 6},    {"bn", 3, -1},     {"relu", 3, -1},
               {"maxpool", 6, 5}, {"linear", 3, -1}};
    int known = -1;
    for (int k = 0; k < 5; k++)
        if (strcmp(op, ops[k].name) == 0)
            known = k;
    if (known < 0 || argc - i != ops[known].nargs)
        return usage();
    op_args a;
    memset(&a, 0, sizeof a);
    for (int k = 0; k < ops[known].nargs; k++)
        if ((a.v[k] = atoi(argv[i + k])) < (k == ops[known].pad ? 0 : 1))
            return usage();
    biqa_error err;
    be = biqa_backend_create(backend, threads, &err);
    if (!be) {
        fprintf(stderr, "bench_ops: error: %s\n", err.msg);
        return 1;
    }
    const int *v = a.v;
    double f = 0, b = 0;
    int nt = 0;
    if (known == 0) {
        int oh = (v[2] + 2 * v[6] - v[4]) / v[5] + 1;
        a.t[0] = tensor(v[0], v[1], v[2], v[2], 1);
        a.t[1] = tensor(v[3], v[1], v[4], v[4], 2);
        a.t[2] = tensor(v[0], v[3], oh, oh, 3);
        a.t[3] = tensor(v[0], v[3], oh, oh, 4);
        a.t[4] = tensor(v[0], v[1], v[2], v[2], 5);
        a.t[5] = tensor(v[3], v[1], v[4], v[4], 6);
        nt = 6;
        f = best_ms(conv_fwd, &a, reps);
        b = best_ms(conv_bwd, &a, reps);
        printf("conv %dx%dx%dx%d -> %d k%d s%d p%d:", v[0], v[1], v[2], v[2], v[3], v[4], v[5],
               v[6]);
    } else if (known == 1) {
        a.t[0] = tensor(v[0], v[1], v[2], v[2], 1);
        for (int k = 1; k < 5; k++)
            a.t[k] = tensor(v[1], 1, 1, 1, 1 + (uint64_t)k);
        a.t[5] = tensor(v[0], v[1], v[2], v[2], 6);
        a.t[6] = tensor(v[1], 1, 1, 1, 7);
        a.t[7] = tensor(v[1], 1, 1, 1, 8);
        nt = 8;
        f = best_ms(bn_fwd, &a, reps);
        b = best_ms(bn_bwd, &a, reps);
        printf("bn %dx%dx%dx%d:", v[0], v[1], v[2], v[2]);
    } else if (known == 2) {
        for (int k = 0; k < 3; k++)
            a.t[k] = tensor(v[0], v[1], v[2], v[2], 1 + (uint64_t)k);
        nt = 3;
        f = best_ms(relu_fwd, &a, reps);
        b = best_ms(relu_bwd, &a, reps);
        printf("relu %dx%dx%dx%d:", v[0], v[1], v[2], v[2]);
    } else if (known == 3) {
        int oh = (v[2] + 2 * v[5] - v[3]) / v[4] + 1;
        a.t[0] = tensor(v[0], v[1], v[2], v[2], 1);
        a.t[1] = tensor(v[0], v[1], oh, oh, 2);
        nt = 2;
        a.argmax = malloc(biqa_numel(&a.t[1]) * sizeof(int32_t));
        if (!a.argmax) {
            fprintf(stderr, "bench_ops: error: out of memory\n");
            return 1;
        }
        f = best_ms(pool_fwd, &a, reps);
        b = best_ms(pool_bwd, &a, reps);
        free(a.argmax);
        printf("maxpool %dx%dx%dx%d k%d s%d p%d:", v[0], v[1], v[2], v[2], v[3], v[4], v[5]);
    } else {
        a.t[0] = tensor(v[0], v[1], 1, 1, 1);
        a.t[1] = tensor(v[2], v[1], 1, 1, 2);
        a.t[2] = tensor(v[2], 1, 1, 1, 3);
        a.t[3] = tensor(v[0], v[2], 1, 1, 4);
        a.t[4] = tensor(v[0], v[1], 1, 1, 5);
        a.t[5] = tensor(v[2], v[1], 1, 1, 6);
        a.t[6] = tensor(v[2], 1, 1, 1, 7);
        nt = 7;
        f = best_ms(lin_fwd, &a, reps);
        b = best_ms(lin_bwd, &a, reps);
        printf("linear %dx%d -> %d:", v[0], v[1], v[2]);
    }
    printf(" fwd %.3f ms bwd %.3f ms\n", f, b);
    for (int k = 0; k < nt; k++)
        release(&a.t[k]);
    biqa_backend_destroy(be);
    return 0;
}
