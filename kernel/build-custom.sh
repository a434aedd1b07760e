#!/usr/bin/env bash
# Builds a custom kernel from Debian's linux-source with KeelOS's options merged in (not run in CI).
#   kernel/build-custom.sh [OUTPUT_DIR]
# Needs: apt-get install linux-source build-essential bc bison flex libssl-dev libelf-dev
# The result is checked with kernel/src/check.ts before it is used; point the image build at it to
# boot it.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/../.keelos/kernel}"
mkdir -p "$out"
tarball=$(ls /usr/src/linux-source-*.tar.xz | sort -V | tail -1)
tar -C "$out" -xf "$tarball"
src=$(ls -d "$out"/linux-source-* | sort -V | tail -1)
cd "$src"
cp "/boot/config-$(uname -r)" .config 2>/dev/null || make defconfig
scripts/kconfig/merge_config.sh -m .config "$here/keelos.config"
make olddefconfig
node "$here/src/check.ts" .config
make -j"$(nproc)" bzImage modules
echo "kernel: $src/arch/x86/boot/bzImage"
