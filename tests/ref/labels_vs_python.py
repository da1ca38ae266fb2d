"""Label parsers and split import (datasets/labels.h, datasets/splits_import.h)
against what Python computes from the same files.

Builds miniature, format-faithful datasets in a temporary folder: real JPEG,
PNG and BMP images (Pillow), CSVs written by the csv module (RFC 4180
quoting of commas, quotes and line breaks), MAT files written by
scipy.io.savemat with and without do_compression (miCOMPRESSED), xlsx
workbooks written by openpyxl and by hand (zipfile + SpreadsheetML: inline
strings, rich-text runs, phonetic runs, cells without references), TID text
files with CRLF ends and names in another letter case than the files. Each
is read by tests/helpers/labels_run; the printed index (names, MOS scaled to
0..1 with the declared direction, std on the same scale, reference ids,
distortions, paths), the missing images, and imported splits (parts and
SHA-256 hash of the sorted "<name>\\t<part>\\n" lines) must equal what
Python computes from the files with csv, scipy.io.loadmat and the data
written to the workbooks: exactly for names and parts, to 1e-12 for
numbers. Malformed files must fail with one error naming the file and the
line, cell or MAT element.

usage: labels_vs_python.py BIQA HELPERS   (prints one line per check; exit 1 on any FAIL)
"""
import csv
import hashlib
import math
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

import numpy as np
import scipy.io
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rng  # noqa: E402  (tests/ref/rng.py: the mirror of core/rng.h)

try:
    import openpyxl
except ImportError:
    sys.exit("labels_vs_python.py: needs openpyxl (Debian package python3-openpyxl)")

RUN = os.path.join(sys.argv[2], "labels_run")
FAILS = []
RAND = np.random.default_rng(20240601)


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        FAILS.append(what)


def write_image(path, fmt):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    pixels = RAND.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, format=fmt)


class Result:
    def __init__(self, proc):
        self.rc, self.err = proc.returncode, proc.stderr
        self.items, self.missing, self.split, self.parts = {}, [], None, {}
        for line in proc.stdout.splitlines():
            f = line.split("\t")
            if f[0] == "item":
                self.items[f[1]] = dict(mos=float(f[2]), std=float(f[3]),
                                        ref=None if f[4] == "-" else f[4],
                                        dist=None if f[5] == "-" else f[5], path=f[6])
            elif f[0] == "missing":
                self.missing.append(f[1])
            elif f[0] == "split":
                self.split = (f[1], f[2])
            elif f[0] == "part":
                self.parts[f[1]] = f[2]


def run(d, parser, file, *opts):
    return Result(subprocess.run([RUN, d, parser, file] + [str(o) for o in opts],
                                 capture_output=True, text=True))


def norm(raw, lo, hi, higher=True):
    return (raw - lo) / (hi - lo) if higher else (hi - raw) / (hi - lo)


def row(raw, std, lo, hi, higher, ref, dist, path):
    """An expected index row: MOS and std on the 0..1 scale."""
    return (norm(raw, lo, hi, higher), std / (hi - lo), ref, dist, path)


def close(a, b):
    return (math.isnan(a) and math.isnan(b)) or abs(a - b) <= 1e-12


def compare(what, res, expected, d, missing=()):
    """expected: name -> (mos, std, ref, dist, path relative to d)."""
    check(res.rc == 0, f"{what}: reads ({res.err.strip()})")
    if res.rc:
        return
    check(set(res.items) == set(expected),
          f"{what}: the {len(expected)} images Python lists (biqa: {len(res.items)})")
    bad = [n for n, (m, s, r, dist, path) in expected.items() if n in res.items and not (
        close(res.items[n]["mos"], m) and close(res.items[n]["std"], s) and
        res.items[n]["ref"] == r and res.items[n]["dist"] == dist and
        res.items[n]["path"] == os.path.join(d, path))]
    check(not bad, f"{what}: MOS, std, ref, distortion, path of every image"
          + (f" (first wrong: {bad[0]}: {res.items[bad[0]]} vs {expected[bad[0]]})" if bad else ""))
    check(res.missing == list(missing),
          f"{what}: missing images reported by name ({len(missing)}: {res.missing[:3]}...)")


def expect_error(what, res, *needles):
    msg = res.err.strip()
    check(res.rc == 1 and msg.count("\n") == 0 and all(n in msg for n in needles),
          f"{what}: one error line naming {needles} (got rc {res.rc}: {msg})")


# ---- splits: Python's join by name, carving of val, hash ----------------------

def llround(x):
    return math.floor(x + 0.5)


def carve(parts, refs, val, seed, nn):
    """splits_import.h: val groups drawn from the train part by Fisher-Yates."""
    keys = sorted({refs[n] or n for n, p in parts.items() if p == "train"}, key=str.encode)
    perm = list(range(len(keys)))
    stream = rng.stream_id("splits-val")
    for i in range(len(keys) - 1, 0, -1):
        j = int(rng.below(seed, stream, [(nn << 32) + i], i + 1)[0])
        perm[i], perm[j] = perm[j], perm[i]
    n_val = max(1, llround(len(keys) * val))
    val_keys = {keys[perm[p]] for p in range(n_val)}
    return {n: ("val" if p == "train" and (refs[n] or n) in val_keys else p)
            for n, p in parts.items()}


def split_hash(parts):
    text = "".join(f"{n}\t{parts[n]}\n" for n in sorted(parts, key=str.encode))
    return hashlib.sha256(text.encode()).hexdigest()


def compare_split(what, res, parts, split_id):
    check(res.rc == 0, f"{what}: imports ({res.err.strip()})")
    if res.rc:
        return
    check(res.parts == parts, f"{what}: every image's part equals Python's join by name "
          f"({sum(res.parts.get(n) == p for n, p in parts.items())}/{len(parts)} equal)")
    check(res.split == (split_id, split_hash(parts)),
          f"{what}: id {split_id} and hash = SHA-256 of the sorted name/part lines")


# ---- the datasets -------------------------------------------------------------

def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def write_csv(path, header, rows, **kw):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, **kw)
        w.writerow(header)
        w.writerows(rows)


def cellstr(names, shape):
    """A MATLAB cell array of strings (scipy writes object arrays as cells)."""
    c = np.empty(shape, dtype=object)
    for i, n in enumerate(names):
        c.flat[i] = n
    return c


def mat_strings(m, var):
    return [str(x[0]) for x in m[var].flatten()]


def livec(top):
    """LIVE Challenge: Data/*.mat (+ a pyiqa CSV with split columns, in the
    MAT order with its 7 training rows first, and shuffled)."""
    d = os.path.join(top, "livec")
    names = [f"t{i}.bmp" for i in range(1, 8)] + \
            [f"{100 + i}.{'JPG' if i % 5 == 0 else 'bmp'}" for i in range(33)]
    for n in names:
        write_image(os.path.join(d, "Images", n), "JPEG" if n.endswith("JPG") else "BMP")
    mos = RAND.uniform(3, 92, len(names))
    sd = RAND.uniform(5, 20, len(names))
    for compressed in (False, True):
        data = os.path.join(d, "Data")
        os.makedirs(data, exist_ok=True)
        scipy.io.savemat(os.path.join(data, "AllImages_release.mat"),
                         {"AllImages_release": cellstr(names, (len(names), 1))},
                         do_compression=compressed)
        scipy.io.savemat(os.path.join(data, "AllMOS_release.mat"),
                         {"AllMOS_release": mos[None, :]}, do_compression=compressed)
        scipy.io.savemat(os.path.join(data, "AllStdDev_release.mat"),
                         {"AllStdDev_release": sd[None, :]}, do_compression=compressed)
        with open(os.path.join(data, "AllMOS_release.mat"), "rb") as f:
            tag = int.from_bytes(f.read()[128:132], "little")
        check(tag == (15 if compressed else 14),
              f"livec fixture: scipy wrote element type {tag} (miCOMPRESSED = 15, miMATRIX = 14)")
        # the oracle reads the files back with scipy
        n_py = mat_strings(scipy.io.loadmat(os.path.join(data, "AllImages_release.mat")),
                           "AllImages_release")
        m_py = scipy.io.loadmat(os.path.join(data, "AllMOS_release.mat"))["AllMOS_release"].ravel()
        s_py = scipy.io.loadmat(os.path.join(data, "AllStdDev_release.mat"))[
            "AllStdDev_release"].ravel()
        expected = {n: row(m, s, 0, 100, True, None, None, "Images/" + n)
                    for n, m, s in zip(n_py, m_py, s_py)
                    if not (len(n) == 6 and n[0] == "t" and n[1] in "1234567")}
        check(len(expected) == len(names) - 7, "livec fixture: 7 training images to drop")
        res = run(d, "livec-mat", "Data", "--images", "Images", "--range", 0, 100)
        compare(f"livec-mat ({'miCOMPRESSED' if compressed else 'uncompressed'})", res,
                expected, d)

    # pyiqa meta_info with split columns, joined to the livec-mat index by name
    splits = {k: {n: ("train" if RAND.uniform() < 0.8 else "val") for n in names}
              for k in (1, 2)}
    header = ["name", "mos", "std", "ratio802_seed123_split_01", "ratio802_seed123_split_02"]
    rows = [[n, mos[i], sd[i], splits[1][n], splits[2][n]] for i, n in enumerate(names)]
    write_csv(os.path.join(d, "meta_ordered.csv"), header, rows)
    order = RAND.permutation(len(rows))
    write_csv(os.path.join(d, "meta_shuffled.csv"), header, [rows[i] for i in order])
    kept = [n for n in names if n not in {f"t{i}.bmp" for i in range(1, 8)}]
    # pyiqa's quirk: after dropping the 7 rows, split values read by position
    by_position = {n: rows[i][3] for i, n in enumerate(kept)}
    check(any(by_position[n] != splits[1][n] for n in kept),
          "livec fixture: a join by row position (off by 7) would give other parts")
    for csv_name in ("meta_ordered.csv", "meta_shuffled.csv"):
        for nn in (1, 2):
            parts = {n: "train" if splits[nn][n] == "train" else "test" for n in kept}
            parts = carve(parts, {n: None for n in kept}, 0.1, 5, nn)
            res = run(d, "livec-mat", "Data", "--images", "Images", "--range", 0, 100,
                      "--pyiqa", os.path.join(d, csv_name), nn, "--val", 0.1, "--seed", 5)
            compare_split(f"pyiqa split {nn:02d} of LIVEC from {csv_name}", res, parts,
                          f"pyiqa{nn:02d}")

    # the pyiqa CSV itself as labels (its 7 training rows are labels like any other)
    res = run(d, "pyiqa-csv", "meta_shuffled.csv", "--images", "Images", "--range", 0, 100)
    expected = {r["name"]: row(float(r["mos"]), float(r["std"]), 0, 100, True, None, None,
                               "Images/" + r["name"])
                for r in read_csv(os.path.join(d, "meta_shuffled.csv"))}
    compare("pyiqa-csv (no-reference rows)", res, expected, d)

    # malformed MAT files
    with open(os.path.join(d, "Data", "AllMOS_release.mat"), "rb") as f:
        compressed = f.read()
    bad = os.path.join(top, "badmat")
    for what, data, needles in [
            ("truncated miCOMPRESSED MAT", compressed[:-9], ("element 1", "truncated")),
            ("corrupt miCOMPRESSED MAT",
             compressed[:150] + bytes([compressed[150] ^ 0x55]) + compressed[151:],
             ("element 1", "compressed data")),
            ("MAT v7.3 (HDF5)", v73_header(), ("MATLAB 7.3", "HDF5"))]:
        os.makedirs(bad, exist_ok=True)
        shutil.copy(os.path.join(d, "Data", "AllImages_release.mat"), bad)
        shutil.copy(os.path.join(d, "Data", "AllStdDev_release.mat"), bad)
        with open(os.path.join(bad, "AllMOS_release.mat"), "wb") as f:
            f.write(data)
        res = run(top, "livec-mat", "badmat", "--images", "livec/Images", "--range", 0, 100)
        expect_error(what, res, os.path.join(bad, "AllMOS_release.mat"), *needles)
    scipy.io.savemat(os.path.join(bad, "AllMOS_release.mat"),
                     {"AllMOS_release": mos[None, :]}, do_compression=False)
    with open(os.path.join(bad, "AllMOS_release.mat"), "rb") as f:
        plain = f.read()
    with open(os.path.join(bad, "AllMOS_release.mat"), "wb") as f:
        f.write(plain[:200])
    res = run(top, "livec-mat", "badmat", "--images", "livec/Images", "--range", 0, 100)
    expect_error("truncated uncompressed MAT", res, os.path.join(bad, "AllMOS_release.mat"),
                 "element 1", "truncated")


def v73_header():
    """What MATLAB writes for -v7.3: a 512-byte user block holding the MAT
    text header, then an HDF5 superblock."""
    text = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 " \
           b"HDF5 schema 1.00 ."
    head = text.ljust(116, b" ") + bytes(8) + b"\x00\x02" + b"IM"
    return head.ljust(512, b"\0") + b"\x89HDF\r\n\x1a\n" + bytes(200)


def live(top):
    """LIVE release 2: dmos_realigned.mat + refnames_all.mat; only some
    images exist on disk, the rest must be reported missing."""
    d = os.path.join(top, "live")
    folders = [("jp2k", 227), ("jpeg", 233), ("wn", 174), ("gblur", 174), ("fastfading", 174)]
    entries = [(f, f"{f}/img{k}.bmp") for f, c in folders for k in range(1, c + 1)]
    refs = [f"ref{RAND.integers(29):02d}.bmp" for _ in entries]
    orgs = (RAND.uniform(size=len(entries)) < 0.2).astype(np.float64)
    dmos = RAND.uniform(0, 100, len(entries))
    dstd = RAND.uniform(1, 10, len(entries))
    os.makedirs(d)
    scipy.io.savemat(os.path.join(d, "dmos_realigned.mat"),
                     {"dmos_new": dmos[None, :], "dmos_std": dstd[None, :],
                      "orgs": orgs[None, :]}, do_compression=True)
    scipy.io.savemat(os.path.join(d, "refnames_all.mat"),
                     {"refnames_all": cellstr(refs, (1, len(refs)))})
    m = scipy.io.loadmat(os.path.join(d, "dmos_realigned.mat"))
    r_py = mat_strings(scipy.io.loadmat(os.path.join(d, "refnames_all.mat")), "refnames_all")
    expected, missing = {}, []
    for i, (folder, name) in enumerate(entries):
        if m["orgs"][0, i]:
            continue
        if i % 23 == 0:
            write_image(os.path.join(d, name), "BMP")
            expected[name] = row(m["dmos_new"][0, i], m["dmos_std"][0, i], 0, 100, False,
                                 r_py[i][:-4], folder, name)
        else:
            missing.append(name)
    res = run(d, "live-mat", "dmos_realigned.mat", "--range", 0, 100, "--dmos")
    compare("live-mat (DMOS, references, missing images)", res, expected, d, missing)


def kadid_and_pyiqa_fr(top):
    """KADID-10k dmos.csv, a user's biqa-csv, and a pyiqa full-reference CSV
    with RFC 4180 quoting and its variance-as-std column."""
    d = os.path.join(top, "kadid")
    rows = []
    for r in range(1, 4):
        for t in (1, 3, 17, 25):
            for lev in (1, 5):
                name = f"I{r:02d}_{t:02d}_{lev:02d}.png"
                write_image(os.path.join(d, "images", name), "PNG")
                rows.append([name, f"I{r:02d}.png", round(RAND.uniform(1, 5), 3),
                             round(RAND.uniform(0, 2), 4)])
    write_csv(os.path.join(d, "dmos.csv"), ["dist_img", "ref_img", "dmos", "var"], rows)
    expected = {r["dist_img"]: row(float(r["dmos"]), math.sqrt(float(r["var"])), 1, 5, True,
                                   r["ref_img"][:-4],
                                   f"{r['dist_img'][4:6]}:{int(r['dist_img'][7:9])}",
                                   "images/" + r["dist_img"])
                for r in read_csv(os.path.join(d, "dmos.csv"))}
    res = run(d, "kadid-csv", "dmos.csv", "--images", "images", "--range", 1, 5)
    compare("kadid-csv", res, expected, d)

    # a user's own labels (biqa-csv), quoted by the csv module; refs verbatim
    rows = [[r[0], r[2], math.sqrt(r[3]) if i % 4 else "", f"{r[1][:3]},v1.5",
             "" if i % 3 else f'blur "x", {i}'] for i, r in enumerate(rows)]
    write_csv(os.path.join(d, "own.csv"), ["image", "mos", "std", "ref", "distortion"], rows)
    expected = {r["image"]: row(float(r["mos"]), float(r["std"]) if r["std"] else math.nan, 1,
                                5, True, r["ref"], r["distortion"] or None, "images/" + r["image"])
                for r in read_csv(os.path.join(d, "own.csv"))}
    res = run(d, "biqa-csv", "own.csv", "--images", "images", "--range", 1, 5)
    compare("biqa-csv (quoted fields, empty std and distortion)", res, expected, d)

    # pyiqa full-reference rows; names with a comma and quotes; a note with a line break
    fr = [["I01.png", 'I01_01_01,"x".png', 3.5, 0.25, "plain"],
          ["I01.png", "I01_03_05.png", 2.0, 0.5, 'comma, "quote"\nand a line break'],
          ["I02.png", "I02_17_01.png", 4.75, 1.0, ""],
          ["I03.png", "I03_25_05.png", 1.0, 0.0, "x"]]
    for r in fr:
        write_image(os.path.join(d, "images", r[1]), "PNG")
    fr += [[f"I0{k}.png", f"I0{k}_02_0{j}.png", 1 + k / 2 + j / 10, 0.1 * j, ""]
           for k in (4, 5, 6) for j in (1, 2)]
    for r in fr[4:]:
        write_image(os.path.join(d, "images", r[1]), "PNG")
    split = {r[1]: "train" if i % 3 else "val" for i, r in enumerate(fr)}
    write_csv(os.path.join(d, "meta_fr.csv"),
              ["ref_name", "dist_name", "mos", "std", "note", "ratio802_seed123_split_01"],
              [r + [split[r[1]]] for r in fr])
    expected = {r["dist_name"]: row(float(r["mos"]), math.sqrt(float(r["std"])), 1, 5, True,
                                    r["ref_name"][:-4], None, "images/" + r["dist_name"])
                for r in read_csv(os.path.join(d, "meta_fr.csv"))}
    check('I01_01_01,"x".png' in expected and any("\n" in r["note"] for r in
                                                   read_csv(os.path.join(d, "meta_fr.csv"))),
          "pyiqa fixture: quoted name with comma and quotes, field with a line break")
    res = run(d, "pyiqa-csv", "meta_fr.csv", "--images", "images", "--range", 1, 5, "--std-var",
              "--pyiqa", os.path.join(d, "meta_fr.csv"), 1, "--val", 0.25, "--seed", 9)
    compare("pyiqa-csv (full-reference, RFC 4180 quoting, variance column)", res, expected, d)
    refs = {n: e[2] for n, e in expected.items()}
    parts = carve({n: "train" if split[n] == "train" else "test" for n in expected}, refs,
                  0.25, 9, 1)
    compare_split("pyiqa split of full-reference rows (val carved by reference)", res, parts,
                  "pyiqa01")


def koniq(top):
    """KonIQ-10k scores CSV as distributed (every field quoted), official sets."""
    d = os.path.join(top, "koniq")
    names = [f"{10004473376 + 7919 * i}.jpg" for i in range(30)]
    rows = []
    for n in names:
        write_image(os.path.join(d, "1024x768", n), "JPEG")
        c = RAND.integers(0, 30, 5)
        mos = float((c * np.arange(1, 6)).sum() / c.sum())
        rows.append([n, *map(int, c), int(c.sum()), mos, float(RAND.uniform(0.3, 1)),
                     mos * 20])
    write_csv(os.path.join(d, "koniq10k_scores_and_distributions.csv"),
              ["image_name", "c1", "c2", "c3", "c4", "c5", "c_total", "MOS", "SD",
               "MOS_zscore"], rows, quoting=csv.QUOTE_NONNUMERIC)
    expected = {r["image_name"]: row(float(r["MOS"]), float(r["SD"]), 1, 5, True, None, None,
                                     "1024x768/" + r["image_name"])
                for r in read_csv(os.path.join(d, "koniq10k_scores_and_distributions.csv"))}
    sets = {n: ("training", "validation", "test")[i % 3] for i, n in enumerate(names)}
    order = RAND.permutation(len(names))
    write_csv(os.path.join(d, "koniq10k_distributions_sets.csv"), ["image_name", "MOS", "set"],
              [[names[i], 3.0, sets[names[i]]] for i in order], quoting=csv.QUOTE_NONNUMERIC)
    res = run(d, "koniq-csv", "koniq10k_scores_and_distributions.csv", "--images", "1024x768",
              "--range", 1, 5, "--official", os.path.join(d, "koniq10k_distributions_sets.csv"),
              "image_name", "set")
    compare("koniq-csv", res, expected, d)
    parts = {n: {"training": "train", "validation": "val", "test": "test"}[s]
             for n, s in sets.items()}
    compare_split("KonIQ official sets (rows shuffled)", res, parts, "official")


def flive(top):
    """FLIVE name,mos; the official test list; one image missing on disk."""
    d = os.path.join(top, "flive")
    names = [f"{src}/{i:05d}.jpg" for i, src in
             enumerate(["voc_emotic_ava", "AVA__", "blur_dataset", "EE371R"] * 6)]
    for n in names[1:]:
        write_image(os.path.join(d, "database", n), "JPEG")
    mos = RAND.uniform(0, 100, len(names))
    write_csv(os.path.join(d, "labels_image.csv"), ["name", "mos"],
              [[n, m] for n, m in zip(names, mos)])
    test = names[::4] + ["not_in_labels/x.jpg"]
    with open(os.path.join(d, "test_images.txt"), "w") as f:
        f.write("name\n" + "\n".join(test) + "\n")
    expected = {r["name"]: row(float(r["mos"]), math.nan, 0, 100, True, None, None,
                               "database/" + r["name"])
                for r in read_csv(os.path.join(d, "labels_image.csv"))[1:]}
    res = run(d, "flive-csv", "labels_image.csv", "--images", "database", "--range", 0, 100,
              "--test-list", os.path.join(d, "test_images.txt"), "--val", 0.2, "--seed", 3)
    compare("flive-csv (first image missing on disk)", res, expected, d, [names[0]])
    parts = carve({n: "test" if n in test else "train" for n in expected},
                  {n: None for n in expected}, 0.2, 3, 0)
    compare_split("FLIVE official test list", res, parts, "official")


def pipal(top):
    """PIPAL label lines, a folder of per-reference files and one file."""
    d = os.path.join(top, "pipal")
    expected = {}
    os.makedirs(os.path.join(d, "Train_Label"))
    for ref in ("A0001", "A0002"):
        lines = []
        for t, k in ((0, 0), (1, 3), (12, 11)):
            name = f"{ref}_{t:02d}_{k:02d}.bmp"
            write_image(os.path.join(d, "Distortion", name), "BMP")
            elo = float(RAND.uniform(900, 1900))
            lines.append(f"{name},{elo!r}")
            expected[name] = row(elo, math.nan, 800, 2000, True, ref, f"{t:02d}:{k}",
                                 "Distortion/" + name)
        with open(os.path.join(d, "Train_Label", ref + ".txt"), "w") as f:
            f.write("\n".join(lines) + "\n")
    res = run(d, "pipal-csv", "Train_Label", "--images", "Distortion", "--range", 800, 2000)
    compare("pipal-csv (a folder of label files)", res, expected, d)
    res = run(d, "pipal-csv", "Train_Label/A0002.txt", "--images", "Distortion", "--range", 800,
              2000)
    compare("pipal-csv (one label file)", res,
            {n: e for n, e in expected.items() if n.startswith("A0002")}, d)


def tid(top):
    """TID2013: '<mos> <name>' with CRLF, mos_std.txt, names in another case."""
    d = os.path.join(top, "tid2013")
    lines, stds, expected = [], [], {}
    for r in (1, 2, 25):
        for t, lev in ((1, 1), (8, 5), (24, 3)):
            name = f"i{r:02d}_{t:02d}_{lev}.bmp"
            on_disk = name.upper() if r != 1 else name
            write_image(os.path.join(d, "distorted_images", on_disk), "BMP")
            mos, sd = round(float(RAND.uniform(0, 9)), 5), round(float(RAND.uniform(0, 1)), 5)
            lines.append(f"{mos} {name}")
            stds.append(f"{sd}")
            expected[name] = row(mos, sd, 0, 9, True, f"i{r:02d}", f"{t:02d}:{lev}",
                                 "distorted_images/" + on_disk)
    with open(os.path.join(d, "mos_with_names.txt"), "w", newline="") as f:
        f.write("\r\n".join(lines) + "\r\n")
    with open(os.path.join(d, "mos_std.txt"), "w", newline="") as f:
        f.write("\r\n".join(stds) + "\r\n")
    res = run(d, "tid-txt", "mos_with_names.txt", "--images", "distorted_images", "--range",
              0, 9)
    compare("tid-txt (CRLF, mos_std.txt, names matched ignoring case)", res, expected, d)
    with open(os.path.join(d, "bad.txt"), "w") as f:
        f.write(f"{lines[0]}\n3.2x i01_08_5.bmp\n")
    expect_error("tid-txt non-numeric MOS", run(d, "tid-txt", "bad.txt", "--range", 0, 9),
                 os.path.join(d, "bad.txt") + ":2", "'3.2x'")


# ---- xlsx ---------------------------------------------------------------------

def save_workbook(path, sheets):
    """sheets: [(title, {cell: value})], written by openpyxl."""
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for title, cells in sheets:
        ws = wb.create_sheet(title)
        for ref, v in cells.items():
            ws[ref] = v
    os.makedirs(os.path.dirname(path), exist_ok=True)
    wb.save(path)


CSIQ_TYPES = {"noise": ("awgn", "AWGN"), "jpeg": ("jpeg", "JPEG"),
              "jpeg 2000": ("jpeg2000", "jpeg2000"), "fnoise": ("fnoise", "fnoise"),
              "blur": ("blur", "BLUR"), "contrast": ("contrast", "contrast")}


def csiq(top):
    d = os.path.join(top, "csiq")
    cells = {"A1": "CSIQ DMOS", "B4": "image", "C4": "dst_idx", "D4": "dst_type",
             "E4": "dst_lev", "F4": "dmos_std", "G4": "dmos"}
    expected, r = {}, 5
    for image in (1600, "aerial_city", "bridge"):
        for k, (typ, (folder, tag)) in enumerate(CSIQ_TYPES.items()):
            lev = 1 + (r % 5)
            dmos, sd = float(RAND.uniform(0, 1)), float(RAND.uniform(0, 0.2))
            cells.update({f"B{r}": image, f"C{r}": k + 1, f"D{r}": typ, f"E{r}": lev,
                          f"F{r}": sd, f"G{r}": dmos})
            name = f"{folder}/{image}.{tag}.{lev}.png"
            write_image(os.path.join(d, "dst_imgs", name), "PNG")
            expected[name] = row(dmos, sd, 0, 1, False, str(image), f"{folder}:{lev}",
                                 "dst_imgs/" + name)
            r += 1
    save_workbook(os.path.join(d, "csiq.DMOS.xlsx"),
                  [("all_by_distortion", {"A1": "other table", "B2": 0.5}),
                   ("all_by_image", cells)])
    res = run(d, "csiq-xlsx", "csiq.DMOS.xlsx", "--images", "dst_imgs", "--range", 0, 1,
              "--dmos")
    compare("csiq-xlsx (openpyxl workbook, header below a title, DMOS)", res, expected, d)
    expect_error("xlsx without the named sheet",
                 run(d, "csiq-xlsx", "csiq.DMOS.xlsx", "--sheet", "nope", "--range", 0, 1),
                 os.path.join(d, "csiq.DMOS.xlsx"), "no sheet 'nope'", "all_by_image")
    cells["G7"] = "n/a"
    save_workbook(os.path.join(d, "bad.xlsx"), [("all_by_image", cells)])
    expect_error("xlsx non-numeric DMOS",
                 run(d, "csiq-xlsx", "bad.xlsx", "--images", "dst_imgs", "--range", 0, 1),
                 os.path.join(d, "bad.xlsx"), "cell G7", "'n/a'")


def spaq_and_bid(top):
    d = os.path.join(top, "spaq")
    cells = {"A1": "Image name", "B1": "MOS", "C1": "Brightness", "D1": "Colorfulness"}
    expected = {}
    for i in range(1, 13):
        name = f"{i:05d}.jpg"
        write_image(os.path.join(d, "TestImage", name), "JPEG")
        mos = float(RAND.uniform(0, 100)) if i % 4 else int(RAND.integers(0, 101))
        cells.update({f"A{i + 1}": name, f"B{i + 1}": mos, f"C{i + 1}": 50.5, f"D{i + 1}": 1})
        expected[name] = row(float(mos), math.nan, 0, 100, True, None, None, "TestImage/" + name)
    save_workbook(os.path.join(d, "MOS and Image attribute scores.xlsx"), [("Sheet1", cells)])
    res = run(d, "spaq-xlsx", "MOS and Image attribute scores.xlsx", "--images", "TestImage",
              "--range", 0, 100)
    compare("spaq-xlsx (openpyxl workbook)", res, expected, d)

    d = os.path.join(top, "bid")
    cells = {"A1": "Image Number", "B1": "Average Subjective Grade"}
    expected = {}
    for i in range(1, 11):
        name = f"DatabaseImage{i:04d}.JPG"
        on_disk = name if i != 3 else name[:-3] + "jpg"
        write_image(os.path.join(d, "ImageDatabase", on_disk), "JPEG")
        grade = round(float(RAND.uniform(0, 5)), 2)
        cells.update({f"A{i + 1}": i, f"B{i + 1}": grade})
        expected[name] = row(grade, math.nan, 0, 5, True, None, None, "ImageDatabase/" + on_disk)
    save_workbook(os.path.join(d, "DatabaseGrades.xlsx"), [("Sheet1", cells)])
    res = run(d, "bid-xlsx", "DatabaseGrades.xlsx", "--images", "ImageDatabase", "--range", 0, 5)
    compare("bid-xlsx (openpyxl workbook, an extension in another case)", res, expected, d)


def handmade_xlsx(path, sheet_xml, shared=None):
    """A SpreadsheetML package written by hand (zipfile): the sheet's part is
    named by an absolute relationship target."""
    ns = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    rns = 'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml",
                   '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.'
                   'openxmlformats.org/package/2006/content-types"/>')
        z.writestr("xl/workbook.xml",
                   f'<?xml version="1.0" encoding="UTF-8"?>\n<workbook {ns} {rns}><sheets>'
                   '<sheet name="Scores" sheetId="7" r:id="rId3"/></sheets></workbook>')
        z.writestr("xl/_rels/workbook.xml.rels",
                   '<?xml version="1.0" encoding="UTF-8"?>\n<Relationships xmlns="http://'
                   'schemas.openxmlformats.org/package/2006/relationships"><Relationship '
                   'Id="rId3" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
                   'relationships/worksheet" Target="/xl/worksheets/data.xml"/></Relationships>')
        if shared is not None:
            z.writestr("xl/sharedStrings.xml",
                       f'<?xml version="1.0" encoding="UTF-8"?>\n<sst {ns}>{shared}</sst>')
        z.writestr("xl/worksheets/data.xml",
                   f'<?xml version="1.0" encoding="UTF-8"?>\n<worksheet {ns}>\n<sheetData>\n'
                   f'{sheet_xml}\n</sheetData></worksheet>')


def handmade(top):
    d = os.path.join(top, "handmade")
    for n in ("00007.jpg", "a b.jpg", "x&y.jpg"):
        write_image(os.path.join(d, n), "JPEG")
    shared = ('<si><t>Image name</t></si><si><t>MOS</t></si>'
              '<si><r><rPr><b/></rPr><t>000</t></r><r><t>07.jpg</t></r>'
              '<rPh sb="0" eb="1"><t>PHONETIC</t></rPh></si>')
    sheet = ('<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c></row>\n'
             '<row><c t="s"><v>2</v></c><c><v>12.5</v></c></row>\n'
             '<row r="5"><c r="A5" t="inlineStr"><is><t xml:space="preserve">a b.jpg</t></is>'
             '</c><c r="C5"><v>99</v></c><c r="B5" t="str"><f>1+1</f><v>1E1</v></c></row>\n'
             '<row r="6"><c r="$A$6" t="inlineStr"><is><t>x&amp;y.jpg</t></is></c>'
             '<c r="B6" s="3"><v>0.25</v></c></row>')
    handmade_xlsx(os.path.join(d, "scores.xlsx"), sheet, shared)
    expected = {"00007.jpg": row(12.5, math.nan, 0, 100, True, None, None, "00007.jpg"),
                "a b.jpg": row(10.0, math.nan, 0, 100, True, None, None, "a b.jpg"),
                "x&y.jpg": row(0.25, math.nan, 0, 100, True, None, None, "x&y.jpg")}
    res = run(d, "spaq-xlsx", "scores.xlsx", "--range", 0, 100)
    compare("hand-written xlsx (rich text, phonetic run, inline strings, no r, $ refs)", res,
            expected, d)
    handmade_xlsx(os.path.join(d, "garbage.xlsx"),
                  sheet.replace('r="C5"', 'r="5C"'), shared)
    expect_error("xlsx garbage cell reference",
                 run(d, "spaq-xlsx", "garbage.xlsx", "--range", 0, 100),
                 os.path.join(d, "garbage.xlsx"), "xl/worksheets/data.xml:6", "'5C'")


# ---- malformed CSVs -------------------------------------------------------------

def malformed_csv(top):
    d = os.path.join(top, "bad")
    os.makedirs(d)
    for n in ("a.png", "b.png", "c.png"):
        write_image(os.path.join(d, n), "PNG")
    cases = [
        ("non-numeric MOS", "name,mos\na.png,1\nb.png,abc\n", ":3", "'abc'"),
        ("short row", "name,mos,std\na.png,1,0.1\nb.png,2,0.1\nc.png,3\n", ":4", "fields"),
        ("unterminated quote", 'name,mos\na.png,1\n"b.png,2\nc.png,3\n', ":3",
         "unterminated"),
        ("MOS outside the declared range", "name,mos\na.png,1\nb.png,7\n", ":3",
         "outside the declared range"),
        ("duplicate image", "name,mos\na.png,1\nb.png,2\na.png,3\n", ":4", "listed twice"),
    ]
    for i, (what, text, line, needle) in enumerate(cases):
        path = os.path.join(d, f"case{i}.csv")
        with open(path, "w") as f:
            f.write(text)
        expect_error(f"pyiqa-csv {what}", run(d, "pyiqa-csv", f"case{i}.csv", "--range", 0, 5),
                     path + line, needle)


def main():
    top = tempfile.mkdtemp(prefix="biqa-labels-")
    try:
        for build in (livec, live, kadid_and_pyiqa_fr, koniq, flive, pipal, tid, csiq,
                      spaq_and_bid, handmade, malformed_csv):
            build(top)
    finally:
        shutil.rmtree(top)
    print(f"{len(FAILS)} failed" if FAILS else "all label checks passed")
    sys.exit(1 if FAILS else 0)


if __name__ == "__main__":
    main()
