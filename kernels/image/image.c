#include "kernels/image/image.h"

#include <stdlib.h>

int biqa_image_alloc(biqa_image *im, int w, int h, const char *name, biqa_error *err)
{
    im->w = im->h = 0;
    im->px = NULL;
    if (w <= 0 || h <= 0 || (int64_t)w * h > BIQA_IMAGE_MAX_PIXELS)
        return biqa_fail(err, "%s: image size %dx%d is out of range (1 .. 2^28 pixels)", name,
                         w, h);
    im->px = malloc((size_t)w * (size_t)h * 3);
    if (!im->px)
        return biqa_fail(err, "%s: out of memory for a %dx%d image", name, w, h);
    im->w = w;
    im->h = h;
    return 0;
}

void biqa_image_free(biqa_image *im)
{
    free(im->px);
    im->px = NULL;
    im->w = im->h = 0;
}
