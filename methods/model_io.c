#include "methods/model_io.h"

#include <stdlib.h>

int biqa_tensor_from_st(const biqa_safetensors *st, const char *name, biqa_backend *be,
                        biqa_tensor *out, biqa_error *err)
{
    const biqa_st_tensor *t = biqa_st_find(st, name);
    if (!t)
        return biqa_fail(err, "%s: no tensor '%s'", st->path, name);
    int64_t s[4] = {1, 1, 1, 1};
    if (t->ndim == 4)
        for (int d = 0; d < 4; d++)
            s[d] = t->shape[d];
    else if (t->ndim == 2)
        s[0] = t->shape[0], s[1] = t->shape[1];
    else
        return biqa_fail(err, "%s: tensor '%s' has %d dimensions (want N x C x H x W)", st->path,
                         name, t->ndim);
    for (int d = 0; d < 4; d++)
        if (s[d] < 1 || s[d] > (1 << 24))
            return biqa_fail(err, "%s: tensor '%s' has an empty or huge dimension", st->path,
                             name);
    size_t n = biqa_st_numel(t);
    float *host = malloc(n * sizeof *host);
    void *dev = be->alloc(be, n * sizeof(float));
    if (!host || !dev) {
        free(host);
        if (dev)
            be->free(be, dev);
        return biqa_fail(err, "%s: out of memory for '%s'", st->path, name);
    }
    if (biqa_st_read_f32(st, t, host, err) < 0) {
        free(host);
        be->free(be, dev);
        return -1;
    }
    be->upload(be, dev, host, n);
    free(host);
    *out = biqa_view(dev, (int)s[0], (int)s[1], (int)s[2], (int)s[3]);
    return 0;
}

int biqa_weights_classes(const char *path, int *num_classes, biqa_error *err)
{
    biqa_safetensors st;
    if (biqa_st_open(path, &st, err) < 0)
        return -1;
    const biqa_st_tensor *fc = biqa_st_find(&st, "fc.weight");
    int rc = 0;
    *num_classes = 0;
    if (fc && fc->ndim == 2 && fc->shape[0] > 0 && fc->shape[0] < (1 << 24))
        *num_classes = (int)fc->shape[0];
    else if (fc)
        rc = biqa_fail(err, "%s: fc.weight is not a classes x features matrix", path);
    biqa_st_close(&st);
    return rc;
}
