"""Command line → Config. One option table drives both parsing and --help.

Not argparse: it (with re, gettext, shutil) would add ~5 ms to every container start.
"""

import os
import sys

from . import __version__
from .errors import ContainerError
from .spec import Config, Volume
from .units import parse_memory

PID_MAX_LIMIT = 4194304  # the kernel's hard ceiling for pid_max
PROG = "mini-container"
USAGE = f"{PROG} [OPTIONS] <COMMAND> <ROOT_FILESYSTEM_PATH> [-- ARGS...]"
DESCRIPTION = "Run COMMAND inside ROOT_FILESYSTEM_PATH in new namespaces with cgroup limits."
POSITIONALS = (
    ("COMMAND", "program to run: a path, or a name looked up in the container's PATH"),
    ("ROOT_FILESYSTEM_PATH", "absolute path of the root filesystem directory"),
)
EPILOG = """\
exit status:
  the command's own; 128+N if it was killed by signal N;
  137  killed by the OOM killer (a line on stderr names the memory limit)
  125  runtime error (bad option, missing rootfs, cgroup failure, a limit without a delegated
       cgroup when rootless, user namespaces forbidden)
  126  command found but not executable (incl. a foreign-architecture binary without binfmt)
  127  command not found in the rootfs

examples:
  mini-container /bin/sh /srv/alpine
  mini-container -m 64 --nproc 20 /bin/sh /srv/alpine -- -c 'echo hello'
  mini-container /bin/sh /srv/alpine -u 1000 --cap-drop ALL --cap-add NET_BIND_SERVICE
  systemd-run --user --scope -p Delegate=yes mini-container -m 64 /bin/sh /srv/alpine   (rootless, with a limit)
"""

# short, long, metavar, how (value | append | flag | one of a tuple of choices), default, help
OPTIONS: tuple[tuple[str | None, str, str, object, object, str], ...] = (
    ("-p", "--pid", "N", "value", "1",
     "PID the command gets in its new PID namespace (default 1; N>1 adds a minimal init as PID 1)"),
    ("-m", "--memory", "SIZE", "value", None,
     "memory limit; a bare number is MiB, or 512m, 1g, 1048576b (minimum 6 MiB); swap cannot extend it"),
    (None, "--nproc", "N", "value", None,
     "maximum number of processes/threads in the container (pids.max)"),
    ("-u", "--user", "UID[:GID]", "value", None,
     "user to run as: UID[:GID] or NAME[:GROUP] from the rootfs's /etc/passwd and /etc/group"),
    (None, "--cap-add", "CAP", "append", (),
     "add capabilities (repeatable, comma lists, ALL; CAP_ prefix and case optional)"),
    (None, "--cap-drop", "CAP", "append", (),
     "drop capabilities (repeatable, comma lists, ALL)"),
    (None, "--hostname", "NAME", "value", None,
     "hostname inside the container (default: the container id)"),
    ("-e", "--env", "KEY[=VALUE]", "append", (),
     "set an environment variable (KEY alone copies it from the caller)"),
    ("-w", "--workdir", "DIR", "value", None,
     "working directory inside the container (created if missing)"),
    ("-v", "--volume", "SRC:DST[:ro]", "append", (),
     "bind-mount host SRC at DST, read-only with :ro"),
    (None, "--net", "{none,host}", ("none", "host"), "none",
     "network: none = own namespace with loopback only (default), host = the host's network"),
    (None, "--report", "FILE", "value", None,
     "write a JSON report: exit code, signal, oom_killed, memory and pids peak, duration, cgroup version"),
    (None, "--cgroup-parent", "PATH", "value", "mini-container",
     "cgroup under which the container's cgroup is made (default: mini-container; rootless: "
     "under your delegated cgroup)"),
    (None, "--rootless", "", "flag", False,
     "run in a user namespace that maps the caller to root (the default when not run as root)"),
)  # fmt: skip
_BY_NAME = {name: opt for opt in OPTIONS for name in opt[:2] if name}


def _error(message: str) -> ContainerError:
    return ContainerError(f"{message} (see '{PROG} --help')")


def help_text() -> str:
    rows = [(name, text) for name, text in POSITIONALS]
    rows.append(("-h, --help", "show this help and exit"))
    for short, long, metavar, _how, _default, text in OPTIONS:
        long = f"{long} {metavar}" if metavar else long
        rows.append((f"{short} {metavar}, {long}" if short else long, text))
    rows.append(("--version", "show the version and exit"))
    width = max(len(name) for name, _ in rows) + 2
    body = "\n".join(f"  {name.ljust(width)}{text}" for name, text in rows)
    return f"usage: {USAGE}\n\n{DESCRIPTION}\n\narguments and options:\n{body}\n\n{EPILOG}"


def _scan(argv: list[str]) -> tuple[list[str], dict[str, object]]:
    """Options anywhere among the positionals, as `-m 64`, `-m64`, `--memory 64` or `--memory=64`."""
    values: dict[str, object] = {opt[1]: opt[4] for opt in OPTIONS}
    positionals: list[str] = []
    unknown: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg in ("-h", "--help"):
            sys.stdout.write(help_text())
            raise SystemExit(0)
        if arg == "--version":
            sys.stdout.write(f"{PROG} {__version__}\n")
            raise SystemExit(0)
        if not arg.startswith("-") or arg == "-":
            positionals.append(arg)
            continue
        name, inline = arg, None
        if arg.startswith("--") and "=" in arg:
            name, inline = arg.split("=", 1)
        elif not arg.startswith("--") and len(arg) > 2:
            name, inline = arg[:2], arg[2:]
        opt = _BY_NAME.get(name)
        if opt is None:
            unknown.append(arg)
            continue
        if opt[3] == "flag":
            if inline is not None:
                raise _error(f"argument {opt[1]}: takes no value")
            values[opt[1]] = True
            continue
        if inline is None:
            if i >= len(argv):
                raise _error(f"argument {'/'.join(n for n in opt[:2] if n)}: expected one argument")
            inline = argv[i]
            i += 1
        how, long = opt[3], opt[1]
        if isinstance(how, tuple) and inline not in how:
            choices = ", ".join(repr(c) for c in how)
            raise _error(f"argument {long}: invalid choice: {inline!r} (choose from {choices})")
        values[long] = (*values[long], inline) if how == "append" else inline  # type: ignore[misc]
    if len(positionals) < 2:
        missing = ", ".join(name for name, _ in POSITIONALS[len(positionals) :])
        raise _error(f"the following arguments are required: {missing}")
    unknown += positionals[2:]
    if unknown:
        raise _error(f"unrecognized arguments: {' '.join(unknown)}")
    return positionals, values


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


def _env(entries: tuple[str, ...]) -> tuple[str, ...]:
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
    (command, rootfs, *_), v = _scan(argv)
    if not command:
        raise ContainerError("COMMAND is empty")
    hostname = v["--hostname"]
    if hostname is not None and not (0 < len(str(hostname).encode()) <= 64):
        raise ContainerError(f"invalid hostname {hostname!r}: 1 to 64 bytes")
    workdir = v["--workdir"]
    if workdir is not None and not str(workdir).startswith("/"):
        raise ContainerError(f"invalid workdir {workdir!r}: must be an absolute path")
    cgroup_parent = str(v["--cgroup-parent"]).strip("/")
    if not cgroup_parent or ".." in cgroup_parent.split("/"):
        raise ContainerError(f"invalid cgroup parent {v['--cgroup-parent']!r}")
    return Config(
        command=command,
        rootfs=_rootfs(rootfs),
        args=tuple(args),
        pid=_positive(str(v["--pid"]), "pid", min(_pid_max() - 1, PID_MAX_LIMIT)),
        memory=parse_memory(str(v["--memory"])) if v["--memory"] is not None else None,
        nproc=_positive(str(v["--nproc"]), "--nproc value") if v["--nproc"] is not None else None,
        user=v["--user"],  # type: ignore[arg-type]
        cap_add=tuple(v["--cap-add"]),  # type: ignore[arg-type]
        cap_drop=tuple(v["--cap-drop"]),  # type: ignore[arg-type]
        hostname=hostname,  # type: ignore[arg-type]
        env=_env(tuple(v["--env"])),  # type: ignore[arg-type]
        workdir=workdir,  # type: ignore[arg-type]
        volumes=tuple(_volume(x) for x in v["--volume"]),  # type: ignore[union-attr]
        net=str(v["--net"]),
        report=v["--report"],  # type: ignore[arg-type]
        cgroup_parent=cgroup_parent,
        rootless=bool(v["--rootless"]),
    )


def print_error(message: str) -> None:
    sys.stderr.write(f"mini-container: {message}\n")
    sys.stderr.flush()
