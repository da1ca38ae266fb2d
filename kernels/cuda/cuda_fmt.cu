/* Storage formats of the CUDA backend: the tags that say which memory
 * holds an activation in NHWC (and bfloat16), the conversions between
 * formats, and materialisation back to the interface's float32 NCHW
 * (cuda_impl.h, "Formats"). */
#include <limits.h>

#include "kernels/cuda/cuda_impl.h"

typedef std::pair<uintptr_t, cu_tag> tag_entry;

static size_t numel(int n, int c, int h, int w) { return (size_t)n * c * h * w; }

/* A tag covers what the tensor occupies in the interface's format: 4 bytes
 * per element (float32, or int32 for max-pool indices). */
static size_t tag_bytes(const cu_tag &g) { return numel(g.n, g.c, g.h, g.w) * 4; }

cu_fmt cu_act(const cu_ctx *c)
{
    return cu_fmt{LY_NHWC, c->prec == BIQA_PREC_BF16 ? DT_BF16 : DT_F32};
}

bool cu_same(cu_fmt a, cu_fmt b, const biqa_tensor *t)
{
    return a.dtype == b.dtype && (a.layout == b.layout || t->c == 1 || t->h * t->w == 1);
}

/* ---- conversion kernels ---- */

__device__ __forceinline__ void move(const int32_t *s, size_t j, int32_t *d, size_t i)
{
    d[i] = s[j];
}
template <typename S, typename D>
__device__ __forceinline__ void move(const S *s, size_t j, D *d, size_t i)
{
    cu_st(d, i, cu_ld(s, j));
}

/* Same layout, another type. */
template <typename S, typename D>
__global__ void k_cast(size_t total, const S *src, D *dst)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x)
        move(src, i, dst, i);
}

/* NCHW <-> NHWC (and a type change): each output element gathers its
 * input; I is the index type (32-bit when the tensor allows: fewer
 * instructions in the divisions). */
template <typename I, typename S, typename D>
__global__ void k_relayout(I total, I C, I HW, int dst_nhwc, const S *src, D *dst)
{
    for (I i = blockIdx.x * blockDim.x + threadIdx.x; i < total; i += gridDim.x * blockDim.x) {
        I n, ch, s;
        if (dst_nhwc) {
            ch = i % C;
            I t = i / C;
            s = t % HW;
            n = t / HW;
        } else {
            s = i % HW;
            I t = i / HW;
            ch = t % C;
            n = t / C;
        }
        I j = dst_nhwc ? (n * C + ch) * HW + s : (n * HW + s) * C + ch;
        move(src, (size_t)j, dst, (size_t)i);
    }
}

template <typename S, typename D>
static void convert_typed(cu_ctx *c, size_t total, int C, int HW, bool relayout, int dst_nhwc,
                          const void *src, void *dst)
{
    const S *s = (const S *)src;
    D *d = (D *)dst;
    unsigned grid = cu_blocks(c, total, 256);
    if (!relayout) {
        k_cast<S, D><<<grid, 256, 0, c->stream>>>(total, s, d);
        LAUNCH_CHECK("k_cast");
    } else if (total <= (size_t)INT_MAX) {
        k_relayout<unsigned, S, D><<<grid, 256, 0, c->stream>>>((unsigned)total, (unsigned)C,
                                                                 (unsigned)HW, dst_nhwc, s, d);
        LAUNCH_CHECK("k_relayout");
    } else {
        k_relayout<size_t, S, D><<<grid, 256, 0, c->stream>>>(total, (size_t)C, (size_t)HW,
                                                               dst_nhwc, s, d);
        LAUNCH_CHECK("k_relayout");
    }
}

void cu_convert(cu_ctx *c, int n, int ch, int h, int w, const void *src, cu_fmt sf, void *dst,
                cu_fmt df)
{
    size_t total = numel(n, ch, h, w);
    if (!total)
        return;
    biqa_tensor shape = biqa_view(NULL, n, ch, h, w);
    bool relayout = !cu_same(cu_fmt{sf.layout, df.dtype}, df, &shape);
    int dst_nhwc = df.layout == LY_NHWC;
    if ((sf.dtype == DT_I32) != (df.dtype == DT_I32))
        cu_fatal(__FILE__, __LINE__, "cu_convert", "int32 indices converted to floats");
    if (sf.dtype == DT_I32)
        convert_typed<int32_t, int32_t>(c, total, ch, h * w, relayout, dst_nhwc, src, dst);
    else if (sf.dtype == DT_F32 && df.dtype == DT_F32)
        convert_typed<float, float>(c, total, ch, h * w, relayout, dst_nhwc, src, dst);
    else if (sf.dtype == DT_F32)
        convert_typed<float, bf16>(c, total, ch, h * w, relayout, dst_nhwc, src, dst);
    else if (df.dtype == DT_F32)
        convert_typed<bf16, float>(c, total, ch, h * w, relayout, dst_nhwc, src, dst);
    else
        convert_typed<bf16, bf16>(c, total, ch, h * w, relayout, dst_nhwc, src, dst);
}

/* ---- tags ---- */

/* Tags overlapping [a, b), copied out (the caller may change the map). */
static std::vector<tag_entry> overlapping(const cu_ctx *c, uintptr_t a, uintptr_t b)
{
    std::vector<tag_entry> out;
    if (a >= b)
        return out;
    auto it = c->tags.upper_bound(a);
    if (it != c->tags.begin()) {
        auto prev = std::prev(it);
        if (prev->first + tag_bytes(prev->second) > a)
            out.push_back(*prev);
    }
    for (; it != c->tags.end() && it->first < b; ++it)
        out.push_back(*it);
    return out;
}

/* Converts a tagged tensor to the interface's format in its own memory,
 * through a copy in scratch, and drops its tag. */
static void materialise(cu_ctx *c, const tag_entry &e)
{
    const cu_tag &g = e.second;
    size_t count = numel(g.n, g.c, g.h, g.w);
    void *at = (void *)e.first;
    void *tmp = cu_scratch(c, count * cu_dtype_size(g.fmt.dtype));
    CUDA_CHECK(cudaMemcpyAsync(tmp, at, count * cu_dtype_size(g.fmt.dtype),
                               cudaMemcpyDeviceToDevice, c->stream));
    c->tags.erase(e.first);
    cu_convert(c, g.n, g.c, g.h, g.w, tmp, g.fmt, at,
               cu_plain(g.fmt.dtype == DT_I32 ? DT_I32 : DT_F32));
}

static uintptr_t start_of(const biqa_tensor *t) { return (uintptr_t)t->data; }
static uintptr_t end_of(const biqa_tensor *t) { return (uintptr_t)t->data + biqa_numel(t) * 4; }

static bool is_exactly(const tag_entry &e, const biqa_tensor *t)
{
    const cu_tag &g = e.second;
    return e.first == start_of(t) && g.n == t->n && g.c == t->c && g.h == t->h && g.w == t->w;
}

cu_fmt cu_fmt_of(cu_ctx *c, const biqa_tensor *t, cu_dtype plain)
{
    std::vector<tag_entry> ov = overlapping(c, start_of(t), end_of(t));
    /* Tags never overlap, so an exact tag is the only one over t. */
    if (ov.size() == 1 && is_exactly(ov[0], t))
        return ov[0].second.fmt;
    for (const tag_entry &e : ov)
        materialise(c, e);
    return cu_plain(plain);
}

const void *cu_in(cu_ctx *c, const biqa_tensor *t, cu_fmt f, cu_dtype plain)
{
    cu_fmt have = cu_fmt_of(c, t, plain);
    if (cu_same(have, f, t))
        return t->data;
    void *tmp = cu_scratch(c, biqa_numel(t) * cu_dtype_size(f.dtype));
    cu_convert(c, t->n, t->c, t->h, t->w, t->data, have, tmp, f);
    return tmp;
}

void *cu_out(cu_ctx *c, const biqa_tensor *t, cu_fmt f, cu_dtype plain)
{
    uintptr_t a = start_of(t), b = end_of(t);
    for (const tag_entry &e : overlapping(c, a, b)) {
        if (e.first >= a && e.first + tag_bytes(e.second) <= b)
            c->tags.erase(e.first); /* overwritten whole */
        else
            materialise(c, e);
    }
    if (!cu_same(f, cu_plain(plain), t) && biqa_numel(t))
        c->tags[a] = cu_tag{t->n, t->c, t->h, t->w, f, {0, 0, 0}};
    return t->data;
}

float *cu_plain_inout(cu_ctx *c, const biqa_tensor *t)
{
    cu_fmt have = cu_fmt_of(c, t, DT_F32);
    if (!cu_same(have, cu_plain(), t))
        materialise(c, *c->tags.find(start_of(t))); /* t's exact tag */
    return (float *)t->data;
}

void cu_untag_range(cu_ctx *c, const void *p, size_t bytes)
{
    uintptr_t a = (uintptr_t)p, b = a + bytes;
    for (const tag_entry &e : overlapping(c, a, b)) {
        if (e.first >= a && e.first + tag_bytes(e.second) <= b)
            c->tags.erase(e.first);
        else
            materialise(c, e);
    }
}

void cu_materialise_range(cu_ctx *c, const void *p, size_t bytes)
{
    for (const tag_entry &e : overlapping(c, (uintptr_t)p, (uintptr_t)p + bytes))
        materialise(c, e);
}

void cu_forget_range(cu_ctx *c, const void *p, size_t bytes)
{
    for (const tag_entry &e : overlapping(c, (uintptr_t)p, (uintptr_t)p + bytes))
        c->tags.erase(e.first);
}
