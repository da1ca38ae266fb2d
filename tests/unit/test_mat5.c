/* datasets/mat5.h on MAT-files built here byte by byte from the format's
 * description (MathWorks, "MAT-File Format", level 5): tags in both the
 * normal and the small element format, every numeric type, char arrays in
 * UTF-8 and UTF-16, cells, an unsupported class, a miCOMPRESSED element made
 * of a stored deflate block (RFC 1950/1951), and the malformed files a user
 * may hand over. scipy-written files are tested in tests/ref/labels_vs_python.py. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/mat5.h"

typedef struct buf {
    unsigned char *p;
    size_t n, cap;
} buf;

static void put(buf *b, const void *data, size_t n)
{
    if (!n)
        return;
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        cr_assert_not_null(b->p);
    }
    memcpy(b->p + b->n, data, n);
    b->n += n;
}

static void put32(buf *b, uint32_t v)
{
    unsigned char x[4] = {v & 0xff, v >> 8 & 0xff, v >> 16 & 0xff, v >> 24};
    put(b, x, 4);
}


enum { miINT8 = 1, miUINT8, miINT16, miUINT16, miINT32, miUINT32, miSINGLE, miDOUBLE = 9,
       miMATRIX = 14, miCOMPRESSED, miUTF8 };

/* A data element in the normal format: tag, data, padding to a multiple of
 * 8 bytes (of the element: after miCOMPRESSED data the file is unaligned). */
static void element(buf *b, uint32_t type, const void *data, uint32_t n)
{
    static const unsigned char zero[8];
    put32(b, type), put32(b, n);
    put(b, data, n);
    put(b, zero, (8 - n % 8) % 8);
}

/* A data element of at most 4 bytes in the small format. */
static void small(buf *b, uint32_t type, const void *data, uint32_t n)
{
    static const unsigned char zero[4];
    put32(b, n << 16 | type);
    put(b, data, n);
    put(b, zero, 4 - n);
}

static void header(buf *b, const char *text, uint16_t version, const char *endian)
{
    char h[116];
    memset(h, ' ', sizeof h);
    memcpy(h, text, strlen(text));
    put(b, h, sizeof h);
    put(b, "\0\0\0\0\0\0\0\0", 8);
    unsigned char v[2] = {version & 0xff, version >> 8};
    put(b, v, 2);
    put(b, endian, 2);
}

/* A miMATRIX element: flags (class), dimensions, name, then the given data elements. */
static void matrix(buf *b, int cls, int32_t rows, int32_t cols, const char *name, const buf *data)
{
    buf m = {0};
    uint32_t flags[2] = {(uint32_t)cls, 0};
    put32(&m, miUINT32), put32(&m, 8), put32(&m, flags[0]), put32(&m, flags[1]);
    put32(&m, miINT32), put32(&m, 8), put32(&m, (uint32_t)rows), put32(&m, (uint32_t)cols);
    size_t nl = strlen(name);
    if (nl <= 4)
        small(&m, miINT8, name, (uint32_t)nl);
    else
        element(&m, miINT8, name, (uint32_t)nl);
    if (data)
        put(&m, data->p, data->n);
    element(b, miMATRIX, m.p, (uint32_t)m.n);
    free(m.p);
}

static void mat_ok(const buf *b, biqa_mat *m)
{
    biqa_error e = {{0}};
    cr_assert_eq(biqa_mat_parse("t.mat", b->p, b->n, m, &e), 0, "%s", e.msg);
}

static void mat_fails(const buf *b, const char *needle)
{
    biqa_mat m;
    biqa_error e = {{0}};
    cr_assert_eq(biqa_mat_parse("t.mat", b->p, b->n, &m, &e), -1, "expected '%s'", needle);
    cr_assert(strstr(e.msg, "t.mat") && strstr(e.msg, needle), "'%s' lacks '%s'", e.msg, needle);
    cr_assert_eq(m.n, 0);
}

#define V5 "MATLAB 5.0 MAT-file, Platform: GLNXA64, Created on: test"

Test(mat5, numeric_arrays_of_every_type_column_major)
{
    buf b = {0}, d = {0};
    header(&b, V5, 0x0100, "IM");
    double v[6] = {1.5, -2, 3.25, 4, 1e300, -0.0}; /* 2x3, column-major */
    element(&d, miDOUBLE, v, sizeof v);
    matrix(&b, 6, 2, 3, "mos", &d); /* name in the small format */
    d.n = 0;
    int16_t s[3] = {-7, 300, 5}; /* a double array stored compactly as int16 */
    element(&d, miINT16, s, sizeof s);
    matrix(&b, 6, 1, 3, "compact", &d);
    d.n = 0;
    float f[2] = {0.5f, -1.25f};
    element(&d, miSINGLE, f, sizeof f);
    matrix(&b, 7, 2, 1, "single", &d);
    d.n = 0;
    uint8_t u[3] = {0, 1, 255};
    element(&d, miUINT8, u, sizeof u);
    matrix(&b, 9, 3, 1, "orgs", &d); /* uint8 class, as logical arrays are */
    biqa_mat m;
    mat_ok(&b, &m);
    cr_assert_eq(m.n, 4);
    const biqa_mat_var *x = biqa_mat_find(&m, "mos");
    cr_assert_not_null(x);
    cr_assert_eq(x->kind, BIQA_MAT_NUMERIC);
    cr_assert_eq(x->rows, 2);
    cr_assert_eq(x->cols, 3);
    for (int i = 0; i < 6; i++)
        cr_assert_eq(x->num[i], v[i]);
    x = biqa_mat_find(&m, "compact");
    cr_assert(x->num[0] == -7 && x->num[1] == 300 && x->num[2] == 5);
    x = biqa_mat_find(&m, "single");
    cr_assert(x->num[0] == 0.5 && x->num[1] == -1.25 && x->mx_class == 7);
    x = biqa_mat_find(&m, "orgs");
    cr_assert(x->num[0] == 0 && x->num[1] == 1 && x->num[2] == 255);
    cr_assert_null(biqa_mat_find(&m, "nope"));
    biqa_mat_free(&m);
    free(b.p), free(d.p);
}

Test(mat5, cells_of_strings_in_utf8_and_utf16_and_padded_char_matrices)
{
    buf b = {0}, cells = {0}, d = {0};
    header(&b, V5, 0x0100, "IM");
    element(&d, miUTF8, "t1.bmp", 6);
    matrix(&cells, 4, 1, 6, "", &d);
    d.n = 0;
    uint16_t u16[5] = {0xe9, '.', 'b', 'm', 'p'}; /* "é.bmp" */
    element(&d, miUINT16, u16, sizeof u16);
    matrix(&cells, 4, 1, 5, "", &d);
    d.n = 0;
    element(&cells, miMATRIX, NULL, 0); /* an empty cell entry, as MATLAB writes it */
    matrix(&b, 1, 3, 1, "AllImages_release", &cells);
    d.n = 0;
    element(&d, miUTF8, "aabb c ", 6); /* 2x3 column-major: rows "ab " and "abc" */
    matrix(&b, 4, 2, 3, "rows", &d);
    biqa_mat m;
    mat_ok(&b, &m);
    const biqa_mat_var *c = biqa_mat_find(&m, "AllImages_release");
    cr_assert_eq(c->kind, BIQA_MAT_CELL);
    cr_assert_eq(c->rows * c->cols, 3);
    char *s0 = biqa_mat_string(&c->cells[0], 0), *s1 = biqa_mat_string(&c->cells[1], 0);
    cr_assert_str_eq(s0, "t1.bmp");
    cr_assert_str_eq(s1, "\xc3\xa9.bmp");
    cr_assert_eq(c->cells[2].rows * c->cells[2].cols, 0);
    free(s0), free(s1);
    const biqa_mat_var *r = biqa_mat_find(&m, "rows");
    char *r0 = biqa_mat_string(r, 0), *r1 = biqa_mat_string(r, 1);
    cr_assert_str_eq(r0, "ab");
    cr_assert_str_eq(r1, "abc");
    cr_assert_null(biqa_mat_string(r, 2));
    cr_assert_null(biqa_mat_string(c, 0), "a cell is not a string");
    free(r0), free(r1);
    biqa_mat_free(&m);
    free(b.p), free(cells.p), free(d.p);
}

Test(mat5, unsupported_classes_are_kept_by_name_without_data)
{
    buf b = {0}, d = {0};
    header(&b, V5, 0x0100, "IM");
    int32_t fl = 4;
    small(&d, miINT32, &fl, 4);
    element(&d, miINT8, "abc\0", 4);
    matrix(&b, 2, 1, 1, "s", &d); /* a struct with one field, no values */
    d.n = 0;
    double one = 1;
    element(&d, miDOUBLE, &one, 8);
    matrix(&b, 6, 1, 1, "after", &d);
    biqa_mat m;
    mat_ok(&b, &m);
    cr_assert_eq(biqa_mat_find(&m, "s")->kind, BIQA_MAT_OTHER);
    cr_assert_eq(biqa_mat_find(&m, "after")->num[0], 1);
    biqa_mat_free(&m);
    free(b.p), free(d.p);
}

/* RFC 1950 zlib stream around one stored (uncompressed) deflate block. */
static void zlib_stored(buf *z, const buf *raw)
{
    put(z, "\x78\x01", 2); /* CM 8, 32K window, check bits: 0x7801 % 31 == 0 */
    unsigned char blk[5] = {1, raw->n & 0xff, raw->n >> 8, ~raw->n & 0xff, (~raw->n >> 8) & 0xff};
    put(z, blk, 5); /* BFINAL, BTYPE 00, LEN, NLEN */
    put(z, raw->p, raw->n);
    uint32_t a = 1, s = 0;
    for (size_t i = 0; i < raw->n; i++)
        a = (a + raw->p[i]) % 65521, s = (s + a) % 65521;
    unsigned char ad[4] = {s >> 8, s & 0xff, a >> 8, a & 0xff};
    put(z, ad, 4);
}

Test(mat5, compressed_elements_inflate_through_libarchive)
{
    buf inner = {0}, d = {0}, z = {0}, b = {0};
    double v[3] = {10, 20.5, 30};
    element(&d, miDOUBLE, v, sizeof v);
    matrix(&inner, 6, 1, 3, "AllMOS_release", &d);
    zlib_stored(&z, &inner);
    header(&b, V5, 0x0100, "IM");
    put32(&b, miCOMPRESSED), put32(&b, (uint32_t)z.n);
    put(&b, z.p, z.n); /* no padding after compressed data */
    matrix(&b, 6, 1, 3, "second", &d);
    biqa_mat m;
    mat_ok(&b, &m);
    cr_assert_eq(m.n, 2);
    const biqa_mat_var *x = biqa_mat_find(&m, "AllMOS_release");
    cr_assert(x && x->num[0] == 10 && x->num[1] == 20.5 && x->num[2] == 30);
    cr_assert_not_null(biqa_mat_find(&m, "second"));
    biqa_mat_free(&m);
    b.p[128 + 8 + z.n - 1] ^= 1; /* the Adler-32 */
    mat_fails(&b, "element 1: compressed data fails its Adler-32 check");
    b.p[128 + 8] = 0x79; /* not a zlib header */
    mat_fails(&b, "not a zlib stream");
    free(inner.p), free(d.p), free(z.p), free(b.p);
}

Test(mat5, malformed_files_are_errors_naming_file_and_element)
{
    buf b = {0}, d = {0};
    header(&b, "MATLAB 7.3 MAT-file, Platform: GLNXA64, HDF5 schema 1.00 .", 0x0200, "IM");
    mat_fails(&b, "MATLAB 7.3");
    b.n = 0;
    header(&b, V5, 0x0100, "MI");
    mat_fails(&b, "big-endian");
    b.n = 0;
    header(&b, V5, 0x0200, "IM");
    mat_fails(&b, "version 0x0200");
    b.n = 0;
    header(&b, "not a mat file", 0x0100, "IM");
    mat_fails(&b, "not a level-5 MAT-file");
    b.n = 0;
    header(&b, V5, 0x0100, "IM");
    b.n = 100;
    mat_fails(&b, "shorter than the 128-byte");

    double v[4] = {1, 2, 3, 4};
    b.n = 0;
    header(&b, V5, 0x0100, "IM");
    element(&d, miDOUBLE, v, sizeof v);
    matrix(&b, 6, 2, 2, "x", &d);
    size_t full = b.n;
    b.n = full - 20;
    mat_fails(&b, "element 1: truncated");
    b.n = 128 + 4;
    mat_fails(&b, "element 1: truncated: 4 bytes where an 8-byte element tag is due");
    b.n = full;
    b.p[128 + 8 + 16 + 8] = 3; /* rows 3: 4 values for 3x2 */
    mat_fails(&b, "element 1 (variable 'x'): real part holds 32 bytes for a 3x2 array");
    b.p[128 + 8 + 16 + 8] = 0xff, b.p[128 + 8 + 16 + 11] = 0xff; /* rows -1 */
    mat_fails(&b, "dimension 1 is negative");
    b.n = 0;
    header(&b, V5, 0x0100, "IM");
    element(&b, miDOUBLE, v, 8);
    mat_fails(&b, "element 1: element of type 9 at the top level");
    b.n = 0;
    header(&b, V5, 0x0100, "IM");
    put32(&b, 6u << 16 | miINT8), put(&b, "abcd", 4); /* small element claiming 6 bytes */
    mat_fails(&b, "small data element claims 6 bytes");
    free(b.p), free(d.p);
}

Test(mat5, missing_file_and_empty_file)
{
    biqa_mat m;
    biqa_error e = {{0}};
    cr_assert_eq(biqa_mat_read("/nonexistent/x.mat", &m, &e), -1);
    cr_assert(strstr(e.msg, "/nonexistent/x.mat"), "%s", e.msg);
    buf b = {0};
    header(&b, V5, 0x0100, "IM");
    mat_ok(&b, &m);
    cr_assert_eq(m.n, 0, "a header alone is a file without variables");
    biqa_mat_free(&m);
    free(b.p);
}
