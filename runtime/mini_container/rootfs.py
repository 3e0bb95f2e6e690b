"""Mount steps that build the container's view of the filesystem, then switch root into it.

Paths and masks follow runc's defaults; every target is resolved inside the rootfs first, so a
symlink in the rootfs cannot point a mount at the host.
"""

import stat

from .paths import secure_join
from .spec import Volume
from .syscalls import (
    MNT_DETACH,
    MS_BIND,
    MS_NODEV,
    MS_NOEXEC,
    MS_NOSUID,
    MS_PRIVATE,
    MS_RDONLY,
    MS_REC,
    MS_REMOUNT,
    MS_STRICTATIME,
    Kernel,
)

DEVICES = (  # name, major, minor: what every container expects in /dev
    ("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0),
)  # fmt: skip
DEV_LINKS = (
    ("/proc/self/fd", "fd"), ("/proc/self/fd/0", "stdin"), ("/proc/self/fd/1", "stdout"),
    ("/proc/self/fd/2", "stderr"), ("pts/ptmx", "ptmx"),
)  # fmt: skip
MASKED = (
    "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
    "/sys/firmware", "/sys/devices/virtual/powercap",
)  # fmt: skip
READONLY = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")


def make_mounts_private(k: Kernel) -> None:
    # why: the host's / is usually shared; without this our mounts would propagate back to it
    k.mount(None, "/", None, MS_REC | MS_PRIVATE)


def bind_rootfs(k: Kernel, rootfs: str) -> None:
    # why: pivot_root needs the new root to be a mount point of its own
    k.mount(rootfs, rootfs, None, MS_BIND | MS_REC)


def _mkdirs(k: Kernel, rootfs: str, inside: str) -> str:
    """mkdir -p inside the rootfs (mount points may be missing in a minimal rootfs)."""
    current = ""
    for part in [p for p in inside.split("/") if p]:
        current = f"{current}/{part}"
        host = secure_join(rootfs, current)
        if k.stat_kind(host) is None:
            k.mkdir(host)
    return secure_join(rootfs, inside)


def mount_volumes(k: Kernel, rootfs: str, volumes: tuple[Volume, ...]) -> None:
    for volume in volumes:
        if k.stat_kind(volume.source) == "dir":
            target = _mkdirs(k, rootfs, volume.target)
        else:
            parent, _, name = volume.target.rpartition("/")
            target = secure_join(_mkdirs(k, rootfs, parent or "/"), name)
            if k.stat_kind(target) is None:
                k.touch(target)
        k.mount(volume.source, target, None, MS_BIND | MS_REC)
        if volume.readonly:
            # why: the kernel ignores MS_RDONLY on the first bind; only a remount applies it, and
            # in a user namespace the remount must keep the source's nosuid/nodev/noexec (locked)
            k.mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | k.locked_flags(volume.source))


def mount_proc(k: Kernel, rootfs: str) -> None:
    # why: a fresh proc shows the new PID namespace (we are its PID 1 by now)
    k.mount("proc", _mkdirs(k, rootfs, "/proc"), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)


def mount_dev(k: Kernel, rootfs: str, bind_devices: bool = False) -> None:
    dev = _mkdirs(k, rootfs, "/dev")
    k.mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k")
    for name, major, minor in DEVICES:
        if bind_devices:  # why: a user namespace may not mknod; runc binds the host's nodes instead
            k.touch(f"{dev}/{name}")
            k.mount(f"/dev/{name}", f"{dev}/{name}", None, MS_BIND)
        else:
            k.mknod(f"{dev}/{name}", stat.S_IFCHR | 0o666, major, minor)
    k.mkdir(f"{dev}/pts")
    k.mount("devpts", f"{dev}/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620")
    k.mkdir(f"{dev}/shm", 0o1777)
    k.mount("shm", f"{dev}/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k")
    for target, name in DEV_LINKS:
        k.symlink(target, f"{dev}/{name}")


def mount_sys(k: Kernel, rootfs: str, fresh: bool = True) -> None:
    target = _mkdirs(k, rootfs, "/sys")
    if fresh:
        k.mount("sysfs", target, "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)
        return
    # why: a user namespace may mount sysfs only with a network namespace of its own (--net host
    # rootless has none); then the host's /sys is bound read-only, as runc and crun do
    k.mount("/sys", target, None, MS_BIND | MS_REC)
    k.mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)


def mask_paths(k: Kernel, rootfs: str) -> None:
    """Hide kernel internals (runc's maskedPaths) and freeze kernel knobs (readonlyPaths)."""
    for inside in MASKED:
        path = secure_join(rootfs, inside)
        kind = k.stat_kind(path)
        if kind == "dir":
            k.mount("tmpfs", path, "tmpfs", MS_RDONLY)
        elif kind is not None:
            k.mount("/dev/null", path, None, MS_BIND)  # still the host's /dev/null: not pivoted yet
    for inside in READONLY:
        path = secure_join(rootfs, inside)
        if k.stat_kind(path) is None:
            continue
        k.mount(path, path, None, MS_BIND | MS_REC)
        # why: as above, read-only takes a remount of the bind
        k.mount(None, path, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)


def pivot(k: Kernel, rootfs: str) -> None:
    k.chdir(rootfs)
    # why: pivot_root(".", ".") stacks the old root on top of the new one, so no put_old
    # directory is needed in the rootfs (runc's trick); then the old root is detached
    k.pivot_root(".", ".")
    k.umount2(".", MNT_DETACH)
    k.chdir("/")
