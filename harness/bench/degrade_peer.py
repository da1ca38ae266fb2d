#!/usr/bin/python3
"""Peer of `biqa bench degrade`: the same degradation chains applied with
OpenCV + NumPy the way a Python IQA pipeline does it (uint8 OpenCV filters,
NumPy random numbers), on one thread. Times the whole list of chains, best of
--repeat, then compares its outputs with biqa's. Prints one JSON object:
  {"peer": ..., "seconds": best time for all chains, "psnr": [per chain, dB]}

usage: degrade_peer.py IMG CHAINS [--repeat R] [--compare PATTERN]
  IMG      the input image (biqa's PNG); worked on in OpenCV's BGR order
  CHAINS   one chain per line, "jpeg:3,gblur:2" (kernels/image/chain.h)
  PATTERN  biqa's output of chain i is PATTERN % i; PSNR of ours against it

Each op follows the convention that kernels/image/degrade.h and the files
beside it document, with the same parameters per level. Where it is not
identical to biqa:
  - random draws come from NumPy's default_rng, not core/rng.h: the noises,
    ISO noise, the motion-blur angle and the glass-blur offsets differ
    sample by sample (same distributions);
  - glass blur moves every interior pixel by an independent random offset
    in one vectorised gather, where biqa (as ImageNet-C) swaps pixels one
    by one from the bottom-right; the sequential swap in a Python loop would
    take about a second per image, and a peer that slow measures nothing;
  - the linear filters (sharpen, Gaussian, motion, generalised-Gaussian,
    defocus blur) run on uint8 through cv2 (fixed-point or float kernels,
    round-to-even): +-1 against biqa's float-then-round-half-up;
  - zoom blur: cv2.warpAffine (5-bit fixed-point bilinear, replicated
    borders) to uint8 per zoom, then the mean; biqa keeps each zoom in float;
  - saturation blends with cv2's rounded uint8 grey, biqa with the exact one;
  - bilinear and bicubic resizes are cv2.resize (11-bit fixed point; biqa is
    float): PSNR >= 40 dB per op. Nearest resize, median, JPEG (cv2.imencode
    at the same quality: libjpeg-turbo, 4:2:0, accurate DCT), brightness,
    contrast and gamma (tables) are the same bytes.
"""
import json
import math
import os
import sys
import time

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from degrade_levels import LEVELS  # noqa: E402

cv2.setNumThreads(1)

REFLECT = cv2.BORDER_REFLECT_101



def to_u8(v):
    """Round half up and clip, as biqa does."""
    return np.clip(v + 0.5, 0, 255).astype(np.uint8)


def radius(sigma):
    return max(1, math.ceil(3 * sigma))


def lut(x, table):
    return cv2.LUT(x, to_u8(table))


def sharpen(x, c, rng):
    blur = cv2.GaussianBlur(x, (3, 3), 0.8, borderType=REFLECT)
    return cv2.addWeighted(x, 1 + c, blur, -c, 0)


def gblur(x, sigma, rng):
    r = radius(sigma)
    return cv2.GaussianBlur(x, (2 * r + 1, 2 * r + 1), sigma, borderType=REFLECT)


def mblur(x, length, rng):
    """The anti-aliased line of kernels/image/blur.c at a random angle."""
    theta = math.pi * rng.random()
    r = math.ceil(length / 2) + 1
    npts = 1 + math.ceil(16 * length)
    t = length * (np.arange(npts) / (npts - 1) - 0.5)
    px, py = t * math.cos(theta) + r, t * math.sin(theta) + r
    x0, y0 = np.floor(px).astype(int), np.floor(py).astype(int)
    fx, fy = px - x0, py - y0
    k = np.zeros((2 * r + 1, 2 * r + 1))
    for dy, dx, w in ((0, 0, (1 - fx) * (1 - fy)), (0, 1, fx * (1 - fy)),
                      (1, 0, (1 - fx) * fy), (1, 1, fx * fy)):
        np.add.at(k, (y0 + dy, x0 + dx), w)
    return cv2.filter2D(x, -1, (k / k.sum()).astype(np.float32), borderType=REFLECT)


def median(x, k, rng):
    return cv2.medianBlur(x, int(k))


def glass(x, p, rng):
    sigma, d = p[0], int(p[1])
    h, w = x.shape[:2]
    f = gblur(x, sigma, rng)
    if h > 2 * d and w > 2 * d:
        yy, xx = np.mgrid[d:h - d, d:w - d]
        dy = rng.integers(-d, d + 1, yy.shape)
        dx = rng.integers(-d, d + 1, xx.shape)
        f[d:h - d, d:w - d] = f[yy + dy, xx + dx]
    return gblur(f, sigma, rng)


def disk_filter(x, kernel):
    return cv2.filter2D(x, -1, (kernel / kernel.sum()).astype(np.float32), borderType=REFLECT)


def ggblur(x, p, rng):
    sigma, beta = (p, 1.0) if np.isscalar(p) else p
    r = radius(sigma)
    y, xx = np.mgrid[-r:r + 1, -r:r + 1]
    rho = np.hypot(xx, y)
    return disk_filter(x, np.where(rho <= r, np.exp(-(rho / sigma) ** beta), 0))


def defocus(x, rad, rng):
    r = int(math.floor(rad))
    y, xx = np.mgrid[-r:r + 1, -r:r + 1]
    return disk_filter(x, (xx * xx + y * y <= rad * rad).astype(np.float64))


def zoom(x, zmax, rng):
    h, w = x.shape[:2]
    n = int(math.floor((zmax - 1) * 100 + 1e-6))
    acc = x.astype(np.float32)
    cx, cy = (w - 1) / 2, (h - 1) / 2
    for s in range(1, n + 1):
        z = 1 + 0.01 * s
        m = np.float32([[1 / z, 0, cx - cx / z], [0, 1 / z, cy - cy / z]])
        cv2.accumulate(cv2.warpAffine(x, m, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                      borderMode=cv2.BORDER_REPLICATE), acc)
    return to_u8(acc * (1.0 / (n + 1)))


def iso(x, p, rng):
    """albumentations' ISONoise, in OpenCV's float HLS."""
    shift, intensity = p
    hls = cv2.cvtColor(x.astype(np.float32) * np.float32(1 / 255), cv2.COLOR_BGR2HLS)
    lum = hls[..., 1]
    lum_noise = rng.poisson(float(np.std(lum)) * intensity * 255, lum.shape)
    hue_noise = rng.normal(0, shift * 360 * intensity, lum.shape)
    hls[..., 0] = np.mod(hls[..., 0] + hue_noise, 360)
    hls[..., 1] += lum_noise / 255 * (1 - lum)
    return to_u8(cv2.cvtColor(hls, cv2.COLOR_HLS2BGR) * 255)


def noise(x, s, rng):
    return to_u8(x + s * rng.standard_normal(x.shape, dtype=np.float32))


def grey_noise(x, s, rng):
    return to_u8(x + s * rng.standard_normal(x.shape[:2] + (1,), dtype=np.float32))


def speckle(x, a, rng):
    u = rng.random(x.shape, dtype=np.float32)
    return to_u8(x * (1 + a * (2 * u - 1)))


def brightness(x, f, rng):
    return lut(x, np.arange(256) * f)


def contrast(x, f, rng):
    b, g, r = cv2.mean(x)[:3]
    m = 0.299 * r + 0.587 * g + 0.114 * b
    return lut(x, m + f * (np.arange(256) - m))


def gamma(x, g, rng):
    return lut(x, 255 * (np.arange(256) / 255.0) ** (1 / g))


def hue(x, degrees, rng):
    hsv = cv2.cvtColor(x.astype(np.float32) * np.float32(1 / 255), cv2.COLOR_BGR2HSV)
    hsv[..., 0] = np.mod(hsv[..., 0] + degrees, 360)
    return to_u8(cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR) * 255)


def saturation(x, f, rng):
    grey = cv2.cvtColor(cv2.cvtColor(x, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    return cv2.addWeighted(x, f, grey, 1 - f, 0)


def jpeg(x, q, rng):
    ok, data = cv2.imencode(".jpg", x, [cv2.IMWRITE_JPEG_QUALITY, int(q)])
    return cv2.imdecode(data, cv2.IMREAD_COLOR)


def down_up(interp):
    def op(x, f, rng):
        h, w = x.shape[:2]
        small = cv2.resize(x, (max(1, math.floor(w / f + 0.5)), max(1, math.floor(h / f + 0.5))),
                           interpolation=interp)
        return cv2.resize(small, (w, h), interpolation=interp)
    return op


OPS = {
    "sharpen": sharpen, "gblur": gblur, "mblur": mblur, "median": median, "glass": glass,
    "ggblur": ggblur, "defocus": defocus, "zoom": zoom, "iso": iso, "noise": noise,
    "grey_noise": grey_noise, "speckle": speckle, "bright+": brightness, "bright-": brightness,
    "contrast+": contrast, "contrast-": contrast, "gamma+": gamma, "gamma-": gamma, "hue+": hue,
    "hue-": hue, "sat+": saturation, "sat-": saturation, "jpeg": jpeg,
    "resize_nearest": down_up(cv2.INTER_NEAREST_EXACT),
    "resize_bilinear": down_up(cv2.INTER_LINEAR), "resize_bicubic": down_up(cv2.INTER_CUBIC),
}


def parse(text):
    steps = []
    for item in filter(None, (s.strip() for s in text.split(","))):
        name, level = item.split(":")
        steps.append((OPS[name.strip()], LEVELS[name.strip()][int(level) - 1]))
    return steps


def apply(x, steps, seed):
    rng = np.random.default_rng(seed)
    for op, p in steps:
        x = op(x, p, rng)
    return x


def psnr(a, b):
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else min(99.0, 10 * math.log10(255.0 ** 2 / mse))


def main():
    img, chains_path = sys.argv[1], sys.argv[2]
    repeat = int(sys.argv[sys.argv.index("--repeat") + 1]) if "--repeat" in sys.argv else 3
    pattern = sys.argv[sys.argv.index("--compare") + 1] if "--compare" in sys.argv else None
    x = cv2.imread(img, cv2.IMREAD_COLOR)
    with open(chains_path) as f:
        chains = [parse(line) for line in f.read().splitlines()]
    best = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        outs = [apply(x, steps, i) for i, steps in enumerate(chains)]
        best = min(best, time.perf_counter() - t0)
    scores = [psnr(o, cv2.imread(pattern % i, cv2.IMREAD_COLOR)) for i, o in enumerate(outs)] \
        if pattern else []
    print(json.dumps({"peer": f"OpenCV {cv2.__version__} + NumPy {np.__version__}, one thread",
                      "seconds": best, "psnr": scores}))


if __name__ == "__main__":
    main()
