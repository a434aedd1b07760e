#!/usr/bin/env bash
# The Debian packages the tests use as independent checkers: grub-editenv (grub-common), the real
# GRUB script engine (grub-emu), mtools and mkfs.vfat for ESP images, unshare and script
# (util-linux), fincore (util-linux-extra), mkfs.ext4 (e2fsprogs); and for the image build and the VM tests: QEMU, mksquashfs,
# OVMF, GRUB's EFI modules, cpio, sgdisk, depmod, gcc with the static libc; iproute2 to read back what rtnetlink
# did; promtool (prometheus) to validate the metrics; the CNCF registry (docker-registry) and skopeo for the OCI client; bsdiff and bzip2 as the oracles of the delta code; dnsmasq as the DHCP server the DHCP client is tested against; genisoimage for ISO seeds as cloud-localds makes them. Installs only what is missing; needs root (or
# sudo) on Debian.
set -euo pipefail
packages=(grub-common grub-emu mtools dosfstools util-linux util-linux-extra e2fsprogs qemu-system-x86 qemu-utils ovmf grub-efi-amd64-bin squashfs-tools cpio gdisk kmod binutils gcc libc6-dev tar iproute2 prometheus docker-registry skopeo bsdiff bzip2 dnsmasq-base genisoimage)
missing=()
for p in "${packages[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p"); done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing Debian packages: ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
