#!/bin/bash
# Builds biqa on the GPU machine and runs the GPU suite and the benchmarks
# there (issue #7; DEVELOPERS.md, "The GPU suite"). The machine has the
# CUDA toolkit, PyTorch with CUDA (cuDNN, cuBLAS, NCCL as Python wheels
# under site-packages/nvidia) and a compiler, but no package registry: the
# Debian libraries come carried, as build-debs/prefix.tar.xz from
# tools/gpu/pack-debs.sh.
#
#   tools/gpu/run.sh [env] [build] [test] [ref] [bench] [cmd] [all]   (default: all)
#
#   env    what the machine has (GPU, driver, nvcc, compiler, PyTorch)
#   build  unpack the prefix, build biqa, the test runner and the helpers
#          into build-gpu/ for sm_90 (every step below builds first; make is
#          incremental, so a warm machine rebuilds nothing)
#   test   the GPU unit suites: every op against the ref backend at fp32,
#          tf32 and bf16, ResNets and training against the cpu backend,
#          QPT pretraining, graph replay (suites cuda_vs_ref, cuda_model,
#          cuda_skip)
#   ref    the reference scripts against PyTorch on the GPU (suite
#          cuda_reference: tests/ref/resnet_cuda_vs_torch.py, and
#          tests/ref/resnet_vs_torch.py with --backend cuda)
#   bench  biqa bench train-step --backend cuda (ResNet-50, 224 px, batch
#          256, bf16, against PyTorch eager and torch.compile, plus the QPT
#          step), recorded in $OUT/bench.db
#   cmd    runs $BIQA_GPU_CMD in the same environment (for debugging: e.g.
#          BIQA_GPU_CMD='CUDA_LAUNCH_BLOCKING=1 compute-sanitizer
#          --target-processes all build-gpu/tests/biqa-tests --jobs 1
#          --filter cuda_vs_ref/bn_train'), output in cmd.log
#
# Everything lands in $OUT (the device tool's folder; build-gpu/out when
# unset), at most 8 files, none nested: summary.txt (what each step gave,
# also printed last), env.txt, build.log, tests.log, ref.log, bench.log,
# bench.db, cmd.log. Each step appends to its log and goes on after a failure; the
# exit status is non-zero when any step failed.
#
# Environment knobs: BIQA_GPU_ARCH (default sm_90), BIQA_GPU_JOBS (make
# -j, default every core), BIQA_TEST_JOBS (Criterion --jobs for the GPU
# tests, default 4), BIQA_BENCH_ARGS (extra options of bench train-step,
# e.g. "--steps 5 --warmup 2").
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
OUT=${OUT:-$ROOT/build-gpu/out}
BUILD=build-gpu
PREFIX=/tmp/biqa-prefix
ARCH=${BIQA_GPU_ARCH:-sm_90}
JOBS=${BIQA_GPU_JOBS:-$(nproc)}
TEST_JOBS=${BIQA_TEST_JOBS:-4}
mkdir -p "$OUT"
SUMMARY="$OUT/summary.txt"
FAILED=0

say() { echo "run.sh: $*" | tee -a "$SUMMARY"; }
fail() { say "FAILED: $*"; FAILED=1; }

# ---- what the machine has ----

step_env() {
    {
        echo "== $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
        uname -a
        head -2 /etc/os-release 2>/dev/null
        nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm \
            --format=csv 2>&1
        "${NVCC:-nvcc}" --version 2>&1 | tail -2
        gcc --version 2>&1 | head -1
        make --version 2>&1 | head -1 || true
        command -v pkg-config || echo "no pkg-config: the carried pkgconf is used"
        python3 -c 'import torch, torchvision; print("torch", torch.__version__, "CUDA",
            torch.version.cuda, "cuDNN", torch.backends.cudnn.version(), "torchvision",
            torchvision.__version__, torch.cuda.get_device_name())' 2>&1
    } >> "$OUT/env.txt"
    say "env: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>&1 | head -1)" \
        "(env.txt has the rest)"
}

# ---- the toolchain: carried Debian libraries, NVIDIA's wheels ----

find_one() { find -H "$@" 2>/dev/null | sort | head -1; }

setup() {
    [ -n "${SETUP_DONE:-}" ] && return 0
    if [ ! -f "$PREFIX/.unpacked" ]; then
        if [ ! -f build-debs/prefix.tar.xz ]; then
            fail "build-debs/prefix.tar.xz missing: make it here with tools/gpu/pack-debs.sh" \
                 "and carry build-debs"
            return 1
        fi
        rm -rf "$PREFIX" && mkdir -p "$PREFIX" && tar -xJf build-debs/prefix.tar.xz -C "$PREFIX" &&
            touch "$PREFIX/.unpacked" || { fail "unpacking the prefix"; return 1; }
    fi
    PY=$(command -v python3)
    NVCC=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
    [ -x "$NVCC" ] || { fail "no nvcc"; return 1; }
    CUDA_HOME=$(dirname "$(dirname "$(readlink -f "$NVCC")")")
    local site
    site=$("$PY" -c 'import os, torch; print(os.path.dirname(os.path.dirname(torch.__file__)))' \
        2> /dev/null) || site=/nonexistent
    # cuDNN and NCCL come with PyTorch's wheels; cuBLAS from the toolkit
    # when it has one (it matches nvcc), else from the wheels too.
    local cudnn_so nccl_so cublas_so cudnn_h
    cudnn_so=$(find_one "$site/nvidia" "$CUDA_HOME/lib64" -name 'libcudnn.so.9')
    cudnn_h=$(find_one "$site/nvidia" "$CUDA_HOME/include" -name 'cudnn.h')
    nccl_so=$(find_one "$site/nvidia" "$CUDA_HOME/lib64" -name 'libnccl.so.2')
    cublas_so=$(find_one "$CUDA_HOME/lib64" "$CUDA_HOME/targets" -name 'libcublas.so.1[0-9]*')
    [ -n "$cublas_so" ] || cublas_so=$(find_one "$site/nvidia" -name 'libcublas.so.1[0-9]*')
    if [ -z "$cudnn_so" ] || [ -z "$cudnn_h" ] || [ -z "$cublas_so" ]; then
        fail "cuDNN (lib: ${cudnn_so:-none}, header: ${cudnn_h:-none}) or cuBLAS" \
             "(${cublas_so:-none}) not found under $site/nvidia or $CUDA_HOME"
        return 1
    fi
    # -lcudnn, -lnccl, -lcublas, -lcublasLt need unversioned names.
    local link="$PREFIX/nvidia-link"
    mkdir -p "$link"
    ln -sfn "$cudnn_so" "$link/libcudnn.so"
    [ -n "$nccl_so" ] && ln -sfn "$nccl_so" "$link/libnccl.so"
    local cublas_dir
    cublas_dir=$(dirname "$cublas_so")
    for lib in cublas cublasLt; do
        [ -e "$CUDA_HOME/lib64/lib$lib.so" ] ||
            ln -sfn "$(find_one "$cublas_dir" -name "lib$lib.so.1[0-9]*")" "$link/lib$lib.so"
    done
    if [ -z "$nccl_so" ]; then
        # Nothing of NCCL is called (one GPU); the link line names it.
        say "no libnccl.so.2 found: linking against an empty stand-in"
        echo 'void biqa_nccl_stand_in(void) {}' > "$link/nccl.c"
        gcc -shared -fPIC -Wl,-soname,libnccl.so.2 -o "$link/libnccl.so" "$link/nccl.c"
    fi
    local debian="$PREFIX/usr/lib/x86_64-linux-gnu"
    local libdirs="$debian:$PREFIX/lib/x86_64-linux-gnu:$debian/openblas-pthread"
    NVDIRS="$(dirname "$cudnn_so"):$cublas_dir${nccl_so:+:$(dirname "$nccl_so")}:$link"
    export CPATH="$PREFIX/usr/include:$PREFIX/usr/include/x86_64-linux-gnu:$(dirname "$cudnn_h")"
    export LIBRARY_PATH="$link:$libdirs:$NVDIRS"
    export PKG_CONFIG_PATH="" PKG_CONFIG_SYSROOT_DIR="$PREFIX"
    # openblas.pc sits in OpenBLAS's own directory (Debian links it into
    # pkgconfig/ through update-alternatives, which unpacking does not run).
    PKG_CONFIG_LIBDIR="$debian/pkgconfig:$debian/openblas-pthread/pkgconfig"
    export PKG_CONFIG_LIBDIR="$PKG_CONFIG_LIBDIR:$PREFIX/usr/share/pkgconfig"
    # The carried libraries reach biqa's binaries only, through their
    # RPATH (inherited by their dependencies, unlike RUNPATH); the
    # machine's own programs, python3 among them, keep theirs. NVIDIA's
    # wheel directories go on LD_LIBRARY_PATH as well: cuDNN loads its
    # sub-libraries by name, and PyTorch uses the same ones.
    local paths="$libdirs:$NVDIRS"
    export CFLAGS="-O2 -g -Wl,--disable-new-dtags -Wl,-rpath,$paths -Wl,-rpath-link,$paths"
    export LD_LIBRARY_PATH="$NVDIRS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    MAKE=$(command -v make || echo "$PREFIX/usr/bin/make")
    if ! command -v pkg-config > /dev/null; then
        mkdir -p "$PREFIX/bin"
        printf '#!/bin/sh\nLD_LIBRARY_PATH=%s exec %s "$@"\n' "$debian" \
            "$PREFIX/usr/bin/pkgconf" > "$PREFIX/bin/pkg-config"
        chmod +x "$PREFIX/bin/pkg-config"
        export PATH="$PREFIX/bin:$PATH"
    fi
    # The Makefile's PKGS, so that this check follows it.
    local pkgs
    pkgs=$("$MAKE" -s --no-print-directory --eval 'print-pkgs: ; @echo $(PKGS)' print-pkgs)
    if ! pkg-config --exists $pkgs; then
        pkg-config --print-errors --exists $pkgs 2>&1 | tee -a "$OUT/build.log"
        fail "pkg-config cannot resolve the carried libraries"
        return 1
    fi
    export BIQA="$ROOT/$BUILD/biqa" BIQA_HELPERS="$ROOT/$BUILD/tests/helpers"
    export BIQA_PYTHON="$PY" BIQA_SRC="$ROOT"
    SETUP_DONE=1
}

step_build() {
    setup || return 1
    local helpers
    helpers=$(ls tests/helpers/*.c | sed "s|tests/helpers/\(.*\)\.c|$BUILD/tests/helpers/\1|")
    local t0=$SECONDS
    if "$MAKE" BUILD="$BUILD" GPU=1 NVCC="$NVCC -arch=$ARCH" CUDA_HOME="$CUDA_HOME" -j"$JOBS" \
        "$BUILD/biqa" "$BUILD/tests/biqa-tests" $helpers >> "$OUT/build.log" 2>&1; then
        say "build: ok in $((SECONDS - t0)) s ($ARCH, $BUILD)"
    else
        tail -30 "$OUT/build.log"
        fail "build (see build.log)"
        return 1
    fi
}

# Runs the test runner on one filter; its synthesis and skip lines go to
# the summary, its whole output to the log.
run_suite() {
    local log=$1 filter=$2 t0=$SECONDS part
    part=$(mktemp)
    "$BUILD/tests/biqa-tests" --verbose --jobs "$TEST_JOBS" --filter "$filter" > "$part" 2>&1
    local rc=$?
    { echo "== $filter (status $rc)"; cat "$part"; } >> "$log"
    local synth skips
    synth=$(grep -a 'Synthesis' "$part" | tail -1)
    skips=$(grep -a '^\[====\] Skipped' "$part" | tail -1)
    say "$filter: ${synth#*Synthesis: }${skips:+ / ${skips#*\] }} ($((SECONDS - t0)) s)"
    local found='\[FAIL\]|max normalised error|rel err|max abs diff|checks passed|failed|(ok  |FAIL) '
    grep -a -E "$found" "$part" | sed 's/^\[----\] //' | tail -80 >> "$SUMMARY"
    rm -f "$part"
    [ $rc -eq 0 ] || fail "$filter (see $(basename "$log"))"
}

step_test() {
    step_build || return 1
    for suite in cuda_skip cuda_vs_ref cuda_model; do
        run_suite "$OUT/tests.log" "$suite/*"
    done
}

step_ref() {
    step_build || return 1
    run_suite "$OUT/ref.log" "cuda_reference/*"
}

step_bench() {
    step_build || return 1
    local db=/tmp/biqa-bench.db t0=$SECONDS
    rm -f "$db" "$db-wal" "$db-shm"
    # shellcheck disable=SC2086
    if "$BIQA" --db "$db" --backend cuda bench train-step ${BIQA_BENCH_ARGS:-} \
        >> "$OUT/bench.log" 2>&1; then
        say "bench: ok in $((SECONDS - t0)) s"
        sed -n '/^bench train-step/,$p' "$OUT/bench.log" | tail -12 | tee -a "$SUMMARY"
        grep -a 'bench train-step:' "$OUT/bench.log" | tail -8 >> "$SUMMARY"
    else
        tail -20 "$OUT/bench.log"
        fail "bench (see bench.log)"
    fi
    [ -f "$db" ] && cp "$db" "$OUT/bench.db"
}

step_cmd() {
    step_build || return 1
    if [ -z "${BIQA_GPU_CMD:-}" ]; then
        fail "cmd: set BIQA_GPU_CMD to the command to run"
        return 1
    fi
    echo "== $BIQA_GPU_CMD" >> "$OUT/cmd.log"
    bash -c "$BIQA_GPU_CMD" >> "$OUT/cmd.log" 2>&1
    local rc=$?
    tail -40 "$OUT/cmd.log"
    say "cmd: status $rc: $BIQA_GPU_CMD"
    [ $rc -eq 0 ] || fail "cmd (see cmd.log)"
}

steps=${*:-all}
[ "$steps" = all ] && steps="env test ref bench"
for s in $steps; do
    case $s in
    env | build | test | ref | bench | cmd) "step_$s" ;;
    *) fail "unknown step '$s' (env, build, test, ref, bench, cmd, all)" ;;
    esac
done
echo "==== summary ($OUT/summary.txt)"
cat "$SUMMARY"
exit $FAILED
