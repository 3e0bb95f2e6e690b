from __future__ import annotations

from minilab.matrix import Record, render, split_nodeid

TARGETS = ["amd64-alpine-like", "arm64-alpine-like"]


def test_split_nodeid() -> None:
    assert split_nodeid("tests/e2e/test_oom.py::test_hog[arm64-alpine-like]", TARGETS) == (
        "test_oom.py::test_hog", "arm64-alpine-like")  # fmt: skip
    assert split_nodeid("tests/e2e/test_caps.py::test_bind[amd64-alpine-like-1000]", TARGETS) == (
        "test_caps.py::test_bind[1000]", "amd64-alpine-like")  # fmt: skip
    assert split_nodeid("tests/e2e/test_x.py::test_y[0-amd64-alpine-like]", TARGETS) == (
        "test_x.py::test_y[0]", "amd64-alpine-like")  # fmt: skip
    assert split_nodeid("tests/unit/test_cli.py::test_defaults", TARGETS) is None


def test_render_shows_every_cell_and_totals() -> None:
    records = [
        Record("test_oom.py::test_hog", "amd64-alpine-like", "passed", 0.25),
        Record("test_oom.py::test_hog", "arm64-alpine-like", "failed", 3.0),
        Record("test_pids.py::test_loop", "amd64-alpine-like", "skipped", 0.0, "Skipped: no pids.peak here"),
    ]
    text = render(records, TARGETS, {"amd64-alpine-like": "native", "arm64-alpine-like": "qemu"})
    assert text.startswith("1 passed, 1 failed, 1 skipped")
    assert "| test_oom.py::test_hog | pass 0.2s | FAIL 3.0s |" in text
    assert "| test_pids.py::test_loop | skip (no pids.peak here) 0.0s |  |" in text
    assert "- `arm64-alpine-like`: qemu" in text


def test_rootless_columns_are_not_taken_for_a_parameter_of_their_prefix() -> None:
    columns = [*TARGETS, *(f"{t}-rootless" for t in TARGETS)]
    assert split_nodeid("tests/e2e/test_caps.py::test_bind[amd64-alpine-like-rootless-0]", columns) == (
        "test_caps.py::test_bind[0]", "amd64-alpine-like-rootless")  # fmt: skip
    assert split_nodeid("tests/e2e/test_caps.py::test_bind[amd64-alpine-like-0]", columns) == (
        "test_caps.py::test_bind[0]", "amd64-alpine-like")  # fmt: skip


def test_a_teardown_error_overrides_the_pass_and_is_counted() -> None:
    records = [
        Record("test_oom.py::test_hog", "amd64-alpine-like", "passed", 0.25),
        Record("test_oom.py::test_hog", "amd64-alpine-like", "error", 0.5),  # something was left behind
    ]
    text = render(records, TARGETS[:1], {})
    assert text.startswith("0 passed, 0 failed, 0 skipped, 1 left something behind (error)")
    assert "| test_oom.py::test_hog | ERROR 0.5s |" in text
