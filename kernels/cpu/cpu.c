/* The cpu backend's table, memory ops and shared workspace. The ops live in
 * one file per family; see cpu_impl.h. */
#include "kernels/cpu/cpu.h"

#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/cpu_impl.h"

_Noreturn void biqa_cpu_die(const char *what, const char *detail)
{
    fprintf(stderr, "biqa: error: cpu backend: %s: %s\n", what, detail);
    abort();
}

static void *aligned(size_t bytes)
{
    /* aligned_alloc needs a multiple of the alignment; 0 bytes still gets a
     * distinct pointer so NULL only ever means out of memory. */
    size_t n = (bytes + 63) / 64 * 64;
    return aligned_alloc(64, n ? n : 64);
}

void *biqa_cpu_ws(cpu_ctx *c, enum cpu_ws_slot s, size_t bytes)
{
    if (c->ws_size[s] >= bytes && c->ws[s])
        return c->ws[s];
    free(c->ws[s]);
    c->ws[s] = aligned(bytes);
    c->ws_size[s] = c->ws[s] ? bytes : 0;
    if (!c->ws[s])
        biqa_cpu_die("workspace", "out of memory");
    return c->ws[s];
}

static void *cpu_alloc(biqa_backend *be, size_t bytes)
{
    (void)be;
    return aligned(bytes);
}

static void cpu_free(biqa_backend *be, void *p)
{
    (void)be;
    free(p);
}

static void cpu_upload(biqa_backend *be, void *dst, const float *src, size_t count)
{
    (void)be;
    if (count)
        memcpy(dst, src, count * sizeof(float));
}

static void cpu_download(biqa_backend *be, float *dst, const void *src, size_t count)
{
    (void)be;
    if (count)
        memcpy(dst, src, count * sizeof(float));
}

static void cpu_destroy(biqa_backend *be)
{
    cpu_ctx *c = cpu_of(be);
    biqa_cpu_conv_free_plans(c);
    for (int s = 0; s < CPU_WS_COUNT; s++)
        free(c->ws[s]);
    dnnl_stream_destroy(c->stream);
    dnnl_engine_destroy(c->engine);
    free(c);
    free(be);
}

biqa_backend *biqa_cpu_backend_create(int threads, biqa_error *err)
{
    if (threads < 0) {
        biqa_fail(err, "cpu backend: threads must be >= 0 (0: every core), got %d", threads);
        return NULL;
    }
    biqa_backend *be = calloc(1, sizeof *be);
    cpu_ctx *c = calloc(1, sizeof *c);
    if (!be || !c) {
        free(be);
        free(c);
        biqa_fail(err, "cpu backend: out of memory");
        return NULL;
    }
    c->threads = threads ? threads : omp_get_num_procs();
    if (dnnl_engine_create(&c->engine, dnnl_cpu, 0) != dnnl_success ||
        dnnl_stream_create(&c->stream, c->engine, dnnl_stream_default_flags) != dnnl_success) {
        if (c->engine)
            dnnl_engine_destroy(c->engine);
        free(c);
        free(be);
        biqa_fail(err, "cpu backend: cannot create the oneDNN CPU engine");
        return NULL;
    }
    /* OpenBLAS (the pthread build) keeps its own thread pool, whose workers
     * spin after each call and would fight the OpenMP workers for the same
     * cores; the backend instead splits every matrix product across its
     * OpenMP workers and runs OpenBLAS single-threaded inside them. */
    openblas_set_num_threads(1);

    be->name = "cpu";
    be->ctx = c;
    be->threads = c->threads;
    be->alloc = cpu_alloc;
    be->free = cpu_free;
    be->upload = cpu_upload;
    be->download = cpu_download;
    be->fill = biqa_cpu_fill;
    be->copy = biqa_cpu_copy;
    be->add = biqa_cpu_add;
    be->axpy = biqa_cpu_axpy;
    be->relu_fwd = biqa_cpu_relu_fwd;
    be->relu_bwd = biqa_cpu_relu_bwd;
    be->conv2d_fwd = biqa_cpu_conv2d_fwd;
    be->conv2d_bwd = biqa_cpu_conv2d_bwd;
    be->bn_fwd_train = biqa_cpu_bn_fwd_train;
    be->bn_fwd_eval = biqa_cpu_bn_fwd_eval;
    be->bn_bwd = biqa_cpu_bn_bwd;
    be->maxpool_fwd = biqa_cpu_maxpool_fwd;
    be->maxpool_bwd = biqa_cpu_maxpool_bwd;
    be->avgpool_fwd = biqa_cpu_avgpool_fwd;
    be->avgpool_bwd = biqa_cpu_avgpool_bwd;
    be->linear_fwd = biqa_cpu_linear_fwd;
    be->linear_bwd = biqa_cpu_linear_bwd;
    be->l2norm_fwd = biqa_cpu_l2norm_fwd;
    be->l2norm_bwd = biqa_cpu_l2norm_bwd;
    be->infonce_fwd = biqa_cpu_infonce_fwd;
    be->infonce_bwd = biqa_cpu_infonce_bwd;
    be->mask = biqa_cpu_mask;
    be->xent = biqa_cpu_xent;
    be->regress = biqa_cpu_regress;
    be->sgd_step = biqa_cpu_sgd_step;
    be->adamw_step = biqa_cpu_adamw_step;
    be->ema = biqa_cpu_ema;
    be->destroy = cpu_destroy;
    return be;
}
