"""The lab's VM: libvirt daemons, box, vagrant up / provision / destroy, and the leftovers sweep.

python-vagrant drives the lifecycle (up, status, provision, ssh-config, destroy); commands and files
go over paramiko (hosts.SshHost), which keeps exit codes. Settings come from MINILAB_* variables and
are saved to lab/.minilab-settings.json, so `cd lab && vagrant ssh` works by hand afterwards.

    python -m minilab.vm up [--targets amd64:alpine,arm64:alpine]   # boot (or reuse) and provision
    python -m minilab.vm ssh-config | status | destroy | sweep | down
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import box as boxes
from . import junit
from . import targets as lab_targets
from .hosts import SshHost

REPO = Path(__file__).resolve().parents[2]
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


def target_tarball(rootfs: str) -> Path:
    """The tarball of a materialized target, beside it. The whole name plus `.tar`: labels have dots
    (`amd64-alpine-3.23.2-<key>`), and with_suffix would cut the content key off."""
    return Path(f"{rootfs}.tar")


def link_or_copy(src: Path, dst: Path) -> None:
    """A hard link when the stage is on the cache's filesystem, a copy when it is not (EXDEV)."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def stage(settings: Settings, specs: list[tuple[str, str, str]]) -> list[lab_targets.Target]:
    """What provision.sh installs: the runtime and one tarball per target."""
    root = Path(settings.stage)
    shutil.rmtree(root, ignore_errors=True)
    (root / "rootfs").mkdir(parents=True)
    shutil.copytree(REPO / "runtime/mini_container", root / "runtime/mini_container",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    built = []
    for arch, kind, source in specs:
        target = lab_targets.materialize(kind, arch, source)
        cached = target_tarball(target.rootfs)
        if not cached.exists():  # one tarball per materialized target, reused across runs
            tmp = cached.with_name(f".{cached.name}.{os.getpid()}")
            with tarfile.open(tmp, "w") as tar:
                tar.add(target.rootfs, arcname=".")
            os.replace(tmp, cached)
        link_or_copy(cached, root / "rootfs" / f"{target.id}.tar")
        built.append(target)
        say(f"staged {target.id} ({target.source})")
    return built


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


def run_e2e(lab: Lab, specs: list[tuple[str, str, str]], policy: str, pytest_args: list[str]) -> int:
    """Up (or reuse), run tests/e2e through the ssh backend, then apply the destroy policy."""
    if policy not in ("never", "passing", "always"):
        raise LabError(f"destroy policy {policy!r}: expected never, passing or always")
    rc = 1
    interrupted = False
    try:
        built = stage(lab.settings, specs)
        lab.up().close()
        env = {
            **os.environ,
            "MINILAB_MATRIX_TITLE": f"VM {lab.settings.name}: {lab.guest}",
            "MINILAB_BACKEND": "ssh",
            "MINILAB_SSH_CONFIG": str(OUT / "vm-ssh-config"),
            "MINILAB_SSH_ALIAS": lab.settings.name,
            "MINILAB_RESOLVED_TARGETS": ",".join(f"{t.arch}:{t.kind}:{t.source}" for t in built),
        }
        junit_file = OUT / "junit-e2e-vm.xml"
        args = [str(REPO / "tests/e2e"), "-n", "2", "-q", *pytest_args]
        say(f"running the scenarios in the VM: pytest {' '.join(args)}")
        rc = junit.run_checked(args, junit_file, env=env, cwd=str(REPO))
        if (OUT / "matrix.md").exists():
            (OUT / "matrix.md").replace(OUT / "matrix-e2e-vm.md")
    except KeyboardInterrupt:
        interrupted = True
        say("interrupted")
    finally:
        destroy = policy == "always" or (policy == "passing" and rc == 0) or (interrupted and policy != "never")
        if destroy:
            say(f"destroy policy {policy!r}: destroying the VM")
            lab.destroy()
            lab.daemons.load()
            lab.daemons.stop()
        else:
            say(f"destroy policy {policy!r}: keeping the VM (cd {LAB_DIR} && vagrant ssh; `python -m minilab.vm down`)")
            lab.daemons.save()
    return 130 if interrupted else rc


def parse_specs(text: str) -> list[tuple[str, str, str]]:
    specs = []
    for spec in text.split(","):
        arch, _, kind = spec.strip().partition(":")
        specs.append((arch, kind, lab_targets.decide_source(kind, arch)))
    return specs


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m minilab.vm", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("action", choices=["up", "e2e", "ssh-config", "status", "destroy", "sweep", "down"])
    p.add_argument("--targets", default=os.environ.get("MINILAB_VM_TARGETS", "amd64:alpine,arm64:alpine"))
    p.add_argument("--destroy", default=os.environ.get("MINILAB_DESTROY", "passing"),
                   help="e2e: never | passing | always (default passing, or $MINILAB_DESTROY)")  # fmt: skip
    p.add_argument("pytest_args", nargs="*", help="e2e: extra pytest arguments (after --)")
    args = p.parse_args(argv)
    lab = Lab(Settings.from_env())
    try:
        if args.action == "up":
            stage(lab.settings, parse_specs(args.targets))
            try:
                lab.up().close()
            finally:  # even a failed up may have started daemons: `down` must find them
                lab.daemons.save()
            say(f"ready: cd {LAB_DIR} && vagrant ssh")
        elif args.action == "e2e":
            return run_e2e(lab, parse_specs(args.targets), args.destroy, args.pytest_args)
        elif args.action == "ssh-config":
            print((OUT / "vm-ssh-config").read_text(), end="")
        elif args.action == "status":
            print(subprocess.run(["vagrant", "status"], cwd=LAB_DIR, text=True, capture_output=True).stdout)
        elif args.action in ("destroy", "down"):
            lab.daemons.start()  # destroying needs libvirt
            lab.destroy()
            if args.action == "down":
                lab.daemons.load()  # what `up` started, plus anything started just now
                lab.daemons.stop()
            else:
                lab.daemons.save()
        elif args.action == "sweep":
            sweep(lab.settings.name)
    except (LabError, boxes.BoxError) as e:
        print(f"lab: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
