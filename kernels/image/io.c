/* Format detection by magic bytes, file reading and atomic writing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/file.h"
#include "kernels/image/codec.h"

static int has_prefix(const uint8_t *data, size_t len, const char *magic, size_t n)
{
    return len >= n && memcmp(data, magic, n) == 0;
}

int biqa_image_decode(const char *name, const uint8_t *data, size_t len, biqa_image *out,
                      biqa_error *err)
{
    out->w = out->h = 0;
    out->px = NULL;
    if (len == 0)
        return biqa_fail(err, "%s: empty file, not an image", name);
    if (has_prefix(data, len, "\xFF\xD8\xFF", 3))
        return biqa_jpeg_decode(name, data, len, out, err);
    if (has_prefix(data, len, "\x89PNG\r\n\x1A\n", 8))
        return biqa_png_decode(name, data, len, out, err);
    if (has_prefix(data, len, "BM", 2))
        return biqa_bmp_decode(name, data, len, out, err);
    char hex[3 * 8 + 1] = "";
    for (size_t i = 0, at = 0; i < len && i < 8; i++)
        at += (size_t)snprintf(hex + at, sizeof hex - at, "%s%02x", i ? " " : "", data[i]);
    return biqa_fail(err, "%s: not a JPEG, PNG or BMP file (starts with bytes %s)", name, hex);
}

int biqa_image_read(const char *path, biqa_image *out, biqa_error *err)
{
    char *data;
    size_t len;
    out->w = out->h = 0;
    out->px = NULL;
    if (biqa_read_file(path, &data, &len, err) < 0)
        return -1;
    int rc = biqa_image_decode(path, (const uint8_t *)data, len, out, err);
    free(data);
    return rc;
}

int biqa_image_write(const char *path, const biqa_image *im, int jpeg_quality, biqa_error *err)
{
    const char *dot = strrchr(path, '.');
    uint8_t *data;
    size_t len;
    int rc;
    if (dot && strcasecmp(dot, ".png") == 0)
        rc = biqa_image_encode_png(im, &data, &len, err);
    else if (dot && (strcasecmp(dot, ".jpg") == 0 || strcasecmp(dot, ".jpeg") == 0))
        rc = biqa_image_encode_jpeg(im, jpeg_quality, &data, &len, err);
    else
        return biqa_fail(err, "%s: unknown image extension (.png, .jpg or .jpeg)", path);
    if (rc < 0)
        return biqa_fail_wrap(err, "%s", path);
    rc = biqa_write_file_atomic(path, data, len, err);
    free(data);
    return rc;
}
