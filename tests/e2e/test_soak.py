"""Soak: many runs in a row and in parallel leave no cgroup, mount, zombie or fd behind, and the
runtime's memory stays flat. Bounded and self-stopping; CI runs a small version:

    SOAK_RUNS=1000 SOAK_PARALLEL_RUNS=200 sudo nox -s e2e_local -- tests/e2e/test_soak.py
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from minilab.hosts import LocalHost

RUNS = int(os.environ.get("SOAK_RUNS", "100"))
PARALLEL_RUNS = int(os.environ.get("SOAK_PARALLEL_RUNS", "25"))  # each with 4 at once


@pytest.fixture
def local(host, mc):
    if not isinstance(host, LocalHost):
        pytest.skip("counts the runtime's processes and fds on this machine")
    return mc


def _zombies() -> set[str]:
    out = subprocess.run(["ps", "-eo", "pid=,ppid=,stat=,comm="], capture_output=True, text=True).stdout
    return {" ".join(f) for f in (line.split() for line in out.splitlines()) if f[2].startswith("Z")}


def _lasting_zombies(before: set[str], grace: float = 5.0) -> set[str]:
    """Zombies that appeared and are not reaped within `grace` seconds: a leak, not a process that
    another xdist worker's run has just ended and is about to reap."""
    deadline = time.monotonic() + grace
    while (new := _zombies() - before) and time.monotonic() < deadline:
        time.sleep(0.1)
    return new


def _peak_rss_kib(local) -> int:
    argv = ["/usr/bin/time", "-f", "%M", sys.executable, "-m", "mini_container", "--cgroup-parent", local.parent,
            "-m", "32", "--nproc", "16", "/bin/true", local.target.rootfs]  # fmt: skip
    r = subprocess.run(argv, capture_output=True, text=True, check=True)
    return int(r.stderr.strip().splitlines()[-1])


def test_soak(local, host) -> None:
    fds_before = len(os.listdir("/proc/self/fd"))
    zombies_before = _zombies()
    rss_first = [_peak_rss_kib(local) for _ in range(5)]
    for i in range(RUNS):
        r = local.sh("echo $$", "-m", "32", "--nproc", "16")
        assert (r.rc, r.stdout.strip()) == (0, "1"), (i, r)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: local.sh("true", "-m", "32"), range(PARALLEL_RUNS * 4)))
    assert [r.rc for r in results] == [0] * (PARALLEL_RUNS * 4)
    rss_last = [_peak_rss_kib(local) for _ in range(5)]
    assert host.cgroup_leftovers(local.parent) == []
    assert host.mounts_under(local.target.rootfs) == []
    assert _lasting_zombies(zombies_before) == set()
    assert len(os.listdir("/proc/self/fd")) == fds_before
    # a fresh process each run: its peak RSS must not creep (allow 10% noise)
    assert statistics.median(rss_last) <= statistics.median(rss_first) * 1.1, (rss_first, rss_last)
