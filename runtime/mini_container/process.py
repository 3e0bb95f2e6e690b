"""Parent/child hand-shake, signal forwarding, and the minimal init used when --pid > 1.

Protocol on two pipes, one line per message:
  child → runtime: "ready" (setup done, waiting), "error <exit code> <message>", "status <wait status>"
  runtime → child: "go" (it is in its cgroup now); EOF means the runtime is gone.
"""

import _signal as signal  # why: `signal` only adds enum wrappers, ~2 ms of imports at every start
import os
import select

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs milliseconds at every start; annotations only
    from typing import NoReturn

FORWARDED = frozenset(
    {
        signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2,
        signal.SIGALRM, signal.SIGTERM, signal.SIGWINCH, signal.SIGCONT,
    }
)  # fmt: skip
WAITED = FORWARDED | {signal.SIGCHLD}
SI_KERNEL = 0x80  # si_code of signals the kernel made, e.g. ^C on the terminal


class Channel:
    def __init__(self) -> None:
        self.down_r, self.down_w = os.pipe()  # runtime → child
        self.up_r, self.up_w = os.pipe()  # child → runtime

    # child side --------------------------------------------------------------------------
    def as_child(self) -> None:
        os.close(self.down_w)
        os.close(self.up_r)

    def tell(self, message: str) -> None:
        os.write(self.up_w, (message.replace("\n", " ") + "\n").encode())

    def wait_for_go(self) -> None:
        if os.read(self.down_r, 3) != b"go\n":
            os._exit(125)  # the runtime died during setup: nobody to report to

    def runtime_alive(self) -> bool:
        poller = select.poll()
        poller.register(self.down_r, select.POLLIN)
        return not poller.poll(0)  # POLLHUP once every write end is closed

    # runtime side ------------------------------------------------------------------------
    def as_runtime(self) -> None:
        os.close(self.down_r)
        os.close(self.up_w)

    def read_line(self) -> str:
        data = b""
        while not data.endswith(b"\n"):
            chunk = os.read(self.up_r, 1)
            if not chunk:
                break
            data += chunk
        return data.decode(errors="replace").rstrip("\n")

    def read_rest(self) -> list[str]:
        chunks = []
        while chunk := os.read(self.up_r, 4096):
            chunks.append(chunk)
        return b"".join(chunks).decode(errors="replace").splitlines()

    def go(self) -> None:
        os.write(self.down_w, b"go\n")


def block_signals() -> None:
    """Before fork: signals then queue up for sigwaitinfo instead of hitting Python handlers."""
    signal.pthread_sigmask(signal.SIG_BLOCK, WAITED)


def supervise(pid: int) -> int:
    """Forward signals to pid until it exits; return its raw wait status."""
    while (status := on_signal(pid, signal.sigwaitinfo(WAITED).si_signo)) is None:
        pass
    return status


def on_signal(pid: int, signo: int) -> int | None:
    """One of WAITED arrived: after SIGCHLD, pid's raw wait status if it has exited; any other
    signal is forwarded to pid. (The container has a session of its own: a ^C on the caller's
    terminal reaches only the runtime.)"""
    if signo == signal.SIGCHLD:
        done, status = os.waitpid(pid, os.WNOHANG)
        return status if done == pid else None
    try:
        os.kill(pid, signo)
    except ProcessLookupError:
        pass
    return None


def decode(status: int) -> tuple[int, int | None]:
    """Raw wait status → (exit code as a shell reports it, terminating signal or None)."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        return 128 + sig, sig
    return os.WEXITSTATUS(status), None


def run_init(command_pid: int, channel: Channel) -> "NoReturn":
    """PID 1 when the command asked for another PID: reap orphans, forward signals, pass on status.

    Unlike the command as PID 1, this init has handlers, so SIGTERM and SIGINT reach the command.
    """
    while True:
        info = signal.sigwaitinfo(WAITED)
        if info.si_signo != signal.SIGCHLD:
            if info.si_code != SI_KERNEL:
                try:
                    os.kill(command_pid, info.si_signo)
                except ProcessLookupError:
                    pass
            continue
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                os._exit(125)
            if pid == 0:
                break
            if pid == command_pid:
                channel.tell(f"status {status}")
                os._exit(decode(status)[0])
