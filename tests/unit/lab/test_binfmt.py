from __future__ import annotations

from pathlib import Path

import pytest

from minilab import binfmt

ENTRY = "enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: {flags}\noffset 0\nmagic 7f45\n"


@pytest.fixture
def fake_binfmt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(binfmt, "BINFMT", tmp_path)
    return tmp_path


@pytest.mark.parametrize(("content", "expected"), [
    (None, "missing"), (ENTRY.format(flags="POF"), "ready"), (ENTRY.format(flags="P"), "no-f-flag"),
    (ENTRY.format(flags="F").replace("enabled", "disabled"), "disabled"),
])  # fmt: skip
def test_status(fake_binfmt: Path, content: str | None, expected: str) -> None:
    if content is not None:
        (fake_binfmt / "qemu-aarch64").write_text(content)
    assert binfmt.status("arm64") == expected


def test_flags(fake_binfmt: Path) -> None:
    (fake_binfmt / "qemu-aarch64").write_text(ENTRY.format(flags="OCF"))
    assert binfmt.flags("arm64") == "OCF"
    assert binfmt.flags("amd64") == ""


def test_ready_handler_is_left_alone(fake_binfmt: Path) -> None:
    (fake_binfmt / "register").write_text("")
    (fake_binfmt / "qemu-aarch64").write_text(ENTRY.format(flags="PF"))
    assert "already registered" in binfmt.ensure("arm64")
    assert (fake_binfmt / "register").read_text() == ""


def test_missing_qemu_names_the_package(fake_binfmt: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (fake_binfmt / "register").write_text("")
    monkeypatch.setitem(binfmt.CONF, "arm64", tmp_path / "absent.conf")
    with pytest.raises(binfmt.BinfmtError, match="apt-get install qemu-user-static"):
        binfmt.ensure("arm64")


def test_unknown_arch() -> None:
    with pytest.raises(binfmt.BinfmtError, match="no binfmt recipe"):
        binfmt.ensure("riscv64")
