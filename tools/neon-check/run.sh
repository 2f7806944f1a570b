#!/usr/bin/env bash
# Cross-compiles the native matmul kernels and ops for arm64 and checks the NEON path against
# the scalar one under user-mode qemu (see main.cc and ops-check.cc for what is checked). Three runs, which must
# produce bitwise the same outputs:
#   armv8-a build on a CPU with dotprod (qemu -cpu max):    SDOT found at run time
#   armv8-a build on a CPU without it (qemu -cpu cortex-a72): widening multiplies
#   armv8.2-a+dotprod build (qemu -cpu max):                SDOT by the compiler's intrinsic
#   clang -mcpu=apple-m1 build, when clang++ is installed:  the same, as macOS compiles it
# Then every addon source is compiled for arm64 and linked (nothing runs: no arm64 Node).
# Not part of `npm test`.
#
# Needs: aarch64-linux-gnu-g++ and qemu-aarch64 (Debian: g++-aarch64-linux-gnu, qemu-user
# or qemu-user-static). Skips (exit 0) with a message when either is missing.
set -euo pipefail
cd "$(dirname "$0")/../.."

CXX=${CXX_AARCH64:-aarch64-linux-gnu-g++}
QEMU=""
for q in qemu-aarch64 qemu-aarch64-static; do
  if command -v "$q" >/dev/null 2>&1; then QEMU=$q; break; fi
done
if ! command -v "$CXX" >/dev/null 2>&1 || [ -z "$QEMU" ]; then
  echo "neon-check: skipped: needs $CXX and qemu-aarch64 (apt-get install g++-aarch64-linux-gnu qemu-user-static)"
  exit 0
fi

OUT=${NEON_CHECK_OUT:-build/neon-check}
mkdir -p "$OUT"
# The kernels, the ops and what they link against; not the N-API glue or the runner.
SRC="native/cpu.cc native/common.cc native/matmul.cc native/thread-pool.cc native/dequant.cc
  native/quantize-act.cc native/quantize-act-neon.cc native/kernels-scalar.cc
  native/kernels-float.cc native/kernels-q32.cc native/kernels-q32-vnni.cc native/kernels-k.cc native/kernels-k-vnni.cc
  native/kernels-x16-avx512.cc native/kernels-x16-float-avx512.cc native/repack.cc native/file-pages.cc
  native/kernels-float-neon.cc native/kernels-q32-neon.cc native/kernels-k-neon.cc
  native/ops.cc native/ops-avx2.cc native/attend-avx2.cc native/ops-neon.cc native/attend-neon.cc
  tools/neon-check/main.cc tools/neon-check/ops-check.cc"
# The addon's flags (binding.gyp), static so qemu needs no arm64 sysroot.
FLAGS="-std=c++17 -O3 -fno-math-errno -ffp-contract=off -static -pthread -Wall -Wextra"

status=0
build() {
  echo "== build -march=$1"
  # shellcheck disable=SC2086
  "$CXX" $FLAGS -march="$1" -o "$OUT/neon-check-$2" $SRC
}
run() {
  echo "== run $1 on qemu -cpu $2"
  "$QEMU" -cpu "$2" "$OUT/neon-check-$1" --dump "$OUT/$1-$2.out" || status=1
}
build armv8-a v80
build armv8.2-a+dotprod v82dot
run v80 max
run v80 cortex-a72
run v82dot max
others="v80-cortex-a72 v82dot-max"
# With clang, also Apple silicon's feature set (-mcpu=apple-m1: SDOT by the intrinsic, as a
# macOS arm64 build compiles it), still linked for Linux so qemu runs it.
if command -v clang++ >/dev/null 2>&1; then
  echo "== build clang++ -mcpu=apple-m1"
  # shellcheck disable=SC2086
  clang++ --target=aarch64-linux-gnu -mcpu=apple-m1 $FLAGS -o "$OUT/neon-check-clang" $SRC
  run clang max
  others="$others clang-max"
fi
for other in $others; do
  if cmp -s "$OUT/v80-max.out" "$OUT/$other.out"; then
    echo "== outputs of v80-max and $other: bitwise identical"
  else
    echo "FAIL outputs of v80-max and $other differ"
    status=1
  fi
done

# The whole addon for arm64: every native/*.cc compiles with the addon's flags and links into
# a shared object that leaves only N-API (and libc/libstdc++) symbols to the loader.
NODE_INC="$(dirname "$(dirname "$(command -v node)")")/include/node"
if [ -f "$NODE_INC/node_api.h" ]; then
  echo "== addon for arm64: compile native/*.cc, link"
  NAPI_INC=$(node -p "require('node-addon-api').include_dir")
  mkdir -p "$OUT/addon"
  rm -f "$OUT"/addon/*.o
  for f in native/*.cc; do
    "$CXX" -std=c++17 -O3 -fno-math-errno -ffp-contract=off -fPIC -Wall -Wextra -DNAPI_VERSION=8 \
      -DNODE_ADDON_API_DISABLE_CPP_EXCEPTIONS -I"$NODE_INC" -I"$NAPI_INC" -c "$f" -o "$OUT/addon/$(basename "$f" .cc).o" || status=1
  done
  if "$CXX" -shared -pthread "$OUT"/addon/*.o -o "$OUT/addon/radixlm_native.node"; then
    missing=$("${CXX%g++}nm" -C -u "$OUT/addon/radixlm_native.node" | grep -v "@" | grep -v -E " (napi_|node_api_|_ITM_|__gmon_start__)" || true)
    if [ -n "$missing" ]; then
      echo "FAIL the arm64 addon leaves symbols undefined:"
      echo "$missing"
      status=1
    else
      echo "== addon for arm64: builds; only N-API symbols left to the loader"
    fi
  else
    status=1
  fi
else
  echo "== addon for arm64: skipped (no node headers at $NODE_INC)"
fi
exit $status
