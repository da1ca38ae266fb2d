#!/usr/bin/python3
"""kernels/image (the 26 degradations and the codecs) against OpenCV, Pillow,
SciPy and NumPy.

usage: degrade_vs_opencv.py [BIQA [HELPERS]]   (or env BIQA, BIQA_HELPERS)

Drives HELPERS/degrade_run (tests/helpers/degrade_run.c) on images generated
here (gradients, shapes, texture, dead leaves, and a saturating test card).

1. Oracles. Where OpenCV or Pillow has the op, biqa must match it:
     JPEG (Pillow, same quality, 4:2:0), median (cv2.medianBlur),
     nearest down-up resize (cv2.resize, INTER_NEAREST_EXACT) exactly;
     Gaussian blur (cv2.GaussianBlur on uint8: 11-bit fixed point),
     bilinear and bicubic down-up resize (cv2.resize, fixed
     point)                                                   PSNR >= 40 dB;
   and with float arithmetic on both sides (the op's stated formula run in
   OpenCV/SciPy float, rounded half up)                       max |diff| <= 1:
     sharpen, Gaussian blur, defocus, generalised Gaussian, motion blur
     (cv2.filter2D with the kernel rebuilt from the same random angle),
     glass blur (the same swaps from a NumPy mirror of core/rng.h), zoom
     blur (scipy.ndimage.map_coordinates);
   the colour formulas (brightness, contrast, gamma, saturation) in NumPy
   float64                                                    exactly;
   hue (cv2 float32 HSV round trip)      max |diff| <= 1 and PSNR >= 60 dB:
     the shifts are multiples of 0.06 of a hue sector, so exact results at
     x.5 are common (an odd multiple of 5 times 0.3) and either float
     arithmetic may round them either way.
   The noises have no oracle: their distributions are checked instead
   (discrete Gaussian by a G-test, speckle's uniform, ISO's Poisson mean).
2. Every op at levels 1..5 is strictly monotone, input first, in a property
   of its kind (high-frequency energy for the linear blurs, residual std for
   noises, mean / contrast / saturation / hue angle for colour ops, PSNR for
   JPEG and resizes) on four generated images. Two blurs need another
   measure: the median filter, not a linear smoother, can raise the
   Laplacian energy of a grating (its distortion, MSE to the input, grows);
   glass blur's shuffling adds high frequencies and its growing blur removes
   them (its distortion at scale, MSE after a sigma-2 blur, grows).
3. Same seed -> same bytes; another seed -> other bytes exactly for the
   random ops; no wrap-around at saturated inputs.
4. Prints each op's time at 256x256 (best of 7) beside OpenCV's where it has
   the op; timings are information, never a pass/fail criterion.

Run it with Debian's /usr/bin/python3 (OpenCV 4.6, Pillow 9.4, NumPy, SciPy).
Prints one line per check; exits 1 naming every check that failed.
"""
import io
import math
import os
import subprocess
import sys
import tempfile
import time

import cv2
import numpy as np
from PIL import Image
from scipy import ndimage, special, stats

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rng as biqa_rng  # noqa: E402  (tests/ref/rng.py: the mirror of core/rng.h)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "harness", "bench"))
from degrade_levels import LEVELS  # noqa: E402

failures = []

RANDOM = {"mblur", "glass", "iso", "noise", "grey_noise", "speckle"}
SEED = 11
REFLECT = cv2.BORDER_REFLECT_101


def check(name, ok, detail=""):
    print(f"{'ok  ' if ok else 'FAIL'} {name}{': ' + detail if detail else ''}", flush=True)
    if not ok:
        failures.append(name)


# ---- generated images ----------------------------------------------------------

def scene(h, w, rng):
    """Gradients, filled shapes and a fine, band-limited texture. (Per-pixel
    white noise is left out: resizing without antialiasing, as cv2.resize
    does, keeps all of it at integer factors, where the samples fall on pixel
    centres, but averages it away at fractional ones, so on white noise a
    down-up by 3 is worse than one by 3.5.)"""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.stack([40 + 170 * x / w, 30 + 190 * y / h, 128 + 80 * np.sin(x / 7 + y / 11)], -1)
    for _ in range(10):
        colour = [float(c) for c in rng.integers(0, 256, 3)]
        cx, cy = int(rng.integers(0, w)), int(rng.integers(0, h))
        if rng.random() < 0.5:
            cv2.circle(img, (cx, cy), int(rng.integers(4, max(5, w // 4))), colour, -1)
        else:
            cv2.rectangle(img, (cx, cy), (cx + int(rng.integers(5, 30)), cy + int(rng.integers(5, 30))),
                          colour, -1)
    img += ndimage.gaussian_filter(rng.normal(0, 15, img.shape), (1, 1, 0))
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def texture(h, w, rng):
    """Gratings at several frequencies and orientations plus band-limited noise."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.zeros((h, w, 3))
    for c in range(3):
        for f, a in ((0.9, 0.3), (0.35, 1.2), (0.12, 2.0)):
            img[..., c] += 35 * np.sin(f * (x * np.cos(a + c) + y * np.sin(a + c)))
    img += ndimage.gaussian_filter(rng.normal(0, 60, (h, w, 3)), (1.5, 1.5, 0))
    return np.clip(np.rint(img + 128), 0, 255).astype(np.uint8)


def leaves(h, w, rng):
    """Dead leaves: occluding discs with power-law radii."""
    img = np.full((h, w, 3), 128.0)
    for _ in range(300):
        r = int(min(w, h) / 3 * rng.random() ** 3) + 1
        colour = [float(c) for c in rng.integers(0, 256, 3)]
        cv2.circle(img, (int(rng.integers(0, w)), int(rng.integers(0, h))), r, colour, -1)
    return img.astype(np.uint8)


def test_card(h, w):
    """Saturated regions: black and white halves, primaries, a grey ramp."""
    img = np.zeros((h, w, 3), np.uint8)
    img[:, w // 2:] = 255
    img[h * 3 // 4:, :w // 4] = (255, 0, 0)
    img[h * 3 // 4:, w // 4:w // 2] = (0, 255, 0)
    img[h * 3 // 4:, w // 2:w * 3 // 4] = (0, 0, 255)
    img[h * 3 // 4:, w * 3 // 4:] = np.linspace(0, 255, w - w * 3 // 4)[None, :, None]
    return img


def images():
    rng = np.random.default_rng(2024)
    return {
        "scene 120x96": scene(96, 120, rng),
        "texture 97x83": texture(83, 97, rng),
        "leaves 128x80": leaves(80, 128, rng),
        "scene 64x150": scene(150, 64, rng),
    }


# ---- running biqa ----------------------------------------------------------------

def write_png(path, rgb):
    cv2.imwrite(path, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


def read_png(path):
    return cv2.cvtColor(cv2.imread(path, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def run(tool, *args):
    r = subprocess.run([tool, *map(str, args)], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"degrade_run {' '.join(map(str, args))}: {r.stderr.strip()}")
    return r.stdout


def degrade_all(tool, tmp, tag, rgb, seed):
    """{(name, level): output} of every type and level, through PNG files."""
    src = os.path.join(tmp, f"{tag}.png")
    out = os.path.join(tmp, f"{tag}-{seed}")
    os.makedirs(out, exist_ok=True)
    write_png(src, rgb)
    run(tool, "all", src, out, seed)
    return {(n, l): open(os.path.join(out, f"{n}_{l}.png"), "rb").read()
            for n in LEVELS for l in range(1, 6)}


def decode(png_bytes):
    return cv2.cvtColor(cv2.imdecode(np.frombuffer(png_bytes, np.uint8), cv2.IMREAD_COLOR),
                        cv2.COLOR_BGR2RGB)


# ---- oracles ------------------------------------------------------------------------

def round_half_up(v):
    return np.clip(np.floor(v + 0.5), 0, 255).astype(np.uint8)


def radius(sigma):
    return max(1, math.ceil(3 * sigma))


def gaussian_f32(x, sigma, r):
    return cv2.GaussianBlur(x.astype(np.float32), (2 * r + 1, 2 * r + 1), sigma, borderType=REFLECT)


def filter_f32(x, kernel):
    return cv2.filter2D(x.astype(np.float32), -1, kernel.astype(np.float32), borderType=REFLECT)


def ggblur_kernel(sigma, beta=1.0):
    r = radius(sigma)
    y, x = np.mgrid[-r:r + 1, -r:r + 1]
    rho = np.hypot(x, y)
    k = np.where(rho <= r, np.exp(-(rho / sigma) ** beta), 0)
    return k / k.sum()


def disk_kernel(rad):
    r = int(math.floor(rad))
    y, x = np.mgrid[-r:r + 1, -r:r + 1]
    k = (x * x + y * y <= rad * rad).astype(np.float64)
    return k / k.sum()


def motion_kernel(length, seed):
    theta = math.pi * biqa_rng.uniform(seed, biqa_rng.stream_id("degrade/mblur"), [0])[0]
    r = math.ceil(length / 2) + 1
    side = 2 * r + 1
    npts = 1 + math.ceil(16 * length)
    k = np.zeros((side, side))
    for j in range(npts):
        t = 0.0 if npts == 1 else length * (j / (npts - 1) - 0.5)
        x, y = t * math.cos(theta) + r, t * math.sin(theta) + r
        x0, y0 = math.floor(x), math.floor(y)
        fx, fy = x - x0, y - y0
        k[y0, x0] += (1 - fx) * (1 - fy)
        k[y0, x0 + 1] += fx * (1 - fy)
        k[y0 + 1, x0] += (1 - fx) * fy
        k[y0 + 1, x0 + 1] += fx * fy
    return k / k.sum()


def glass_oracle(x, sigma, d, seed):
    h, w = x.shape[:2]
    r = radius(sigma)
    f = gaussian_f32(x, sigma, r)
    u = biqa_rng.u64(seed, biqa_rng.stream_id("degrade/glass"), np.arange(h * w, dtype=np.uint64)).reshape(h, w)
    span = np.uint64(2 * d + 1)
    dx = (((u & np.uint64(0xFFFFFFFF)) * span) >> np.uint64(32)).astype(np.int64) - d
    dy = (((u >> np.uint64(32)) * span) >> np.uint64(32)).astype(np.int64) - d
    for yy in range(h - 1 - d, d - 1, -1):
        for xx in range(w - 1 - d, d - 1, -1):
            a, b = (yy, xx), (yy + dy[yy, xx], xx + dx[yy, xx])
            f[a], f[b] = f[b].copy(), f[a].copy()
    return round_half_up(gaussian_f32(f, sigma, r))


def zoom_oracle(x, zmax):
    h, w = x.shape[:2]
    n = int(math.floor((zmax - 1) * 100 + 1e-6))
    acc = x.astype(np.float64)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    cy, cx = (h - 1) / 2, (w - 1) / 2
    for s in range(1, n + 1):
        z = 1 + 0.01 * s
        coords = [cy + (yy - cy) / z, cx + (xx - cx) / z]
        for c in range(3):
            acc[..., c] += ndimage.map_coordinates(x[..., c].astype(np.float64), coords, order=1,
                                                   mode="nearest")
    return round_half_up(acc / (n + 1))


def hue_oracle(x, degrees):
    hsv = cv2.cvtColor(x.astype(np.float32) / 255, cv2.COLOR_RGB2HSV)
    hsv[..., 0] = np.mod(hsv[..., 0] + degrees, 360)
    return round_half_up(cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB).astype(np.float64) * 255)


def luma1000(x):
    x = x.astype(np.int64)
    return 299 * x[..., 0] + 587 * x[..., 1] + 114 * x[..., 2]


def contrast_oracle(x, f):
    s = x.reshape(-1, 3).astype(np.int64).sum(0)
    m = float(299 * s[0] + 587 * s[1] + 114 * s[2]) / (1000.0 * (x.shape[0] * x.shape[1]))
    return round_half_up(m + f * (x.astype(np.float64) - m))


def saturation_oracle(x, f):
    y = (luma1000(x) / 1000.0)[..., None]
    return round_half_up(y + f * (x.astype(np.float64) - y))


def down_up(x, factor, interp):
    h, w = x.shape[:2]
    small = cv2.resize(x, (max(1, math.floor(w / factor + 0.5)), max(1, math.floor(h / factor + 0.5))),
                       interpolation=interp)
    return cv2.resize(small, (w, h), interpolation=interp)


def pillow_jpeg(x, quality):
    buf = io.BytesIO()
    Image.fromarray(x).save(buf, "JPEG", quality=quality, subsampling=2)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


# (name, oracle(x, p, seed), criterion): "exact", "psnr40" or "float1".
ORACLES = [
    ("sharpen", lambda x, c, s: round_half_up((1 + c) * x.astype(np.float64)
                                              - c * gaussian_f32(x, 0.8, 1)), "float1"),
    ("gblur", lambda x, sg, s: round_half_up(gaussian_f32(x, sg, radius(sg))), "float1"),
    ("gblur", lambda x, sg, s: cv2.GaussianBlur(x, (2 * radius(sg) + 1,) * 2, sg,
                                                borderType=REFLECT), "psnr40"),
    ("mblur", lambda x, L, s: round_half_up(filter_f32(x, motion_kernel(L, s))), "float1"),
    ("median", lambda x, k, s: cv2.medianBlur(x, k), "exact"),
    ("glass", lambda x, p, s: glass_oracle(x, p[0], p[1], s), "float1"),
    ("ggblur", lambda x, sg, s: round_half_up(filter_f32(x, ggblur_kernel(sg))), "float1"),
    ("defocus", lambda x, r, s: round_half_up(filter_f32(x, disk_kernel(r))), "float1"),
    ("zoom", lambda x, z, s: zoom_oracle(x, z), "float1"),
    ("bright+", lambda x, f, s: round_half_up(x * f), "exact"),
    ("bright-", lambda x, f, s: round_half_up(x * f), "exact"),
    ("contrast+", lambda x, f, s: contrast_oracle(x, f), "exact"),
    ("contrast-", lambda x, f, s: contrast_oracle(x, f), "exact"),
    ("gamma+", lambda x, g, s: round_half_up(255 * np.power(x / 255.0, 1 / g)), "exact"),
    ("gamma-", lambda x, g, s: round_half_up(255 * np.power(x / 255.0, 1 / g)), "exact"),
    ("hue+", lambda x, d, s: hue_oracle(x, d), "ties"),
    ("hue-", lambda x, d, s: hue_oracle(x, d), "ties"),
    ("sat+", lambda x, f, s: saturation_oracle(x, f), "exact"),
    ("sat-", lambda x, f, s: saturation_oracle(x, f), "exact"),
    ("jpeg", lambda x, q, s: pillow_jpeg(x, q), "exact"),
    ("resize_nearest", lambda x, f, s: down_up(x, f, cv2.INTER_NEAREST_EXACT), "exact"),
    ("resize_bilinear", lambda x, f, s: down_up(x, f, cv2.INTER_LINEAR), "psnr40"),
    ("resize_bicubic", lambda x, f, s: down_up(x, f, cv2.INTER_CUBIC), "psnr40"),
]


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def oracle_checks(outputs, inputs):
    for name, oracle, criterion in ORACLES:
        worst_psnr, worst_max, worst_frac, bad = math.inf, 0, 0.0, []
        for tag, x in inputs.items():
            for level, p in enumerate(LEVELS[name], 1):
                got = decode(outputs[tag][(name, level)])
                want = oracle(x, p, SEED)
                diff = np.abs(got.astype(np.int64) - want.astype(np.int64))
                q, mx, frac = psnr(got, want), int(diff.max()), float(np.mean(diff > 0))
                worst_psnr, worst_max, worst_frac = min(worst_psnr, q), max(worst_max, mx), max(worst_frac, frac)
                ok = {"exact": mx == 0, "psnr40": q >= 40, "float1": mx <= 1 and frac < 0.01,
                      "ties": mx <= 1 and q >= 60}[criterion]
                if not ok:
                    bad.append(f"{tag} level {level}: PSNR {q:.1f} max {mx} differing {frac:.2%}")
        what = {"exact": "exactly", "psnr40": "PSNR >= 40 dB", "float1": "max |diff| <= 1, < 1% differ",
                "ties": "max |diff| <= 1, PSNR >= 60 dB"}
        check(f"oracle {name} ({what[criterion]})", not bad,
              f"worst PSNR {worst_psnr:.1f} dB, max |diff| {worst_max}, differing {worst_frac:.3%}"
              + ("; " + "; ".join(bad[:3]) if bad else ""))


# ---- noise distributions ------------------------------------------------------------

def noise_checks(tool, tmp):
    flat = np.full((200, 200, 3), 128, np.uint8)
    out = degrade_all(tool, tmp, "flat128", flat, SEED)
    for name in ("noise", "grey_noise"):
        for level, s in enumerate(LEVELS[name], 1):
            res = decode(out[(name, level)]).astype(np.int64) - 128
            if name == "grey_noise":
                same = bool(np.all(res[..., 0] == res[..., 1]) and np.all(res[..., 1] == res[..., 2]))
                check(f"{name} level {level}: one value for all channels", same)
                v = res[..., 0].ravel()
            else:
                corr = np.corrcoef(res.reshape(-1, 3).T)[np.triu_indices(3, 1)]
                check(f"{name} level {level}: channels independent", np.all(np.abs(corr) < 0.02),
                      f"correlations {np.round(corr, 4).tolist()}")
                v = res.ravel()
            # G-test against P(N = k) = Phi((k + 1/2) / s) - Phi((k - 1/2) / s), tails pooled.
            ks = np.arange(-int(4 * s), int(4 * s) + 1)
            p = special.ndtr((ks + 0.5) / s) - special.ndtr((ks - 0.5) / s)
            p[0] += special.ndtr((ks[0] - 0.5) / s)
            p[-1] += 1 - special.ndtr((ks[-1] + 0.5) / s)
            counts = np.array([np.sum(v == k) for k in ks], np.float64)
            counts[0] += np.sum(v < ks[0])
            counts[-1] += np.sum(v > ks[-1])
            g, pval = stats.power_divergence(counts, p * len(v), lambda_="log-likelihood")
            check(f"{name} level {level}: round(N(0, {s}^2)) distribution", pval > 1e-4,
                  f"std {v.std():.3f} (want {s}), mean {v.mean():+.3f}, G-test p = {pval:.3f}")
    flat200 = np.full((200, 200, 3), 200, np.uint8)
    out = degrade_all(tool, tmp, "flat200", flat200, SEED)
    for level, a in enumerate(LEVELS["speckle"], 1):
        ratio = decode(out[("speckle", level)]).astype(np.float64) / 200 - 1
        half_step = 0.5 / 200
        ok = ratio.min() >= -a - half_step and ratio.max() <= a + half_step
        ks = stats.kstest(ratio.ravel(), stats.uniform(-a, 2 * a).cdf)
        check(f"speckle level {level}: 200 x U(1-{a}, 1+{a})",
              ok and abs(ratio.std() - a / math.sqrt(3)) < 0.02 * a / math.sqrt(3) + half_step,
              f"range [{ratio.min():+.4f}, {ratio.max():+.4f}], std {ratio.std():.4f} "
              f"(want {a / math.sqrt(3):.4f}), KS D = {ks.statistic:.4f}")
    # ISO: black stays grey and gets Poisson(std(L) * intensity * 255) luminance.
    card = test_card(96, 96)
    out = degrade_all(tool, tmp, "card-iso", card, SEED)
    hls = cv2.cvtColor(card.astype(np.float32) / 255, cv2.COLOR_RGB2HLS)
    std_l = float(hls[..., 1].astype(np.float64).std())
    for level, (shift, intensity) in enumerate(LEVELS["iso"], 1):
        got = decode(out[("iso", level)])
        black = got[:60, 4:40].astype(np.float64)
        lam = std_l * intensity * 255
        grey = bool(np.all(black[..., 0] == black[..., 1]) and np.all(black[..., 1] == black[..., 2]))
        m, var, n = black[..., 0].mean(), black[..., 0].var(), black[..., 0].size
        ok = grey and abs(m - lam) < 4 * math.sqrt(lam / n) + 0.5 and abs(var - lam) < 0.15 * lam + 1
        white = got[:60, 52:92]
        check(f"iso level {level}: black gets Poisson({lam:.1f}) grey, white stays white",
              ok and bool(np.all(white == 255)), f"mean {m:.2f}, variance {var:.2f}")


# ---- monotonicity ---------------------------------------------------------------------

def grey(x):
    return x.astype(np.float64) @ np.array([0.299, 0.587, 0.114])


def coarse_mse(x, ref):
    """MSE after a Gaussian blur (sigma 2) of both: displacement at scale."""
    blur = lambda a: cv2.GaussianBlur(a.astype(np.float64), (0, 0), 2.0)
    return float(np.mean((blur(x) - blur(ref)) ** 2))


def hf_energy(x, ref):
    return float(np.mean(cv2.Laplacian(grey(x), cv2.CV_64F) ** 2))


def residual_std(x, ref):
    return float(np.std(x.astype(np.float64) - ref.astype(np.float64)))


def mse(x, ref):
    return float(np.mean((x.astype(np.float64) - ref.astype(np.float64)) ** 2))


def mean_value(x, ref):
    return float(x.astype(np.float64).mean())


def luma_std(x, ref):
    return float(grey(x).std())


def chroma(x, ref):
    x = x.astype(np.float64)
    return float(np.mean(x.max(2) - x.min(2)))


def hue_angle(x, ref):
    """Mean signed HSV hue change against ref over clearly coloured pixels."""
    h0 = cv2.cvtColor(ref.astype(np.float32) / 255, cv2.COLOR_RGB2HSV)
    h1 = cv2.cvtColor(x.astype(np.float32) / 255, cv2.COLOR_RGB2HSV)
    keep = (h0[..., 1] > 0.3) & (h0[..., 2] > 0.3)
    d = np.mod(h1[..., 0] - h0[..., 0] + 180, 360) - 180
    return float(d[keep].mean())


def neg_psnr(x, ref):
    return -psnr(x, ref)


# (property, direction): the property must strictly increase (+1) or decrease (-1)
# from the input through levels 1..5.
MONOTONE = {
    "sharpen": (hf_energy, +1), "gblur": (hf_energy, -1), "mblur": (hf_energy, -1),
    "median": (mse, +1), "glass": (coarse_mse, +1), "ggblur": (hf_energy, -1),
    "defocus": (hf_energy, -1), "zoom": (hf_energy, -1), "iso": (residual_std, +1),
    "noise": (residual_std, +1), "grey_noise": (residual_std, +1), "speckle": (residual_std, +1),
    "bright+": (mean_value, +1), "bright-": (mean_value, -1), "contrast+": (luma_std, +1),
    "contrast-": (luma_std, -1), "gamma+": (mean_value, +1), "gamma-": (mean_value, -1),
    "hue+": (hue_angle, +1), "hue-": (hue_angle, -1), "sat+": (chroma, +1), "sat-": (chroma, -1),
    "jpeg": (neg_psnr, +1), "resize_nearest": (neg_psnr, +1), "resize_bilinear": (neg_psnr, +1),
    "resize_bicubic": (neg_psnr, +1),
}


# Down-up resizing without antialiasing (cv2.resize's) decimates exactly at
# integer factors, where the samples fall on pixel centres, and interpolates
# (a little averaging) at fractional ones; on content near the small grid's
# Nyquist rate a factor of 3 can then score like 3.5. For these two the mean
# PSNR over the images must fall strictly and no single image may gain more
# than ALIAS_DB from one level to the next.
ALIASING = {"resize_bilinear", "resize_bicubic"}
ALIAS_DB = 0.25


def monotone_checks(outputs, inputs):
    for name, (prop, sign) in MONOTONE.items():
        bad, rows = [], []
        for tag, x in inputs.items():
            values = [prop(x, x)] + [prop(decode(outputs[tag][(name, l)]), x) for l in range(1, 6)]
            steps = np.diff(values) * sign
            rows.append(values)
            limit = -ALIAS_DB if name in ALIASING else 0.0
            if not (np.all(steps > limit) and steps[0] > 0):
                bad.append(f"{tag}: {np.round(values, 3).tolist()}")
        mean = np.mean(np.array(rows)[:, 1:], axis=0)
        if name in ALIASING and not np.all(np.diff(mean) * sign > 0):
            bad.append(f"mean over images {np.round(mean, 3).tolist()}")
        rule = f"mean strictly, each image within {ALIAS_DB} dB" if name in ALIASING else "each image strictly"
        check(f"monotone {name} ({prop.__name__} {'up' if sign > 0 else 'down'}, {rule})", not bad,
              "; ".join(bad) if bad else f"{list(inputs)[0]}: {np.round(rows[0], 2).tolist()}")


# ---- determinism and clipping ---------------------------------------------------------

def determinism_checks(tool, tmp, inputs, outputs):
    tag, x = next(iter(inputs.items()))
    again = degrade_all(tool, tmp, "again", x, SEED)
    other = degrade_all(tool, tmp, "other", x, SEED + 1)
    for name in LEVELS:
        same = all(again[(name, l)] == outputs[tag][(name, l)] for l in range(1, 6))
        differ = [l for l in range(1, 6) if other[(name, l)] != outputs[tag][(name, l)]]
        want = list(range(1, 6)) if name in RANDOM else []
        check(f"seeds {name}: same seed same bytes, other seed {'other' if want else 'same'} bytes",
              same and differ == want, f"levels differing under seed {SEED + 1}: {differ}")


def clipping_checks(out):
    """On the test card, the interiors of the black and white halves must stay
    dark and light: a value that wrapped around uint8 would land at the other
    end. Two ops move light into the dark by design and are only reported:
    ISO noise brightens black (checked in noise_checks), and glass blur's
    swaps, visited from the bottom-right, can carry a pixel many steps up and
    left (it only blurs and permutes, so it has nothing that could wrap)."""
    for name in LEVELS:
        worst_black, worst_white = 0, 255
        for level in range(1, 6):
            got = decode(out[(name, level)])
            worst_black = max(worst_black, int(got[12:60, 12:36].max()))
            worst_white = min(worst_white, int(got[12:60, 60:84].min()))
        detail = f"black interior <= {worst_black}, white interior >= {worst_white}"
        if name in ("iso", "glass"):
            print(f"info no wrap-around {name} (not checked, see above): {detail}")
            continue
        check(f"no wrap-around {name}", worst_white >= 128 and worst_black <= 127, detail)


# ---- codecs -------------------------------------------------------------------------------

def codec_checks(tool, tmp, x):
    """Files written by Pillow and OpenCV, decoded by biqa (through PNG)."""
    cases = []
    rgba = np.dstack([x, (np.arange(x.size // 3) % 251).reshape(x.shape[:2]).astype(np.uint8)])
    pal = Image.fromarray(x).quantize(colors=50)
    deep = (x.astype(np.uint16) * 257 + np.arange(x.size).reshape(x.shape) % 257).astype(np.uint16)
    g = grey(x).astype(np.uint8)

    def pil(img, fmt, name, **kw):
        path = os.path.join(tmp, name)
        img.save(path, fmt, **kw)
        return path

    def cv(arr, name, params=()):
        path = os.path.join(tmp, name)
        cv2.imwrite(path, arr, list(params))
        return path

    cases.append(("PNG RGB (Pillow)", pil(Image.fromarray(x), "PNG", "rgb.png"), x))
    cases.append(("PNG RGBA: alpha dropped (Pillow)", pil(Image.fromarray(rgba), "PNG", "rgba.png"), x))
    cases.append(("PNG palette (Pillow)", pil(pal, "PNG", "pal.png"), np.asarray(pal.convert("RGB"))))
    cases.append(("PNG grey (Pillow)", pil(Image.fromarray(g), "PNG", "grey.png"), np.dstack([g] * 3)))
    cases.append(("PNG 16-bit: v * 255 / 65535 rounded (OpenCV)",
                  cv(cv2.cvtColor(deep, cv2.COLOR_RGB2BGR), "deep.png"),
                  np.floor(deep.astype(np.float64) * 255 / 65535 + 0.5).astype(np.uint8)))
    cases.append(("PNG grey+alpha (Pillow)", pil(Image.fromarray(g).convert("LA"), "PNG", "la.png"),
                  np.dstack([g] * 3)))
    bits = g > 128
    cases.append(("PNG 1-bit (Pillow)", pil(Image.fromarray(bits), "PNG", "bits.png"),
                  np.dstack([bits.astype(np.uint8) * 255] * 3)))
    cases.append(("PNG palette with transparency: alpha dropped (Pillow)",
                  pil(pal, "PNG", "trns.png", transparency=3), np.asarray(pal.convert("RGB"))))
    cases.append(("BMP 24-bit (Pillow)", pil(Image.fromarray(x), "BMP", "rgb.bmp"), x))
    cases.append(("BMP 8-bit palette (Pillow)", pil(pal, "BMP", "pal.bmp"), np.asarray(pal.convert("RGB"))))
    cases.append(("BMP 32-bit (Pillow RGBA)", pil(Image.fromarray(rgba), "BMP", "rgba.bmp"), x))
    cases.append(("BMP 24-bit (OpenCV)", cv(cv2.cvtColor(x, cv2.COLOR_RGB2BGR), "cv.bmp"), x))
    cases.append(("BMP 8-bit grey (OpenCV)", cv(g, "grey.bmp"), np.dstack([g] * 3)))
    # Top-down: Pillow's 24-bit file with its rows reversed and the height negated.
    raw = bytearray(open(os.path.join(tmp, "rgb.bmp"), "rb").read())
    off, h = int.from_bytes(raw[10:14], "little"), x.shape[0]
    stride = (x.shape[1] * 3 + 3) // 4 * 4
    rows = [raw[off + i * stride: off + (i + 1) * stride] for i in range(h)]
    raw[off:off + h * stride] = b"".join(reversed(rows))
    raw[22:26] = (-h).to_bytes(4, "little", signed=True)
    top = os.path.join(tmp, "topdown.bmp")
    open(top, "wb").write(bytes(raw))
    cases.append(("BMP 24-bit top-down", top, x))
    for q in (95, 75, 30):
        cases.append((f"JPEG q{q} 4:2:0 (Pillow)", pil(Image.fromarray(x), "JPEG", f"q{q}.jpg", quality=q),
                      None))
    cases.append(("JPEG grey (OpenCV)", cv(g, "grey.jpg"), None))
    cases.append(("JPEG 4:4:4 progressive (Pillow)",
                  pil(Image.fromarray(x), "JPEG", "prog.jpg", quality=85, subsampling=0, progressive=True), None))
    for what, path, want in cases:
        if want is None:  # decoded by Pillow after it was written
            want = np.asarray(Image.open(path).convert("RGB"))
        out = path + ".out.png"
        # A different extension proves detection by content, not by name.
        disguised = path + ".dat"
        os.replace(path, disguised)
        try:
            run(tool, "decode", disguised, out)
            got = read_png(out)
            ok = got.shape == want.shape and np.array_equal(got, want)
            detail = "" if ok else f"shape {got.shape} vs {want.shape}, max |diff| " + (
                str(int(np.abs(got.astype(int) - want.astype(int)).max())) if got.shape == want.shape else "-")
        except RuntimeError as e:
            ok, detail = False, str(e)
        check(f"decode {what} exactly as the writer's library", ok, detail)


# ---- timing -------------------------------------------------------------------------------

def opencv_time(name, x, p):
    """OpenCV/Pillow doing the same op at level 3 (None when it has none)."""
    ops = {
        "gblur": lambda: cv2.GaussianBlur(x, (2 * radius(p) + 1,) * 2, p, borderType=REFLECT),
        "median": lambda: cv2.medianBlur(x, p),
        "defocus": lambda: cv2.filter2D(x, -1, disk_kernel(p).astype(np.float32), borderType=REFLECT),
        "ggblur": lambda: cv2.filter2D(x, -1, ggblur_kernel(p).astype(np.float32), borderType=REFLECT),
        "jpeg": lambda: cv2.imdecode(cv2.imencode(".jpg", x, [cv2.IMWRITE_JPEG_QUALITY, p])[1], 1),
        "resize_bilinear": lambda: down_up(x, p, cv2.INTER_LINEAR),
        "resize_bicubic": lambda: down_up(x, p, cv2.INTER_CUBIC),
        "resize_nearest": lambda: down_up(x, p, cv2.INTER_NEAREST_EXACT),
        "bright+": lambda: round_half_up(x * p),
        "sat+": lambda: saturation_oracle(x, p),
        "noise": lambda: np.clip(x + np.random.default_rng(0).normal(0, p, x.shape), 0, 255).astype(np.uint8),
    }
    if name not in ops:
        return None
    best = math.inf
    for _ in range(7):
        t = time.perf_counter()
        ops[name]()
        best = min(best, time.perf_counter() - t)
    return best * 1e6


def timing_report(tool, tmp):
    cv2.setNumThreads(1)
    x = scene(256, 256, np.random.default_rng(5))
    src = os.path.join(tmp, "t256.png")
    write_png(src, x)
    lines = run(tool, "time", src, 7).split()
    times = {(lines[i], int(lines[i + 1])): float(lines[i + 2]) for i in range(0, len(lines), 3)}
    print("time per call at 256x256, one core, best of 7 (microseconds):")
    print(f"  {'op':16s} " + " ".join(f"{'L' + str(l):>7s}" for l in range(1, 6)) + "   OpenCV/NumPy at L3")
    for name in LEVELS:
        ref = opencv_time(name, x, LEVELS[name][2])
        print(f"  {name:16s} " + " ".join(f"{times[(name, l)]:7.0f}" for l in range(1, 6))
              + (f"   {ref:7.0f}" if ref is not None else ""))


def main():
    helpers = sys.argv[2] if len(sys.argv) > 2 else os.environ.get("BIQA_HELPERS")
    if not helpers:
        sys.exit("usage: degrade_vs_opencv.py BIQA HELPERS_DIR (or env BIQA, BIQA_HELPERS)")
    tool = os.path.join(helpers, "degrade_run")
    inputs = images()
    with tempfile.TemporaryDirectory(prefix="biqa-degrade-") as tmp:
        outputs = {tag: degrade_all(tool, tmp, tag.split()[0] + str(i), x, SEED)
                   for i, (tag, x) in enumerate(inputs.items())}
        card = {"test card 96x96": test_card(96, 96)}
        card_out = {tag: degrade_all(tool, tmp, "card", x, SEED) for tag, x in card.items()}
        # The oracles also see the saturated card, so clipping is compared too.
        oracle_checks({**outputs, **card_out}, {**inputs, **card})
        monotone_checks(outputs, inputs)
        determinism_checks(tool, tmp, inputs, outputs)
        clipping_checks(card_out["test card 96x96"])
        noise_checks(tool, tmp)
        codec_checks(tool, tmp, inputs["scene 120x96"])
        timing_report(tool, tmp)
    if failures:
        print(f"{len(failures)} check(s) failed: " + "; ".join(failures))
        sys.exit(1)
    print("all checks passed")


if __name__ == "__main__":
    main()
