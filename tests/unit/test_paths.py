from __future__ import annotations

import os
from pathlib import Path

import pytest

from mini_container.errors import ContainerError
from mini_container.paths import secure_join


def test_plain_and_missing_paths(tmp_path: Path) -> None:
    (tmp_path / "a/b").mkdir(parents=True)
    assert secure_join(str(tmp_path), "/a/b") == f"{tmp_path}/a/b"
    assert secure_join(str(tmp_path), "a/missing/x") == f"{tmp_path}/a/missing/x"
    assert secure_join(str(tmp_path), "/") == str(tmp_path)


def test_dotdot_cannot_leave_the_root(tmp_path: Path) -> None:
    assert secure_join(str(tmp_path), "/../../etc/passwd") == f"{tmp_path}/etc/passwd"


def test_absolute_and_relative_links_stay_inside(tmp_path: Path) -> None:
    (tmp_path / "usr/bin").mkdir(parents=True)
    os.symlink("/usr/bin", tmp_path / "bin")
    os.symlink("../../../../etc", tmp_path / "usr/escape")
    os.symlink("/", tmp_path / "dev")
    assert secure_join(str(tmp_path), "/bin/sh") == f"{tmp_path}/usr/bin/sh"
    assert secure_join(str(tmp_path), "/usr/escape/shadow") == f"{tmp_path}/etc/shadow"
    assert secure_join(str(tmp_path), "/dev") == str(tmp_path)


def test_link_loop_is_an_error(tmp_path: Path) -> None:
    os.symlink("loop", tmp_path / "loop")
    with pytest.raises(ContainerError, match="too many levels"):
        secure_join(str(tmp_path), "/loop/x")
