"""Pay the kernel's cgroup-attach wait while the runtime is still importing and planning.

why: moving a process into a cgroup (a write to cgroup.procs) takes the kernel's global
cgroup_threadgroup_rwsem for writing. When that lock was idle, the writer first waits out an RCU
grace period (10-20 ms on the 2-core CI host: the largest single cost of a start), and for about
one grace period after a writer leaves, the next writer does not wait. So, first thing at start-up,
a thread moves the runtime into the cgroup it already sits in (nothing moves) while the main thread
imports and plans; the container's real attach lands inside that window (renew() stretches it). Best
effort: any failure only costs the time it was meant to save.
"""

import _thread  # why not threading: its import costs more than the work it would start
import os
import time

CGROUP_ROOT = "/sys/fs/cgroup"


def own_cgroup_procs(proc_cgroup: str = "/proc/self/cgroup", root: str = CGROUP_ROOT) -> str | None:
    """The cgroup.procs file of a cgroup this process is in, on any mounted hierarchy."""
    try:
        with open(proc_cgroup) as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in lines:
        _, sep, rest = line.partition(":")
        controllers, sep2, path = rest.partition(":")
        if not (sep and sep2 and path.startswith("/")):
            continue
        # v1: one mount per controller list ("pids", "cpu,cpuacct", "name=systemd" → systemd);
        # the unified hierarchy: /sys/fs/cgroup/unified on a hybrid host, /sys/fs/cgroup on v2
        mounts = [controllers.removeprefix("name=")] if controllers else ["unified", ""]
        for mount in mounts:
            candidate = os.path.join(root, mount, path.lstrip("/"), "cgroup.procs")
            if mount == "unified" and not os.path.isdir(os.path.join(root, "unified")):
                continue
            if os.path.exists(candidate):
                return candidate
    return None


class AttachWarmUp:
    """Started at once; wait() before fork, so that the runtime forks with a single thread."""

    def __init__(self, procs_file: str | None) -> None:
        self.procs_file = procs_file
        self.succeeded = False
        self._tid: int | None = None
        self._done = _thread.allocate_lock()
        self._done.acquire()
        if procs_file is None:
            self._done.release()
        else:
            _thread.start_new_thread(self._move_self, (procs_file,))

    def _move_self(self, procs_file: str) -> None:
        self._tid = _thread.get_native_id()
        try:
            self.succeeded = _move_nowhere(procs_file)
        finally:
            self._done.release()

    def wait(self) -> None:
        """Return once the thread is gone, not merely done: a fork must not copy a process whose
        other thread is half-way through its exit (interpreter and libc state mid-change)."""
        self._done.acquire()
        self._done.release()
        task = f"/proc/self/task/{self._tid}"
        deadline = time.monotonic() + 1.0
        while self._tid is not None and os.path.exists(task) and time.monotonic() < deadline:
            time.sleep(0.0001)

    def renew(self) -> None:
        """After wait(), right before the cgroup work: move nowhere once more.

        why: the window lasts about one grace period from the warm-up's end, and the plan and the
        fork may outlast it; then the child's attach would wait a whole grace period. Renewing costs
        ~0.05 ms while the window is open; when it has closed, it pays the wait while the child is
        busy setting itself up, instead of after."""
        if self.succeeded and self.procs_file is not None:
            _move_nowhere(self.procs_file)


def _move_nowhere(procs_file: str) -> bool:
    try:
        fd = os.open(procs_file, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, b"0")  # "0": the writing process itself
        finally:
            os.close(fd)
    except OSError:
        return False
    return True


def start() -> AttachWarmUp:
    return AttachWarmUp(own_cgroup_procs() if os.geteuid() == 0 else None)
