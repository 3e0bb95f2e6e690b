"""Soak: many runs in a row and in parallel leave no cgroup, mount, zombie or fd behind, and the
runtime's memory stays flat. Bounded and self-stopping; CI runs a small version:

    SOAK_RUNS=1000 SOAK_PARALLEL_RUNS=200 sudo nox -s e2e_local -- tests/e2e/test_soak.py

It runs on every backend: zombies and the runtime's peak RSS are read on the host under test; the fd
count is this test process's own (the harness's channels and pipes must not pile up either). The VM
run sets smaller counts (a software-emulated guest starts a run in about a second).
"""

from __future__ import annotations

import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

RUNS = int(os.environ.get("SOAK_RUNS", "100"))
PARALLEL_RUNS = int(os.environ.get("SOAK_PARALLEL_RUNS", "25"))  # each with 4 at once


def _zombies(host) -> set[str]:
    out = host.run(["ps", "-eo", "pid=,ppid=,stat=,comm="]).stdout
    return {" ".join(f) for f in (line.split() for line in out.splitlines()) if f[2].startswith("Z")}


def _lasting_zombies(host, before: set[str], grace: float = 5.0) -> set[str]:
    """Zombies that appeared and are not reaped within `grace` seconds: a leak, not a process that
    another xdist worker's run has just ended and is about to reap."""
    deadline = time.monotonic() + grace
    while (new := _zombies(host) - before) and time.monotonic() < deadline:
        time.sleep(0.1)
    return new


# the peak RSS of a child and the descendants it waited for, as /usr/bin/time's %M reports it
PEAK_RSS = (
    "import resource, subprocess, sys\n"
    "subprocess.run(sys.argv[1:], check=True)\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
)


def _peak_rss_kib(mc) -> int:
    argv = [*mc.host.runtime_command(), "--cgroup-parent", mc.parent, "-m", "32", "--nproc", "16", "/bin/true",
            mc.target.rootfs]  # fmt: skip
    r = mc.host.run([*mc.host.runtime_python(), "-c", PEAK_RSS, *argv])
    assert r.rc == 0, r
    return int(r.stdout.split()[-1])


def test_soak(mc, host) -> None:
    fds_before = len(os.listdir("/proc/self/fd"))
    zombies_before = _zombies(host)
    rss_first = [_peak_rss_kib(mc) for _ in range(5)]
    for i in range(RUNS):
        r = mc.sh("echo $$", "-m", "32", "--nproc", "16")
        assert (r.rc, r.stdout.strip()) == (0, "1"), (i, r)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: mc.sh("true", "-m", "32"), range(PARALLEL_RUNS * 4)))
    assert [r.rc for r in results] == [0] * (PARALLEL_RUNS * 4)
    rss_last = [_peak_rss_kib(mc) for _ in range(5)]
    assert host.cgroup_leftovers(mc.parent) == []
    assert host.mounts_under(mc.target.rootfs) == []
    assert _lasting_zombies(host, zombies_before) == set()
    assert len(os.listdir("/proc/self/fd")) == fds_before
    # a fresh process each run: its peak RSS must not creep (allow 10% noise)
    assert statistics.median(rss_last) <= statistics.median(rss_first) * 1.1, (rss_first, rss_last)
