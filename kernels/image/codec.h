/* The decoders behind biqa_image_decode (kernels/image/io.c), one per
 * format; each assumes its magic bytes were checked and names `name` in
 * every error. Internal to kernels/image. */
#ifndef BIQA_KERNELS_IMAGE_CODEC_H
#define BIQA_KERNELS_IMAGE_CODEC_H

#include "kernels/image/image.h"

int biqa_png_decode(const char *name, const uint8_t *data, size_t len, biqa_image *out,
                    biqa_error *err);
int biqa_jpeg_decode(const char *name, const uint8_t *data, size_t len, biqa_image *out,
                     biqa_error *err);
int biqa_bmp_decode(const char *name, const uint8_t *data, size_t len, biqa_image *out,
                    biqa_error *err);

#endif
