"""Command line → Config. Thin: validation of values lives next to the code that uses them."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass

from . import __version__
from .errors import ContainerError
from .units import parse_memory

PID_MAX_LIMIT = 4194304  # the kernel's hard ceiling for pid_max

USAGE = "mini-container [OPTIONS] <COMMAND> <ROOT_FILESYSTEM_PATH> [-- ARGS...]"
DESCRIPTION = "Run COMMAND inside ROOT_FILESYSTEM_PATH in new namespaces with cgroup limits."
EPILOG = """\
exit status:
  the command's own; 128+N if it was killed by signal N;
  137  killed by the OOM killer (a line on stderr names the memory limit)
  125  runtime error (bad option, missing rootfs, not root, cgroup failure)
  126  command found but not executable (incl. a foreign-architecture binary without binfmt)
  127  command not found in the rootfs

examples:
  mini-container /bin/sh /srv/alpine
  mini-container -m 64 --nproc 20 /bin/sh /srv/alpine -- -c 'echo hello'
  mini-container /bin/sh /srv/alpine -u 1000 --cap-drop ALL --cap-add NET_BIND_SERVICE
"""


@dataclass(frozen=True)
class Volume:
    source: str
    target: str
    readonly: bool


@dataclass(frozen=True)
class Config:
    command: str
    rootfs: str
    args: tuple[str, ...] = ()
    pid: int = 1
    memory: int | None = None
    nproc: int | None = None
    user: str | None = None
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    hostname: str | None = None
    env: tuple[str, ...] = ()
    workdir: str | None = None
    volumes: tuple[Volume, ...] = ()
    net: str = "none"
    report: str | None = None
    cgroup_parent: str = "mini-container"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise ContainerError(f"{message} (see 'mini-container --help')")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="mini-container",
        usage=USAGE,
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    p.add_argument(
        "command", metavar="COMMAND", help="program to run, a path or a name looked up in the container's PATH"
    )
    p.add_argument("rootfs", metavar="ROOT_FILESYSTEM_PATH", help="absolute path of the root filesystem directory")
    p.add_argument(
        "-p",
        "--pid",
        metavar="N",
        default="1",
        help="PID the command gets in its new PID namespace (default 1; N>1 adds a minimal init as PID 1)",
    )
    p.add_argument(
        "-m",
        "--memory",
        metavar="SIZE",
        help="memory limit; a bare number is MiB, or 512m, 1g, 1048576b (minimum 6 MiB); swap cannot extend it",
    )
    p.add_argument("--nproc", metavar="N", help="maximum number of processes/threads in the container (pids.max)")
    p.add_argument(
        "-u",
        "--user",
        metavar="UID[:GID]",
        help="user to run as: UID[:GID] or NAME[:GROUP] from the rootfs's /etc/passwd and /etc/group",
    )
    p.add_argument(
        "--cap-add",
        metavar="CAP",
        action="append",
        default=[],
        help="add capabilities (repeatable, comma lists, ALL; CAP_ prefix and case optional)",
    )
    p.add_argument(
        "--cap-drop",
        metavar="CAP",
        action="append",
        default=[],
        help="drop capabilities (repeatable, comma lists, ALL)",
    )
    p.add_argument("--hostname", metavar="NAME", help="hostname inside the container (default: the container id)")
    p.add_argument(
        "-e",
        "--env",
        metavar="KEY[=VALUE]",
        action="append",
        default=[],
        help="set an environment variable (KEY alone copies it from the caller)",
    )
    p.add_argument("-w", "--workdir", metavar="DIR", help="working directory inside the container (created if missing)")
    p.add_argument(
        "-v",
        "--volume",
        metavar="SRC:DST[:ro]",
        action="append",
        default=[],
        help="bind-mount host SRC at DST, read-only with :ro",
    )
    p.add_argument(
        "--net",
        choices=("none", "host"),
        default="none",
        help="network: none = own namespace with loopback only (default), host = the host's network",
    )
    p.add_argument(
        "--report",
        metavar="FILE",
        help="write a JSON report: exit code, signal, oom_killed, memory and pids peak, duration, cgroup version",
    )
    p.add_argument(
        "--cgroup-parent",
        metavar="PATH",
        default="mini-container",
        help="cgroup under which the container's cgroup is made (default: mini-container)",
    )
    p.add_argument("--version", action="version", version=f"mini-container {__version__}")
    return p


def _positive(text: str, what: str, upper: int | None = None) -> int:
    try:
        value = int(text, 10)
    except ValueError:
        raise ContainerError(f"invalid {what} {text!r}: expected a whole number") from None
    if value < 1 or (upper is not None and value > upper):
        bound = f"1..{upper}" if upper is not None else ">= 1"
        raise ContainerError(f"invalid {what} {text!r}: must be {bound}")
    return value


def _volume(text: str) -> Volume:
    parts = text.split(":")
    if len(parts) == 3 and parts[2] in ("ro", "rw"):
        readonly = parts[2] == "ro"
        parts = parts[:2]
    else:
        readonly = False
    if len(parts) != 2 or not parts[0] or not parts[1]:
        raise ContainerError(f"invalid volume {text!r}: expected SRC:DST[:ro]")
    source, target = parts
    if not source.startswith("/") or not target.startswith("/"):
        raise ContainerError(f"invalid volume {text!r}: SRC and DST must be absolute paths")
    if not os.path.exists(source):
        raise ContainerError(f"volume source {source} does not exist")
    return Volume(os.path.realpath(source), os.path.normpath(target), readonly)


def _env(entries: list[str]) -> tuple[str, ...]:
    out = []
    for entry in entries:
        key, sep, value = entry.partition("=")
        if not key or "\0" in entry:
            raise ContainerError(f"invalid environment variable {entry!r}: expected KEY=VALUE or KEY")
        if not sep:
            if key not in os.environ:
                continue  # docker: `-e KEY` with KEY unset in the caller sets nothing
            value = os.environ[key]
        out.append(f"{key}={value}")
    return tuple(out)


def _rootfs(text: str) -> str:
    if not text.startswith("/"):
        raise ContainerError(f"rootfs {text!r} is a relative path: give an absolute path, e.g. {os.path.abspath(text)}")
    real = os.path.realpath(text)
    if not os.path.exists(real):
        raise ContainerError(f"rootfs {text} does not exist")
    if not os.path.isdir(real):
        raise ContainerError(f"rootfs {text} is not a directory")
    if real == "/":
        raise ContainerError("rootfs is the host's / : give a separate root filesystem directory")
    return real


def _pid_max() -> int:
    try:
        with open("/proc/sys/kernel/pid_max") as f:
            return int(f.read())
    except OSError:
        return PID_MAX_LIMIT


def parse(argv: list[str]) -> Config:
    if "--" in argv:
        cut = argv.index("--")
        argv, args = argv[:cut], argv[cut + 1 :]
    else:
        args = []
    ns = _parser().parse_args(argv)
    if not ns.command:
        raise ContainerError("COMMAND is empty")
    hostname = ns.hostname
    if hostname is not None and not (0 < len(hostname.encode()) <= 64):
        raise ContainerError(f"invalid hostname {hostname!r}: 1 to 64 bytes")
    if ns.workdir is not None and not ns.workdir.startswith("/"):
        raise ContainerError(f"invalid workdir {ns.workdir!r}: must be an absolute path")
    cgroup_parent = ns.cgroup_parent.strip("/")
    if not cgroup_parent or ".." in cgroup_parent.split("/"):
        raise ContainerError(f"invalid cgroup parent {ns.cgroup_parent!r}")
    return Config(
        command=ns.command,
        rootfs=_rootfs(ns.rootfs),
        args=tuple(args),
        pid=_positive(ns.pid, "pid", min(_pid_max() - 1, PID_MAX_LIMIT)),
        memory=parse_memory(ns.memory) if ns.memory is not None else None,
        nproc=_positive(ns.nproc, "--nproc value") if ns.nproc is not None else None,
        user=ns.user,
        cap_add=tuple(ns.cap_add),
        cap_drop=tuple(ns.cap_drop),
        hostname=hostname,
        env=_env(ns.env),
        workdir=ns.workdir,
        volumes=tuple(_volume(v) for v in ns.volume),
        net=ns.net,
        report=ns.report,
        cgroup_parent=cgroup_parent,
    )


def print_error(message: str) -> None:
    sys.stderr.write(f"mini-container: {message}\n")
    sys.stderr.flush()
