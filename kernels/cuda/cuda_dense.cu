/* Matrix ops through cuBLAS: linear (torch.nn.functional.linear), the
 * InfoNCE logits and their gradients (kernels/ref/ref_loss.c), and the row
 * L2 normalisation (F.normalize). Everything here is float32 row-major at
 * the interface; a row-major (r, c) matrix is cuBLAS's column-major (c, r),
 * so each product below is written for the transposed matrices.
 *
 * Precision (cu_gemm): fp32 runs float32 products (cuBLAS pedantic math);
 * tf32 lets cuBLAS round the operands to TensorFloat-32; bf16 packs both
 * operands as bfloat16 and accumulates in float32, the result float32. */
#include "kernels/cuda/cuda_impl.h"

#define THREADS 256

/* dst (rows x cols, leading dimension rows) = src (leading dimension ld),
 * as bfloat16. */
__global__ void k_pack_bf16(int rows, int cols, const float *src, int ld, bf16 *dst)
{
    size_t n = (size_t)rows * cols;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        size_t r = i % rows, col = i / rows;
        dst[i] = __float2bfloat16_rn(src[col * ld + r]);
    }
}

static const bf16 *pack(cu_ctx *c, int rows, int cols, const float *src, int ld)
{
    bf16 *dst = (bf16 *)cu_scratch(c, (size_t)rows * cols * sizeof(bf16));
    k_pack_bf16<<<cu_blocks(c, (size_t)rows * cols, THREADS), THREADS, 0, c->stream>>>(
        rows, cols, src, ld, dst);
    LAUNCH_CHECK("k_pack_bf16");
    return dst;
}

void cu_gemm(cu_ctx *c, bool ta, bool tb, int m, int n, int k, float alpha, const float *A,
             int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
    if (m == 0 || n == 0)
        return;
    cublasOperation_t oa = ta ? CUBLAS_OP_T : CUBLAS_OP_N, ob = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
    if (c->prec == BIQA_PREC_BF16) {
        /* Stored shapes: A is (m x k) or, transposed, (k x m); B likewise. */
        int ar = ta ? k : m, ac = ta ? m : k, br = tb ? n : k, bc = tb ? k : n;
        const bf16 *a = pack(c, ar, ac, A, lda), *b = pack(c, br, bc, B, ldb);
        CUBLAS_CHECK(cublasGemmEx(c->cublas, oa, ob, m, n, k, &alpha, a, CUDA_R_16BF, ar, b,
                                  CUDA_R_16BF, br, &beta, C, CUDA_R_32F, ldc, CUBLAS_COMPUTE_32F,
                                  CUBLAS_GEMM_DEFAULT));
        return;
    }
    cublasComputeType_t ct =
        c->prec == BIQA_PREC_TF32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
    CUBLAS_CHECK(cublasGemmEx(c->cublas, oa, ob, m, n, k, &alpha, A, CUDA_R_32F, lda, B,
                              CUDA_R_32F, ldb, &beta, C, CUDA_R_32F, ldc, ct,
                              CUBLAS_GEMM_DEFAULT));
}

/* ---- small kernels ---- */

/* y (rows x cols, row-major) += b[col]. */
__global__ void k_add_bias(size_t n, int cols, const float *b, float *y)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        y[i] += b[i % cols];
}

/* db[col] += sum over rows of dy, in double. */
__global__ void k_col_sum(int rows, int cols, const float *dy, float *db)
{
    int col = blockIdx.x * blockDim.x + threadIdx.x;
    if (col >= cols)
        return;
    double s = 0;
    for (int r = 0; r < rows; r++)
        s += dy[(size_t)r * cols + col];
    db[col] += (float)s;
}

/* A block-wide sum (blockDim.x a multiple of 32, at most 1024). */
__device__ float block_sum(float v)
{
    __shared__ float warp[32];
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_down_sync(0xffffffffu, v, o);
    int lane = threadIdx.x & 31, id = threadIdx.x >> 5;
    __syncthreads(); /* warp[] may still be read by a previous call */
    if (lane == 0)
        warp[id] = v;
    __syncthreads();
    float s = 0;
    if (threadIdx.x < 32) {
        s = threadIdx.x < (blockDim.x >> 5) ? warp[threadIdx.x] : 0.0f;
        for (int o = 16; o > 0; o >>= 1)
            s += __shfl_down_sync(0xffffffffu, s, o);
        if (threadIdx.x == 0)
            warp[0] = s;
    }
    __syncthreads();
    return warp[0];
}

/* logits[i * (1 + m)] = q_i . k_i / tau: one block per row. */
__global__ void k_positive(int d, int cols, const float *q, const float *k, float tau,
                           float *logits)
{
    size_t row = blockIdx.x;
    float s = 0;
    for (int j = threadIdx.x; j < d; j += blockDim.x)
        s += q[row * d + j] * k[row * d + j];
    s = block_sum(s);
    if (threadIdx.x == 0)
        logits[row * cols] = s / tau;
}

/* dq += G_i0 k_i / tau; dk = G_i0 q_i / tau (dk may be NULL). */
__global__ void k_positive_grad(int n, int d, int cols, const float *g, const float *q,
                                const float *k, float tau, float *dq, float *dk)
{
    size_t total = (size_t)n * d;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x) {
        float g0 = g[(i / d) * cols] / tau;
        dq[i] += g0 * k[i];
        if (dk)
            dk[i] = g0 * q[i];
    }
}

/* y = x / max(|x|, eps) per row: one block per row. */
__global__ void k_l2norm(int d, const float *x, float eps, float *y)
{
    size_t row = blockIdx.x;
    float s = 0;
    for (int j = threadIdx.x; j < d; j += blockDim.x)
        s += x[row * d + j] * x[row * d + j];
    float norm = sqrtf(block_sum(s)), denom = norm > eps ? norm : eps;
    for (int j = threadIdx.x; j < d; j += blockDim.x)
        y[row * d + j] = x[row * d + j] / denom;
}

/* Where |x| >= eps: dx = (dy - y (y . dy)) / |x|, y = x / |x|; below:
 * dx = dy / eps (PyTorch's clamp_min passes the gradient at equality). */
__global__ void k_l2norm_bwd(int d, const float *x, const float *dy, float eps, float *dx)
{
    size_t row = blockIdx.x;
    float s = 0;
    for (int j = threadIdx.x; j < d; j += blockDim.x)
        s += x[row * d + j] * x[row * d + j];
    float norm = sqrtf(block_sum(s));
    if (norm < eps) {
        for (int j = threadIdx.x; j < d; j += blockDim.x)
            dx[row * d + j] = dy[row * d + j] / eps;
        return;
    }
    float t = 0;
    for (int j = threadIdx.x; j < d; j += blockDim.x)
        t += x[row * d + j] / norm * dy[row * d + j];
    float ydy = block_sum(t);
    for (int j = threadIdx.x; j < d; j += blockDim.x)
        dx[row * d + j] = (dy[row * d + j] - x[row * d + j] / norm * ydy) / norm;
}

/* ---- the ops ---- */

static const float *in(cu_ctx *c, const biqa_tensor *t)
{
    return (const float *)cu_in(c, t, cu_plain());
}

static float *out(cu_ctx *c, const biqa_tensor *t)
{
    return (float *)cu_out(c, t, cu_plain());
}

static int row_len(const biqa_tensor *t) { return (int)(biqa_numel(t) / (size_t)t->n); }

/* y (n, o) = x (n, i) w^T + b; column-major: Y^T (o x n) = W^T... with
 * W stored (i x o): op(W) = T. */
void cu_linear_fwd(biqa_backend *be, const biqa_tensor *x, const biqa_tensor *w,
                   const biqa_tensor *b, biqa_tensor *y)
{
    cu_ctx *c = cu_of(be);
    cu_begin(c);
    int n = x->n, i = row_len(x), o = w->n;
    const float *px = in(c, x), *pw = in(c, w), *pb = b ? in(c, b) : NULL;
    float *py = out(c, y);
    cu_gemm(c, true, false, o, n, i, 1.0f, pw, i, px, i, 0.0f, py, o);
    if (pb && n && o) {
        size_t count = (size_t)n * o;
        k_add_bias<<<cu_blocks(c, count, THREADS), THREADS, 0, c->stream>>>(count, o, pb, py);
        LAUNCH_CHECK("k_add_bias");
    }
}

/* dx (n, i) = dy w: DX^T (i x n) = W^T(stored i x o) DY^T (o x n);
 * dw (o, i) += dy^T x: DW^T (i x o) += X^T (i x n) DY (n x o);
 * db += column sums of dy. */
void cu_linear_bwd(biqa_backend *be, const biqa_tensor *x, const biqa_tensor *w,
                   const biqa_tensor *dy, biqa_tensor *dx, biqa_tensor *dw, biqa_tensor *db)
{
    cu_ctx *c = cu_of(be);
    cu_begin(c);
    int n = x->n, i = row_len(x), o = w->n;
    const float *pdy = in(c, dy);
    if (dx)
        cu_gemm(c, false, false, i, n, o, 1.0f, in(c, w), i, pdy, o, 0.0f, out(c, dx), i);
    if (dw)
        cu_gemm(c, false, true, i, o, n, 1.0f, in(c, x), i, pdy, o, 1.0f, cu_plain_inout(c, dw),
                i);
    if (db && o) {
        k_col_sum<<<(unsigned)((o + THREADS - 1) / THREADS), THREADS, 0, c->stream>>>(
            n, o, pdy, cu_plain_inout(c, db));
        LAUNCH_CHECK("k_col_sum");
    }
}

/* logits (n, 1 + m): column 0 = q.k / tau, columns 1.. = q neg^T / tau:
 * L[:, 1:]^T (m x n, ld 1 + m) = NEG (stored d x m)^T Q (d x n). */
void cu_infonce_fwd(biqa_backend *be, const biqa_tensor *q, const biqa_tensor *k,
                    const biqa_tensor *neg, float tau, biqa_tensor *logits)
{
    cu_ctx *c = cu_of(be);
    cu_begin(c);
    int n = q->n, d = row_len(q), m = neg->n, cols = 1 + m;
    const float *pq = in(c, q), *pk = in(c, k), *pn = in(c, neg);
    float *pl = out(c, logits);
    if (!n)
        return;
    cu_gemm(c, true, false, m, n, d, 1.0f / tau, pn, d, pq, d, 0.0f, pl + 1, cols);
    k_positive<<<(unsigned)n, THREADS, 0, c->stream>>>(d, cols, pq, pk, tau, pl);
    LAUNCH_CHECK("k_positive");
}

/* With G = dlogits, G1 = G[:, 1:] (stored m x n, ld 1 + m):
 * dq = (G1 neg + G_0 k) / tau: DQ^T (d x n) = NEG (d x m) G1^T... (d x m)(m x n);
 * dneg = G1^T q / tau: DNEG^T (d x m) = Q^T (d x n) G1 (n x m). */
void cu_infonce_bwd(biqa_backend *be, const biqa_tensor *q, const biqa_tensor *k,
                    const biqa_tensor *neg, float tau, const biqa_tensor *dlogits,
                    biqa_tensor *dq, biqa_tensor *dk, biqa_tensor *dneg)
{
    cu_ctx *c = cu_of(be);
    cu_begin(c);
    int n = q->n, d = row_len(q), m = neg->n, cols = 1 + m;
    const float *pq = in(c, q), *pk = in(c, k), *pn = in(c, neg), *g = in(c, dlogits);
    float *pdq = out(c, dq), *pdk = dk ? out(c, dk) : NULL;
    if (n) {
        cu_gemm(c, false, false, d, n, m, 1.0f / tau, pn, d, g + 1, cols, 0.0f, pdq, d);
        size_t total = (size_t)n * d;
        k_positive_grad<<<cu_blocks(c, total, THREADS), THREADS, 0, c->stream>>>(
            n, d, cols, g, pq, pk, tau, pdq, pdk);
        LAUNCH_CHECK("k_positive_grad");
    }
    if (dneg)
        cu_gemm(c, false, true, d, m, n, 1.0f / tau, pq, d, g + 1, cols, 0.0f, out(c, dneg), d);
}

void cu_l2norm_fwd(biqa_backend *be, const biqa_tensor *x, float eps, biqa_tensor *y)
{
    cu_ctx *c = cu_of(be);
    cu_begin(c);
    if (!x->n)
        return;
    const float *px = in(c, x);
    k_l2norm<<<(unsigned)x->n, THREADS, 0, c->stream>>>(row_len(x), px, eps, out(c, y));
    LAUNCH_CHECK("k_l2norm");
}

void cu_l2norm_bwd(biqa_backend *be, const biqa_tensor *x, const biqa_tensor *dy, float eps,
                   biqa_tensor *dx)
{
    cu_ctx *c = cu_of(be);
    cu_begin(c);
    if (!x->n)
        return;
    const float *px = in(c, x), *pdy = in(c, dy);
    k_l2norm_bwd<<<(unsigned)x->n, THREADS, 0, c->stream>>>(row_len(x), px, pdy, eps, out(c, dx));
    LAUNCH_CHECK("k_l2norm_bwd");
}
