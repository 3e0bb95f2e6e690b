from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from minilab.hosts import CommandResult, LocalHost


def test_local_run_keeps_exit_codes_and_streams() -> None:
    r = LocalHost().run(["sh", "-c", "echo out; echo err >&2; exit 3"])
    assert r == CommandResult(3, "out\n", "err\n")
    assert LocalHost().run("echo $((6*7))").stdout == "42\n"


def test_local_run_timeout() -> None:
    with pytest.raises(TimeoutError, match="did not finish in 0.2s"):
        LocalHost().run(["sleep", "5"], timeout=0.2)


def test_local_put_file_and_tree(tmp_path: Path) -> None:
    (tmp_path / "src/sub").mkdir(parents=True)
    (tmp_path / "src/sub/f").write_text("x")
    LocalHost().put(tmp_path / "src", str(tmp_path / "dst"))
    LocalHost().put(tmp_path / "src/sub/f", str(tmp_path / "g"))
    assert (tmp_path / "dst/sub/f").read_text() == "x" and (tmp_path / "g").read_text() == "x"


def test_the_runtime_command_starts_this_checkouts_runtime() -> None:
    from mini_container import __version__

    r = LocalHost().mini_container(["--version"])
    assert (r.rc, r.stdout) == (0, f"mini-container {__version__}\n"), r


def test_end_test_finds_a_stray_but_not_its_own_shells(tmp_path: Path) -> None:
    parent = f"mc-test-unit{os.getpid()}"
    stray = subprocess.Popen(["sh", "-c", f"sleep 30 # {parent}"])
    try:
        state = LocalHost().end_test(str(tmp_path / "scratch"), parent, str(tmp_path / "rootfs"), None)
    finally:
        stray.kill()
        stray.wait()
    assert state.strays == [str(stray.pid)] and state.leftovers == [] and state.mounts == [], state
    clean = LocalHost().end_test(str(tmp_path / "scratch"), parent, str(tmp_path / "rootfs"), None)
    assert clean.strays == [], clean  # the checking shells name the parent too: never reported


def test_begin_test_makes_a_scratch_directory_and_reads_mounts(tmp_path: Path) -> None:
    scratch, mounts, leaf = LocalHost().begin_test("/proc", None, None)
    try:
        assert Path(scratch).is_dir() and leaf is None
        assert "/proc" in mounts  # /proc is a mount point: the listing is real
    finally:
        Path(scratch).rmdir()


def test_leftovers_are_found_and_removed_on_every_hierarchy_with_their_processes(tmp_path: Path) -> None:
    """Real cgroups on this host: a parent on each hierarchy with a child, one holding a process; the
    end-of-test check lists the children, kills the process and removes everything under the name."""
    import time

    if os.geteuid() != 0:
        pytest.skip("needs root: makes real cgroups")
    parent = f"mc-test-unit-{os.getpid()}"
    roots = [
        r
        for r in ("/sys/fs/cgroup/memory", "/sys/fs/cgroup/pids", "/sys/fs/cgroup")
        if Path(r, "cgroup.procs").exists()
    ]
    made = [Path(r, parent, "box") for r in roots]
    for d in made:
        d.mkdir(parents=True)
    victim = subprocess.Popen(["sleep", "60"])
    try:
        (made[0] / "cgroup.procs").write_text(str(victim.pid))
        host = LocalHost()
        assert sorted(host.cgroup_leftovers(parent)) == sorted(map(str, made))
        state = host.end_test(str(tmp_path / "scratch"), parent, str(tmp_path / "rootfs"), None)
        assert sorted(state.leftovers) == sorted(map(str, made)), state
        deadline = time.monotonic() + 10
        while victim.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert victim.poll() is not None, "the process in the left-over cgroup still runs"
        assert not any(Path(r, parent).exists() for r in roots) and host.cgroup_leftovers(parent) == []
    finally:
        victim.kill()
        victim.wait()
        for d in made:
            for path in (d, d.parent):
                if path.exists():
                    path.rmdir()
