"""Scenario fixtures: a host (backend), the targets (arch x rootfs) it offers, and a runtime runner
that gives every test its own cgroup parent and checks that nothing is left behind afterwards."""

from __future__ import annotations

import json
import os
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "lab"))

from minilab import builders  # noqa: E402
from minilab.hosts import CommandResult, Host, LocalHost  # noqa: E402


@dataclass(frozen=True)
class Target:
    arch: str
    kind: str
    rootfs: str

    @property
    def emulated(self) -> bool:
        return self.arch != builders.host_arch()


def _target_specs() -> list[str]:
    return os.environ.get("MINILAB_TARGETS", f"{builders.host_arch()}:busybox").split(",")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "target" in metafunc.fixturenames:
        specs = _target_specs()
        metafunc.parametrize("target", specs, indirect=True, ids=[s.replace(":", "-") for s in specs])


@pytest.fixture(scope="session")
def host() -> Host:
    if os.geteuid() != 0:
        pytest.skip("e2e scenarios need root and the real kernel")
    return LocalHost()


@pytest.fixture(scope="session")
def _rootfs_cache() -> dict[str, Target]:
    return {}


@pytest.fixture
def target(request: pytest.FixtureRequest, host: Host, _rootfs_cache: dict[str, Target]) -> Target:
    spec: str = request.param
    if spec not in _rootfs_cache:
        arch, _, kind = spec.partition(":")
        if kind != "busybox":
            pytest.fail(f"unknown rootfs kind {kind!r} in MINILAB_TARGETS")
        _rootfs_cache[spec] = Target(arch, kind, str(builders.busybox_rootfs(arch)))
    return _rootfs_cache[spec]


class Runtime:
    """Runs mini-container on a host for one test, under a cgroup parent of its own."""

    def __init__(self, host: Host, target: Target, tmp: str) -> None:
        self.host = host
        self.target = target
        self.parent = f"mc-test-{uuid.uuid4().hex[:12]}"
        self.tmp = tmp

    def run(self, args: list[str], timeout: float = 60) -> CommandResult:
        """Exactly these arguments, plus our cgroup parent."""
        return self.host.mini_container(["--cgroup-parent", self.parent, *args], timeout=timeout)

    def sh(self, script: str, *options: str, timeout: float = 60) -> CommandResult:
        return self.run([*options, "/bin/sh", self.target.rootfs, "--", "-c", script], timeout=timeout)

    def report(self, script: str, *options: str) -> tuple[CommandResult, dict]:
        path = f"{self.tmp}/report-{uuid.uuid4().hex[:8]}.json"
        result = self.sh(script, "--report", path, *options)
        return result, json.loads(self.host.run(["cat", path]).stdout)


@pytest.fixture
def mc(host: Host, target: Target, tmp_path: Path) -> Runtime:
    runtime = Runtime(host, target, str(tmp_path))
    mounts_before = host.mounts_under(target.rootfs)
    yield runtime
    leftovers = host.cgroup_leftovers(runtime.parent)
    host.remove_cgroup_parent(runtime.parent)
    assert leftovers == [], f"cgroups left behind: {leftovers}"
    assert host.mounts_under(target.rootfs) == mounts_before, "mounts left on the host"
    strays = host.run(["pgrep", "-f", runtime.parent])
    assert strays.stdout.strip() == "", f"processes left behind: {strays.stdout}"
