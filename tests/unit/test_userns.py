"""Rootless mapping decisions, the user check and the forbidding settings; the single-line entry
checked call by call on the fake kernel (the real one runs in tests/e2e/test_rootless.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mini_container import userns
from mini_container.errors import ContainerError
from mini_container.syscalls import CLONE_NEWUSER, SyscallError

from .fake_kernel import FakeKernel


@pytest.fixture
def etc(tmp_path: Path) -> Path:
    (tmp_path / "subuid").write_text("other:200000:65536\nalice:100000:65536\n")
    (tmp_path / "subgid").write_text("1000:300000:1000\n")
    return tmp_path


def test_subordinate_range_by_name_or_number(etc: Path) -> None:
    assert userns.subordinate_range(str(etc / "subuid"), ("alice", "1000")) == (100000, 65536)
    assert userns.subordinate_range(str(etc / "subgid"), ("alice", "1000")) == (300000, 1000)
    assert userns.subordinate_range(str(etc / "subuid"), ("bob", "1001")) is None
    assert userns.subordinate_range(str(etc / "missing"), ("alice",)) is None


def test_plan_takes_the_ranges_only_with_both_helpers(etc: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(userns, "_user_name", lambda uid: "alice")
    monkeypatch.setattr(userns, "_helper", lambda name: f"/usr/bin/{name}")
    m = userns.plan(1000, 1000, str(etc))
    assert m.kind == "subid" and m.helpers == ("/usr/bin/newuidmap", "/usr/bin/newgidmap")
    assert m.maps(m.uids) == "0 1000 1\n1 100000 65536\n" and m.maps(m.gids) == "0 1000 1\n1 300000 1000\n"
    assert m.setgroups_allowed
    monkeypatch.setattr(userns, "_helper", lambda name: None if name == "newgidmap" else f"/usr/bin/{name}")
    single = userns.plan(1000, 1000, str(etc))
    assert (single.kind, single.maps(single.uids), single.helpers) == ("single", "0 1000 1\n", None)
    assert not single.setgroups_allowed
    assert single.describe() == {"mapping": "single", "uid_map": "0 1000 1\n", "gid_map": "0 1000 1\n"}


def test_check_user_names_what_is_missing() -> None:
    single = userns.Mapping("single", ((0, 1000, 1),), ((0, 1000, 1),))
    userns.check_user(single, 0, 0)
    with pytest.raises(ContainerError, match=r"uid 1000 is not mapped \(only 0 is.*/etc/subuid"):
        userns.check_user(single, 1000, 1000)
    with pytest.raises(ContainerError, match=r"gid 5 is not mapped"):
        userns.check_user(single, 0, 5)
    sub = userns.Mapping("subid", ((0, 1000, 1), (1, 100000, 65536)), ((0, 1000, 1), (1, 300000, 1000)))
    userns.check_user(sub, 1000, 999)
    userns.check_user(sub, 1000, 1000)
    with pytest.raises(ContainerError, match=r"gid 1001 is not mapped \(0\.\.1000 are, from /etc/subgid\)"):
        userns.check_user(sub, 1000, 1001)


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"/proc/sys/kernel/unprivileged_userns_clone": "0"}, "kernel.unprivileged_userns_clone=0"),
        ({"/proc/sys/user/max_user_namespaces": "0"}, "user.max_user_namespaces=0"),
        ({"/proc/sys/kernel/apparmor_restrict_unprivileged_userns": "1"}, "apparmor_restrict_unprivileged_userns=1"),
        ({"/proc/sys/kernel/unprivileged_userns_clone": "1", "/proc/sys/user/max_user_namespaces": "5"}, None),
    ],
)
def test_blocker_names_the_setting(values: dict[str, str], named: str | None) -> None:
    found = userns.blocker(values.get)
    assert (found is None) if named is None else (named in str(found)), found


def test_single_mapping_denies_setgroups_before_the_gid_map() -> None:
    k = FakeKernel()
    userns.enter(k, userns.Mapping("single", ((0, 1000, 1),), ((0, 1000, 1),)))  # type: ignore[arg-type]
    assert k.calls == [
        ("unshare", CLONE_NEWUSER),
        ("write_file", "/proc/self/setgroups", "deny"),
        ("write_file", "/proc/self/uid_map", "0 1000 1\n"),
        ("write_file", "/proc/self/gid_map", "0 1000 1\n"),
    ]


def test_a_refused_unshare_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    class Refusing(FakeKernel):
        def unshare(self, flags: int) -> None:
            raise SyscallError("unshare", 28)  # ENOSPC: max_user_namespaces reached (0)

    monkeypatch.setattr(userns, "_read_sysctl", {"/proc/sys/user/max_user_namespaces": "0"}.get)
    with pytest.raises(ContainerError) as e:
        userns.enter(Refusing(), userns.Mapping("single", ((0, 1, 1),), ((0, 1, 1),)))  # type: ignore[arg-type]
    assert str(e.value) == (
        "rootless: cannot create a user namespace: No space left on device: "
        "this machine forbids it with sysctl user.max_user_namespaces=0"
    )


def test_user_name_comes_from_passwd() -> None:
    assert userns._user_name(0) == "root" and userns._user_name(os.getuid()) is not None
