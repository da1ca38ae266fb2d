/* The CUDA backend: its table, device, stream and library handles, memory,
 * scratch, host results, and the sync and graph hooks (cuda_impl.h says
 * how formats, scratch and errors work). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <new>

#include "kernels/cuda/cuda_impl.h"

extern "C" {
#include "kernels/cuda/biqa_cuda.h"
}

/* cuBLAS's workspace, set explicitly so that it never allocates while a
 * graph is recorded (32 MiB: the size NVIDIA recommends for Hopper). */
#define CUBLAS_WS_BYTES ((size_t)32 << 20)
#define SCRATCH_ALIGN 256

void cu_fatal(const char *file, int line, const char *what, const char *why)
{
    fflush(stdout);
    fprintf(stderr, "biqa: error: cuda: %s:%d: %s: %s\n", file, line, what, why);
    exit(1);
}

/* ---- device memory ---- */

static void account(cu_ctx *c, size_t bytes, int sign)
{
    c->bytes_now = sign > 0 ? c->bytes_now + bytes : c->bytes_now - bytes;
    if (c->bytes_now > c->bytes_peak)
        c->bytes_peak = c->bytes_now;
}

void cu_device_free(cu_ctx *c, void *p, size_t bytes)
{
    if (!p)
        return;
    CUDA_CHECK(cudaFree(p));
    account(c, bytes, -1);
}

/* Retired buffers may still be read by queued work or by the recorded
 * graph; cudaFree waits for the device, and none is freed while a graph
 * is recorded or alive. */
static void free_retired(cu_ctx *c)
{
    if (c->capturing || c->exec)
        return;
    for (auto &r : c->retired)
        cu_device_free(c, r.first, r.second);
    c->retired.clear();
}

void cu_begin(cu_ctx *c)
{
    c->scratch_used = 0;
    if (!c->retired.empty())
        free_retired(c);
}

void *cu_scratch(cu_ctx *c, size_t bytes)
{
    size_t need = (bytes + SCRATCH_ALIGN - 1) / SCRATCH_ALIGN * SCRATCH_ALIGN;
    if (need == 0)
        need = SCRATCH_ALIGN;
    if (c->scratch_used + need > c->scratch_cap) {
        /* Pointers handed out earlier in this op stay valid: the old
         * buffer is retired, not freed. Doubling keeps regrowth rare. */
        size_t cap = c->scratch_cap * 2 > need ? c->scratch_cap * 2 : need;
        if (c->scratch)
            c->retired.push_back({c->scratch, c->scratch_cap});
        void *p = NULL;
        if (cudaMalloc(&p, cap) != cudaSuccess) {
            (void)cudaGetLastError(); /* not sticky: clear it and try the bare need */
            cap = need;
            CUDA_CHECK(cudaMalloc(&p, cap));
        }
        account(c, cap, 1);
        c->scratch = (char *)p;
        c->scratch_cap = cap;
        c->scratch_used = 0;
    }
    void *p = c->scratch + c->scratch_used;
    c->scratch_used += need;
    return p;
}

void *cu_host_to_scratch(cu_ctx *c, const void *host, size_t bytes)
{
    void *dev = cu_scratch(c, bytes);
    if (!bytes)
        return dev;
    if (!c->capturing) {
        /* From pageable memory the copy is staged before the call
         * returns, so the caller may reuse host at once. */
        CUDA_CHECK(cudaMemcpyAsync(dev, host, bytes, cudaMemcpyHostToDevice, c->stream));
        return dev;
    }
    void *pinned = NULL;
    CUDA_CHECK(cudaMallocHost(&pinned, bytes));
    memcpy(pinned, host, bytes);
    c->graph_host.push_back(pinned);
    CUDA_CHECK(cudaMemcpyAsync(dev, pinned, bytes, cudaMemcpyHostToDevice, c->stream));
    return dev;
}

struct host_store {
    const float *from;
    float *to;
};

static void CUDART_CB store_scalar(void *arg)
{
    host_store *s = (host_store *)arg;
    *s->to = *s->from;
}

void cu_scalar_to_host(cu_ctx *c, const float *dev, float *out)
{
    CUDA_CHECK(cudaMemcpyAsync(c->loss_host, dev, sizeof(float), cudaMemcpyDeviceToHost,
                               c->stream));
    if (!c->capturing) {
        CUDA_CHECK(cudaStreamSynchronize(c->stream));
        *out = *c->loss_host;
        return;
    }
    /* The node's argument lives in pinned memory owned by the graph. */
    host_store *s = NULL;
    CUDA_CHECK(cudaMallocHost((void **)&s, sizeof *s));
    s->from = c->loss_host;
    s->to = out;
    c->graph_host.push_back(s);
    CUDA_CHECK(cudaLaunchHostFunc(c->stream, store_scalar, s));
}

/* ---- the memory ops of the table ---- */

static void *be_alloc(biqa_backend *be, size_t bytes)
{
    cu_ctx *c = cu_of(be);
    void *p = NULL;
    size_t size = bytes ? bytes : 1; /* a valid pointer even for empty tensors */
    if (cudaMalloc(&p, size) != cudaSuccess) {
        (void)cudaGetLastError(); /* out of memory is reported by NULL, and is not sticky */
        return NULL;
    }
    c->allocs[(uintptr_t)p] = size;
    account(c, size, 1);
    return p;
}

static void be_free(biqa_backend *be, void *p)
{
    cu_ctx *c = cu_of(be);
    if (!p)
        return;
    auto it = c->allocs.find((uintptr_t)p);
    if (it == c->allocs.end())
        cu_fatal(__FILE__, __LINE__, "free", "pointer not allocated by this backend");
    cu_forget_range(c, p, it->second);
    if (c->capturing) {
        c->graph_free.push_back(p); /* cudaFree would end the recording */
        return;
    }
    CUDA_CHECK(cudaFree(p));
    account(c, it->second, -1);
    c->allocs.erase(it);
}

static void not_while_recording(const cu_ctx *c, const char *what)
{
    if (c->capturing)
        cu_fatal(__FILE__, __LINE__, what, "not allowed while a graph is recorded");
}

static void be_upload(biqa_backend *be, void *dst, const float *src, size_t count)
{
    cu_ctx *c = cu_of(be);
    not_while_recording(c, "upload");
    if (!count)
        return;
    cu_begin(c);
    cu_untag_range(c, dst, count * sizeof(float));
    CUDA_CHECK(cudaMemcpyAsync(dst, src, count * sizeof(float), cudaMemcpyHostToDevice,
                               c->stream));
    /* The caller may free or change src once upload returns, even when it
     * is pinned memory (whose copy would still be in flight). */
    CUDA_CHECK(cudaStreamSynchronize(c->stream));
}

static void be_download(biqa_backend *be, float *dst, const void *src, size_t count)
{
    cu_ctx *c = cu_of(be);
    not_while_recording(c, "download");
    if (!count)
        return;
    cu_begin(c);
    cu_materialise_range(c, src, count * sizeof(float));
    CUDA_CHECK(cudaMemcpyAsync(dst, src, count * sizeof(float), cudaMemcpyDeviceToHost,
                               c->stream));
    CUDA_CHECK(cudaStreamSynchronize(c->stream));
}

/* ---- hooks ---- */

static int sync_error(cudaError_t rc, const char *what, biqa_error *err)
{
    return biqa_fail(err, "cuda: %s: %s", what, cudaGetErrorString(rc));
}

static int be_sync(biqa_backend *be, biqa_error *err)
{
    cu_ctx *c = cu_of(be);
    if (c->capturing)
        return biqa_fail(err, "cuda: sync while a graph is recorded");
    cudaError_t rc = cudaStreamSynchronize(c->stream);
    if (rc == cudaSuccess)
        rc = cudaGetLastError();
    return rc == cudaSuccess ? 0 : sync_error(rc, "sync", err);
}

static void graph_destroy(cu_ctx *c)
{
    if (c->exec)
        CUDA_CHECK(cudaGraphExecDestroy(c->exec));
    if (c->graph)
        CUDA_CHECK(cudaGraphDestroy(c->graph));
    c->exec = NULL;
    c->graph = NULL;
    for (void *p : c->graph_host)
        CUDA_CHECK(cudaFreeHost(p));
    c->graph_host.clear();
}

static int be_graph_begin(biqa_backend *be, biqa_error *err)
{
    cu_ctx *c = cu_of(be);
    if (c->capturing)
        return biqa_fail(err, "cuda: graph_begin while a graph is already recorded");
    CUDA_CHECK(cudaStreamSynchronize(c->stream));
    graph_destroy(c);
    free_retired(c);
    /* Relaxed: the scratch may still grow (cudaMalloc) while recording. */
    cudaError_t rc = cudaStreamBeginCapture(c->stream, cudaStreamCaptureModeRelaxed);
    if (rc != cudaSuccess)
        return sync_error(rc, "cudaStreamBeginCapture", err);
    c->capturing = 1;
    return 0;
}

static int be_graph_end(biqa_backend *be, biqa_error *err)
{
    cu_ctx *c = cu_of(be);
    if (!c->capturing)
        return biqa_fail(err, "cuda: graph_end without graph_begin");
    c->capturing = 0;
    cudaError_t rc = cudaStreamEndCapture(c->stream, &c->graph);
    if (rc == cudaSuccess)
        rc = cudaGraphInstantiate(&c->exec, c->graph, 0);
    for (void *p : c->graph_free) {
        auto it = c->allocs.find((uintptr_t)p);
        CUDA_CHECK(cudaFree(p));
        account(c, it->second, -1);
        c->allocs.erase(it);
    }
    c->graph_free.clear();
    if (rc != cudaSuccess) {
        (void)cudaGetLastError();
        graph_destroy(c);
        return sync_error(rc, "recording the graph", err);
    }
    return 0;
}

static int be_graph_replay(biqa_backend *be, biqa_error *err)
{
    cu_ctx *c = cu_of(be);
    if (!c->exec || c->capturing)
        return biqa_fail(err, "cuda: graph_replay without a recorded graph");
    cudaError_t rc = cudaGraphLaunch(c->exec, c->stream);
    if (rc == cudaSuccess)
        rc = cudaStreamSynchronize(c->stream);
    return rc == cudaSuccess ? 0 : sync_error(rc, "graph replay", err);
}

/* ---- creation ---- */

static void ctx_destroy(cu_ctx *c)
{
    if (c->stream)
        (void)cudaStreamSynchronize(c->stream);
    graph_destroy(c);
    cu_conv_plans_free(c);
    free_retired(c);
    if (c->scratch)
        cu_device_free(c, c->scratch, c->scratch_cap);
    for (auto &a : c->allocs)
        (void)cudaFree((void *)a.first); /* the caller's leaks: freed with the backend */
    if (c->cublas_ws)
        cu_device_free(c, c->cublas_ws, c->cublas_ws_bytes);
    if (c->loss_host)
        (void)cudaFreeHost(c->loss_host);
    if (c->cublas)
        (void)cublasDestroy(c->cublas);
    if (c->cudnn)
        (void)cudnnDestroy(c->cudnn);
    if (c->stream)
        (void)cudaStreamDestroy(c->stream);
    delete c;
}

static void be_destroy(biqa_backend *be)
{
    ctx_destroy(cu_of(be));
    free(be);
}

/* Each step that can fail on a working machine (no device, a library
 * missing or mismatched) is an error, not a fatal exit. */
static int setup(cu_ctx *c, biqa_error *err)
{
    int count = 0;
    cudaError_t rc = cudaGetDeviceCount(&count);
    if (rc != cudaSuccess || count == 0) {
        (void)cudaGetLastError();
        return biqa_fail(err, "backend 'cuda': no CUDA device (%s)",
                         rc != cudaSuccess ? cudaGetErrorString(rc) : "none visible");
    }
    if ((rc = cudaSetDevice(c->device)) != cudaSuccess ||
        (rc = cudaDeviceGetAttribute(&c->sms, cudaDevAttrMultiProcessorCount, c->device)) !=
            cudaSuccess ||
        (rc = cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking)) != cudaSuccess ||
        (rc = cudaMallocHost((void **)&c->loss_host, sizeof(float))) != cudaSuccess ||
        (rc = cudaMalloc(&c->cublas_ws, CUBLAS_WS_BYTES)) != cudaSuccess)
        return biqa_fail(err, "backend 'cuda': device %d: %s", c->device, cudaGetErrorString(rc));
    c->cublas_ws_bytes = CUBLAS_WS_BYTES;
    account(c, CUBLAS_WS_BYTES, 1);
    cudnnStatus_t st = cudnnCreate(&c->cudnn);
    if (st == CUDNN_STATUS_SUCCESS)
        st = cudnnSetStream(c->cudnn, c->stream);
    if (st != CUDNN_STATUS_SUCCESS)
        return biqa_fail(err, "backend 'cuda': cuDNN: %s", cudnnGetErrorString(st));
    cublasStatus_t bs = cublasCreate(&c->cublas);
    if (bs == CUBLAS_STATUS_SUCCESS)
        bs = cublasSetStream(c->cublas, c->stream);
    if (bs == CUBLAS_STATUS_SUCCESS)
        bs = cublasSetWorkspace(c->cublas, c->cublas_ws, c->cublas_ws_bytes);
    /* fp32: products exactly as asked, never TF32 behind the caller's back. */
    if (bs == CUBLAS_STATUS_SUCCESS)
        bs = cublasSetMathMode(c->cublas, c->prec == BIQA_PREC_FP32 ? CUBLAS_PEDANTIC_MATH
                                                                    : CUBLAS_DEFAULT_MATH);
    if (bs != CUBLAS_STATUS_SUCCESS)
        return biqa_fail(err, "backend 'cuda': cuBLAS: %s", cublasGetStatusString(bs));
    return 0;
}

extern "C" biqa_backend *biqa_cuda_backend_create(enum biqa_precision precision, biqa_error *err)
{
    if ((unsigned)precision > BIQA_PREC_BF16) {
        biqa_fail(err, "backend 'cuda': unknown precision %d", (int)precision);
        return NULL;
    }
    biqa_backend *be = (biqa_backend *)calloc(1, sizeof *be);
    cu_ctx *c = be ? new (std::nothrow) cu_ctx() : NULL;
    if (!c) {
        free(be);
        biqa_fail(err, "backend 'cuda': out of memory");
        return NULL;
    }
    c->prec = precision;
    if (setup(c, err) < 0) {
        ctx_destroy(c);
        free(be);
        return NULL;
    }
    be->name = "cuda";
    be->ctx = c;
    be->threads = 1;
    be->precision = precision;
    be->alloc = be_alloc;
    be->free = be_free;
    be->upload = be_upload;
    be->download = be_download;
    be->fill = cu_fill;
    be->copy = cu_copy;
    be->add = cu_add;
    be->axpy = cu_axpy;
    be->relu_fwd = cu_relu_fwd;
    be->relu_bwd = cu_relu_bwd;
    be->conv2d_fwd = cu_conv2d_fwd;
    be->conv2d_bwd = cu_conv2d_bwd;
    be->bn_fwd_train = cu_bn_fwd_train;
    be->bn_fwd_eval = cu_bn_fwd_eval;
    be->bn_bwd = cu_bn_bwd;
    be->maxpool_fwd = cu_maxpool_fwd;
    be->maxpool_bwd = cu_maxpool_bwd;
    be->avgpool_fwd = cu_avgpool_fwd;
    be->avgpool_bwd = cu_avgpool_bwd;
    be->linear_fwd = cu_linear_fwd;
    be->linear_bwd = cu_linear_bwd;
    be->l2norm_fwd = cu_l2norm_fwd;
    be->l2norm_bwd = cu_l2norm_bwd;
    be->infonce_fwd = cu_infonce_fwd;
    be->infonce_bwd = cu_infonce_bwd;
    be->mask = cu_mask;
    be->xent = cu_xent;
    be->regress = cu_regress;
    be->sgd_step = cu_sgd_step;
    be->adamw_step = cu_adamw_step;
    be->ema = cu_ema;
    be->sync = be_sync;
    be->graph_begin = be_graph_begin;
    be->graph_end = be_graph_end;
    be->graph_replay = be_graph_replay;
    be->destroy = be_destroy;
    return be;
}

extern "C" void biqa_cuda_memory(const biqa_backend *be, size_t *now, size_t *peak)
{
    *now = *peak = 0;
    if (be && be->destroy == be_destroy) {
        const cu_ctx *c = (const cu_ctx *)be->ctx;
        *now = c->bytes_now;
        *peak = c->bytes_peak;
    }
}
