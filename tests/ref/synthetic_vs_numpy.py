#!/usr/bin/python3
"""The synthetic benchmark (`biqa datasets make synthetic`) against its
documented formulas, recomputed here in NumPy/SciPy.

usage: synthetic_vs_numpy.py [BIQA [HELPERS]]   (or env BIQA, BIQA_HELPERS)

Makes the test-size dataset with the biqa binary and checks:

1. MOS and std of every downstream image, recomputed from the two PNGs on
   disk with the observer model of datasets/observer.h and the SSIM /
   MS-SSIM of datasets/ssim.h, re-implemented here (scipy.signal.convolve2d
   'valid' with the 11x11 Gaussian window; the raters' Box-Muller normals
   from tests/ref/rng.py, the NumPy mirror of core/rng.h), with the
   parameters read from manifest.json:           |diff| <= 1e-5 (the CSV
   prints 6 decimals; the two float64 computations agree to ~1e-12).
   SSIM's own sanity: 1 for identical planes, symmetric, falling with noise.
2. Byte-identical output: the same seed at --threads 1 and --threads 2
   gives the same file set with the same SHA-256 of every file; another
   seed gives another meta.csv.
3. Integrity: digests.sha256 lists every file with its true SHA-256;
   manifest.json's meta_sha256 and digests_sha256 are those of the files;
   meta.csv parses as RFC 4180 (Python's csv module) with the documented
   header, sorted by image, MOS in [1, 100], std > 0.
4. Structure: every reference has all its distortions (slots 0..D-1, chain
   lengths as in the manifest), one content class and one split hint per
   reference, test_percent of the references marked test; the pretraining
   folders hold per_class images each; the pretraining contents and the
   downstream references are disjoint (no reference equals or is within
   30 dB PSNR of any pretraining image).
5. Regeneration: `biqa degrade apply --chain C --seed S` on a reference
   reproduces its downstream images byte for byte (every row).
6. Safety: making the dataset again at the same place fails (exit 1) and
   leaves it untouched; --force replaces it with identical bytes; a
   non-empty directory without manifest.json is refused even with --force;
   no *.partial-* directory is left behind.

Run it with Debian's /usr/bin/python3 (NumPy, SciPy, OpenCV).
Prints one line per check; exits 1 naming every check that failed.
"""
import csv
import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

import cv2
import numpy as np
from scipy import signal

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rng as biqa_rng  # noqa: E402  (tests/ref/rng.py: the mirror of core/rng.h)

BIQA = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("BIQA", "build/biqa")
FAILED = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        FAILED.append(what)


def run(*args, expect=0):
    p = subprocess.run([BIQA, "-q", *args], capture_output=True, text=True)
    if p.returncode != expect:
        raise SystemExit(f"biqa {' '.join(args)}: exit {p.returncode} (expected {expect})\n"
                         f"{p.stdout}{p.stderr}")
    return p


def read_rgb(path):
    im = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    assert im is not None and im.ndim == 3 and im.shape[2] == 3, path
    return im[:, :, ::-1].astype(np.float64)


def file_digests(root):
    out = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            p = os.path.join(dirpath, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, root)] = hashlib.sha256(fh.read()).hexdigest()
    return out


# ---- the observer model, from the formulas in datasets/ssim.h and observer.h

WINDOW = 11
WEIGHTS = np.array([0.0448, 0.2856, 0.3001, 0.2363, 0.1333])


def gaussian_window():
    i = np.arange(WINDOW) - WINDOW // 2
    g = np.exp(-(i * i) / (2 * 1.5 ** 2))
    g /= g.sum()
    return np.outer(g, g)


GW = gaussian_window()


def ssim_stats(x, y):
    """(mean SSIM, mean CS, mean local std of x) at the valid positions."""
    f = lambda a: signal.convolve2d(a, GW, mode="valid")  # noqa: E731 (GW is symmetric)
    mx, my = f(x), f(y)
    sxx, syy, sxy = f(x * x) - mx * mx, f(y * y) - my * my, f(x * y) - mx * my
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    cs = (2 * sxy + c2) / (sxx + syy + c2)
    ssim = (2 * mx * my + c1) / (mx * mx + my * my + c1) * cs
    return ssim.mean(), cs.mean(), np.sqrt(np.maximum(sxx, 0)).mean()


def scales(w, h):
    side, m = min(w, h), 0
    while m < 5 and side >= 2 * WINDOW:
        m, side = m + 1, side // 2
    return m


def halve(a):
    h, w = a.shape[0] // 2 * 2, a.shape[1] // 2 * 2
    a = a[:h, :w]
    return (a[0::2, 0::2] + a[0::2, 1::2] + a[1::2, 0::2] + a[1::2, 1::2]) / 4


def msssim(x, y):
    m = scales(x.shape[1], x.shape[0])
    w = WEIGHTS[:m] / WEIGHTS[:m].sum()
    out, first = 1.0, None
    for j in range(m):
        s, cs, sig = ssim_stats(x, y)
        if j == 0:
            first = sig
        v = s if j == m - 1 else cs
        out *= max(v, 0.0) ** w[j]
        x, y = halve(x), halve(y)
    return out, first


def ycbcr(rgb):
    r, g, b = rgb[:, :, 0], rgb[:, :, 1], rgb[:, :, 2]
    return (0.299 * r + 0.587 * g + 0.114 * b,
            128 - 0.168736 * r - 0.331264 * g + 0.5 * b,
            128 + 0.5 * r - 0.418688 * g - 0.081312 * b)


def mapped_score(o, ref, dist):
    (ya, cba, cra), (yb, cbb, crb) = ycbcr(ref), ycbcr(dist)
    q_y, tau = msssim(ya, yb)
    q_c = (max(ssim_stats(cba, cbb)[0], 0) + max(ssim_stats(cra, crb)[0], 0)) / 2
    quality = q_y * q_c ** o["chroma_exponent"]
    s = min(max((o["tau0"] / max(tau, 1e-9)) ** o["kappa"], o["s_min"]), o["s_max"])
    d = s * (1 - quality)
    return 1 + 99 / (1 + (max(d, 0) / o["d50"]) ** o["slope"])


def panel(o, seed, image, m):
    raters = o["raters"]
    st = biqa_rng.stream_id("synthetic/observer")
    idx = 2 * (image * raters + np.arange(raters, dtype=np.uint64))
    u1 = biqa_rng.uniform(seed, st, idx)
    u2 = biqa_rng.uniform(seed, st, idx + np.uint64(1))
    z = np.sqrt(-2 * np.log(1 - u1)) * np.cos(2 * np.pi * u2)
    sigma = o["sigma_end"] + (o["sigma_mid"] - o["sigma_end"]) * 4 * (m - 1) * (100 - m) / 99 ** 2
    r = np.clip(m + sigma * z, 1, 100)
    return r.mean(), r.std(ddof=1)


# ---- checks

def check_ssim_sanity():
    rs = np.random.RandomState(0)
    yy, xx = np.mgrid[0:40, 0:40]
    x = 100 + 2 * xx + 20 * np.sin(yy / 3.0)
    y5, y20 = (np.clip(x + rs.normal(0, s, x.shape), 0, 255) for s in (5, 20))
    s_xx, s5, s20 = ssim_stats(x, x)[0], ssim_stats(x, y5)[0], ssim_stats(x, y20)[0]
    check(abs(s_xx - 1) < 1e-12 and abs(s5 - ssim_stats(y5, x)[0]) < 1e-12 and 1 > s5 > s20,
          f"reference SSIM: identical 1, symmetric, noise std 5 -> {s5:.4f} > std 20 -> {s20:.4f}")


def check_digests(d, digests):
    with open(os.path.join(d, "digests.sha256")) as f:
        listed = {}
        for line in f:
            sha, path = line.rstrip("\n").split("  ", 1)
            listed[path] = sha
    with open(os.path.join(d, "digests.sha256")) as f:
        paths = [line.rstrip("\n").split("  ", 1)[1] for line in f]
    on_disk = {p: s for p, s in digests.items() if p not in ("digests.sha256", "manifest.json")}
    check(listed == on_disk and paths == sorted(paths),
          f"digests.sha256: {len(listed)} files, sorted, every SHA-256 true")
    with open(os.path.join(d, "manifest.json")) as f:
        m = json.load(f)
    check(m["downstream"]["meta_sha256"] == digests["meta.csv"] and
          m["digests_sha256"] == digests["digests.sha256"],
          "manifest.json: meta_sha256 and digests_sha256 are the files'")
    return m


def read_meta(d):
    with open(os.path.join(d, "meta.csv"), newline="") as f:
        rows = list(csv.reader(f))
    header = ["image", "mos", "std", "ref", "chain", "seed", "content_class", "split_hint"]
    check(rows[0] == header, f"meta.csv header {rows[0]}")
    body = [dict(zip(header, r)) for r in rows[1:]]
    names = [r["image"] for r in body]
    check(names == sorted(names) and len(set(names)) == len(names),
          f"meta.csv: {len(body)} rows, sorted by image, no duplicate")
    return body


def check_structure(d, m, rows):
    refs, dist = m["downstream"]["references"], m["downstream"]["distortions_per_reference"]
    k, per_class = m["classes"], m["pretrain"]["per_class"]
    lengths = m["downstream"]["chain_lengths"]
    by_ref = {}
    for r in rows:
        by_ref.setdefault(r["ref"], []).append(r)
    ok = len(by_ref) == refs and len(rows) == refs * dist
    for ref, rs in by_ref.items():
        rid = int(ref[len("refs/r"):-len(".png")])
        expect = [f"images/r{rid:05d}_d{s:02d}.png" for s in range(dist)]
        ok &= [r["image"] for r in rs] == expect
        ok &= [len(r["chain"].split(",")) for r in rs] == lengths
        ok &= len({r["content_class"] for r in rs}) == 1 and len({r["split_hint"] for r in rs}) == 1
        ok &= os.path.isfile(os.path.join(d, ref))
    check(ok, f"{refs} references, each with its {dist} distortions, chain lengths {lengths}, "
              "one class and one split hint")
    n_test = sum(rs[0]["split_hint"] == "test" for rs in by_ref.values())
    want = (refs * m["downstream"]["test_percent"] + 50) // 100
    check(n_test == want, f"split_hint: {n_test} of {refs} references marked test (want {want})")
    classes = sorted(os.listdir(os.path.join(d, "pretrain")))
    counts = [len(os.listdir(os.path.join(d, "pretrain", c))) for c in classes]
    check(classes == [f"c{c:02d}" for c in range(k)] and counts == [per_class] * k,
          f"pretrain/: {k} class folders of {per_class} images")
    mos = np.array([float(r["mos"]) for r in rows])
    std = np.array([float(r["std"]) for r in rows])
    check(mos.min() >= 1 and mos.max() <= 100 and (std > 0).all(),
          f"MOS in [1, 100] (seen {mos.min():.2f} .. {mos.max():.2f}), std > 0")
    # Disjoint contents: no reference close to any pretraining image.
    pre = np.stack([read_rgb(p) for p in sorted(glob.glob(os.path.join(d, "pretrain/*/*.png")))])
    best = 0.0
    for ref in by_ref:
        x = read_rgb(os.path.join(d, ref))
        mse = ((pre - x) ** 2).mean(axis=(1, 2, 3))
        best = max(best, 10 * np.log10(255 ** 2 / max(mse.min(), 1e-12)))
    check(best < 30, f"pretraining and downstream contents disjoint (closest pair {best:.1f} dB "
                     "PSNR < 30)")


def check_mos(d, m, rows):
    o, seed = m["observer"], int(m["seed"])
    dist = m["downstream"]["distortions_per_reference"]
    worst_mos = worst_std = 0.0
    for r in rows:
        rid = int(r["ref"][len("refs/r"):-len(".png")])
        slot = int(r["image"][-len("00.png"):-len(".png")])
        mapped = mapped_score(o, read_rgb(os.path.join(d, r["ref"])),
                              read_rgb(os.path.join(d, r["image"])))
        mos, std = panel(o, seed, rid * dist + slot, mapped)
        worst_mos = max(worst_mos, abs(mos - float(r["mos"])))
        worst_std = max(worst_std, abs(std - float(r["std"])))
    check(worst_mos <= 1e-5 and worst_std <= 1e-5,
          f"MOS and std of {len(rows)} images from the observer formula: max |diff| "
          f"{worst_mos:.2e}, {worst_std:.2e} (<= 1e-5)")


def check_regeneration(d, rows, tmp):
    bad = []
    for r in rows:
        out = os.path.join(tmp, "regen.png")
        run("degrade", "apply", "--in", os.path.join(d, r["ref"]), "--out", out,
            "--chain", r["chain"], "--seed", r["seed"])
        if not np.array_equal(read_rgb(out), read_rgb(os.path.join(d, r["image"]))):
            bad.append(r["image"])
    check(not bad, f"biqa degrade apply --chain --seed remakes all {len(rows)} images "
                   f"byte for byte{': not ' + ', '.join(bad[:3]) if bad else ''}")


def main():
    tmp = tempfile.mkdtemp(prefix="biqa-synthetic-")
    try:
        check_ssim_sanity()
        run("--root", tmp, "--threads", "1", "datasets", "make", "synthetic", "--size", "test")
        d = os.path.join(tmp, "synthetic-test")
        d2 = os.path.join(tmp, "two-threads")
        run("--threads", "2", "datasets", "make", "synthetic", "--size", "test", "--out", d2)
        a, b = file_digests(d), file_digests(d2)
        check(a == b, f"--threads 1 and --threads 2: the same {len(a)} files, byte-identical")
        d3 = os.path.join(tmp, "seed-2")
        run("--seed", "2", "datasets", "make", "synthetic", "--size", "test", "--out", d3)
        check(file_digests(d3)["meta.csv"] != a["meta.csv"], "--seed 2 makes another meta.csv")

        m = check_digests(d, a)
        rows = read_meta(d)
        check_structure(d, m, rows)
        check_mos(d, m, rows)
        check_regeneration(d, rows, tmp)

        p = run("--root", tmp, "datasets", "make", "synthetic", "--size", "test", expect=1)
        check("already holds a complete synthetic dataset" in p.stderr and file_digests(d) == a,
              "a second make without --force fails and leaves the dataset alone")
        run("--root", tmp, "datasets", "make", "synthetic", "--size", "test", "--force")
        check(file_digests(d) == a, "--force replaces it with the same bytes")
        other = os.path.join(tmp, "other")
        os.makedirs(other)
        with open(os.path.join(other, "keep.txt"), "w") as f:
            f.write("user data\n")
        p = run("datasets", "make", "synthetic", "--size", "test", "--out", other, "--force",
                expect=1)
        check("no manifest.json" in p.stderr and os.listdir(other) == ["keep.txt"],
              "a non-empty directory without manifest.json is refused, even with --force")
        left = glob.glob(os.path.join(tmp, "*.partial-*")) + glob.glob(os.path.join(tmp, "*.old-*"))
        check(not left, f"no temporary directory left behind {left}")
    finally:
        shutil.rmtree(tmp)
    if FAILED:
        print(f"{len(FAILED)} check(s) failed:\n  " + "\n  ".join(FAILED))
        sys.exit(1)
    print("all checks passed")


if __name__ == "__main__":
    main()
