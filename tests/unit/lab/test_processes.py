"""Processes held on the local host, for real (the ssh transport runs in every e2e run in the guests)."""

from __future__ import annotations

from pathlib import Path

import pytest

from minilab.hosts import LocalHost


def test_a_started_process_is_held_signalled_and_waited_for() -> None:
    import signal

    p = LocalHost().start(
        ["sh", "-c", "trap 'echo term; exit 9' TERM; echo $$; read x; echo got $x; while :; do sleep 0.1; done"]
    )
    assert int(p.readline()) == p.pid  # the PID is the process's own on this host
    p.write(b"hello\n")
    assert p.readline() == "got hello"
    p.signal(signal.SIGTERM)
    r = p.wait(timeout=10)
    assert (r.rc, r.stdout.splitlines()[-1]) == (9, "term"), r


def test_a_process_on_a_terminal_sees_its_size_and_its_typing() -> None:
    p = LocalHost().start(["sh", "-c", "stty size; tty; read x; echo typed=$x"], pty=(12, 34))
    p.pump(0.5)
    p.write(b"abc\n")
    r = p.wait(timeout=10)
    assert r.rc == 0 and "12 34\r\n/dev/pts/" in r.stdout and "typed=abc" in r.stdout, r


def test_wait_times_out_and_kill_reaps() -> None:
    p = LocalHost().start(["sleep", "30"])
    with pytest.raises(TimeoutError, match="still running"):
        p.wait(timeout=0.3)
    p.kill()
    assert p.rc == -1 and not Path(f"/proc/{p.pid}").exists()  # reaped: not even a zombie
    p.kill()  # idempotent


def test_readline_from_a_process_that_ends_silently_says_so() -> None:
    p = LocalHost().start(["true"])
    with pytest.raises(EOFError, match="ended without a line"):
        p.readline(timeout=10)
