"""The Vagrant lifecycle through python-vagrant: up (or reuse), provision, destroy."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import asdict

from .. import box as boxes
from ..hosts import SshHost
from .libvirt import LibvirtDaemons, sweep
from .settings import LAB_DIR, OUT, SETTINGS_FILE, LabError, Settings, say


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


class Lab:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        OUT.mkdir(exist_ok=True)
        self.log = OUT / "vagrant.log"
        self.daemons = LibvirtDaemons()
        self.guest = ""  # the guest's motd headline, once up() has provisioned it

    def _box_name(self) -> str:
        if self.settings.box != "offline":
            return self.settings.box
        say("building (or reusing) the offline Debian box")
        name = boxes.box_name(self.settings.cgroup)
        boxes.add(boxes.build(self.settings.cgroup), name)
        return name

    def _vagrant(self, box_name: str):  # noqa: ANN202
        import vagrant

        env = {**os.environ, **self.settings.vagrant_env(box_name)}
        log = vagrant.make_file_cm(str(self.log))
        return vagrant.Vagrant(root=str(LAB_DIR), env=env, out_cm=log, err_cm=log, quiet_stdout=False,
                               quiet_stderr=False)  # fmt: skip

    def save_settings(self, box_name: str) -> None:
        SETTINGS_FILE.write_text(json.dumps({**asdict(self.settings), "box": box_name}, indent=2) + "\n")

    def up(self) -> SshHost:
        if shutil.which("vagrant") is None:
            raise LabError("vagrant is not installed: apt-get install vagrant vagrant-libvirt libvirt-daemon-system")
        libvirt = self.settings.provider == "libvirt"
        if libvirt:
            self.daemons.start()
        if libvirt and not SETTINGS_FILE.exists():  # no VM is meant to exist: anything of ours is a leftover
            sweep(self.settings.name)
        box_name = self._box_name()
        self.save_settings(box_name)
        v = self._vagrant(box_name)
        status = {s.name: s.state for s in v.status()}.get(self.settings.name)
        started = time.monotonic()
        try:
            if status == "running":
                say(f"reusing the running VM {self.settings.name}")
            else:
                say(f"booting {self.settings.name} from {box_name or 'the default box'} "
                    f"({self.settings.driver}, {self.settings.net} network); log: {self.log}")  # fmt: skip
                v.up(provider=self.settings.provider, provision=False)
                say(f"booted in {time.monotonic() - started:.0f}s")
            config = _not_ready_retry(lambda: v.ssh_config(vm_name=self.settings.name), "ssh-config")
            (OUT / "vm-ssh-config").write_text(config)
            host = SshHost.from_ssh_config(config, self.settings.name)
            self._wait_for_ssh(host)
            say("provisioning (lab/provision.sh)")
            _not_ready_retry(v.provision, "provision")
        except subprocess.CalledProcessError as e:
            raise LabError(
                f"vagrant failed ({e.returncode}): see {self.log} and the guest console in {self.settings.serial_log}"
            ) from None
        self.guest = host.run(["sh", "-c", "head -1 /etc/motd"]).stdout.strip()  # "... (x86_64, cgroup v2)"
        say(f"provisioned: {self.guest}")
        return host

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

    def destroy(self) -> None:
        settings = json.loads(SETTINGS_FILE.read_text()) if SETTINGS_FILE.exists() else {}
        v = self._vagrant(settings.get("box", ""))
        try:
            v.destroy()
        except subprocess.CalledProcessError:
            say(f"vagrant destroy failed (see {self.log}); sweeping with virsh")
        if self.settings.provider == "libvirt":
            sweep(settings.get("name", self.settings.name))
        SETTINGS_FILE.unlink(missing_ok=True)
