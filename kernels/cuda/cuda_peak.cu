/* The bf16 matrix peak of this device, measured (METHOD.md: datasheet
 * rates are leads): an n x n x n cuBLASLt product, bf16 operands and
 * result with float32 accumulation, the layout cuBLASLt runs fastest
 * (A transposed, "TN"), on random data (zeros run faster than real data),
 * warmed up, then reps products timed one by one with events; the median
 * gives the rate. Errors here are returned, not fatal: the bench reports
 * them. */
#include <algorithm>
#include <vector>

#include <cublasLt.h>

#include "kernels/cuda/cuda_impl.h"

extern "C" {
#include "kernels/cuda/biqa_cuda.h"
}

#define WARMUP 3
#define WS_BYTES ((size_t)32 << 20)

/* A counter hash to uniform [-1, 1): random, reproducible, no cuRAND. */
__global__ void k_random(size_t n, uint32_t seed, bf16 *x)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        uint32_t h = (uint32_t)i * 2654435761u ^ seed;
        h ^= h >> 16;
        h *= 0x85ebca6bu;
        h ^= h >> 13;
        h *= 0xc2b2ae35u;
        h ^= h >> 16;
        x[i] = __float2bfloat16_rn((float)h / 2147483648.0f - 1.0f);
    }
}

struct peak_run {
    cudaStream_t stream;
    cublasLtHandle_t lt;
    cublasLtMatmulDesc_t op;
    cublasLtMatrixLayout_t a, b, d;
    cublasLtMatmulPreference_t pref;
    void *A, *B, *D, *ws;
    cudaEvent_t start, stop;
};

static void release(peak_run *r)
{
    if (r->stream)
        (void)cudaStreamSynchronize(r->stream);
    void *bufs[] = {r->A, r->B, r->D, r->ws};
    for (void *p : bufs)
        if (p)
            (void)cudaFree(p);
    if (r->start)
        (void)cudaEventDestroy(r->start);
    if (r->stop)
        (void)cudaEventDestroy(r->stop);
    if (r->pref)
        (void)cublasLtMatmulPreferenceDestroy(r->pref);
    if (r->a)
        (void)cublasLtMatrixLayoutDestroy(r->a);
    if (r->b)
        (void)cublasLtMatrixLayoutDestroy(r->b);
    if (r->d)
        (void)cublasLtMatrixLayoutDestroy(r->d);
    if (r->op)
        (void)cublasLtMatmulDescDestroy(r->op);
    if (r->lt)
        (void)cublasLtDestroy(r->lt);
    if (r->stream)
        (void)cudaStreamDestroy(r->stream);
}

static int cuda_fail(cudaError_t rc, const char *what, biqa_error *err)
{
    return biqa_fail(err, "bf16 peak: %s: %s", what, cudaGetErrorString(rc));
}

static int lt_fail(cublasStatus_t rc, const char *what, biqa_error *err)
{
    return biqa_fail(err, "bf16 peak: %s: %s", what, cublasGetStatusString(rc));
}

#define TRY_CUDA(call)                                   \
    do {                                                 \
        cudaError_t rc_ = (call);                        \
        if (rc_ != cudaSuccess)                          \
            return cuda_fail(rc_, #call, err);           \
    } while (0)
#define TRY_LT(call)                                     \
    do {                                                 \
        cublasStatus_t rc_ = (call);                     \
        if (rc_ != CUBLAS_STATUS_SUCCESS)                \
            return lt_fail(rc_, #call, err);             \
    } while (0)

static int measure(peak_run *r, int n, int reps, double *tflops, biqa_error *err)
{
    size_t elems = (size_t)n * n, bytes = elems * sizeof(bf16);
    TRY_CUDA(cudaStreamCreateWithFlags(&r->stream, cudaStreamNonBlocking));
    TRY_CUDA(cudaMalloc(&r->A, bytes));
    TRY_CUDA(cudaMalloc(&r->B, bytes));
    TRY_CUDA(cudaMalloc(&r->D, bytes));
    TRY_CUDA(cudaMalloc(&r->ws, WS_BYTES));
    TRY_CUDA(cudaEventCreate(&r->start));
    TRY_CUDA(cudaEventCreate(&r->stop));
    k_random<<<1024, 256, 0, r->stream>>>(elems, 1u, (bf16 *)r->A);
    TRY_CUDA(cudaGetLastError());
    k_random<<<1024, 256, 0, r->stream>>>(elems, 2u, (bf16 *)r->B);
    TRY_CUDA(cudaGetLastError());

    TRY_LT(cublasLtCreate(&r->lt));
    TRY_LT(cublasLtMatmulDescCreate(&r->op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    cublasOperation_t t = CUBLAS_OP_T;
    TRY_LT(cublasLtMatmulDescSetAttribute(r->op, CUBLASLT_MATMUL_DESC_TRANSA, &t, sizeof t));
    TRY_LT(cublasLtMatrixLayoutCreate(&r->a, CUDA_R_16BF, n, n, n));
    TRY_LT(cublasLtMatrixLayoutCreate(&r->b, CUDA_R_16BF, n, n, n));
    TRY_LT(cublasLtMatrixLayoutCreate(&r->d, CUDA_R_16BF, n, n, n));
    TRY_LT(cublasLtMatmulPreferenceCreate(&r->pref));
    size_t ws = WS_BYTES;
    TRY_LT(cublasLtMatmulPreferenceSetAttribute(r->pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                &ws, sizeof ws));
    cublasLtMatmulHeuristicResult_t best;
    int found = 0;
    TRY_LT(cublasLtMatmulAlgoGetHeuristic(r->lt, r->op, r->a, r->b, r->d, r->d, r->pref, 1, &best,
                                          &found));
    if (found < 1)
        return biqa_fail(err, "bf16 peak: cuBLASLt has no algorithm for %d^3 bf16", n);

    const float one = 1, zero = 0;
    std::vector<float> ms;
    for (int i = 0; i < WARMUP + reps; i++) {
        TRY_CUDA(cudaEventRecord(r->start, r->stream));
        TRY_LT(cublasLtMatmul(r->lt, r->op, &one, r->A, r->a, r->B, r->b, &zero, r->D, r->d, r->D,
                              r->d, &best.algo, r->ws, WS_BYTES, r->stream));
        TRY_CUDA(cudaEventRecord(r->stop, r->stream));
        TRY_CUDA(cudaEventSynchronize(r->stop));
        float t_ms = 0;
        TRY_CUDA(cudaEventElapsedTime(&t_ms, r->start, r->stop));
        if (i >= WARMUP)
            ms.push_back(t_ms);
    }
    std::sort(ms.begin(), ms.end());
    double median = ms[ms.size() / 2] * 1e-3;
    *tflops = 2.0 * n * (double)n * n / median / 1e12;
    return 0;
}

extern "C" int biqa_cuda_bf16_peak(int n, int reps, double *tflops, biqa_error *err)
{
    *tflops = 0;
    if (n < 64 || reps < 1)
        return biqa_fail(err, "bf16 peak: size %d >= 64 and reps %d >= 1 are needed", n, reps);
    peak_run r = {};
    int rc = measure(&r, n, reps, tflops, err);
    release(&r);
    return rc;
}
