"""Faults around the container: a read-only rootfs, a cgroup parent that vanished, the smallest limit.
(SIGKILL of the runtime and forwarded SIGTERM/SIGINT are in test_runtime_process.py.)"""

from __future__ import annotations

import pytest


@pytest.fixture
def readonly_rootfs(mc, host, target):
    """The target's rootfs bind-mounted read-only elsewhere on the host."""
    path = f"{mc.tmp}/ro-root"
    host.run(["mkdir", path])
    assert host.run(["mount", "--bind", target.rootfs, path]).rc == 0
    assert host.run(["mount", "-o", "remount,bind,ro", path]).rc == 0
    yield path
    host.run(["umount", path])


def test_read_only_rootfs_runs_and_stays_read_only(mc, readonly_rootfs) -> None:
    r = mc.run(["/bin/sh", readonly_rootfs, "--", "-c", "cat /etc/minilab-target | head -1; touch /x"])
    assert r.stdout.startswith("arch="), r
    assert r.rc != 0 and "Read-only file system" in r.stderr, r


def test_cgroup_parent_that_vanished_is_made_again(mc, host) -> None:
    assert mc.sh("true").rc == 0  # makes and removes the parent
    host.remove_cgroup_parent(mc.parent)
    r = mc.sh("cat /proc/self/cgroup | head -1")
    assert r.rc == 0, r


def test_smallest_memory_limit_is_a_clean_oom(mc, target) -> None:
    # 6 MiB: natively the hog dies; emulated, qemu itself may not even start inside it. Either way
    # a clean 137 with the message, and the fixture checks nothing is left behind.
    r = mc.sh("exec mchelper hog", "-m", "6")
    assert r.rc == 137 and "killed by the OOM killer (limit 6 MiB)" in r.stderr, r
