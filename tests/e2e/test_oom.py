"""Memory limit: the OOM kill is detected from the cgroup's oom_kill counter and reported."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.rootless

HOG = "x=0123456789abcdef; while :; do x=$x$x; done"


def test_memory_hog_is_oom_killed_with_137_and_a_message(mc, host) -> None:
    r, report = mc.report(HOG, "-m", "16")
    if mc.refuses_limits(r):
        return
    assert r.rc == 137, r
    assert r.stderr.strip().splitlines()[-1] == "mini-container: killed by the OOM killer (limit 16 MiB)", r
    assert report["oom_killed"] is True and report["exit_code"] == 137 and report["signal"] == 9
    assert report["memory_limit_bytes"] == 16 * 1024 * 1024
    if not host.has_cgroup_file("memory.peak", "memory.max_usage_in_bytes"):
        assert report["memory_peak_bytes"] is None, report  # the kernel keeps no peak (v2 before 5.19)
        return
    assert 1024 * 1024 < report["memory_peak_bytes"] <= 16 * 1024 * 1024 + 64 * 1024, report  # page slack


def test_native_allocator_hog_is_oom_killed(mc) -> None:
    r, report = mc.report("exec mchelper hog", "-m", "24")
    if mc.refuses_limits(r):
        return
    assert r.rc == 137 and "killed by the OOM killer (limit 24 MiB)" in r.stderr, r
    assert report["oom_killed"] is True


def test_limit_is_in_mib_not_bytes(mc) -> None:
    # the seed's bug: `-m 100` meant 100 bytes. Allocate ~24 MiB under a 100 MiB limit.
    r = mc.sh("x=0123456789abcdef; i=0; while [ $i -lt 20 ]; do x=$x$x; i=$((i+1)); done; echo ${#x}", "-m", "100")
    if mc.refuses_limits(r):
        return
    assert r.rc == 0 and r.stdout.strip() == str(16 * 2**20), r


def test_swap_cannot_extend_the_limit(mc, host) -> None:
    # the v1 memsw limit / v2 swap.max=0 make a 16 MiB hog die even where swap exists
    r = mc.sh(HOG, "-m", "16m", timeout=120)
    if mc.refuses_limits(r):
        return
    assert r.rc == 137, r


def test_no_oom_no_message(mc) -> None:
    r, report = mc.report("echo fine", "-m", "32")
    if mc.refuses_limits(r):
        return
    assert (r.rc, r.stderr, report["oom_killed"]) == (0, "", False), r
