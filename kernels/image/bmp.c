/* BMP reader (Windows bitmap; there is no system library for it).
 *
 * Accepted: BITMAPINFOHEADER (40 bytes) and its successors V2/V3 (52, 56),
 * V4 (108) and V5 (124); 8-bit palette (BI_RGB), 24-bit BGR (BI_RGB),
 * 32-bit BGRX (BI_RGB) or with channel masks (BI_BITFIELDS, any contiguous
 * masks, scaled to 8 bits with rounding); rows bottom-up (height > 0) or
 * top-down (height < 0), each padded to 4 bytes. The alpha byte or mask is
 * ignored and colour-space fields are not applied. Refused with a message:
 * the OS/2 headers, RLE and other compressions, 1/4/16-bit pixels. */
#include <stdlib.h>

#include "kernels/image/codec.h"

enum { BI_RGB = 0, BI_BITFIELDS = 3 };

static uint32_t u16le(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t u32le(const uint8_t *p) { return u16le(p) | u16le(p + 2) << 16; }

/* A channel mask as (shift, max value); -1 when it is empty or not contiguous. */
static int parse_mask(uint32_t mask, int *shift, uint32_t *max)
{
    if (!mask)
        return -1;
    int s = __builtin_ctz(mask);
    uint32_t m = mask >> s;
    if (m & (m + 1))
        return -1;
    *shift = s;
    *max = m;
    return 0;
}

int biqa_bmp_decode(const char *name, const uint8_t *data, size_t len, biqa_image *out,
                    biqa_error *err)
{
    out->w = out->h = 0;
    out->px = NULL;
    if (len < 14 + 40)
        return biqa_fail(err, "%s: truncated BMP: %zu bytes, the headers alone need 54", name,
                         len);
    uint32_t offset = u32le(data + 10), hsize = u32le(data + 14);
    if (hsize != 40 && hsize != 52 && hsize != 56 && hsize != 108 && hsize != 124)
        return biqa_fail(err, "%s: unsupported BMP header of %u bytes (40, 52, 56, 108 and 124 "
                         "are read)", name, (unsigned)hsize);
    if (len < 14 + (size_t)hsize)
        return biqa_fail(err, "%s: truncated BMP: %zu bytes, the headers need %u", name, len,
                         14 + (unsigned)hsize);
    int64_t w = (int32_t)u32le(data + 18), h = (int32_t)u32le(data + 22);
    uint32_t bpp = u16le(data + 28), comp = u32le(data + 30), ncolours = u32le(data + 46);
    int top_down = h < 0;
    if (top_down)
        h = -h;
    if (w <= 0 || h <= 0)
        return biqa_fail(err, "%s: corrupt BMP: size %lldx%lld", name, (long long)w,
                         (long long)(top_down ? -h : h));
    if (!((bpp == 8 && comp == BI_RGB) || (bpp == 24 && comp == BI_RGB) ||
          (bpp == 32 && (comp == BI_RGB || comp == BI_BITFIELDS))))
        return biqa_fail(err, "%s: unsupported BMP: %u bits per pixel with compression %u "
                         "(8 and 24-bit uncompressed and 32-bit uncompressed or bitfields are "
                         "read)", name, (unsigned)bpp, (unsigned)comp);

    int shift[3] = {16, 8, 0};
    uint32_t max[3] = {255, 255, 255};
    size_t extra = 0; /* masks stored after a 40-byte header */
    if (comp == BI_BITFIELDS) {
        extra = hsize == 40 ? 12 : 0;
        if (len < 14 + (size_t)hsize + extra)
            return biqa_fail(err, "%s: truncated BMP: the channel masks are missing", name);
        for (int c = 0; c < 3; c++)
            if (parse_mask(u32le(data + 54 + 4 * c), &shift[c], &max[c]) < 0)
                return biqa_fail(err, "%s: corrupt BMP: %s mask 0x%08x is empty or not "
                                 "contiguous", name, c == 0 ? "red" : c == 1 ? "green" : "blue",
                                 (unsigned)u32le(data + 54 + 4 * c));
    }
    const uint8_t *palette = NULL;
    if (bpp == 8) {
        if (ncolours == 0)
            ncolours = 256;
        if (ncolours > 256)
            return biqa_fail(err, "%s: corrupt BMP: %u palette colours for 8-bit pixels", name,
                             (unsigned)ncolours);
        size_t start = 14 + (size_t)hsize;
        if (start + 4 * (size_t)ncolours > len)
            return biqa_fail(err, "%s: truncated BMP: the %u-colour palette is cut off", name,
                             (unsigned)ncolours);
        palette = data + start;
    }

    uint64_t row_bytes = ((uint64_t)w * bpp + 7) / 8, stride = ((uint64_t)w * bpp + 31) / 32 * 4;
    uint64_t need = (uint64_t)offset + stride * (uint64_t)(h - 1) + row_bytes;
    if (offset < 14 + hsize + extra || need > len)
        return biqa_fail(err, "%s: truncated BMP: pixel data at offset %u needs %llu bytes, the "
                         "file has %zu", name, (unsigned)offset, (unsigned long long)need, len);
    if (biqa_image_alloc(out, (int)w, (int)h, name, err) < 0)
        return -1;

    for (int64_t y = 0; y < h; y++) {
        const uint8_t *src = data + offset + stride * (uint64_t)(top_down ? y : h - 1 - y);
        uint8_t *dst = out->px + (size_t)y * (size_t)w * 3;
        for (int64_t x = 0; x < w; x++, dst += 3) {
            if (bpp == 8) {
                uint32_t i = src[x];
                if (i >= ncolours) {
                    biqa_image_free(out);
                    return biqa_fail(err, "%s: corrupt BMP: pixel (%lld, %lld) uses colour %u of a "
                                     "%u-colour palette", name, (long long)x, (long long)y,
                                     (unsigned)i, (unsigned)ncolours);
                }
                const uint8_t *bgr = palette + 4 * i;
                dst[0] = bgr[2], dst[1] = bgr[1], dst[2] = bgr[0];
            } else if (bpp == 24) {
                const uint8_t *bgr = src + 3 * x;
                dst[0] = bgr[2], dst[1] = bgr[1], dst[2] = bgr[0];
            } else {
                uint32_t v = u32le(src + 4 * x);
                for (int c = 0; c < 3; c++) {
                    uint64_t s = (v >> shift[c]) & max[c];
                    dst[c] = (uint8_t)((s * 255 + max[c] / 2) / max[c]);
                }
            }
        }
    }
    return 0;
}
