/* JPEG through TurboJPEG (libjpeg-turbo's own API, 2.x).
 *
 * Encoding: baseline, 4:2:0 chroma subsampling, libjpeg's standard quality
 * scaling of the Annex K tables, accurate integer DCT (TurboJPEG's own
 * default is the fast DCT; TJFLAG_ACCURATEDCT restores libjpeg's), no
 * Huffman optimisation: libjpeg's defaults, as Pillow uses them, so a
 * Pillow round trip at the same quality gives the same pixels.
 * Decoding: accurate integer IDCT and fancy upsampling (libjpeg's defaults).
 * Any libjpeg warning is an error (TJFLAG_STOPONWARNING): a truncated or
 * corrupt stream must not quietly decode to grey blocks. CMYK JPEGs are
 * refused by TurboJPEG's colour conversion with its message. */
#include <stdlib.h>
#include <turbojpeg.h>

#include "kernels/image/codec.h"
#include "kernels/image/ops.h"

int biqa_jpeg_decode(const char *name, const uint8_t *data, size_t len, biqa_image *out,
                     biqa_error *err)
{
    out->w = out->h = 0;
    out->px = NULL;
    if (len > (size_t)0xFFFFFFFFu)
        return biqa_fail(err, "%s: JPEG file larger than 4 GiB", name);
    tjhandle tj = tjInitDecompress();
    if (!tj)
        return biqa_fail(err, "%s: cannot start the JPEG decoder: %s", name, tjGetErrorStr2(NULL));
    int w, h, subsamp, colorspace;
    if (tjDecompressHeader3(tj, data, (unsigned long)len, &w, &h, &subsamp, &colorspace) < 0) {
        biqa_fail(err, "%s: corrupt JPEG: %s", name, tjGetErrorStr2(tj));
        tjDestroy(tj);
        return -1;
    }
    if (w <= 0 || h <= 0) { /* a stream cut before its frame header "succeeds" */
        tjDestroy(tj);
        return biqa_fail(err, "%s: corrupt JPEG: no frame header (truncated file?)", name);
    }
    if (biqa_image_alloc(out, w, h, name, err) < 0) {
        tjDestroy(tj);
        return -1;
    }
    if (tjDecompress2(tj, data, (unsigned long)len, out->px, w, 0, h, TJPF_RGB,
                      TJFLAG_STOPONWARNING) < 0) {
        biqa_fail(err, "%s: corrupt JPEG: %s", name, tjGetErrorStr2(tj));
        biqa_image_free(out);
        tjDestroy(tj);
        return -1;
    }
    tjDestroy(tj);
    return 0;
}

int biqa_image_encode_jpeg(const biqa_image *im, int quality, uint8_t **data, size_t *len,
                           biqa_error *err)
{
    if (quality < 1 || quality > 100)
        return biqa_fail(err, "JPEG encoder: quality %d is outside 1..100", quality);
    tjhandle tj = tjInitCompress();
    if (!tj)
        return biqa_fail(err, "cannot start the JPEG encoder: %s", tjGetErrorStr2(NULL));
    /* A malloc'd worst-case buffer that TurboJPEG must not reallocate, so
     * the caller frees it with free() like every other biqa buffer. */
    unsigned long size = tjBufSize(im->w, im->h, TJSAMP_420);
    uint8_t *buf = size == (unsigned long)-1 ? NULL : malloc(size);
    if (!buf) {
        tjDestroy(tj);
        return biqa_fail(err, "JPEG encoder: out of memory for a %dx%d image", im->w, im->h);
    }
    if (tjCompress2(tj, im->px, im->w, 0, im->h, TJPF_RGB, &buf, &size, TJSAMP_420, quality,
                    TJFLAG_NOREALLOC | TJFLAG_ACCURATEDCT) < 0) {
        biqa_fail(err, "JPEG encoder: %s", tjGetErrorStr2(tj));
        free(buf);
        tjDestroy(tj);
        return -1;
    }
    tjDestroy(tj);
    *data = buf;
    *len = size;
    return 0;
}

/* The JPEG degradation: encode at quality p[0] as above, decode into out. */
int biqa_op_jpeg(const biqa_image *in, const double *p, uint64_t seed, uint64_t stream,
                 uint8_t *out, biqa_error *err)
{
    (void)seed, (void)stream;
    uint8_t *data;
    size_t len;
    if (biqa_image_encode_jpeg(in, (int)p[0], &data, &len, err) < 0)
        return -1;
    tjhandle tj = tjInitDecompress();
    int rc = tj ? tjDecompress2(tj, data, (unsigned long)len, out, in->w, 0, in->h, TJPF_RGB, 0)
                : -1;
    if (rc < 0)
        biqa_fail(err, "JPEG decoder: %s", tjGetErrorStr2(tj));
    if (tj)
        tjDestroy(tj);
    free(data);
    return rc < 0 ? -1 : 0;
}
