"""Exit status: the command's own, 128+N on a signal, and the runtime's documented codes.

Every bad input gets one line on stderr and leaves nothing behind (the `mc` fixture checks it).
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.rootless


@pytest.mark.parametrize("code", [0, 3, 255])
def test_own_exit_code(mc, code: int) -> None:
    assert mc.sh(f"exit {code}").rc == code


def test_killed_by_sigint_is_130(mc) -> None:
    # a command that is not PID 1 can die of its own SIGINT (PID 1 ignores signals it has no handler for)
    assert mc.sh("kill -INT $$", "-p", "2").rc == 130


def test_killed_by_sigkill_is_137_without_oom_message(mc) -> None:
    r = mc.sh("kill -KILL $$", "-p", "2")
    assert r.rc == 137 and "OOM" not in r.stderr, r


def test_not_found_is_127(mc) -> None:
    r = mc.run(["/no/such/command", mc.target.rootfs])
    assert r.rc == 127 and r.stderr == "mini-container: command '/no/such/command' not found in the rootfs\n", r
    r = mc.run(["nosuchcmd", mc.target.rootfs])
    assert r.rc == 127 and "searched PATH=" in r.stderr, r


def test_not_executable_is_126(mc) -> None:
    r = mc.run(["/etc/passwd", mc.target.rootfs])
    assert r.rc == 126 and r.stderr == "mini-container: command '/etc/passwd' is not executable (permission denied)\n"
    assert mc.run(["/etc", mc.target.rootfs]).rc == 126


@pytest.fixture
def no_s390x_handler(host):
    """Hosts where systemd registers every qemu-user handler have one for s390x: disable it meanwhile.
    One test at a time per host holds it (a lock held by a process on the host under test): another
    worker's teardown would otherwise enable it again in the middle of this test."""
    entry = "/proc/sys/fs/binfmt_misc/qemu-s390x"
    script = (
        f'on=; [ "$(head -1 {entry} 2>/dev/null)" = enabled ] && on=1 && echo 0 > {entry}; '
        f'echo held; read _; [ -z "$on" ] || echo 1 > {entry}'
    )
    holder = host.start(["flock", "/tmp/minilab-s390x-handler.lock", "sh", "-c", script])
    try:
        assert holder.readline(timeout=300) == "held", holder.err
        yield
    finally:
        holder.write(b"\n")
        holder.wait(timeout=60)


def test_foreign_binary_without_binfmt_is_126_and_names_qemu(mc, host, no_s390x_handler) -> None:
    rootfs = f"{mc.tmp}/foreign"
    host.run(["mkdir", "-p", f"{rootfs}/bin"])
    host.run(["chmod", "755", mc.tmp])  # mktemp makes it 0700: the rootless columns' user reads it
    header = b"\x7fELF\x02\x02\x01\x00" + b"\0" * 8 + b"\x00\x02\x00\x16" + b"\0" * 100  # s390x
    host.write_file(f"{rootfs}/bin/tool", header, 0o755)
    r = mc.run(["/bin/tool", rootfs])
    assert r.rc == 126, r
    assert r.stderr.startswith("mini-container: /bin/tool is an s390x binary and this ") and r.stderr.count("\n") == 1
    assert "install qemu-user-static and register qemu-s390x with the F flag" in r.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-m", "abc"], "invalid memory limit 'abc'"),
        (["-m", "0"], "below the minimum of 6 MiB"),
        (["-m", "1"], "below the minimum of 6 MiB"),
        (["--nproc", "0"], "invalid --nproc value '0'"),
        (["--nproc", "-1"], "invalid --nproc value '-1'"),
        (["--cap-add", "CAP_FLY"], "unknown capability 'CAP_FLY'"),
        (["--cap-drop", "bogus"], "unknown capability 'bogus'"),
        (["-u", "ghost"], "unknown user 'ghost'"),
        (["--frobnicate"], "unrecognized arguments: --frobnicate"),
    ],
)
def test_bad_options_are_125_with_one_line(mc, args: list[str], message: str) -> None:
    r = mc.run([*args, "/bin/sh", mc.target.rootfs, "--", "-c", "true"])
    assert r.rc == 125 and r.stdout == "", r
    assert r.stderr.startswith("mini-container: ") and message in r.stderr and r.stderr.count("\n") == 1, r


@pytest.mark.parametrize(
    ("rootfs", "message"),
    [
        ("/definitely/not/here", "rootfs /definitely/not/here does not exist"),
        ("relative/dir", "is a relative path"),
        ("/etc/hostname", "is not a directory"),
        ("/", "the host's /"),
    ],
)
def test_bad_rootfs_is_125(mc, rootfs: str, message: str) -> None:
    r = mc.run(["/bin/sh", rootfs])
    assert r.rc == 125 and message in r.stderr and r.stderr.count("\n") == 1, r


def test_missing_command_argument(mc) -> None:
    r = mc.run([])
    assert r.rc == 125 and "the following arguments are required" in r.stderr, r
