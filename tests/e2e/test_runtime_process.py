"""The runtime as a process on this host: fds, signals, a killed runtime, root, report.

These need direct control of the runtime process, so they use the local host only.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import signal
import struct
import subprocess
import sys
import termios
import time

import pytest

from minilab.hosts import LocalHost


def _spawn(mc, script: str, *options: str, **kwargs) -> subprocess.Popen:
    argv = [sys.executable, "-m", "mini_container", "--cgroup-parent", mc.parent, *options]
    argv += ["/bin/sh", mc.target.rootfs, "--", "-c", script]
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)
    mc.spawned.append(p)  # the mc fixture kills and reaps it whatever the outcome
    return p


def _wait_for_cgroup(mc, timeout: float = 20) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = mc.host.cgroup_leftovers(mc.parent)
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError("the container's cgroup never appeared")


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return ""


def test_only_fds_0_1_2_cross_into_the_container(local) -> None:
    leak_r, leak_w = os.pipe()
    os.set_inheritable(leak_w, True)  # the runtime inherits fd leak_w, as from a careless caller
    try:
        p = _spawn(local, "ls /proc/self/fd | sort -n | tr '\\n' ' '", pass_fds=(leak_w,))
        out, err = p.communicate(timeout=60)
    finally:
        os.close(leak_r)
        os.close(leak_w)
    # ls itself holds one more fd (its directory): 0 1 2 and that one
    assert p.returncode == 0 and out.split()[:3] == ["0", "1", "2"] and len(out.split()) == 4, (out, err)


def test_sigterm_is_forwarded(local) -> None:
    p = _spawn(local, "trap 'echo got-term; exit 42' TERM; echo ready; while :; do sleep 0.1; done")
    assert p.stdout.readline().strip() == "ready"
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=30)
    assert (p.returncode, out.strip()) == (42, "got-term"), err


def test_sigint_reaches_a_command_under_init(local) -> None:
    p = _spawn(local, "echo ready; exec sleep 100", "-p", "7")
    assert p.stdout.readline().strip() == "ready"
    p.send_signal(signal.SIGINT)
    p.communicate(timeout=30)
    assert p.returncode == 130


def test_killed_runtime_takes_the_container_along_and_next_run_sweeps(local) -> None:
    p = _spawn(local, "echo ready; sleep 1000")
    assert p.stdout.readline().strip() == "ready"
    cgroup_dirs = _wait_for_cgroup(local)
    # the container's own processes, by PID: other workers may run a `sleep 1000` of their own
    container_pids = {pid for d in cgroup_dirs for pid in _read(f"{d}/cgroup.procs").split()}
    assert container_pids, cgroup_dirs
    p.kill()
    p.communicate(timeout=10)
    deadline = time.monotonic() + 10
    while alive := [pid for pid in container_pids if os.path.exists(f"/proc/{pid}")]:
        assert time.monotonic() < deadline, f"the container outlived its runtime: {alive}"
        time.sleep(0.05)
    assert local.host.cgroup_leftovers(local.parent) == cgroup_dirs  # nobody removed it yet
    r = local.sh("true")  # the next run sweeps the stale cgroup
    assert r.rc == 0 and local.host.cgroup_leftovers(local.parent) == [], r


def test_attach_warm_up_moves_the_runtime_nowhere(local) -> None:
    """The start-up warm-up (mini_container/warmup.py) on the real kernel: it finds the cgroup this
    process is in, its writes (the warm-up and the renewal) succeed, and the process is still where it was."""
    script = (
        "import os; from mini_container import warmup\n"
        "before = open('/proc/self/cgroup').read()\n"
        "w = warmup.start(); w.wait(); w.renew()\n"
        "members = open(w.procs_file).read().split()\n"
        "print(w.succeeded, str(os.getpid()) in members, open('/proc/self/cgroup').read() == before)\n"
    )
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert (r.returncode, r.stdout.split()) == (0, ["True", "True", "True"]), r


def _on_a_terminal(mc, steps: list[bytes], *options: str, stdout_pipe: bool = False) -> tuple[int, str, str]:
    """Run the runtime on a fresh pty of 33x101 as its caller's (controlling) terminal, type each
    step; return the exit code, what the terminal showed and, with stdout_pipe (then only stdin and
    stderr are the terminal), what came through the pipe."""
    argv = [sys.executable, "-m", "mini_container", "--cgroup-parent", mc.parent, *options, "/bin/sh", mc.target.rootfs]
    return _typed(argv, steps, stdout_pipe, owner=mc)


def _typed(argv: list[str], steps: list[bytes], stdout_pipe: bool = False, owner=None) -> tuple[int, str, str]:  # noqa: ANN001
    master, slave = os.openpty()
    fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 101, 0, 0))
    # setsid -c: a new session whose controlling terminal is stdin, as a login shell has
    p = subprocess.Popen(["setsid", "-c", *argv], stdin=slave, stderr=slave,
                         stdout=subprocess.PIPE if stdout_pipe else slave)  # fmt: skip
    if owner is not None:
        owner.spawned.append(p)
    os.close(slave)
    pipe = p.stdout.fileno() if p.stdout is not None else None
    sources = [fd for fd in (master, pipe) if fd is not None]
    out = {fd: bytearray() for fd in sources}

    def pump(seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while sources and time.monotonic() < deadline:
            for ready in select.select(sources, [], [], 0.1)[0]:
                try:
                    chunk = os.read(ready, 4096)
                except OSError:  # EIO: nobody holds the terminal any more
                    chunk = b""
                if chunk:
                    out[ready].extend(chunk)
                else:
                    sources.remove(ready)

    pump(1.0)
    for step in steps:
        os.write(master, step)
        pump(1.0)
    pump(30)  # until the runtime lets go of the terminal (and the pipe)
    code = p.wait(timeout=30)
    os.close(master)
    if p.stdout is not None:
        p.stdout.close()
    piped = out[pipe].decode(errors="replace") if pipe is not None else ""
    return code, out[master].decode(errors="replace"), piped


def test_a_terminal_gets_a_pty_of_its_own(local) -> None:
    code, shown, _ = _on_a_terminal(local, [b"tty; stty size\n", b"exit 7\n"])
    # the container's own /dev/pts/0, its size copied from the caller's terminal
    assert code == 7 and "/dev/pts/0\r\n33 101\r\n" in shown, shown
    assert "not a tty" not in shown


def test_ctrl_c_on_the_terminal_interrupts_the_foreground_command(local) -> None:
    code, shown, _ = _on_a_terminal(local, [b"sleep 60\n", b"\x03", b"echo status=$?; exit 3\n"])
    assert code == 3 and "status=130" in shown, shown


def test_the_callers_terminal_is_not_the_containers(local) -> None:
    """stdin a terminal, stdout a pipe: no pty, and the caller's terminal is not the container's
    controlling tty (field 7 of /proc/self/stat is 0), so TIOCSTI cannot type into the host's shell.
    Control: the same field of a host process on that terminal is not 0."""
    step = b"cut -d' ' -f7 /proc/self/stat; exit 0\n"
    code, shown, piped = _on_a_terminal(local, [step], stdout_pipe=True)
    assert (code, piped) == (0, "0\n"), (shown, piped)
    _, control, _ = _typed(["/bin/sh", "-c", "cut -d' ' -f7 /proc/self/stat"], [])
    assert control.split()[-1] != "0", control


def test_an_unmapped_caller_is_125_and_says_why(local) -> None:
    # a user namespace without a map: the caller is the overflow uid there, which the kernel will not
    # let create another namespace (a rootless run needs its own ids mapped where it stands)
    r = subprocess.run(
        ["unshare", "--user", sys.executable, "-m", "mini_container", "/bin/sh", local.target.rootfs],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == 125 and r.stderr == (
        "mini-container: rootless: cannot create a user namespace: Operation not permitted: "
        "uid 65534 is the overflow id: this process is in a user namespace that does not map it\n"
    ), r


def test_report_of_an_ordinary_run(local, tmp_path) -> None:
    path = tmp_path / "report.json"
    r = local.sh("echo hi; exit 5", "--report", str(path), "-m", "64", "--nproc", "10")
    report = json.loads(path.read_text())
    assert r.rc == 5 and report["exit_code"] == 5 and report["signal"] is None and report["oom_killed"] is False
    assert report["cgroup_version"] in ("v1", "v2") and report["memory_limit_bytes"] == 64 * 2**20
    assert report["pids_limit"] == 10 and 0 < report["duration_seconds"] < 60
    if local.host.has_cgroup_file("memory.peak", "memory.max_usage_in_bytes"):
        assert 0 < report["memory_peak_bytes"] < 64 * 2**20, report
    else:
        assert report["memory_peak_bytes"] is None, report


def test_report_of_a_runtime_error(local, tmp_path) -> None:
    path = tmp_path / "report.json"
    r = local.run(["--report", str(path), "-u", "ghost", "/bin/sh", local.target.rootfs])
    report = json.loads(path.read_text())
    assert r.rc == 125 and report["exit_code"] == 125 and "ghost" in report["error"]


def test_a_run_leaves_no_cgroup_directory_at_all(local) -> None:
    # the test's own parent did not exist before: the run made it, so the run removes it
    r = local.sh("true", "-m", "32", "--nproc", "8")
    parents = local.host.run(["sh", "-c", f"find /sys/fs/cgroup -maxdepth 3 -name {local.parent}"]).stdout
    assert r.rc == 0 and parents == "", parents


def test_default_cgroup_parent_is_cleaned(host, target) -> None:
    if not isinstance(host, LocalHost):
        pytest.skip("local")
    # only this test uses the default parent; its copies for other targets may run on another
    # xdist worker at the same time, so they take turns
    with open("/tmp/mini-container-e2e-default-parent.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        r = host.mini_container(["/bin/sh", target.rootfs, "--", "-c", "cat /proc/self/cgroup"])
        left = host.run(["sh", "-c", "find /sys/fs/cgroup -maxdepth 3 -name mini-container"]).stdout
    assert r.rc == 0 and left == "", (r, left)
