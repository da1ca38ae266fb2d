/* PNG through libpng. Decoding uses the progressive-free low-level API so
 * that every transform is explicit: palette and low-bit grey expand to 8
 * bits, 16-bit samples scale to 8 bits with rounding (png_set_scale_16:
 * v * 255 / 65535, not the high byte), grey becomes RGB, alpha is dropped.
 * No gamma or colour-profile conversion is applied: the stored values are
 * the pixel values. libpng reports errors by longjmp; the handlers below
 * copy its message into the biqa_error. */
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/image/codec.h"

typedef struct png_reader {
    const uint8_t *data;
    size_t len, pos;
    char msg[256];
} png_reader;

static void on_error(png_structp png, png_const_charp msg)
{
    png_reader *r = png_get_error_ptr(png);
    snprintf(r->msg, sizeof r->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg; /* warnings (e.g. an unknown ancillary chunk) do not stop decoding */
}

static void on_read(png_structp png, png_bytep out, png_size_t n)
{
    png_reader *r = png_get_io_ptr(png);
    if (r->len - r->pos < n) {
        png_error(png, "truncated file");
        return;
    }
    memcpy(out, r->data + r->pos, n);
    r->pos += n;
}

int biqa_png_decode(const char *name, const uint8_t *data, size_t len, biqa_image *out,
                    biqa_error *err)
{
    png_reader r = {data, len, 0, ""};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &r, on_error, on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return biqa_fail(err, "%s: out of memory for the PNG decoder", name);
    }
    /* Written after setjmp and read after a longjmp, hence volatile. */
    png_bytep *volatile rows = NULL;
    out->w = out->h = 0;
    out->px = NULL;
    if (setjmp(png_jmpbuf(png))) {
        free(rows);
        biqa_image_free(out);
        png_destroy_read_struct(&png, &info, NULL);
        return biqa_fail(err, "%s: corrupt PNG: %s", name, r.msg);
    }
    png_set_read_fn(png, &r, on_read);
    png_read_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    int type = png_get_color_type(png, info);
    if ((uint64_t)w * h > (uint64_t)BIQA_IMAGE_MAX_PIXELS) {
        png_destroy_read_struct(&png, &info, NULL);
        return biqa_fail(err, "%s: corrupt PNG: %ux%u pixels is more than 2^28", name,
                         (unsigned)w, (unsigned)h);
    }
    png_set_expand(png); /* palette -> RGB, grey < 8 bits -> 8, tRNS -> alpha */
    png_set_scale_16(png);
    png_set_strip_alpha(png);
    if (type == PNG_COLOR_TYPE_GRAY || type == PNG_COLOR_TYPE_GRAY_ALPHA)
        png_set_gray_to_rgb(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if (png_get_rowbytes(png, info) != (size_t)w * 3)
        png_error(png, "unexpected row layout after the RGB8 transforms");
    if (biqa_image_alloc(out, (int)w, (int)h, name, err) < 0) {
        png_destroy_read_struct(&png, &info, NULL);
        return -1;
    }
    rows = malloc(h * sizeof *rows);
    if (!rows)
        png_error(png, "out of memory");
    for (png_uint_32 y = 0; y < h; y++)
        rows[y] = out->px + (size_t)y * w * 3;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    free(rows);
    png_destroy_read_struct(&png, &info, NULL);
    return 0;
}

int biqa_image_encode_png(const biqa_image *im, uint8_t **data, size_t *len, biqa_error *err)
{
    png_image p;
    memset(&p, 0, sizeof p);
    p.version = PNG_IMAGE_VERSION;
    p.width = (png_uint_32)im->w;
    p.height = (png_uint_32)im->h;
    p.format = PNG_FORMAT_RGB;
    png_alloc_size_t size = 0;
    /* First call measures, second writes. */
    if (!png_image_write_to_memory(&p, NULL, &size, 0, im->px, 0, NULL))
        return biqa_fail(err, "PNG encoder: %s", p.message);
    uint8_t *buf = malloc(size);
    if (!buf) {
        png_image_free(&p);
        return biqa_fail(err, "PNG encoder: out of memory (%zu bytes)", (size_t)size);
    }
    if (!png_image_write_to_memory(&p, buf, &size, 0, im->px, 0, NULL)) {
        free(buf);
        return biqa_fail(err, "PNG encoder: %s", p.message);
    }
    *data = buf;
    *len = size;
    return 0;
}
