#include "core/safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/file.h"

/* The spec caps the header at 100 MB; anything larger is a corrupt length. */
#define MAX_HEADER (100u << 20)

static const struct {
    const char *name;
    size_t size;
} dtypes[] = {{"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8}, {"I32", 4},
              {"I16", 2}, {"I8", 1},  {"U8", 1},  {"BOOL", 1}, {"U16", 2}, {"U32", 4},
              {"U64", 8}};

static size_t dtype_size(const char *name)
{
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (strcmp(dtypes[i].name, name) == 0)
            return dtypes[i].size;
    return 0;
}

size_t biqa_st_numel(const biqa_st_tensor *t)
{
    size_t n = 1;
    for (int d = 0; d < t->ndim; d++)
        n *= (size_t)t->shape[d];
    return n;
}

/* A JSON number that is a whole number in [0, 2^53). */
static int is_count(const cJSON *v)
{
    return cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 9007199254740992.0 &&
           v->valuedouble == (double)(int64_t)v->valuedouble;
}

static int parse_entry(biqa_safetensors *st, const cJSON *e, biqa_st_tensor *t,
                       size_t data_size, biqa_error *err)
{
    const char *path = st->path;
    t->name = strdup(e->string);
    if (!t->name)
        return biqa_fail(err, "%s: out of memory", path);
    if (biqa_st_find(st, e->string) != t) /* cJSON keeps duplicate keys */
        return biqa_fail(err, "%s: tensor '%s' appears twice", path, e->string);
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(dtype) || !cJSON_IsArray(shape) || !cJSON_IsArray(offs) ||
        cJSON_GetArraySize(offs) != 2)
        return biqa_fail(err, "%s: tensor '%s': needs dtype, shape and two data_offsets", path,
                         e->string);
    size_t esize = dtype_size(dtype->valuestring);
    if (!esize || strlen(dtype->valuestring) >= sizeof t->dtype)
        return biqa_fail(err, "%s: tensor '%s': unknown dtype '%s'", path, e->string,
                         dtype->valuestring);
    strcpy(t->dtype, dtype->valuestring);
    t->ndim = cJSON_GetArraySize(shape);
    if (t->ndim > BIQA_ST_MAX_DIMS)
        return biqa_fail(err, "%s: tensor '%s': %d dimensions (at most %d)", path, e->string,
                         t->ndim, BIQA_ST_MAX_DIMS);
    size_t numel = 1;
    int d = 0;
    for (const cJSON *s = shape->child; s; s = s->next, d++) {
        if (!is_count(s) || s->valuedouble > 1e15)
            return biqa_fail(err, "%s: tensor '%s': bad shape", path, e->string);
        t->shape[d] = (int64_t)s->valuedouble;
        numel *= (size_t)t->shape[d];
    }
    const cJSON *ob = cJSON_GetArrayItem(offs, 0), *oe = cJSON_GetArrayItem(offs, 1);
    if (!is_count(ob) || !is_count(oe))
        return biqa_fail(err, "%s: tensor '%s': data_offsets are not whole numbers", path,
                         e->string);
    double b = ob->valuedouble, end = oe->valuedouble;
    if (!(b >= 0 && end >= b && end <= (double)data_size))
        return biqa_fail(err, "%s: tensor '%s': data_offsets [%.0f, %.0f) outside the %zu data "
                         "bytes (truncated file?)", path, e->string, b, end, data_size);
    t->offset = (size_t)b;
    t->nbytes = (size_t)end - t->offset;
    if (t->nbytes != numel * esize)
        return biqa_fail(err, "%s: tensor '%s': %zu bytes for %zu elements of %s", path,
                         e->string, t->nbytes, numel, t->dtype);
    return 0;
}

/* The spec: __metadata__ is a map of strings to strings. */
static int parse_metadata(biqa_safetensors *st, const cJSON *meta, biqa_error *err)
{
    if (!cJSON_IsObject(meta))
        return biqa_fail(err, "%s: __metadata__ is not an object", st->path);
    if (st->meta) /* cJSON keeps duplicate keys; a second one would overrun meta */
        return biqa_fail(err, "%s: __metadata__ appears twice", st->path);
    size_t n = (size_t)cJSON_GetArraySize(meta);
    st->meta = calloc(2 * n + 1, sizeof *st->meta);
    if (!st->meta)
        return biqa_fail(err, "%s: out of memory", st->path);
    for (const cJSON *m = meta->child; m; m = m->next) {
        if (!cJSON_IsString(m))
            return biqa_fail(err, "%s: __metadata__ value of '%s' is not a string", st->path,
                             m->string);
        st->meta[2 * st->nmeta] = strdup(m->string);
        st->meta[2 * st->nmeta + 1] = strdup(m->valuestring);
        st->nmeta++;
        if (!st->meta[2 * st->nmeta - 2] || !st->meta[2 * st->nmeta - 1])
            return biqa_fail(err, "%s: out of memory", st->path);
    }
    return 0;
}

const char *biqa_st_meta(const biqa_safetensors *st, const char *key)
{
    for (size_t i = 0; i < st->nmeta; i++)
        if (st->meta[2 * i] && strcmp(st->meta[2 * i], key) == 0)
            return st->meta[2 * i + 1];
    return NULL;
}

int biqa_st_open(const char *path, biqa_safetensors *st, biqa_error *err)
{
    memset(st, 0, sizeof *st);
    st->path = strdup(path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        biqa_fail(err, "%s: %s", path, strerror(errno));
        goto fail;
    }
    struct stat sb;
    if (fstat(fd, &sb) < 0 || sb.st_size < 8) {
        close(fd);
        biqa_fail(err, "%s: not a safetensors file (shorter than its 8-byte header length)", path);
        goto fail;
    }
    st->size = (size_t)sb.st_size;
    st->map = mmap(NULL, st->size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (st->map == MAP_FAILED) {
        st->map = NULL;
        biqa_fail(err, "%s: %s", path, strerror(errno));
        goto fail;
    }
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | st->map[i];
    if (hlen > MAX_HEADER || hlen > st->size - 8) {
        biqa_fail(err, "%s: header length %llu does not fit the %zu-byte file", path,
                  (unsigned long long)hlen, st->size);
        goto fail;
    }
    st->data_start = 8 + (size_t)hlen;
    cJSON *root = cJSON_ParseWithLength((const char *)st->map + 8, (size_t)hlen);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        biqa_fail(err, "%s: header is not a JSON object", path);
        goto fail;
    }
    size_t n = 0;
    for (const cJSON *e = root->child; e; e = e->next)
        n += strcmp(e->string, "__metadata__") != 0;
    st->tensors = calloc(n ? n : 1, sizeof *st->tensors);
    for (const cJSON *e = root->child; e && st->tensors; e = e->next) {
        if (strcmp(e->string, "__metadata__") == 0) {
            if (parse_metadata(st, e, err) < 0) {
                cJSON_Delete(root);
                goto fail;
            }
            continue;
        }
        if (parse_entry(st, e, &st->tensors[st->count++], st->size - st->data_start, err) < 0) {
            cJSON_Delete(root);
            goto fail;
        }
    }
    cJSON_Delete(root);
    if (!st->tensors) {
        biqa_fail(err, "%s: out of memory", path);
        goto fail;
    }
    return 0;
fail:
    biqa_st_close(st);
    return -1;
}

void biqa_st_close(biqa_safetensors *st)
{
    if (st->map)
        munmap(st->map, st->size);
    for (size_t i = 0; i < st->count; i++)
        free(st->tensors[i].name);
    free(st->tensors);
    for (size_t i = 0; i < 2 * st->nmeta; i++)
        free(st->meta[i]);
    free(st->meta);
    free(st->path);
    memset(st, 0, sizeof *st);
}

const biqa_st_tensor *biqa_st_find(const biqa_safetensors *st, const char *name)
{
    for (size_t i = 0; i < st->count; i++)
        if (strcmp(st->tensors[i].name, name) == 0)
            return &st->tensors[i];
    return NULL;
}

static float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0x1f)
        bits = sign | 0x7f800000u | man << 13;
    else if (exp == 0) {
        if (man == 0)
            bits = sign;
        else { /* subnormal: renormalise */
            int e = -1;
            do {
                e++;
                man <<= 1;
            } while (!(man & 0x400));
            bits = sign | (uint32_t)(127 - 15 - e) << 23 | (man & 0x3ff) << 13;
        }
    } else
        bits = sign | (exp + 127 - 15) << 23 | man << 13;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

int biqa_st_read_f32(const biqa_safetensors *st, const biqa_st_tensor *t, float *out,
                     biqa_error *err)
{
    const unsigned char *p = st->map + st->data_start + t->offset;
    size_t n = biqa_st_numel(t);
    /* The format is little-endian, as is every machine biqa runs on. */
    if (strcmp(t->dtype, "F32") == 0) {
        memcpy(out, p, n * 4);
    } else if (strcmp(t->dtype, "F64") == 0) {
        for (size_t i = 0; i < n; i++) {
            double d;
            memcpy(&d, p + 8 * i, 8);
            out[i] = (float)d;
        }
    } else if (strcmp(t->dtype, "F16") == 0 || strcmp(t->dtype, "BF16") == 0) {
        int bf = t->dtype[0] == 'B';
        for (size_t i = 0; i < n; i++) {
            uint16_t h = (uint16_t)(p[2 * i] | p[2 * i + 1] << 8);
            if (bf) {
                uint32_t bits = (uint32_t)h << 16;
                memcpy(&out[i], &bits, 4);
            } else {
                out[i] = half_to_float(h);
            }
        }
    } else {
        return biqa_fail(err, "%s: tensor '%s' is %s, not a floating-point type", st->path,
                         t->name, t->dtype);
    }
    return 0;
}

int biqa_st_write(const char *path, const biqa_st_entry *entries, size_t count,
                  const char *metadata_json, biqa_error *err)
{
    cJSON *header = cJSON_CreateObject();
    if (metadata_json) {
        cJSON *meta = cJSON_Parse(metadata_json);
        int strings = cJSON_IsObject(meta);
        for (const cJSON *m = meta ? meta->child : NULL; m && strings; m = m->next)
            strings = cJSON_IsString(m);
        if (!strings) { /* the spec: a map of strings, which biqa_st_open enforces */
            cJSON_Delete(meta);
            cJSON_Delete(header);
            return biqa_fail(err, "%s: metadata is not a JSON object of strings", path);
        }
        cJSON_AddItemToObject(header, "__metadata__", meta);
    }
    size_t offset = 0;
    for (size_t i = 0; i < count; i++) {
        const biqa_st_entry *e = &entries[i];
        const char *dtype = e->dtype ? e->dtype : "F32";
        if (cJSON_GetObjectItemCaseSensitive(header, e->name)) {
            cJSON_Delete(header);
            return biqa_fail(err, "%s: tensor '%s' given twice", path, e->name);
        }
        if (strcmp(dtype, "F32") != 0 && strcmp(dtype, "I64") != 0) {
            cJSON_Delete(header);
            return biqa_fail(err, "%s: tensor '%s': cannot write dtype %s", path, e->name, dtype);
        }
        cJSON *t = cJSON_AddObjectToObject(header, e->name);
        cJSON_AddStringToObject(t, "dtype", dtype);
        cJSON *shape = cJSON_AddArrayToObject(t, "shape");
        size_t numel = 1;
        for (int d = 0; d < e->ndim; d++) {
            cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)e->shape[d]));
            numel *= (size_t)e->shape[d];
        }
        cJSON *offs = cJSON_AddArrayToObject(t, "data_offsets");
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)offset));
        offset += numel * dtype_size(dtype);
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)offset));
    }
    char *json = cJSON_PrintUnformatted(header);
    cJSON_Delete(header);
    if (!json)
        return biqa_fail(err, "%s: out of memory", path);
    /* Pad the header with spaces so the data starts 8-byte aligned, as the
     * reference writer does. */
    size_t hlen = strlen(json), padded = (hlen + 7) / 8 * 8;
    biqa_atomic_file f;
    int rc = biqa_atomic_open(&f, path, err);
    if (rc == 0) {
        unsigned char len[8];
        for (int i = 0; i < 8; i++)
            len[i] = (unsigned char)(padded >> (8 * i));
        rc = biqa_atomic_write(&f, len, 8, err);
        if (rc == 0)
            rc = biqa_atomic_write(&f, json, hlen, err);
        for (size_t i = hlen; i < padded && rc == 0; i++)
            rc = biqa_atomic_write(&f, " ", 1, err);
        for (size_t i = 0; i < count && rc == 0; i++) {
            size_t numel = 1;
            for (int d = 0; d < entries[i].ndim; d++)
                numel *= (size_t)entries[i].shape[d];
            rc = biqa_atomic_write(&f, entries[i].data,
                                   numel * dtype_size(entries[i].dtype ? entries[i].dtype : "F32"),
                                   err);
        }
        rc = rc == 0 ? biqa_atomic_commit(&f, err) : (biqa_atomic_abort(&f), -1);
    }
    cJSON_free(json);
    return rc;
}
