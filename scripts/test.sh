#!/usr/bin/env bash
# One command that sets up and runs the tests: lint, unit tests (every CPython >= 3.10 here), the
# end-to-end scenarios on this machine's real kernel, and the same scenarios in a Vagrant VM.
# Needs root. Extra arguments go to nox (`-s lint unit`).
#
# Before nox starts it prints which interpreter each session will use; afterwards it fails the run if
# any session was skipped or failed (nox itself exits 0 for a skip).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
  echo "scripts/test.sh: run as root (the e2e scenarios create namespaces, mounts and cgroups)" >&2
  exit 125
fi
venv=$(bash scripts/setup.sh "$@")
mkdir -p out
rm -f out/nox-report.json
"$venv/bin/nox" --list --json "$@" > out/nox-plan.json
PYTHONPATH=lab "$venv/bin/python" -m minilab.sessions plan out/nox-plan.json .nox/.interpreters
rc=0
"$venv/bin/nox" --error-on-missing-interpreters --download-python never --report out/nox-report.json "$@" || rc=$?
PYTHONPATH=lab "$venv/bin/python" -m minilab.sessions check out/nox-report.json || rc=${rc/#0/1}
exit "$rc"
