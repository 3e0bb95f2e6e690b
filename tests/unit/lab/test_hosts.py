from __future__ import annotations

import sys
from pathlib import Path

import pytest

from minilab.hosts import CommandResult, LocalHost


def test_local_run_keeps_exit_codes_and_streams() -> None:
    r = LocalHost().run(["sh", "-c", "echo out; echo err >&2; exit 3"])
    assert r == CommandResult(3, "out\n", "err\n")
    assert LocalHost().run("echo $((6*7))").stdout == "42\n"


def test_local_run_timeout() -> None:
    with pytest.raises(TimeoutError, match="did not finish in 0.2s"):
        LocalHost().run(["sleep", "5"], timeout=0.2)


def test_local_put_file_and_tree(tmp_path: Path) -> None:
    (tmp_path / "src/sub").mkdir(parents=True)
    (tmp_path / "src/sub/f").write_text("x")
    LocalHost().put(tmp_path / "src", str(tmp_path / "dst"))
    LocalHost().put(tmp_path / "src/sub/f", str(tmp_path / "g"))
    assert (tmp_path / "dst/sub/f").read_text() == "x" and (tmp_path / "g").read_text() == "x"


def test_runtime_command_is_this_interpreter() -> None:
    assert LocalHost().runtime_command() == [sys.executable, "-m", "mini_container"]
