"""A recording stand-in for mini_container.syscalls.Kernel: unit tests check call order with it.

Filesystem look-ups (stat_kind) and mkdir act on the real temporary fixture tree, so path logic is
exercised for real; everything that needs privileges is only recorded.
"""

from __future__ import annotations

import os
from typing import Any


class Exec(Exception):
    """Raised by the fake execve so the sequence stops where the real one would be replaced."""


class FakeKernel:
    def __init__(self, fork_result: int = 0) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.fork_result = fork_result
        self.cwd = "/"
        self.root = ""  # host path the fake has "pivoted" into; "" before pivot_root

    def _record(self, *call: Any) -> None:
        self.calls.append(call)

    def names(self) -> list[str]:
        return [c[0] for c in self.calls]

    def unshare(self, flags: int) -> None:
        self._record("unshare", flags)

    def mount(self, source, target, fstype, flags, data=None) -> None:  # noqa: ANN001
        self._record("mount", source, target, fstype, flags, data)

    def umount2(self, target: str, flags: int) -> None:
        self._record("umount2", target, flags)

    def pivot_root(self, new_root: str, put_old: str) -> None:
        self._record("pivot_root", new_root, put_old)
        self.root = self.cwd  # as the kernel does: paths now resolve inside the new root

    def mkdir(self, path: str, mode: int = 0o755) -> None:
        self._record("mkdir", path)

    def mknod(self, path: str, mode: int, major: int, minor: int) -> None:
        self._record("mknod", path, major, minor)

    def symlink(self, target: str, path: str) -> None:
        self._record("symlink", target, path)

    def touch(self, path: str) -> None:
        self._record("touch", path)

    def chdir(self, path: str) -> None:
        self._record("chdir", path)
        self.cwd = path

    def locked_flags(self, path: str) -> int:
        return 0  # a query, like stat_kind: not recorded

    def stat_kind(self, path: str) -> str | None:
        path = self.root + path
        try:
            return "dir" if os.path.isdir(path) else ("file" if os.path.exists(path) else None)
        except OSError:
            return None

    def open_write(self, path: str) -> int:
        self._record("open_write", path)
        return 99

    def close(self, fd: int) -> None:
        self._record("close", fd)

    def write_file(self, path: str, data: str) -> None:
        self._record("write_file", path, data)

    def write_fd(self, fd: int, data: str, what: str) -> None:
        self._record("write_fd", what, data)

    def sethostname(self, name: str) -> None:
        self._record("sethostname", name)

    def setgroups(self, groups: list[int]) -> None:
        self._record("setgroups", list(groups))

    def setresgid(self, gid: int) -> None:
        self._record("setresgid", gid)

    def setresuid(self, uid: int) -> None:
        self._record("setresuid", uid)

    def prctl(self, option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
        self._record("prctl", option, arg2, arg3)
        return 0

    def capset(self, effective: int, permitted: int, inheritable: int) -> None:
        self._record("capset", effective, permitted, inheritable)

    def set_cloexec_from(self, first_fd: int) -> None:
        self._record("set_cloexec_from", first_fd)

    def set_link_up(self, ifname: str) -> None:
        self._record("set_link_up", ifname)

    def setsid(self) -> None:
        self._record("setsid")

    def open_pty(self) -> tuple[int, int]:
        self._record("open_pty")
        return 40, 41

    def set_controlling_tty(self, fd: int) -> None:
        self._record("set_controlling_tty", fd)

    def dup_onto_stdio(self, fd: int) -> None:
        self._record("dup_onto_stdio", fd)

    def take_fd(self, pid: int, fd: int) -> int:
        self._record("take_fd", pid, fd)
        return 50

    def get_winsize(self, fd: int) -> bytes | None:
        return None  # a query: no terminal here

    def set_winsize(self, fd: int, size: bytes) -> None:
        self._record("set_winsize", fd, size)

    def signalfd(self, signals: frozenset[int]) -> int:
        self._record("signalfd", sorted(signals))
        return 60

    def fork(self) -> int:
        self._record("fork")
        return self.fork_result

    def reset_signals(self) -> None:
        self._record("reset_signals")

    def execve(self, path: str, argv: list[str], env: dict[str, str]) -> None:
        self._record("execve", path, list(argv), dict(env))
        raise Exec(path)


class FakeChannel:
    """Records the hand-shake with the runtime into the same call list."""

    def __init__(self, kernel: FakeKernel, alive: bool = True) -> None:
        self.kernel = kernel
        self.alive = alive

    def tell(self, message: str) -> None:
        self.kernel._record("tell", message)

    def wait_for_go(self) -> None:
        self.kernel._record("wait_for_go")

    def runtime_alive(self) -> bool:
        self.kernel._record("runtime_alive")
        return self.alive
