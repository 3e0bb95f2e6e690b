"""The VM lab's settings (MINILAB_* variables), its paths, and its progress lines."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
LAB_DIR = REPO / "lab"
OUT = REPO / "out"
SETTINGS_FILE = LAB_DIR / ".minilab-settings.json"
DOMAIN_PREFIX = "minilab_"


class LabError(RuntimeError):
    pass


_STARTED = time.monotonic()


def say(message: str) -> None:
    print(f"lab [{time.monotonic() - _STARTED:4.0f}s]: {message}", file=sys.stderr, flush=True)


@dataclass
class Settings:
    box: str = ""  # "" = the Vagrantfile's default (Ubuntu 22.04); "offline" = build the local box
    cpus: int = 2
    memory: int = 2048
    ssh_port: int = 2222
    net: str = "default"  # or "loopback"
    driver: str = "kvm"  # or "qemu" (software emulation)
    name: str = "minilab"
    provider: str = "libvirt"  # or virtualbox
    cgroup: str = "v2"  # offline box variant
    stage: str = str(OUT / "vm-stage")
    serial_log: str = str(OUT / "vm-serial.log")

    @classmethod
    def from_env(cls) -> Settings:
        s = cls()
        for f in ("box", "cpus", "memory", "ssh_port", "net", "driver", "name", "provider", "cgroup"):
            value = os.environ.get(f"MINILAB_{f.upper()}")
            if value:
                setattr(s, f, type(getattr(cls(), f))(value))
        return s

    def vagrant_env(self, box_name: str) -> dict[str, str]:
        env = {
            "MINILAB_CPUS": str(self.cpus), "MINILAB_MEMORY": str(self.memory),
            "MINILAB_SSH_PORT": str(self.ssh_port), "MINILAB_NET": self.net, "MINILAB_DRIVER": self.driver,
            "MINILAB_VM_NAME": self.name, "MINILAB_STAGE": self.stage, "MINILAB_SERIAL_LOG": self.serial_log,
        }  # fmt: skip
        if box_name:
            env["MINILAB_BOX"] = box_name
        return env
