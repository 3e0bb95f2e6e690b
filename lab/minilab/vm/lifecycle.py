"""The Vagrant lifecycle through python-vagrant: up (or reuse) every guest in parallel, provision
each over ssh, destroy them one by one."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass

from .. import box as boxes
from ..hosts import VM_PROVISION, VM_STAGE, SshHost
from .libvirt import LibvirtDaemons, sweep
from .settings import LAB_DIR, OUT, SETTINGS_FILE, Guest, LabError, Settings, say
from .staging import upload


def _not_ready_retry(fn, what: str, attempts: int = 20, delay: float = 3.0):  # noqa: ANN001, ANN202
    """Right after boot (and after vagrant sets the hostname, which restarts the guest's network),
    vagrant-libvirt briefly reports the machine "not yet ready for SSH": try again for a minute."""
    for attempt in range(attempts):
        try:
            return fn()
        except subprocess.CalledProcessError:
            if attempt == attempts - 1:
                raise
            say(f"{what}: guest not ready yet, retrying")
            time.sleep(delay)
    return None


@dataclass
class Up:
    """One guest, up and provisioned."""

    guest: Guest
    host: SshHost
    boot_seconds: float  # 0 when a running guest was reused
    provision_seconds: float


class Lab:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        OUT.mkdir(exist_ok=True)
        self.daemons = LibvirtDaemons()
        self.boxes: dict[str, str] = {}  # guest name -> box name ("" = the Vagrantfile's default)

    def log(self, guest: Guest) -> str:
        return str(OUT / f"vagrant-{guest.name}.log")

    def _box_name(self, guest: Guest) -> str:
        if guest.box != "offline":
            return guest.box
        name = boxes.box_name(guest.cgroup)
        say(f"{guest.name}: building (or reusing) the offline Debian box {name}")
        boxes.add(boxes.build(guest.cgroup), name)
        return name

    def _vagrant(self, guest: Guest):  # noqa: ANN202
        import vagrant

        log = vagrant.make_file_cm(self.log(guest))
        return vagrant.Vagrant(root=str(LAB_DIR), env=dict(os.environ), out_cm=log, err_cm=log, quiet_stdout=False,
                               quiet_stderr=False)  # fmt: skip

    def save_settings(self) -> None:
        SETTINGS_FILE.write_text(json.dumps(self.settings.for_vagrantfile(self.boxes), indent=2) + "\n")

    def up(self) -> list[Up]:
        """Boot (or reuse) every guest at once, then provision each; → one Up per guest, in order."""
        if shutil.which("vagrant") is None:
            raise LabError("vagrant is not installed: apt-get install vagrant vagrant-libvirt libvirt-daemon-system")
        libvirt = self.settings.provider == "libvirt"
        if libvirt:
            self.daemons.start()
        if libvirt and not SETTINGS_FILE.exists():  # no VM is meant to exist: anything of ours is a leftover
            for guest in self.settings.guests:
                sweep(guest.name)
        for guest in self.settings.guests:  # one at a time: `vagrant box add` of a shared box must not race
            self.boxes[guest.name] = self._box_name(guest)
        self.save_settings()
        # once, before the threads: `vagrant status` reads every machine, and one that another
        # thread is booting is locked (status then fails)
        states = {s.name: s.state for s in self._vagrant(self.settings.guests[0]).status()}
        results: dict[str, Up | BaseException] = {}

        def bring_up(guest: Guest) -> None:
            try:
                results[guest.name] = self._up_one(guest, states.get(guest.name))
            except BaseException as e:  # noqa: BLE001 - reported below, in the caller's thread
                results[guest.name] = e

        threads = [threading.Thread(target=bring_up, args=(g,), name=g.name) for g in self.settings.guests]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        failed = {name: r for name, r in results.items() if isinstance(r, BaseException)}
        if failed:
            name, error = next(iter(failed.items()))
            if isinstance(error, LabError):
                raise LabError(f"{name}: {error}")
            raise error
        ups = [results[g.name] for g in self.settings.guests]
        configs = [u.host.ssh_config_text for u in ups]  # type: ignore[union-attr]
        (OUT / "vm-ssh-config").write_text("\n".join(configs))
        return ups  # type: ignore[return-value]

    def _up_one(self, guest: Guest, status: str | None) -> Up:
        v = self._vagrant(guest)
        started = time.monotonic()
        boot = 0.0
        try:
            if status == "running":
                say(f"{guest.name}: reusing the running VM")
            else:
                say(f"{guest.name}: booting from {self.boxes[guest.name] or 'the default box'} "
                    f"({self.settings.driver}, {self.settings.net} network); log: {self.log(guest)}")  # fmt: skip
                v.up(vm_name=guest.name, provider=self.settings.provider, provision=False)
                boot = time.monotonic() - started
                say(f"{guest.name}: booted in {boot:.0f}s")
            config = _not_ready_retry(lambda: v.ssh_config(vm_name=guest.name), f"{guest.name}: ssh-config")
            host = SshHost.from_ssh_config(config, guest.name, label=guest.name)
            self._wait_for_ssh(host)
        except subprocess.CalledProcessError as e:
            raise LabError(
                f"vagrant failed ({e.returncode}): see {self.log(guest)} and the guest console in "
                f"{self.settings.serial_log(guest)}"
            ) from None
        started = time.monotonic()
        report = upload(host, self.settings)
        say(f"{guest.name}: provisioning (lab/provision.sh): {report}")
        r = host.run(["bash", VM_PROVISION, VM_STAGE], timeout=1800)
        if r.rc != 0:
            raise LabError(f"provision.sh failed ({r.rc}): {(r.stdout + r.stderr).strip()[-800:]}")
        provisioned = time.monotonic() - started
        headline = host.run(["sh", "-c", "head -1 /etc/motd"]).stdout.strip()
        changes = [line.removeprefix("provision: ") for line in r.stdout.splitlines() if line.startswith("provision:")]
        say(f"{guest.name}: provisioned in {provisioned:.0f}s: {headline} ({'; '.join(changes)})")
        return Up(guest, host, boot, provisioned)

    @staticmethod
    def _wait_for_ssh(host: SshHost, attempts: int = 60) -> None:
        for attempt in range(attempts):  # "not ready for SSH" right after boot
            try:
                if host.run(["true"], timeout=30).rc == 0:
                    return
            except Exception:  # noqa: BLE001 - paramiko raises many kinds while sshd starts
                host.close()
                if attempt == attempts - 1:
                    raise LabError(f"ssh to {host.hostname}:{host.port} never answered") from None
                time.sleep(2)

    def saved_guests(self) -> list[Guest]:
        """The guests the settings file names (what an earlier `up` made), else this run's."""
        if not SETTINGS_FILE.exists():
            return list(self.settings.guests)
        saved = json.loads(SETTINGS_FILE.read_text()).get("guests", [])
        known = {g.name: g for g in self.settings.guests}
        return [known.get(m["name"]) or Guest(m["name"], m.get("box", ""), m.get("cgroup", "v2"), 0) for m in saved]

    def destroy(self, guests: list[Guest] | None = None) -> None:
        """Destroy these guests (default: every guest the settings file names); the settings file
        goes once no guest of it is left."""
        doomed = self.saved_guests() if guests is None else guests
        for guest in doomed:
            try:
                self._vagrant(guest).destroy(vm_name=guest.name)
            except subprocess.CalledProcessError:
                say(f"{guest.name}: vagrant destroy failed (see {self.log(guest)}); sweeping with virsh")
            if self.settings.provider == "libvirt":
                sweep(guest.name)
        if SETTINGS_FILE.exists():
            saved = json.loads(SETTINGS_FILE.read_text())
            names = {g.name for g in doomed}
            saved["guests"] = [m for m in saved.get("guests", []) if m["name"] not in names]
            if saved["guests"]:
                SETTINGS_FILE.write_text(json.dumps(saved, indent=2) + "\n")
            else:
                SETTINGS_FILE.unlink()
