/* Convolution through cuDNN's descriptor API: activations NHWC, weights
 * converted per call from the interface's OIHW float32 to OHWI (KRSC) in
 * the activation type, the weight gradient converted back and added to
 * the float32 OIHW dw. An algorithm is chosen once per shape and direction
 * (cudnnFind: every algorithm timed; its heuristic instead while a graph
 * is recorded, when nothing may run) and cached; its workspace comes from
 * the shared scratch.
 *
 * fp32 keeps float32 semantics: FMA math only (no TF32), deterministic
 * algorithms only, and no FFT or Winograd (their transforms lose digits
 * the 1e-5 comparison with the ref backend would see). tf32 and bf16 take
 * the fastest algorithm on tensor cores. */
#include <tuple>

#include "kernels/cuda/cuda_impl.h"

#define THREADS 256
/* No algorithm may ask for more workspace than this. */
#define WS_LIMIT ((size_t)4 << 30)

bool cu_conv_key::operator<(const cu_conv_key &b) const
{
    return std::tie(n, c, h, w, o, k, stride, pad) <
           std::tie(b.n, b.c, b.h, b.w, b.o, b.k, b.stride, b.pad);
}

/* ---- kernels ---- */

/* y (NHWC, C channels) += b[channel]. */
template <typename T>
__global__ void k_bias(size_t n, int C, const float *b, T *y)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        cu_st(y, i, cu_ld(y, i) + b[i % C]);
}

/* db[ch] += sum over rows of dy (NHWC: rows x C), in double. */
template <typename T>
__global__ void k_bias_grad(size_t rows, int C, const T *dy, float *db)
{
    int ch = blockIdx.x * blockDim.x + threadIdx.x;
    if (ch >= C)
        return;
    double s = 0;
    for (size_t r = 0; r < rows; r++)
        s += cu_ld(dy, r * C + ch);
    db[ch] += (float)s;
}

/* dw (OIHW float32) += g (OHWI, from cuDNN). */
template <typename T>
__global__ void k_add_filter_grad(size_t n, int I, int KK, const T *g, float *dw)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        size_t s = i % KK, t = i / KK, ch = t % I, o = t / I;
        dw[i] += cu_ld(g, (o * KK + s) * I + ch);
    }
}

/* ---- plans ---- */

static cudnnDataType_t data_type(const cu_ctx *c)
{
    return c->prec == BIQA_PREC_BF16 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT;
}

static cudnnMathType_t wanted_math(const cu_ctx *c)
{
    return c->prec == BIQA_PREC_FP32 ? CUDNN_FMA_MATH : CUDNN_TENSOR_OP_MATH;
}

static cu_conv_plan *plan_for(cu_ctx *c, const biqa_conv_params *p, const biqa_tensor *x,
                              const biqa_tensor *w)
{
    cu_conv_key key = {x->n, x->c, x->h, x->w, w->n, w->h, p->stride, p->pad};
    auto it = c->convs.find(key);
    if (it != c->convs.end())
        return &it->second;
    if (w->c != x->c || w->h != w->w)
        cu_fatal(__FILE__, __LINE__, "conv2d", "weight shape does not fit the input");
    cu_conv_plan pl = {};
    cudnnDataType_t dt = data_type(c);
    CUDNN_CHECK(cudnnCreateTensorDescriptor(&pl.x));
    CUDNN_CHECK(cudnnCreateTensorDescriptor(&pl.y));
    CUDNN_CHECK(cudnnCreateFilterDescriptor(&pl.w));
    CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&pl.conv));
    CUDNN_CHECK(cudnnSetTensor4dDescriptor(pl.x, CUDNN_TENSOR_NHWC, dt, x->n, x->c, x->h, x->w));
    CUDNN_CHECK(cudnnSetFilter4dDescriptor(pl.w, dt, CUDNN_TENSOR_NHWC, w->n, w->c, w->h, w->w));
    /* Accumulation in float32 for every data type (cuDNN's FLOAT_CONFIG
     * and PSEUDO_BFLOAT16_CONFIG). */
    CUDNN_CHECK(cudnnSetConvolution2dDescriptor(pl.conv, p->pad, p->pad, p->stride, p->stride,
                                                1, 1, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    CUDNN_CHECK(cudnnSetConvolutionMathType(pl.conv, wanted_math(c)));
    int on, oc;
    CUDNN_CHECK(cudnnGetConvolution2dForwardOutputDim(pl.conv, pl.x, pl.w, &on, &oc, &pl.oh,
                                                      &pl.ow));
    CUDNN_CHECK(cudnnSetTensor4dDescriptor(pl.y, CUDNN_TENSOR_NHWC, dt, on, oc, pl.oh, pl.ow));
    return &(c->convs[key] = pl);
}

void cu_conv_plans_free(cu_ctx *c)
{
    for (auto &e : c->convs) {
        cu_conv_plan &pl = e.second;
        (void)cudnnDestroyTensorDescriptor(pl.x);
        (void)cudnnDestroyTensorDescriptor(pl.y);
        (void)cudnnDestroyFilterDescriptor(pl.w);
        (void)cudnnDestroyConvolutionDescriptor(pl.conv);
    }
    c->convs.clear();
}

static void check_shape(const cu_conv_plan *pl, const biqa_tensor *x, const biqa_tensor *w,
                        const biqa_tensor *y, const char *op)
{
    if (y->n != x->n || y->c != w->n || y->h != pl->oh || y->w != pl->ow)
        cu_fatal(__FILE__, __LINE__, op, "output shape does not match the convolution");
}

/* Whether an algorithm found for this precision may be used (the file's
 * header says why fp32 is picky). strict: fp32 also wants determinism;
 * the second pass drops that rather than fail on a shape that has no
 * deterministic algorithm (its runs then differ in the last bits). */
template <typename Perf>
static bool usable(const cu_ctx *c, const Perf &p, bool transform, bool strict)
{
    if (p.status != CUDNN_STATUS_SUCCESS || p.memory > WS_LIMIT)
        return false;
    if (c->prec != BIQA_PREC_FP32)
        return true;
    return (!strict || p.determinism == CUDNN_DETERMINISTIC) && !transform &&
           (p.mathType == CUDNN_FMA_MATH || p.mathType == CUDNN_DEFAULT_MATH);
}

/* The first usable result (results come fastest first). */
template <typename Perf>
static int pick(const cu_ctx *c, const Perf *perf, int found, bool (*transform)(int))
{
    for (int strict = 1; strict >= 0; strict--)
        for (int i = 0; i < found; i++)
            if (usable(c, perf[i], transform((int)perf[i].algo), strict))
                return i;
    return -1;
}

static bool fwd_transform(int a)
{
    return a == CUDNN_CONVOLUTION_FWD_ALGO_FFT || a == CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING ||
           a == CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD ||
           a == CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED;
}

static bool bwd_data_transform(int a)
{
    return a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT ||
           a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT_TILING ||
           a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD ||
           a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD_NONFUSED;
}

static bool bwd_filter_transform(int a)
{
    return a == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT ||
           a == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT_TILING ||
           a == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_WINOGRAD ||
           a == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_WINOGRAD_NONFUSED;
}

/* The math type to run a chosen algorithm with: fp32 always FMA (so TF32
 * cannot slip in), otherwise the one it was timed with. */
static cudnnMathType_t run_math(const cu_ctx *c, cudnnMathType_t found)
{
    return c->prec == BIQA_PREC_FP32 ? CUDNN_FMA_MATH : found;
}

#define MAX_ALGOS 16

static void choose_fwd(cu_ctx *c, cu_conv_plan *pl)
{
    cudnnConvolutionFwdAlgoPerf_t perf[MAX_ALGOS];
    int found = 0;
    CUDNN_CHECK(cudnnSetConvolutionMathType(pl->conv, wanted_math(c)));
    if (c->capturing)
        CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(c->cudnn, pl->x, pl->w, pl->conv,
                                                           pl->y, MAX_ALGOS, &found, perf));
    else
        CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithm(c->cudnn, pl->x, pl->w, pl->conv,
                                                         pl->y, MAX_ALGOS, &found, perf));
    int i = pick(c, perf, found, fwd_transform);
    if (i >= 0) {
        pl->fwd = perf[i].algo;
        pl->fwd_math = run_math(c, perf[i].mathType);
        CUDNN_CHECK(cudnnSetConvolutionMathType(pl->conv, pl->fwd_math));
        CUDNN_CHECK(cudnnGetConvolutionForwardWorkspaceSize(c->cudnn, pl->x, pl->w, pl->conv,
                                                            pl->y, pl->fwd, &pl->fwd_ws));
        pl->fwd_ready = 1;
        return;
    }
    cu_fatal(__FILE__, __LINE__, "conv2d_fwd", "cuDNN offers no usable algorithm for this shape");
}

static void choose_bwd_data(cu_ctx *c, cu_conv_plan *pl)
{
    cudnnConvolutionBwdDataAlgoPerf_t perf[MAX_ALGOS];
    int found = 0;
    CUDNN_CHECK(cudnnSetConvolutionMathType(pl->conv, wanted_math(c)));
    if (c->capturing)
        CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(
            c->cudnn, pl->w, pl->y, pl->conv, pl->x, MAX_ALGOS, &found, perf));
    else
        CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithm(c->cudnn, pl->w, pl->y, pl->conv,
                                                              pl->x, MAX_ALGOS, &found, perf));
    int i = pick(c, perf, found, bwd_data_transform);
    if (i >= 0) {
        pl->bwd_data = perf[i].algo;
        pl->bwd_data_math = run_math(c, perf[i].mathType);
        CUDNN_CHECK(cudnnSetConvolutionMathType(pl->conv, pl->bwd_data_math));
        CUDNN_CHECK(cudnnGetConvolutionBackwardDataWorkspaceSize(
            c->cudnn, pl->w, pl->y, pl->conv, pl->x, pl->bwd_data, &pl->bwd_data_ws));
        pl->bwd_data_ready = 1;
        return;
    }
    cu_fatal(__FILE__, __LINE__, "conv2d_bwd (data)",
             "cuDNN offers no usable algorithm for this shape");
}

static void choose_bwd_filter(cu_ctx *c, cu_conv_plan *pl)
{
    cudnnConvolutionBwdFilterAlgoPerf_t perf[MAX_ALGOS];
    int found = 0;
    CUDNN_CHECK(cudnnSetConvolutionMathType(pl->conv, wanted_math(c)));
    if (c->capturing)
        CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(
            c->cudnn, pl->x, pl->y, pl->conv, pl->w, MAX_ALGOS, &found, perf));
    else
        CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithm(
            c->cudnn, pl->x, pl->y, pl->conv, pl->w, MAX_ALGOS, &found, perf));
    int i = pick(c, perf, found, bwd_filter_transform);
    if (i >= 0) {
        pl->bwd_filter = perf[i].algo;
        pl->bwd_filter_math = run_math(c, perf[i].mathType);
        CUDNN_CHECK(cudnnSetConvolutionMathType(pl->conv, pl->bwd_filter_math));
        CUDNN_CHECK(cudnnGetConvolutionBackwardFilterWorkspaceSize(
            c->cudnn, pl->x, pl->y, pl->conv, pl->w, pl->bwd_filter, &pl->bwd_filter_ws));
        pl->bwd_filter_ready = 1;
        return;
    }
    cu_fatal(__FILE__, __LINE__, "conv2d_bwd (filter)",
             "cuDNN offers no usable algorithm for this shape");
}

/* ---- the ops ---- */

void cu_conv2d_fwd(biqa_backend *be, const biqa_conv_params *p, const biqa_tensor *x,
                   const biqa_tensor *w, const biqa_tensor *b, biqa_tensor *y)
{
    cu_ctx *c = cu_of(be);
    cu_begin(c);
    cu_conv_plan *pl = plan_for(c, p, x, w);
    check_shape(pl, x, w, y, "conv2d_fwd");
    if (!pl->fwd_ready)
        choose_fwd(c, pl);
    cu_fmt act = cu_act(c);
    const void *px = cu_in(c, x, act);
    const void *pw = cu_in(c, w, act); /* OIHW -> OHWI: NCHW -> NHWC of (O, I, K, K) */
    const float *pb = b ? (const float *)cu_in(c, b, cu_plain()) : NULL;
    void *py = cu_out(c, y, act);
    void *ws = pl->fwd_ws ? cu_scratch(c, pl->fwd_ws) : NULL;
    const float one = 1, zero = 0;
    CUDNN_CHECK(cudnnSetConvolutionMathType(pl->conv, pl->fwd_math));
    CUDNN_CHECK(cudnnConvolutionForward(c->cudnn, &one, pl->x, px, pl->w, pw, pl->conv, pl->fwd,
                                        ws, pl->fwd_ws, &zero, pl->y, py));
    if (!pb)
        return;
    size_t n = biqa_numel(y);
    unsigned grid = cu_blocks(c, n, THREADS);
    if (act.dtype == DT_BF16)
        k_bias<bf16><<<grid, THREADS, 0, c->stream>>>(n, y->c, pb, (bf16 *)py);
    else
        k_bias<float><<<grid, THREADS, 0, c->stream>>>(n, y->c, pb, (float *)py);
    LAUNCH_CHECK("k_bias");
}

void cu_conv2d_bwd(biqa_backend *be, const biqa_conv_params *p, const biqa_tensor *x,
                   const biqa_tensor *w, const biqa_tensor *dy, biqa_tensor *dx, biqa_tensor *dw,
                   biqa_tensor *db)
{
    cu_ctx *c = cu_of(be);
    cu_begin(c);
    if (!dx && !dw && !db)
        return;
    cu_conv_plan *pl = plan_for(c, p, x, w);
    check_shape(pl, x, w, dy, "conv2d_bwd");
    cu_fmt act = cu_act(c);
    const void *pdy = cu_in(c, dy, act);
    const float one = 1, zero = 0;
    if (dx) {
        if (!pl->bwd_data_ready)
            choose_bwd_data(c, pl);
        const void *pw = cu_in(c, w, act);
        void *pdx = cu_out(c, dx, act);
        void *ws = pl->bwd_data_ws ? cu_scratch(c, pl->bwd_data_ws) : NULL;
        CUDNN_CHECK(cudnnSetConvolutionMathType(pl->conv, pl->bwd_data_math));
        CUDNN_CHECK(cudnnConvolutionBackwardData(c->cudnn, &one, pl->w, pw, pl->y, pdy, pl->conv,
                                                 pl->bwd_data, ws, pl->bwd_data_ws, &zero, pl->x,
                                                 pdx));
    }
    if (dw) {
        if (!pl->bwd_filter_ready)
            choose_bwd_filter(c, pl);
        const void *px = cu_in(c, x, act);
        size_t count = biqa_numel(dw);
        void *g = cu_scratch(c, count * cu_dtype_size(act.dtype));
        void *ws = pl->bwd_filter_ws ? cu_scratch(c, pl->bwd_filter_ws) : NULL;
        CUDNN_CHECK(cudnnSetConvolutionMathType(pl->conv, pl->bwd_filter_math));
        CUDNN_CHECK(cudnnConvolutionBackwardFilter(c->cudnn, &one, pl->x, px, pl->y, pdy,
                                                   pl->conv, pl->bwd_filter, ws,
                                                   pl->bwd_filter_ws, &zero, pl->w, g));
        float *pdw = cu_plain_inout(c, dw);
        unsigned grid = cu_blocks(c, count, THREADS);
        int kk = dw->h * dw->w;
        if (act.dtype == DT_BF16)
            k_add_filter_grad<bf16><<<grid, THREADS, 0, c->stream>>>(count, dw->c, kk,
                                                                     (const bf16 *)g, pdw);
        else
            k_add_filter_grad<float><<<grid, THREADS, 0, c->stream>>>(count, dw->c, kk,
                                                                      (const float *)g, pdw);
        LAUNCH_CHECK("k_add_filter_grad");
    }
    if (db) {
        float *pdb = cu_plain_inout(c, db);
        size_t rows = (size_t)dy->n * dy->h * dy->w;
        unsigned grid = (unsigned)((dy->c + THREADS - 1) / THREADS);
        if (act.dtype == DT_BF16)
            k_bias_grad<bf16><<<grid, THREADS, 0, c->stream>>>(rows, dy->c, (const bf16 *)pdy, pdb);
        else
            k_bias_grad<float><<<grid, THREADS, 0, c->stream>>>(rows, dy->c, (const float *)pdy,
                                                                pdb);
        LAUNCH_CHECK("k_bias_grad");
    }
}
