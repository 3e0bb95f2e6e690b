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


QEMU_AARCH64 = (  # as the kernel shows Debian's qemu-aarch64 entry
    "enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: POF\noffset 0\n"
    "magic 7f454c460201010000000000000000000200b700\nmask ffffffffffffff00fffffffffffffffffeffffff\n"
)


def test_register_line_recreates_the_packaged_entry() -> None:
    """The line built from the kernel's view is the one Debian's qemu-user-static registers."""
    packaged = (
        r":qemu-aarch64:M:0:\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:"
        r"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:"
        r"/usr/libexec/qemu-binfmt/aarch64-binfmt-P:POFC"
    )
    assert binfmt.register_line("qemu-aarch64", binfmt.parse_entry(QEMU_AARCH64), "POFC") == packaged


@pytest.fixture
def real_entry() -> str:
    """A throw-away entry in this machine's real binfmt_misc (its magic matches no real file)."""
    import os

    from minilab.hosts import LocalHost

    if os.geteuid() != 0 or not (binfmt.BINFMT / "register").exists():
        pytest.skip("needs root and binfmt_misc mounted (as the lab's CI has)")
    name = f"minilab-unit-{os.getpid()}"
    line = rf":{name}:M:3:\x00\xffminilab\x01:\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe:/bin/false:P"
    (binfmt.BINFMT / "register").write_text(line)
    yield name
    LocalHost().run(["sh", "-c", f"echo -1 > {binfmt.BINFMT / name}"])


def test_set_flags_then_restore_on_the_real_kernel(real_entry: str) -> None:
    from minilab.hosts import LocalHost

    host = LocalHost()
    before = binfmt.read_entry(host, real_entry)
    assert before is not None and before["flags"] == "P"
    saved = binfmt.set_flags(host, real_entry, "FC")
    now = binfmt.read_entry(host, real_entry)
    # C implies O in the kernel; everything else of the entry is unchanged
    assert saved == before and set(now["flags"]) == set("POFC"), now
    assert {k: v for k, v in now.items() if k != "flags"} == {k: v for k, v in before.items() if k != "flags"}
    assert binfmt.set_flags(host, real_entry, "FC") is None  # already there: nothing to do
    binfmt.restore(host, real_entry, saved)
    assert binfmt.read_entry(host, real_entry) == before
