"""Rootless: mini-container run by an ordinary user (uid 1000 of the host under test).

The scenario modules marked `rootless` run in the -rootless columns as well; these are the things
only a rootless run has: the mapping, the refusals a machine may impose, and what such a container
may not touch on the host.
"""

from __future__ import annotations

import signal

import pytest

from .test_runtime_process import COLS, ROWS, typed

pytestmark = pytest.mark.rootless(only=True)

CAPS = "grep -E '^Cap(Eff|Bnd)' /proc/self/status"


def test_the_caller_is_root_in_a_namespace_of_its_own(mc, host) -> None:
    r = mc.sh(f"id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map; {CAPS}")
    lines = [line.split() for line in r.stdout.splitlines()]
    assert r.rc == 0 and lines[:2] == [["0"], ["0"]], r
    uid_map, gid_map = lines[2], lines[4 if mc.mapping == "subid" else 3]
    assert uid_map == ["0", "1000", "1"] and gid_map == ["0", "1000", "1"], r
    # the namespaced capabilities are docker's set, as for root
    assert lines[-2:] == [["CapEff:", "00000000a80425fb"], ["CapBnd:", "00000000a80425fb"]], r


def test_the_report_names_the_mapping(mc) -> None:
    r, report = mc.report("true")
    assert r.rc == 0 and report["rootless"]["mapping"] == mc.mapping, report
    assert report["rootless"]["uid_map"].startswith("0 1000 1\n"), report
    if not mc.limits:
        assert report["cgroup_version"] is None  # no cgroup at all: nothing was asked of one


def test_a_limit_without_a_delegated_cgroup_is_refused(mc, host) -> None:
    if mc.limits:
        pytest.skip("this host delegates a cgroup v2 subtree to the user: the limit scenarios run for real")
    r = mc.sh("echo ran", "-m", "32")
    v1 = "this host keeps memory and pids on cgroup v1, which delegates nothing to a user; run as root, or on a "
    why = f"{v1}host with cgroup v2" if host.cgroup_version() == "v1" else "your cgroup"
    assert r.rc == 125 and r.stdout == "" and r.stderr.count("\n") == 1, r
    need = "mini-container: rootless: -m and --nproc need a cgroup v2 subtree delegated to you, but "
    assert r.stderr.startswith(need) and why in r.stderr, r
    assert mc.sh("echo ran").stdout == "ran\n"  # no limit asked: it just runs


def test_user_namespaces_forbidden_names_the_setting(mc, host) -> None:
    # the limit is per user namespace: set it to 0 in one of our own, then ask for another inside
    script = 'echo 0 > /proc/sys/user/max_user_namespaces && exec "$@"'
    argv = [*mc.as_user(), "unshare", "--user", "--map-root-user", "sh", "-c", script, "sh",
            *host.runtime_command(), "--rootless", "/bin/sh", mc.target.rootfs, "--", "-c", "echo ran"]  # fmt: skip
    r = host.run(argv)
    assert (r.rc, r.stdout) == (125, ""), r
    assert r.stderr == (
        "mini-container: rootless: cannot create a user namespace: No space left on device: "
        "this machine forbids it with sysctl user.max_user_namespaces=0\n"
    ), r


def test_a_rootfs_the_caller_cannot_read(mc, host) -> None:
    locked = f"{mc.tmp}/locked"
    host.run(["sh", "-c", f"mkdir {locked} && chmod 700 {locked} && chown root:root {locked}"])
    r = mc.run(["/bin/sh", locked])
    assert (
        r.rc == 125 and r.stderr == f"mini-container: cannot read the rootfs {locked} as uid 1000: permission denied\n"
    )


def test_nothing_of_the_hosts_root_becomes_writable(mc, host) -> None:
    """Host files owned by root, reached through a volume or as the rootfs itself, stay read-only
    to the container's root. Control: the same writes as real root succeed."""
    shared = f"{mc.tmp}/roots"
    host.run(["sh", "-c", f"mkdir {shared} && chown root:root {shared} && chmod 755 {shared}"])
    write = "touch /mnt/x && echo wrote-volume; touch /etc/minilab-x && echo wrote-rootfs; true"
    control = host.mini_container(["--cgroup-parent", mc.parent, "-v", f"{shared}:/mnt", "/bin/sh",
                                   mc.target.rootfs, "--", "-c", "touch /mnt/x && echo wrote-volume"])  # fmt: skip
    assert control.stdout.strip() == "wrote-volume", control
    host.run(["rm", "-f", f"{shared}/x"])
    r = mc.sh(write, "-v", f"{shared}:/mnt")
    assert "wrote" not in r.stdout and r.stderr.count("Permission denied") == 2, r
    assert (
        host.run(["ls", "-A", shared]).stdout == "" and host.run(["test", "-e", f"{mc.target.rootfs}/etc/minilab-x"]).rc
    )


def test_files_made_inside_belong_to_the_caller_outside(mc, host) -> None:
    r = mc.sh("echo hi > /mnt/made && id -u", "-v", f"{mc.tmp}:/mnt")
    assert r.stdout.strip() == "0", r  # root inside ...
    owner = host.run(["stat", "-c", "%u:%g", f"{mc.tmp}/made"]).stdout.strip()
    assert owner == "1000:1000", owner  # ... the caller outside


def test_sigterm_is_forwarded_rootless(mc) -> None:
    p = mc.start("trap 'echo got-term; exit 42' TERM; echo ready; while :; do sleep 0.1; done")
    assert p.readline() == "ready"
    p.signal(signal.SIGTERM)  # setpriv and env exec: this is the runtime's own PID
    r = p.wait(timeout=60)
    assert (r.rc, r.stdout.split()) == (42, ["ready", "got-term"]), r


def test_a_terminal_gets_a_pty_of_its_own_rootless(mc) -> None:
    code, shown = typed(mc.start(None, pty=(ROWS, COLS)), [b"tty; stty size; id -u\n", b"exit 7\n"])
    assert code == 7 and f"/dev/pts/0\r\n{ROWS} {COLS}\r\n0\r\n" in shown, shown


def test_systemds_delegation_gives_a_user_limits(mc, host) -> None:
    """The way a user gets limits on a systemd host: a scope with Delegate=yes under their user
    manager. Runs where the host under test has one for uid 1000 (the lab's guests: lingering). On
    cgroup v1 systemd delegates no controller to a user: the runtime must say so in one line."""
    if host.run(["systemctl", "is-active", "user@1000.service"]).stdout.strip() != "active":
        pytest.skip("no systemd user manager for uid 1000 on this host (user@1000.service)")
    bus = ["XDG_RUNTIME_DIR=/run/user/1000", "DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/1000/bus"]
    hog = "x=0123456789abcdef; while :; do x=$x$x; done"
    # a parent of this test's own: another worker runs the same scenario for another target at once
    argv = [*host.as_user(1000), *bus, "systemd-run", "--user", "--scope", "--quiet", "-p", "Delegate=yes",
            *host.runtime_command(), "--cgroup-parent", mc.parent, "-m", "16", "/bin/sh", mc.target.rootfs, "--",
            "-c", hog]  # fmt: skip
    r = host.run(argv)
    if host.cgroup_version() == "v1":
        assert (
            r.rc == 125 and r.stderr.count("\n") == 1 and "this host keeps memory and pids on cgroup v1" in r.stderr
        ), r
        return
    assert r.rc == 137 and r.stderr.strip().endswith("mini-container: killed by the OOM killer (limit 16 MiB)"), r
    left = host.run(["sh", "-c", f"find /sys/fs/cgroup/user.slice -name {mc.parent}"]).stdout
    assert left == "", f"the container's cgroup was left under the user manager: {left}"
