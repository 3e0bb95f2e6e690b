"""Run foreign root filesystems (arm64 on x86_64, amd64 on arm64): qemu-user-static through binfmt_misc.

The handler needs the F flag: the kernel then opens the interpreter when it is registered, so it
works inside a chroot or container whose rootfs has no qemu in it.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

BINFMT = Path("/proc/sys/fs/binfmt_misc")
CONF = {"arm64": Path("/usr/lib/binfmt.d/qemu-aarch64.conf"), "amd64": Path("/usr/lib/binfmt.d/qemu-x86_64.conf")}
NAMES = {"arm64": "qemu-aarch64", "amd64": "qemu-x86_64"}


class BinfmtError(RuntimeError):
    pass


def _mounted() -> bool:
    return (BINFMT / "register").exists()


def flags(arch: str) -> str:
    entry = BINFMT / NAMES[arch]
    if not entry.exists():
        return ""
    lines = entry.read_text().splitlines()
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith("flags:")), "")


def status(arch: str) -> str:
    """'ready', 'no-f-flag', 'disabled' or 'missing'."""
    entry = BINFMT / NAMES[arch]
    if not entry.exists():
        return "missing"
    if not entry.read_text().startswith("enabled"):
        return "disabled"
    return "ready" if "F" in flags(arch) else "no-f-flag"


def ensure(arch: str) -> str:
    """Make arch binaries runnable here; idempotent. Returns what it did, for the log."""
    if arch not in CONF:
        raise BinfmtError(f"no binfmt recipe for {arch!r} (known: {', '.join(CONF)})")
    if not _mounted():
        if os.geteuid() != 0:
            raise BinfmtError("binfmt_misc is not mounted and mounting it needs root")
        subprocess.run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(BINFMT)], check=True)
    current = status(arch)
    if current == "ready":
        return f"{NAMES[arch]} already registered with the F flag"
    conf = CONF[arch]
    if not conf.exists():
        raise BinfmtError(f"{conf} is missing: apt-get install qemu-user-static (it provides {NAMES[arch]})")
    line = conf.read_text().strip()
    if "F" not in line.rsplit(":", 1)[1]:
        line += "F"
    if current != "missing":  # registered without F, or disabled: replace it
        (BINFMT / NAMES[arch]).write_text("-1")
    (BINFMT / "register").write_text(line)
    if status(arch) != "ready":
        raise BinfmtError(f"registering {NAMES[arch]} did not take (status: {status(arch)})")
    return f"registered {NAMES[arch]} ({line.rsplit(':', 2)[1]}, flags {line.rsplit(':', 1)[1]})"
