"""The setup sequence, checked call by call through the recording fake kernel."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mini_container import cli, container
from mini_container.syscalls import (
    CLONE_NEWCGROUP,
    CLONE_NEWIPC,
    CLONE_NEWNET,
    CLONE_NEWNS,
    CLONE_NEWUTS,
    MNT_DETACH,
    MS_BIND,
    MS_PRIVATE,
    MS_RDONLY,
    MS_REC,
    MS_REMOUNT,
    PR_CAPBSET_DROP,
    PR_SET_KEEPCAPS,
    PR_SET_NO_NEW_PRIVS,
    PR_SET_PDEATHSIG,
)

from .fake_kernel import Exec, FakeChannel, FakeKernel


def run_setup(rootfs: Path, *options: str, fork_result: int = 0) -> tuple[FakeKernel, container.Plan]:
    plan = container.prepare(cli.parse(["/bin/sh", str(rootfs), *options]))
    k = FakeKernel(fork_result)
    with pytest.raises(Exec):
        container.setup_container(plan, k, FakeChannel(k))  # type: ignore[arg-type]
    return k, plan


def index(k: FakeKernel, *prefix: object) -> int:
    for i, call in enumerate(k.calls):
        if call[: len(prefix)] == prefix:
            return i
    raise AssertionError(f"{prefix} not called; calls: {k.names()}")


def test_sequence_order(rootfs: Path) -> None:
    k, plan = run_setup(rootfs)
    root = str(rootfs)
    steps = [
        index(k, "prctl", PR_SET_PDEATHSIG),
        index(k, "setsid"),
        index(k, "unshare", CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET),
        index(k, "mount", None, "/", None, MS_REC | MS_PRIVATE),
        index(k, "mount", root, root, None, MS_BIND | MS_REC),
        index(k, "mount", "proc", f"{root}/proc", "proc"),
        index(k, "mount", "tmpfs", f"{root}/dev", "tmpfs"),
        index(k, "mount", "sysfs", f"{root}/sys", "sysfs"),
        index(k, "chdir", root),
        index(k, "pivot_root", ".", "."),
        index(k, "umount2", ".", MNT_DETACH),
        index(k, "chdir", "/"),
        index(k, "set_link_up", "lo"),
        index(k, "sethostname", plan.hostname),
        index(k, "tell", "ready"),
        index(k, "wait_for_go"),
        index(k, "unshare", CLONE_NEWCGROUP),
        index(k, "prctl", PR_CAPBSET_DROP),
        index(k, "prctl", PR_SET_KEEPCAPS, 1),
        index(k, "setgroups", []),
        index(k, "setresgid", 0),
        index(k, "setresuid", 0),
        index(k, "capset"),
        index(k, "prctl", PR_SET_NO_NEW_PRIVS, 1),
        index(k, "runtime_alive"),
        index(k, "set_cloexec_from", 3),
        index(k, "reset_signals"),
        index(k, "execve", "/bin/sh", ["/bin/sh"]),
    ]
    assert steps == sorted(steps), k.names()
    assert k.calls[index(k, "runtime_alive") - 1][:2] == ("prctl", PR_SET_PDEATHSIG)  # re-armed after setuid
    assert "fork" not in k.names()  # PID 1 is the command itself: no Python left in the container
    assert "open_pty" not in k.names()  # no terminal on the caller's side: no pty


def test_a_terminal_gets_a_pty_of_the_containers_devpts(rootfs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(container.console, "wanted", lambda: True)
    k, _ = run_setup(rootfs)
    steps = [
        index(k, "setsid"),
        index(k, "pivot_root"),
        index(k, "open_pty"),  # after pivot_root: /dev/ptmx is the container's
        index(k, "set_controlling_tty", 41),
        index(k, "dup_onto_stdio", 41),
        index(k, "close", 41),
        index(k, "tell", "ready pty 40"),  # the runtime takes fd 40 with pidfd_getfd
        index(k, "set_cloexec_from", 3),  # and the master never reaches the command
        index(k, "execve"),
    ]
    assert steps == sorted(steps), k.names()


def test_dev_nodes_and_masks(rootfs: Path) -> None:
    k, _ = run_setup(rootfs)
    nodes = {(c[1].rsplit("/", 1)[1], c[2], c[3]) for c in k.calls if c[0] == "mknod"}
    assert nodes == {("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0)}
    links = {c[2].rsplit("/", 1)[1]: c[1] for c in k.calls if c[0] == "symlink"}
    assert links == {"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1",
                     "stderr": "/proc/self/fd/2", "ptmx": "pts/ptmx"}  # fmt: skip
    assert index(k, "mount", "devpts") < index(k, "mount", "shm")
    sys_mount = k.calls[index(k, "mount", "sysfs")]
    assert sys_mount[4] & MS_RDONLY


def test_masks_apply_to_what_exists(rootfs: Path) -> None:
    (rootfs / "proc/sys").mkdir()
    (rootfs / "proc/kcore").write_text("")
    (rootfs / "sys/firmware").mkdir()
    k, _ = run_setup(rootfs)
    root = str(rootfs)
    assert ("mount", "/dev/null", f"{root}/proc/kcore", None, MS_BIND, None) in k.calls
    assert ("mount", "tmpfs", f"{root}/sys/firmware", "tmpfs", MS_RDONLY, None) in k.calls
    bind = index(k, "mount", f"{root}/proc/sys", f"{root}/proc/sys", None, MS_BIND | MS_REC)
    remount = k.calls[bind + 1]
    assert remount[2] == f"{root}/proc/sys" and remount[4] & (MS_REMOUNT | MS_BIND | MS_RDONLY) == (
        MS_REMOUNT | MS_BIND | MS_RDONLY
    )
    assert bind < index(k, "pivot_root")


def test_user_capabilities_and_env(rootfs: Path) -> None:
    k, plan = run_setup(rootfs, "-u", "user", "--cap-drop", "ALL", "--cap-add", "NET_BIND_SERVICE", "-e", "X=1")
    assert index(k, "setresgid", 1000) < index(k, "setresuid", 1000) < index(k, "capset", 0x400, 0x400, 0x400)
    execve = k.calls[-1]
    assert execve[3]["HOME"] == "/home/user" and execve[3]["X"] == "1" and execve[3]["HOSTNAME"] == plan.hostname
    assert execve[3]["PATH"].startswith("/usr/local/sbin")


def test_host_network_keeps_the_namespace(rootfs: Path) -> None:
    k, _ = run_setup(rootfs, "--net", "host")
    assert ("unshare", CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC) in k.calls
    assert "set_link_up" not in k.names()


def test_workdir_and_volumes(rootfs: Path, tmp_path: Path) -> None:
    src = tmp_path / "data"
    src.mkdir()
    k, _ = run_setup(rootfs, "-w", "/work/dir", "-v", f"{src}:/mnt/data:ro", "--hostname", "box")
    root = str(rootfs)
    bind = index(k, "mount", str(src), f"{root}/mnt/data", None, MS_BIND | MS_REC)
    assert k.calls[bind + 1] == ("mount", None, f"{root}/mnt/data", None, MS_REMOUNT | MS_BIND | MS_RDONLY, None)
    assert bind < index(k, "pivot_root")
    assert ("mkdir", "/work") in k.calls and ("mkdir", "/work/dir") in k.calls
    assert index(k, "chdir", "/work/dir") < index(k, "setresuid")  # made as root, before the switch
    assert ("sethostname", "box") in k.calls


def test_requested_pid_forks_after_setting_ns_last_pid(rootfs: Path) -> None:
    k, _ = run_setup(rootfs, "-p", "42")
    opened = index(k, "open_write", "/proc/sys/kernel/ns_last_pid")
    assert opened < index(k, "unshare")  # the host's /proc is still visible
    write = index(k, "write_fd", "/proc/sys/kernel/ns_last_pid", "41")
    assert index(k, "unshare", CLONE_NEWCGROUP) < write < index(k, "fork") < index(k, "setresuid")


def test_runtime_gone_before_exec(rootfs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plan = container.prepare(cli.parse(["/bin/sh", str(rootfs)]))
    k = FakeKernel()
    exits: list[int] = []

    def fake_exit(code: int) -> None:
        exits.append(code)
        raise Exec("exit")

    monkeypatch.setattr(container.os, "_exit", fake_exit)
    with pytest.raises(Exec):
        container.setup_container(plan, k, FakeChannel(k, alive=False))  # type: ignore[arg-type]
    assert exits == [125] and "execve" not in k.names()


def run_rootless(rootfs: Path, *options: str, kind: str = "single") -> tuple[FakeKernel, container.Plan]:
    mapping = container.userns.Mapping(kind, ((0, 1000, 1), (1, 100000, 65536)), ((0, 1000, 1), (1, 100000, 65536)))
    if kind == "single":
        mapping = container.userns.Mapping(kind, ((0, 1000, 1),), ((0, 1000, 1),))
    plan = container.prepare(cli.parse(["/bin/sh", str(rootfs), *options]), mapping)
    k = FakeKernel()
    with pytest.raises(Exec):
        container.setup_container(plan, k, FakeChannel(k))  # type: ignore[arg-type]
    return k, plan


def test_rootless_binds_the_hosts_device_nodes_instead_of_mknod(rootfs: Path) -> None:
    k, _ = run_rootless(rootfs)
    root = str(rootfs)
    assert "mknod" not in k.names()
    binds = {c[1] for c in k.calls if c[0] == "mount" and c[2].startswith(f"{root}/dev/") and c[4] == MS_BIND}
    assert binds == {f"/dev/{n}" for n in ("null", "zero", "full", "random", "urandom", "tty")}
    assert index(k, "touch", f"{root}/dev/null") < index(k, "mount", "/dev/null", f"{root}/dev/null")
    assert index(k, "mount", "sysfs") < index(k, "pivot_root")  # its own network namespace: a fresh sysfs


def test_rootless_single_mapping_skips_setgroups_and_a_subid_one_keeps_it(rootfs: Path) -> None:
    k, _ = run_rootless(rootfs)
    assert "setgroups" not in k.names() and index(k, "setresgid", 0) < index(k, "setresuid", 0)
    k, _ = run_rootless(rootfs, "-u", "user", kind="subid")
    assert index(k, "setgroups", []) < index(k, "setresgid", 1000) < index(k, "setresuid", 1000)


def test_rootless_host_network_binds_sys_read_only(rootfs: Path) -> None:
    k, _ = run_rootless(rootfs, "--net", "host")
    root = str(rootfs)
    assert "sysfs" not in [c[3] for c in k.calls if c[0] == "mount"]
    bind = index(k, "mount", "/sys", f"{root}/sys", None, MS_BIND | MS_REC)
    remount = k.calls[bind + 1]
    assert remount[2] == f"{root}/sys" and remount[4] & (MS_REMOUNT | MS_BIND | MS_RDONLY) == (
        MS_REMOUNT | MS_BIND | MS_RDONLY
    )


def test_rootless_refuses_an_unmapped_user_before_anything_runs(rootfs: Path) -> None:
    with pytest.raises(container.ContainerError, match="uid 1000 is not mapped"):
        run_rootless(rootfs, "-u", "user")


def test_the_fake_kernel_cannot_drift_from_the_real_one() -> None:
    """Every public method of Kernel exists on the fake with the same parameters, and the fake has
    none the real one lacks (helpers for tests aside): a call-order test on the fake is a test of
    calls the real kernel layer can make."""
    import inspect

    from mini_container.syscalls import Kernel

    def methods(cls: type) -> dict[str, list[str]]:
        return {
            name: list(inspect.signature(fn).parameters)
            for name, fn in vars(cls).items()
            if callable(fn) and not name.startswith("_")
        }

    real, fake = methods(Kernel), methods(FakeKernel)
    assert {n: real[n] for n in real} == {n: fake.get(n) for n in real}
    assert set(fake) - set(real) <= {"names"}, set(fake) - set(real)


def test_the_init_keeps_no_more_than_the_commands_root(rootfs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """-p N>1: the parent side of the fork stays as PID 1; before it supervises it drops to the set
    the command's root would have (here none), with no_new_privs, and never changes uid."""

    def init_runs(pid: int, channel: object) -> None:
        raise Exec(f"init for {pid}")

    monkeypatch.setattr(container.process, "run_init", init_runs)
    k, _ = run_setup(rootfs, "-p", "42", "--cap-drop", "ALL", fork_result=4242)
    after_fork = k.calls[index(k, "fork") + 1 :]
    assert ("capset", 0, 0, 0) in after_fork and ("prctl", PR_SET_NO_NEW_PRIVS, 1, 0) in after_fork, after_fork
    assert ("chdir", "/") in after_fork
    assert not any(c[0] in ("setresuid", "setresgid", "execve") for c in after_fork), after_fork


class _Channel:
    def __init__(self, first: str, rest: tuple[str, ...] = ()) -> None:
        self.first, self.rest, self.went = first, list(rest), False

    def read_line(self) -> str:
        return self.first

    def read_rest(self) -> list[str]:
        return self.rest

    def go(self) -> None:
        self.went = True


class _Cgroup:
    def __init__(self, fail: bool = False, ooms: int = 0) -> None:
        self.added: list[int] = []
        self.fail, self.ooms = fail, ooms

    def add(self, pid: int) -> None:
        if self.fail:
            raise container.ContainerError("cgroup: cannot write")
        self.added.append(pid)

    def oom_kills(self) -> int:
        return self.ooms


def test_release_takes_the_pty_master_moves_the_child_then_lets_it_go() -> None:
    r, w = os.pipe()
    k = FakeKernel()
    k.take_fd = lambda pid, fd: (k._record("take_fd", pid, fd), os.dup(r))[1]  # type: ignore[method-assign]
    channel, cgroup = _Channel("ready pty 40"), _Cgroup()
    channel.go = lambda: k._record("go", list(cgroup.added))  # type: ignore[method-assign]
    first, master = container._release(77, cgroup, k, channel)  # type: ignore[arg-type]
    try:
        assert first == "ready pty 40" and ("take_fd", 77, 40) in k.calls
        assert k.calls[-1] == ("go", [77])  # let go only once it is in its cgroup
    finally:
        for fd in (r, w, master):
            os.close(fd)


def test_release_kills_the_child_when_the_cgroup_refuses_it(monkeypatch: pytest.MonkeyPatch) -> None:
    killed: list[int] = []
    monkeypatch.setattr(container, "_kill", killed.append)
    channel = _Channel("ready")
    with pytest.raises(container.ContainerError, match="cannot write"):
        container._release(77, _Cgroup(fail=True), FakeKernel(), channel)  # type: ignore[arg-type]
    assert killed == [77] and not channel.went


@pytest.mark.parametrize(
    ("first", "rest", "status", "ooms", "expected"),
    [
        ("ready", (), 3 << 8, 0, (3, None, False, None)),
        ("ready", (), 9, 1, (137, 9, True, None)),  # SIGKILL with the oom_kill counter moved
        ("ready", ("status 512",), 0, 0, (2, None, False, None)),  # the init's report of the command
        ("error 126 cannot execute /x", (), 126 << 8, 0, (126, None, False, "cannot execute /x")),
    ],
)
def test_wait_decodes_what_the_container_ended_with(monkeypatch: pytest.MonkeyPatch, first, rest, status, ooms,
                                                     expected) -> None:  # noqa: ANN001  # fmt: skip
    monkeypatch.setattr(container.process, "supervise", lambda pid: status)
    out = container._wait(77, first, None, _Cgroup(ooms=ooms), FakeKernel(), _Channel(first, rest), 0.0)  # type: ignore[arg-type]
    assert (out.exit_code, out.signal, out.oom_killed, out.message) == expected
