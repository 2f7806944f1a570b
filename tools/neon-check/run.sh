#!/usr/bin/env bash
# Cross-compiles the native matmul kernels and ops for arm64 and checks the NEON path against
# the scalar one under user-mode qemu (see main.cc and ops-check.cc for what is checked). Three runs, which must
# produce bitwise the same outputs:
#   armv8-a build on a CPU with dotprod (qemu -cpu max):    SDOT found at run time
#   armv8-a build on a CPU without it (qemu -cpu cortex-a72): widening multiplies
#   armv8.2-a+dotprod build (qemu -cpu max):                SDOT by the compiler's intrinsic
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
  native/kernels-float.cc native/kernels-q32.cc native/kernels-k.cc
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
for other in v80-cortex-a72 v82dot-max; do
  if cmp -s "$OUT/v80-max.out" "$OUT/$other.out"; then
    echo "== outputs of v80-max and $other: bitwise identical"
  else
    echo "FAIL outputs of v80-max and $other differ"
    status=1
  fi
done
exit $status
