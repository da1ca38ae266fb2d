/* The CUDA backend's private state and helpers, shared by its .cu files
 * (cuda_backend.cu holds the table; one file per group of ops).
 *
 * Streams: every op is queued on the backend's own stream (non-blocking,
 * so that it can be captured into a CUDA graph), cuDNN and cuBLAS included;
 * only download, xent/regress (for *loss) and sync wait for it.
 *
 * Errors: ops return nothing (kernels/backend.h), and a device that failed
 * leaves every later result undefined, so every CUDA, cuDNN and cuBLAS call
 * and every kernel launch is checked, and a failure prints one line naming
 * the file, line and call and exits with status 1 (llm.c's cudaCheck). Set
 * CUDA_LAUNCH_BLOCKING=1 to see an asynchronous fault at its own launch.
 *
 * Formats: callers see float32 NCHW (kernels/backend.h). Activations (what
 * convolution, batch norm and pooling write) are kept NHWC, in bfloat16
 * under bf16 precision, and each such tensor's start, shape and format is
 * recorded in a tag (cuda_fmt.cu). An op reads an operand through
 * cu_in(), which hands out its memory when it is already stored in the
 * format the op wants and a converted copy in scratch otherwise; a view
 * that does not match a tag (another shape, a pointer inside it) first
 * converts the tagged tensor back to float32 NCHW in place ("materialise"),
 * so any view of any memory reads the values the interface promises.
 * Parameters, gradients, optimiser state, features, logits and losses are
 * never tagged: they stay float32 NCHW.
 *
 * Scratch: one device arena per backend, reset at the start of every op
 * (ops run in stream order, so the previous op's use of it is done before
 * the next one's kernels start): converted operands, reduction partials and
 * the cuDNN workspace all come from it. It only grows; a grown-out buffer
 * is freed once no queued work or recorded graph can still use it. */
#ifndef BIQA_KERNELS_CUDA_CUDA_IMPL_H
#define BIQA_KERNELS_CUDA_CUDA_IMPL_H

#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <cudnn.h>
#include <stddef.h>
#include <stdint.h>

#include <map>
#include <vector>

extern "C" {
#include "kernels/backend.h"
}

typedef __nv_bfloat16 bf16;

/* ---- checked calls ---- */

[[noreturn]] void cu_fatal(const char *file, int line, const char *what, const char *why);

static inline void cu_check_cuda(cudaError_t rc, const char *what, const char *file, int line)
{
    if (rc != cudaSuccess)
        cu_fatal(file, line, what, cudaGetErrorString(rc));
}

static inline void cu_check_cudnn(cudnnStatus_t rc, const char *what, const char *file, int line)
{
    if (rc != CUDNN_STATUS_SUCCESS)
        cu_fatal(file, line, what, cudnnGetErrorString(rc));
}

static inline void cu_check_cublas(cublasStatus_t rc, const char *what, const char *file, int line)
{
    if (rc != CUBLAS_STATUS_SUCCESS)
        cu_fatal(file, line, what, cublasGetStatusString(rc));
}

#define CUDA_CHECK(call) cu_check_cuda((call), #call, __FILE__, __LINE__)
#define CUDNN_CHECK(call) cu_check_cudnn((call), #call, __FILE__, __LINE__)
#define CUBLAS_CHECK(call) cu_check_cublas((call), #call, __FILE__, __LINE__)
/* After every kernel launch: a bad configuration shows here, a fault in a
 * kernel at the next checked call (or here with CUDA_LAUNCH_BLOCKING=1). */
#define LAUNCH_CHECK(kernel) \
    cu_check_cuda(cudaGetLastError(), "launch of " kernel, __FILE__, __LINE__)

/* ---- storage formats ---- */

enum cu_dtype { DT_F32 = 0, DT_BF16 = 1, DT_I32 = 2 };
enum cu_layout { LY_NCHW = 0, LY_NHWC = 1 };

struct cu_fmt {
    cu_layout layout;
    cu_dtype dtype;
};

struct cu_tag {
    int n, c, h, w;
    cu_fmt fmt;
    biqa_pool_params pool; /* max-pool indices: the pooling that wrote them; else zeros */
};

static inline size_t cu_dtype_size(cu_dtype d) { return d == DT_BF16 ? 2 : 4; }

/* ---- convolution plans (cuda_conv.cu) ---- */

struct cu_conv_key {
    int n, c, h, w, o, k, stride, pad;
    bool operator<(const cu_conv_key &b) const;
};

struct cu_conv_plan {
    cudnnTensorDescriptor_t x, y;
    cudnnFilterDescriptor_t w;
    cudnnConvolutionDescriptor_t conv;
    int oh, ow;
    /* per direction: chosen (0: not yet), algorithm, its math type, workspace */
    int fwd_ready, bwd_data_ready, bwd_filter_ready;
    cudnnConvolutionFwdAlgo_t fwd;
    cudnnConvolutionBwdDataAlgo_t bwd_data;
    cudnnConvolutionBwdFilterAlgo_t bwd_filter;
    cudnnMathType_t fwd_math, bwd_data_math, bwd_filter_math;
    size_t fwd_ws, bwd_data_ws, bwd_filter_ws;
};

/* ---- the backend's state ---- */

struct cu_ctx {
    enum biqa_precision prec;
    int device, sms;
    cudaStream_t stream;
    cudnnHandle_t cudnn;
    cublasHandle_t cublas;
    void *cublas_ws;
    size_t cublas_ws_bytes;

    std::map<uintptr_t, size_t> allocs; /* the caller's allocations and their sizes */
    size_t bytes_now, bytes_peak;       /* every device byte the backend holds */
    std::map<uintptr_t, cu_tag> tags;   /* start -> tag; tags never overlap */

    char *scratch;
    size_t scratch_cap, scratch_used;
    std::vector<std::pair<void *, size_t>> retired; /* device buffers awaiting cudaFree */

    std::map<cu_conv_key, cu_conv_plan> convs;

    float *loss_host;  /* pinned: where an op's scalar result lands */
    /* graphs */
    int capturing;
    cudaGraph_t graph;
    cudaGraphExec_t exec;
    std::vector<void *> graph_host;  /* pinned buffers a recorded graph reads */
    std::vector<void *> graph_free;  /* frees asked for while recording */
};

static inline cu_ctx *cu_of(biqa_backend *be) { return (cu_ctx *)be->ctx; }

/* cudaFree with the backend's accounting of its device memory. */
void cu_device_free(cu_ctx *c, void *p, size_t bytes);

/* Scratch: cu_begin() at the start of every op; cu_scratch() hands out
 * bytes (256-byte aligned) valid until the next cu_begin(). */
void cu_begin(cu_ctx *c);
void *cu_scratch(cu_ctx *c, size_t bytes);

/* Host array -> device copy in scratch, in stream order (pinned staging
 * that lives as long as the graph while recording). */
void *cu_host_to_scratch(cu_ctx *c, const void *host, size_t bytes);

/* Lands the device float *dev in *out: waits for the stream, or, while
 * recording, adds a host node that writes *out at each replay. */
void cu_scalar_to_host(cu_ctx *c, const float *dev, float *out);

/* Grid for a grid-stride loop over n elements. */
static inline unsigned cu_blocks(const cu_ctx *c, size_t n, unsigned threads)
{
    size_t want = (n + threads - 1) / threads, cap = (size_t)c->sms * 32;
    if (want < 1)
        want = 1;
    return (unsigned)(want < cap ? want : cap);
}

/* ---- formats (cuda_fmt.cu) ---- */

/* Activations: NHWC, bfloat16 under bf16 precision, else float32. */
cu_fmt cu_act(const cu_ctx *c);
/* The interface's format: NCHW, float32 (int32 for max-pool indices). */
static inline cu_fmt cu_plain(cu_dtype d = DT_F32) { return cu_fmt{LY_NCHW, d}; }
/* Whether a and b lay out a tensor of t's shape identically in memory. */
bool cu_same(cu_fmt a, cu_fmt b, const biqa_tensor *t);
/* The format t is stored in (materialising tags that overlap t without
 * being t's own). plain: the dtype t has when untagged. */
cu_fmt cu_fmt_of(cu_ctx *c, const biqa_tensor *t, cu_dtype plain = DT_F32);
/* t's values in format f: t's memory when stored so, else a copy in scratch. */
const void *cu_in(cu_ctx *c, const biqa_tensor *t, cu_fmt f, cu_dtype plain = DT_F32);
/* t is about to be written whole in format f: tags overlapping t are
 * dropped (when inside it) or materialised; t is tagged unless f is plain. */
void *cu_out(cu_ctx *c, const biqa_tensor *t, cu_fmt f, cu_dtype plain = DT_F32);
/* t for reading and writing in the plain format (materialised if tagged). */
float *cu_plain_inout(cu_ctx *c, const biqa_tensor *t);
/* Raw bytes [p, p + bytes) are about to be overwritten in the plain format
 * (upload, fill), read raw (download), or freed. */
void cu_untag_range(cu_ctx *c, const void *p, size_t bytes);
void cu_materialise_range(cu_ctx *c, const void *p, size_t bytes);
void cu_forget_range(cu_ctx *c, const void *p, size_t bytes);
/* dst (format df) = src (format sf), shape n, c, h, w; F32 <-> BF16
 * converts values, I32 moves only with I32. */
void cu_convert(cu_ctx *c, int n, int ch, int h, int w, const void *src, cu_fmt sf, void *dst,
                cu_fmt df);

/* ---- device helpers ---- */

__device__ __forceinline__ float cu_ld(const float *p, size_t i) { return p[i]; }
__device__ __forceinline__ float cu_ld(const bf16 *p, size_t i) { return __bfloat162float(p[i]); }
__device__ __forceinline__ void cu_st(float *p, size_t i, float v) { p[i] = v; }
__device__ __forceinline__ void cu_st(bf16 *p, size_t i, float v) { p[i] = __float2bfloat16_rn(v); }

/* ---- matrix products (cuda_dense.cu) ----
 * C (m x n, column-major, ldc) = alpha op(A) op(B) + beta C in the
 * backend's precision; A, B, C float32 device memory (fp32: float32
 * products; tf32: TensorFloat-32; bf16: A and B rounded to bfloat16),
 * float32 accumulation. */
void cu_gemm(cu_ctx *c, bool ta, bool tb, int m, int n, int k, float alpha, const float *A,
             int lda, const float *B, int ldb, float beta, float *C, int ldc);

/* ---- the ops, by file ---- */

/* cuda_eltwise.cu */
void cu_fill(biqa_backend *be, biqa_tensor *t, float value);
void cu_copy(biqa_backend *be, biqa_tensor *dst, const biqa_tensor *src);
void cu_add(biqa_backend *be, const biqa_tensor *a, const biqa_tensor *b, biqa_tensor *y);
void cu_axpy(biqa_backend *be, float alpha, const biqa_tensor *x, biqa_tensor *y);
void cu_relu_fwd(biqa_backend *be, const biqa_tensor *x, biqa_tensor *y);
void cu_relu_bwd(biqa_backend *be, const biqa_tensor *y, const biqa_tensor *dy, biqa_tensor *dx);

/* cuda_conv.cu */
void cu_conv2d_fwd(biqa_backend *be, const biqa_conv_params *p, const biqa_tensor *x,
                   const biqa_tensor *w, const biqa_tensor *b, biqa_tensor *y);
void cu_conv2d_bwd(biqa_backend *be, const biqa_conv_params *p, const biqa_tensor *x,
                   const biqa_tensor *w, const biqa_tensor *dy, biqa_tensor *dx, biqa_tensor *dw,
                   biqa_tensor *db);
void cu_conv_plans_free(cu_ctx *c);

/* cuda_bnorm.cu */
void cu_bn_fwd_train(biqa_backend *be, const biqa_tensor *x, const biqa_tensor *gamma,
                     const biqa_tensor *beta, biqa_tensor *running_mean, biqa_tensor *running_var,
                     float momentum, float eps, biqa_tensor *y, biqa_tensor *save_mean,
                     biqa_tensor *save_invstd);
void cu_bn_fwd_eval(biqa_backend *be, const biqa_tensor *x, const biqa_tensor *gamma,
                    const biqa_tensor *beta, const biqa_tensor *running_mean,
                    const biqa_tensor *running_var, float eps, biqa_tensor *y);
void cu_bn_bwd(biqa_backend *be, int batch_stats, const biqa_tensor *x, const biqa_tensor *dy,
               const biqa_tensor *gamma, const biqa_tensor *mean, const biqa_tensor *invstd,
               biqa_tensor *dx, biqa_tensor *dgamma, biqa_tensor *dbeta);

/* cuda_pool.cu */
void cu_maxpool_fwd(biqa_backend *be, const biqa_pool_params *p, const biqa_tensor *x,
                    biqa_tensor *y, int32_t *argmax);
void cu_maxpool_bwd(biqa_backend *be, const biqa_tensor *dy, const int32_t *argmax,
                    biqa_tensor *dx);
void cu_avgpool_fwd(biqa_backend *be, const biqa_tensor *x, biqa_tensor *y);
void cu_avgpool_bwd(biqa_backend *be, const biqa_tensor *dy, biqa_tensor *dx);

/* cuda_dense.cu */
void cu_linear_fwd(biqa_backend *be, const biqa_tensor *x, const biqa_tensor *w,
                   const biqa_tensor *b, biqa_tensor *y);
void cu_linear_bwd(biqa_backend *be, const biqa_tensor *x, const biqa_tensor *w,
                   const biqa_tensor *dy, biqa_tensor *dx, biqa_tensor *dw, biqa_tensor *db);
void cu_infonce_fwd(biqa_backend *be, const biqa_tensor *q, const biqa_tensor *k,
                    const biqa_tensor *neg, float tau, biqa_tensor *logits);
void cu_infonce_bwd(biqa_backend *be, const biqa_tensor *q, const biqa_tensor *k,
                    const biqa_tensor *neg, float tau, const biqa_tensor *dlogits,
                    biqa_tensor *dq, biqa_tensor *dk, biqa_tensor *dneg);
void cu_l2norm_fwd(biqa_backend *be, const biqa_tensor *x, float eps, biqa_tensor *y);
void cu_l2norm_bwd(biqa_backend *be, const biqa_tensor *x, const biqa_tensor *dy, float eps,
                   biqa_tensor *dx);

/* cuda_loss.cu */
void cu_mask(biqa_backend *be, biqa_tensor *t, const int32_t *rows, const int32_t *cols,
             int count, float value);
void cu_xent(biqa_backend *be, const biqa_tensor *logits, const int32_t *labels, float dloss,
             float *loss, biqa_tensor *dlogits);
void cu_regress(biqa_backend *be, int kind, float beta, const biqa_tensor *pred,
                const biqa_tensor *target, float dloss, float *loss, biqa_tensor *dpred);

/* cuda_optim.cu */
void cu_sgd_step(biqa_backend *be, biqa_tensor *p, const biqa_tensor *grad,
                 biqa_tensor *velocity, float lr, float momentum, float weight_decay,
                 int nesterov);
void cu_adamw_step(biqa_backend *be, biqa_tensor *p, const biqa_tensor *grad, biqa_tensor *m,
                   biqa_tensor *v, float lr, float beta1, float beta2, float eps,
                   float weight_decay, int step);
void cu_ema(biqa_backend *be, biqa_tensor *dst, const biqa_tensor *src, float momentum);

#endif
