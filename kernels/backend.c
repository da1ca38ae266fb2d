#include "kernels/backend.h"

#include <stdio.h>
#include <string.h>

#include "kernels/cpu/cpu.h"
#include "kernels/cuda/biqa_cuda.h"
#include "kernels/ref/ref.h"

static const char *const precision_names[] = {"fp32", "tf32", "bf16"};

int biqa_precision_parse(const char *text, enum biqa_precision *out, biqa_error *err)
{
    for (int i = 0; i < 3; i++)
        if (strcmp(text, precision_names[i]) == 0) {
            *out = (enum biqa_precision)i;
            return 0;
        }
    return biqa_fail(err, "unknown precision '%s' (fp32, tf32 or bf16)", text);
}

const char *biqa_precision_name(enum biqa_precision precision)
{
    return (unsigned)precision < 3 ? precision_names[precision] : "?";
}

biqa_backend *biqa_backend_create_with(const char *name, int threads,
                                       enum biqa_precision precision, biqa_error *err)
{
    if (strcmp(name, "cuda") == 0)
        return biqa_cuda_backend_create(precision, err);
    int known = strcmp(name, "ref") == 0 || strcmp(name, "cpu") == 0;
    if (known && precision != BIQA_PREC_FP32) {
        biqa_fail(err, "backend '%s' computes in fp32 only; precision %s needs the cuda backend",
                  name, biqa_precision_name(precision));
        return NULL;
    }
    if (strcmp(name, "ref") == 0)
        return biqa_ref_backend_create(err);
    if (strcmp(name, "cpu") == 0)
        return biqa_cpu_backend_create(threads, err);
    biqa_fail(err, "unknown backend '%s' (ref, cpu or cuda)", name);
    return NULL;
}

biqa_backend *biqa_backend_create(const char *name, int threads, biqa_error *err)
{
    const char *colon = strchr(name, ':');
    if (!colon)
        return biqa_backend_create_with(name, threads, BIQA_PREC_FP32, err);
    char base[32];
    enum biqa_precision precision = BIQA_PREC_FP32;
    if ((size_t)(colon - name) >= sizeof base) {
        biqa_fail(err, "unknown backend '%s' (ref, cpu or cuda, optionally :PRECISION)", name);
        return NULL;
    }
    if (biqa_precision_parse(colon + 1, &precision, err) < 0) {
        biqa_fail_wrap(err, "backend '%s'", name);
        return NULL;
    }
    snprintf(base, sizeof base, "%.*s", (int)(colon - name), name);
    return biqa_backend_create_with(base, threads, precision, err);
}

void biqa_backend_destroy(biqa_backend *be)
{
    if (be)
        be->destroy(be);
}
