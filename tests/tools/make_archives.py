#!/usr/bin/env python3
"""Builds the archives the extraction tests feed to biqa, with Python's own
tarfile and zipfile (the 7z one is written by the extract_run helper through
libarchive; RAR cannot be written with free tools).

    make_archives.py OUT [NAME ...]

writes OUT/tree/ (the files the benign archives hold), OUT/benign.sha256 (their
SHA-256 from hashlib, sha256sum format, sorted by path) and the named archives
(all when none is named) into OUT. Hostile archives hold a harmless ok.txt and
okdir/ before their bad entry, so the tests see that what was extracted before
the refusal is removed again. Escapes aim inside OUT: with the destination at
OUT/work/dest, "../x" lands in OUT/work and an absolute path in OUT itself.
"""
import hashlib
import io
import os
import random
import struct
import sys
import tarfile
import zipfile
import zlib

GIB = 1 << 30


def tree_files():
    """Path -> bytes of the benign tree: nested directories, an empty file,
    names with spaces and non-ASCII, one file of several copy blocks."""
    rnd = random.Random(6)
    return {
        "labels.csv": b"image,mos\n" + b"".join(b"img_%03d.bmp,%d.5\n" % (i, i) for i in range(40)),
        "images/img_001.bmp": rnd.randbytes(100_000),
        "images/img_002.bmp": rnd.randbytes(1_000_000),
        "images/sub dir/\u00fcn\u00efcode \u2603.png": rnd.randbytes(5_000),
        "deep/a/b/c/d/e.txt": b"deep\n",
        "empty.txt": b"",
    }


def write_tree(out):
    root = os.path.join(out, "tree")
    for rel, data in tree_files().items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
    os.makedirs(os.path.join(root, "emptydir"), exist_ok=True)
    lines = sorted((rel.encode(), hashlib.sha256(data).hexdigest())
                   for rel, data in tree_files().items())
    with open(os.path.join(out, "benign.sha256"), "wb") as f:
        for rel, digest in lines:
            f.write(digest.encode() + b"  " + rel + b"\n")
    return root


def benign_tar(out, name, mode, prefix):
    """The tree's entries named prefix/<path>, or plain <path> when prefix is ""."""
    root = os.path.join(out, "tree")
    with tarfile.open(os.path.join(out, name), mode) as t:
        if prefix:
            t.add(root, arcname=prefix)
        else:
            for child in sorted(os.listdir(root)):
                t.add(os.path.join(root, child), arcname=child)


def benign_zip(out, name, method):
    root = os.path.join(out, "tree")
    with zipfile.ZipFile(os.path.join(out, name), "w", method) as z:
        for dirpath, dirs, files in sorted(os.walk(root)):
            dirs.sort()
            rel_dir = os.path.relpath(dirpath, root)
            if rel_dir != ".":
                z.write(dirpath, rel_dir + "/")
            for f in sorted(files):
                z.write(os.path.join(dirpath, f), os.path.normpath(os.path.join(rel_dir, f)))


def tar_with(out, name, bad, mode="w"):
    """ok.txt and okdir/, then the entries of bad (TarInfo, data) pairs."""
    with tarfile.open(os.path.join(out, name), mode) as t:
        d = tarfile.TarInfo("okdir")
        d.type = tarfile.DIRTYPE
        t.addfile(d)
        ok = b"harmless\n"
        i = tarfile.TarInfo("ok.txt")
        i.size = len(ok)
        t.addfile(i, io.BytesIO(ok))
        for info, data in bad:
            t.addfile(info, io.BytesIO(data) if data is not None else None)


def member(name, data=b"escaped\n", kind=tarfile.REGTYPE, link=""):
    i = tarfile.TarInfo(name)
    i.type = kind
    i.linkname = link
    i.size = len(data) if kind == tarfile.REGTYPE else 0
    return i, data if kind == tarfile.REGTYPE else None


def zip_with(out, name, bad):
    with zipfile.ZipFile(os.path.join(out, name), "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("okdir/", b"")
        z.writestr("ok.txt", b"harmless\n")
        for info, data in bad:
            z.writestr(info, data)


def zeros_deflate(n_mib, head=b""):
    """Raw deflate of head + n_mib MiB of zeros, built from one compressed MiB:
    after a full flush the compressor starts afresh, so every further MiB of
    zeros compresses to the same bytes (asserted), and a gigabyte takes
    milliseconds instead of seconds."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = c.compress(head) + c.flush(zlib.Z_FULL_FLUSH)
    z = bytes(1 << 20)
    chunk = c.compress(z) + c.flush(zlib.Z_FULL_FLUSH)
    again = c.compress(z) + c.flush(zlib.Z_FULL_FLUSH)
    assert chunk == again, "zlib no longer repeats a flushed block of zeros"
    return first + chunk * n_mib + c.flush()


def zeros_crc(n_mib, head=b""):
    crc = zlib.crc32(head)
    z = bytes(1 << 20)
    for _ in range(n_mib):
        crc = zlib.crc32(z, crc)
    return crc


def bomb_targz(out):
    """1 GiB of zeros in a tar, gzip-compressed to about 1 MB."""
    info = tarfile.TarInfo("zeros.bin")
    info.size = GIB
    head = info.tobuf(tarfile.GNU_FORMAT)
    tail = bytes(10240)  # end-of-archive blocks and record padding: zeros too
    body = zeros_deflate(1024, head)
    # The trailing zeros go into one more deflate stream member of the same gzip file.
    path = os.path.join(out, "bomb.tar.gz")
    with open(path, "wb") as f:
        f.write(gzip_member(body, zeros_crc(1024, head), len(head) + GIB))
        f.write(gzip_member(zlib.compress(tail, 9)[2:-4], zlib.crc32(tail), len(tail)))
    with tarfile.open(path) as t:  # Python's reader agrees on what it declares
        first = t.next()
        assert first.name == "zeros.bin" and first.size == GIB


def gzip_member(deflate, crc, size):
    return (b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + deflate +
            struct.pack("<II", crc & 0xFFFFFFFF, size & 0xFFFFFFFF))


def raw_zip(path, name, deflate, crc, declared):
    """One deflated entry whose headers state `declared` uncompressed bytes
    (a liar's is smaller than what the deflate stream holds)."""
    n = name.encode()
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x21, crc, len(deflate), declared,
                        len(n), 0) + n
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0x21, crc,
                          len(deflate), declared, len(n), 0, 0, 0, 0, 0o100644 << 16, 0) + n
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central),
                      len(local) + len(deflate), 0)
    with open(path, "wb") as f:
        f.write(local + deflate + central + end)


def bomb_zips(out):
    deflate = zeros_deflate(1024)
    crc = zeros_crc(1024)
    raw_zip(os.path.join(out, "bomb.zip"), "zeros.bin", deflate, crc, GIB)
    raw_zip(os.path.join(out, "liar.zip"), "zeros.bin", deflate, crc, 1024)
    with zipfile.ZipFile(os.path.join(out, "bomb.zip")) as z:  # Python's reader agrees
        info = z.infolist()[0]
        assert info.file_size == GIB
        with z.open(info) as f:
            assert f.read(1 << 20) == bytes(1 << 20)


def build(out, name):
    if name == "benign.tar":
        benign_tar(out, name, "w", ".")  # "./"-prefixed names, as `tar -C dir .` writes
    elif name == "benign.tgz":
        benign_tar(out, name, "w:gz", "")
    elif name == "benign.tar.bz2":
        benign_tar(out, name, "w:bz2", "")
    elif name == "benign.tar.xz":
        benign_tar(out, name, "w:xz", "")
    elif name == "benign.zip":
        benign_zip(out, name, zipfile.ZIP_DEFLATED)
    elif name == "benign_stored.zip":
        benign_zip(out, name, zipfile.ZIP_STORED)
    elif name == "truncated.tgz":
        benign_tar(out, "full.tgz", "w:gz", "")
        with open(os.path.join(out, "full.tgz"), "rb") as f:
            data = f.read()
        os.unlink(os.path.join(out, "full.tgz"))
        with open(os.path.join(out, name), "wb") as f:
            f.write(data[: len(data) * 6 // 10])
    elif name == "corrupt.zip":
        benign_zip(out, "good.zip", zipfile.ZIP_DEFLATED)
        with open(os.path.join(out, "good.zip"), "rb") as f:
            data = bytearray(f.read())
        os.unlink(os.path.join(out, "good.zip"))
        with zipfile.ZipFile(io.BytesIO(bytes(data))) as z:
            info = z.getinfo("images/img_002.bmp")
        at = info.header_offset + 30 + len(info.filename.encode()) + info.compress_size // 2
        for k in range(16):
            data[at + k] ^= 0xFF
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    elif name == "dotdot.tar":
        tar_with(out, name, [member("sub/../../x")])
    elif name == "dotdot.zip":
        zip_with(out, name, [(zipfile.ZipInfo("../x"), b"escaped\n")])
    elif name == "abs.tar":
        tar_with(out, name, [member(os.path.join(os.path.abspath(out), "escaped_abs"))])
    elif name == "symlink.tar":
        tar_with(out, name, [member("evil", kind=tarfile.SYMTYPE, link=os.path.abspath(out)),
                             member("evil/escaped_link")])
    elif name == "symlink.zip":
        link = zipfile.ZipInfo("evil")
        link.external_attr = 0o120777 << 16
        zip_with(out, name, [(link, b"../.."),
                             (zipfile.ZipInfo("evil/escaped_link"), b"escaped\n")])
    elif name == "hardlink.tar":
        tar_with(out, name, [member("hl", kind=tarfile.LNKTYPE, link="../../escaped_hard")])
    elif name == "device.tar":
        dev = member("null", kind=tarfile.CHRTYPE)
        dev[0].devmajor, dev[0].devminor = 1, 3
        tar_with(out, name, [dev])
    elif name == "duplicate.tar":
        tar_with(out, name, [member("ok.txt", b"overwritten\n")])
    elif name == "many.tar":
        tar_with(out, name, [member("many/%02d.txt" % i, b"%d\n" % i) for i in range(50)])
    elif name == "bomb.tar.gz":
        bomb_targz(out)
    elif name in ("bomb.zip", "liar.zip"):
        if not os.path.exists(os.path.join(out, name)):
            bomb_zips(out)
    else:
        sys.exit("make_archives.py: unknown archive %s" % name)


ALL = ["benign.tar", "benign.tgz", "benign.tar.bz2", "benign.tar.xz", "benign.zip",
       "benign_stored.zip", "truncated.tgz", "corrupt.zip", "dotdot.tar", "dotdot.zip", "abs.tar",
       "symlink.tar", "symlink.zip", "hardlink.tar", "device.tar", "duplicate.tar", "many.tar",
       "bomb.tar.gz", "bomb.zip", "liar.zip"]


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    write_tree(out)
    for name in sys.argv[2:] or ALL:
        build(out, name)


if __name__ == "__main__":
    main()
