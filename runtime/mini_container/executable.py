"""Find the command in the rootfs and check that this host can run it, before anything is created.

A foreign-architecture ELF only runs if a binfmt_misc handler matches it; otherwise execve fails with
a bare ENOEXEC, so we say what is missing instead.
"""

import os
import stat

from .errors import EXIT_NOT_EXECUTABLE, EXIT_NOT_FOUND, ContainerError
from .paths import secure_join

ELF_MACHINES = {
    3: "i386", 8: "mips", 20: "ppc", 21: "ppc64", 22: "s390x", 40: "arm", 62: "x86_64",
    183: "aarch64", 243: "riscv64",
}  # fmt: skip
_HOST_MACHINES = {"x86_64": 62, "amd64": 62, "aarch64": 183, "arm64": 183, "armv7l": 40,
                  "i686": 3, "riscv64": 243, "s390x": 22, "ppc64le": 21}  # fmt: skip
QEMU_NAMES = {"aarch64": "qemu-aarch64", "arm": "qemu-arm", "x86_64": "qemu-x86_64",
              "riscv64": "qemu-riscv64", "s390x": "qemu-s390x", "ppc64": "qemu-ppc64le"}  # fmt: skip
BINFMT_DIR = "/proc/sys/fs/binfmt_misc"


def resolve(rootfs: str, command: str, path_var: str, workdir: str) -> str:
    """The command's path as the container sees it. 127 if absent, 126 if not executable."""
    if "/" in command:
        inside = command if command.startswith("/") else os.path.join(workdir, command)
        _check_executable(rootfs, inside, command)
        return os.path.normpath(inside)
    found_not_executable = None
    for directory in path_var.split(":"):
        if not directory.startswith("/"):
            continue
        inside = os.path.join(directory, command)
        host = secure_join(rootfs, inside)
        try:
            st = os.stat(host)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and st.st_mode & 0o111:
            return inside
        found_not_executable = found_not_executable or inside
    if found_not_executable:
        _check_executable(rootfs, found_not_executable, command)
    raise ContainerError(f"command {command!r} not found in the rootfs (searched PATH={path_var})", EXIT_NOT_FOUND)


def _check_executable(rootfs: str, inside: str, command: str) -> None:
    host = secure_join(rootfs, inside)
    try:
        st = os.stat(host)
    except OSError:
        raise ContainerError(f"command {command!r} not found in the rootfs", EXIT_NOT_FOUND) from None
    if stat.S_ISDIR(st.st_mode):
        raise ContainerError(f"command {command!r} is a directory", EXIT_NOT_EXECUTABLE)
    if not stat.S_ISREG(st.st_mode) or not st.st_mode & 0o111:
        raise ContainerError(f"command {command!r} is not executable (permission denied)", EXIT_NOT_EXECUTABLE)


def host_machine() -> int | None:
    return _HOST_MACHINES.get(os.uname().machine)


def elf_machine(header: bytes) -> int | None:
    if len(header) < 20 or header[:4] != b"\x7fELF":
        return None
    order = "little" if header[5] == 1 else "big"
    return int.from_bytes(header[18:20], order)


def binfmt_handlers(directory: str = BINFMT_DIR) -> list[dict[str, str]]:
    """Enabled binfmt_misc entries (empty when binfmt_misc is not mounted or disabled)."""
    try:
        with open(os.path.join(directory, "status")) as f:
            if f.read().strip() != "enabled":
                return []
        names = os.listdir(directory)
    except OSError:
        return []
    handlers = []
    for name in names:
        if name in ("status", "register"):
            continue
        try:
            with open(os.path.join(directory, name)) as f:
                lines = f.read().splitlines()
        except OSError:
            continue
        if not lines or lines[0] != "enabled":
            continue
        entry = {"name": name}
        for line in lines[1:]:
            key, _, value = line.partition(" ")
            entry[key.rstrip(":")] = value.strip()
        handlers.append(entry)
    return handlers


def _matches(entry: dict[str, str], header: bytes) -> bool:
    if "magic" not in entry:
        return False  # an extension-based entry never matches an ELF
    magic = bytes.fromhex(entry["magic"])
    mask = bytes.fromhex(entry["mask"]) if "mask" in entry else b"\xff" * len(magic)
    offset = int(entry.get("offset", "0"))
    data = header[offset : offset + len(magic)]
    if len(data) < len(magic):
        return False
    return all((d & m) == (g & m) for d, m, g in zip(data, mask, magic, strict=False))


def check_runnable(rootfs: str, inside: str, handlers_dir: str = BINFMT_DIR, depth: int = 0) -> None:
    """126 with the fix named, if the binary is for another architecture and nothing can run it."""
    host = secure_join(rootfs, inside)
    try:
        with open(host, "rb") as f:
            header = f.read(256)
    except OSError:
        return  # unreadable by us: execve will say why
    if header.startswith(b"#!") and depth == 0:
        interpreter = header[2:].split(b"\n", 1)[0].strip().split(b" ", 1)[0].decode(errors="replace")
        if interpreter.startswith("/"):
            check_runnable(rootfs, interpreter, handlers_dir, depth + 1)
        return
    machine = elf_machine(header)
    if machine is None or machine == host_machine():
        return
    arch = ELF_MACHINES.get(machine, f"ELF machine {machine}")
    here = os.uname().machine
    for entry in binfmt_handlers(handlers_dir):
        if not _matches(entry, header):
            continue
        interp = entry.get("interpreter", "")
        if "F" in entry.get("flags", ""):
            return
        if os.path.exists(secure_join(rootfs, interp)):
            return
        raise ContainerError(
            f"{inside} is an {arch} binary; the binfmt handler {entry['name']} uses {interp}, which is "
            f"not inside the rootfs: re-register it with the F flag (qemu-user-static does)",
            EXIT_NOT_EXECUTABLE,
        )
    qemu = QEMU_NAMES.get(arch, "qemu-<arch>")
    raise ContainerError(
        f"{inside} is an {arch} binary and this {here} host has no binfmt handler for it: "
        f"install qemu-user-static and register {qemu} with the F flag",
        EXIT_NOT_EXECUTABLE,
    )
