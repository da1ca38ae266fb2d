#include "kernels/backend.h"

#include <string.h>

#include "kernels/cpu/cpu.h"
#include "kernels/ref/ref.h"

biqa_backend *biqa_backend_create(const char *name, int threads, biqa_error *err)
{
    if (strcmp(name, "ref") == 0)
        return biqa_ref_backend_create(err);
    if (strcmp(name, "cpu") == 0)
        return biqa_cpu_backend_create(threads, err);
    if (strcmp(name, "cuda") == 0) {
        biqa_fail(err, "backend 'cuda' is not available yet: it lands with issue #7");
        return NULL;
    }
    biqa_fail(err, "unknown backend '%s' (ref, cpu or cuda)", name);
    return NULL;
}

void biqa_backend_destroy(biqa_backend *be)
{
    if (be)
        be->destroy(be);
}
