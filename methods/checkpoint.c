/* Checkpoints as safetensors with torchvision's state_dict names. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "methods/model_impl.h"

int biqa_state_add(biqa_state_dict *sd, const char *name, int ndim, const int64_t *shape,
                   biqa_tensor *tensor, int64_t *counter)
{
    if (sd->count == sd->cap) {
        size_t cap = sd->cap ? sd->cap * 2 : 64;
        biqa_state_entry *grown = realloc(sd->entries, cap * sizeof *grown);
        if (!grown)
            return -1;
        sd->entries = grown;
        sd->cap = cap;
    }
    biqa_state_entry *e = &sd->entries[sd->count];
    memset(e, 0, sizeof *e);
    e->name = strdup(name);
    if (!e->name)
        return -1;
    e->ndim = ndim;
    if (ndim > 0) /* a scalar (num_batches_tracked) has no shape */
        memcpy(e->shape, shape, (size_t)ndim * sizeof *shape);
    e->tensor = tensor;
    e->counter = counter;
    sd->count++;
    return 0;
}

void biqa_state_free(biqa_state_dict *sd)
{
    for (size_t i = 0; i < sd->count; i++)
        free(sd->entries[i].name);
    free(sd->entries);
    memset(sd, 0, sizeof *sd);
}

static size_t entry_numel(const biqa_state_entry *e)
{
    size_t n = 1;
    for (int d = 0; d < e->ndim; d++)
        n *= (size_t)e->shape[d];
    return n;
}

int biqa_state_save(const biqa_state_dict *sd, biqa_backend *be, const char *path,
                    const char *metadata_json, biqa_error *err)
{
    biqa_st_entry *out = calloc(sd->count, sizeof *out);
    float **host = calloc(sd->count, sizeof *host);
    int rc = -1;
    if (!out || !host) {
        biqa_fail(err, "%s: out of memory", path);
        goto done;
    }
    for (size_t i = 0; i < sd->count; i++) {
        const biqa_state_entry *e = &sd->entries[i];
        out[i].name = e->name;
        out[i].ndim = e->ndim;
        memcpy(out[i].shape, e->shape, sizeof e->shape);
        if (e->counter) {
            out[i].data = e->counter;
            out[i].dtype = "I64";
            continue;
        }
        host[i] = malloc(entry_numel(e) * sizeof(float));
        if (!host[i]) {
            biqa_fail(err, "%s: out of memory", path);
            goto done;
        }
        be->download(be, host[i], e->tensor->data, entry_numel(e));
        out[i].data = host[i];
    }
    rc = biqa_st_write(path, out, sd->count, metadata_json, err);
done:
    for (size_t i = 0; host && i < sd->count; i++)
        free(host[i]);
    free(host);
    free(out);
    return rc;
}

static void shape_text(const int64_t *shape, int ndim, char *buf, size_t len)
{
    size_t used = (size_t)snprintf(buf, len, "[");
    for (int d = 0; d < ndim && used < len; d++)
        used += (size_t)snprintf(buf + used, len - used, "%s%lld", d ? ", " : "",
                                 (long long)shape[d]);
    if (used < len)
        snprintf(buf + used, len - used, "]");
}

/* Appends "what name" to a bounded problem list. */
static void note(char *list, size_t len, int *count, const char *what, const char *name)
{
    size_t used = strlen(list);
    if (*count < 8 && used < len)
        snprintf(list + used, len - used, "%s%s %s", *count ? "; " : "", what, name);
    (*count)++;
}

int biqa_state_load(const biqa_state_dict *sd, biqa_backend *be, const char *path, int strict,
                    biqa_error *err)
{
    biqa_safetensors st;
    if (biqa_st_open(path, &st, err) < 0)
        return -1;
    char problems[768] = "";
    int nproblems = 0;
    const biqa_st_tensor **match = calloc(sd->count, sizeof *match);
    if (!match) {
        biqa_st_close(&st);
        return biqa_fail(err, "%s: out of memory", path);
    }
    /* Check everything before changing anything: a strict load that fails
     * leaves the model as it was. */
    for (size_t i = 0; i < sd->count; i++) {
        const biqa_state_entry *e = &sd->entries[i];
        const biqa_st_tensor *t = biqa_st_find(&st, e->name);
        if (!t) {
            note(problems, sizeof problems, &nproblems, "missing", e->name);
            continue;
        }
        int same = t->ndim == e->ndim;
        for (int d = 0; same && d < e->ndim; d++)
            same = t->shape[d] == e->shape[d];
        if (!same) {
            char want[64], got[64], what[160];
            shape_text(e->shape, e->ndim, want, sizeof want);
            shape_text(t->shape, t->ndim, got, sizeof got);
            snprintf(what, sizeof what, "shape %s (model %s) of", got, want);
            note(problems, sizeof problems, &nproblems, what, e->name);
            continue;
        }
        match[i] = t;
    }
    for (size_t j = 0; j < st.count; j++) {
        int known = 0;
        for (size_t i = 0; i < sd->count && !known; i++)
            known = strcmp(sd->entries[i].name, st.tensors[j].name) == 0;
        if (!known)
            note(problems, sizeof problems, &nproblems, "unexpected", st.tensors[j].name);
    }
    int rc = 0;
    if (strict && nproblems) {
        rc = biqa_fail(err, "%s: %d key problem(s): %s%s", path, nproblems, problems,
                       nproblems > 8 ? "; ..." : "");
        goto done;
    }
    if (nproblems)
        biqa_warn("%s: loaded what matches; %d key problem(s): %s%s", path, nproblems, problems,
                  nproblems > 8 ? "; ..." : "");
    for (size_t i = 0; i < sd->count && rc == 0; i++) {
        const biqa_state_entry *e = &sd->entries[i];
        const biqa_st_tensor *t = match[i];
        if (!t)
            continue;
        if (e->counter) {
            /* num_batches_tracked: an integer scalar in torchvision. */
            if (strcmp(t->dtype, "I64") == 0)
                memcpy(e->counter, st.map + st.data_start + t->offset, sizeof(int64_t));
            continue;
        }
        float *host = malloc(entry_numel(e) * sizeof *host);
        if (!host) {
            rc = biqa_fail(err, "%s: out of memory", path);
            break;
        }
        rc = biqa_st_read_f32(&st, t, host, err);
        if (rc == 0)
            be->upload(be, e->tensor->data, host, entry_numel(e));
        free(host);
    }
done:
    free(match);
    biqa_st_close(&st);
    return rc;
}
