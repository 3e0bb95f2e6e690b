#!/usr/bin/env bash
# One command that sets up and runs a container: gets a root filesystem through the lab (real Alpine
# when reachable, else an alpine-like build from Debian packages; cached) and runs a shell in it with
# a memory and a pids limit.
#   sudo bash scripts/demo.sh                              # interactive /bin/sh
#   sudo bash scripts/demo.sh -c 'cat /etc/os-release'     # arguments go to the shell
#   sudo DEMO_ARCH=arm64 DEMO_KIND=ubuntu bash scripts/demo.sh -c 'uname -m'   # arm64 via qemu-user
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
  echo "scripts/demo.sh: run as root (try: sudo bash scripts/demo.sh)" >&2
  exit 125
fi
bash scripts/setup.sh >/dev/null
rootfs=$(PYTHONPATH=lab python3 -c '
import os, sys
from minilab import builders, targets
t = targets.materialize(os.environ.get("DEMO_KIND", "alpine"), os.environ.get("DEMO_ARCH", builders.host_arch()))
print(f"demo: {t.arch} {t.label} ({t.source}) at {t.rootfs}", file=sys.stderr)
print(t.rootfs)')
echo "demo: mini-container -m 64 --nproc 32 --hostname demo /bin/sh $rootfs -- $*" >&2
PYTHONPATH=runtime exec python3 -m mini_container -m 64 --nproc 32 --hostname demo /bin/sh "$rootfs" -- "$@"
