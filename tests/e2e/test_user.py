"""-u/--user: identity, groups, HOME and file permissions."""

from __future__ import annotations


def test_uid_1000(mc) -> None:
    r = mc.sh("id; echo HOME=$HOME; echo x >> /etc/passwd", "-u", "1000")
    lines = r.stdout.splitlines()
    assert lines[0] == "uid=1000(user) gid=1000(user)", r  # no supplementary groups
    assert lines[1] == "HOME=/home/user"
    assert r.rc != 0 and "Permission denied" in r.stderr, r


def test_name_and_group(mc) -> None:
    r = mc.sh("id", "-u", "user:wheel")
    assert r.stdout.strip() == "uid=1000(user) gid=10(wheel)", r


def test_unknown_numeric_uid_is_allowed(mc) -> None:
    r = mc.sh("id -u; id -g; echo $HOME", "-u", "4242:4343")
    assert r.stdout.split() == ["4242", "4343", "/"], r


def test_root_is_default(mc) -> None:
    assert mc.sh("id -u; echo $HOME").stdout.split() == ["0", "/root"]


def test_unknown_user_name_is_a_runtime_error(mc) -> None:
    r = mc.sh("id", "-u", "nosuchuser")
    assert r.rc == 125 and r.stderr.strip() == (
        "mini-container: unknown user 'nosuchuser': no such name in the rootfs's /etc/passwd"
    ), r
