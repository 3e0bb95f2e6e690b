"""The one thin layer through which the runtime talks to the kernel.

Every call the container setup makes goes through a `Kernel` object, so unit tests can swap in a
recording fake (tests/unit/fake_kernel.py) and check the order of calls without root. Failures raise
`SyscallError`, which names the call, the path and the errno.
"""

# Every import happens here, not lazily: after pivot_root the host's stdlib is gone.
# _signal: `signal` only wraps it in enums, ~2 ms of imports at every start.
import _signal as signal
import errno
import os
import stat

from . import libc as c

# clone/unshare flags (linux/sched.h)
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

# mount flags (linux/mount.h)
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
MS_STRICTATIME = 1 << 24
MNT_DETACH = 0x2

# prctl options (linux/prctl.h)
PR_SET_PDEATHSIG = 1
PR_SET_KEEPCAPS = 8
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4

CLOSE_RANGE_CLOEXEC = 1 << 2
_LINUX_CAPABILITY_VERSION_3 = 0x20080522

# Only for libcs that lack a wrapper; close_range has one number on every architecture.
_SYSCALL_NUMBERS = {
    "x86_64": {"pivot_root": 155, "close_range": 436, "signalfd4": 289},
    "aarch64": {"pivot_root": 41, "close_range": 436, "signalfd4": 74},
}
# the same on every architecture (the shared table from 5.1 on); glibc 2.35 has no wrappers
_PIDFD_OPEN, _PIDFD_GETFD = 434, 438

_TIOCSCTTY, _TIOCGWINSZ, _TIOCSWINSZ = 0x540E, 0x5413, 0x5414
_SFD_CLOEXEC = 0o2000000

_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1
_AF_INET, _SOCK_DGRAM, _SOCK_CLOEXEC = 2, 2, 0o2000000


class _IfReq(c.Structure):  # struct ifreq, as far as SIOC[GS]IFFLAGS needs it
    _fields_ = [("name", c.c_char * 16), ("flags", c.c_short), ("pad", c.c_char * 22)]


class SyscallError(OSError):
    """A failed kernel call, with its name and the path it was about."""

    def __init__(self, call: str, err: int, path: str | None = None) -> None:
        super().__init__(err, os.strerror(err), path)
        self.call = call

    def __str__(self) -> str:
        where = f" {self.filename}" if self.filename else ""
        name = errno.errorcode.get(self.errno or 0, str(self.errno))
        return f"{self.call}{where}: {self.strerror} ({name})"


class _CapHeader(c.Structure):
    _fields_ = [("version", c.c_uint32), ("pid", c.c_int)]


class _CapData(c.Structure):
    _fields_ = [
        ("effective", c.c_uint32),
        ("permitted", c.c_uint32),
        ("inheritable", c.c_uint32),
    ]


class Kernel:
    """Real kernel calls. Method names follow the syscalls; paths are str."""

    def __init__(self) -> None:
        libc = c.Library()
        self._libc = libc
        c_char_p, c_ulong, c_int = c.c_char_p, c.c_ulong, c.c_int
        libc.mount.argtypes = [c_char_p, c_char_p, c_char_p, c_ulong, c_char_p]
        libc.umount2.argtypes = [c_char_p, c_int]
        libc.unshare.argtypes = [c_int]
        libc.sethostname.argtypes = [c_char_p, c.c_size_t]
        libc.prctl.argtypes = [c_int, c_ulong, c_ulong, c_ulong, c_ulong]
        libc.capset.argtypes = [c.POINTER(_CapHeader), c.POINTER(_CapData)]
        libc.syscall.restype = c.c_long
        libc.socket.argtypes = [c_int, c_int, c_int]
        libc.ioctl.argtypes = [c_int, c_ulong, c.c_void_p]
        self._numbers = _SYSCALL_NUMBERS.get(os.uname().machine, {})

    def _check(self, result: int, call: str, path: str | None = None) -> int:
        if result < 0:
            raise SyscallError(call, c.get_errno(), path)
        return result

    def _wrapper(self, name: str, argtypes: list[type]) -> c.Function | None:
        fn = getattr(self._libc, name, None)
        if fn is not None:
            fn.argtypes = argtypes
        return fn

    # namespaces ---------------------------------------------------------------------------
    def unshare(self, flags: int) -> None:
        self._check(self._libc.unshare(flags), "unshare")

    # mounts -------------------------------------------------------------------------------
    def mount(self, source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
        enc = lambda s: s.encode() if s is not None else None  # noqa: E731
        rc = self._libc.mount(enc(source), target.encode(), enc(fstype), flags, enc(data))
        self._check(rc, f"mount {fstype or source or ''} on".strip(), target)

    def umount2(self, target: str, flags: int) -> None:
        self._check(self._libc.umount2(target.encode(), flags), "umount2", target)

    def pivot_root(self, new_root: str, put_old: str) -> None:
        fn = self._wrapper("pivot_root", [c.c_char_p, c.c_char_p])
        if fn is not None:
            rc = fn(new_root.encode(), put_old.encode())
        else:
            rc = self._libc.syscall(self._numbers["pivot_root"], new_root.encode(), put_old.encode())
        self._check(rc, "pivot_root", new_root)

    # files --------------------------------------------------------------------------------
    def mkdir(self, path: str, mode: int = 0o755) -> None:
        try:
            os.mkdir(path, mode)
        except FileExistsError:
            pass
        except OSError as e:
            raise SyscallError("mkdir", e.errno or 0, path) from None

    def mknod(self, path: str, mode: int, major: int, minor: int) -> None:
        try:
            os.mknod(path, mode, os.makedev(major, minor))
            os.chmod(path, mode & 0o7777)  # why: mknod honours the umask
        except OSError as e:
            raise SyscallError("mknod", e.errno or 0, path) from None

    def symlink(self, target: str, path: str) -> None:
        try:
            os.symlink(target, path)
        except OSError as e:
            raise SyscallError("symlink", e.errno or 0, path) from None

    def touch(self, path: str) -> None:
        try:
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o644))
        except OSError as e:
            raise SyscallError("open", e.errno or 0, path) from None

    def chdir(self, path: str) -> None:
        try:
            os.chdir(path)
        except OSError as e:
            raise SyscallError("chdir", e.errno or 0, path) from None

    def write_file(self, path: str, data: str) -> None:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
            try:
                os.write(fd, data.encode())
            finally:
                os.close(fd)
        except OSError as e:
            raise SyscallError("write", e.errno or 0, path) from None

    def open_write(self, path: str) -> int:
        try:
            return os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        except OSError as e:
            raise SyscallError("open", e.errno or 0, path) from None

    def close(self, fd: int) -> None:
        os.close(fd)

    def write_fd(self, fd: int, data: str, what: str) -> None:
        try:
            os.write(fd, data.encode())
        except OSError as e:
            raise SyscallError("write", e.errno or 0, what) from None

    def locked_flags(self, path: str) -> int:
        """The nosuid/nodev/noexec of the mount that holds path: a user namespace may not clear them."""
        try:
            flags = os.statvfs(path).f_flag
        except OSError as e:
            raise SyscallError("statvfs", e.errno or 0, path) from None
        return flags & (MS_NOSUID | MS_NODEV | MS_NOEXEC)  # ST_* equal MS_* for these three

    def stat_kind(self, path: str) -> str | None:
        """'dir', 'file' (anything else that exists) or None."""
        try:
            return "dir" if stat.S_ISDIR(os.stat(path).st_mode) else "file"
        except OSError:
            return None

    # identity -----------------------------------------------------------------------------
    def sethostname(self, name: str) -> None:
        raw = name.encode()
        self._check(self._libc.sethostname(raw, len(raw)), "sethostname", name)

    def setgroups(self, groups: list[int]) -> None:
        try:
            os.setgroups(groups)
        except OSError as e:
            raise SyscallError("setgroups", e.errno or 0) from None

    def setresgid(self, gid: int) -> None:
        try:
            os.setresgid(gid, gid, gid)
        except OSError as e:
            raise SyscallError("setresgid", e.errno or 0, str(gid)) from None

    def setresuid(self, uid: int) -> None:
        try:
            os.setresuid(uid, uid, uid)
        except OSError as e:
            raise SyscallError("setresuid", e.errno or 0, str(uid)) from None

    # capabilities and process attributes -------------------------------------------------
    def prctl(self, option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
        return self._check(self._libc.prctl(option, arg2, arg3, arg4, arg5), f"prctl({option})")

    def capset(self, effective: int, permitted: int, inheritable: int) -> None:
        header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
        data = (_CapData * 2)()
        for i, shift in enumerate((0, 32)):
            data[i].effective = (effective >> shift) & 0xFFFFFFFF
            data[i].permitted = (permitted >> shift) & 0xFFFFFFFF
            data[i].inheritable = (inheritable >> shift) & 0xFFFFFFFF
        self._check(self._libc.capset(c.byref(header), data), "capset")

    def set_cloexec_from(self, first_fd: int) -> None:
        """Mark every fd >= first_fd close-on-exec (CVE-2024-21626: no host fd may leak)."""
        fn = self._wrapper("close_range", [c.c_uint, c.c_uint, c.c_int])
        if fn is not None:
            rc = fn(first_fd, 0xFFFFFFFF, CLOSE_RANGE_CLOEXEC)
        else:
            rc = self._libc.syscall(self._numbers.get("close_range", 436), first_fd, 0xFFFFFFFF, CLOSE_RANGE_CLOEXEC)
        if rc == 0:
            return
        # Kernels before 5.11 lack CLOSE_RANGE_CLOEXEC: walk the fd table instead.
        for name in os.listdir("/proc/self/fd"):
            fd = int(name)
            if fd >= first_fd:
                try:
                    os.set_inheritable(fd, False)
                except OSError:
                    pass  # the directory fd listdir used is already gone

    def set_link_up(self, ifname: str) -> None:
        """Bring an interface up (the loopback of a fresh network namespace starts down).

        Through libc, not the socket and fcntl modules, which cost milliseconds to import.
        """
        fd = self._check(self._libc.socket(_AF_INET, _SOCK_DGRAM | _SOCK_CLOEXEC, 0), "socket")
        try:
            req = _IfReq(name=ifname.encode())
            self._check(self._libc.ioctl(fd, _SIOCGIFFLAGS, c.byref(req)), "ioctl(SIOCGIFFLAGS)", ifname)
            req.flags |= _IFF_UP
            self._check(self._libc.ioctl(fd, _SIOCSIFFLAGS, c.byref(req)), "ioctl(SIOCSIFFLAGS)", ifname)
        finally:
            os.close(fd)

    # terminal ------------------------------------------------------------------------------
    def setsid(self) -> None:
        try:
            os.setsid()
        except OSError as e:
            raise SyscallError("setsid", e.errno or 0) from None

    def open_pty(self) -> tuple[int, int]:
        """A new pty from /dev/ptmx as this process sees it: (master, slave), both close-on-exec."""
        try:
            return os.openpty()
        except OSError as e:
            raise SyscallError("openpty", e.errno or 0, "/dev/ptmx") from None

    def set_controlling_tty(self, fd: int) -> None:
        self._check(self._libc.ioctl(fd, _TIOCSCTTY, None), "ioctl(TIOCSCTTY)")

    def dup_onto_stdio(self, fd: int) -> None:
        for target in (0, 1, 2):
            os.dup2(fd, target)

    def take_fd(self, pid: int, fd: int) -> int:
        """A copy of another process's fd (pidfd_getfd, Linux 5.6): how the runtime gets the pty
        master that the container opened in its own devpts."""
        pidfd = self._check(self._libc.syscall(_PIDFD_OPEN, pid, 0), "pidfd_open")
        try:
            return self._check(self._libc.syscall(_PIDFD_GETFD, pidfd, fd, 0), "pidfd_getfd")
        finally:
            os.close(pidfd)

    def get_winsize(self, fd: int) -> bytes | None:
        size = c.string_buffer(8)  # struct winsize: 4 unsigned shorts
        return size.raw if self._libc.ioctl(fd, _TIOCGWINSZ, size) == 0 else None

    def set_winsize(self, fd: int, size: bytes) -> None:
        self._libc.ioctl(fd, _TIOCSWINSZ, c.string_buffer(8, size))

    def signalfd(self, signals: frozenset[int]) -> int:
        """An fd that becomes readable when one of `signals` (blocked) is pending: lets one poll()
        wait for terminal input, container output and signals at once."""
        mask = c.c_uint64(sum(1 << (s - 1) for s in signals))
        number = self._numbers.get("signalfd4")
        if number is None:
            raise SyscallError("signalfd4", errno.ENOSYS)
        return self._check(self._libc.syscall(number, -1, c.byref(mask), 8, _SFD_CLOEXEC), "signalfd4")

    def fork(self) -> int:
        return os.fork()

    def reset_signals(self) -> None:
        """Undo what Python set up: its ignored SIGPIPE/SIGXFSZ and our blocked mask survive exec."""
        for sig in (signal.SIGPIPE, signal.SIGXFSZ):
            signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, set())

    def execve(self, path: str, argv: list[str], env: dict[str, str]) -> None:
        try:
            os.execve(path, argv, env)
        except OSError as e:
            raise SyscallError("execve", e.errno or 0, path) from None
