#!/usr/bin/env bash
# One CI job, by name: the same code for .ci/run and for every job of .github/workflows/nightly.yml.
#
#   scripts/ci-job.sh host     lint, unit and the host matrix (MINILAB_TARGETS narrows it)
#   scripts/ci-job.sh vm       the scenarios in a Vagrant VM (MINILAB_BOX, MINILAB_CGROUP, MINILAB_VM_TARGETS)
#   scripts/ci-job.sh all      everything scripts/test.sh runs by default, plus unit on a Python 3.10
#                              when the machine has one (what .ci/run runs)
#
# Runs scripts/test.sh as a fresh machine would: as root (through sudo, keeping exactly the variables
# listed below), PATH with the system directories only and an empty HOME, so no pyenv, no user venv and
# no earlier ~/.cache can make a run pass that would fail for a new user. Slow artefacts (boxes, root
# filesystems) stay cached outside the repository: MINI_CONTAINER_CACHE, by default the caller's
# ~/.cache/mini-container, keyed by content. A skipped session or a test id missing from the JUnit
# files fails the job (scripts/test.sh and minilab/junit.py).
set -euo pipefail
cd "$(dirname "$0")/.."
job="${1:-}"
case "$job" in host | vm | all) ;; *) echo "usage: scripts/ci-job.sh host|vm|all" >&2; exit 2 ;; esac

PASS_ENV=CI,MINI_CONTAINER_CACHE,MINILAB_TARGETS,MINILAB_ROOTFS_SOURCE,MINILAB_GUESTS,MINILAB_BOX,MINILAB_CGROUP,MINILAB_VM_TARGETS,MINILAB_DESTROY,MINILAB_NET,MINILAB_DRIVER,MINILAB_PROVIDER,MINILAB_CPUS,MINILAB_MEMORY,MINILAB_SSH_PORT,MINILAB_BOOT_TIMEOUT
export MINI_CONTAINER_CACHE="${MINI_CONTAINER_CACHE:-$HOME/.cache/mini-container}"
export CI="${CI:-true}"
if [ "$(id -u)" != 0 ]; then
  exec sudo --preserve-env="$PASS_ENV" bash "$0" "$@"
fi

SYSTEM_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
fresh_home=$(mktemp -d /tmp/ci-home.XXXXXX)
trap 'rm -rf "$fresh_home"' EXIT
clean() { env -u PYENV_ROOT -u PYENV_VERSION -u VIRTUAL_ENV -u PYTHONPATH -u PYTHONHOME PATH="$SYSTEM_PATH" HOME="$fresh_home" "$@"; }

started=$SECONDS
rc=0
case "$job" in
  host) clean bash scripts/test.sh -s lint unit e2e_local || rc=$? ;;
  vm) clean bash scripts/test.sh -s e2e || rc=$? ;;
  all)
    clean bash scripts/test.sh || rc=$?
    # Ubuntu 22.04's python3 is 3.10: keep the runtime's unit tests on it when this machine has one
    # (the caller's PATH or a pyenv), given to nox as the only extra interpreter.
    py310=""
    for candidate in $(type -ap python3.10) "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.10*/bin/python3.10; do
      if [ "$(head -c 4 "$candidate" 2>/dev/null | tail -c 3)" = ELF ]; then py310=$candidate; break; fi  # not a shim
    done
    if [ -n "$py310" ] && ! PATH="$SYSTEM_PATH" command -v python3.10 >/dev/null; then
      only310=$(mktemp -d /tmp/ci-py310.XXXXXX)
      ln -s "$py310" "$only310/python3.10"
      echo "ci-job: unit on $py310 as well (not on the system PATH)" >&2
      clean env PATH="$only310:$SYSTEM_PATH" bash scripts/test.sh -s unit-3.10 || rc=$?
      rm -rf "$only310"
    fi
    ;;
esac
echo "ci-job: $job finished with rc $rc in $((SECONDS - started))s" >&2
exit "$rc"
