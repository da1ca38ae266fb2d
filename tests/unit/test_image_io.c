/* kernels/image/image.h: PNG/JPEG/BMP decoding, PNG/JPEG encoding, atomic
 * writes, and one clear error naming the file for every bad input.
 * (tests/ref/degrade_vs_opencv.py checks the decoders against Pillow and
 * OpenCV on files those libraries wrote.) */
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "kernels/image/image.h"

static char dir[64];

static void setup(void)
{
    strcpy(dir, "/tmp/biqa-img-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

/* A deterministic test picture: gradients plus a hashed texture. */
static void make_image(biqa_image *im, int w, int h, int smooth)
{
    cr_assert_eq(biqa_image_alloc(im, w, h, "test", NULL), 0);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint32_t z = (uint32_t)(x * 73856093u ^ y * 19349663u);
            z = (z ^ (z >> 13)) * 0x5bd1e995u;
            uint8_t *p = im->px + 3 * ((size_t)y * w + x);
            p[0] = (uint8_t)(x * 255 / (w > 1 ? w - 1 : 1));
            p[1] = (uint8_t)(y * 255 / (h > 1 ? h - 1 : 1));
            p[2] = smooth ? (uint8_t)((x + y) * 2) : (uint8_t)(z >> 24);
        }
}

static double psnr(const biqa_image *a, const biqa_image *b)
{
    double se = 0;
    size_t n = (size_t)3 * a->w * a->h;
    for (size_t i = 0; i < n; i++)
        se += (double)(a->px[i] - b->px[i]) * (a->px[i] - b->px[i]);
    return se == 0 ? INFINITY : 10 * log10(255.0 * 255.0 * n / se);
}

static void assert_same(const biqa_image *a, const biqa_image *b, const char *what)
{
    cr_assert_eq(a->w, b->w, "%s: width", what);
    cr_assert_eq(a->h, b->h, "%s: height", what);
    cr_assert_eq(memcmp(a->px, b->px, (size_t)3 * a->w * a->h), 0, "%s: pixels differ", what);
}

static int count_files(void)
{
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

Test(image_io, png_round_trip_exact_and_atomic, .init = setup, .fini = teardown)
{
    biqa_image im, back;
    biqa_error e = {{0}};
    make_image(&im, 37, 23, 0);
    uint8_t *data;
    size_t len;
    cr_assert_eq(biqa_image_encode_png(&im, &data, &len, &e), 0, "%s", e.msg);
    cr_assert_eq(biqa_image_decode("mem.png", data, len, &back, &e), 0, "%s", e.msg);
    assert_same(&im, &back, "PNG in memory");
    biqa_image_free(&back);
    free(data);

    char path[128];
    snprintf(path, sizeof path, "%s/a.PNG", dir);
    cr_assert_eq(biqa_image_write(path, &im, 0, &e), 0, "%s", e.msg);
    cr_assert_eq(count_files(), 1, "only the image, no temporary left behind");
    cr_assert_eq(biqa_image_read(path, &back, &e), 0, "%s", e.msg);
    assert_same(&im, &back, "PNG file");
    biqa_image_free(&back);
    biqa_image_free(&im);
}

Test(image_io, jpeg_round_trip_close_and_quality_matters, .init = setup, .fini = teardown)
{
    biqa_image im, back;
    biqa_error e = {{0}};
    make_image(&im, 65, 47, 1); /* odd sizes: partial 4:2:0 blocks */
    char path[128];
    snprintf(path, sizeof path, "%s/a.jpeg", dir);
    cr_assert_eq(biqa_image_write(path, &im, 95, &e), 0, "%s", e.msg);
    cr_assert_eq(biqa_image_read(path, &back, &e), 0, "%s", e.msg);
    cr_assert_eq(back.w, 65);
    cr_assert_eq(back.h, 47);
    double p95 = psnr(&im, &back);
    cr_assert_gt(p95, 35, "PSNR at quality 95: %.2f dB", p95);
    biqa_image_free(&back);

    uint8_t *d10, *d95;
    size_t l10, l95;
    cr_assert_eq(biqa_image_encode_jpeg(&im, 10, &d10, &l10, &e), 0, "%s", e.msg);
    cr_assert_eq(biqa_image_encode_jpeg(&im, 95, &d95, &l95, &e), 0, "%s", e.msg);
    cr_assert_lt(l10, l95, "quality 10 must compress more (%zu vs %zu bytes)", l10, l95);
    cr_assert_eq(biqa_image_decode("q10.jpg", d10, l10, &back, &e), 0, "%s", e.msg);
    cr_assert_lt(psnr(&im, &back), p95);
    biqa_image_free(&back);
    free(d10);
    free(d95);
    cr_assert_eq(biqa_image_encode_jpeg(&im, 0, &d10, &l10, &e), -1);
    cr_assert_str_eq(e.msg, "JPEG encoder: quality 0 is outside 1..100");
    biqa_image_free(&im);
}

/* ---- BMP files written here, byte by byte --------------------------------- */

typedef struct bmp_spec {
    int bpp, top_down, hsize, bitfields;
    uint32_t mask[3]; /* R, G, B when bitfields */
} bmp_spec;

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static int mask_shift(uint32_t m)
{
    return __builtin_ctz(m);
}

/* The 8-bit value a mask round trip gives back: the reader's scaling. */
static uint8_t through_mask(uint8_t v, uint32_t mask)
{
    uint32_t max = mask >> mask_shift(mask);
    uint64_t q = ((uint64_t)v * max * 2 + 255) / 510; /* round(v max / 255) */
    return (uint8_t)((q * 255 + max / 2) / max);
}

static uint8_t PALETTE[200][3];

static void fill_palette(void)
{
    for (int i = 0; i < 200; i++) {
        PALETTE[i][0] = (uint8_t)(i * 7), PALETTE[i][1] = (uint8_t)(i * 13);
        PALETTE[i][2] = (uint8_t)(i * 29 + 5);
    }
}

static int palette_index(int x, int y)
{
    return (x * 3 + y * 5) % 200;
}

/* Writes im (or, for 8 bits, the palette picture of its size) as a BMP. */
static size_t make_bmp(const biqa_image *im, const bmp_spec *s, uint8_t **out)
{
    const int w = im->w, h = im->h, ncol = s->bpp == 8 ? 200 : 0;
    const size_t extra = s->bitfields && s->hsize == 40 ? 12 : 0;
    const size_t stride = ((size_t)w * s->bpp + 31) / 32 * 4;
    const size_t offset = 14 + s->hsize + extra + 4 * (size_t)ncol;
    const size_t len = offset + stride * h;
    uint8_t *b = calloc(1, len);
    b[0] = 'B', b[1] = 'M';
    put32(b + 2, (uint32_t)len);
    put32(b + 10, (uint32_t)offset);
    put32(b + 14, (uint32_t)s->hsize);
    put32(b + 18, (uint32_t)w);
    put32(b + 22, (uint32_t)(s->top_down ? -h : h));
    b[26] = 1;
    b[28] = (uint8_t)s->bpp;
    put32(b + 30, s->bitfields ? 3 : 0);
    put32(b + 46, (uint32_t)ncol);
    if (s->bitfields)
        for (int c = 0; c < 3; c++)
            put32(b + 54 + 4 * c, s->mask[c]);
    for (int i = 0; i < ncol; i++) {
        uint8_t *q = b + 14 + s->hsize + 4 * i;
        q[0] = PALETTE[i][2], q[1] = PALETTE[i][1], q[2] = PALETTE[i][0];
    }
    for (int y = 0; y < h; y++) {
        uint8_t *row = b + offset + stride * (size_t)(s->top_down ? y : h - 1 - y);
        for (int x = 0; x < w; x++) {
            const uint8_t *p = im->px + 3 * ((size_t)y * w + x);
            if (s->bpp == 8) {
                row[x] = (uint8_t)palette_index(x, y);
            } else if (s->bpp == 24) {
                row[3 * x] = p[2], row[3 * x + 1] = p[1], row[3 * x + 2] = p[0];
            } else if (!s->bitfields) {
                row[4 * x] = p[2], row[4 * x + 1] = p[1], row[4 * x + 2] = p[0];
                row[4 * x + 3] = 0x7F; /* alpha/padding byte: ignored */
            } else {
                uint32_t v = 0;
                for (int c = 0; c < 3; c++) {
                    uint32_t max = s->mask[c] >> mask_shift(s->mask[c]);
                    v |= (uint32_t)(((uint64_t)p[c] * max * 2 + 255) / 510) << mask_shift(s->mask[c]);
                }
                put32(row + 4 * x, v);
            }
        }
    }
    *out = b;
    return len;
}

Test(image_io, bmp_variants)
{
    static const bmp_spec specs[] = {
        {24, 0, 40, 0, {0}},  {24, 1, 40, 0, {0}},  {24, 0, 124, 0, {0}},
        {8, 0, 40, 0, {0}},   {8, 1, 108, 0, {0}},  {32, 0, 40, 0, {0}},
        {32, 1, 56, 0, {0}},  {32, 0, 40, 1, {0xFF0000, 0xFF00, 0xFF}},
        {32, 1, 124, 1, {0xFF, 0xFF00, 0xFF0000}},    /* RGBX byte order */
        {32, 0, 108, 1, {0x3FF00000, 0xFFC00, 0x3FF}}, /* 10 bits a channel */
        {32, 0, 52, 1, {0xF800, 0x7E0, 0x1F}},        /* 5-6-5 in 32 bits */
    };
    fill_palette();
    for (size_t t = 0; t < sizeof specs / sizeof *specs; t++) {
        const bmp_spec *s = &specs[t];
        biqa_image im, back;
        biqa_error e = {{0}};
        make_image(&im, 13, 7, 0); /* 13 px: every row needs padding at 24 bits */
        for (int y = 0; y < im.h; y++)
            for (int x = 0; x < im.w; x++) {
                uint8_t *p = im.px + 3 * ((size_t)y * im.w + x);
                if (s->bpp == 8)
                    memcpy(p, PALETTE[palette_index(x, y)], 3);
            }
        uint8_t *data;
        size_t len = make_bmp(&im, s, &data);
        if (s->bitfields)
            for (size_t i = 0; i < (size_t)3 * im.w * im.h; i++)
                im.px[i] = through_mask(im.px[i], s->mask[i % 3]);
        cr_assert_eq(biqa_image_decode("t.bmp", data, len, &back, &e), 0, "case %zu: %s", t,
                     e.msg);
        char what[64];
        snprintf(what, sizeof what, "BMP case %zu (%d-bit, header %d)", t, s->bpp, s->hsize);
        assert_same(&im, &back, what);
        biqa_image_free(&back);
        biqa_image_free(&im);
        free(data);
    }
}

/* ---- PNG flavours written with libpng's simplified API -------------------- */

static size_t write_png(int w, int h, uint32_t format, const void *px, const void *colormap,
                        int ncolours, uint8_t **out)
{
    png_image p;
    memset(&p, 0, sizeof p);
    p.version = PNG_IMAGE_VERSION;
    p.width = (png_uint_32)w, p.height = (png_uint_32)h, p.format = format;
    p.colormap_entries = (png_uint_32)ncolours;
    png_alloc_size_t size = 0;
    cr_assert(png_image_write_to_memory(&p, NULL, &size, 0, px, 0, colormap), "%s", p.message);
    *out = malloc(size);
    cr_assert(png_image_write_to_memory(&p, *out, &size, 0, px, 0, colormap), "%s", p.message);
    return size;
}

Test(image_io, png_grey_alpha_palette_16bit_become_rgb8)
{
    enum { W = 9, H = 5, N = W * H };
    uint8_t grey[N], rgba[4 * N], idx[N], cmap[3 * 4] = {255, 0, 0, 0, 128, 0, 1, 2, 3, 250, 251, 252};
    uint16_t deep[3 * N];
    for (int i = 0; i < N; i++) {
        grey[i] = (uint8_t)(i * 5);
        for (int c = 0; c < 4; c++)
            rgba[4 * i + c] = (uint8_t)(i * 3 + c * 50);
        idx[i] = (uint8_t)(i % 4);
        for (int c = 0; c < 3; c++)
            deep[3 * i + c] = (uint16_t)(i * 1409 + c * 20011 + 127);
    }
    struct {
        const char *what;
        uint32_t format;
        const void *px, *cmap;
        int ncol;
    } cases[] = {
        {"grey", PNG_FORMAT_GRAY, grey, NULL, 0},
        {"rgba", PNG_FORMAT_RGBA, rgba, NULL, 0},
        {"palette", PNG_FORMAT_RGB_COLORMAP, idx, cmap, 4},
        {"16-bit", PNG_FORMAT_LINEAR_RGB, deep, NULL, 0},
    };
    for (size_t t = 0; t < sizeof cases / sizeof *cases; t++) {
        uint8_t *data;
        size_t len = write_png(W, H, cases[t].format, cases[t].px, cases[t].cmap, cases[t].ncol,
                               &data);
        biqa_image im;
        biqa_error e = {{0}};
        cr_assert_eq(biqa_image_decode("t.png", data, len, &im, &e), 0, "%s: %s", cases[t].what,
                     e.msg);
        cr_assert_eq(im.w, W);
        cr_assert_eq(im.h, H);
        for (int i = 0; i < N; i++)
            for (int c = 0; c < 3; c++) {
                int got = im.px[3 * i + c];
                double want;
                if (t == 0)
                    want = grey[i];
                else if (t == 1)
                    want = rgba[4 * i + c]; /* alpha dropped, not composited */
                else if (t == 2)
                    want = cmap[3 * idx[i] + c];
                else
                    want = deep[3 * i + c] / 257.0; /* v * 255 / 65535, rounded */
                cr_assert_leq(fabs(got - want), 0.5, "%s: pixel %d channel %d: %d, want %.2f",
                              cases[t].what, i, c, got, want);
            }
        biqa_image_free(&im);
        free(data);
    }
}

/* ---- bad input: one line naming the file ---------------------------------- */

static void expect_error(const uint8_t *data, size_t len, const char *name, const char *needle)
{
    biqa_image im = {7, 7, (uint8_t *)1};
    biqa_error e = {{0}};
    cr_assert_eq(biqa_image_decode(name, data, len, &im, &e), -1, "%s must be refused", name);
    cr_assert_null(im.px, "%s: no image is left behind", name);
    size_t n = strlen(name);
    cr_assert(strncmp(e.msg, name, n) == 0 && e.msg[n] == ':', "%s: message '%s' must start "
              "with the file name", name, e.msg);
    cr_assert_not_null(strstr(e.msg, needle), "%s: message '%s' lacks '%s'", name, e.msg, needle);
    cr_assert_null(strchr(e.msg, '\n'), "%s: one line", name);
}

Test(image_io, bad_files_are_refused_with_their_name)
{
    biqa_image im;
    biqa_error e = {{0}};
    make_image(&im, 40, 30, 0);
    uint8_t *png, *jpg, *bmp;
    size_t lpng, ljpg;
    cr_assert_eq(biqa_image_encode_png(&im, &png, &lpng, &e), 0);
    cr_assert_eq(biqa_image_encode_jpeg(&im, 80, &jpg, &ljpg, &e), 0);
    bmp_spec s24 = {24, 0, 40, 0, {0}};
    size_t lbmp = make_bmp(&im, &s24, &bmp);

    expect_error(png, 0, "zero.png", "empty file");
    expect_error((const uint8_t *)"hello, world", 12, "garbage.jpg", "not a JPEG, PNG or BMP");
    expect_error((const uint8_t *)"GIF89a\x01\x00", 8, "anim.gif",
                 "starts with bytes 47 49 46 38 39 61 01 00");
    expect_error(png, 8, "sig-only.png", "corrupt PNG");
    expect_error(png, 30, "header-cut.png", "corrupt PNG");
    expect_error(png, lpng / 2, "half.png", "corrupt PNG");
    expect_error(png, lpng - 6, "no-iend.png", "corrupt PNG");
    expect_error(jpg, 3, "magic-only.jpg", "corrupt JPEG");
    expect_error(jpg, ljpg / 2, "half.jpg", "corrupt JPEG");
    expect_error(jpg, ljpg - 2, "no-eoi.jpg", "corrupt JPEG");
    expect_error(bmp, 2, "magic-only.bmp", "truncated BMP");
    expect_error(bmp, 40, "header-cut.bmp", "truncated BMP");
    expect_error(bmp, lbmp - 1, "pixels-cut.bmp", "truncated BMP");

    uint8_t *bad = malloc(lpng);
    memcpy(bad, png, lpng);
    bad[lpng / 2] ^= 0x55; /* inside IDAT: the CRC no longer matches */
    expect_error(bad, lpng, "crc.png", "corrupt PNG");
    free(bad);

    bad = malloc(lbmp);
    memcpy(bad, bmp, lbmp);
    bad[28] = 16; /* 16 bits per pixel */
    expect_error(bad, lbmp, "deep.bmp", "unsupported BMP: 16 bits per pixel");
    bad[28] = 24, bad[30] = 1; /* RLE8 */
    expect_error(bad, lbmp, "rle.bmp", "unsupported BMP");
    bad[30] = 0, bad[14] = 12; /* OS/2 BITMAPCOREHEADER */
    expect_error(bad, lbmp, "os2.bmp", "unsupported BMP header of 12 bytes");
    bad[14] = 40;
    put32(bad + 18, 0);
    expect_error(bad, lbmp, "zero-width.bmp", "corrupt BMP");
    put32(bad + 18, 0x7FFFFFFF);
    expect_error(bad, lbmp, "huge.bmp", "truncated BMP");
    free(bad);

    fill_palette();
    bmp_spec s8 = {8, 0, 40, 0, {0}};
    size_t l8 = make_bmp(&im, &s8, &bad);
    put32(bad + 46, 16); /* palette of 16 colours, indices up to 199 */
    expect_error(bad, l8, "index.bmp", "of a 16-colour palette");
    free(bad);

    free(png);
    free(jpg);
    free(bmp);
    biqa_image_free(&im);
}

Test(image_io, read_and_write_errors_name_the_path, .init = setup, .fini = teardown)
{
    biqa_image im;
    biqa_error e = {{0}};
    char path[128];
    snprintf(path, sizeof path, "%s/missing.png", dir);
    cr_assert_eq(biqa_image_read(path, &im, &e), -1);
    cr_assert_not_null(strstr(e.msg, path), "%s", e.msg);

    make_image(&im, 4, 4, 0);
    snprintf(path, sizeof path, "%s/a.gif", dir);
    cr_assert_eq(biqa_image_write(path, &im, 90, &e), -1);
    cr_assert_not_null(strstr(e.msg, "unknown image extension"), "%s", e.msg);
    snprintf(path, sizeof path, "%s/no/such/dir/a.png", dir);
    cr_assert_eq(biqa_image_write(path, &im, 90, &e), -1);
    cr_assert_not_null(strstr(e.msg, path), "%s", e.msg);
    snprintf(path, sizeof path, "%s/q.jpg", dir);
    cr_assert_eq(biqa_image_write(path, &im, 101, &e), -1);
    cr_assert_str_eq(strstr(e.msg, "JPEG encoder"), "JPEG encoder: quality 101 is outside 1..100");
    cr_assert_eq(count_files(), 0, "failed writes leave nothing");
    biqa_image_free(&im);

    cr_assert_eq(biqa_image_alloc(&im, 0, 5, "x.png", &e), -1);
    cr_assert_str_eq(e.msg, "x.png: image size 0x5 is out of range (1 .. 2^28 pixels)");
    cr_assert_eq(biqa_image_alloc(&im, 1 << 15, 1 << 14, "y.png", &e), -1);
}
