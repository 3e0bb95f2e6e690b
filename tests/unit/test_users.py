from __future__ import annotations

from pathlib import Path

import pytest

from mini_container.errors import ContainerError
from mini_container.users import User, resolve


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (None, User(0, 0, "/root", "root")),
        ("user", User(1000, 1000, "/home/user", "user")),
        ("1000", User(1000, 1000, "/home/user", "user")),
        ("1000:10", User(1000, 10, "/home/user", "user")),
        ("user:wheel", User(1000, 10, "/home/user", "user")),
        ("svc", User(201, 301, "/srv", "svc")),
        ("svc:svcgrp", User(201, 301, "/srv", "svc")),
        ("4242", User(4242, 0, "/", None)),  # unknown numeric uid: allowed, as with docker
        ("4242:4242", User(4242, 4242, "/", None)),
        ("0", User(0, 0, "/root", "root")),
    ],
)
def test_resolve(rootfs: Path, spec: str | None, expected: User) -> None:
    assert resolve(spec, str(rootfs)) == expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("nobody-here", "unknown user 'nobody-here'"),
        ("user:nogroup", "unknown group 'nogroup'"),
        (":10", "invalid user"),
        ("user:", "invalid user"),
        ("4294967295", "out of range"),
    ],
)
def test_bad_users(rootfs: Path, spec: str, message: str) -> None:
    with pytest.raises(ContainerError, match=message):
        resolve(spec, str(rootfs))


def test_rootfs_without_passwd(tmp_path: Path) -> None:
    assert resolve("1000", str(tmp_path)) == User(1000, 0, "/", None)
    with pytest.raises(ContainerError, match="unknown user"):
        resolve("user", str(tmp_path))


def test_passwd_is_read_inside_the_rootfs_even_through_a_symlink(tmp_path: Path) -> None:
    root = tmp_path / "r"
    (root / "real").mkdir(parents=True)
    (root / "real/passwd").write_text("alice:x:7:7::/home/alice:/bin/sh\n")
    (root / "etc").symlink_to("/real")  # absolute link: must resolve inside the rootfs
    assert resolve("alice", str(root)).uid == 7
