/* core/safetensors.h: round trip, the float dtypes it converts, every
 * refusal with its message, and atomic writes (fault injection with
 * RLIMIT_FSIZE). Interop with Python: tests/ref/safetensors_interop.py. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/safetensors.h"

static void make_dir(char dir[64])
{
    strcpy(dir, "/tmp/biqa-st-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

/* Entries in dir other than . and .. */
static int count_files(const char *dir)
{
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    char path[512];
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            cr_assert_eq(unlink(path), 0, "%s", path);
        }
    closedir(d);
    cr_assert_eq(rmdir(dir), 0);
}

static void write_bytes(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "%s", path);
    cr_assert_eq(fwrite(data, 1, len, f), len);
    cr_assert_eq(fclose(f), 0);
}

/* A file with the given header text and data bytes (little-endian length). */
static void write_st(const char *path, const char *header, const void *data, size_t len)
{
    size_t hlen = strlen(header), total = 8 + hlen + len;
    unsigned char *buf = malloc(total);
    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
    memcpy(buf + 8, header, hlen);
    if (len)
        memcpy(buf + 8 + hlen, data, len);
    write_bytes(path, buf, total);
    free(buf);
}

Test(safetensors, round_trip_with_metadata)
{
    char dir[64], path[128];
    make_dir(dir);
    snprintf(path, sizeof path, "%s/rt.safetensors", dir);
    float w[24], b[3] = {-1.5f, 0.0f, 1e-30f}, s = 42.0f, dummy = 0;
    int64_t tracked = 1234567890123;
    for (int i = 0; i < 24; i++)
        w[i] = (float)i * 0.37f - 3.0f;
    biqa_st_entry e[5] = {
        {.name = "layer1.0.conv1.weight", .ndim = 4, .shape = {2, 3, 2, 2}, .data = w},
        {.name = "fc.bias", .ndim = 1, .shape = {3}, .data = b, .dtype = "F32"},
        {.name = "scalar", .ndim = 0, .data = &s},
        {.name = "empty", .ndim = 2, .shape = {0, 4}, .data = &dummy},
        {.name = "bn1.num_batches_tracked", .ndim = 0, .data = &tracked, .dtype = "I64"},
    };
    biqa_error err = {{0}};
    cr_assert_eq(biqa_st_write(path, e, 5, "{\"epoch\":\"3\",\"note\":\"a \\\"b\\\"\"}", &err), 0,
                 "%s", err.msg);
    cr_assert_eq(count_files(dir), 1, "a temporary file was left behind");

    biqa_safetensors st;
    cr_assert_eq(biqa_st_open(path, &st, &err), 0, "%s", err.msg);
    cr_assert_eq(st.count, 5);
    cr_assert_eq(st.data_start % 8, 0, "data not 8-byte aligned");
    for (size_t i = 0; i < 5; i++) {
        const biqa_st_tensor *t = &st.tensors[i];
        cr_assert_str_eq(t->name, e[i].name);
        cr_assert_str_eq(t->dtype, i == 4 ? "I64" : "F32");
        cr_assert_eq(t->ndim, e[i].ndim);
        for (int d = 0; d < t->ndim; d++)
            cr_assert_eq(t->shape[d], e[i].shape[d]);
        cr_assert_eq(biqa_st_find(&st, e[i].name), t);
    }
    cr_assert_eq(biqa_st_numel(&st.tensors[2]), 1);
    cr_assert_eq(biqa_st_numel(&st.tensors[3]), 0);
    cr_assert_eq(st.tensors[0].nbytes, sizeof w);
    cr_assert_null(biqa_st_find(&st, "fc.weight"));

    float got[24];
    cr_assert_eq(biqa_st_read_f32(&st, &st.tensors[0], got, &err), 0, "%s", err.msg);
    cr_assert_eq(memcmp(got, w, sizeof w), 0);
    cr_assert_eq(biqa_st_read_f32(&st, &st.tensors[1], got, &err), 0, "%s", err.msg);
    cr_assert_eq(memcmp(got, b, sizeof b), 0);
    cr_assert_eq(biqa_st_read_f32(&st, &st.tensors[2], got, &err), 0, "%s", err.msg);
    cr_assert_eq(got[0], 42.0f);
    const biqa_st_tensor *ti = &st.tensors[4];
    int64_t tracked_got;
    cr_assert_eq(ti->nbytes, 8);
    memcpy(&tracked_got, st.map + st.data_start + ti->offset, 8);
    cr_assert_eq(tracked_got, tracked);

    cr_assert_eq(st.nmeta, 2);
    cr_assert_str_eq(biqa_st_meta(&st, "epoch"), "3");
    cr_assert_str_eq(biqa_st_meta(&st, "note"), "a \"b\"");
    cr_assert_null(biqa_st_meta(&st, "step"));
    biqa_st_close(&st);
    remove_dir(dir);
}

Test(safetensors, reads_f16_bf16_f64_as_f32)
{
    char dir[64], path[128];
    make_dir(dir);
    snprintf(path, sizeof path, "%s/types.safetensors", dir);
    /* Bit patterns from the IEEE 754 binary16 and bfloat16 definitions. */
    static const uint16_t h[11] = {0x3C00, 0xC000, 0x3555, 0x7BFF, 0x0400, 0x0001,
                                   0x03FF, 0x8000, 0x7C00, 0xFC00, 0x7E00};
    const float h_want[11] = {1.0f, -2.0f, 1365.0f / 4096.0f, 65504.0f, ldexpf(1, -14),
                              ldexpf(1, -24), ldexpf(1023, -24), -0.0f, INFINITY, -INFINITY,
                              NAN};
    static const uint16_t bf[6] = {0x3F80, 0xC020, 0x4049, 0x0001, 0x7F80, 0xFFC0};
    const float bf_want[6] = {1.0f, -2.5f, 3.140625f, ldexpf(1, -133), INFINITY, NAN};
    static const double d[4] = {0.1, -1e-40, 2.5, 1e39};
    const float d_want[4] = {0.1f, -1e-40f, 2.5f, INFINITY};
    unsigned char data[22 + 12 + 32];
    memcpy(data, h, 22); /* little-endian host, as the format */
    memcpy(data + 22, bf, 12);
    memcpy(data + 34, d, 32);
    write_st(path,
             "{\"h\":{\"dtype\":\"F16\",\"shape\":[11],\"data_offsets\":[0,22]},"
             "\"bf\":{\"dtype\":\"BF16\",\"shape\":[2,3],\"data_offsets\":[22,34]},"
             "\"d\":{\"dtype\":\"F64\",\"shape\":[4],\"data_offsets\":[34,66]},"
             "\"i\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[34,42]}}",
             data, sizeof data);
    biqa_safetensors st;
    biqa_error err = {{0}};
    cr_assert_eq(biqa_st_open(path, &st, &err), 0, "%s", err.msg);
    float got[11];
    struct {
        const char *name;
        const float *want;
        int n;
    } cases[3] = {{"h", h_want, 11}, {"bf", bf_want, 6}, {"d", d_want, 4}};
    for (int c = 0; c < 3; c++) {
        const biqa_st_tensor *t = biqa_st_find(&st, cases[c].name);
        cr_assert_not_null(t);
        cr_assert_eq(biqa_st_read_f32(&st, t, got, &err), 0, "%s", err.msg);
        for (int i = 0; i < cases[c].n; i++) {
            float w = cases[c].want[i];
            if (isnan(w))
                cr_assert(isnan(got[i]), "%s[%d] = %g, not NaN", cases[c].name, i, got[i]);
            else
                cr_assert(got[i] == w && signbit(got[i]) == signbit(w),
                          "%s[%d] = %a, want %a", cases[c].name, i, got[i], w);
        }
    }
    cr_assert_eq(biqa_st_read_f32(&st, biqa_st_find(&st, "i"), got, &err), -1);
    char want[256];
    snprintf(want, sizeof want, "%s: tensor 'i' is I64, not a floating-point type", path);
    cr_assert_str_eq(err.msg, want);
    biqa_st_close(&st);
    remove_dir(dir);
}

struct bad_file {
    const char *what, *header; /* header NULL: raw bytes below */
    const char *raw;
    size_t raw_len, data_len;
    const char *msg; /* after "<path>: " */
};

Test(safetensors, refusals_name_file_and_tensor)
{
    static const struct bad_file cases[] = {
        {"shorter than 8 bytes", NULL, "\x05\0\0\0\0", 5, 0,
         "not a safetensors file (shorter than its 8-byte header length)"},
        {"empty", NULL, "", 0, 0,
         "not a safetensors file (shorter than its 8-byte header length)"},
        {"header length beyond the file", NULL, "\xe8\x03\0\0\0\0\0\0{}        ", 18, 0,
         "header length 1000 does not fit the 18-byte file"},
        {"non-JSON header", "{\"x\": {\"dtype\": ", NULL, 0, 0, "header is not a JSON object"},
        {"JSON array header", "[1, 2]", NULL, 0, 0, "header is not a JSON object"},
        {"unknown dtype", "{\"x\":{\"dtype\":\"F8\",\"shape\":[1],\"data_offsets\":[0,1]}}", NULL,
         0, 1, "tensor 'x': unknown dtype 'F8'"},
        {"missing offsets", "{\"x\":{\"dtype\":\"F32\",\"shape\":[1]}}", NULL, 0, 4,
         "tensor 'x': needs dtype, shape and two data_offsets"},
        {"size not matching shape",
         "{\"x\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,12]}}", NULL, 0, 12,
         "tensor 'x': 12 bytes for 4 elements of F32"},
        {"offsets outside the data",
         "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"y\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}",
         NULL, 0, 20, "tensor 'y': data_offsets [8, 24) outside the 20 data bytes (truncated file?)"},
        {"metadata not strings", "{\"__metadata__\":{\"epoch\":3}}", NULL, 0, 0,
         "__metadata__ value of 'epoch' is not a string"},
        {"metadata twice", "{\"__metadata__\":{\"a\":\"1\"},\"__metadata__\":{\"b\":\"2\"}}", NULL,
         0, 0, "__metadata__ appears twice"},
        {"tensor twice",
         "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
         "\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
         NULL, 0, 8, "tensor 'x' appears twice"},
        {"offsets not numbers", "{\"x\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[\"a\",\"b\"]}}",
         NULL, 0, 0, "tensor 'x': data_offsets are not whole numbers"},
        {"fractional shape", "{\"x\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}",
         NULL, 0, 4, "tensor 'x': bad shape"},
    };
    char dir[64], path[128], want[512];
    make_dir(dir);
    unsigned char zeros[64] = {0};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct bad_file *c = &cases[i];
        snprintf(path, sizeof path, "%s/bad%zu.safetensors", dir, i);
        if (c->header)
            write_st(path, c->header, zeros, c->data_len);
        else
            write_bytes(path, c->raw, c->raw_len);
        biqa_safetensors st;
        biqa_error err = {{0}};
        cr_assert_eq(biqa_st_open(path, &st, &err), -1, "%s: opened", c->what);
        snprintf(want, sizeof want, "%s: %s", path, c->msg);
        cr_assert_str_eq(err.msg, want, "%s", c->what);
        cr_assert_null(st.map, "%s: left mapped", c->what);
        cr_assert_eq(st.count, 0);
        biqa_st_close(&st); /* closing a failed open again is harmless */
    }
    snprintf(path, sizeof path, "%s/missing.safetensors", dir);
    biqa_safetensors st;
    biqa_error err = {{0}};
    cr_assert_eq(biqa_st_open(path, &st, &err), -1);
    snprintf(want, sizeof want, "%s: No such file or directory", path);
    cr_assert_str_eq(err.msg, want);
    remove_dir(dir);
}

Test(safetensors, failed_writes_leave_no_file)
{
    char dir[64], path[128], want[512];
    make_dir(dir);
    float x[4] = {1, 2, 3, 4};
    biqa_st_entry e = {.name = "x", .ndim = 1, .shape = {4}, .data = x};
    biqa_error err = {{0}};

    snprintf(path, sizeof path, "%s/no/such/dir.safetensors", dir);
    cr_assert_eq(biqa_st_write(path, &e, 1, NULL, &err), -1);
    cr_assert(strstr(err.msg, "cannot create a temporary file beside it"), "%s", err.msg);

    snprintf(path, sizeof path, "%s/meta.safetensors", dir);
    cr_assert_eq(biqa_st_write(path, &e, 1, "[\"not an object\"]", &err), -1);
    snprintf(want, sizeof want, "%s: metadata is not a JSON object of strings", path);
    cr_assert_str_eq(err.msg, want);
    /* The reader refuses non-string metadata, so the writer must too. */
    cr_assert_eq(biqa_st_write(path, &e, 1, "{\"epoch\": 3}", &err), -1);
    cr_assert_str_eq(err.msg, want);
    biqa_st_entry twice[2] = {e, e};
    cr_assert_eq(biqa_st_write(path, twice, 2, NULL, &err), -1);
    snprintf(want, sizeof want, "%s: tensor 'x' given twice", path);
    cr_assert_str_eq(err.msg, want);

    biqa_st_entry f16 = {.name = "h", .ndim = 1, .shape = {4}, .data = x, .dtype = "F16"};
    cr_assert_eq(biqa_st_write(path, &f16, 1, NULL, &err), -1);
    snprintf(want, sizeof want, "%s: tensor 'h': cannot write dtype F16", path);
    cr_assert_str_eq(err.msg, want);
    cr_assert_eq(count_files(dir), 0);

    /* A write that fails half-way (the file-size limit: EFBIG) leaves the
     * previous file intact and no temporary beside it. */
    snprintf(path, sizeof path, "%s/ckpt.safetensors", dir);
    cr_assert_eq(biqa_st_write(path, &e, 1, NULL, &err), 0, "%s", err.msg);
    size_t n = 1 << 16;
    float *big = calloc(n, sizeof *big);
    biqa_st_entry be = {.name = "big", .ndim = 1, .shape = {(int64_t)n}, .data = big};
    struct rlimit old, small = {4096, 4096};
    cr_assert_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
    small.rlim_max = old.rlim_max;
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &small), 0);
    int rc = biqa_st_write(path, &be, 1, NULL, &err);
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, old_handler);
    free(big);
    cr_assert_eq(rc, -1, "the write past the file-size limit succeeded");
    snprintf(want, sizeof want, "%s: File too large", path);
    cr_assert_str_eq(err.msg, want);
    cr_assert_eq(count_files(dir), 1, "a temporary file was left behind");
    biqa_safetensors st;
    cr_assert_eq(biqa_st_open(path, &st, &err), 0, "%s", err.msg);
    cr_assert_eq(st.count, 1);
    cr_assert_str_eq(st.tensors[0].name, "x");
    biqa_st_close(&st);
    remove_dir(dir);
}
