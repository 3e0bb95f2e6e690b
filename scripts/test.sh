#!/usr/bin/env bash
# One command that sets up and runs the tests: lint, unit tests (Python 3.10 and newest), and the
# end-to-end scenarios on this machine's real kernel. Needs root. Extra arguments go to nox.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
  echo "scripts/test.sh: run as root (the e2e scenarios create namespaces, mounts and cgroups)" >&2
  exit 125
fi
venv=$(bash scripts/setup.sh)
exec "$venv/bin/nox" "$@"
