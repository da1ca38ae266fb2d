/* safetensors files (https://github.com/huggingface/safetensors, format
 * spec in its README): an 8-byte little-endian header length N, N bytes of
 * JSON mapping each tensor name to {"dtype", "shape", "data_offsets":
 * [begin, end)} relative to the data that follows, plus an optional
 * "__metadata__" object of strings. Checkpoints, model inputs and outputs
 * all use it, so biqa and PyTorch exchange tensors without pickles. */
#ifndef BIQA_CORE_SAFETENSORS_H
#define BIQA_CORE_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#define BIQA_ST_MAX_DIMS 8

typedef struct biqa_st_tensor {
    char *name;
    char dtype[8]; /* "F32", "F16", "BF16", "F64", "I64", "I32", "U8", ... */
    int ndim;
    int64_t shape[BIQA_ST_MAX_DIMS];
    size_t offset, nbytes; /* within the data section */
} biqa_st_tensor;

typedef struct biqa_safetensors {
    char *path;
    unsigned char *map; /* the whole file, mapped read-only */
    size_t size, data_start;
    biqa_st_tensor *tensors;
    size_t count;
    char **meta;       /* __metadata__ as key, value, key, value, ... */
    size_t nmeta;      /* pairs */
} biqa_safetensors;

/* Opens and validates path: header length within the file, JSON well
 * formed, every entry with a known dtype, shape, and offsets inside the
 * data section whose size matches dtype and shape. Errors name the file
 * and the tensor. */
int biqa_st_open(const char *path, biqa_safetensors *st, biqa_error *err);
void biqa_st_close(biqa_safetensors *st);

const biqa_st_tensor *biqa_st_find(const biqa_safetensors *st, const char *name);
/* A string of __metadata__, or NULL. */
const char *biqa_st_meta(const biqa_safetensors *st, const char *key);
size_t biqa_st_numel(const biqa_st_tensor *t);
/* Copies a floating-point tensor (F32, F64, F16, BF16) as float32. */
int biqa_st_read_f32(const biqa_safetensors *st, const biqa_st_tensor *t, float *out,
                     biqa_error *err);

/* One tensor to write: float32 data (dtype NULL or "F32"), or int64 data
 * (dtype "I64", e.g. batch norm's num_batches_tracked, which PyTorch's
 * strict state_dict loading requires). */
typedef struct biqa_st_entry {
    const char *name;
    int ndim;
    int64_t shape[BIQA_ST_MAX_DIMS];
    const void *data;
    const char *dtype;
} biqa_st_entry;

/* Writes entries (in the order given) atomically: a reader never sees a
 * half-written file. metadata may be NULL or a JSON object of string
 * values. */
int biqa_st_write(const char *path, const biqa_st_entry *entries, size_t count,
                  const char *metadata_json, biqa_error *err);

#endif
