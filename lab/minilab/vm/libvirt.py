"""libvirt on the host: its daemons (started only when nothing answers, stopped only if we started
them), /dev/kvm's mode, and the sweep of what an interrupted run left in libvirt."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from .settings import DOMAIN_PREFIX, OUT, LabError, say


@dataclass
class LibvirtDaemons:
    """libvirtd and virtlogd (PID 1 here is not systemd). Stops only the ones it started."""

    started: list[tuple[str, int]] = field(default_factory=list)
    kvm_mode: tuple[int, int] | None = None

    @staticmethod
    def _pid(daemon: str) -> int | None:
        try:
            pid = int(Path(f"/run/{daemon}.pid").read_text())
            os.kill(pid, 0)
            return pid
        except (OSError, ValueError):
            return None

    def start(self) -> None:
        kvm = Path("/dev/kvm")
        if kvm.exists():
            # libvirt re-probes KVM on every call unless /dev/kvm is group kvm, mode 660
            st = kvm.stat()
            import grp

            kvm_gid = grp.getgrnam("kvm").gr_gid if _group_exists("kvm") else st.st_gid
            if (st.st_gid, st.st_mode & 0o777) != (kvm_gid, 0o660):
                self.kvm_mode = (st.st_gid, st.st_mode & 0o777)
                os.chown(kvm, -1, kvm_gid)
                kvm.chmod(0o660)
        answering = subprocess.run(["virsh", "-c", "qemu:///system", "version"], capture_output=True).returncode == 0
        for daemon in ("virtlogd", "libvirtd"):
            # Already answering (systemd, socket activation, an earlier run): not ours to start or stop.
            if not answering and self._pid(daemon) is None:
                subprocess.run([daemon, "-d"], check=True)
                for _ in range(100):
                    pid = self._pid(daemon)
                    if pid:
                        self.started.append((daemon, pid))
                        break
                    time.sleep(0.1)
                else:
                    raise LabError(f"{daemon} did not start (see its log under /var/log/libvirt)")
        for _ in range(100):
            if subprocess.run(["virsh", "-c", "qemu:///system", "version"], capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        pools = subprocess.run(["virsh", "pool-list", "--all", "--name"], capture_output=True, text=True).stdout
        if "default" not in pools.split():
            Path("/var/lib/libvirt/images").mkdir(parents=True, exist_ok=True)
            subprocess.run(["virsh", "pool-define-as", "default", "dir", "--target", "/var/lib/libvirt/images"],
                           check=True, capture_output=True)  # fmt: skip
            subprocess.run(["virsh", "pool-start", "default"], check=True, capture_output=True)

    STATE = OUT / "libvirt-daemons.json"

    def save(self) -> None:
        """Remember what we started, so a later `down` (another process) stops exactly that."""
        known = json.loads(self.STATE.read_text()) if self.STATE.exists() else {"started": [], "kvm_mode": None}
        known["started"] += [list(x) for x in self.started]
        known["kvm_mode"] = known["kvm_mode"] or (list(self.kvm_mode) if self.kvm_mode else None)
        self.STATE.write_text(json.dumps(known))

    def load(self) -> None:
        if self.STATE.exists():
            known = json.loads(self.STATE.read_text())
            self.started = [(d, int(p)) for d, p in known["started"]] + self.started
            if known["kvm_mode"]:  # the mode from before any lab run touched /dev/kvm
                self.kvm_mode = tuple(known["kvm_mode"])  # type: ignore[assignment]
            self.STATE.unlink()

    def stop(self) -> None:
        for daemon, pid in reversed(self.started):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            for _ in range(100):
                if self._pid(daemon) != pid:
                    break
                time.sleep(0.1)
        self.started.clear()
        if self.kvm_mode is not None:
            gid, mode = self.kvm_mode
            os.chown("/dev/kvm", -1, gid)
            os.chmod("/dev/kvm", mode)
            self.kvm_mode = None


def _group_exists(name: str) -> bool:
    import grp

    try:
        grp.getgrnam(name)
        return True
    except KeyError:
        return False


def sweep_plan(name: str, domains: list[str], volumes: list[str]) -> tuple[list[str], list[str]]:
    """What to remove for machine `name`: its domain and disks; box base images only when no lab
    domain is left at all (another lab VM's disk may be an overlay on them)."""
    mine = f"{DOMAIN_PREFIX}{name}"
    doomed_domains = [d for d in domains if d == mine]
    others = [d for d in domains if d.startswith(DOMAIN_PREFIX) and d != mine]
    doomed_volumes = [v for v in volumes if v.startswith(mine)]
    if not others:
        doomed_volumes += [v for v in volumes if v.startswith("minilab-VAGRANTSLASH-")]
    return doomed_domains, doomed_volumes


def sweep(name: str = "minilab") -> list[str]:
    """Remove what an interrupted run of machine `name` left in libvirt."""
    domains = subprocess.run(["virsh", "list", "--all", "--name"], capture_output=True, text=True).stdout.split()
    listing = subprocess.run(["virsh", "vol-list", "default"], capture_output=True, text=True).stdout.splitlines()
    volumes = [line.split()[0] for line in listing[2:] if line.split()]
    doomed_domains, doomed_volumes = sweep_plan(name, domains, volumes)
    for domain in doomed_domains:
        subprocess.run(["virsh", "destroy", domain], capture_output=True)
        subprocess.run(["virsh", "undefine", domain, "--remove-all-storage", "--nvram"], capture_output=True)
    for vol in doomed_volumes:
        subprocess.run(["virsh", "vol-delete", vol, "--pool", "default"], capture_output=True)
    removed = [f"domain {d}" for d in doomed_domains] + [f"volume {v}" for v in doomed_volumes]
    for item in removed:
        say(f"swept {item}")
    return removed
