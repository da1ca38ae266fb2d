/* Masking matrix entries (a handful per row, for contrastive losses):
 * scattered single stores, not worth threads. */
#include "kernels/cpu/cpu_impl.h"

void biqa_cpu_mask(biqa_backend *be, biqa_tensor *t, const int32_t *rows, const int32_t *cols,
                   int count, float value)
{
    (void)be;
    size_t m = biqa_numel(t) / (size_t)t->n;
    float *d = biqa_f32(t);
    for (int i = 0; i < count; i++)
        d[(size_t)rows[i] * m + (size_t)cols[i]] = value;
}
