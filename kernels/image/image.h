/* The 8-bit RGB image every image op works on, and its file formats.
 *
 * Pixels are h rows of w RGB triples, row-major, no padding (stride 3w).
 * Decoding detects the format by its magic bytes, never by the file name:
 * JPEG (TurboJPEG), PNG (libpng) and BMP (own reader). Grey, palette,
 * 16-bit and alpha inputs all become RGB8; alpha is dropped, not composited.
 * Every error is one line that names the file. */
#ifndef BIQA_KERNELS_IMAGE_IMAGE_H
#define BIQA_KERNELS_IMAGE_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

typedef struct biqa_image {
    int w, h;
    uint8_t *px; /* 3 * w * h bytes, malloc'd */
} biqa_image;

/* Larger images are refused as corrupt before any allocation (a small PNG or
 * JPEG can claim huge dimensions). 2^28 pixels = 768 MiB of RGB. */
#define BIQA_IMAGE_MAX_PIXELS ((int64_t)1 << 28)

/* Allocates w x h (uninitialised); name is used in the error message. */
int biqa_image_alloc(biqa_image *im, int w, int h, const char *name, biqa_error *err);
/* Frees px and empties im; safe on an empty image. */
void biqa_image_free(biqa_image *im);

/* Decodes an in-memory file; name only labels errors. */
int biqa_image_decode(const char *name, const uint8_t *data, size_t len, biqa_image *out,
                      biqa_error *err);
int biqa_image_read(const char *path, biqa_image *out, biqa_error *err);

/* Encodes into a malloc'd buffer (caller frees). JPEG: baseline, 4:2:0
 * chroma subsampling, quality 1..100 (libjpeg's quality scaling). */
int biqa_image_encode_png(const biqa_image *im, uint8_t **data, size_t *len, biqa_error *err);
int biqa_image_encode_jpeg(const biqa_image *im, int quality, uint8_t **data, size_t *len,
                           biqa_error *err);

/* Writes atomically (temporary file + rename); the format comes from the
 * extension: .png, or .jpg/.jpeg (at jpeg_quality). */
int biqa_image_write(const char *path, const biqa_image *im, int jpeg_quality, biqa_error *err);

#endif
