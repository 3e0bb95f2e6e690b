"""The runtime as a process on the host under test: fds, signals, a killed runtime, the terminal,
an unmapped caller, the report, the default cgroup parent.

Each test holds the runtime through `mc.start` (`Host.start`): a local process, or one ssh channel
per process in a VM, where the signal goes through a second command. They run on every backend.
"""

from __future__ import annotations

import json
import signal
import time

ROWS, COLS = 33, 101


def _wait_for_cgroup(mc, timeout: float = 60) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = mc.host.cgroup_leftovers(mc.parent)
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError("the container's cgroup never appeared")


def test_only_fds_0_1_2_cross_into_the_container(mc) -> None:
    # the runtime inherits fd 7, as from a careless caller (control below: the shell's own child sees it)
    p = mc.start("ls /proc/self/fd | sort -n | tr '\\n' ' '", redirect="7</dev/null")
    r = p.wait(timeout=120)
    # ls itself holds one more fd (its directory): 0 1 2 and that one
    assert r.rc == 0 and r.stdout.split()[:3] == ["0", "1", "2"] and len(r.stdout.split()) == 4, r
    control = mc.host.run(["sh", "-c", "exec 7</dev/null; ls /proc/self/fd"])
    assert "7" in control.stdout.split(), control


def test_sigterm_is_forwarded(mc) -> None:
    p = mc.start("trap 'echo got-term; exit 42' TERM; echo ready; while :; do sleep 0.1; done")
    assert p.readline() == "ready"
    p.signal(signal.SIGTERM)
    r = p.wait(timeout=60)
    assert (r.rc, r.stdout.split()) == (42, ["ready", "got-term"]), r


def test_sigint_reaches_a_command_under_init(mc) -> None:
    p = mc.start("echo ready; exec sleep 100", "-p", "7")
    assert p.readline() == "ready"
    p.signal(signal.SIGINT)
    assert p.wait(timeout=60).rc == 130


def test_killed_runtime_takes_the_container_along_and_next_run_sweeps(mc) -> None:
    host = mc.host
    p = mc.start("echo ready; sleep 1000")
    assert p.readline() == "ready"
    cgroup_dirs = _wait_for_cgroup(mc)
    # the container's own processes, by PID: other workers may run a `sleep 1000` of their own
    procs = host.run(["sh", "-c", " ".join(f"cat {d}/cgroup.procs;" for d in cgroup_dirs)]).stdout.split()
    assert procs, cgroup_dirs
    p.signal(signal.SIGKILL)
    p.wait(timeout=60)
    alive_script = f"for p in {' '.join(procs)}; do [ -e /proc/$p ] && echo $p; done; true"
    deadline = time.monotonic() + 30
    while alive := host.run(["sh", "-c", alive_script]).stdout.split():
        assert time.monotonic() < deadline, f"the container outlived its runtime: {alive}"
        time.sleep(0.1)
    assert host.cgroup_leftovers(mc.parent) == cgroup_dirs  # nobody removed it yet
    r = mc.sh("true")  # the next run sweeps the stale cgroup
    assert r.rc == 0 and host.cgroup_leftovers(mc.parent) == [], r


def test_attach_warm_up_moves_the_runtime_nowhere(mc) -> None:
    """The start-up warm-up (mini_container/warmup.py) on the host's real kernel: it finds the cgroup
    this process is in, its writes (the warm-up and the renewal) succeed, and the process is still
    where it was."""
    script = (
        "import os; from mini_container import warmup\n"
        "before = open('/proc/self/cgroup').read()\n"
        "w = warmup.start(); w.wait(); w.renew()\n"
        "members = open(w.procs_file).read().split()\n"
        "print(w.succeeded, str(os.getpid()) in members, open('/proc/self/cgroup').read() == before)\n"
    )
    r = mc.host.run([*mc.host.runtime_python(), "-c", script], timeout=120)
    assert (r.rc, r.stdout.split()) == (0, ["True", "True", "True"]), r


PROMPT = b"# "  # root's prompt in busybox ash and dash alike


def typed(p, steps: list[bytes], prompt: bytes | None = PROMPT) -> tuple[int, str]:
    """Type each step on the process's terminal as a person would: a command line once the shell's
    prompt is back (an emulated shell in a software-emulated guest takes seconds to start), a
    control character a moment after the command before it. prompt=None: the prompt does not show
    on the terminal (stdout elsewhere), just type. → its exit code and what the terminal showed."""
    for step in steps:
        if step.endswith(b"\n") and prompt is not None:
            p.expect(prompt, timeout=120)
        else:
            p.pump(1.5)
        p.write(step)
    r = p.wait(timeout=120)  # until the runtime lets go of the terminal
    return r.rc, r.stdout


def test_a_terminal_gets_a_pty_of_its_own(mc) -> None:
    code, shown = typed(mc.start(None, pty=(ROWS, COLS)), [b"tty; stty size\n", b"exit 7\n"])
    # the container's own /dev/pts/0, its size copied from the caller's terminal
    assert code == 7 and f"/dev/pts/0\r\n{ROWS} {COLS}\r\n" in shown, shown
    assert "not a tty" not in shown


def test_keys_typed_while_the_container_starts_reach_it(mc) -> None:
    """Type-ahead: a command typed at once, before the runtime has set up the terminal, still runs
    (as with ssh and runc); setting raw mode with TCSAFLUSH used to throw it away."""
    p = mc.start(None, pty=(ROWS, COLS))
    p.write(b"echo typed-$((6*7)); exit 4\n")
    r = p.wait(timeout=120)
    assert r.rc == 4 and "typed-42" in r.stdout, r


def test_ctrl_c_on_the_terminal_interrupts_the_foreground_command(mc) -> None:
    p = mc.start(None, pty=(ROWS, COLS))
    code, shown = typed(p, [b"sleep 60\n", b"\x03", b"echo status=$?; exit 3\n"])
    assert code == 3 and "status=130" in shown, shown


def test_the_callers_terminal_is_not_the_containers(mc) -> None:
    """stdin a terminal, stdout not (a file): no pty, and the caller's terminal is not the
    container's controlling tty (field 7 of /proc/self/stat is 0), so TIOCSTI cannot type into the
    host's shell. Control: the same field of a host process on that terminal is not 0."""
    out = f"{mc.tmp}/stdout"
    p = mc.start(None, pty=(ROWS, COLS), redirect=f">{out}")
    code, shown = typed(p, [b"cut -d' ' -f7 /proc/self/stat; exit 0\n"], prompt=None)
    assert (code, mc.host.run(["cat", out]).stdout) == (0, "0\n"), shown
    control = mc.host.start(["sh", "-c", "cut -d' ' -f7 /proc/self/stat"], pty=(ROWS, COLS))
    mc.spawned.append(control)
    assert control.wait(timeout=60).stdout.split()[-1] != "0", control.out


def test_an_unmapped_caller_is_125_and_says_why(mc) -> None:
    # a user namespace without a map: the caller is the overflow uid there, which the kernel will not
    # let create another namespace (a rootless run needs its own ids mapped where it stands)
    r = mc.host.run(["unshare", "--user", *mc.host.runtime_command(), "/bin/sh", mc.target.rootfs], timeout=120)
    assert r.rc == 125 and r.stderr == (
        "mini-container: rootless: cannot create a user namespace: Operation not permitted: "
        "uid 65534 is the overflow id: this process is in a user namespace that does not map it\n"
    ), r


def test_report_of_an_ordinary_run(mc) -> None:
    r, report = mc.report("echo hi; exit 5", "-m", "64", "--nproc", "10")
    assert r.rc == 5 and report["exit_code"] == 5 and report["signal"] is None and report["oom_killed"] is False
    assert report["cgroup_version"] == mc.host.cgroup_version() and report["memory_limit_bytes"] == 64 * 2**20
    assert report["pids_limit"] == 10 and 0 < report["duration_seconds"] < 60
    if mc.host.has_cgroup_file("memory.peak", "memory.max_usage_in_bytes"):
        assert 0 < report["memory_peak_bytes"] < 64 * 2**20, report
    else:
        assert report["memory_peak_bytes"] is None, report


def test_report_of_a_runtime_error(mc) -> None:
    path = f"{mc.tmp}/report.json"
    r = mc.run(["--report", path, "-u", "ghost", "/bin/sh", mc.target.rootfs])
    report = json.loads(mc.host.run(["cat", path]).stdout)
    assert r.rc == 125 and report["exit_code"] == 125 and "ghost" in report["error"]


def test_a_run_leaves_no_cgroup_directory_at_all(mc) -> None:
    # the test's own parent did not exist before: the run made it, so the run removes it
    r = mc.sh("true", "-m", "32", "--nproc", "8")
    parents = mc.host.run(["sh", "-c", f"find /sys/fs/cgroup -maxdepth 3 -name {mc.parent}"]).stdout
    assert r.rc == 0 and parents == "", parents


def test_default_cgroup_parent_is_cleaned(host, target) -> None:
    # only this test uses the default parent; its copies for other targets may run on another xdist
    # worker at the same time, so they take turns: a lock on the host under test
    script = (
        f'{" ".join(host.runtime_command())} /bin/sh {target.rootfs} -- -c "cat /proc/self/cgroup" >/dev/null'
        " && find /sys/fs/cgroup -maxdepth 3 -name mini-container"
    )
    r = host.run(["flock", "/tmp/mini-container-e2e-default-parent.lock", "sh", "-c", script], timeout=300)
    assert (r.rc, r.stdout) == (0, ""), r
