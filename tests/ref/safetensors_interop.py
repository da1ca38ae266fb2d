#!/usr/bin/python3
"""core/safetensors.h against Python: files written by tests/ref/st.py (and
a raw writer for BF16, which st.py lacks) are read by biqa, and the files
biqa writes are read back by st.py.

usage: safetensors_interop.py [BIQA [HELPERS]]   (or env BIQA, BIQA_HELPERS)

The st_copy helper reads a file with biqa_st_open/biqa_st_read_f32 and
writes every float tensor as F32 with biqa_st_write. Checked:
- names, order, shapes and metadata (non-ASCII, quotes) survive; integer
  tensors are skipped by name;
- values bit for bit: F32 as written; F64 as NumPy's astype(float32)
  rounds it (including overflow to inf and float32 subnormals); every one
  of the 65536 F16 bit patterns as NumPy converts them; every BF16 bit
  pattern as torch's bfloat16.float() does; a scalar, an empty tensor and a
  4 MiB tensor;
- biqa's file keeps the format's layout: an 8-byte-aligned JSON header and
  data_offsets that tile the data section exactly to the end of the file;
- copying biqa's own file again gives the same bytes;
- a truncated file and an unknown dtype are refused with one line naming
  the file and the tensor, and write no output.

Run it with Debian's /usr/bin/python3. Prints one line per check; exits 1
naming every check that failed.
"""
import json
import os
import struct
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st  # noqa: E402

failures = []


def check(name, ok, detail=""):
    print(f"{'ok  ' if ok else 'FAIL'} {name}{': ' + detail if detail else ''}", flush=True)
    if not ok:
        failures.append(name)


def save_raw(path, entries, metadata=None):
    """entries: [(name, dtype string, shape, bytes)]; the layout st.save writes."""
    header, offset = {}, 0
    if metadata:
        header["__metadata__"] = metadata
    for name, dtype, shape, blob in entries:
        header[name] = {"dtype": dtype, "shape": list(shape),
                        "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(e[3] for e in entries))


def st_copy(helpers, src, dst):
    return subprocess.run([os.path.join(helpers, "st_copy"), src, dst],
                          capture_output=True, text=True)


def same_bits(a, b):
    a32 = np.ascontiguousarray(a, dtype=np.float32)
    b32 = np.ascontiguousarray(b, dtype=np.float32)
    if a32.shape != b32.shape:
        return False, f"shape {a32.shape} != {b32.shape}"
    diff = int(np.count_nonzero(a32.view(np.uint32) != b32.view(np.uint32)))
    return diff == 0, f"{a32.size} values, {diff} differ in their bits"


def layout_ok(path):
    """The format's layout: aligned header, offsets tiling the data exactly."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    header.pop("__metadata__", None)
    offs = sorted(tuple(e["data_offsets"]) for e in header.values())
    end = 0
    for b, e in offs:
        if b != end:
            return False, f"gap or overlap at {b}"
        end = e
    ok = n % 8 == 0 and 8 + n + end == len(data)
    return ok, f"header {n} bytes, data {end} bytes, file {len(data)} bytes"


def python_to_biqa(helpers, tmp):
    rng = np.random.default_rng(7)
    f32 = rng.standard_normal((3, 4, 5)).astype(np.float32)
    f32.flat[:6] = [-0.0, np.inf, -np.inf, np.nan, np.finfo(np.float32).max, 1e-45]
    f64 = np.concatenate([rng.standard_normal(8) * 1e3, [0.1, -1e-40, 1e39, -1e300, 2.0 ** -149]])
    f16 = np.arange(65536, dtype=np.uint16).view(np.float16).reshape(256, 256)
    big = rng.standard_normal(1 << 20).astype(np.float32)
    meta = {"format": "pt", "note": 'caf\u00e9 \u2713 "quoted" back\\slash'}
    tensors = {"a.f32": f32, "b.f64": f64, "c.f16": f16, "e.i64": np.arange(5, dtype=np.int64),
               "scalar": np.array(3.25, dtype=np.float32), "empty": np.zeros((0, 3), np.float32),
               "f.i32": np.arange(4, dtype=np.int32), "big": big, "g.u8": np.arange(3, dtype=np.uint8)}
    src = os.path.join(tmp, "py.safetensors")
    out = os.path.join(tmp, "biqa.safetensors")
    st.save(src, tensors, meta)
    start = time.perf_counter()
    r = st_copy(helpers, src, out)
    wall = time.perf_counter() - start
    check("st_copy of st.py's file", r.returncode == 0,
          f"exit {r.returncode}, {wall * 1000:.0f} ms {r.stderr.strip()}")
    if r.returncode != 0:
        return
    skipped = sorted(r.stdout.split("\n")[:-1])
    check("integer tensors skipped by name", skipped == ["skipped e.i64 I64", "skipped f.i32 I32",
                                                         "skipped g.u8 U8"], repr(skipped))
    got, got_meta = st.load(out)
    want = ["a.f32", "b.f64", "c.f16", "scalar", "empty", "big"]
    check("names and order", list(got) == want, repr(list(got)))
    check("metadata", got_meta == meta, repr(got_meta))
    expect = {"a.f32": f32, "c.f16": f16.astype(np.float32), "scalar": tensors["scalar"],
              "empty": tensors["empty"], "big": big}
    with np.errstate(over="ignore"):
        expect["b.f64"] = f64.astype(np.float32)
    for name, e in expect.items():
        if name in got:
            ok, detail = same_bits(got[name], e)
            check(f"{name} values", ok and got[name].dtype == np.float32, detail)
    ok, detail = layout_ok(out)
    check("biqa's file layout", ok, detail)

    again = os.path.join(tmp, "biqa2.safetensors")
    r = st_copy(helpers, out, again)
    with open(out, "rb") as a, open(again, "rb") as b:
        same = r.returncode == 0 and a.read() == b.read()
    check("copying biqa's file gives the same bytes", same, r.stderr.strip())


def bf16_to_biqa(helpers, tmp):
    bits = np.arange(65536, dtype=np.uint16)
    src = os.path.join(tmp, "bf16.safetensors")
    out = os.path.join(tmp, "bf16_out.safetensors")
    save_raw(src, [("w", "BF16", (16, 4096), bits.tobytes())])
    r = st_copy(helpers, src, out)
    check("st_copy of a BF16 file", r.returncode == 0, r.stderr.strip())
    if r.returncode != 0:
        return
    got, _ = st.load(out)
    want = torch.from_numpy(bits.view(np.int16).copy()).view(torch.bfloat16).float().numpy()
    ok, detail = same_bits(got["w"], want.reshape(16, 4096))
    check("every BF16 bit pattern as torch converts it", ok, detail)


def refusals(helpers, tmp):
    good = os.path.join(tmp, "good.safetensors")
    st.save(good, {"x": np.ones((4, 4), np.float32), "y": np.ones(8, np.float32)})
    with open(good, "rb") as f:
        data = f.read()
    trunc = os.path.join(tmp, "trunc.safetensors")
    with open(trunc, "wb") as f:
        f.write(data[:-5])
    bad_dtype = os.path.join(tmp, "f8.safetensors")
    save_raw(bad_dtype, [("q", "F8_E4M3", (4,), bytes(4))])
    cases = [(trunc, "tensor 'y': data_offsets [64, 96) outside the 91 data bytes"),
             (bad_dtype, "tensor 'q': unknown dtype 'F8_E4M3'")]
    for path, msg in cases:
        out = path + ".out"
        r = st_copy(helpers, path, out)
        err = r.stderr.strip()
        ok = (r.returncode == 1 and err.startswith(f"st_copy: {path}: {msg}") and
              err.count("\n") == 0 and not os.path.exists(out))
        check(f"refuses {os.path.basename(path)}", ok, err)


def main():
    helpers = sys.argv[2] if len(sys.argv) > 2 else os.environ.get("BIQA_HELPERS")
    if not helpers:
        sys.exit("usage: safetensors_interop.py BIQA HELPERS (or env BIQA_HELPERS)")
    with tempfile.TemporaryDirectory() as tmp:
        python_to_biqa(helpers, tmp)
        bf16_to_biqa(helpers, tmp)
        refusals(helpers, tmp)
    if failures:
        print(f"{len(failures)} check(s) failed: {', '.join(failures)}")
        sys.exit(1)
    print("all safetensors interop checks passed")


if __name__ == "__main__":
    main()
