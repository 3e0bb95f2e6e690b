"""Run one container: plan in the runtime, set up in the child, supervise, clean up."""

import _signal as signal  # why: `signal` only adds enum wrappers, ~2 ms of imports at every start
import os
import time

from . import capabilities, cgroups, console, executable, process, rootfs, userns, users
from .cli import print_error
from .errors import EXIT_NOT_EXECUTABLE, EXIT_NOT_FOUND, EXIT_OOM, EXIT_RUNTIME, ContainerError
from .record import Record
from .report import write_report
from .spec import Config
from .syscalls import (
    CLONE_NEWCGROUP,
    CLONE_NEWIPC,
    CLONE_NEWNET,
    CLONE_NEWNS,
    CLONE_NEWPID,
    CLONE_NEWUTS,
    PR_SET_KEEPCAPS,
    PR_SET_NO_NEW_PRIVS,
    PR_SET_PDEATHSIG,
    Kernel,
    SyscallError,
)
from .units import format_mib

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs milliseconds at every start; annotations only
    from typing import NoReturn

    from .warmup import AttachWarmUp

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class Plan(Record):
    """Everything decided before fork, so the child only makes kernel calls."""

    __slots__ = ("config", "id", "user", "caps", "top_cap", "exe", "argv", "env", "hostname", "workdir",
                 "namespaces", "tty", "mapping")  # fmt: skip

    def __init__(
        self, config: Config, id: str, user: users.User, caps: capabilities.CapSets, top_cap: int, exe: str,
        argv: list[str], env: dict[str, str], hostname: str, workdir: str, namespaces: int, tty: bool = False,
        mapping: userns.Mapping | None = None,
    ) -> None:  # fmt: skip
        self.config, self.id, self.user, self.caps, self.top_cap = config, id, user, caps, top_cap
        self.exe, self.argv, self.env = exe, argv, env
        self.hostname, self.workdir, self.namespaces, self.tty = hostname, workdir, namespaces, tty
        self.mapping = mapping  # rootless: the user namespace the runtime enters before the fork


def prepare(config: Config, mapping: userns.Mapping | None = None) -> Plan:
    token = os.urandom(6).hex()
    if not os.access(config.rootfs, os.R_OK | os.X_OK):
        raise ContainerError(f"cannot read the rootfs {config.rootfs} as uid {os.getuid()}: permission denied")
    user = users.resolve(config.user, config.rootfs)
    if mapping is not None:
        userns.check_user(mapping, user.uid, user.gid)
    top = capabilities.last_cap()
    caps = capabilities.compute(config.cap_add, config.cap_drop, user.uid, top)
    hostname = config.hostname or token
    env = {"PATH": DEFAULT_PATH, "HOSTNAME": hostname, "HOME": user.home}
    tty = console.wanted()
    if "TERM" in os.environ and tty:
        env["TERM"] = os.environ["TERM"]
    for entry in config.env:
        key, _, value = entry.partition("=")
        env[key] = value
    workdir = config.workdir or "/"
    exe = executable.resolve(config.rootfs, config.command, env["PATH"], workdir)
    executable.check_runnable(config.rootfs, exe)
    namespaces = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC
    if config.net == "none":
        namespaces |= CLONE_NEWNET
    return Plan(
        config=config,
        id=f"{os.getpid()}-{token}",
        user=user,
        caps=caps,
        top_cap=top,
        exe=exe,
        argv=[config.command, *config.args],
        env=env,
        hostname=hostname,
        workdir=workdir,
        namespaces=namespaces,
        tty=tty,
        mapping=mapping,
    )


def setup_container(plan: Plan, k: Kernel, channel: process.Channel) -> "NoReturn":
    """The container's side, top to bottom. Runs as PID 1 of the new PID namespace."""
    root = plan.config.rootfs
    rootless = plan.mapping is not None
    k.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # die with the runtime, even mid-setup
    k.setsid()  # the caller's terminal must not be ours: no TIOCSTI into the host's shell
    # Writes to ns_last_pid act on the writer's PID namespace, so the host's file serves; open it
    # now, before our mounts hide the host's /proc/sys.
    ns_last_pid = k.open_write("/proc/sys/kernel/ns_last_pid") if plan.config.pid != 1 else None
    k.unshare(plan.namespaces)
    rootfs.make_mounts_private(k)
    rootfs.bind_rootfs(k, root)
    rootfs.mount_volumes(k, root, plan.config.volumes)
    rootfs.mount_proc(k, root)
    rootfs.mount_dev(k, root, bind_devices=rootless)
    rootfs.mount_sys(k, root, fresh=not rootless or bool(plan.namespaces & CLONE_NEWNET))
    rootfs.mask_paths(k, root)
    rootfs.pivot(k, root)
    if plan.namespaces & CLONE_NEWNET:
        k.set_link_up("lo")
    k.sethostname(plan.hostname)
    # why here: /dev/ptmx must be the container's own devpts, so after pivot_root
    pty_master = console.attach_new_pty(k) if plan.tty else None
    # why: the runtime moves us into the cgroup only now, so Python's own setup is not
    # charged to the workload; then the cgroup namespace must come after the move so that
    # its root is the container's cgroup
    channel.tell("ready" if pty_master is None else f"ready pty {pty_master}")
    channel.wait_for_go()
    k.unshare(CLONE_NEWCGROUP)
    if ns_last_pid is not None:
        _become_init_and_fork(plan, k, channel, ns_last_pid)
    _enter_workdir(k, plan.workdir)
    capabilities.apply_bounding(k, plan.caps, plan.top_cap)  # needs CAP_SETPCAP: before setuid
    k.prctl(PR_SET_KEEPCAPS, 1)  # why: keep the permitted set across setuid to a non-root uid
    if not rootless or plan.mapping.setgroups_allowed:  # a one-line rootless map denies setgroups
        k.setgroups([])
    k.setresgid(plan.user.gid)
    k.setresuid(plan.user.uid)
    capabilities.apply_process_sets(k, plan.caps, plan.top_cap)
    k.prctl(PR_SET_NO_NEW_PRIVS, 1)
    k.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # why: a uid change clears it; set it again
    if not channel.runtime_alive():
        os._exit(EXIT_RUNTIME)  # the runtime died before PDEATHSIG was re-armed
    k.set_cloexec_from(3)  # only 0, 1, 2 cross into the container (CVE-2024-21626)
    k.reset_signals()
    k.execve(plan.exe, plan.argv, plan.env)
    raise AssertionError("execve returned")


def _become_init_and_fork(plan: Plan, k: Kernel, channel: process.Channel, ns_last_pid: int) -> None:
    """Fork the command at the requested PID; this process stays behind as PID 1 (the init)."""
    k.write_fd(ns_last_pid, str(plan.config.pid - 1), "/proc/sys/kernel/ns_last_pid")
    k.close(ns_last_pid)
    pid = k.fork()
    if pid == 0:
        return  # the command's side: carry on with the sequence
    _drop_init_privileges(plan, k)
    process.run_init(pid, channel)


def _drop_init_privileges(plan: Plan, k: Kernel) -> None:
    """The init stays root in the container but holds no more than the command's root would."""
    init_caps = capabilities.compute(plan.config.cap_add, plan.config.cap_drop, 0, plan.top_cap)
    capabilities.apply_bounding(k, init_caps, plan.top_cap)
    capabilities.apply_process_sets(k, init_caps, plan.top_cap)
    k.prctl(PR_SET_NO_NEW_PRIVS, 1)
    k.chdir("/")


def _enter_workdir(k: Kernel, workdir: str) -> None:
    current = ""
    for part in [p for p in workdir.split("/") if p]:
        current = f"{current}/{part}"
        if k.stat_kind(current) is None:
            k.mkdir(current)
    k.chdir(workdir)


def _exec_failure(err: SyscallError, plan: Plan) -> ContainerError:
    if err.call != "execve":
        return ContainerError(f"container setup failed: {err}")
    if err.errno == 2:  # ENOENT on a file we found: its ELF interpreter (ld.so) is missing
        return ContainerError(
            f"cannot execute {plan.exe}: {err.strerror} (is its dynamic loader in the rootfs?)",
            EXIT_NOT_FOUND,
        )
    return ContainerError(f"cannot execute {plan.exe}: {err.strerror}", EXIT_NOT_EXECUTABLE)


def _child(plan: Plan, k: Kernel, channel: process.Channel) -> "NoReturn":
    channel.as_child()
    try:
        setup_container(plan, k, channel)
    except SyscallError as e:
        failure = _exec_failure(e, plan)
    except ContainerError as e:
        failure = e
    except BaseException as e:  # noqa: BLE001 - anything else must still reach the user
        failure = ContainerError(f"container setup failed: {type(e).__name__}: {e}")
    try:
        channel.tell(f"error {failure.exit_code} {failure.message}")
    finally:
        os._exit(failure.exit_code)


class Outcome(Record):
    __slots__ = ("exit_code", "signal", "oom_killed", "message", "duration")

    def __init__(self, exit_code: int, signal: int | None, oom_killed: bool, message: str | None,
                 duration: float) -> None:  # fmt: skip
        self.exit_code, self.signal, self.oom_killed = exit_code, signal, oom_killed
        self.message, self.duration = message, duration


def _fork_container(plan: Plan, k: Kernel, channel: process.Channel) -> int:
    process.block_signals()
    # why: only children enter a new PID namespace; the runtime stays outside to supervise
    k.unshare(CLONE_NEWPID)
    pid = k.fork()
    if pid == 0:
        _child(plan, k, channel)
    channel.as_runtime()
    return pid


def _kill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)


def _release(pid: int, cgroup: cgroups.Cgroup, k: Kernel, channel: process.Channel) -> tuple[str, int | None]:
    """Wait for the child's set-up, move it into its cgroup, let it exec. → (its first line, pty master)"""
    first = channel.read_line()
    master = None
    try:
        if first.startswith("ready"):
            if first.startswith("ready pty "):  # the child's fd number of its pty master
                master = k.take_fd(pid, int(first.split()[2]))
            cgroup.add(pid)
            channel.go()
    except (ContainerError, SyscallError) as e:
        _kill(pid)
        if master is not None:
            os.close(master)
        if isinstance(e, SyscallError):  # pidfd_getfd of the pty master
            raise ContainerError(f"console: {e}") from None
        raise
    return first, master


def _wait(pid: int, first: str, master: int | None, cgroup: cgroups.Cgroup, k: Kernel, channel: process.Channel,
          started: float) -> Outcome:  # fmt: skip
    if master is None:
        status = process.supervise(pid)
    else:
        status = console.run_on_terminal(pid, master, k)
    duration = time.monotonic() - started
    code, sig = process.decode(status)
    message = None
    for line in [first, *channel.read_rest()]:
        kind, _, rest = line.partition(" ")
        if kind == "error":
            number, _, message = rest.partition(" ")
            code, sig = int(number), None
        elif kind == "status":  # from our init: the command's own status
            code, sig = process.decode(int(rest))
    oom = cgroup.oom_kills() > 0
    return Outcome(code, sig, oom, message, duration)


def _cgroup(config: Config, layout: cgroups.Layout, name: str, rootless: bool) -> cgroups.Cgroup:
    base = None
    if rootless:
        base, why = cgroups.delegated_root(layout, os.getuid(), cgroups.own_v2_path())
        if base is None:
            if config.memory is not None or config.nproc is not None:
                hint = ("run as root, or on a host with cgroup v2" if layout.version == "v1"
                        else "try: systemd-run --user --scope -p Delegate=yes mini-container ...")  # fmt: skip
                need = "rootless: -m and --nproc need a cgroup v2 subtree delegated to you"
                raise ContainerError(f"{need}, but {why}; {hint}")
            return cgroups.NoCgroup()
    cgroups.sweep(layout, config.cgroup_parent, base)
    return cgroups.for_layout(layout, config.cgroup_parent, name, base)


def run(config: Config, k: Kernel | None = None, warm_up: "AttachWarmUp | None" = None) -> int:
    rootless = config.rootless or os.geteuid() != 0
    mapping = userns.plan(os.getuid(), os.getgid()) if rootless else None
    plan = prepare(config, mapping)
    kernel = k or Kernel()
    layout = cgroups.read_layout()
    cgroup = _cgroup(config, layout, plan.id, rootless)
    channel = process.Channel()
    if warm_up is not None:
        warm_up.wait()  # why: fork copies only the calling thread; fork with no other one alive
    if mapping is not None:
        # why before the fork: the PID namespace made next, and every namespace the child makes,
        # must belong to the user namespace; and unshare(CLONE_NEWUSER) refuses a threaded caller
        userns.enter(kernel, mapping)
    started = time.monotonic()
    pid = _fork_container(plan, kernel, channel)
    # The child now sets itself up (setup_container) while the runtime creates its cgroup. A
    # failure on our side must not leave the child behind.
    try:
        if warm_up is not None:
            warm_up.renew()
        cgroup.create(config.memory, config.nproc)
    except ContainerError:
        _kill(pid)
        raise
    try:
        first, master = _release(pid, cgroup, kernel, channel)
        outcome = _wait(pid, first, master, cgroup, kernel, channel, started)
        memory_peak, pids_peak = cgroup.memory_peak(), cgroup.pids_peak()
        swap = cgroup.swap_allowance() if config.memory is not None else None  # only -m pins it
    finally:
        cgroup.remove()
    if outcome.message:
        print_error(outcome.message)
    limit = format_mib(config.memory) if config.memory else "no limit set"
    if outcome.oom_killed and outcome.exit_code == EXIT_OOM:
        print_error(f"killed by the OOM killer (limit {limit})")
    elif outcome.oom_killed:
        print_error(f"a process in the container was killed by the OOM killer (limit {limit})")
    if config.report:
        write_report(
            config.report,
            exit_code=outcome.exit_code,
            signal=outcome.signal,
            oom_killed=outcome.oom_killed,
            memory_peak_bytes=memory_peak,
            pids_peak=pids_peak,
            duration_seconds=round(outcome.duration, 6),
            cgroup_version=cgroup.version,
            memory_limit_bytes=config.memory,
            memory_swap_allowed_bytes=swap,
            pids_limit=config.nproc,
            error=outcome.message,
            rootless=mapping.describe() if mapping is not None else None,
        )
    return outcome.exit_code
