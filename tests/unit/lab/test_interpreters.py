from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from minilab import interpreters

REAL = Path(os.path.realpath(sys.executable))  # an ELF interpreter, whatever its version


def fake_bin(tmp_path: Path, name: str, *files: tuple[str, str]) -> Path:
    d = tmp_path / name
    d.mkdir()
    for fname, kind in files:
        if kind == "real":
            (d / fname).symlink_to(REAL)
        else:  # a pyenv shim: a shell script
            (d / fname).write_text('#!/usr/bin/env bash\nexec pyenv exec python "$@"\n')
            (d / fname).chmod(0o755)
    return d


def test_discover_takes_real_interpreters_3_10_and_up_first_on_path_wins(tmp_path: Path) -> None:
    shims = fake_bin(tmp_path, "shims", ("python3.13", "shim"), ("python3.12", "shim"))
    usr = fake_bin(tmp_path, "usr", ("python3.11", "real"), ("python3.9", "real"), ("python3.11-config", "real"))
    local = fake_bin(tmp_path, "local", ("python3.12", "real"), ("python3.11", "real"))
    found = interpreters.discover([shims, usr, local, tmp_path / "missing"], ("3.11", "/host/python3.11"))
    assert found == {"3.11": "/host/python3.11", "3.12": str(local / "python3.12")}
    assert list(found) == ["3.11", "3.12"]


def test_versions_sort_numerically(tmp_path: Path) -> None:
    d = fake_bin(tmp_path, "bin", ("python3.10", "real"), ("python3.9", "real"), ("python3.13", "real"))
    assert list(interpreters.discover([d], ("3.11", "/x"))) == ["3.10", "3.11", "3.13"]


def test_pyenv_dirs_follow_pyenv_root_or_home(tmp_path: Path) -> None:
    for v in ("3.10.13", "3.13.0", "2.7.18"):
        (tmp_path / "pyenv/versions" / v / "bin").mkdir(parents=True)
    found = interpreters.pyenv_dirs({"PYENV_ROOT": str(tmp_path / "pyenv")})
    assert [p.parent.name for p in found] == ["3.10.13", "3.13.0"]
    assert interpreters.pyenv_dirs({"HOME": str(tmp_path / "fresh-home")}) == []  # no pyenv: nothing, no error


def test_host_is_a_real_interpreter_of_the_running_version() -> None:
    version, path = interpreters.host()
    assert version == f"{sys.version_info[0]}.{sys.version_info[1]}"
    assert interpreters.is_real(Path(path))


def test_link_farm_holds_exactly_the_interpreters(tmp_path: Path) -> None:
    farm = tmp_path / "farm"
    interpreters.link_farm({"3.10": "/a/python3.10", "3.11": "/b/python3.11"}, farm)
    interpreters.link_farm({"3.11": "/c/python3.11"}, farm)  # a later run on another machine state
    assert {p.name: os.readlink(p) for p in farm.iterdir()} == {"python3.11": "/c/python3.11"}
    assert shutil.which("python3.11", path=str(farm)) is None  # dangling: nox would report it missing
