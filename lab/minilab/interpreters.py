"""Which CPython interpreters the nox sessions run on: the ones this machine has, never assumed.

The lab's own sessions (lint, e2e, e2e_local, bench, the VM) run on the interpreter that runs nox: the
system `python3` of the machine (3.10 on Ubuntu 22.04, 3.11 on Debian 12). `unit` runs on every
CPython >= 3.10 found on PATH, plus pyenv's when there is a pyenv (never required). pyenv's shims are
shell scripts that refuse versions which are not active, so only real interpreters (ELF files) count.

nox resolves a session's "3.X" by searching PATH; `link_farm` makes a directory with exactly one
`python3.X` per version found, which the noxfile puts first on PATH, so what runs is what was printed.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

MINIMUM = (3, 10)
_NAME = re.compile(r"^python3\.(\d+)$")


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(x) for x in version.split("."))


def is_real(path: Path) -> bool:
    """An executable ELF file (following symlinks): not a pyenv shim or another wrapper script."""
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF" and os.access(path, os.X_OK)
    except OSError:
        return False


def pyenv_dirs(env: dict[str, str] | None = None) -> list[Path]:
    env = os.environ if env is None else env
    root = Path(env["PYENV_ROOT"]) if env.get("PYENV_ROOT") else Path(env.get("HOME", "/nonexistent")) / ".pyenv"
    return sorted(root.glob("versions/3.*/bin"))


def host() -> tuple[str, str]:
    """The interpreter running this code (nox's), as its base installation, not the venv's copy."""
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    candidate = Path(sys.base_prefix) / "bin" / f"python{version}"
    if not is_real(candidate):
        candidate = Path(getattr(sys, "_base_executable", sys.executable))
    return version, str(candidate)


def discover(search: list[Path], host_interpreter: tuple[str, str]) -> dict[str, str]:
    """version -> interpreter: the host's for its version, else the first real python3.X in `search`."""
    found = {host_interpreter[0]: host_interpreter[1]}
    for directory in search:
        try:
            names = sorted(os.listdir(directory))
        except OSError:
            continue
        for name in names:
            m = _NAME.match(name)
            if not m or (3, int(m.group(1))) < MINIMUM:
                continue
            version = f"3.{m.group(1)}"
            if version not in found and is_real(directory / name):
                found[version] = str(directory / name)
    return dict(sorted(found.items(), key=lambda kv: _key(kv[0])))


def search_path(env: dict[str, str] | None = None) -> list[Path]:
    env = os.environ if env is None else env
    dirs = [Path(d) for d in env.get("PATH", "").split(os.pathsep) if d]
    return dirs + pyenv_dirs(env)


def link_farm(interpreters: dict[str, str], directory: Path) -> Path:
    """One `python3.X` symlink per interpreter, and nothing else (stale links removed)."""
    directory.mkdir(parents=True, exist_ok=True)
    wanted = {f"python{v}": p for v, p in interpreters.items()}
    for entry in directory.iterdir():
        if entry.name not in wanted or os.readlink(entry) != wanted[entry.name]:
            entry.unlink()
    for name, target in wanted.items():
        link = directory / name
        if not link.is_symlink():
            link.symlink_to(target)
    return directory
