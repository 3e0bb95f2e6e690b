"""Scenario fixtures: a host (backend), the targets (arch x rootfs) it offers, and a runtime runner
that gives every test its own cgroup parent and checks that nothing is left behind afterwards.

MINILAB_TARGETS picks targets, e.g. "amd64:alpine,arm64:ubuntu" (default: this host's arch, alpine);
MINILAB_ROOTFS_SOURCE=auto|download|offline picks where root filesystems come from.

Modules marked `rootless` run once more per target as an ordinary user (uid 1000 of the host under
test): the `<target>-rootless` columns. What such a user may have (a cgroup subtree delegated to them,
subordinate ids) is read from the host under test, and the tests expect the runtime's clear refusal
where the host gives none.
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

from minilab import binfmt, targets  # noqa: E402
from minilab.hosts import CommandResult, Host, LocalHost, Process, SshHost  # noqa: E402
from minilab.matrix import Record, render, split_nodeid  # noqa: E402

OUT = Path(__file__).resolve().parents[2] / "out"


def _resolved() -> list[tuple[str, str, str]]:
    return targets.resolve()


def _ids() -> list[str]:
    return [f"{arch}-{targets.label_for(kind, arch, source)}" for arch, kind, source in _resolved()]


def _columns() -> list[str]:
    return [*_ids(), *(f"{i}-rootless" for i in _ids())]


_RECORDS: list[Record] = []  # filled on the controller: xdist replays worker reports through logreport


_BINFMT_BEFORE: dict[str, dict[str, str]] = {}  # controller: entries changed for this run, to put back


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):  # the controller decides; workers inherit the env
        return
    _resolved()
    # The no_new_privs test needs setuid to work for emulated binaries too: the C flag, on the host
    # under test, for this run only (F stays: the rootfs has no qemu in it).
    if not _can_touch_host():
        return
    host = _make_host()
    try:
        for arch in {arch for arch, _, _ in _resolved() if host.emulates(arch)}:
            if isinstance(host, LocalHost):  # a lab guest was provisioned with it; here, once, before the workers
                binfmt.ensure(arch)
            before = binfmt.set_flags(host, binfmt.NAMES[arch], "FC")
            if before is not None:
                _BINFMT_BEFORE[arch] = before
    finally:
        _close(host)


def pytest_unconfigure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput") or not _BINFMT_BEFORE:
        return
    host = _make_host()
    try:
        for arch, before in _BINFMT_BEFORE.items():
            binfmt.restore(host, binfmt.NAMES[arch], before)
        _BINFMT_BEFORE.clear()
    finally:
        _close(host)


def _can_touch_host() -> bool:
    return os.environ.get("MINILAB_BACKEND", "local") == "ssh" or os.geteuid() == 0


def _make_host() -> Host:
    """MINILAB_BACKEND=local (default) or ssh (MINILAB_SSH_CONFIG file, MINILAB_SSH_ALIAS host)."""
    backend = os.environ.get("MINILAB_BACKEND", "local")
    if backend == "ssh":
        config = Path(os.environ["MINILAB_SSH_CONFIG"]).read_text()
        return SshHost.from_ssh_config(config, os.environ.get("MINILAB_SSH_ALIAS", "minilab"))
    if backend != "local":
        raise pytest.UsageError(f"MINILAB_BACKEND={backend!r}: expected local or ssh")
    return LocalHost()


def _close(host: Host) -> None:
    if isinstance(host, SshHost):
        host.close()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "target" in metafunc.fixturenames:
        params, ids = [(*t, None) for t in _resolved()], _ids()
        marker = metafunc.definition.get_closest_marker("rootless")
        if marker:
            as_user = [(*t, ROOTLESS_UID) for t in _resolved()], [f"{i}-rootless" for i in _ids()]
            only = marker.kwargs.get("only", False)
            params, ids = as_user if only else (params + as_user[0], ids + as_user[1])
        metafunc.parametrize("target", params, indirect=True, ids=ids)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # a teardown that fails (something left behind) turns the cell into an error: the last word wins
    if report.when == "call" or report.failed or (report.when == "setup" and report.skipped):
        parsed = split_nodeid(report.nodeid, _columns())
        if parsed:
            outcome = "error" if report.when == "teardown" else report.outcome
            reason = report.longrepr[2] if report.skipped and isinstance(report.longrepr, tuple) else ""
            _RECORDS.append(Record(*parsed, outcome, report.duration, reason))


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:  # noqa: ANN001
    if not _RECORDS:
        return
    legend = {}
    for (arch, kind, source), ident in zip(_resolved(), _ids(), strict=True):
        how = "real download, pinned sha256" if source == "download" else "offline build from Debian packages"
        emulated = f" (through qemu-user on a host that is not {arch})"
        legend[ident] = f"{kind} requested for {arch}; {how}{emulated}"
        legend[f"{ident}-rootless"] = f"the same, run as uid {ROOTLESS_UID} (rootless)"
    columns = [c for c in _columns() if any(r.target == c for r in _RECORDS)]
    text = render(_RECORDS, columns, legend)
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
    """The host under test (_make_host); one connection per worker."""
    if not _can_touch_host():
        pytest.skip("e2e scenarios need root and the real kernel")
    made = _make_host()
    yield made
    made.end_session()
    _close(made)


@pytest.fixture(scope="session")
def _targets_built() -> dict[tuple[str, str, str], targets.Target]:
    return {}


@pytest.fixture(scope="session")
def _user_views(host: Host) -> dict[str, str]:
    """Per worker: binds of target root filesystems where an ordinary user can reach them."""
    views: dict[str, str] = {}
    yield views
    for view in views.values():
        host.run(["sh", "-c", f"umount {view} && rmdir {view}"])


@pytest.fixture
def target(request: pytest.FixtureRequest, host: Host, _targets_built: dict, _user_views: dict) -> targets.Target:
    *key, user = request.param
    key = tuple(key)
    if key not in _targets_built:
        arch, kind, source = key
        if isinstance(host, LocalHost):
            built = targets.materialize(kind, arch, source)
        else:  # the lab driver staged and provisioned it on that host already
            label = targets.label_for(kind, arch, source)
            built = targets.Target(arch, kind, label, source, "")
        _targets_built[key] = dataclasses.replace(built, rootfs=host.rootfs_path(built.id, built.rootfs))
    built = _targets_built[key]
    if user is None:
        return built
    if built.id not in _user_views:
        # The cache (root's home) is out of an ordinary user's reach: the same tree, bound under
        # /tmp. It stays root's, as a rootfs root unpacked: inside, its files belong to nobody.
        view = f"/tmp/minilab-rootless-{os.getpid()}-{built.id}"
        bound = host.run(["sh", "-c", f"mkdir -p {view} && mount --bind {built.rootfs} {view}"])
        assert bound.rc == 0, bound
        _user_views[built.id] = view
    return dataclasses.replace(built, rootfs=_user_views[built.id], user=user)


ROOTLESS_UID = 1000


class Runtime:
    """Runs mini-container on a host for one test, under a cgroup parent of its own; as the
    target's ordinary user in the rootless columns."""

    def __init__(self, host: Host, target: targets.Target) -> None:
        self.host = host
        self.target = target
        self.parent = f"mc-test-{uuid.uuid4().hex[:12]}"
        self.spawned: list[Process] = []  # processes a test started: killed and reaped in teardown
        self.rootless = target.user is not None
        # read from the host under test, not assumed: what that user may have there
        self.mapping = host.user_mapping(target.user) if self.rootless else None
        # on cgroup v2 the lab hands the user a subtree, as systemd's Delegate=yes would, and
        # starts the runtime in it; cgroup v1 delegates nothing
        self.limits = not self.rootless or host.cgroup_version() == "v2"
        delegate_as = self.parent if self.rootless and self.limits else None
        # on the host under test: volumes and reports live in tmp
        self.tmp, self.mounts_before, self.cgroup = host.begin_test(target.rootfs, target.user, delegate_as)

    def run(self, args: list[str], timeout: float = 120) -> CommandResult:
        """Exactly these arguments, plus our cgroup parent."""
        args = ["--cgroup-parent", self.parent, *args]
        if self.rootless:
            return self.host.mini_container_as(self.target.user, args, self.cgroup, timeout=timeout)
        return self.host.mini_container(args, timeout=timeout)

    def start(self, script: str | None, *options: str, pty: tuple[int, int] | None = None,
              redirect: str = "") -> Process:  # fmt: skip
        """The runtime as a process of its own on the host under test (`Host.start`), running
        `/bin/sh -c script` in the target (an interactive /bin/sh when script is None), as this
        run's user in the rootless columns. `redirect`: shell redirections the runtime starts with
        (`7</dev/null`: an inherited fd; `>FILE`: stdout not a terminal). Its PID is the runtime's:
        every prefix execs."""
        argv = [*(self.as_user() if self.rootless else []), *self.host.runtime_command(),
                "--cgroup-parent", self.parent, *options, "/bin/sh", self.target.rootfs]  # fmt: skip
        if script is not None:
            argv += ["--", "-c", script]
        if redirect:
            argv = ["sh", "-c", f'exec "$@" {redirect}', "sh", *argv]
        process = self.host.start(argv, pty=pty)
        self.spawned.append(process)  # the mc fixture kills and reaps it, whatever the outcome
        return process

    def as_user(self) -> list[str]:
        """The prefix that starts a command as this run's rootless user (in its delegated cgroup)."""
        assert self.target.user is not None
        return self.host.as_user(self.target.user, self.cgroup)

    def refuses_limits(self, r: CommandResult) -> bool:
        """Rootless where the host delegates no cgroup: a run with -m or --nproc must end in 125 and
        one line that says why. → True then (the scenario's limit cannot be observed there)."""
        if self.limits:
            return False
        assert r.rc == 125 and r.stdout == "" and r.stderr.count("\n") == 1, r
        assert r.stderr.startswith(
            "mini-container: rootless: -m and --nproc need a cgroup v2 subtree delegated to you, but "
        ), r
        return True

    def refuses_user(self, r: CommandResult, uid: int) -> bool:
        """Rootless without subordinate ids: any uid but 0 must be refused in one line. → True then."""
        if self.mapping != "single" or uid == 0:
            return False
        assert r.rc == 125 and r.stderr.startswith(f"mini-container: rootless: uid {uid} is not mapped"), r
        return True

    def sh(self, script: str, *options: str, timeout: float = 120) -> CommandResult:
        return self.run([*options, "/bin/sh", self.target.rootfs, "--", "-c", script], timeout=timeout)

    def report(self, script: str, *options: str) -> tuple[CommandResult, dict]:
        path = f"{self.tmp}/report-{uuid.uuid4().hex[:8]}.json"
        result = self.sh(script, "--report", path, *options)
        return result, json.loads(self.host.run(["cat", path]).stdout)


@pytest.fixture
def mc(host: Host, target: targets.Target) -> Runtime:
    runtime = Runtime(host, target)
    yield runtime
    for process in runtime.spawned:  # a failed test must not leave its runtime (and container) running
        process.kill()
    state = host.end_test(runtime.tmp, runtime.parent, target.rootfs, runtime.cgroup)
    assert state.leftovers == [], f"cgroups left behind: {state.leftovers}"
    assert state.mounts == runtime.mounts_before, "mounts left on the host"
    assert state.strays == [], f"processes left behind: {state.strays}"
