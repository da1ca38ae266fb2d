/* Matrix ops on rows: linear, L2 normalisation, InfoNCE logits. Products go
 * to OpenBLAS, run single-threaded inside the backend's own OpenMP workers
 * (cpu.c says why), each worker computing a slab of the output: no worker
 * sums another's partial results, so there is no cross-thread reduction. */
#include <cblas.h>
#include <math.h>

#include "kernels/cpu/cpu_impl.h"

/* Row-major C (M x N) = alpha op(A) op(B) + beta C, the output split in
 * slabs of rows or columns (whichever is longer) over the workers. */
static void gemm(biqa_backend *be, int ta, int tb, int M, int N, int K, float alpha,
                 const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
    const int by_cols = N >= M, len = by_cols ? N : M;
    /* Products under ~2 MFLOP are not worth a fork/join. */
    int parts = (double)M * N * K < 1e6 ? 1 : be->threads;
    if (parts > (len + 15) / 16)
        parts = (len + 15) / 16;
    if (parts < 1)
        parts = 1;
#pragma omp parallel for num_threads(parts) schedule(static)
    for (int t = 0; t < parts; t++) {
        /* Slab bounds in multiples of 16 (a SIMD width of the kernels). */
        int lo = (int)((long)len * t / parts) / 16 * 16;
        int hi = t == parts - 1 ? len : (int)((long)len * (t + 1) / parts) / 16 * 16;
        if (hi <= lo)
            continue;
        const float *a = A, *b = B;
        float *c = C;
        if (by_cols) {
            b += tb ? (long)lo * ldb : lo;
            c += lo;
        } else {
            a += ta ? lo : (long)lo * lda;
            c += (long)lo * ldc;
        }
        cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                    by_cols ? M : hi - lo, by_cols ? hi - lo : N, K, alpha, a, lda, b, ldb, beta,
                    c, ldc);
    }
}

static int cols(const biqa_tensor *t) { return (int)(biqa_numel(t) / (size_t)t->n); }

void biqa_cpu_linear_fwd(biqa_backend *be, const biqa_tensor *x, const biqa_tensor *w,
                         const biqa_tensor *b, biqa_tensor *y)
{
    const int n = x->n, in = cols(x), out = w->n;
    float *py = biqa_f32(y);
    if (b) { /* y = b + x w^T, as torch.addmm */
        const float *pb = biqa_f32(b);
        for (int i = 0; i < n; i++)
            for (int o = 0; o < out; o++)
                py[(long)i * out + o] = pb[o];
    }
    gemm(be, 0, 1, n, out, in, 1.0f, biqa_f32(x), in, biqa_f32(w), in, b ? 1.0f : 0.0f, py, out);
}

void biqa_cpu_linear_bwd(biqa_backend *be, const biqa_tensor *x, const biqa_tensor *w,
                         const biqa_tensor *dy, biqa_tensor *dx, biqa_tensor *dw,
                         biqa_tensor *db)
{
    const int n = x->n, in = cols(x), out = w->n;
    const float *pdy = biqa_f32(dy);
    if (dx)
        gemm(be, 0, 0, n, in, out, 1.0f, pdy, out, biqa_f32(w), in, 0.0f, biqa_f32(dx), in);
    if (dw)
        gemm(be, 1, 0, out, in, n, 1.0f, pdy, out, biqa_f32(x), in, 1.0f, biqa_f32(dw), in);
    if (db) {
        float *pdb = biqa_f32(db);
        for (int o = 0; o < out; o++) {
            double s = 0;
            for (int i = 0; i < n; i++)
                s += pdy[(long)i * out + o];
            pdb[o] += (float)s;
        }
    }
}

static double row_dot(const float *a, const float *b, int d)
{
    double s = 0;
#pragma omp simd reduction(+ : s)
    for (int j = 0; j < d; j++)
        s += (double)a[j] * b[j];
    return s;
}

void biqa_cpu_l2norm_fwd(biqa_backend *be, const biqa_tensor *x, float eps, biqa_tensor *y)
{
    const int n = x->n, d = cols(x);
    const float *px = biqa_f32(x);
    float *py = biqa_f32(y);
#pragma omp parallel for num_threads(be->threads) schedule(static) if ((long)n * d >= CPU_PAR_MIN)
    for (int i = 0; i < n; i++) {
        const float *r = px + (long)i * d;
        double norm = sqrt(row_dot(r, r, d));
        float inv = (float)(1.0 / (norm > eps ? norm : eps));
        for (int j = 0; j < d; j++)
            py[(long)i * d + j] = r[j] * inv;
    }
}

void biqa_cpu_l2norm_bwd(biqa_backend *be, const biqa_tensor *x, const biqa_tensor *dy,
                         float eps, biqa_tensor *dx)
{
    const int n = x->n, d = cols(x);
    const float *px = biqa_f32(x), *pdy = biqa_f32(dy);
    float *pdx = biqa_f32(dx);
#pragma omp parallel for num_threads(be->threads) schedule(static) if ((long)n * d >= CPU_PAR_MIN)
    for (int i = 0; i < n; i++) {
        const float *r = px + (long)i * d, *g = pdy + (long)i * d;
        float *o = pdx + (long)i * d;
        double norm = sqrt(row_dot(r, r, d));
        /* y = x / max(|x|, eps). torch's clamp_min passes the gradient where
         * |x| >= eps: dx = dy / |x| - x (x . dy) / |x|^3; below eps the
         * divisor is the constant eps. */
        if (norm >= eps) {
            float inv = (float)(1.0 / norm), k = (float)(row_dot(r, g, d) / (norm * norm * norm));
            for (int j = 0; j < d; j++)
                o[j] = g[j] * inv - r[j] * k;
        } else {
            for (int j = 0; j < d; j++)
                o[j] = g[j] / eps;
        }
    }
}

void biqa_cpu_infonce_fwd(biqa_backend *be, const biqa_tensor *q, const biqa_tensor *k,
                          const biqa_tensor *neg, float tau, biqa_tensor *logits)
{
    const int n = q->n, d = cols(q), m = neg->n, ld = 1 + m;
    const float *pq = biqa_f32(q), *pk = biqa_f32(k);
    float *pl = biqa_f32(logits);
    for (int i = 0; i < n; i++)
        pl[(long)i * ld] = (float)(row_dot(pq + (long)i * d, pk + (long)i * d, d) / tau);
    gemm(be, 0, 1, n, m, d, 1.0f / tau, pq, d, biqa_f32(neg), d, 0.0f, pl + 1, ld);
}

void biqa_cpu_infonce_bwd(biqa_backend *be, const biqa_tensor *q, const biqa_tensor *k,
                          const biqa_tensor *neg, float tau, const biqa_tensor *dlogits,
                          biqa_tensor *dq, biqa_tensor *dk, biqa_tensor *dneg)
{
    const int n = q->n, d = cols(q), m = neg->n, ld = 1 + m;
    const float *pq = biqa_f32(q), *pk = biqa_f32(k), *pdl = biqa_f32(dlogits);
    float *pdq = biqa_f32(dq);
    /* dq = (dl[:, 1:] neg + dl[:, 0] k) / tau */
    gemm(be, 0, 0, n, d, m, 1.0f / tau, pdl + 1, ld, biqa_f32(neg), d, 0.0f, pdq, d);
    for (int i = 0; i < n; i++) {
        float g = pdl[(long)i * ld] / tau;
        for (int j = 0; j < d; j++)
            pdq[(long)i * d + j] += g * pk[(long)i * d + j];
    }
    if (dk)
        for (int i = 0; i < n; i++) {
            float g = pdl[(long)i * ld] / tau;
            for (int j = 0; j < d; j++)
                biqa_f32(dk)[(long)i * d + j] = g * pq[(long)i * d + j];
        }
    if (dneg) /* dneg = dl[:, 1:]^T q / tau */
        gemm(be, 1, 0, m, d, n, 1.0f / tau, pdl + 1, ld, pq, d, 0.0f, biqa_f32(dneg), d);
}
