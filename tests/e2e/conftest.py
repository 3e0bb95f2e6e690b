"""Scenario fixtures: a host (backend), the targets (arch x rootfs) it offers, and a runtime runner
that gives every test its own cgroup parent and checks that nothing is left behind afterwards.

MINILAB_TARGETS picks targets, e.g. "amd64:alpine,arm64:ubuntu" (default: this host's arch, alpine);
MINILAB_ROOTFS_SOURCE=auto|download|offline picks where root filesystems come from.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "lab"))

from minilab import builders, targets  # noqa: E402
from minilab.hosts import CommandResult, Host, LocalHost, SshHost  # noqa: E402
from minilab.matrix import Record, render, split_nodeid  # noqa: E402

OUT = Path(__file__).resolve().parents[2] / "out"


def _resolved() -> list[tuple[str, str, str]]:
    return targets.resolve()


def _ids() -> list[str]:
    return [f"{arch}-{targets.label_for(kind, arch, source)}" for arch, kind, source in _resolved()]


_RECORDS: list[Record] = []  # filled on the controller: xdist replays worker reports through logreport


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):  # the controller decides; workers inherit the env
        _resolved()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "target" in metafunc.fixturenames:
        metafunc.parametrize("target", _resolved(), indirect=True, ids=_ids())


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        parsed = split_nodeid(report.nodeid, _ids())
        if parsed:
            _RECORDS.append(Record(*parsed, report.outcome, report.duration))


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:  # noqa: ANN001
    if not _RECORDS:
        return
    legend = {}
    for (arch, kind, source), ident in zip(_resolved(), _ids(), strict=True):
        how = "real download, pinned sha256" if source == "download" else "offline build from Debian packages"
        emulated = " (qemu-user)" if arch != builders.host_arch() else ""
        legend[ident] = f"{kind} requested for {arch}; {how}{emulated}"
    text = render(_RECORDS, _ids(), legend)
    OUT.mkdir(exist_ok=True)
    where = os.environ.get("MINILAB_MATRIX_TITLE") or _backend_title()
    (OUT / "matrix.md").write_text(f"# e2e matrix ({where})\n\n{text}")
    terminalreporter.write_sep("=", "scenario matrix (also in out/matrix.md)")
    terminalreporter.write(text)


def _backend_title() -> str:
    if os.environ.get("MINILAB_BACKEND", "local") == "ssh":
        return f"ssh host {os.environ.get('MINILAB_SSH_ALIAS', 'minilab')}"
    return f"{LocalHost.name} host"


@pytest.fixture(scope="session")
def host() -> Host:
    """MINILAB_BACKEND=local (default) or ssh (MINILAB_SSH_CONFIG file, MINILAB_SSH_ALIAS host)."""
    backend = os.environ.get("MINILAB_BACKEND", "local")
    if backend == "ssh":
        config = Path(os.environ["MINILAB_SSH_CONFIG"]).read_text()
        remote = SshHost.from_ssh_config(config, os.environ.get("MINILAB_SSH_ALIAS", "minilab"))
        yield remote
        remote.close()
        return
    if backend != "local":
        pytest.fail(f"MINILAB_BACKEND={backend!r}: expected local or ssh")
    if os.geteuid() != 0:
        pytest.skip("e2e scenarios need root and the real kernel")
    yield LocalHost()


@pytest.fixture(scope="session")
def _targets_built() -> dict[tuple[str, str, str], targets.Target]:
    return {}


@pytest.fixture
def target(request: pytest.FixtureRequest, host: Host, _targets_built: dict) -> targets.Target:
    key = request.param
    if key not in _targets_built:
        arch, kind, source = key
        if isinstance(host, LocalHost):
            built = targets.materialize(kind, arch, source)
        else:  # the lab driver staged and provisioned it on that host already
            label = targets.label_for(kind, arch, source)
            built = targets.Target(arch, kind, label, source, "")
        _targets_built[key] = dataclasses.replace(built, rootfs=host.rootfs_path(built.id, built.rootfs))
    return _targets_built[key]


class Runtime:
    """Runs mini-container on a host for one test, under a cgroup parent of its own."""

    def __init__(self, host: Host, target: targets.Target, tmp: str) -> None:
        self.host = host
        self.target = target
        self.parent = f"mc-test-{uuid.uuid4().hex[:12]}"
        self.tmp = tmp

    def run(self, args: list[str], timeout: float = 120) -> CommandResult:
        """Exactly these arguments, plus our cgroup parent."""
        return self.host.mini_container(["--cgroup-parent", self.parent, *args], timeout=timeout)

    def sh(self, script: str, *options: str, timeout: float = 120) -> CommandResult:
        return self.run([*options, "/bin/sh", self.target.rootfs, "--", "-c", script], timeout=timeout)

    def report(self, script: str, *options: str) -> tuple[CommandResult, dict]:
        path = f"{self.tmp}/report-{uuid.uuid4().hex[:8]}.json"
        result = self.sh(script, "--report", path, *options)
        return result, json.loads(self.host.run(["cat", path]).stdout)


@pytest.fixture
def mc(host: Host, target: targets.Target) -> Runtime:
    scratch = host.mkdtemp()  # on the host under test: volumes and reports live there
    runtime = Runtime(host, target, scratch)
    mounts_before = host.mounts_under(target.rootfs)
    yield runtime
    host.run(["rm", "-rf", scratch])
    leftovers = host.cgroup_leftovers(runtime.parent)
    host.remove_cgroup_parent(runtime.parent)
    assert leftovers == [], f"cgroups left behind: {leftovers}"
    assert host.mounts_under(target.rootfs) == mounts_before, "mounts left on the host"
    # "[m]c-test-…": over ssh the check runs inside `sudo sh -c …`, whose own command line must not match
    strays = host.run(["pgrep", "-f", f"[{runtime.parent[0]}]{runtime.parent[1:]}"])
    assert strays.stdout.strip() == "", f"processes left behind: {strays.stdout}"
