"""--nproc: the pids limit holds a fork loop, and the container survives it.

Under qemu-user an emulated process needs two tasks (qemu adds a thread), so a forked child may die
in qemu instead of running: the bounds below hold natively and emulated alike.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.rootless


def test_fork_loop_is_held_and_container_survives(mc, host) -> None:
    r, report = mc.report("mchelper forks 30; echo survived", "--nproc", "10", "-m", "128")
    if mc.refuses_limits(r):
        return
    lines = r.stdout.splitlines()
    assert r.rc == 0 and lines[-1] == "survived", r
    # under qemu-user, children that die in qemu print glib's "Bail out!" to stdout as well
    (report_line,) = [line for line in lines if line.startswith("started ")]
    started, _, reason = report_line.partition(", ")
    assert reason == "fork refused: Resource temporarily unavailable", r
    assert 1 <= int(started.split()[1]) <= 8, r  # PID 1 (sh) + mchelper hold >= 2 of the 10
    assert report["pids_limit"] == 10
    if not host.has_cgroup_file("pids.peak"):
        assert report["pids_peak"] is None, report  # the kernel keeps no peak (before 6.1)
        return
    assert 3 <= report["pids_peak"] <= 10, report  # sh, mchelper and at least one child


def test_tight_limit_refuses_fork_with_eagain(mc) -> None:
    # exec: mchelper is PID 1 and holds 1 of the 2 (2 of 2 under qemu-user)
    r = mc.sh("exec mchelper forks 3", "--nproc", "2")
    if mc.refuses_limits(r):
        return
    (report_line,) = [line for line in r.stdout.splitlines() if line.startswith("started ")]
    assert r.rc == 0 and report_line in (
        "started 1, fork refused: Resource temporarily unavailable",
        "started 0, fork refused: Resource temporarily unavailable",
    ), r


def test_limit_allows_what_fits(mc) -> None:
    r = mc.sh("sleep 0.2 & sleep 0.2 & wait; echo ok", "--nproc", "8")
    if mc.refuses_limits(r):
        return
    assert (r.rc, r.stdout.strip()) == (0, "ok"), r
