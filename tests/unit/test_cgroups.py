"""The cgroup managers against fixture directory trees laid out like cgroupfs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mini_container import cgroups
from mini_container.errors import ContainerError

HYBRID = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""
UNIFIED = "30 23 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n"
V1_ONLY = (
    "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n36 31 0:33 / /x/pids rw - cgroup cgroup rw,pids\n"
)
NESTED = "50 40 0:32 /docker/abc /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n" + UNIFIED


def test_layouts() -> None:
    hybrid = cgroups.parse_mountinfo(HYBRID)
    assert (hybrid.version, hybrid.unified) == ("v1", "/sys/fs/cgroup/unified")
    assert hybrid.v1 == {"memory": "/sys/fs/cgroup/memory", "pids": "/sys/fs/cgroup/pids"}
    unified = cgroups.parse_mountinfo(UNIFIED)
    assert (unified.version, unified.unified, unified.v1) == ("v2", "/sys/fs/cgroup", {})
    v1 = cgroups.parse_mountinfo(V1_ONLY)
    assert (v1.version, v1.unified, v1.v1["pids"]) == ("v1", None, "/x/pids")
    # a bind of a sub-cgroup (root != "/") is not a hierarchy root: ignored
    assert cgroups.parse_mountinfo(NESTED).version == "v2"


def test_this_host_layout_points_at_the_controllers_files() -> None:
    # the layout read from this host's mountinfo must lead to the files the managers write
    layout = cgroups.read_layout()
    if layout.version == "v1":
        assert os.path.exists(os.path.join(layout.v1["memory"], "memory.limit_in_bytes")), layout
        assert os.path.exists(os.path.join(layout.v1["pids"], "cgroup.procs")), layout
    else:
        with open(os.path.join(layout.unified, "cgroup.controllers")) as f:
            assert {"memory", "pids"} <= set(f.read().split()), layout


@pytest.fixture
def v2_tree(tmp_path: Path) -> Path:
    (tmp_path / "cgroup.controllers").write_text("cpuset cpu io memory hugetlb pids rdma misc\n")
    (tmp_path / "cgroup.subtree_control").write_text("memory\n")
    return tmp_path


def test_v2_create_enables_controllers_top_down_and_sets_limits(v2_tree: Path) -> None:
    cg = cgroups.CgroupV2(str(v2_tree), "ci/jobs", "123-abc")
    cg.create(64 * 1024 * 1024, 20)
    cg_dir = v2_tree / "ci/jobs/123-abc"
    # the root already delegated memory: only pids is added there
    assert (v2_tree / "cgroup.subtree_control").read_text() == "+pids"
    assert (v2_tree / "ci/cgroup.subtree_control").read_text() == "+memory +pids"
    assert (v2_tree / "ci/jobs/cgroup.subtree_control").read_text() == "+memory +pids"
    assert (cg_dir / "memory.max").read_text() == str(64 * 1024 * 1024)
    assert (cg_dir / "pids.max").read_text() == "20"
    assert not (cg_dir / "memory.swap.max").exists()  # no swap accounting on this "kernel"
    assert cg.directories() == [str(cg_dir)]


def test_v2_swap_is_pinned_to_zero_when_swap_accounting_exists(v2_tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_mkdir = os.mkdir

    def kernel_like_mkdir(path: str, mode: int = 0o777) -> None:
        real_mkdir(path, mode)
        Path(path, "memory.swap.max").write_text("max\n")

    cg = cgroups.CgroupV2(str(v2_tree), "mini-container", "1-a")
    monkeypatch.setattr(os, "mkdir", kernel_like_mkdir)
    cg.create(32 * 1024 * 1024, None)
    assert Path(cg.path, "memory.swap.max").read_text() == "0"
    assert not Path(cg.path, "pids.max").exists()


def test_v2_missing_controller_is_an_error_and_nothing_is_made(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("cpu io\n")
    cg = cgroups.CgroupV2(str(tmp_path), "mini-container", "1-a")
    with pytest.raises(ContainerError, match="memory controller is not available"):
        cg.create(32 * 1024 * 1024, None)
    assert not (tmp_path / "mini-container").exists()


@pytest.mark.parametrize("parent", ["cgroup.procs", "a/cgroup.procs/b"])
def test_v2_a_parent_through_a_file_is_one_clean_error(v2_tree: Path, parent: str) -> None:
    (v2_tree / "cgroup.procs").write_text("")
    (v2_tree / "a").mkdir()
    (v2_tree / "a/cgroup.procs").write_text("")
    before = sorted(p.name for p in v2_tree.rglob("*"))
    cg = cgroups.CgroupV2(str(v2_tree), parent, "1-a")
    with pytest.raises(ContainerError, match="cannot create .*: Not a directory"):
        cg.create(None, None)
    assert sorted(p.name for p in v2_tree.rglob("*")) == before


def test_v2_counters_and_peaks(v2_tree: Path) -> None:
    cg = cgroups.CgroupV2(str(v2_tree), "p", "1-a")
    Path(cg.path).mkdir(parents=True)
    Path(cg.path, "memory.events").write_text("low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n")
    Path(cg.path, "memory.peak").write_text("16773120\n")
    assert cg.oom_kills() == 1 and cg.memory_peak() == 16773120 and cg.pids_peak() is None


def test_v1_create_sets_memsw_equal_to_the_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mounts = _mounts(tmp_path, "memory", "pids")
    real_mkdir = os.mkdir
    writes: list[str] = []

    def kernel_like_mkdir(path: str, mode: int = 0o777) -> None:
        real_mkdir(path, mode)
        if "/memory/" in path:
            Path(path, "memory.memsw.limit_in_bytes").write_text("9223372036854771712\n")

    real_write = cgroups._write
    monkeypatch.setattr(os, "mkdir", kernel_like_mkdir)
    monkeypatch.setattr(cgroups, "_write", lambda p, v: (writes.append(os.path.basename(p)), real_write(p, v)))
    cg = cgroups.CgroupV1(mounts, "mini-container", "1-a")
    cg.create(16 * 1024 * 1024, 5)
    mem = tmp_path / "memory/mini-container/1-a"
    assert (mem / "memory.limit_in_bytes").read_text() == str(16 * 1024 * 1024)
    assert (mem / "memory.memsw.limit_in_bytes").read_text() == str(16 * 1024 * 1024)
    assert writes.index("memory.limit_in_bytes") < writes.index("memory.memsw.limit_in_bytes")
    assert (tmp_path / "pids/mini-container/1-a/pids.max").read_text() == "5"


def test_v1_counters(tmp_path: Path) -> None:
    cg = cgroups.CgroupV1({"memory": str(tmp_path / "m"), "pids": str(tmp_path / "p")}, "x", "1-a")
    Path(cg.paths["memory"]).mkdir(parents=True)
    Path(cg.paths["memory"], "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
    Path(cg.paths["memory"], "memory.max_usage_in_bytes").write_text("1048576\n")
    assert cg.oom_kills() == 2 and cg.memory_peak() == 1048576 and cg.pids_peak() is None


def test_v1_missing_controller(tmp_path: Path) -> None:
    cg = cgroups.CgroupV1({"memory": str(tmp_path / "m")}, "x", "1-a")
    with pytest.raises(ContainerError, match="pids controller is not mounted"):
        cg.create(None, 5)
    assert not (tmp_path / "m/x/1-a").exists()


def test_add_and_remove(tmp_path: Path) -> None:
    cg = cgroups.CgroupV1(_mounts(tmp_path, "memory", "pids"), "x", "1-a")
    cg.create(None, None)
    cg.add(4321)
    assert Path(cg.paths["pids"], "cgroup.procs").read_text() == "4321"
    _empty_fixture_dirs(cg)
    cg.remove()
    assert not Path(cg.paths["memory"]).exists() and not Path(cg.paths["pids"]).exists()


def test_sweep_removes_only_dead_runtimes(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    layout = cgroups.Layout(unified=None, v1={"pids": str(tmp_path / "pids")})
    base = tmp_path / "pids/mini-container"
    for name in (f"{dead_pid}-abc", f"{os.getpid()}-def", "not-a-run"):
        (base / name).mkdir(parents=True)
    removed = cgroups.sweep(layout, "mini-container")
    assert removed == [str(base / f"{dead_pid}-abc")]
    assert sorted(os.listdir(base)) == sorted([f"{os.getpid()}-def", "not-a-run"])


def _empty_fixture_dirs(cg: cgroups.Cgroup) -> None:
    """A real cgroupfs directory can be rmdir'ed with its interface files in it; a fixture cannot."""
    for d in cg.directories():
        for directory in (d, os.path.dirname(d)):
            for f in os.listdir(directory):
                if os.path.isfile(os.path.join(directory, f)):
                    os.unlink(os.path.join(directory, f))


def _mounts(tmp_path: Path, *controllers: str) -> dict[str, str]:
    mounts = {c: str(tmp_path / c) for c in controllers}
    for m in mounts.values():
        os.makedirs(m, exist_ok=True)
    return mounts


def test_default_parent_is_removed_once_empty(tmp_path: Path) -> None:
    mounts = _mounts(tmp_path, "memory", "pids")
    first = cgroups.CgroupV1(mounts, "mini-container", "1-a")
    second = cgroups.CgroupV1(mounts, "mini-container", "2-b")
    first.create(None, None)
    second.create(None, None)
    _empty_fixture_dirs(first)
    first.remove()
    assert (tmp_path / "memory/mini-container").exists()  # the second run still lives there
    _empty_fixture_dirs(second)
    second.remove()
    assert not (tmp_path / "memory/mini-container").exists() and not (tmp_path / "pids/mini-container").exists()


def test_custom_parent_levels_are_removed_only_if_this_run_made_them(tmp_path: Path) -> None:
    (tmp_path / "memory/system.slice").mkdir(parents=True)
    cg = cgroups.CgroupV1({"memory": str(tmp_path / "memory")}, "system.slice/ci", "1-a")
    cg.create(None, None)
    _empty_fixture_dirs(cg)
    cg.remove()
    assert (tmp_path / "memory/system.slice").exists() and not (tmp_path / "memory/system.slice/ci").exists()


def test_v2_default_parent_is_removed_once_empty(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("memory pids\n")
    cg = cgroups.CgroupV2(str(tmp_path), "mini-container", "1-a")
    cg.create(None, 5)
    _empty_fixture_dirs(cg)
    cg.remove()
    assert not (tmp_path / "mini-container").exists()


def _owners(owned: dict[str, int]):  # noqa: ANN202 - an owner function over a fixture tree
    def owner(path: str) -> int | None:
        directory = os.path.normpath(path) if os.path.isdir(path) else os.path.dirname(path)
        return owned.get(directory, 0) if os.path.exists(path) else None

    return owner


@pytest.fixture
def user_tree(tmp_path: Path) -> Path:
    """/user.slice/user-1000.slice/user@1000.service/app.slice/run-1.scope, as systemd lays it out."""
    leaf = tmp_path / "user.slice/user-1000.slice/user@1000.service/app.slice/run-1.scope"
    leaf.mkdir(parents=True)
    for d in [tmp_path, *leaf.relative_to(tmp_path).parents, leaf.relative_to(tmp_path)]:
        for f in ("cgroup.procs", "cgroup.subtree_control"):
            (tmp_path / d / f).write_text("")
    return tmp_path


def test_delegated_root_is_the_topmost_cgroup_the_user_owns(user_tree: Path) -> None:
    layout = cgroups.Layout(unified=str(user_tree))
    service = user_tree / "user.slice/user-1000.slice/user@1000.service"
    owned = {str(d): 1000 for d in (service, service / "app.slice", service / "app.slice/run-1.scope")}
    own = "/user.slice/user-1000.slice/user@1000.service/app.slice/run-1.scope"
    assert cgroups.delegated_root(layout, 1000, own, _owners(owned)) == (str(service), "")
    # a session scope belongs to root: nothing delegated, and the reason names the cgroup
    base, why = cgroups.delegated_root(layout, 1000, "/user.slice/user-1000.slice", _owners(owned))
    assert base is None and why == "your cgroup /user.slice/user-1000.slice is not delegated to uid 1000"
    # the directory alone is not enough: cgroup.procs must be the user's too
    half = _owners(owned)
    procs = str(service / "app.slice/run-1.scope/cgroup.procs")
    assert cgroups.delegated_root(layout, 1000, own, lambda p: 0 if p == procs else half(p))[0] is None
    # root owns the whole tree: its root is the mount itself
    assert cgroups.delegated_root(layout, 0, own, _owners({})) == (str(user_tree), "")


def test_no_delegation_on_v1_or_outside_v2() -> None:
    base, why = cgroups.delegated_root(cgroups.parse_mountinfo(HYBRID), 1000, "/x")
    assert base is None and "cgroup v1" in why
    base, why = cgroups.delegated_root(cgroups.parse_mountinfo(UNIFIED), 1000, None)
    assert base is None and "no 0:: line" in why


def test_own_v2_path(tmp_path: Path) -> None:
    proc = tmp_path / "cgroup"
    proc.write_text("12:pids:/user.slice\n0::/user.slice/user-1000.slice/session-2.scope\n")
    assert cgroups.own_v2_path(str(proc)) == "/user.slice/user-1000.slice/session-2.scope"
    proc.write_text("4:memory:/\n")
    assert cgroups.own_v2_path(str(proc)) is None


def test_a_rootless_cgroup_lives_under_the_delegated_root(v2_tree: Path) -> None:
    base = v2_tree / "user@1000.service"
    base.mkdir()
    (base / "cgroup.controllers").write_text("memory pids\n")
    cg = cgroups.for_layout(cgroups.Layout(unified=str(v2_tree)), "mini-container", "1-ab", str(base))
    assert cg.directories() == [str(base / "mini-container/1-ab")]
    cg.create(32 * 2**20, 5)
    assert (base / "mini-container/1-ab/memory.max").read_text() == str(32 * 2**20)
    assert (base / "cgroup.subtree_control").read_text() == "+memory +pids"  # enabled from the base down
    assert not (v2_tree / "mini-container").exists()


def _vanishing_parent_mkdir(container_name: str, times: int):  # noqa: ANN202
    """os.mkdir as it looks while another run finishes: the first `times` mkdirs of the container's
    own directory find its (empty) parent just removed, as rmdir by that run would leave it."""
    real_mkdir = os.mkdir
    left = [times]

    def mkdir(path: str, mode: int = 0o777) -> None:
        if os.path.basename(path) == container_name and left[0] > 0:
            left[0] -= 1
            # the other run's clean-up wins the race (a cgroup's rmdir takes its interface files along)
            shutil.rmtree(os.path.dirname(path))
        real_mkdir(path, mode)

    return mkdir


def _a_cgroup(version: str, tmp_path: Path, v2_tree: Path) -> cgroups.Cgroup:
    if version == "v2":
        return cgroups.CgroupV2(str(v2_tree), "mini-container", "1-a")
    return cgroups.CgroupV1(_mounts(tmp_path / "v1", "memory", "pids"), "mini-container", "1-a")


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_a_parent_removed_between_its_mkdir_and_ours_is_made_again(
    tmp_path: Path, v2_tree: Path, monkeypatch: pytest.MonkeyPatch, version: str
) -> None:
    cg = _a_cgroup(version, tmp_path, v2_tree)
    monkeypatch.setattr(os, "mkdir", _vanishing_parent_mkdir("1-a", times=2))
    cg.create(None, None)
    assert all(os.path.isdir(d) for d in cg.directories()), cg.directories()


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_a_parent_that_keeps_vanishing_is_one_clean_error(
    tmp_path: Path, v2_tree: Path, monkeypatch: pytest.MonkeyPatch, version: str
) -> None:
    cg = _a_cgroup(version, tmp_path, v2_tree)
    monkeypatch.setattr(os, "mkdir", _vanishing_parent_mkdir("1-a", times=99))
    with pytest.raises(ContainerError, match="cannot create"):
        cg.create(None, None)


def test_the_swap_allowance_is_read_back_from_the_kernels_files(tmp_path: Path, v2_tree: Path) -> None:
    v2 = cgroups.CgroupV2(str(v2_tree), "p", "1-a")
    Path(v2.path).mkdir(parents=True)
    assert v2.swap_allowance() is None  # no swap accounting
    for text, allowed in (("0\n", 0), ("max\n", -1), ("1048576\n", 1048576)):
        Path(v2.path, "memory.swap.max").write_text(text)
        assert v2.swap_allowance() == allowed
    v1 = cgroups.CgroupV1(_mounts(tmp_path / "v1", "memory", "pids"), "p", "1-a")
    memory = Path(v1.paths["memory"])
    memory.mkdir(parents=True)
    (memory / "memory.limit_in_bytes").write_text("16777216\n")
    assert v1.swap_allowance() is None  # a kernel without swapaccount
    (memory / "memory.memsw.limit_in_bytes").write_text("16777216\n")
    assert v1.swap_allowance() == 0
    (memory / "memory.memsw.limit_in_bytes").write_text("33554432\n")
    assert v1.swap_allowance() == 16 * 2**20
