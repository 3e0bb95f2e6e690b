"""The VM lab's settings (MINILAB_* variables), its guests, its paths, and its progress lines.

A run has one or more guests, each a machine of the one multi-machine lab/Vagrantfile:

  debian-v2      the offline Debian 12 box (built here from Debian packages), cgroup v2
  debian-v1      the same box booted with systemd.unified_cgroup_hierarchy=0: cgroup v1
  ubuntu-22.04   Ubuntu 22.04 from Vagrant Cloud (ubuntu/jammy64, generic/ubuntu2204 on libvirt)

MINILAB_GUESTS picks them (comma list); by default what this machine can boot: the two offline
guests with MINILAB_BOX=offline, else Ubuntu 22.04. MINILAB_BOX=<a box name> boots that box as the
one guest MINILAB_VM_NAME (default "minilab"), its cgroup version read from the guest.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import asdict, dataclass, field
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


@dataclass(frozen=True)
class Guest:
    name: str  # the Vagrantfile's machine name, the matrix's column prefix, the ssh alias
    box: str  # "offline" (built here), "" (the Vagrantfile's Ubuntu 22.04), or a box name
    cgroup: str  # the offline box's variant (what any guest really has is read from it)
    port_offset: int  # its ssh forward is 127.0.0.1:(MINILAB_SSH_PORT + offset), loopback mode


CATALOG = {
    "debian-v2": Guest("debian-v2", "offline", "v2", 0),
    "debian-v1": Guest("debian-v1", "offline", "v1", 1),
    "ubuntu-22.04": Guest("ubuntu-22.04", "", "v2", 2),
}


def guests_from_env(env: dict[str, str] | None = None) -> list[Guest]:
    env = dict(os.environ) if env is None else env
    box, names = env.get("MINILAB_BOX", ""), env.get("MINILAB_GUESTS", "")
    if not names and box not in ("", "offline"):  # one guest of a box the user names
        return [Guest(env.get("MINILAB_VM_NAME") or "minilab", box, env.get("MINILAB_CGROUP") or "v2", 0)]
    if not names:
        cgroup = env.get("MINILAB_CGROUP")
        names = ("debian-" + cgroup if cgroup else "debian-v2,debian-v1") if box == "offline" else "ubuntu-22.04"
    picked = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in picked if n not in CATALOG]
    if unknown or not picked:
        raise LabError(f"MINILAB_GUESTS={names!r}: unknown guest {', '.join(unknown)}; known: {', '.join(CATALOG)}")
    return [CATALOG[n] for n in dict.fromkeys(picked)]


@dataclass
class Settings:
    cpus: int = 2
    memory: int = 2048
    ssh_port: int = 2222  # the first guest's; the others follow (Guest.port_offset)
    net: str = "default"  # or "loopback"
    driver: str = "kvm"  # or "qemu" (software emulation)
    provider: str = "libvirt"  # or virtualbox
    stage: str = str(OUT / "vm-stage")
    guests: list[Guest] = field(default_factory=lambda: [CATALOG["ubuntu-22.04"]])

    @classmethod
    def from_env(cls) -> Settings:
        s = cls(guests=guests_from_env())
        for f in ("cpus", "memory", "ssh_port", "net", "driver", "provider"):
            value = os.environ.get(f"MINILAB_{f.upper()}")
            if value:
                setattr(s, f, type(getattr(cls(), f))(value))
        return s

    def port(self, guest: Guest) -> int:
        return self.ssh_port + guest.port_offset

    def serial_log(self, guest: Guest) -> str:
        return str(OUT / f"vm-serial-{guest.name}.log")

    def for_vagrantfile(self, boxes: dict[str, str]) -> dict:
        """What lab/Vagrantfile reads from SETTINGS_FILE: the shared settings and each guest's
        machine (box resolved to a name; "" for the Vagrantfile's own default)."""
        common = {k: v for k, v in asdict(self).items() if k != "guests"}
        machines = [{"name": g.name, "box": boxes.get(g.name, ""), "ssh_port": self.port(g),
                     "serial_log": self.serial_log(g), "cgroup": g.cgroup} for g in self.guests]  # fmt: skip
        return {**common, "guests": machines}
