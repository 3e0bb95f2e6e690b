"""-u/--user: identity, groups, HOME and file permissions."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.rootless

GROUPS = "grep '^Groups:' /proc/self/status | cut -f2 | wc -w"  # number of supplementary groups


def test_uid_1000(mc) -> None:
    r = mc.sh(f"id -un; id -u; id -g; {GROUPS}; echo HOME=$HOME; echo x >> /etc/passwd", "-u", "1000")
    if mc.refuses_user(r, 1000):
        return
    assert r.stdout.split()[:5] == ["user", "1000", "1000", "0", "HOME=/home/user"], r
    assert r.rc != 0 and "Permission denied" in r.stderr, r


def test_name_and_group(mc) -> None:
    r = mc.sh("id -un; id -u; id -gn; id -g", "-u", "user:labgrp")
    if mc.refuses_user(r, 1000):
        return
    assert r.stdout.split() == ["user", "1000", "labgrp", "4242"], r


def test_unknown_numeric_uid_is_allowed(mc) -> None:
    r = mc.sh("id -u; id -g; echo $HOME", "-u", "4242:4343")
    if mc.refuses_user(r, 4242):
        return
    assert r.stdout.split() == ["4242", "4343", "/"], r


def test_root_is_default_and_keeps_no_supplementary_groups(mc) -> None:
    assert mc.sh(f"id -u; echo $HOME; {GROUPS}").stdout.split() == ["0", "/root", "0"]


def test_unknown_user_name_is_a_runtime_error(mc) -> None:
    r = mc.sh("id", "-u", "nosuchuser")
    assert r.rc == 125 and r.stderr.strip() == (
        "mini-container: unknown user 'nosuchuser': no such name in the rootfs's /etc/passwd"
    ), r
