"""Processes held on a host (`Host.start`): the PID there, signals, stdin, output, a wait with a
timeout, a terminal of its own; one class per transport, as hosts.py has one per host."""

from __future__ import annotations

import os
import select
import shlex
import signal
import subprocess
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .hosts import SshHost


@dataclass(frozen=True)
class CommandResult:
    rc: int
    stdout: str
    stderr: str

    def __str__(self) -> str:
        return f"rc={self.rc}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"


class Process:
    """A process started on a host and kept hold of (`Host.start`): its PID on that host, signals,
    stdin, its output so far, and a wait with a timeout. On a terminal (`pty=(rows, cols)`) stdout and
    stderr are that terminal, as for a person typing. Whatever a test does, `kill` (idempotent)
    ends and reaps it: the fixtures call it in teardown."""

    pid: int

    def __init__(self) -> None:
        self.out, self.err = bytearray(), bytearray()
        self._read_to = 0  # readline's position in out
        self._expect_from = 0  # expect's
        self.rc: int | None = None

    # transport-specific ------------------------------------------------------------------------
    def _pump_once(self, timeout: float) -> bool:
        """Read what is there (waiting up to timeout); False once the process has ended and every
        stream is drained."""
        raise NotImplementedError

    def write(self, data: bytes) -> None:
        raise NotImplementedError

    def signal(self, sig: int) -> None:
        raise NotImplementedError

    def _release(self) -> None:
        """Free the transport (pipes, pty, channel) once the process is gone."""

    # shared ------------------------------------------------------------------------------------
    def pump(self, seconds: float) -> None:
        """Collect output for `seconds` (or until the process ends)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and self._pump_once(min(0.1, max(0.0, deadline - time.monotonic()))):
            pass

    def expect(self, needle: bytes, timeout: float = 60) -> bytes:
        """Wait until `needle` shows in the output after the previous expect (a prompt, say);
        → the output up to and including it."""
        deadline = time.monotonic() + timeout
        start = self._expect_from
        while (at := self.out.find(needle, start)) < 0:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{needle!r} not seen from PID {self.pid} in {timeout}s; output: {bytes(self.out)!r}"
                )
            if not self._pump_once(0.1):
                raise EOFError(f"PID {self.pid} ended before {needle!r}; output: {bytes(self.out)!r}")
        self._expect_from = at + len(needle)
        return bytes(self.out[start : self._expect_from])

    def readline(self, timeout: float = 60) -> str:
        """The next line of stdout (of the terminal, on a pty), without its line ending."""
        deadline = time.monotonic() + timeout
        while (end := self.out.find(b"\n", self._read_to)) < 0:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no line from PID {self.pid} in {timeout}s; so far: {bytes(self.out)!r}")
            if not self._pump_once(0.1):
                raise EOFError(f"PID {self.pid} ended without a line; output: {bytes(self.out)!r}")
        line = self.out[self._read_to : end].decode(errors="replace").rstrip("\r")
        self._read_to = end + 1
        return line

    def wait(self, timeout: float = 60) -> CommandResult:
        """Until the process has ended and its output is drained. → its exit status (-1 when a signal
        ended it) with everything it wrote."""
        deadline = time.monotonic() + timeout
        while self._pump_once(0.1):
            if time.monotonic() > deadline:
                raise TimeoutError(f"PID {self.pid} still running after {timeout}s")
        self._release()
        assert self.rc is not None
        return CommandResult(self.rc, self.out.decode(errors="replace"), self.err.decode(errors="replace"))

    def kill(self) -> None:
        """SIGKILL unless it has ended, then reap it and free the transport."""
        if self.rc is None:
            try:
                self.signal(signal.SIGKILL)
            except OSError:  # ProcessLookupError: it has just ended
                pass
            try:
                self.wait(timeout=30)
            except (TimeoutError, OSError):
                pass
        self._release()


class LocalProcess(Process):
    def __init__(self, argv: list[str], pty: tuple[int, int] | None = None) -> None:
        super().__init__()
        self._master: int | None = None
        if pty is None:
            self._p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            self._fds = {self._p.stdout.fileno(): self.out, self._p.stderr.fileno(): self.err}
        else:
            import fcntl
            import struct
            import termios

            master, slave = os.openpty()
            fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", pty[0], pty[1], 0, 0))
            # setsid -c: a new session whose controlling terminal is stdin, as a login shell has
            self._p = subprocess.Popen(["setsid", "-c", *argv], stdin=slave, stdout=slave, stderr=slave)
            os.close(slave)
            self._master = master
            self._fds = {master: self.out}
        self.pid = self._p.pid

    def _pump_once(self, timeout: float) -> bool:
        if self._fds:
            for fd in select.select(list(self._fds), [], [], timeout)[0]:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:  # EIO: nobody holds the terminal any more
                    chunk = b""
                if chunk:
                    self._fds[fd].extend(chunk)
                else:
                    del self._fds[fd]
            return True
        code = self._p.poll()
        if code is None:
            time.sleep(timeout)
            return True
        self.rc = code if code >= 0 else -1
        return False

    def write(self, data: bytes) -> None:
        if self._master is not None:
            os.write(self._master, data)
        else:
            self._p.stdin.write(data)
            self._p.stdin.flush()

    def signal(self, sig: int) -> None:
        self._p.send_signal(sig)

    def _release(self) -> None:
        for stream in (self._p.stdin, self._p.stdout, self._p.stderr):
            if stream is not None:
                stream.close()
        if self._master is not None:
            os.close(self._master)
            self._master = None
        if self.rc is None and self._p.poll() is not None:
            self.rc = self._p.returncode if self._p.returncode >= 0 else -1


class SshProcess(Process):
    """A process on an ssh host: one channel of its own (with a pty when asked), started through
    `sh -c 'echo $$; exec ...'` (as root) so that the first line names its PID there; a signal goes
    through a second command (`kill -SIG PID`) as sshd forwards none."""

    def __init__(self, host: SshHost, argv: list[str], pty: tuple[int, int] | None) -> None:
        super().__init__()
        self._host = host
        self._channel = host._connect().get_transport().open_session()
        if pty is not None:
            self._channel.get_pty(term="xterm", width=pty[1], height=pty[0])
        self._channel.exec_command(host.as_root("echo $$; exec " + shlex.join(argv)))
        self._channel.settimeout(0.0)
        self.pid = int(self.readline(timeout=60))
        del self.out[: self._read_to]  # the PID line is the lab's, not the process's output
        self._read_to = 0

    def _pump_once(self, timeout: float) -> bool:
        ch = self._channel
        if ch.recv_ready() or ch.recv_stderr_ready():
            while ch.recv_ready():
                self.out.extend(ch.recv(65536))
            while ch.recv_stderr_ready():
                self.err.extend(ch.recv_stderr(65536))
            return True
        if ch.exit_status_ready():
            self.rc = ch.recv_exit_status()  # -1 when the process died of a signal (exit-signal)
            return False
        time.sleep(timeout)
        return True

    def write(self, data: bytes) -> None:
        self._channel.sendall(data)

    def signal(self, sig: int) -> None:
        r = self._host.run(["kill", f"-{int(sig)}", str(self.pid)])
        if r.rc != 0 and self.rc is None and not self._channel.exit_status_ready():
            raise ProcessLookupError(f"kill -{int(sig)} {self.pid} on {self._host.name}: {r.stderr.strip()}")

    def _release(self) -> None:
        self._channel.close()
