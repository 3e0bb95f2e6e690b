#!/usr/bin/env bash
# Provision the lab VM. Idempotent: a second run changes nothing and says so.
#
#   provision.sh STAGE_DIR
#
# STAGE_DIR (uploaded by Vagrant or the lab driver) holds:
#   runtime/mini_container/       the runtime package, installed to /opt/mini-container
#   rootfs/<arch>-<label>.tar     root filesystems, unpacked under /srv/minilab/rootfs/<arch>-<label>
#   rootfs/<arch>-<label>.key     (optional) the tarball's content key: a guest that has unpacked that
#                                 key skips it (the lab driver then uploads no tarball at all)
# Packages (python3, qemu-user-static) are installed only when missing: the offline box has them.
set -euo pipefail

STAGE="${1:-/tmp/minilab-stage}"
PREFIX=/opt/mini-container
ROOTFS_DIR=/srv/minilab/rootfs
changes=()

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
if [ "$(id -u)" != 0 ]; then exec sudo bash "$0" "$@"; fi

# 1. packages -------------------------------------------------------------------------------
missing=()
command -v python3 >/dev/null || missing+=(python3)
command -v newuidmap >/dev/null || missing+=(uidmap)
[ -e /usr/lib/binfmt.d/qemu-aarch64.conf ] || [ -e /usr/bin/qemu-aarch64-static ] || missing+=(qemu-user-static)
if ((${#missing[@]})); then
  DEBIAN_FRONTEND=noninteractive apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
  changes+=("installed ${missing[*]}")
fi

# 2. arm64 through binfmt, with the F flag (the container's rootfs has no qemu in it) -----------
if [ "$(uname -m)" = x86_64 ]; then
  [ -e /proc/sys/fs/binfmt_misc/register ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  entry=/proc/sys/fs/binfmt_misc/qemu-aarch64
  if ! { [ -e "$entry" ] && head -1 "$entry" | grep -qx enabled && grep -q '^flags:.*F' "$entry"; }; then
    [ -e "$entry" ] && echo -1 > "$entry"
    line=$(cat /usr/lib/binfmt.d/qemu-aarch64.conf 2>/dev/null || true)
    if [ -z "$line" ]; then
      line=':qemu-aarch64:M::\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/usr/bin/qemu-aarch64-static:'
    fi
    case "${line##*:}" in *F*) ;; *) line="${line}F" ;; esac
    printf '%s' "$line" > /proc/sys/fs/binfmt_misc/register
    changes+=("registered qemu-aarch64 with flags ${line##*:}")
  fi
fi

# 2b. the rootless user (uid 1000: vagrant) gets subordinate ids, as useradd gives a new user -----
user=$(getent passwd 1000 | cut -d: -f1 || true)
if [ -n "$user" ] && ! grep -q "^$user:" /etc/subuid 2>/dev/null; then
  touch /etc/subuid /etc/subgid
  usermod --add-subuids 100000-165535 --add-subgids 100000-165535 "$user"
  changes+=("gave $user the subordinate ids 100000-165535")
fi
# its systemd user manager (user@1000.service, delegated) runs even without a login: lingering
if [ -n "$user" ] && command -v loginctl >/dev/null && [ ! -e "/var/lib/systemd/linger/$user" ]; then
  loginctl enable-linger "$user"
  changes+=("enabled lingering for $user (a delegated user@ cgroup for rootless limits)")
fi

# 2b'. root logs in with the login user's key: the lab driver's commands then skip sudo, which costs
# 0.2 s a command in a software-emulated guest (the VM is reached on 127.0.0.1 only)
keys="$(getent passwd 1000 | cut -d: -f6)/.ssh/authorized_keys"
if [ -n "$user" ] && [ -s "$keys" ] && ! cmp -s "$keys" /root/.ssh/authorized_keys; then
  install -d -m 700 /root/.ssh
  install -m 600 "$keys" /root/.ssh/authorized_keys
  changes+=("root accepts $user's ssh key")
fi

# 2c. swap, so that the scenarios can show it does not extend a container's limit --------------
if ! grep -q '^/swapfile ' /proc/swaps; then
  if [ ! -e /swapfile ]; then
    dd if=/dev/zero of=/swapfile bs=1M count=256 status=none && chmod 600 /swapfile && mkswap -q /swapfile
  fi
  swapon /swapfile
  changes+=("enabled a 256 MiB swap file")
fi

# 3. the runtime ----------------------------------------------------------------------------
if [ -d "$STAGE/runtime/mini_container" ]; then
  if ! diff -qr --exclude=__pycache__ "$STAGE/runtime/mini_container" "$PREFIX/mini_container" >/dev/null 2>&1; then
    rm -rf "$PREFIX.new" && mkdir -p "$PREFIX.new"
    cp -r "$STAGE/runtime/mini_container" "$PREFIX.new/"
    rm -rf "$PREFIX" && mv "$PREFIX.new" "$PREFIX"
    changes+=("installed the runtime in $PREFIX")
  fi
fi
# -I -S: the runtime needs nothing but the standard library, and must not pick up the caller's paths
wrapper='#!/bin/sh
# mini-container, installed by the lab (lab/provision.sh)
exec python3 -I -S -c "import sys; sys.path.insert(0, \"/opt/mini-container\"); from mini_container.main import run_and_exit; run_and_exit()" "$@"'
if [ "$(cat /usr/local/bin/mini-container 2>/dev/null)" != "$wrapper" ]; then
  printf '%s\n' "$wrapper" > /usr/local/bin/mini-container
  chmod 755 /usr/local/bin/mini-container
  changes+=("installed /usr/local/bin/mini-container")
fi

# 4. the root filesystems -------------------------------------------------------------------
mkdir -p "$ROOTFS_DIR"
for staged in "$STAGE"/rootfs/*.tar "$STAGE"/rootfs/*.key; do
  [ -e "$staged" ] || continue
  name=$(basename "${staged%.*}")
  tarball="$STAGE/rootfs/$name.tar"
  if [ "${staged##*.}" = tar ] && [ -e "$STAGE/rootfs/$name.key" ]; then continue; fi  # handled by its key
  if [ -e "$STAGE/rootfs/$name.key" ]; then
    sum=$(cat "$STAGE/rootfs/$name.key")
  else
    sum=$(sha256sum "$tarball" | cut -d' ' -f1)
  fi
  if [ "$(cat "$ROOTFS_DIR/.$name.key" 2>/dev/null)" != "$sum" ]; then
    [ -e "$tarball" ] || { echo "provision: $name: the guest lacks content $sum and no tarball was staged" >&2; exit 1; }
    rm -rf "$ROOTFS_DIR/.$name.new" && mkdir "$ROOTFS_DIR/.$name.new"
    tar -xf "$tarball" --numeric-owner -C "$ROOTFS_DIR/.$name.new"
    rm -rf "${ROOTFS_DIR:?}/$name" && mv "$ROOTFS_DIR/.$name.new" "$ROOTFS_DIR/$name"
    echo "$sum" > "$ROOTFS_DIR/.$name.key"
    changes+=("unpacked $name")
  fi
done

# 5. a motd with a ready-to-paste example ---------------------------------------------------
first=$(find "$ROOTFS_DIR" -mindepth 1 -maxdepth 1 -type d ! -name '.*' | sort | head -1)
motd="mini-container lab VM ($(uname -m), cgroup $( [ -e /sys/fs/cgroup/cgroup.controllers ] && echo v2 || echo v1))

Root filesystems in $ROOTFS_DIR:
$(find "$ROOTFS_DIR" -mindepth 1 -maxdepth 1 -type d ! -name '.*' -printf '  %p\n' | sort)

Try:
  sudo mini-container /bin/sh ${first:-$ROOTFS_DIR/<name>}
  sudo mini-container -m 16 /bin/sh ${first:-$ROOTFS_DIR/<name>} -- -c 'x=a; while :; do x=\$x\$x; done'
  mini-container /bin/sh ${first:-$ROOTFS_DIR/<name>} -- -c 'id; cat /proc/self/uid_map'     (rootless)
  systemd-run --user --scope -p Delegate=yes mini-container -m 16 /bin/sh ${first:-$ROOTFS_DIR/<name>}
  mini-container --help
"
printf '%s\n' "$motd" > /etc/motd.minilab-new
if cmp -s /etc/motd.minilab-new /etc/motd; then
  rm /etc/motd.minilab-new
else
  mv /etc/motd.minilab-new /etc/motd
  changes+=("wrote /etc/motd")
fi

if ((${#changes[@]})); then
  printf 'provision: %s\n' "${changes[@]}"
else
  echo "provision: nothing to do, already provisioned"
fi
