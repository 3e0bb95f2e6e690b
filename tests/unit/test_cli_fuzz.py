"""The CLI parser fuzzed: whatever the arguments, a clean ContainerError (exit 125) or a clean exit."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mini_container import cli
from mini_container.errors import ContainerError

OPTION_WORDS = [name for opt in cli.OPTIONS for name in opt[:2] if name] + ["--", "-", "--help", "-h", "--version"]
VALUES = st.sampled_from(["", "0", "-1", "64", "1g", "abc", "ALL", "1000:10", "/", "/tmp", "none", "x=y", "a:b:c",
                          "\x00", "é", "99999999999999999999", "..", "/etc/passwd"])  # fmt: skip
ARGS = st.lists(st.one_of(st.sampled_from(OPTION_WORDS), VALUES, st.text(max_size=12)), max_size=12)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ARGS)
def test_any_argv_gives_a_clean_result(argv: list[str]) -> None:
    try:
        cli.parse(argv)
    except ContainerError as e:
        assert e.exit_code == 125 and e.message and "\n" not in e.message
    except SystemExit as e:  # --help / --version
        assert e.code == 0


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=20))
def test_any_memory_value(text: str) -> None:
    try:
        assert cli.parse_memory(text) >= 6 * 2**20
    except ContainerError as e:
        assert e.exit_code == 125


def test_help_and_version_exit_cleanly(capsys: pytest.CaptureFixture[str]) -> None:
    for flag in ("--help", "-h", "--version"):
        with pytest.raises(SystemExit) as done:
            cli.parse(["/bin/sh", "/", flag])
        assert done.value.code == 0
    assert "mini-container 0.1.0" in capsys.readouterr().out
