"""Rootless runs: the user namespace that maps the caller, and what a machine may forbid about it.

The runtime enters the user namespace itself, before it forks the container: every namespace made
afterwards (PID, mount, UTS, IPC, network, cgroup) then belongs to it, so the rest of the set-up is
the same sequence as a root run (runc and crun do the same through their re-exec).

Two mappings, as rootlesskit/podman choose them:
  single  the caller's uid and gid become 0 inside; nothing else is mapped and setgroups is denied
          (the kernel's rule for a map an unprivileged process writes itself)
  subid   0 → the caller, 1..N → the caller's range in /etc/subuid and /etc/subgid, written by the
          setuid helpers newuidmap/newgidmap (package uidmap), so `-u 1000` works inside
"""

import os

from .errors import ContainerError
from .record import Record
from .syscalls import CLONE_NEWUSER, Kernel, SyscallError

HELPERS_PATH = ("/usr/bin", "/bin", "/usr/sbin", "/sbin", "/usr/local/bin")
BLOCKERS = (  # sysctl, value that forbids unprivileged user namespaces, what to say
    ("/proc/sys/kernel/unprivileged_userns_clone", "0", "sysctl kernel.unprivileged_userns_clone=0"),
    ("/proc/sys/user/max_user_namespaces", "0", "sysctl user.max_user_namespaces=0"),
    ("/proc/sys/kernel/apparmor_restrict_unprivileged_userns", "1",
     "AppArmor's kernel.apparmor_restrict_unprivileged_userns=1 (Ubuntu 23.10+)"),
)  # fmt: skip


class Mapping(Record):
    """uid_map/gid_map lines (inside, outside, count) and how they get written."""

    __slots__ = ("kind", "uids", "gids", "helpers")

    def __init__(self, kind: str, uids: tuple[tuple[int, int, int], ...], gids: tuple[tuple[int, int, int], ...],
                 helpers: tuple[str, str] | None = None) -> None:  # fmt: skip
        self.kind, self.uids, self.gids, self.helpers = kind, uids, gids, helpers

    @property
    def setgroups_allowed(self) -> bool:
        return self.kind == "subid"

    def maps(self, ranges: tuple[tuple[int, int, int], ...]) -> str:
        return "".join(f"{inside} {outside} {count}\n" for inside, outside, count in ranges)

    def describe(self) -> dict[str, object]:
        return {"mapping": self.kind, "uid_map": self.maps(self.uids), "gid_map": self.maps(self.gids)}


def _contains(ranges: tuple[tuple[int, int, int], ...], value: int) -> bool:
    return any(inside <= value < inside + count for inside, _, count in ranges)


def subordinate_range(path: str, names: tuple[str, ...]) -> tuple[int, int] | None:
    """The first range /etc/subuid (or subgid) gives any of `names` (user name or number)."""
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.strip().split(":")
        if len(fields) == 3 and fields[0] in names and fields[1].isdigit() and fields[2].isdigit():
            if int(fields[2]) > 0:
                return int(fields[1]), int(fields[2])
    return None


def _helper(name: str) -> str | None:
    for directory in HELPERS_PATH:
        path = os.path.join(directory, name)
        if os.access(path, os.X_OK):
            return path
    return None


def _user_name(uid: int) -> str | None:
    try:
        with open("/etc/passwd") as f:
            for line in f:
                fields = line.split(":")
                if len(fields) > 2 and fields[2] == str(uid):
                    return fields[0]
    except OSError:
        pass
    return None


def plan(uid: int, gid: int, etc: str = "/etc") -> Mapping:
    """subid when newuidmap/newgidmap exist and both files give the caller a range; else single."""
    names = tuple(n for n in (_user_name(uid), str(uid)) if n)
    sub_u = subordinate_range(f"{etc}/subuid", names)
    sub_g = subordinate_range(f"{etc}/subgid", names)
    newuidmap, newgidmap = _helper("newuidmap"), _helper("newgidmap")
    if sub_u and sub_g and newuidmap and newgidmap:
        return Mapping(
            "subid",
            ((0, uid, 1), (1, sub_u[0], sub_u[1])),
            ((0, gid, 1), (1, sub_g[0], sub_g[1])),
            (newuidmap, newgidmap),
        )
    return Mapping("single", ((0, uid, 1),), ((0, gid, 1),))


def check_user(mapping: Mapping, uid: int, gid: int) -> None:
    """A user the namespace cannot hold fails here, in one line, not as EINVAL from setresuid."""
    for what, value, ranges, sub in (("uid", uid, mapping.uids, "subuid"), ("gid", gid, mapping.gids, "subgid")):
        if not _contains(ranges, value):
            if mapping.kind == "single":
                how = f"give your user a range in /etc/{sub} and install newuidmap/newgidmap (package uidmap)"
                raise ContainerError(f"rootless: {what} {value} is not mapped (only 0 is, your own id); {how}")
            top = max(inside + count for inside, _, count in ranges) - 1
            raise ContainerError(f"rootless: {what} {value} is not mapped (0..{top} are, from /etc/{sub})")


def blocker(read=None) -> str | None:  # noqa: ANN001 - a reader for tests: path -> str | None
    """The setting that forbids unprivileged user namespaces on this machine, if one does."""
    read = read or _read_sysctl
    for path, value, what in BLOCKERS:
        if read(path) == value:
            return what
    return None


def _read_sysctl(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def _refused(step: str, err: OSError) -> ContainerError:
    why = blocker()
    if why is not None:
        return ContainerError(f"rootless: {step}: {err.strerror}: this machine forbids it with {why}")
    if _read_sysctl("/proc/sys/kernel/overflowuid") == str(os.getuid()):
        # the kernel wants the creator's ids mapped where it stands
        why = f"uid {os.getuid()} is the overflow id: this process is in a user namespace that does not map it"
        return ContainerError(f"rootless: {step}: {err.strerror}: {why}")
    return ContainerError(f"rootless: {step}: {err.strerror}")


def enter(k: Kernel, mapping: Mapping) -> None:
    """Move this (single-threaded) process into a new user namespace with `mapping`."""
    if mapping.helpers is None:
        _enter_single(k, mapping)
    else:
        _enter_with_helpers(k, mapping)


def _enter_single(k: Kernel, mapping: Mapping) -> None:
    try:
        k.unshare(CLONE_NEWUSER)
    except SyscallError as e:
        raise _refused("cannot create a user namespace", e) from None
    try:
        # why this order: an unprivileged gid_map is refused until setgroups is denied
        k.write_file("/proc/self/setgroups", "deny")
        k.write_file("/proc/self/uid_map", mapping.maps(mapping.uids))
        k.write_file("/proc/self/gid_map", mapping.maps(mapping.gids))
    except SyscallError as e:
        raise _refused(f"cannot write {e.filename}", e) from None


def _enter_with_helpers(k: Kernel, mapping: Mapping) -> None:
    """newuidmap must run in the caller's namespace on our PID: a helper forked before the unshare
    waits for it, runs both tools, and sends back their complaint, if any."""
    assert mapping.helpers is not None
    go_r, go_w = os.pipe()
    result_r, result_w = os.pipe()
    helper = k.fork()
    if helper == 0:  # pragma: no cover - runs in the forked helper
        message = "the newuidmap/newgidmap helper failed"  # what the runtime hears if anything below raises
        try:
            os.close(go_w)
            os.close(result_r)
            os.read(go_r, 1)
            message = _run_helpers(str(os.getppid()), mapping)
        finally:  # why: whatever happens, the helper must never return into the runtime's code
            try:
                os.write(result_w, message.encode())
            finally:
                os._exit(0 if not message else 1)
    os.close(go_r)
    os.close(result_w)
    try:
        try:
            k.unshare(CLONE_NEWUSER)
        finally:
            os.write(go_w, b"x")  # the helper either maps us or finds nothing to map and says so
            os.close(go_w)
        complaint = b""
        while chunk := os.read(result_r, 4096):
            complaint += chunk
    except SyscallError as e:
        raise _refused("cannot create a user namespace", e) from None
    finally:
        os.close(result_r)
        os.waitpid(helper, 0)
    if complaint:
        raise ContainerError(f"rootless: {complaint.decode(errors='replace').strip()}")


def _run_helpers(target: str, mapping: Mapping) -> str:  # pragma: no cover - runs in the helper
    import subprocess  # only the subid path pays for it, in the helper

    assert mapping.helpers is not None
    for tool, ranges in zip(mapping.helpers, (mapping.uids, mapping.gids), strict=True):
        args = [str(n) for line in ranges for n in line]
        try:
            p = subprocess.run([tool, target, *args], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.SubprocessError) as e:
            return f"{os.path.basename(tool)} failed: {e}"
        if p.returncode != 0:
            said = (p.stderr.strip().splitlines() or ["(no message)"])[-1]
            return f"{os.path.basename(tool)} refused {' '.join(args)}: {said}"
    return ""
