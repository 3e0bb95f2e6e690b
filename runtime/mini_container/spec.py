"""The run's specification: what the command line asked for, as plain records.

The CLI produces a Config; the planner, the mount steps and the cgroup code read it. Nothing here
parses or checks: cli.py does that.
"""

from .record import Record


class Volume(Record):
    __slots__ = ("source", "target", "readonly")

    def __init__(self, source: str, target: str, readonly: bool) -> None:
        self.source, self.target, self.readonly = source, target, readonly


class Config(Record):
    __slots__ = ("command", "rootfs", "args", "pid", "memory", "nproc", "user", "cap_add", "cap_drop",
                 "hostname", "env", "workdir", "volumes", "net", "report", "cgroup_parent", "rootless")  # fmt: skip

    def __init__(
        self, command: str, rootfs: str, args: tuple[str, ...] = (), pid: int = 1, memory: int | None = None,
        nproc: int | None = None, user: str | None = None, cap_add: tuple[str, ...] = (),
        cap_drop: tuple[str, ...] = (), hostname: str | None = None, env: tuple[str, ...] = (),
        workdir: str | None = None, volumes: tuple[Volume, ...] = (), net: str = "none",
        report: str | None = None, cgroup_parent: str = "mini-container", rootless: bool = False,
    ) -> None:  # fmt: skip
        self.command, self.rootfs, self.args, self.pid = command, rootfs, args, pid
        self.memory, self.nproc, self.user = memory, nproc, user
        self.cap_add, self.cap_drop, self.hostname, self.env = cap_add, cap_drop, hostname, env
        self.workdir, self.volumes, self.net = workdir, volumes, net
        self.report, self.cgroup_parent, self.rootless = report, cgroup_parent, rootless
