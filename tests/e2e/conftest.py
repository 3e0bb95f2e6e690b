"""Scenario fixtures: the hosts under test (backends), the targets (arch x rootfs) each offers, and a
runtime runner that gives every test its own cgroup parent and checks that nothing is left behind.

MINILAB_BACKEND=local (this machine, the default) or ssh: MINILAB_SSH_HOSTS names the hosts (aliases
in the MINILAB_SSH_CONFIG file; the lab driver writes both for its guests; MINILAB_SSH_USER=root logs
in as root instead of the config's user, which then needs sudo). Every test runs on every
host, once per target: the columns are `<host>-<arch>-<label>[-rootless]`, and on several hosts each
test goes to an xdist group of its host (`--dist loadgroup`), so a worker keeps to one host.

MINILAB_TARGETS picks targets, e.g. "amd64:alpine,arm64:ubuntu" (default: this host's arch, alpine);
MINILAB_ROOTFS_SOURCE=auto|download|offline picks where root filesystems come from.

Modules marked `rootless` run once more per target as an ordinary user (uid 1000 of the host under
test): the `-rootless` columns. What such a user may have (a cgroup subtree delegated to them,
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

from minilab import binfmt, builders, targets  # noqa: E402
from minilab.hosts import CommandResult, Host, LocalHost, Process, SshHost  # noqa: E402
from minilab.matrix import Column, Record, render, render_html, split_nodeid  # noqa: E402

OUT = Path(__file__).resolve().parents[2] / "out"
MACHINE = {arch: machine for machine, arch in builders.DEBIAN_ARCH.items()}  # uname -m of a native host
WORKERS_PER_HOST = int(os.environ.get("MINILAB_WORKERS_PER_HOST", "2"))


def _resolved() -> list[tuple[str, str, str]]:
    return targets.resolve()


def _backend() -> str:
    backend = os.environ.get("MINILAB_BACKEND", "local")
    if backend not in ("local", "ssh"):
        raise pytest.UsageError(f"MINILAB_BACKEND={backend!r}: expected local or ssh")
    return backend


def _host_names() -> list[str]:
    if _backend() == "local":
        return [LocalHost.name]
    names = os.environ.get("MINILAB_SSH_HOSTS") or os.environ.get("MINILAB_SSH_ALIAS", "minilab")
    return [n.strip() for n in names.split(",") if n.strip()]


def _target_ids() -> list[str]:
    return [f"{arch}-{targets.label_for(kind, arch, source)}" for arch, kind, source in _resolved()]


def _columns() -> list[str]:
    per_host = [*_target_ids(), *(f"{i}-rootless" for i in _target_ids())]
    return [f"{h}-{c}" for h in _host_names() for c in per_host]


_RECORDS: list[Record] = []  # filled on the controller: xdist replays worker reports through logreport
_BINFMT_BEFORE: dict[tuple[str, str], dict[str, str]] = {}  # controller: entries changed for this run
_FACTS: dict[str, dict[str, str]] = {}  # controller: each host's cgroup version, kernel, distribution


def _can_touch_host() -> bool:
    return _backend() == "ssh" or os.geteuid() == 0


def _make_host(name: str) -> Host:
    if _backend() == "local":
        return LocalHost()
    config = Path(os.environ["MINILAB_SSH_CONFIG"]).read_text()
    return SshHost.from_ssh_config(config, name, label=name, user=os.environ.get("MINILAB_SSH_USER") or None)


def _close(host: Host) -> None:
    if isinstance(host, SshHost):
        host.close()


FACTS_SCRIPT = '. /etc/os-release; echo "$PRETTY_NAME"; uname -r; uname -m'


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):  # the controller decides; workers inherit the env
        return
    _resolved()
    if not _can_touch_host():
        return
    for name in _host_names():
        host = _make_host(name)
        try:
            distro, kernel, machine = (host.run(["sh", "-c", FACTS_SCRIPT]).stdout.splitlines() + ["?"] * 3)[:3]
            _FACTS[name] = {"cgroup": host.cgroup_version(), "kernel": kernel, "distro": distro, "machine": machine}
            # The no_new_privs test needs setuid to work for emulated binaries too: the C flag, on the
            # host under test, for this run only (F stays: the rootfs has no qemu in it).
            for arch in {arch for arch, _, _ in _resolved() if host.emulates(arch)}:
                if isinstance(host, LocalHost):  # a lab guest was provisioned with it; here, once, before the workers
                    binfmt.ensure(arch)
                before = binfmt.set_flags(host, binfmt.NAMES[arch], "FC")
                if before is not None:
                    _BINFMT_BEFORE[(name, arch)] = before
        finally:
            _close(host)


def pytest_unconfigure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        return
    for (name, arch), before in list(_BINFMT_BEFORE.items()):
        host = _make_host(name)
        try:
            binfmt.restore(host, binfmt.NAMES[arch], before)
            del _BINFMT_BEFORE[(name, arch)]
        finally:
            _close(host)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "target" in metafunc.fixturenames:
        marker = metafunc.definition.get_closest_marker("rootless")
        users: list[int | None] = [None, ROOTLESS_UID] if marker else [None]
        if marker and marker.kwargs.get("only", False):
            users = [ROOTLESS_UID]
        params = []
        for host_name in _host_names():
            for user in users:
                for i, (spec, ident) in enumerate(zip(_resolved(), _target_ids(), strict=True)):
                    suffix = "-rootless" if user is not None else ""
                    group = pytest.mark.xdist_group(f"{host_name}-{i % WORKERS_PER_HOST}")
                    params.append(pytest.param((host_name, *spec, user), id=f"{host_name}-{ident}{suffix}",
                                               marks=group))  # fmt: skip
        metafunc.parametrize("target", params, indirect=True)
    if "each_host" in metafunc.fixturenames:  # a test of the host itself, once per host
        metafunc.parametrize("each_host", _host_names(), indirect=True,
                             ids=_host_names())  # fmt: skip


def pytest_collection_finish(session: pytest.Session) -> None:
    """Under --dist loadgroup a worker must see its group in each node id (`...@<host>-<slot>`):
    pytest 9.2 silently stopped that (pytest-xdist#1386), and a host's root and rootless columns then
    ran at once on the same rootfs. Fail loudly rather than run ungrouped."""
    config = session.config
    if not hasattr(config, "workerinput") or not config.getvalue("loadgroup"):
        return
    ungrouped = [i.nodeid for i in session.items if i.get_closest_marker("xdist_group") and "@" not in i.nodeid]
    if ungrouped:
        message = (
            f"--dist loadgroup ignores xdist_group with pytest {pytest.__version__} (pytest-xdist#1386): "
            f"{ungrouped[0]} has no group; install pytest<9.2"
        )
        print(f"minilab: {message}", file=sys.__stderr__, flush=True)  # a worker's exception alone is not shown
        raise pytest.UsageError(message)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # a teardown that fails (something left behind) turns the cell into an error: the last word wins
    if report.when == "call" or report.failed or (report.when == "setup" and report.skipped):
        parsed = split_nodeid(report.nodeid, _columns())
        if parsed:
            outcome = "error" if report.when == "teardown" else report.outcome
            reason = report.longrepr[2] if report.skipped and isinstance(report.longrepr, tuple) else ""
            text = report.longreprtext if report.failed else ""
            _RECORDS.append(Record(*parsed, outcome, report.duration, reason, text, report.start, report.stop))


def _column_info() -> list[Column]:
    """Every column of the run, with what it is: the host's facts and the target's provenance."""
    columns = []
    for host_name in _host_names():
        facts = _FACTS.get(host_name, {})
        about = f"{facts.get('distro', '?')}, Linux {facts.get('kernel', '?')}, {facts.get('machine', '?')}"
        for (arch, kind, source), ident in zip(_resolved(), _target_ids(), strict=True):
            how = "real download, pinned sha256" if source == "download" else "offline build from Debian packages"
            emulated = " through qemu-user" if facts.get("machine") != MACHINE.get(arch) else ""
            for suffix, who in (("", "as root"), ("-rootless", f"as uid {ROOTLESS_UID} (rootless)")):
                what = f"{host_name} ({about}): {kind} requested for {arch}; {how}{emulated}; {who}"
                columns.append(Column(f"{host_name}-{ident}{suffix}", host_name, facts.get("cgroup", "?"),
                                      ident + suffix, what))  # fmt: skip
    return columns


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:  # noqa: ANN001
    if not _RECORDS:
        return
    columns = [c for c in _column_info() if any(r.target == c.key for r in _RECORDS)]
    title = os.environ.get("MINILAB_MATRIX_TITLE") or _backend_title()
    times = json.loads(os.environ.get("MINILAB_HOST_TIMES", "{}"))  # the lab driver's boot/provision times
    text = render(_RECORDS, columns, times)
    OUT.mkdir(exist_ok=True)
    (OUT / "matrix.md").write_text(f"# e2e matrix ({title})\n\n{text}")
    (OUT / "matrix.html").write_text(render_html(_RECORDS, columns, f"e2e matrix ({title})", times))
    terminalreporter.write_sep("=", "scenario matrix (also in out/matrix.md and out/matrix.html)")
    terminalreporter.write(text)


def _backend_title() -> str:
    if _backend() == "ssh":
        return f"ssh hosts {', '.join(_host_names())}"
    return f"{LocalHost.name} host"


@pytest.fixture(scope="session")
def _hosts() -> dict[str, Host]:
    """This worker's connection to each host it tests, made on first use."""
    if not _can_touch_host():
        pytest.skip("e2e scenarios need root and the real kernel")
    made: dict[str, Host] = {}
    yield made
    for h in made.values():
        h.end_session()
        _close(h)


def _get_host(hosts: dict[str, Host], name: str) -> Host:
    if name not in hosts:
        hosts[name] = _make_host(name)
    return hosts[name]


@pytest.fixture
def host(request: pytest.FixtureRequest, _hosts: dict[str, Host]) -> Host:
    """The host the current test runs on: the first element of its target (or each_host) parameter."""
    params = getattr(request.node, "callspec", None)
    params = params.params if params else {}
    if "target" in params:
        name = params["target"][0]
    elif "each_host" in params:
        name = params["each_host"]
    else:
        name = _host_names()[0]
    return _get_host(_hosts, name)


@pytest.fixture
def each_host(request: pytest.FixtureRequest, _hosts: dict[str, Host]) -> Host:
    return _get_host(_hosts, request.param)


@pytest.fixture(scope="session")
def _targets_built() -> dict[tuple[str, ...], targets.Target]:
    return {}


@pytest.fixture(scope="session")
def _user_views(_hosts: dict[str, Host]) -> dict[tuple[str, str], str]:
    """Per worker: binds of target root filesystems where an ordinary user can reach them."""
    views: dict[tuple[str, str], str] = {}
    yield views
    for (host_name, _), view in views.items():
        _hosts[host_name].run(["sh", "-c", f"umount {view} && rmdir {view}"])


@pytest.fixture
def target(request: pytest.FixtureRequest, host: Host, _targets_built: dict, _user_views: dict) -> targets.Target:
    host_name, *key, user = request.param
    key = (host_name, *key)
    if key not in _targets_built:
        _, arch, kind, source = key
        if isinstance(host, LocalHost):
            built = targets.materialize(kind, arch, source)
        else:  # the lab driver staged and provisioned it on that host already
            label = targets.label_for(kind, arch, source)
            built = targets.Target(arch, kind, label, source, "")
        _targets_built[key] = dataclasses.replace(built, rootfs=host.rootfs_path(built.id, built.rootfs))
    built = _targets_built[key]
    if user is None:
        return built
    if (host_name, built.id) not in _user_views:
        # The cache (root's home) is out of an ordinary user's reach: the same tree, bound under
        # /tmp. It stays root's, as a rootfs root unpacked: inside, its files belong to nobody.
        view = f"/tmp/minilab-rootless-{os.getpid()}-{built.id}"
        bound = host.run(["sh", "-c", f"mkdir -p {view} && mount --bind {built.rootfs} {view}"])
        assert bound.rc == 0, bound
        _user_views[(host_name, built.id)] = view
    return dataclasses.replace(built, rootfs=_user_views[(host_name, built.id)], user=user)


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
