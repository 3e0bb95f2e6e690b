#!/usr/bin/env bash
# One command that sets up and runs a container: builds a small busybox root filesystem from
# Debian's busybox-static (cached) and runs a shell in it with a memory and a pids limit.
#   sudo bash scripts/demo.sh                 # interactive /bin/sh
#   sudo bash scripts/demo.sh -c 'id; ps'     # arguments go to the shell
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
  echo "scripts/demo.sh: run as root (try: sudo bash scripts/demo.sh)" >&2
  exit 125
fi
bash scripts/setup.sh >/dev/null
rootfs=$(PYTHONPATH=lab python3 -c 'from minilab.builders import busybox_rootfs; print(busybox_rootfs())')
echo "demo: rootfs $rootfs" >&2
echo "demo: mini-container -m 64 --nproc 32 --hostname demo /bin/sh $rootfs -- $*" >&2
PYTHONPATH=runtime exec python3 -m mini_container -m 64 --nproc 32 --hostname demo /bin/sh "$rootfs" -- "$@"
