"""The checked pytest run, against real pytest runs on a tiny generated suite."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from minilab import junit

SUITE = """
import os, pytest

@pytest.mark.parametrize("t", ["amd64-alpine", "arm64-ubuntu-like"])
def test_one(t):
    pass

class TestGroup:
    def test_two(self):
        if os.environ.get("DIE"):
            os._exit(3)  # a crashed run: no JUnit written at all

def test_skipped():
    pytest.skip("host lacks it")
"""


@pytest.fixture
def suite(tmp_path: Path) -> Path:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests/test_s.py").write_text(SUITE)
    (tmp_path / "pyproject.toml").write_text("")
    return tmp_path


@pytest.mark.parametrize(("nodeid", "expected"), [
    ("tests/e2e/test_oom.py::test_kill[amd64-alpine-3.23.2]", ("tests.e2e.test_oom", "test_kill[amd64-alpine-3.23.2]")),
    ("tests/t.py::TestX::test_y[a::b]", ("tests.t.TestX", "test_y[a::b]")),
])  # fmt: skip
def test_junit_name(nodeid: str, expected: tuple[str, str]) -> None:
    assert junit.junit_name(nodeid) == expected


def test_complete_run_passes_with_skips_counted_as_present(suite: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DIE"}
    assert junit.run_checked(["tests", "-q"], suite / "j.xml", env=env, cwd=str(suite)) == 0
    assert len(junit.recorded(suite / "j.xml")) == 4


def test_missing_results_fail_even_when_pytest_says_0(suite: Path) -> None:
    """A run that drops tests (here `-k` at run time only, as a filter that loses a target would):
    pytest exits 0, the comparison does not pass."""
    collect = subprocess.run([sys.executable, "-m", "pytest", "tests", "--collect-only", "-q"], cwd=suite,
                             capture_output=True, text=True)  # fmt: skip
    collected = junit.collected_ids(collect.stdout)
    assert len(collected) == 4
    run = subprocess.run([sys.executable, "-m", "pytest", "tests", "-q", "-k", "amd64", "--junitxml=j.xml"],
                         cwd=suite, capture_output=True)  # fmt: skip
    assert run.returncode == 0
    assert sorted(junit.missing(collected, suite / "j.xml")) == [
        "tests/test_s.py::TestGroup::test_two", "tests/test_s.py::test_one[arm64-ubuntu-like]",
        "tests/test_s.py::test_skipped"]  # fmt: skip


def test_a_crashed_run_fails(suite: Path) -> None:
    env = {**os.environ, "DIE": "1"}
    assert junit.run_checked(["tests", "-q"], suite / "j.xml", env=env, cwd=str(suite)) != 0


def test_collect_args_drop_xdist_and_junit() -> None:
    assert junit._collect_args(["tests/e2e", "-n", "2", "-q", "--junitxml=x.xml", "-n4", "-k", "oom", "-vv"]) == [
        "tests/e2e", "-k", "oom"]  # fmt: skip
