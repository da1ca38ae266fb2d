/* Degradation chains: text, samplers, application and the size of the
 * space (see kernels/image/chain.h). */
#include "kernels/image/chain.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/rng.h"

static const char *const STAGE_NAMES[BIQA_STAGES] = {"blur", "resize", "noise", "jpeg"};

int biqa_chain_stage(int type)
{
    switch (type) {
    case BIQA_DEG_GBLUR: case BIQA_DEG_MBLUR: case BIQA_DEG_GGBLUR: case BIQA_DEG_DEFOCUS:
        return BIQA_STAGE_BLUR;
    case BIQA_DEG_RESIZE_NEAREST: case BIQA_DEG_RESIZE_BILINEAR: case BIQA_DEG_RESIZE_BICUBIC:
        return BIQA_STAGE_RESIZE;
    case BIQA_DEG_NOISE: case BIQA_DEG_GREY_NOISE: case BIQA_DEG_ISO:
        return BIQA_STAGE_NOISE;
    case BIQA_DEG_JPEG:
        return BIQA_STAGE_JPEG;
    default:
        return -1;
    }
}

const char *biqa_chain_stage_name(int stage)
{
    return stage >= 0 && stage < BIQA_STAGES ? STAGE_NAMES[stage] : "none";
}

biqa_chain_sampler biqa_chain_sampler_default(void)
{
    return (biqa_chain_sampler){.family = BIQA_SAMPLER_CHAIN, .k = 5,
                                .types = BIQA_CHAIN_ALL_TYPES, .level_min = 1,
                                .level_max = BIQA_DEG_LEVELS, .ordered = 0};
}

/* ---- text ---------------------------------------------------------------- */

/* Every type name, comma-separated, for "unknown type" messages. */
static void type_list(char *buf, size_t len)
{
    size_t at = 0;
    buf[0] = '\0';
    for (int t = 0; t < BIQA_DEG_TYPES && at < len; t++)
        at += (size_t)snprintf(buf + at, len - at, "%s%s", t ? ", " : "",
                               biqa_degrade_info(t)->name);
}

/* [a, b) without surrounding spaces. */
static void trim(const char **a, const char **b)
{
    while (*a < *b && isspace((unsigned char)**a))
        (*a)++;
    while (*b > *a && isspace((unsigned char)(*b)[-1]))
        (*b)--;
}

/* The type called [a, b), or -1. */
static int find_type(const char *a, const char *b)
{
    char name[32];
    if (b - a <= 0 || b - a >= (long)sizeof name)
        return -1;
    memcpy(name, a, (size_t)(b - a));
    name[b - a] = '\0';
    return biqa_degrade_find(name);
}

/* The whole number [a, b) (digits only), saturated at 10^6; -1 if none. */
static int parse_uint(const char *a, const char *b)
{
    if (b - a <= 0)
        return -1;
    int v = 0;
    for (const char *p = a; p < b; p++) {
        if (!isdigit((unsigned char)*p))
            return -1;
        v = v < 1000000 ? 10 * v + (*p - '0') : v;
    }
    return v;
}

static int parse_step(const char *text, int index, const char *a, const char *b,
                      biqa_chain_step *step, biqa_error *err)
{
    trim(&a, &b);
    const char *colon = memchr(a, ':', (size_t)(b - a));
    const int len = b - a < 100 ? (int)(b - a) : 100; /* of the step, as shown */
    if (!colon)
        return biqa_fail(err, "chain \"%.200s\": step %d \"%.*s\": expected TYPE:LEVEL", text,
                         index, len, a);
    const char *na = a, *nb = colon, *la = colon + 1, *lb = b;
    trim(&na, &nb);
    trim(&la, &lb);
    step->type = find_type(na, nb);
    if (step->type < 0) {
        char names[512];
        type_list(names, sizeof names);
        return biqa_fail(err, "chain \"%.200s\": step %d \"%.*s\": unknown type \"%.*s\" "
                              "(types: %s)", text, index, len, a, (int)(nb - na), na, names);
    }
    step->level = parse_uint(la, lb);
    if (step->level < 0)
        return biqa_fail(err, "chain \"%.200s\": step %d \"%.*s\": level \"%.*s\" is not a "
                              "whole number", text, index, len, a, (int)(lb - la), la);
    if (step->level < 1 || step->level > BIQA_DEG_LEVELS)
        return biqa_fail(err, "chain \"%.200s\": step %d \"%.*s\": level %.*s outside 1..%d",
                         text, index, len, a, (int)(lb - la), la, BIQA_DEG_LEVELS);
    return 0;
}

int biqa_chain_parse(const char *text, biqa_chain *out, biqa_error *err)
{
    out->n = 0;
    if (!text)
        return biqa_fail(err, "chain: no text");
    const char *a = text, *b = text + strlen(text);
    trim(&a, &b);
    if (a == b)
        return 0;
    for (const char *p = text;;) {
        const char *end = strchr(p, ',');
        if (!end)
            end = p + strlen(p);
        if (out->n == BIQA_CHAIN_MAX) {
            out->n = 0;
            return biqa_fail(err, "chain \"%.200s\": more than %d steps", text, BIQA_CHAIN_MAX);
        }
        if (parse_step(text, out->n + 1, p, end, &out->steps[out->n], err) < 0) {
            out->n = 0;
            return -1;
        }
        out->n++;
        if (!*end)
            return 0;
        p = end + 1;
    }
}

int biqa_chain_format(const biqa_chain *c, char *buf, size_t len)
{
    size_t at = 0;
    if (len)
        buf[0] = '\0';
    for (int i = 0; i < c->n && i < BIQA_CHAIN_MAX; i++) {
        const biqa_degrade_type *t = biqa_degrade_info(c->steps[i].type);
        char step[48];
        int n = t ? snprintf(step, sizeof step, "%s%s:%d", i ? "," : "", t->name, c->steps[i].level)
                  : snprintf(step, sizeof step, "%s#%d:%d", i ? "," : "", c->steps[i].type,
                             c->steps[i].level);
        if (at < len)
            snprintf(buf + at, len - at, "%s", step);
        at += (size_t)n;
    }
    return (int)at;
}

/* ---- samplers -------------------------------------------------------------- */

/* The allowed types of a stage, as a bit set. */
static uint32_t stage_types(const biqa_chain_sampler *s, int stage)
{
    uint32_t set = 0;
    for (int t = 0; t < BIQA_DEG_TYPES; t++)
        if (biqa_chain_stage(t) == stage && (s->types >> t & 1))
            set |= 1u << t;
    return set;
}

static int popcount(uint32_t v)
{
    int n = 0;
    for (; v; v &= v - 1)
        n++;
    return n;
}

/* The i-th set bit of v (i < popcount(v)). */
static int nth_bit(uint32_t v, int i)
{
    for (int t = 0; t < 32; t++)
        if ((v >> t & 1) && i-- == 0)
            return t;
    return -1;
}

int biqa_chain_sampler_check(const biqa_chain_sampler *s, biqa_error *err)
{
    if (s->family != BIQA_SAMPLER_CHAIN && s->family != BIQA_SAMPLER_SECOND_ORDER)
        return biqa_fail(err, "degrade.family: unknown sampler family %d", (int)s->family);
    if (s->family == BIQA_SAMPLER_CHAIN && (s->k < 1 || s->k > BIQA_CHAIN_MAX))
        return biqa_fail(err, "degrade.k: %d steps per chain is outside 1..%d", s->k,
                         BIQA_CHAIN_MAX);
    if (s->types == 0 || (s->types & ~BIQA_CHAIN_ALL_TYPES))
        return biqa_fail(err, "degrade.types: the type set 0x%x is empty or names types "
                              "beyond the %d", (unsigned)s->types, BIQA_DEG_TYPES);
    if (s->level_min < 1 || s->level_max > BIQA_DEG_LEVELS || s->level_min > s->level_max)
        return biqa_fail(err, "degrade.levels: %d-%d is not a range within 1-%d", s->level_min,
                         s->level_max, BIQA_DEG_LEVELS);
    if (s->family == BIQA_SAMPLER_SECOND_ORDER)
        for (int st = 0; st < BIQA_STAGES; st++)
            if (!stage_types(s, st)) {
                char names[256] = "";
                size_t at = 0;
                for (int t = 0; t < BIQA_DEG_TYPES; t++)
                    if (biqa_chain_stage(t) == st)
                        at += (size_t)snprintf(names + at, sizeof names - at, "%s%s",
                                               at ? ", " : "", biqa_degrade_info(t)->name);
                return biqa_fail(err, "degrade.types: the second-order sampler needs a type "
                                      "of its %s stage (%s), and none is allowed",
                                 STAGE_NAMES[st], names);
            }
    return 0;
}

int biqa_chain_sampler_parse(const char *family, int64_t k, const char *types,
                             const char *levels, const char *order, biqa_chain_sampler *out,
                             biqa_error *err)
{
    *out = biqa_chain_sampler_default();
    if (strcmp(order, "random") != 0 && strcmp(order, "table") != 0)
        return biqa_fail(err, "degrade.order \"%.100s\": not random or table", order);
    out->ordered = strcmp(order, "table") == 0;
    if (strcmp(family, "chain") == 0)
        out->family = BIQA_SAMPLER_CHAIN;
    else if (strcmp(family, "second-order") == 0)
        out->family = BIQA_SAMPLER_SECOND_ORDER;
    else
        return biqa_fail(err, "degrade.family \"%.100s\": not chain or second-order", family);
    if (out->family == BIQA_SAMPLER_CHAIN && (k < 1 || k > BIQA_CHAIN_MAX))
        return biqa_fail(err, "degrade.k: %lld steps per chain is outside 1..%d", (long long)k,
                         BIQA_CHAIN_MAX);
    out->k = out->family == BIQA_SAMPLER_CHAIN ? (int)k : 2 * BIQA_STAGES;
    const char *a = types, *b = types + strlen(types);
    trim(&a, &b);
    if (b - a == 3 && memcmp(a, "all", 3) == 0) {
        out->types = BIQA_CHAIN_ALL_TYPES;
    } else {
        out->types = 0;
        for (const char *p = types;;) {
            const char *end = strchr(p, ',');
            if (!end)
                end = p + strlen(p);
            const char *na = p, *nb = end;
            trim(&na, &nb);
            int t = find_type(na, nb);
            if (t < 0) {
                char names[512];
                type_list(names, sizeof names);
                return biqa_fail(err, "degrade.types \"%.200s\": unknown type \"%.*s\" (all or "
                                      "a comma-separated list of: %s)", types, (int)(nb - na),
                                 na, names);
            }
            out->types |= 1u << t;
            if (!*end)
                break;
            p = end + 1;
        }
    }
    a = levels, b = levels + strlen(levels);
    trim(&a, &b);
    const char *dash = memchr(a, '-', (size_t)(b - a));
    const char *b1 = dash ? dash : b, *a2 = dash ? dash + 1 : a;
    trim(&a, &b1);
    trim(&a2, &b);
    out->level_min = parse_uint(a, b1);
    out->level_max = parse_uint(a2, b);
    if (out->level_min < 1 || out->level_max > BIQA_DEG_LEVELS || out->level_min > out->level_max)
        return biqa_fail(err, "degrade.levels \"%.100s\": expected a range a-b (or one level) "
                              "within 1-%d", levels, BIQA_DEG_LEVELS);
    return biqa_chain_sampler_check(out, err);
}

/* The values of one draw: u64(key, stream, j) for j = 0, 1, ... */
typedef struct drawer {
    uint64_t key, stream, j;
} drawer;

/* The draw's next value, uniform in [0, n). */
static int pick(drawer *d, int n)
{
    return (int)biqa_rng_below(d->key, d->stream, d->j++, (uint64_t)n);
}

static int step_before(const biqa_chain_step *a, const biqa_chain_step *b)
{
    return a->type < b->type || (a->type == b->type && a->level < b->level);
}

void biqa_chain_sample(const biqa_chain_sampler *s, uint64_t seed, uint64_t index,
                       biqa_chain *out)
{
    out->n = 0;
    if (biqa_chain_sampler_check(s, NULL) < 0)
        return;
    /* One key per draw, u64(seed, "chain/sample", index); its values are
     * u64(key, "chain/draw", j) in the order used below. */
    drawer d = {biqa_rng_u64(seed, biqa_rng_stream("chain/sample"), index),
                biqa_rng_stream("chain/draw"), 0};
    const int nlevels = s->level_max - s->level_min + 1;
    if (s->family == BIQA_SAMPLER_CHAIN) {
        const int ntypes = popcount(s->types);
        for (int i = 0; i < s->k; i++) {
            biqa_chain_step st = {nth_bit(s->types, pick(&d, ntypes)),
                                  s->level_min + pick(&d, nlevels)};
            int at = out->n++;
            if (s->ordered) /* insertion into the (type, level) order */
                for (; at > 0 && step_before(&st, &out->steps[at - 1]); at--)
                    out->steps[at] = out->steps[at - 1];
            out->steps[at] = st;
        }
        return;
    }
    for (int round = 0; round < 2; round++) {
        int order[BIQA_STAGES] = {BIQA_STAGE_BLUR, BIQA_STAGE_RESIZE, BIQA_STAGE_NOISE,
                                  BIQA_STAGE_JPEG};
        if (!s->ordered) /* Fisher-Yates */
            for (int i = BIQA_STAGES - 1; i > 0; i--) {
                int r = pick(&d, i + 1), t = order[i];
                order[i] = order[r];
                order[r] = t;
            }
        for (int i = 0; i < BIQA_STAGES; i++) {
            uint32_t set = stage_types(s, order[i]);
            int type = nth_bit(set, pick(&d, popcount(set)));
            out->steps[out->n++] = (biqa_chain_step){type, s->level_min + pick(&d, nlevels)};
        }
    }
}

/* ---- application ----------------------------------------------------------- */

int biqa_chain_apply(const biqa_chain *c, const biqa_image *in, uint64_t seed,
                     biqa_image *out, biqa_error *err)
{
    out->w = out->h = 0;
    out->px = NULL;
    if (c->n < 0 || c->n > BIQA_CHAIN_MAX)
        return biqa_fail(err, "chain: %d steps is outside 0..%d", c->n, BIQA_CHAIN_MAX);
    if (c->n == 0) {
        if (biqa_image_alloc(out, in->w, in->h, "chain", err) < 0)
            return -1;
        memcpy(out->px, in->px, (size_t)3 * in->w * in->h);
        return 0;
    }
    const uint64_t stream = biqa_rng_stream("chain/step");
    biqa_image cur = {0};
    for (int i = 0; i < c->n; i++) {
        biqa_image next;
        if (biqa_degrade_apply_one(i ? &cur : in, c->steps[i].type, c->steps[i].level,
                                   biqa_rng_u64(seed, stream, (uint64_t)i), &next, err) < 0) {
            biqa_image_free(&cur);
            char text[48];
            biqa_chain c1 = {1, {c->steps[i]}};
            biqa_chain_format(&c1, text, sizeof text);
            return biqa_fail_wrap(err, "chain step %d (%s)", i + 1, text);
        }
        biqa_image_free(&cur);
        cur = next;
    }
    *out = cur;
    return 0;
}

/* ---- the size of the space ---------------------------------------------------- */

/* "37129300000 (3.71e10)": exact below 1e15, with a short form from 1e6. */
static void number(double v, char *buf, size_t len)
{
    int e = v > 0 ? (int)floor(log10(v)) : 0;
    double m = v / pow(10, e);
    if (m >= 9.995) /* the mantissa rounds up to 10.00 */
        m /= 10, e++;
    if (v < 1e6)
        snprintf(buf, len, "%.0f", v);
    else if (v < 1e15)
        snprintf(buf, len, "%.0f (%.2fe%d)", v, m, e);
    else
        snprintf(buf, len, "%.2fe%d", m, e);
}

/* C(n + k - 1, k): multisets of k from n. */
static double multisets(double n, int k)
{
    double c = 1;
    for (int i = 1; i <= k; i++)
        c = c * (n + i - 1) / i;
    return round(c);
}

int biqa_chain_space(const biqa_chain_sampler *s, double *size, char *rule, size_t len)
{
    biqa_error err;
    *size = 0;
    if (biqa_chain_sampler_check(s, &err) < 0) {
        snprintf(rule, len, "%s", err.msg);
        return -1;
    }
    const int L = s->level_max - s->level_min + 1;
    char a[64], b[64];
    if (s->family == BIQA_SAMPLER_CHAIN) {
        const int T = popcount(s->types), k = s->k;
        if (!s->ordered) {
            *size = pow((double)T * L, k);
            number(*size, a, sizeof a);
            number(pow(T, k), b, sizeof b);
            snprintf(rule, len, "ordered sequences of %d steps drawn with replacement from %d "
                                "types x %d levels: (%d*%d)^%d = %s chains; %d^%d = %s type "
                                "sequences", k, T, L, T, L, k, a, T, k, b);
        } else {
            *size = multisets((double)T * L, k);
            number(*size, a, sizeof a);
            number(multisets(T, k), b, sizeof b);
            snprintf(rule, len, "multisets of %d steps from %d types x %d levels, applied in "
                                "table order: C(%d+%d-1, %d) = %s chains; C(%d+%d-1, %d) = %s "
                                "type multisets", k, T, L, T * L, k, k, a, T, k, k, b);
        }
        return 0;
    }
    int n[BIQA_STAGES];
    double per_round = s->ordered ? 1 : 24; /* 4! stage orders */
    for (int st = 0; st < BIQA_STAGES; st++) {
        n[st] = popcount(stage_types(s, st));
        per_round *= n[st] * L;
    }
    *size = per_round * per_round;
    number(*size, a, sizeof a);
    snprintf(rule, len, "second-order: 2 rounds, each one step of every stage (blur %d types, "
                        "resize %d, noise %d, jpeg %d) at %d levels, %s: (%s%d*%d*%d*%d*%d^4)^2 "
                        "= %s chains", n[0], n[1], n[2], n[3], L,
             s->ordered ? "stages in fixed order" : "stages in any of 4! orders",
             s->ordered ? "" : "24*", n[0], n[1], n[2], n[3], L, a);
    return 0;
}
