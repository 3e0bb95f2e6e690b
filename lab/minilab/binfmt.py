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
    """Make arch binaries runnable here; idempotent, and safe when several processes (xdist workers)
    ask at once: one at a time, each re-reading what the one before it did. Returns what it did."""
    if arch not in CONF:
        raise BinfmtError(f"no binfmt recipe for {arch!r} (known: {', '.join(CONF)})")
    if status(arch) == "ready":
        return f"{NAMES[arch]} already registered with the F flag"
    if os.geteuid() != 0:
        raise BinfmtError(f"{NAMES[arch]} is not registered with the F flag, and registering it needs root")
    import fcntl

    from .cache import cache_dir

    with open(cache_dir() / "binfmt.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _register(arch)


def _register(arch: str) -> str:
    if not _mounted():
        subprocess.run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(BINFMT)], check=True, capture_output=True)
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


# On the host under test ------------------------------------------------------------------------
# The scenarios decide from the host they run on (a VM's binfmt is not the controller's): these
# read and write its entries through Host.run, as root there.


def parse_entry(text: str) -> dict[str, str]:
    """/proc/sys/fs/binfmt_misc/<name> → {"state", "interpreter", "flags", "offset", "magic", "mask"}."""
    lines = text.splitlines()
    fields = {"state": lines[0].strip() if lines else ""}
    for line in lines[1:]:
        key, _, value = line.partition(" ")
        fields[key.rstrip(":")] = value.strip()
    return fields


def register_line(name: str, entry: dict[str, str], flags: str) -> str:
    """The register line that re-creates a magic entry with other flags (the kernel decodes \\x)."""

    def escaped(hexstr: str) -> str:
        return "".join(f"\\x{hexstr[i : i + 2]}" for i in range(0, len(hexstr), 2))

    mask = escaped(entry["mask"]) if entry.get("mask") else ""
    return f":{name}:M:{entry.get('offset', '0')}:{escaped(entry['magic'])}:{mask}:{entry['interpreter']}:{flags}"


def read_entry(host, name: str) -> dict[str, str] | None:  # noqa: ANN001 - a minilab.hosts.Host
    r = host.run(["cat", str(BINFMT / name)])
    return parse_entry(r.stdout) if r.rc == 0 and r.stdout else None


def host_flags(host, arch: str) -> str:  # noqa: ANN001
    entry = read_entry(host, NAMES[arch])
    return entry.get("flags", "") if entry else ""


def set_flags(host, name: str, flags: str) -> dict[str, str] | None:  # noqa: ANN001
    """Re-register entry `name` on host with `flags` added (e.g. "FC" for qemu-aarch64: the kernel
    then computes a setuid emulated binary's credentials from the binary, as for a native one).
    → the entry as it was (for restore), or None when there is nothing to change (no entry: a
    native-only host; or the flags are there already)."""
    before = read_entry(host, name)
    if before is None or all(f in before.get("flags", "") for f in flags):
        return None
    wanted = before.get("flags", "") + "".join(f for f in flags if f not in before.get("flags", ""))
    _replace(host, name, register_line(name, before, wanted))
    return before


def restore(host, name: str, before: dict[str, str]) -> None:  # noqa: ANN001
    """Put back the entry that set_flags replaced, flags and state as they were."""
    _replace(host, name, register_line(name, before, before.get("flags", "")))
    if before.get("state") == "disabled":
        host.run(["sh", "-c", f"echo 0 > {BINFMT / name}"])


def _replace(host, name: str, line: str) -> None:  # noqa: ANN001
    import shlex

    r = host.run(["sh", "-c", f"echo -1 > {BINFMT / name} && printf '%s' {shlex.quote(line)} > {BINFMT / 'register'}"])
    if r.rc != 0:
        raise BinfmtError(f"re-registering {name} on {host.name} failed: {r.stderr.strip()}")
