#!/usr/bin/env bash
# Install what the requested nox sessions need on Debian 12 or Ubuntu 22.04 / 24.04 (x86_64 or arm64),
# idempotent, as root. Arguments are nox's (`-s lint unit`); none = the default sessions.
# Prints the path of a Python venv with nox in it, made from the system's python3.
#
# What each session needs is decided in lab/minilab/hostsetup.py (unit-tested per distribution and
# arch); a foreign apt architecture is added later, only if an offline rootfs build needs one
# (lab/minilab/aptsources.py, which knows Ubuntu's ports archive and undoes itself on failure).
set -euo pipefail
cd "$(dirname "$0")/.."
NOX_VERSION=2026.10.20

apt_install() {
  if [ -z "${apt_updated:-}" ]; then
    apt-get update -q >&2
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >&2
}

# The planner is Python: python3 (with venv) comes first. Both are on a fresh Ubuntu; Debian may lack venv.
if ! command -v python3 >/dev/null || ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
  echo "setup: installing python3 python3-venv" >&2
  apt_install python3 python3-venv
fi
status=0
packages=$(PYTHONPATH=lab python3 -m minilab.hostsetup "$@") || status=$?
if [ "$status" != 0 ]; then
  exit "$status"  # the planner said why, in one line
fi
if [ -n "$packages" ]; then
  # shellcheck disable=SC2086  # a list of package names
  apt_install $packages
fi

# nox's venv, keyed by the interpreter it is made from (never one of another machine's or pyenv's)
key=$(python3 -I -c 'import hashlib, os, sys; print(hashlib.sha256(f"{os.path.realpath(sys.executable)} {sys.version} '"$NOX_VERSION"'".encode()).hexdigest()[:12])')
cache="${MINI_CONTAINER_CACHE:-$HOME/.cache/mini-container}"
venv="$cache/tools-venv-$key"
if [ ! -x "$venv/bin/nox" ]; then
  echo "setup: creating $venv with nox $NOX_VERSION ($(python3 -I -c 'import os, sys; print(os.path.realpath(sys.executable))'))" >&2
  rm -rf "$venv"
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install -q "nox==$NOX_VERSION" >&2
fi
echo "$venv"
