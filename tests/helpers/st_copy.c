/* st_copy IN.safetensors OUT.safetensors: reads IN with core/safetensors.h
 * and writes every floating-point tensor (F32, F64, F16, BF16), converted to
 * F32, to OUT in IN's order with IN's __metadata__; prints "skipped NAME
 * DTYPE" for each other tensor. For tests/ref/safetensors_interop.py. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/safetensors.h"

static int is_float(const char *dtype)
{
    return !strcmp(dtype, "F32") || !strcmp(dtype, "F64") || !strcmp(dtype, "F16") ||
           !strcmp(dtype, "BF16");
}

/* IN's metadata as JSON text (NULL when it has none). */
static char *metadata_json(const biqa_safetensors *st)
{
    if (!st->nmeta)
        return NULL;
    cJSON *meta = cJSON_CreateObject();
    for (size_t i = 0; i < st->nmeta; i++)
        cJSON_AddStringToObject(meta, st->meta[2 * i], st->meta[2 * i + 1]);
    char *json = cJSON_PrintUnformatted(meta);
    cJSON_Delete(meta);
    return json;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: st_copy IN.safetensors OUT.safetensors\n");
        return 2;
    }
    biqa_error err = {{0}};
    biqa_safetensors st;
    if (biqa_st_open(argv[1], &st, &err) < 0) {
        fprintf(stderr, "st_copy: %s\n", err.msg);
        return 1;
    }
    biqa_st_entry *e = calloc(st.count ? st.count : 1, sizeof *e);
    char *meta = metadata_json(&st);
    size_t n = 0;
    int rc = e ? 0 : biqa_fail(&err, "out of memory");
    for (size_t i = 0; i < st.count && rc == 0; i++) {
        const biqa_st_tensor *t = &st.tensors[i];
        if (!is_float(t->dtype)) {
            printf("skipped %s %s\n", t->name, t->dtype);
            continue;
        }
        float *data = malloc(biqa_st_numel(t) ? biqa_st_numel(t) * sizeof(float) : 1);
        if (!data) {
            rc = biqa_fail(&err, "out of memory");
            break;
        }
        e[n].name = t->name;
        e[n].ndim = t->ndim;
        memcpy(e[n].shape, t->shape, sizeof e[n].shape);
        e[n].dtype = "F32";
        e[n++].data = data;
        rc = biqa_st_read_f32(&st, t, data, &err);
    }
    if (rc == 0)
        rc = biqa_st_write(argv[2], e, n, meta, &err);
    if (rc < 0)
        fprintf(stderr, "st_copy: %s\n", err.msg);
    for (size_t i = 0; i < n; i++)
        free((void *)e[i].data);
    free(e);
    cJSON_free(meta);
    biqa_st_close(&st);
    return rc < 0;
}
