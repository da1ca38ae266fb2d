#!/usr/bin/python3
"""Miniature, format-faithful copies of biqa's datasets, for the fetch, import
and verify tests, and the oracle their results are checked against.

    make_mini_datasets.py OUT BASE_URL
        For every download manifest datasets/manifests/NAME.json and each of
        its sources, builds what that source delivers, with a few real images
        (Pillow: JPEG, PNG or BMP by extension) at the paths the labels name,
        in the source's folder layout and label format (CSV, MAT v5 written by
        scipy.io.savemat, xlsx, txt):
          a downloadable source: its files in their real formats (tgz, tar,
            zip, file) as OUT/www/NAME--FILE, served at BASE_URL/NAME--FILE
            (fault_server.py serves one flat folder; biqa names the download
            FILE, as the manifest says);
          a manual source (and TID2013's RAR, which nothing here can write):
            the folder a user would import, OUT/import/NAME-SOURCE/.
        Writes OUT/mini-NAME.json: the real manifest renamed mini-NAME, with
        the mini image/reference counts and each file's URL, size and SHA-256
        (a digest the real manifest does not know stays "unknown", so pinning
        is exercised; a published MD5 becomes the mini file's), and
        OUT/expected-NAME.json: per source, the index rows biqa must produce.
        Also mini-koniq10k-missing.json, whose archive lacks 100117038.jpg,
        and mini-imagenet.json with OUT/import/imagenet-train (3 classes).

    make_mini_datasets.py check OUT NAME SOURCE DATASET_DIR
        Compares DATASET_DIR/index.csv with the expected rows of NAME's SOURCE
        (image path, name; MOS and std normalised here from the raw label
        values: (raw - lo) / (hi - lo), or (hi - raw) / (hi - lo) for DMOS,
        std / (hi - lo), a variance's square root first) and recomputes every
        SHA-256 of DATASET_DIR/digests.sha256 with hashlib, which must list
        every file there is. Prints one line per check; exit 1 on a mismatch.
"""
import copy
import csv
import gzip
import hashlib
import io
import json
import math
import os
import sys
import tarfile
import zipfile
import zlib

import numpy as np
import scipy.io
from PIL import Image

SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
U = [0.12, 0.83, 0.47, 0.66, 0.29, 0.91, 0.55, 0.05]  # where raw scores sit in a range
SPLITS = ["ratio802_seed123_split_%02d" % k for k in range(1, 11)]
# Parsers this script writes files for, and those whose files carry no std.
WRITERS = {"pyiqa-csv", "koniq-csv", "kadid-csv", "livec-mat", "tid-txt", "pipal-csv",
           "bid-xlsx", "spaq-xlsx", "csiq-xlsx"}
NO_STD = {"pipal-csv", "bid-xlsx", "spaq-xlsx"}


# ---- content ----------------------------------------------------------------

def image_bytes(name, seed):
    """A small real image encoded as the name's extension says."""
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 256, size=(32, 40, 3), dtype=np.uint8)  # >= 32 px: finetune works
    im = Image.fromarray(arr)
    ext = os.path.splitext(name)[1].lower()
    buf = io.BytesIO()
    im.save(buf, {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".bmp": "BMP"}[ext])
    return buf.getvalue()


class Item:
    """One scored image: where it lies (relative to the image dir), how the
    labels name it, its raw score and std (as the labels write them), and its
    reference."""

    def __init__(self, path, name, ref=None, extra=None):
        self.path, self.name, self.ref, self.extra = path, name, ref, extra or {}


# The images of each dataset (the same files for every source of it; names
# as the real datasets spell them).
def items_of(name):
    if name == "koniq10k":
        return [Item(n, n) for n in ["10004473376.jpg", "10007357496.jpg", "100117038.jpg",
                                      "1026198859.jpg", "10325321.jpg"]]
    if name == "spaq":
        return [Item(n, n) for n in ["00001.jpg", "00002.jpg", "00003.jpg", "00004.jpg"]]
    if name == "livec":
        # t1..t7 are training images: in the labels and on disk, left out of the index.
        return [Item(n, n) for n in ["t1.bmp", "t2.bmp", "100.bmp", "101.bmp", "1001.JPG",
                                      "1002.bmp"]]
    if name == "flive":
        return [Item(n, n) for n in ["AVA__149.jpg", "VOC2012__2008_000008.jpg",
                                      "blur_dataset/motion0012.jpg",
                                      "EE371R__EMOTIC__COCO_train2014_000000000064.jpg"]]
    if name == "bid":
        # BID: one extension differs in case from what DatabaseImage%04d.JPG says.
        return [Item("DatabaseImage%04d.%s" % (i, "jpg" if i == 3 else "JPG"),
                     "DatabaseImage%04d.JPG" % i, extra={"n": i}) for i in range(1, 5)]
    if name == "kadid10k":
        return [Item("I%02d_%02d_%02d.png" % (r, t, l), "I%02d_%02d_%02d.png" % (r, t, l),
                     "I%02d.png" % r) for r in (1, 2) for t, l in ((1, 1), (3, 5), (12, 2))]
    if name == "live":
        refs = ["bikes.bmp", "parrots.bmp"]
        return [Item("%s/img%d.bmp" % (d, k), "%s/img%d.bmp" % (d, k), refs[k % 2])
                for d, k in (("jp2k", 1), ("jp2k", 2), ("jpeg", 3), ("wn", 4), ("gblur", 5))]
    if name == "csiq":
        out = []
        for ref, typ, tag, folder, lev in (("1600", "noise", "AWGN", "awgn", 1),
                                           ("1600", "jpeg", "JPEG", "jpeg", 3),
                                           ("aerial_city", "blur", "BLUR", "blur", 2),
                                           ("aerial_city", "contrast", "contrast", "contrast", 4)):
            p = "%s/%s.%s.%d.png" % (folder, ref, tag, lev)
            out.append(Item(p, p, ref + ".png", {"image": ref, "type": typ, "lev": lev}))
        return out
    if name == "tid2013":
        # Files are lower case, TID's label file names them upper case.
        return [Item("i%02d_%02d_%d.bmp" % (r, t, l), "I%02d_%02d_%d.bmp" % (r, t, l),
                     "I%02d.BMP" % r) for r in (1, 25) for t, l in ((1, 1), (8, 4), (24, 5))]
    if name == "pipal":
        return [Item("A%04d_%02d_%02d.bmp" % (r, t, l), "A%04d_%02d_%02d.bmp" % (r, t, l),
                     "A%04d.bmp" % r) for r in (1, 2) for t, l in ((0, 0), (3, 11))]
    raise SystemExit("no miniature for dataset %s" % name)


def scores(labels, items):
    """Raw score and raw std per item inside the declared range."""
    lo, hi = labels["mos_range"]
    out = []
    for i, _ in enumerate(items):
        raw = lo + (hi - lo) * U[i % len(U)]
        std = (hi - lo) * 0.03 * (i + 1)
        if labels.get("std_is_variance"):
            std = std * std  # the file holds a variance
        out.append((round(raw, 6), round(std, 9)))
    return out


def expected_rows(labels, items, vals):
    lo, hi = labels["mos_range"]
    exclude = set(labels.get("exclude", []))
    image_dir = labels["image_dir"]
    rows = []
    for it, (raw, std) in zip(items, vals):
        if it.name in exclude:
            continue
        if labels["parser"] == "livec-mat" and it.name.split(".")[0] in ["t%d" % k for k in range(1, 8)]:
            continue
        mos = (raw - lo) / (hi - lo) if labels["higher_better"] else (hi - raw) / (hi - lo)
        s = math.sqrt(std) if labels.get("std_is_variance") else std
        has_std = labels["parser"] not in NO_STD
        rows.append({"image": (image_dir + "/" if image_dir else "") + it.path, "name": it.name,
                     "mos": mos, "std": s / (hi - lo) if has_std else None})
    return rows


# ---- label writers (one per parser; the real files' formats) -----------------

def csv_text(header, rows, quote_all=False):
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n",
                   quoting=csv.QUOTE_NONNUMERIC if quote_all else csv.QUOTE_MINIMAL)
    w.writerow(header)
    for r in rows:
        w.writerow(r)
    return buf.getvalue().encode()


def split_cells(i, n):
    # pyiqa's ratio802 columns: "train" / "val" (its val is the test part).
    return ["val" if (i + k) % 5 == 0 else "train" for k in range(len(SPLITS))]


def xlsx_bytes(sheets):
    """A minimal Office Open XML workbook: sheets = [(name, rows)], cells
    strings (shared strings) or numbers."""
    strings, index = [], {}

    def sid(s):
        if s not in index:
            index[s] = len(strings)
            strings.append(s)
        return index[s]

    def col(c):
        s = ""
        c += 1
        while c:
            c, r = divmod(c - 1, 26)
            s = chr(65 + r) + s
        return s

    def esc(s):
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    parts = {}
    for k, (_, rows) in enumerate(sheets, 1):
        xml = ['<?xml version="1.0" encoding="UTF-8" standalone="yes"?>',
               '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
               '<sheetData>']
        for r, row in enumerate(rows, 1):
            xml.append('<row r="%d">' % r)
            for c, v in enumerate(row):
                ref = "%s%d" % (col(c), r)
                if isinstance(v, str):
                    xml.append('<c r="%s" t="s"><v>%d</v></c>' % (ref, sid(v)))
                else:
                    xml.append('<c r="%s"><v>%r</v></c>' % (ref, v))
            xml.append("</row>")
        xml.append("</sheetData></worksheet>")
        parts["xl/worksheets/sheet%d.xml" % k] = "".join(xml)
    parts["xl/sharedStrings.xml"] = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="%d" '
        'uniqueCount="%d">%s</sst>' % (len(strings), len(strings),
                                       "".join("<si><t>%s</t></si>" % esc(s) for s in strings)))
    parts["xl/workbook.xml"] = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>'
        + "".join('<sheet name="%s" sheetId="%d" r:id="rId%d"/>' % (esc(n), k, k)
                  for k, (n, _) in enumerate(sheets, 1)) + "</sheets></workbook>")
    parts["xl/_rels/workbook.xml.rels"] = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        + "".join('<Relationship Id="rId%d" Type="http://schemas.openxmlformats.org/'
                  'officeDocument/2006/relationships/worksheet" Target="worksheets/sheet%d.xml"/>'
                  % (k, k) for k in range(1, len(sheets) + 1))
        + '<Relationship Id="rId%d" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
          'relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>'
        % (len(sheets) + 1))
    parts["_rels/.rels"] = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>')
    parts["[Content_Types].xml"] = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
        'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-'
        'officedocument.spreadsheetml.sheet.main+xml"/></Types>')
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for n in ["[Content_Types].xml", "_rels/.rels", "xl/workbook.xml",
                  "xl/_rels/workbook.xml.rels", "xl/sharedStrings.xml"] + sorted(
                      p for p in parts if p.startswith("xl/worksheets/")):
            z.writestr(zipfile.ZipInfo(n, (2020, 1, 1, 0, 0, 0)), parts[n])
    return buf.getvalue()


def mat_bytes(var, value, compress):
    buf = io.BytesIO()
    scipy.io.savemat(buf, {var: value}, do_compression=compress, format="5")
    return buf.getvalue()


def label_files(name, src, items, vals):
    """{path relative to the dataset dir: bytes} of the source's label and
    split files."""
    lab = src["labels"]
    p = lab["parser"]
    files = {}
    if p == "pyiqa-csv":
        fr = items[0].ref is not None
        mos_col = "dmos" if name in ("kadid10k", "csiq") else "mos"
        header = (["ref_name", "dist_name"] if fr else ["name"]) + [mos_col, "std"] + SPLITS
        off = src.get("splits", {}).get("official")
        if off:
            header.append(off["set_column"])
        rows = []
        for i, (it, (raw, std)) in enumerate(zip(items, vals)):
            row = ([it.ref, it.name] if fr else [it.name]) + [raw, std] + split_cells(i, len(items))
            if off:
                row.append(["train", "val", "test"][i % 3])
            rows.append(row)
        files[lab["file"]] = csv_text(header, rows)
    elif p == "koniq-csv":
        # The official CSV quotes every field.
        rows = [[it.name, 0, 0.1, 0.3, 0.4, 0.2, 100 + i, raw, std, (raw - 1) * 25]
                for i, (it, (raw, std)) in enumerate(zip(items, vals))]
        files[lab["file"]] = csv_text(["image_name", "c1", "c2", "c3", "c4", "c5", "c_total",
                                       "MOS", "SD", "MOS_zscore"], rows, quote_all=True)
        off = src.get("splits", {}).get("official")
        if off:
            files[off["file"]] = csv_text(
                [off["name_column"], "c1", "c2", "c3", "c4", "c5", "c_total", "MOS",
                 "SD", "MOS_zscore", off["set_column"]],
                [[it.name, 0, 0.1, 0.3, 0.4, 0.2, 100, 3.0, 0.5, 50.0,
                  ["training", "validation", "test"][i % 3]] for i, it in enumerate(items)],
                quote_all=True)
    elif p == "kadid-csv":
        files[lab["file"]] = csv_text(["dist_img", "ref_img", "dmos", "var"],
                                      [[it.name, it.ref, raw, std * std]
                                       for it, (raw, std) in zip(items, vals)])
    elif p == "livec-mat":
        names = np.empty((len(items), 1), dtype=object)
        for i, it in enumerate(items):
            names[i, 0] = it.name
        files[lab["file"] + "/AllImages_release.mat"] = mat_bytes("AllImages_release", names, True)
        files[lab["file"] + "/AllMOS_release.mat"] = mat_bytes(
            "AllMOS_release", np.array([[v[0] for v in vals]]), False)
        files[lab["file"] + "/AllStdDev_release.mat"] = mat_bytes(
            "AllStdDev_release", np.array([[v[1] for v in vals]]), True)
    elif p == "tid-txt":
        files[lab["file"]] = "".join("%.5f %s\n" % (raw, it.name)
                                     for it, (raw, _) in zip(items, vals)).encode()
        std_path = os.path.join(os.path.dirname(lab["file"]), "mos_std.txt")
        files[std_path] = "".join("%.5f\n" % std for _, std in vals).encode()
    elif p == "pipal-csv":
        by_ref = {}
        for it, (raw, _) in zip(items, vals):
            by_ref.setdefault(it.ref.split(".")[0], []).append("%s,%.4f\n" % (it.name, raw))
        for ref, lines in by_ref.items():
            files["%s/%s.txt" % (lab["file"], ref)] = "".join(lines).encode()
    elif p == "bid-xlsx":
        rows = [["Image Number", "Average Grade"]] + [[it.extra["n"], raw]
                                                      for it, (raw, _) in zip(items, vals)]
        files[lab["file"]] = xlsx_bytes([("Plan1", rows)])
    elif p == "spaq-xlsx":
        rows = [["Image name", "MOS", "Brightness", "Colorfulness", "Contrast", "Noisiness",
                 "Sharpness"]] + [[it.name, raw, 50.0, 50.0, 50.0, 50.0, 50.0]
                                  for it, (raw, _) in zip(items, vals)]
        files[lab["file"]] = xlsx_bytes([("Sheet1", rows)])
    elif p == "csiq-xlsx":
        # A title row above the header, as in the real workbook.
        rows = [["CSIQ DMOS"], ["image", "dst_idx", "dst_type", "dst_lev", "dmos_std", "dmos"]]
        for it, (raw, std) in zip(items, vals):
            img = it.extra["image"]
            rows.append([int(img) if img.isdigit() else img, 1, it.extra["type"],
                         it.extra["lev"], std, raw])
        files[lab["file"]] = xlsx_bytes([("all_by_image", rows), ("all_by_distortion", [["x"]])])
    else:
        raise SystemExit("no writer for parser %s" % p)
    return files


# ---- archives -----------------------------------------------------------------

def all_dirs(paths):
    dirs = set()
    for p in paths:
        parts = p.split("/")[:-1]
        for k in range(1, len(parts) + 1):
            dirs.add("/".join(parts[:k]))
    return sorted(dirs)


def archive_bytes(fmt, members):
    """members: {path: bytes}, written with their folders first."""
    buf = io.BytesIO()
    if fmt in ("tgz", "tar"):
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as t:
            for d in all_dirs(members):
                ti = tarfile.TarInfo(d)
                ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, 1600000000
                t.addfile(ti)
            for p in sorted(members):
                ti = tarfile.TarInfo(p)
                ti.size, ti.mode, ti.mtime = len(members[p]), 0o644, 1600000000
                t.addfile(ti, io.BytesIO(members[p]))
        data = raw.getvalue()
        return gzip.compress(data, mtime=0) if fmt == "tgz" else data
    if fmt == "zip":
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for d in all_dirs(members):
                z.writestr(zipfile.ZipInfo(d + "/", (2020, 1, 1, 0, 0, 0)), b"")
            for p in sorted(members):
                z.writestr(zipfile.ZipInfo(p, (2020, 1, 1, 0, 0, 0)), members[p])
        return buf.getvalue()
    raise SystemExit("cannot write format %s" % fmt)


def source_members(name, src, items, vals):
    """{path in the dataset dir: bytes}: images, references, labels, splits."""
    lab = src["labels"]
    members = {}
    prefix = lab["image_dir"] + "/" if lab["image_dir"] else ""
    for it in items:
        members[prefix + it.path] = image_bytes(it.path, zlib.crc32((name + it.path).encode()))
    # The reference images: beside the distorted ones in KADID-10k, in a
    # folder of their own elsewhere. They are not scored.
    parent = os.path.dirname(lab["image_dir"])
    ref_dir = prefix if name == "kadid10k" else (parent + "/" if parent else "") + "reference_images/"
    for r in sorted({it.ref for it in items if it.ref}):
        members[ref_dir + r] = image_bytes(r, zlib.crc32(r.encode()))
    members.update(label_files(name, src, items, vals))
    return members


def split_into_files(src, members):
    """Which of the source's files holds each member: a "file" format entry
    holds the member of its own name; labels and splits go to the last
    archive when there are several (pyiqa's meta_info.tgz, KonIQ's scores
    zip), everything else to the first."""
    archives = [f for f in src["files"] if f["format"] != "file"]
    plain = {f["file"]: f for f in src["files"] if f["format"] == "file"}
    lab = src["labels"]
    label_paths = {lab["file"]}
    sp = src.get("splits", {})
    if sp.get("pyiqa"):
        label_paths.add(sp["pyiqa"])
    out = {f["file"]: {} for f in src["files"]}
    for p, data in members.items():
        if p in plain:
            out[p] = data
        elif (p in label_paths or p.startswith(lab["file"] + "/")) and len(archives) > 1:
            out[archives[-1]["file"]][p] = data
        else:
            out[archives[0]["file"]][p] = data
    return out


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def build(out, base_url, name, drop=None, suffix=""):
    real = json.load(open(os.path.join(SRC, "datasets", "manifests", name + ".json")))
    items = items_of(name)
    mini = copy.deepcopy(real)
    mini["name"] = "mini-" + name + suffix
    expected = {}
    mini["sources"] = [s for s in mini["sources"] if s["labels"]["parser"] in WRITERS]
    for src in mini["sources"]:
        vals = scores(src["labels"], items)
        rows = expected_rows(src["labels"], items, vals)
        expected[src["name"]] = rows
        mini["images"] = len(rows)
        refs = {it.ref for it in items if it.ref}
        mini["references"] = len(refs) if refs else None
        members = source_members(name, src, items, vals)
        if drop:
            members = {p: d for p, d in members.items() if not p.endswith("/" + drop)}
        can_archive = all(f["format"] in ("tgz", "tar", "zip", "file") for f in src["files"])
        if src.get("manual") or not can_archive:
            folder = os.path.join(out, "import", "%s%s-%s" % (name, suffix, src["name"]))
            for p, data in members.items():
                write(os.path.join(folder, p), data)
            continue
        for fname, content in split_into_files(src, members).items():
            f = next(x for x in src["files"] if x["file"] == fname)
            data = content if f["format"] == "file" else archive_bytes(f["format"], content)
            # fault_server.py serves one flat folder: the dataset prefixes the name.
            served = "%s%s--%s" % (name, suffix, fname)
            write(os.path.join(out, "www", served), data)
            f["urls"] = ["%s/%s" % (base_url, served)]
            if real_file(real, src["name"], fname)["sha256"] != "unknown":
                f["sha256"] = sha256(data)
                f["bytes"] = len(data)
            if "md5" in f:
                f["md5"] = hashlib.md5(data).hexdigest()
    with open(os.path.join(out, "mini-%s%s.json" % (name, suffix)), "w") as f:
        json.dump(mini, f, indent=2)
    with open(os.path.join(out, "expected-%s%s.json" % (name, suffix)), "w") as f:
        json.dump(expected, f, indent=1)


def real_file(real, source, fname):
    s = next(s for s in real["sources"] if s["name"] == source)
    return next(f for f in s["files"] if f["file"] == fname)


def make(out, base_url):
    os.makedirs(os.path.join(out, "www"), exist_ok=True)
    names = []
    for f in sorted(os.listdir(os.path.join(SRC, "datasets", "manifests"))):
        m = json.load(open(os.path.join(SRC, "datasets", "manifests", f)))
        if m["kind"] == "download":
            names.append(m["name"])
    for n in names:
        build(out, base_url, n)
    build(out, base_url, "koniq10k", drop="100117038.jpg", suffix="-missing")
    build_local(out)
    print("miniatures of", ", ".join(names + ["imagenet"]), "in", out)


def build_local(out):
    """ImageNet's train layout: 3 class folders of JPEGs, and its manifest."""
    m = json.load(open(os.path.join(SRC, "datasets", "manifests", "imagenet.json")))
    m["name"], m["classes"], m["images"] = "mini-imagenet", 3, 0
    for c in ("n01440764", "n01443537", "n15075141"):
        for k in range(2):
            n = "%s_%d.JPEG" % (c, 10 + k)
            write(os.path.join(out, "import", "imagenet-train", c, n),
                  image_bytes(n, zlib.crc32(n.encode())))
            m["images"] += 1
    with open(os.path.join(out, "mini-imagenet.json"), "w") as f:
        json.dump(m, f, indent=2)


# ---- check ----------------------------------------------------------------------

def check(out, name, source, ddir):
    expected = json.load(open(os.path.join(out, "expected-%s.json" % name)))[source]
    bad = 0
    with open(os.path.join(ddir, "index.csv"), newline="") as f:
        got = {r["name"]: r for r in csv.DictReader(f)}
    want = {r["name"]: r for r in expected}
    if set(got) != set(want):
        print("FAIL index names: got %s, want %s" % (sorted(got), sorted(want)))
        bad += 1
    for n in sorted(set(got) & set(want)):
        g, w = got[n], want[n]
        std_ok = (g["std"] == "") if w["std"] is None else (
            g["std"] != "" and abs(float(g["std"]) - w["std"]) <= 1e-9)
        ok = g["image"].lower() == w["image"].lower() and abs(float(g["mos"]) - w["mos"]) <= 1e-9 \
            and std_ok and os.path.isfile(os.path.join(ddir, g["image"]))
        print("%s index row %s: image %s mos %s std %s (want %s %.12g %s)" % (
            "ok  " if ok else "FAIL", n, g["image"], g["mos"], g["std"], w["image"], w["mos"],
            w["std"]))
        bad += not ok
    listed = {}
    with open(os.path.join(ddir, "digests.sha256")) as f:
        for line in f:
            h, p = line.rstrip("\n").split("  ", 1)
            listed[p] = h
    present = set()
    for root, dirs, files in os.walk(ddir):
        for fn in files:
            present.add(os.path.relpath(os.path.join(root, fn), ddir))
    present.discard("digests.sha256")
    if set(listed) != present:
        print("FAIL digests.sha256 lists %s, the folder holds %s" % (
            sorted(set(listed) - present), sorted(present - set(listed))))
        bad += 1
    wrong = [p for p in sorted(listed) if p in present and
             sha256(open(os.path.join(ddir, p), "rb").read()) != listed[p]]
    print("%s digests.sha256: %d files, %d SHA-256 differ from hashlib's" % (
        "ok  " if not wrong else "FAIL", len(listed), len(wrong)))
    bad += bool(wrong)
    return 1 if bad else 0


def main():
    a = sys.argv[1:]
    if len(a) == 5 and a[0] == "check":
        sys.exit(check(*a[1:]))
    if len(a) != 2:
        sys.exit(__doc__)
    make(a[0], a[1].rstrip("/"))


if __name__ == "__main__":
    main()
