from __future__ import annotations

import json
from pathlib import Path

import pytest

from minilab import sessions


def result(name: str, outcome: str, reason: str | None = None) -> dict:
    return {"name": name.split("-")[0], "signatures": [name], "result": outcome, "reason": reason, "duration": 3.2}


def test_all_successful_is_ok() -> None:
    ok, lines = sessions.check({"sessions": [result("lint", "success"), result("unit-3.11", "success")]})
    assert ok and lines[1].startswith("unit-3.11") and "success in 3s" in lines[1]


@pytest.mark.parametrize("outcome", ["skipped", "failed", "aborted"])
def test_a_skip_or_failure_fails_the_run(outcome: str) -> None:
    missing = result("unit-3.13", outcome, "Python interpreter 3.13 not found")
    ok, lines = sessions.check({"sessions": [result("lint", "success"), missing]})
    assert not ok and "3.13 not found" in lines[1]


def test_no_session_is_not_success() -> None:
    assert sessions.check({"result": 1, "sessions": []}) == (False, ["no session ran"])


def test_main_fails_without_a_report(tmp_path: Path) -> None:
    assert sessions.main(["check", str(tmp_path / "none.json")]) == 1
    (tmp_path / "r.json").write_text(json.dumps({"sessions": [result("e2e", "skipped")]}))
    assert sessions.main(["check", str(tmp_path / "r.json")]) == 1


def test_plan_names_the_interpreter_behind_each_session(tmp_path: Path) -> None:
    (tmp_path / "python3.11").symlink_to("/usr/bin/python3.11")
    listing = [{"session": "lint", "python": "3.11"}, {"session": "unit-3.13", "python": "3.13"}]
    lines = sessions.plan_lines(listing, tmp_path)
    assert "python 3.11 (/usr/bin/python3.11)" in lines[0]
    assert "NOT FOUND" in lines[1]
