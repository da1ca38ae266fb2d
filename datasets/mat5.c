/* MATLAB level-5 MAT-file reader (datasets/mat5.h). Every length read from
 * the file is checked against the bytes that remain before it is used. */
#include "datasets/mat5.h"

#include <archive.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"

/* Data types and array classes, as numbered in the format's tables 1-1, 1-3. */
enum {
    miINT8 = 1, miUINT8 = 2, miINT16 = 3, miUINT16 = 4, miINT32 = 5, miUINT32 = 6,
    miSINGLE = 7, miDOUBLE = 9, miINT64 = 12, miUINT64 = 13, miMATRIX = 14,
    miCOMPRESSED = 15, miUTF8 = 16, miUTF16 = 17, miUTF32 = 18
};
enum { mxCELL = 1, mxCHAR = 4, mxDOUBLE = 6, mxUINT64 = 15 };
enum { FLAG_COMPLEX = 0x08 }; /* in the array flags' second byte */

#define MAX_DEPTH 16                      /* cells inside cells */
#define MAX_INFLATED ((size_t)256 << 20)  /* one compressed element, decompressed */

typedef struct ctx {
    const char *file;
    size_t element;  /* top-level element, 1-based */
    const char *var; /* its variable, once its name is read */
    biqa_error *err;
} ctx;

__attribute__((format(printf, 2, 3))) static int bad(const ctx *c, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (c->var && *c->var)
        return biqa_fail(c->err, "%s: element %zu (variable '%s'): %s", c->file, c->element,
                         c->var, msg);
    return biqa_fail(c->err, "%s: element %zu: %s", c->file, c->element, msg);
}

static uint16_t le16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t le64(const unsigned char *p) { return le32(p) | (uint64_t)le32(p + 4) << 32; }

typedef struct elem {
    uint32_t type, nbytes;
    const unsigned char *data;
} elem;

/* The element at buf[*at]; *at moves past it and its padding to 8 bytes
 * (none after miCOMPRESSED data, as MATLAB writes it; a missing final pad
 * is tolerated). A tag whose upper 16 bits are set is the small format:
 * size in those bits, type in the lower ones, data in the next 4 bytes. */
static int next_elem(const ctx *c, const unsigned char *buf, size_t len, size_t *at, elem *e)
{
    size_t rest = len - *at;
    if (rest < 8)
        return bad(c, "truncated: %zu bytes where an 8-byte element tag is due", rest);
    uint32_t w = le32(buf + *at);
    if (w >> 16) {
        e->type = w & 0xffff, e->nbytes = w >> 16, e->data = buf + *at + 4;
        *at += 8;
        return e->nbytes <= 4 ? 0 : bad(c, "small data element claims %u bytes (at most 4)",
                                        e->nbytes);
    }
    e->type = w, e->nbytes = le32(buf + *at + 4), e->data = buf + *at + 8;
    if (e->nbytes > rest - 8)
        return bad(c, "truncated: an element of type %u claims %u bytes, %zu remain", e->type,
                   e->nbytes, rest - 8);
    size_t adv = 8 + (size_t)e->nbytes;
    if (e->type != miCOMPRESSED)
        adv = (adv + 7) & ~(size_t)7;
    *at += adv < rest ? adv : rest;
    return 0;
}

/* Bytes per value of a numeric or character data type, 0 for others. */
static size_t type_size(uint32_t t)
{
    switch (t) {
    case miINT8: case miUINT8: case miUTF8: return 1;
    case miINT16: case miUINT16: case miUTF16: return 2;
    case miINT32: case miUINT32: case miSINGLE: case miUTF32: return 4;
    case miDOUBLE: case miINT64: case miUINT64: return 8;
    default: return 0;
    }
}

static double num_at(uint32_t t, const unsigned char *p, size_t i)
{
    switch (t) {
    case miINT8: return (int8_t)p[i];
    case miUINT8: return p[i];
    case miINT16: return (int16_t)le16(p + 2 * i);
    case miUINT16: return le16(p + 2 * i);
    case miINT32: return (int32_t)le32(p + 4 * i);
    case miUINT32: return le32(p + 4 * i);
    case miINT64: return (double)(int64_t)le64(p + 8 * i);
    case miUINT64: return (double)le64(p + 8 * i);
    case miSINGLE: {
        uint32_t b = le32(p + 4 * i);
        float f;
        memcpy(&f, &b, sizeof f);
        return f;
    }
    default: { /* miDOUBLE */
        uint64_t b = le64(p + 8 * i);
        double d;
        memcpy(&d, &b, sizeof d);
        return d;
    }
    }
}

static void var_free(biqa_mat_var *v)
{
    if (v->cells)
        for (size_t i = 0; i < v->rows * v->cols; i++)
            var_free(&v->cells[i]);
    free(v->name), free(v->num), free(v->chars), free(v->cells);
    memset(v, 0, sizeof *v);
}

/* Code points of UTF-8 text into out (n of them expected). */
static int utf8_decode(const ctx *c, const unsigned char *p, size_t len, uint32_t *out, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < len;) {
        unsigned b = p[i];
        int extra = b < 0x80 ? 0 : (b & 0xe0) == 0xc0 ? 1 : (b & 0xf0) == 0xe0 ? 2
                                  : (b & 0xf8) == 0xf0 ? 3 : -1;
        if (extra < 0 || i + (size_t)extra >= len)
            return bad(c, "char data: invalid UTF-8 at byte %zu", i);
        uint32_t cp = extra ? b & (0x3fu >> extra) : b;
        for (int j = 1; j <= extra; j++) {
            if ((p[i + (size_t)j] & 0xc0) != 0x80)
                return bad(c, "char data: invalid UTF-8 at byte %zu", i);
            cp = cp << 6 | (p[i + (size_t)j] & 0x3f);
        }
        if (k == n)
            return bad(c, "char data holds more than the %zu characters of its dimensions", n);
        out[k++] = cp;
        i += (size_t)extra + 1;
    }
    return k == n ? 0 : bad(c, "char data holds %zu characters for %zu of its dimensions", k, n);
}

static int parse_array(ctx *c, const unsigned char *buf, size_t len, biqa_mat_var *v, int depth);

/* The data after an array's name, by class. */
static int parse_body(ctx *c, const unsigned char *buf, size_t len, size_t at, int cls,
                      int complex, biqa_mat_var *v, int depth)
{
    size_t n = v->rows * v->cols;
    elem e;
    if (cls >= mxDOUBLE && cls <= mxUINT64 && !complex) {
        v->kind = BIQA_MAT_NUMERIC;
        if (next_elem(c, buf, len, &at, &e) < 0)
            return -1;
        size_t sz = type_size(e.type);
        if (!sz || e.type == miUTF8 || e.type == miUTF16 || e.type == miUTF32)
            return bad(c, "numeric data of type %u", e.type);
        if (e.nbytes % sz || e.nbytes / sz != n)
            return bad(c, "real part holds %u bytes for a %zux%zu array of %zu-byte values",
                       e.nbytes, v->rows, v->cols, sz);
        if (!(v->num = malloc((n ? n : 1) * sizeof *v->num)))
            return bad(c, "out of memory");
        for (size_t i = 0; i < n; i++)
            v->num[i] = num_at(e.type, e.data, i);
        return 0;
    }
    if (cls == mxCHAR) {
        v->kind = BIQA_MAT_CHAR;
        if (next_elem(c, buf, len, &at, &e) < 0)
            return -1;
        size_t sz = type_size(e.type);
        if (!sz || e.type == miSINGLE || e.type == miDOUBLE || sz == 8)
            return bad(c, "char data of type %u", e.type);
        if (!(v->chars = malloc((n ? n : 1) * sizeof *v->chars)))
            return bad(c, "out of memory");
        if (e.type == miUTF8)
            return utf8_decode(c, e.data, e.nbytes, v->chars, n);
        if (e.nbytes % sz || e.nbytes / sz != n)
            return bad(c, "char data holds %u bytes for a %zux%zu array of %zu-byte characters",
                       e.nbytes, v->rows, v->cols, sz);
        for (size_t i = 0; i < n; i++)
            v->chars[i] = sz == 1 ? e.data[i] : sz == 2 ? le16(e.data + 2 * i)
                                                        : le32(e.data + 4 * i);
        return 0;
    }
    if (cls == mxCELL) {
        v->kind = BIQA_MAT_CELL;
        if (depth >= MAX_DEPTH)
            return bad(c, "cells nested deeper than %d", MAX_DEPTH);
        if (!(v->cells = calloc(n ? n : 1, sizeof *v->cells)))
            return bad(c, "out of memory");
        for (size_t i = 0; i < n; i++) {
            if (next_elem(c, buf, len, &at, &e) < 0)
                return -1;
            if (e.type != miMATRIX)
                return bad(c, "cell %zu is an element of type %u, not miMATRIX", i + 1, e.type);
            if (parse_array(c, e.data, e.nbytes, &v->cells[i], depth + 1) < 0)
                return -1;
        }
        return 0;
    }
    v->kind = BIQA_MAT_OTHER; /* struct, object, sparse, complex, ...: not read */
    return 0;
}

/* The contents of one miMATRIX element: flags, dimensions, name, data. */
static int parse_array(ctx *c, const unsigned char *buf, size_t len, biqa_mat_var *v, int depth)
{
    v->mx_class = mxDOUBLE, v->kind = BIQA_MAT_NUMERIC;
    if (!(v->name = strdup("")))
        return bad(c, "out of memory");
    if (len == 0) { /* MATLAB writes an empty cell entry as an empty miMATRIX */
        v->num = malloc(sizeof *v->num);
        return v->num ? 0 : bad(c, "out of memory");
    }
    size_t at = 0;
    elem flags, dims, name;
    if (next_elem(c, buf, len, &at, &flags) < 0)
        return -1;
    if (flags.type != miUINT32 || flags.nbytes != 8)
        return bad(c, "array flags: type %u of %u bytes, expected miUINT32 of 8", flags.type,
                   flags.nbytes);
    uint32_t fw = le32(flags.data);
    int cls = (int)(fw & 0xff), complex = (fw >> 8 & 0xff) & FLAG_COMPLEX;
    v->mx_class = cls;
    if (next_elem(c, buf, len, &at, &dims) < 0)
        return -1;
    if (dims.type != miINT32 || dims.nbytes < 8 || dims.nbytes % 4)
        return bad(c, "dimensions: type %u of %u bytes, expected at least two miINT32",
                   dims.type, dims.nbytes);
    size_t d[2] = {1, 1};
    for (uint32_t k = 0; k < dims.nbytes / 4; k++) {
        int32_t x = (int32_t)le32(dims.data + 4 * k);
        if (x < 0)
            return bad(c, "dimension %u is negative (%d)", k + 1, x);
        size_t *slot = &d[k ? 1 : 0];
        if (x && *slot > ((size_t)1 << 40) / (size_t)x)
            return bad(c, "dimensions too large");
        *slot = k < 2 ? (size_t)x : *slot * (size_t)x;
    }
    if (d[0] && d[1] > ((size_t)1 << 40) / d[0])
        return bad(c, "dimensions too large");
    if (next_elem(c, buf, len, &at, &name) < 0)
        return -1;
    if (name.type != miINT8 && name.type != miUINT8)
        return bad(c, "array name: type %u, expected miINT8", name.type);
    free(v->name);
    if (!(v->name = strndup((const char *)name.data, name.nbytes)))
        return bad(c, "out of memory");
    if (depth == 0)
        c->var = v->name;
    v->rows = d[0], v->cols = d[1];
    /* data elements can't be fewer than the values they claim: a cheap bound before allocating */
    if (v->rows * v->cols > len)
        if (cls == mxCELL || (cls >= mxDOUBLE && cls <= mxUINT64) || cls == mxCHAR)
            return bad(c, "a %zux%zu array in an element of %zu bytes", v->rows, v->cols, len);
    return parse_body(c, buf, len, at, cls, complex, v, depth);
}

static uint32_t adler32(const unsigned char *p, size_t n)
{
    uint32_t a = 1, b = 0;
    while (n) {
        size_t chunk = n < 5552 ? n : 5552; /* no overflow before the modulo (zlib's NMAX) */
        for (size_t i = 0; i < chunk; i++)
            a += p[i], b += a;
        a %= 65521, b %= 65521, p += chunk, n -= chunk;
    }
    return b << 16 | a;
}

/* Decompresses a miCOMPRESSED payload: a zlib stream (RFC 1950). libarchive
 * (already linked for the dataset archives) has no zlib-stream filter but its
 * gzip filter inflates raw deflate data, so the stream's deflate part is
 * wrapped as a gzip member (RFC 1952) with a zero trailer, which libarchive
 * does not check (archive_read_support_filter_gzip.c, consume_trailer); the
 * stream's own Adler-32 is checked here instead. */
static int inflate_zlib(const ctx *c, const unsigned char *z, size_t zlen, unsigned char **out,
                        size_t *out_len)
{
    *out = NULL, *out_len = 0;
    if (zlen < 6 || (z[0] & 0x0f) != 8 || ((unsigned)z[0] << 8 | z[1]) % 31 || (z[1] & 0x20))
        return bad(c, "compressed data is not a zlib stream");
    size_t dlen = zlen - 6;
    unsigned char *gz = malloc(dlen + 18);
    struct archive *a = gz ? archive_read_new() : NULL;
    if (!a) {
        free(gz);
        return bad(c, "out of memory");
    }
    memcpy(gz, "\x1f\x8b\x08\0\0\0\0\0\0\xff", 10);
    memcpy(gz + 10, z + 2, dlen);
    memset(gz + 10 + dlen, 0, 8);
    struct archive_entry *entry;
    int rc = archive_read_support_filter_gzip(a) != ARCHIVE_OK ||
                     archive_read_support_format_raw(a) != ARCHIVE_OK ||
                     archive_read_open_memory(a, gz, dlen + 18) != ARCHIVE_OK ||
                     archive_read_next_header(a, &entry) != ARCHIVE_OK
                 ? bad(c, "compressed data: %s", archive_error_string(a))
                 : 0;
    size_t cap = 0, n = 0;
    unsigned char *buf = NULL;
    while (rc == 0) {
        if (n == cap) {
            cap = cap ? 2 * cap : 4 * zlen + 4096;
            if (n > MAX_INFLATED) {
                rc = bad(c, "compressed data expands past %zu MiB", MAX_INFLATED >> 20);
                break;
            }
            unsigned char *nb = realloc(buf, cap);
            if (!nb) {
                rc = bad(c, "out of memory");
                break;
            }
            buf = nb;
        }
        la_ssize_t got = archive_read_data(a, buf + n, cap - n);
        if (got < 0)
            rc = bad(c, "compressed data is corrupt or truncated (%s)", archive_error_string(a));
        else if (got == 0)
            break;
        else
            n += (size_t)got;
    }
    archive_read_free(a);
    free(gz);
    const unsigned char *ad = z + zlen - 4; /* big-endian, RFC 1950 */
    if (rc == 0 && adler32(buf, n) != ((uint32_t)ad[0] << 24 | (uint32_t)ad[1] << 16 |
                                       (uint32_t)ad[2] << 8 | ad[3]))
        rc = bad(c, "compressed data fails its Adler-32 check");
    if (rc < 0) {
        free(buf);
        return -1;
    }
    *out = buf, *out_len = n;
    return 0;
}

static int add_var(biqa_mat *m, ctx *c, const unsigned char *data, size_t len)
{
    biqa_mat_var *vars = realloc(m->vars, (m->n + 1) * sizeof *vars);
    if (!vars)
        return bad(c, "out of memory");
    m->vars = vars;
    biqa_mat_var *v = &m->vars[m->n++];
    memset(v, 0, sizeof *v);
    return parse_array(c, data, len, v, 0);
}

int biqa_mat_parse(const char *name, const unsigned char *data, size_t len, biqa_mat *out,
                   biqa_error *err)
{
    memset(out, 0, sizeof *out);
    if (!(out->path = strdup(name)))
        return biqa_fail(err, "%s: out of memory", name);
    int rc = 0;
    if (len >= 10 && !memcmp(data, "MATLAB 7.3", 10))
        rc = biqa_fail(err, "%s: a MATLAB 7.3 MAT-file (an HDF5 container): biqa reads level-5 "
                            "MAT-files; save it in MATLAB with -v7", name);
    else if (len < 128)
        rc = biqa_fail(err, "%s: %zu bytes, shorter than the 128-byte MAT-file header", name, len);
    else if (memcmp(data, "MATLAB", 6))
        rc = biqa_fail(err, "%s: not a level-5 MAT-file (its header does not start with "
                            "'MATLAB'; a level-4 file?)", name);
    else if (data[126] == 'M' && data[127] == 'I')
        rc = biqa_fail(err, "%s: a big-endian MAT-file (endian indicator 'MI'); biqa reads "
                            "little-endian ones", name);
    else if (data[126] != 'I' || data[127] != 'M')
        rc = biqa_fail(err, "%s: bad endian indicator in the header", name);
    else if (le16(data + 124) != 0x0100)
        rc = biqa_fail(err, "%s: MAT-file version 0x%04x, expected 0x0100 (level 5)", name,
                       le16(data + 124));
    ctx c = {out->path, 0, NULL, err};
    for (size_t at = 128; rc == 0 && at < len;) {
        c.element++, c.var = NULL;
        elem e;
        if ((rc = next_elem(&c, data, len, &at, &e)) < 0)
            break;
        if (e.type == miMATRIX) {
            rc = add_var(out, &c, e.data, e.nbytes);
        } else if (e.type == miCOMPRESSED) {
            unsigned char *inner;
            size_t inner_len;
            if ((rc = inflate_zlib(&c, e.data, e.nbytes, &inner, &inner_len)) < 0)
                break;
            for (size_t in_at = 0; rc == 0 && in_at < inner_len;) {
                elem ie;
                if ((rc = next_elem(&c, inner, inner_len, &in_at, &ie)) < 0)
                    break;
                rc = ie.type == miMATRIX
                         ? add_var(out, &c, ie.data, ie.nbytes)
                         : bad(&c, "compressed element holds type %u, not miMATRIX", ie.type);
            }
            free(inner);
        } else {
            rc = bad(&c, "element of type %u at the top level (expected miMATRIX or "
                         "miCOMPRESSED)", e.type);
        }
    }
    if (rc < 0)
        biqa_mat_free(out);
    return rc;
}

int biqa_mat_read(const char *path, biqa_mat *out, biqa_error *err)
{
    char *data;
    size_t len;
    memset(out, 0, sizeof *out);
    if (biqa_read_file(path, &data, &len, err) < 0)
        return -1;
    int rc = biqa_mat_parse(path, (const unsigned char *)data, len, out, err);
    free(data);
    return rc;
}

void biqa_mat_free(biqa_mat *m)
{
    for (size_t i = 0; i < m->n; i++)
        var_free(&m->vars[i]);
    free(m->vars);
    free(m->path);
    memset(m, 0, sizeof *m);
}

const biqa_mat_var *biqa_mat_find(const biqa_mat *m, const char *name)
{
    for (size_t i = 0; i < m->n; i++)
        if (!strcmp(m->vars[i].name, name))
            return &m->vars[i];
    return NULL;
}

char *biqa_mat_string(const biqa_mat_var *v, size_t row)
{
    if (v->kind != BIQA_MAT_CHAR || row >= v->rows)
        return NULL;
    size_t cols = v->cols;
    while (v->rows > 1 && cols && v->chars[row + (cols - 1) * v->rows] == ' ')
        cols--;
    char *s = malloc(4 * cols + 1), *o = s;
    for (size_t j = 0; s && j < cols; j++) {
        uint32_t cp = v->chars[row + j * v->rows];
        if (cp < 0x80) {
            *o++ = (char)cp;
        } else if (cp < 0x800) {
            *o++ = (char)(0xc0 | cp >> 6), *o++ = (char)(0x80 | (cp & 0x3f));
        } else if (cp < 0x10000) {
            *o++ = (char)(0xe0 | cp >> 12), *o++ = (char)(0x80 | (cp >> 6 & 0x3f));
            *o++ = (char)(0x80 | (cp & 0x3f));
        } else {
            *o++ = (char)(0xf0 | (cp >> 18 & 0x07)), *o++ = (char)(0x80 | (cp >> 12 & 0x3f));
            *o++ = (char)(0x80 | (cp >> 6 & 0x3f)), *o++ = (char)(0x80 | (cp & 0x3f));
        }
    }
    if (s)
        *o = '\0';
    return s;
}
