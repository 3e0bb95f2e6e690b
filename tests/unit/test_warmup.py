"""The attach warm-up: which cgroup.procs it picks on each layout, and that it never fails a run."""

from __future__ import annotations

import os
from pathlib import Path

from mini_container import warmup

HYBRID = "12:pids:/user.slice/session-1.scope\n1:name=systemd:/user.slice/session-1.scope\n0::/user.slice\n"
UNIFIED = "0::/system.slice/ssh.service\n"


def _tree(root: Path, *cgroups: str) -> None:
    for cgroup in cgroups:
        (root / cgroup).mkdir(parents=True)
        (root / cgroup / "cgroup.procs").write_text("")


def test_v1_picks_the_first_hierarchy_it_finds(tmp_path: Path) -> None:
    _tree(tmp_path / "cg", "pids/user.slice/session-1.scope", "systemd/user.slice/session-1.scope")
    (tmp_path / "cgroup").write_text(HYBRID)
    found = warmup.own_cgroup_procs(str(tmp_path / "cgroup"), str(tmp_path / "cg"))
    assert found == str(tmp_path / "cg/pids/user.slice/session-1.scope/cgroup.procs")


def test_named_hierarchy_and_hybrid_unified(tmp_path: Path) -> None:
    (tmp_path / "cgroup").write_text(HYBRID)
    _tree(tmp_path / "cg", "systemd/user.slice/session-1.scope")
    assert warmup.own_cgroup_procs(str(tmp_path / "cgroup"), str(tmp_path / "cg")) == str(
        tmp_path / "cg/systemd/user.slice/session-1.scope/cgroup.procs"
    )
    _tree(tmp_path / "only-unified", "unified/user.slice")
    assert warmup.own_cgroup_procs(str(tmp_path / "cgroup"), str(tmp_path / "only-unified")) == str(
        tmp_path / "only-unified/unified/user.slice/cgroup.procs"
    )


def test_v2_uses_the_root_mount(tmp_path: Path) -> None:
    (tmp_path / "cgroup").write_text(UNIFIED)
    _tree(tmp_path / "cg", "system.slice/ssh.service")
    assert warmup.own_cgroup_procs(str(tmp_path / "cgroup"), str(tmp_path / "cg")) == str(
        tmp_path / "cg/system.slice/ssh.service/cgroup.procs"
    )


def test_nothing_usable_is_none(tmp_path: Path) -> None:
    (tmp_path / "cgroup").write_text("garbage\n3:pids:relative\n0::/gone\n")
    assert warmup.own_cgroup_procs(str(tmp_path / "cgroup"), str(tmp_path)) is None
    assert warmup.own_cgroup_procs(str(tmp_path / "missing"), str(tmp_path)) is None


def test_warm_up_writes_zero_and_wait_returns(tmp_path: Path) -> None:
    procs = tmp_path / "cgroup.procs"
    procs.write_text("")
    w = warmup.AttachWarmUp(str(procs))
    w.wait()
    w.wait()  # idempotent: the runtime may reach fork by more than one path
    assert (w.succeeded, procs.read_text()) == (True, "0")


def test_renew_moves_nowhere_once_more_after_the_warm_up(tmp_path: Path) -> None:
    procs = tmp_path / "cgroup.procs"
    procs.write_text("")
    w = warmup.AttachWarmUp(str(procs))
    w.wait()
    procs.write_text("-")  # what a second write must replace
    w.renew()
    assert procs.read_text() == "0"


def test_wait_returns_only_once_the_thread_is_gone(tmp_path: Path) -> None:
    procs = tmp_path / "cgroup.procs"
    procs.write_text("")
    w = warmup.AttachWarmUp(str(procs))
    w.wait()
    assert w._tid is not None and not os.path.exists(f"/proc/self/task/{w._tid}")


def test_a_failing_warm_up_is_silent(tmp_path: Path) -> None:
    w = warmup.AttachWarmUp(str(tmp_path / "no-such-dir/cgroup.procs"))
    w.wait()
    w.renew()
    assert w.succeeded is False
    nothing = warmup.AttachWarmUp(None)
    nothing.wait()
    nothing.renew()
    assert nothing.succeeded is False and os.listdir(tmp_path) == []
