"""--nproc: the pids limit holds a fork loop and the container survives it."""

from __future__ import annotations

# An inner shell forks sleepers until fork fails; the outer shell (PID 1) must survive it.
LOOP = (
    "sh -c 'n=0; while [ $n -lt 20 ]; do sleep 5 & n=$((n+1)); echo started $n; done' 2>/dev/shm/err; "
    'echo inner=$?; grep -c "can\'t fork" /dev/shm/err; echo survived'
)


def test_fork_loop_is_held_and_container_survives(mc) -> None:
    r, report = mc.report(LOOP, "--nproc", "5", "-m", "64")
    lines = r.stdout.splitlines()
    started = [line for line in lines if line.startswith("started")]
    assert r.rc == 0 and lines[-1] == "survived", r
    assert lines[-2] == "1", r  # exactly one "can't fork" and the inner shell stopped there
    # PID 1 + the inner shell + sleepers <= 5; under qemu-user a task may count double
    assert 1 <= len(started) <= 3, r
    if report["pids_peak"] is not None:
        assert report["pids_peak"] <= 5
    assert report["pids_limit"] == 5


def test_limit_allows_what_fits(mc) -> None:
    r = mc.sh("sleep 0.2 & sleep 0.2 & wait; echo ok", "--nproc", "5")
    assert (r.rc, r.stdout.strip()) == (0, "ok"), r
