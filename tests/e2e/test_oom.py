"""Memory limit: the OOM kill is detected from the cgroup's oom_kill counter and reported."""

from __future__ import annotations

import shlex

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


# about 48 MiB at its peak (a 16 MiB string and its copy): more than a 16 MiB limit, less than the
# limit plus the lab guests' 256 MiB of swap
FITS_WITH_SWAP = "x=0123456789abcdef; i=0; while [ $i -lt 20 ]; do x=$x$x; i=$((i+1)); done; echo ${#x}"


def test_the_swap_allowance_is_pinned_to_zero(mc, host) -> None:
    r, report = mc.report("true", "-m", "16")
    if mc.refuses_limits(r):
        return
    if host.has_cgroup_file("memory.swap.max", "memory.memsw.limit_in_bytes"):
        assert report["memory_swap_allowed_bytes"] == 0, report  # read back from the kernel
    else:
        assert report["memory_swap_allowed_bytes"] is None, report  # no swap accounting at all


def test_a_workload_that_fits_in_limit_plus_swap_is_still_killed(mc, host) -> None:
    swap_kb = int(host.run(["sh", "-c", "awk '/^SwapTotal:/ {print $2}' /proc/meminfo"]).stdout)
    if swap_kb < 128 * 1024:
        pytest.skip(f"this host has {swap_kb} kB of swap: nothing could extend a limit (the lab guests have 256 MiB)")
    # control: in a cgroup of its own with the same 16 MiB but swap left open, the workload survives
    control = host.run(["sh", "-c", _in_a_cgroup_with_swap(f"{mc.parent}-swapctl", FITS_WITH_SWAP)], timeout=300)
    assert (control.rc, control.stdout.strip()) == (0, str(16 * 2**20)), control
    r = mc.sh(FITS_WITH_SWAP, "-m", "16", timeout=300)
    if mc.refuses_limits(r):
        return
    assert r.rc == 137 and "killed by the OOM killer (limit 16 MiB)" in r.stderr, r


def _in_a_cgroup_with_swap(name: str, script: str) -> str:
    """A shell script that runs `script` with memory limited to 16 MiB and swap unlimited (v2:
    memory.swap.max=max; v1: memsw left unlimited), then removes the cgroup."""
    return f"""
if [ -e /sys/fs/cgroup/cgroup.controllers ]; then d=/sys/fs/cgroup/{name}; mkdir $d
  echo 16M > $d/memory.max; echo max > $d/memory.swap.max
else d=/sys/fs/cgroup/memory/{name}; mkdir $d; echo 16M > $d/memory.limit_in_bytes; fi
sh -c 'echo $$ > '$d'/cgroup.procs; exec sh -c "$0"' {shlex.quote(script)}; rc=$?
rmdir $d; exit $rc
"""


def test_no_oom_no_message(mc) -> None:
    r, report = mc.report("echo fine", "-m", "32")
    if mc.refuses_limits(r):
        return
    assert (r.rc, r.stderr, report["oom_killed"]) == (0, "", False), r
