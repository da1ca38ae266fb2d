#!/bin/bash
# Packs the Debian libraries biqa builds and links against into one
# prefix for the GPU machine, which has the CUDA toolkit and PyTorch but no
# package registry (DEVELOPERS.md, "The GPU suite"). Run it HERE, on the
# Debian machine, from the repository root, as root or with apt access:
#
#   tools/gpu/pack-debs.sh            # -> build-debs/prefix.tar.xz (git-ignored)
#
# What it does: takes the -dev packages of the Makefile's DEBS (libraries,
# Criterion, pkgconf, make), follows their Depends (first alternative of
# each) with apt's local package lists, drops what every machine that can
# run nvcc has and must keep its own of (glibc, the GCC runtime: libgomp,
# libstdc++, libgcc-s; zlib) and what a build does not need (compilers,
# Fortran, Perl, Python, docs, fonts), `apt-get download`s the rest, unpacks
# them into one tree, removes static libraries, documentation and Open MPI's
# plugins, turns absolute symlinks into relative ones (the tree moves), and
# writes build-debs/prefix.tar.xz plus build-debs/packages.txt (name and
# version of every package in it). tools/gpu/run.sh unpacks it there.
#
# The carry limit of the device tool is 64 MiB for the whole working tree
# plus carried paths; the script fails if the archive leaves less than
# 8 MiB for the tree.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUTDIR="$ROOT/build-debs"
LIMIT=$((56 * 1024 * 1024))
WORK=$(mktemp -d /tmp/biqa-pack.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

# The Makefile's -dev packages (so that this follows DEBS), make and pkgconf.
ROOTS="$(make -s --no-print-directory -C "$ROOT" --eval 'print-debs: ; @echo $(DEBS)' print-debs |
         tr ' ' '\n' | grep -- '-dev$' | tr '\n' ' ') make pkgconf"
# Never carried: the machine's own C library and compiler runtime (a copy
# older than its compiler's would shadow symbols the compiler needs), and
# whatever only a package manager, a compiler or a person reads.
KEEP_OUT_NAMES=(libc6 libc6-dev libc-dev-bin linux-libc-dev libcrypt1 libcrypt-dev libgcc-s1
          'libgcc-[0-9]+-dev' 'libstdc\+\+6' 'libstdc\+\+-[0-9]+-dev' libgomp1 zlib1g
          'gcc(-[0-9]+)?(-base)?' 'g\+\+(-[0-9]+)?' 'cpp(-[0-9]+)?' 'binutils.*' libbinutils
          'gfortran(-[0-9]+)?' 'libgfortran-[0-9]+-dev' 'perl.*' 'libperl.*' 'python3.*'
          'libpython3.*' 'fonts-.*' automake autoconf autotools-dev libtool m4 openssh-client
          passwd debconf dpkg sensible-utils 'libglib2\.0-data' 'libglib2\.0-bin'
          'libglib2\.0-dev-bin')
KEEP_OUT="^($(IFS='|'; echo "${KEEP_OUT_NAMES[*]}"))\$"

echo "pack-debs: resolving the dependencies of the build's packages"
apt-cache dumpavail > "$WORK/avail"
python3 - "$WORK/avail" "$KEEP_OUT" $ROOTS > "$WORK/packages" <<'PY'
import re, sys
avail, keep_out, roots = sys.argv[1], re.compile(sys.argv[2]), sys.argv[3:]
recs, provides, cur = {}, {}, {}
def flush():
    if "Package" in cur:
        recs.setdefault(cur["Package"], dict(cur))
        for pv in cur.get("Provides", "").split(","):
            pv = pv.strip().split(" ")[0]
            if pv:
                provides.setdefault(pv, cur["Package"])
for line in open(avail, errors="replace"):
    if line == "\n":
        flush(); cur = {}
    elif line[0] not in " \t":
        k, _, v = line.partition(":"); cur[k] = v.strip()
flush()
seen, stack = set(), list(roots)
while stack:
    p = stack.pop()
    p = p if p in recs else provides.get(p, p)
    if p in seen or p not in recs or keep_out.match(p):
        continue
    seen.add(p)
    for field in ("Pre-Depends", "Depends"):
        for alt in recs[p].get(field, "").split(","):
            name = alt.split("|")[0].strip().split(" ")[0].split(":")[0]
            if name:
                stack.append(name)
missing = [r for r in roots if r not in seen]
if missing:
    sys.exit("pack-debs: not in apt's lists (run apt-get update): " + " ".join(missing))
print("\n".join(sorted(seen)))
PY
echo "pack-debs: $(wc -l < "$WORK/packages") packages; downloading"
mkdir -p "$WORK/debs" "$WORK/prefix"
(cd "$WORK/debs" && apt-get download -q $(cat "$WORK/packages") > "$WORK/download.log" 2>&1) ||
    { cat "$WORK/download.log"; exit 1; }
for deb in "$WORK"/debs/*.deb; do
    dpkg-deb -x "$deb" "$WORK/prefix"
    dpkg-deb -W --showformat='${Package} ${Version}\n' "$deb" >> "$WORK/versions"
done

echo "pack-debs: pruning"
P="$WORK/prefix"
find "$P" -name '*.a' -delete
mv "$P/usr/share/pkgconfig" "$WORK/share-pkgconfig" 2>/dev/null || mkdir "$WORK/share-pkgconfig"
rm -rf "$P/usr/share" "$P/usr/lib/x86_64-linux-gnu/openmpi/lib/openmpi3" \
       "$P/usr/lib/x86_64-linux-gnu/pmix2/lib/pmix" "$P/usr/lib/x86_64-linux-gnu/fortran"
mkdir -p "$P/usr/share" && mv "$WORK/share-pkgconfig" "$P/usr/share/pkgconfig"
# Absolute links (e.g. pkgconfig/ompi-c.pc -> /usr/...) point into the
# machine the tree lands on; make them relative to the tree.
find "$P" -type l -lname '/*' | while read -r link; do
    target=$(readlink "$link")
    ln -sfn "$(realpath -m --relative-to="$(dirname "$link")" "$P$target")" "$link"
done

# A library with DT_RUNPATH (Open MPI's point at /usr/lib/.../openmpi/lib)
# has its own dependencies looked up there and in system directories,
# never through the RPATH of the program that loads it. Retagging the
# entry as DT_RPATH keeps its path and lets the loader go on to biqa's
# RPATH, which names this tree once unpacked (tools/gpu/run.sh). The
# ELF64 dynamic section is rewritten in place, nothing else changes.
python3 - "$P" <<'PY'
import os, struct, sys
DT_RPATH, DT_RUNPATH, PT_DYNAMIC = 15, 29, 2
changed = 0
for top, _, files in os.walk(sys.argv[1]):
    for name in files:
        path = os.path.join(top, name)
        if os.path.islink(path) or ".so" not in name:
            continue
        with open(path, "r+b") as f:
            head = f.read(64)
            if head[:4] != b"\x7fELF" or head[4] != 2 or head[5] != 1:
                continue
            phoff, = struct.unpack_from("<Q", head, 32)
            phentsize, phnum = struct.unpack_from("<HH", head, 54)
            for i in range(phnum):
                f.seek(phoff + i * phentsize)
                ph = f.read(phentsize)
                if struct.unpack_from("<I", ph, 0)[0] != PT_DYNAMIC:
                    continue
                off, = struct.unpack_from("<Q", ph, 8)
                size, = struct.unpack_from("<Q", ph, 32)
                for at in range(off, off + size, 16):
                    f.seek(at)
                    tag, = struct.unpack("<q", f.read(8))
                    if tag == 0:
                        break
                    if tag == DT_RUNPATH:
                        f.seek(at)
                        f.write(struct.pack("<q", DT_RPATH))
                        changed += 1
print(f"pack-debs: {changed} DT_RUNPATH entries made DT_RPATH")
PY

mkdir -p "$OUTDIR"
echo "pack-debs: compressing (xz -9, a few minutes)"
tar -C "$P" -cf - . | xz -9 -T0 > "$OUTDIR/prefix.tar.xz.tmp"
mv "$OUTDIR/prefix.tar.xz.tmp" "$OUTDIR/prefix.tar.xz"
sort "$WORK/versions" > "$OUTDIR/packages.txt"
size=$(stat -c %s "$OUTDIR/prefix.tar.xz")
echo "pack-debs: $OUTDIR/prefix.tar.xz: $((size / 1048576)) MiB, $(wc -l < "$OUTDIR/packages.txt") packages"
if [ "$size" -gt "$LIMIT" ]; then
    echo "pack-debs: error: over $((LIMIT / 1048576)) MiB: with the working tree it would not fit the" \
         "device tool's 64 MiB carry" >&2
    exit 1
fi
