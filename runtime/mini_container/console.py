"""The container's terminal: a pty of its own devpts, relayed by the runtime (as runc and crun do).

why not hand the host's terminal in: the container would share the caller's session, so a process
inside could push keystrokes into the host shell with TIOCSTI (CVE-2017-5226 in bubblewrap; no
capability needed on kernels before 6.2), and `tty` would name a device the container cannot see.
"""

import _signal as signal  # why: `signal` only adds enum wrappers, ~2 ms of imports at every start
import errno
import os
import select
import sys

from .process import WAITED, on_signal
from .syscalls import Kernel


def wanted() -> bool:
    """Like `docker run -it`, but decided by the caller's fds: a terminal on both ends."""
    return os.isatty(0) and os.isatty(1)


def attach_new_pty(k: Kernel) -> int:
    """Child side, after pivot_root: a pty from the container's /dev/ptmx becomes the controlling
    terminal and fds 0, 1, 2. Returns the master fd for the runtime to take (close-on-exec)."""
    master, slave = k.open_pty()
    k.set_controlling_tty(slave)  # why: setsid() came first, so this session has no terminal yet
    k.dup_onto_stdio(slave)
    k.close(slave)
    return master


class RawTerminal:
    """The caller's terminal in raw mode while the container runs: keys go to the container's pty
    unchanged (^C included, so its own line discipline makes the SIGINT)."""

    def __init__(self, fd: int) -> None:
        import termios  # only with a terminal: most runs never pay for it

        self.fd, self._termios = fd, termios
        self.saved = termios.tcgetattr(fd)

    def __enter__(self) -> "RawTerminal":
        mode = self._termios.tcgetattr(self.fd)
        t = self._termios
        mode[0] &= ~(t.BRKINT | t.ICRNL | t.INPCK | t.ISTRIP | t.IXON)
        mode[1] &= ~t.OPOST
        mode[2] = (mode[2] & ~(t.CSIZE | t.PARENB)) | t.CS8
        mode[3] &= ~(t.ECHO | t.ICANON | t.IEXTEN | t.ISIG)
        mode[6][t.VMIN], mode[6][t.VTIME] = 1, 0
        # TCSADRAIN, not TCSAFLUSH: keys typed while the container starts reach it (ssh and runc
        # keep type-ahead too; a flush lost the first command typed into a slow-starting shell)
        self._termios.tcsetattr(self.fd, t.TCSADRAIN, mode)
        return self

    def __exit__(self, *exc: object) -> None:
        self._termios.tcsetattr(self.fd, self._termios.TCSADRAIN, self.saved)


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data) :]


def copy_window_size(k: Kernel, master: int) -> None:
    """The caller's terminal size onto the pty; the kernel then sends SIGWINCH to its foreground."""
    size = k.get_winsize(0)
    if size is not None:
        k.set_winsize(master, size)


def run_on_terminal(pid: int, master: int, k: Kernel) -> int:
    """The runtime's side while the container has a pty: its raw wait status, the terminal restored."""
    copy_window_size(k, master)
    with RawTerminal(0):
        return relay(pid, master, k)


def relay(pid: int, master: int, k: Kernel) -> int:
    """Copy the caller's terminal to the pty and back, forward signals, resize on SIGWINCH, until
    pid exits; then drain what the container still wrote. Returns pid's raw wait status."""
    signals = k.signalfd(WAITED)
    poller = select.poll()
    for fd in (0, master, signals):
        poller.register(fd, select.POLLIN)
    status = None
    try:
        while status is None:
            for fd, _ in poller.poll():
                if fd == signals:
                    status = _on_signal(pid, master, signals, k)
                    if status is not None:
                        break
                elif fd == 0:
                    data = _read(0)
                    if data:
                        _write_all(master, data)
                    else:  # the caller's input is gone: stop listening, the container decides
                        poller.unregister(0)
                elif fd == master:
                    data = _read(master)
                    if data:
                        _write_all(1, data)
                    else:
                        poller.unregister(master)
        os.set_blocking(master, False)
        while data := _read(master):  # output written just before the exit
            _write_all(1, data)
        return status
    finally:
        os.close(signals)
        os.close(master)


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, 65536)
    except OSError as e:
        if e.errno in (errno.EIO, errno.EAGAIN):  # EIO: every slave end is closed
            return b""
        raise


def _on_signal(pid: int, master: int, signals: int, k: Kernel) -> int | None:
    info = os.read(signals, 128)  # struct signalfd_siginfo; ssi_signo is its first u32
    signo = int.from_bytes(info[:4], sys.byteorder)
    if signo == signal.SIGWINCH:  # the pty's size follows the caller's; nothing to forward
        copy_window_size(k, master)
        return None
    return on_signal(pid, signo)
