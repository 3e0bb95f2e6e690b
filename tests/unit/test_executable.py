from __future__ import annotations

from pathlib import Path

import pytest

from mini_container import executable
from mini_container.errors import ContainerError

AARCH64_ELF = b"\x7fELF\x02\x01\x01\x00" + b"\0" * 8 + b"\x02\x00\xb7\x00" + b"\0" * 100
QEMU_AARCH64 = """enabled
interpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P
flags: {flags}
offset 0
magic 7f454c460201010000000000000000000200b700
mask ffffffffffffff00fffffffffffffffffeffffff
"""


def test_resolve_by_path_and_by_name(rootfs: Path) -> None:
    assert executable.resolve(str(rootfs), "/bin/sh", "/bin", "/") == "/bin/sh"
    assert executable.resolve(str(rootfs), "sh", "/usr/bin:/bin", "/") == "/bin/sh"
    assert executable.resolve(str(rootfs), "ash", "/bin", "/") == "/bin/ash"  # a symlink to sh
    assert executable.resolve(str(rootfs), "./sh", "/bin", "/bin") == "/bin/sh"


@pytest.mark.parametrize(
    ("command", "code", "message"),
    [
        ("nope", 127, "not found"),
        ("/bin/nope", 127, "not found"),
        ("/etc/passwd", 126, "not executable"),
        ("passwd", 126, "not executable"),  # on PATH, but no x bit
        ("/etc", 126, "is a directory"),
    ],
)
def test_resolve_failures(rootfs: Path, command: str, code: int, message: str) -> None:
    with pytest.raises(ContainerError, match=message) as err:
        executable.resolve(str(rootfs), command, "/bin:/etc", "/")
    assert err.value.exit_code == code


def test_elf_machine() -> None:
    assert executable.elf_machine(AARCH64_ELF) == 183
    assert executable.elf_machine(b"#!/bin/sh\n") is None


def _binfmt(tmp_path: Path, flags: str | None) -> Path:
    d = tmp_path / "binfmt"
    d.mkdir()
    (d / "status").write_text("enabled\n")
    (d / "register").write_text("")
    if flags is not None:
        (d / "qemu-aarch64").write_text(QEMU_AARCH64.format(flags=flags))
    return d


@pytest.fixture
def arm_rootfs(rootfs: Path) -> Path:
    (rootfs / "bin/arm").write_bytes(AARCH64_ELF)
    (rootfs / "bin/arm").chmod(0o755)
    (rootfs / "bin/script").write_text("#!/bin/arm -x\necho\n")
    (rootfs / "bin/script").chmod(0o755)
    return rootfs


@pytest.mark.skipif(executable.host_machine() != 62, reason="fixture binaries are foreign to x86_64 only")
class TestForeignArchitecture:
    def test_no_handler_names_the_fix(self, arm_rootfs: Path, tmp_path: Path) -> None:
        with pytest.raises(ContainerError) as err:
            executable.check_runnable(str(arm_rootfs), "/bin/arm", str(_binfmt(tmp_path, None)))
        assert err.value.exit_code == 126
        assert "aarch64 binary" in err.value.message and "qemu-user-static" in err.value.message
        assert "qemu-aarch64" in err.value.message

    def test_binfmt_not_mounted(self, arm_rootfs: Path, tmp_path: Path) -> None:
        with pytest.raises(ContainerError, match="no binfmt handler"):
            executable.check_runnable(str(arm_rootfs), "/bin/arm", str(tmp_path / "absent"))

    def test_handler_with_f_flag(self, arm_rootfs: Path, tmp_path: Path) -> None:
        executable.check_runnable(str(arm_rootfs), "/bin/arm", str(_binfmt(tmp_path, "PF")))

    def test_handler_without_f_flag_needs_the_interpreter_inside(self, arm_rootfs: Path, tmp_path: Path) -> None:
        with pytest.raises(ContainerError, match="F flag"):
            executable.check_runnable(str(arm_rootfs), "/bin/arm", str(_binfmt(tmp_path, "P")))

    def test_script_interpreter_is_checked(self, arm_rootfs: Path, tmp_path: Path) -> None:
        with pytest.raises(ContainerError, match="aarch64 binary"):
            executable.check_runnable(str(arm_rootfs), "/bin/script", str(_binfmt(tmp_path, None)))

    def test_disabled_binfmt(self, arm_rootfs: Path, tmp_path: Path) -> None:
        d = _binfmt(tmp_path, "F")
        (d / "status").write_text("disabled\n")
        with pytest.raises(ContainerError):
            executable.check_runnable(str(arm_rootfs), "/bin/arm", str(d))

    def test_native_binary_passes(self, rootfs: Path, tmp_path: Path) -> None:
        executable.check_runnable(str(rootfs), "/bin/sh", str(_binfmt(tmp_path, None)))
