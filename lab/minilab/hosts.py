"""Where scenarios run. One small interface, one class per transport (pytest-testinfra's shape).

A scenario only calls `run`, `put` and `mini_container`; the same test runs unchanged on the local
host, in a Vagrant VM, or over plain ssh.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class CommandResult:
    rc: int
    stdout: str
    stderr: str

    def __str__(self) -> str:
        return f"rc={self.rc}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"


class Host:
    """A machine the lab can run commands on."""

    name = "host"

    def run(self, cmd: list[str] | str, timeout: float = 120) -> CommandResult:
        raise NotImplementedError

    def put(self, local: Path, remote: str) -> None:
        raise NotImplementedError

    def runtime_command(self) -> list[str]:
        """How to start the runtime on this host."""
        raise NotImplementedError

    def mini_container(self, args: list[str], timeout: float = 120) -> CommandResult:
        return self.run([*self.runtime_command(), *args], timeout=timeout)

    def cgroup_leftovers(self, parent: str) -> list[str]:
        """Directories left under a cgroup parent, on whichever hierarchies the host has."""
        script = f"find /sys/fs/cgroup -mindepth 2 -maxdepth 4 -type d -path '*/{parent}/*' 2>/dev/null || true"
        return self.run(["sh", "-c", script]).stdout.split()

    def remove_cgroup_parent(self, parent: str) -> None:
        script = f"find /sys/fs/cgroup -depth -type d -path '*/{parent}' -exec rmdir {{}} + 2>/dev/null || true"
        self.run(["sh", "-c", script])

    def mounts_under(self, path: str) -> list[str]:
        out = self.run(["sh", "-c", "cat /proc/self/mountinfo"]).stdout
        return [line.split()[4] for line in out.splitlines() if line.split()[4].startswith(path)]


class LocalHost(Host):
    """This machine, as root. The runtime runs from this interpreter, as installed in its venv."""

    name = "local"

    def run(self, cmd: list[str] | str, timeout: float = 120) -> CommandResult:
        argv = ["sh", "-c", cmd] if isinstance(cmd, str) else cmd
        try:
            p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as e:
            raise TimeoutError(f"{shlex.join(argv)} did not finish in {timeout}s") from e
        return CommandResult(p.returncode, p.stdout, p.stderr)

    def put(self, local: Path, remote: str) -> None:
        if local.is_dir():
            shutil.copytree(local, remote, symlinks=True, dirs_exist_ok=True)
        else:
            shutil.copy2(local, remote)

    def runtime_command(self) -> list[str]:
        return [sys.executable, "-m", "mini_container"]

    @staticmethod
    def is_root() -> bool:
        return os.geteuid() == 0
