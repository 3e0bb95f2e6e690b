#!/usr/bin/env bash
# Install what mini-container and its tests need on a Debian/Ubuntu machine (idempotent, as root).
# Prints the path of a Python venv that has nox in it.
set -euo pipefail

PACKAGES=(busybox-static gcc libc6-dev python3 python3-venv util-linux procps)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  apt-get update -q >&2
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
