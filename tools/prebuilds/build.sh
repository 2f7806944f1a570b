#!/usr/bin/env bash
# Builds the native addon's prebuilt binaries, which the package ships so that installing it
# needs no compiler: prebuilds/linux-x64/ and prebuilds/linux-arm64/ (node-gyp-build's layout;
# N-API, so one binary serves every Node version from 20, and each picks its SIMD kernels at
# run time: one x64 binary serves AVX2 and AVX-512 machines). arm64 is cross-compiled with
# Debian's aarch64 toolchain. Both link against glibc (built on Debian 12: glibc 2.36 or
# newer); elsewhere the install compiles from source.
#
# prebuilds/SOURCES records the sha256 of what they were built from (binding.gyp and
# native/); a test fails when the sources change and the prebuilds were not rebuilt.
#
# Needs: g++, make, python3; g++-aarch64-linux-gnu. Run: npm run prebuilds
# Then: tools/prebuilds/check-arm64.sh loads the arm64 one under qemu.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD

for tool in g++ aarch64-linux-gnu-g++ aarch64-linux-gnu-strip; do
  command -v "$tool" >/dev/null || { echo "prebuilds: $tool is missing (apt-get install g++ g++-aarch64-linux-gnu)" >&2; exit 1; }
done
gyp=${npm_config_node_gyp:-$(dirname "$(readlink -f "$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js}

# A copy of the sources, so that the checkout's own build/ is left alone.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp binding.gyp "$work/"
cp -r native "$work/native"
# binding.gyp asks node for node-addon-api's headers
export NODE_PATH=$root/node_modules

build() {
  local arch=$1 strip=$2
  shift 2
  (cd "$work" && rm -rf build && env "$@" node "$gyp" rebuild --arch="$arch" -j 2 >"$work/log-$arch" 2>&1) || { cat "$work/log-$arch" >&2; exit 1; }
  mkdir -p "prebuilds/linux-$arch"
  "$strip" --strip-unneeded -o "prebuilds/linux-$arch/radixlm.napi.glibc.node" "$work/build/Release/radixlm_native.node"
  echo "prebuilds: linux-$arch: $(stat -c %s "prebuilds/linux-$arch/radixlm.napi.glibc.node") bytes"
}

rm -rf prebuilds
build x64 strip
build arm64 aarch64-linux-gnu-strip CC=aarch64-linux-gnu-gcc CXX=aarch64-linux-gnu-g++ LINK=aarch64-linux-gnu-g++ AR=aarch64-linux-gnu-ar
node tools/prebuilds/sources.mjs > prebuilds/SOURCES
echo "prebuilds: sources $(cat prebuilds/SOURCES)"
