"""Capability sets compared with what runc 1.1.5 reported for the same settings when the project
measured it (the expected /proc/self/status lines below are runc's)."""

from __future__ import annotations

import pytest

from minilab import binfmt

pytestmark = pytest.mark.rootless

CAPS = "grep -E '^(Cap|NoNewPrivs)' /proc/self/status"


def status(text: str) -> dict[str, str]:
    return dict(line.split(":\t") for line in text.strip().splitlines())


def test_default_root_set_is_dockers(mc) -> None:
    s = status(mc.sh(CAPS).stdout)
    assert s == {
        "CapInh": "0000000000000000", "CapPrm": "00000000a80425fb", "CapEff": "00000000a80425fb",
        "CapBnd": "00000000a80425fb", "CapAmb": "0000000000000000", "NoNewPrivs": "1",
    }  # fmt: skip


def test_drop_all_add_net_bind_service_as_root_equals_runc(mc) -> None:
    s = status(mc.sh(CAPS, "--cap-drop", "ALL", "--cap-add", "NET_BIND_SERVICE").stdout)
    assert s == {
        "CapInh": "0000000000000000", "CapPrm": "0000000000000400", "CapEff": "0000000000000400",
        "CapBnd": "0000000000000400", "CapAmb": "0000000000000000", "NoNewPrivs": "1",
    }  # fmt: skip


def test_non_root_default_has_nothing_effective(mc) -> None:
    r = mc.sh(CAPS, "-u", "1000")
    if mc.refuses_user(r, 1000):
        return
    s = status(r.stdout)
    assert (s["CapEff"], s["CapPrm"], s["CapBnd"]) == ("0000000000000000", "0000000000000000", "00000000a80425fb")


def test_non_root_added_capability_is_inheritable_and_ambient_like_runc(mc) -> None:
    r = mc.sh(CAPS, "-u", "1000", "--cap-drop", "ALL", "--cap-add", "net_bind_service")
    if mc.refuses_user(r, 1000):
        return
    s = status(r.stdout)
    assert {k: s[k] for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")} == dict.fromkeys(
        ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"), "0000000000000400"
    )


def test_chown_is_refused_after_drop_all(mc) -> None:
    if mc.mapping == "single":
        pytest.skip("rootless with only uid 0 mapped: no other owner to give a file to, CAP_CHOWN is unobservable")
    f = f"/tmp/given-{mc.parent}"  # a name of this test's own: the rootfs is shared with every other test
    give_away = f"touch {f} && chown 1000 {f} && echo given; rm -f {f}"
    control = mc.sh(give_away)  # the default set holds CAP_CHOWN
    assert control.stdout.strip() == "given", control
    r = mc.sh(give_away, "--cap-drop", "ALL")
    assert "given" not in r.stdout and "Operation not permitted" in r.stderr, r


def test_reading_anothers_file_needs_dac_override(mc) -> None:
    # a file of mode 000: root reads it only through CAP_DAC_OVERRIDE (a rootless root too, in its
    # user namespace, for a file it owns)
    # a name of this test's own: the rootfs is shared with every other test of this target
    f = f"/tmp/locked-{mc.parent}"
    read = f"echo secret > {f} && chmod 000 {f} && su_read=$(cat {f}) && echo $su_read"
    control = mc.sh(f"{read}; rm -f {f}")
    assert control.stdout.strip() == "secret", control
    r = mc.sh(f"{read}; rm -f {f}", "--cap-drop", "ALL")
    assert "secret" not in r.stdout and "Permission denied" in r.stderr, r


def test_mknod_is_refused_after_drop_all_and_allowed_by_default(mc) -> None:
    refused = mc.sh("mknod /dev/shm/n c 1 3", "--cap-drop", "ALL")
    assert refused.rc != 0 and "Operation not permitted" in refused.stderr, refused
    allowed = mc.sh("mknod /dev/shm/n c 1 3 && echo made")
    if mc.rootless:  # the kernel lets no user namespace make device nodes, whatever its capabilities
        assert allowed.rc != 0 and "Operation not permitted" in allowed.stderr, allowed
        return
    assert allowed.stdout.strip() == "made", allowed


def test_mount_is_refused_with_default_caps(mc) -> None:
    r = mc.sh("mount -t tmpfs none /dev/shm")
    assert r.rc != 0 and ("not permitted" in r.stderr or "permission denied" in r.stderr.lower()), r


@pytest.mark.parametrize("user", ["0", "1000"])
def test_granted_net_bind_service_binds_port_80(mc, user: str) -> None:
    r = mc.sh("mchelper bind 80", "-u", user, "--cap-drop", "ALL", "--cap-add", "NET_BIND_SERVICE")
    if mc.refuses_user(r, int(user)):
        return
    assert (r.rc, r.stdout.strip()) == (0, "bound"), r


def test_port_80_is_denied_to_non_root_without_the_capability(mc) -> None:
    r = mc.sh("mchelper bind 80", "-u", "1000")
    if mc.refuses_user(r, 1000):
        return
    assert (r.rc, r.stdout.strip()) == (1, "bind 80: Permission denied"), r


def test_port_80_is_denied_to_root_after_drop_all(mc) -> None:
    r = mc.sh("mchelper bind 80", "--cap-drop", "ALL")
    assert (r.rc, r.stdout.strip()) == (1, "bind 80: Permission denied"), r


def test_no_new_privs_blocks_setuid_gain(mc, host, target) -> None:
    # mchelper, not busybox: Debian's busybox drops setuid privileges by itself
    if mc.rootless:
        pytest.skip("rootless: a setuid gain needs a second uid mapped and a file it owns; not built yet")
    # the run registers the lab's handler with C on the host under test (conftest): a skip here means
    # that host's entry could not be changed
    if host.emulates(target.arch) and "C" not in binfmt.host_flags(host, target.arch):
        pytest.skip("binfmt handler without the C flag: the kernel ignores setuid bits of emulated binaries")
    host.run(["chmod", "755", mc.tmp])  # mktemp makes it 0700: uid 1000 must be able to enter the volume
    volume = f"{mc.tmp}:/scratch"
    r = mc.sh("cp /usr/local/bin/mchelper /scratch/h && chmod 4755 /scratch/h && echo made", "-v", volume)
    assert r.stdout.strip() == "made", r
    # control, outside the runtime: without no_new_privs the setuid bit does make it root
    control = host.run(["setpriv", "--reuid", "1000", "--regid", "1000", "--clear-groups", f"{mc.tmp}/h", "ids"])
    assert control.stdout.strip() == "1000 0", control
    r = mc.sh("/scratch/h ids", "-u", "1000", "-v", volume)
    assert r.stdout.strip() == "1000 1000", r
