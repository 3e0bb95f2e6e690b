"""Escape attempts from inside the container; each must fail. Each has a control showing the same
attempt does work where nothing stops it, so these tests can fail (runc's and crun's own suites)."""

from __future__ import annotations

import uuid

import pytest

pytestmark = pytest.mark.rootless


@pytest.fixture
def host_marker(host):
    """A file that exists only on the host, outside every rootfs."""
    path = f"/tmp/minilab-escape-marker-{uuid.uuid4().hex[:8]}"
    host.write_file(path, b"host\n")
    yield path
    host.run(["rm", "-f", path])


def test_chroot_out_trick_stays_inside(mc, host, target, host_marker) -> None:
    # control: under a plain chroot (no pivot_root, no mount namespace) the trick reaches the host
    control = host.run(["chroot", target.rootfs, "/usr/local/bin/mchelper", "chroot-escape", host_marker])
    host.run(["rmdir", f"{target.rootfs}/tmp/mchelper-jail"])
    assert control.stdout.strip() == "escaped", control
    # default capabilities include SYS_CHROOT, as with docker: chroot works, the escape does not
    r = mc.sh(f"mchelper chroot-escape {host_marker}; rmdir /tmp/mchelper-jail")
    assert r.stdout.splitlines()[0] == "contained", r


def test_umount_and_remount_are_refused(mc) -> None:
    r = mc.sh("umount /proc 2>&1 && echo UMOUNTED; mount -o remount,rw /proc/sys 2>&1 && echo REMOUNTED; true")
    assert "UMOUNTED" not in r.stdout and "REMOUNTED" not in r.stdout, r
    assert "ermission denied" in r.stdout or "not permitted" in r.stdout, r


LISTENER = (
    "import socket, sys\n"
    "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(8)\n"
    "print(s.getsockname()[1], flush=True); sys.stdin.read()\n"
)


@pytest.fixture
def host_listener(host):
    """A TCP listener on the loopback of the host under test (its own Python): its port."""
    listener = host.start(["python3", "-c", LISTENER])
    try:
        yield int(listener.readline())
    finally:
        listener.kill()


def test_net_none_cannot_reach_the_hosts_loopback(mc, host_listener) -> None:
    control = mc.sh(f"mchelper connect 127.0.0.1 {host_listener}", "--net", "host")
    assert control.stdout.strip() == "connected", control
    r = mc.sh(f"mchelper connect 127.0.0.1 {host_listener}")
    assert r.stdout.strip() == "connect: Connection refused", r


def test_host_pids_cannot_be_signalled_or_seen(mc, host) -> None:
    """A host process the test started cannot be signalled from inside, even with CAP_KILL, nor
    seen; control: from the host the same signal reaches it (kill -0 checks exactly that)."""
    victim = host.run(["sh", "-c", "sleep 300 >/dev/null 2>&1 & echo $!"]).stdout.strip()
    try:
        assert host.run(["kill", "-0", victim]).rc == 0
        host_pids = host.run(["sh", "-c", "ls /proc | grep -c '^[0-9]'"]).stdout.strip()
        r = mc.sh(
            f"kill -TERM {victim} 2>&1; echo rc=$?; ls /proc | grep -c '^[0-9]'; cat /proc/1/cmdline | tr '\\0' ' '",
            "--cap-add", "KILL",
        )  # fmt: skip
        # dash adds an empty line after kill's complaint: find the status line instead of counting
        refusal, _, rest = r.stdout.partition("rc=")
        status, inside, cmdline = rest.splitlines()
        assert status == "1" and "No such process" in refusal, r
        assert int(inside) <= 3 < int(host_pids), r
        assert "sh" in cmdline, r  # our own shell is PID 1
        assert host.run(["kill", "-0", victim]).rc == 0, "the host process did not survive"
    finally:
        host.run(["kill", "-9", victim])
