from __future__ import annotations

import pytest

from mini_container import capabilities as caps
from mini_container.errors import ContainerError
from mini_container.syscalls import PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, PR_CAPBSET_DROP

from .fake_kernel import FakeKernel

TOP = 40
NET_BIND = 1 << 10
DOCKER_DEFAULT = 0x00000000A80425FB  # CapBnd of `docker run alpine`


def test_names_cover_the_kernel_table() -> None:
    assert len(caps.NAMES) == 41 and caps.NUMBERS["CHECKPOINT_RESTORE"] == 40
    assert caps.NUMBERS["NET_BIND_SERVICE"] == 10 and caps.NUMBERS["SYS_ADMIN"] == 21


def test_default_is_dockers_14() -> None:
    sets = caps.compute([], [], 0, TOP)
    assert len(caps.DEFAULT) == 14
    assert sets.bounding == sets.permitted == sets.effective == DOCKER_DEFAULT
    assert sets.inheritable == sets.ambient == 0


@pytest.mark.parametrize(
    "spelling", ["NET_BIND_SERVICE", "net_bind_service", "CAP_NET_BIND_SERVICE", "cap_Net_Bind_Service"]
)
def test_spellings(spelling: str) -> None:
    assert caps.parse([spelling], TOP) == ({10}, False)


def test_repeats_and_comma_lists() -> None:
    assert caps.parse(["chown,kill", "CAP_KILL", "sys_time"], TOP) == ({0, 5, 25}, False)
    assert caps.parse(["all"], TOP) == (set(), True)


@pytest.mark.parametrize("bad", ["FOO", "CAP_", "net_bind_service,,kill", "CAP_NOPE"])
def test_unknown_or_empty_names(bad: str) -> None:
    with pytest.raises(ContainerError) as err:
        caps.parse([bad], TOP)
    assert err.value.exit_code == 125


def test_capability_newer_than_the_kernel() -> None:
    with pytest.raises(ContainerError, match="not supported by this kernel"):
        caps.parse(["CHECKPOINT_RESTORE"], 37)


def test_drop_all_add_one_as_root_matches_runc() -> None:
    # runc 1.1.5 measured: CapPrm = CapEff = CapBnd = 0x400, CapInh = CapAmb = 0
    sets = caps.compute(["NET_BIND_SERVICE"], ["ALL"], 0, TOP)
    assert (sets.bounding, sets.permitted, sets.effective) == (NET_BIND,) * 3
    assert (sets.inheritable, sets.ambient) == (0, 0)


def test_non_root_has_nothing_effective_by_default() -> None:
    sets = caps.compute([], [], 1000, TOP)
    assert sets.bounding == DOCKER_DEFAULT
    assert sets.permitted == sets.effective == sets.inheritable == sets.ambient == 0


def test_non_root_added_capability_is_ambient_so_it_works() -> None:
    # runc measured: uid 1000 binds port 80 only with CapInh = CapAmb = 0x400
    sets = caps.compute(["NET_BIND_SERVICE"], ["ALL"], 1000, TOP)
    assert sets == caps.CapSets(NET_BIND, NET_BIND, NET_BIND, NET_BIND, NET_BIND)


def test_docker_rules() -> None:
    # add ALL, drop some: everything but the dropped
    sets = caps.compute(["ALL"], ["SYS_ADMIN"], 0, TOP)
    assert sets.bounding == ((1 << 41) - 1) & ~(1 << 21)
    # default case: add wins over drop for the same name (moby TweakCapabilities)
    sets = caps.compute(["KILL"], ["KILL", "CHOWN"], 0, TOP)
    assert sets.bounding & (1 << 5) and not sets.bounding & 1
    # drop ALL alone: nothing
    assert caps.compute([], ["ALL"], 0, TOP).bounding == 0


def test_apply_drops_bounding_then_sets_then_ambient() -> None:
    k = FakeKernel()
    sets = caps.compute(["NET_BIND_SERVICE"], ["ALL"], 1000, TOP)
    caps.apply_bounding(k, sets, TOP)
    caps.apply_process_sets(k, sets, TOP)
    dropped = [c[2] for c in k.calls if c[:2] == ("prctl", PR_CAPBSET_DROP)]
    assert dropped == [c for c in range(TOP + 1) if c != 10]
    assert ("capset", NET_BIND, NET_BIND, NET_BIND) in k.calls
    raised = [c for c in k.calls if c[:3] == ("prctl", PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE)]
    assert raised == [("prctl", PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, 10)]
    last_drop = max(i for i, c in enumerate(k.calls) if c[:2] == ("prctl", PR_CAPBSET_DROP))
    assert last_drop < k.names().index("capset") < k.calls.index(raised[0])


def test_last_cap_reads_the_kernel(tmp_path) -> None:  # noqa: ANN001
    f = tmp_path / "cap_last_cap"
    f.write_text("37\n")
    assert caps.last_cap(str(f)) == 37
