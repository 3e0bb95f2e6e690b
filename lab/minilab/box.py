"""Build a Vagrant box offline from Debian packages (for machines that cannot reach Vagrant Cloud).

Debian bookworm, cgroup v2, with what the lab needs baked in (python3, qemu-user-static,
busybox-static), so provisioning in a software-emulated VM only copies files. Cached by the sha256 of
this file and the package list: it is rebuilt only when the recipe changes.

    sudo python3 -m minilab.box          # prints the box name; `nox -s box` does the same
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .cache import cache_dir

SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
PACKAGES = [
    "linux-image-amd64", "systemd-sysv", "udev", "dbus", "openssh-server", "qemu-guest-agent", "sudo",
    "grub-pc", "initramfs-tools", "kmod", "iproute2", "procps", "util-linux", "e2fsprogs", "less",
    "python3", "qemu-user-static", "busybox-static", "tar", "gzip",
    "uidmap",  # newuidmap/newgidmap: the rootless columns map a /etc/subuid range, as a user's machine would
    # a login gets a systemd user manager with a delegated cgroup (user@UID.service), as on Ubuntu:
    # `systemd-run --user --scope -p Delegate=yes mini-container -m ...` works rootless in the guest
    "libpam-systemd", "dbus-user-session",
]  # fmt: skip
DISK_GIB = 8
PARTITION_OFFSET = 1 << 20  # 1 MiB, where sfdisk puts the first partition
VAGRANT_PUBKEY = Path("/usr/share/rubygems-integration/all/gems/vagrant-2.3.4/keys/vagrant.pub")
BOX_VERSION = "1"

NETWORK = """[Match]
Name=en* eth*

[Network]
DHCP=yes
# vagrant-libvirt waits for the guest agent to report an address on its (dummy) libvirt NIC
LinkLocalAddressing=yes
"""


class BoxError(RuntimeError):
    pass


def _run(*cmd: str, **kwargs: object) -> str:
    p = subprocess.run(cmd, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]
    if p.returncode != 0:
        raise BoxError(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr.strip()[-800:]}")
    return p.stdout


CMDLINES = {
    "v2": "console=ttyS0 net.ifnames=0",
    "v1": "console=ttyS0 net.ifnames=0 systemd.unified_cgroup_hierarchy=0",  # the nightly v1 guest
}


def recipe_key(cgroup: str = "v2") -> str:
    """What the box is made of; bump BOX_VERSION when the build steps themselves change."""
    parts = [BOX_VERSION, SUITE, MIRROR, str(DISK_GIB), CMDLINES[cgroup], _pubkey(), *PACKAGES, *HOOKS]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:12]


def box_name(cgroup: str = "v2") -> str:
    return f"minilab/{SUITE}-{cgroup}-{recipe_key(cgroup)}"


def _pubkey() -> str:
    found = (
        VAGRANT_PUBKEY
        if VAGRANT_PUBKEY.exists()
        else next(Path("/usr/share").glob("**/vagrant*/keys/vagrant.pub"), None)
    )
    if found is None:
        raise BoxError("vagrant's insecure public key was not found: is vagrant installed?")
    return found.read_text()


HOOKS = [  # run by mmdebstrap with the new root as $1
    'echo minilab > "$1/etc/hostname"',
    'printf "/dev/vda1 / ext4 errors=remount-ro 0 1\\n" > "$1/etc/fstab"',
    'chroot "$1" useradd -m -s /bin/bash -G sudo vagrant',
    'echo vagrant:vagrant | chroot "$1" chpasswd',
    'echo "vagrant ALL=(ALL) NOPASSWD:ALL" > "$1/etc/sudoers.d/vagrant"',
    'chmod 440 "$1/etc/sudoers.d/vagrant"',
    'mkdir -p "$1/home/vagrant/.ssh" && chmod 700 "$1/home/vagrant/.ssh"',
    'printf "%s\\n" "$MINILAB_PUBKEY" > "$1/home/vagrant/.ssh/authorized_keys"',
    'chmod 600 "$1/home/vagrant/.ssh/authorized_keys" && chroot "$1" chown -R vagrant: /home/vagrant/.ssh',
    'printf "UseDNS no\\n" > "$1/etc/ssh/sshd_config.d/minilab.conf"',
    f"printf '{NETWORK}' > \"$1/etc/systemd/network/80-dhcp.network\"",
    'chroot "$1" systemctl enable systemd-networkd ssh',
    'chroot "$1" systemctl mask systemd-networkd-wait-online.service',
]


def bootstrap(rootfs: Path) -> None:
    """Debian with the lab's packages, a vagrant user and DHCP networking."""
    cmd = ["mmdebstrap", "--variant=minbase", "--quiet", f"--include={','.join(PACKAGES)}"]
    cmd += [f"--customize-hook={hook}" for hook in HOOKS]
    cmd += [SUITE, str(rootfs), MIRROR]
    _run(*cmd, env={**os.environ, "MINILAB_PUBKEY": _pubkey().strip()})


def make_disk(rootfs: Path, disk: Path, cmdline: str) -> None:
    """A raw disk with one ext4 partition made from the tree, and grub in its MBR."""
    size = DISK_GIB << 30
    with open(disk, "wb") as f:
        f.truncate(size)
    _run("sfdisk", "--quiet", str(disk), input="label: dos\nstart=2048, type=83, bootable\n")
    blocks_k = (size - PARTITION_OFFSET) // 1024
    _run("mke2fs", "-q", "-t", "ext4", "-L", "root", "-d", str(rootfs), "-E", f"offset={PARTITION_OFFSET}",
         str(disk), f"{blocks_k}k")  # fmt: skip
    # This kernel does not scan partitions on loop devices: one loop for the disk, one at the offset.
    whole = _run("losetup", "--find", "--show", str(disk)).strip()
    part = ""
    mnt = Path(tempfile.mkdtemp(prefix="minilab-box-mnt-"))
    try:
        part = _run("losetup", "--find", "--show", "--offset", str(PARTITION_OFFSET), str(disk)).strip()
        _run("mount", part, str(mnt))
        _run("grub-install", "--target=i386-pc", f"--boot-directory={mnt}/boot", "--modules=part_msdos ext2",
             "--no-floppy", "--force", whole)  # fmt: skip
        (mnt / "boot/grub/grub.cfg").write_text(
            "set timeout=0\n"
            "insmod part_msdos\ninsmod ext2\n"
            "set root=(hd0,msdos1)\n"
            f"linux /vmlinuz root=/dev/vda1 ro {cmdline}\n"
            "initrd /initrd.img\n"
            "boot\n"
        )
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)
        for dev in (part, whole):
            if dev:
                subprocess.run(["losetup", "-d", dev], capture_output=True)
        mnt.rmdir()


def package(disk: Path, out: Path) -> None:
    work = disk.parent
    _run("qemu-img", "convert", "-O", "qcow2", str(disk), str(work / "box.img"))
    (work / "metadata.json").write_text(json.dumps({"provider": "libvirt", "format": "qcow2",
                                                    "virtual_size": DISK_GIB}))  # fmt: skip
    (work / "Vagrantfile").write_text(
        'Vagrant.configure("2") do |config|\n'
        '  config.vm.provider :libvirt do |lv|\n    lv.driver = "qemu"\n  end\nend\n'
    )
    tmp = out.with_name(f".{out.name}.{os.getpid()}")
    _run("tar", "-cf", str(tmp), "-C", str(work), "metadata.json", "Vagrantfile", "box.img")
    os.replace(tmp, out)


def build(cgroup: str = "v2") -> Path:
    """The .box file for the current recipe, built once."""
    cmdline = CMDLINES[cgroup]
    out = cache_dir("box") / f"minilab-{SUITE}-{cgroup}-{recipe_key(cgroup)}.box"
    if out.exists():
        return out
    if os.geteuid() != 0:
        raise BoxError("building the box needs root (mmdebstrap, loop devices, mount)")
    for tool in ("mmdebstrap", "sfdisk", "mke2fs", "grub-install", "qemu-img", "losetup"):
        if shutil.which(tool) is None:
            raise BoxError(
                f"{tool} is missing: apt-get install mmdebstrap fdisk e2fsprogs grub2-common grub-pc-bin qemu-utils"
            )
    work = Path(tempfile.mkdtemp(dir=cache_dir("box"), prefix=".build-"))
    try:
        rootfs = work / "rootfs"
        _step("bootstrap Debian with the lab's packages (mmdebstrap)", bootstrap, rootfs)
        _step("make the disk and install grub", make_disk, rootfs, work / "disk.raw", cmdline)
        shutil.rmtree(rootfs)
        _step("convert to qcow2 and pack the box", package, work / "disk.raw", out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


def _step(what: str, fn, *args: object) -> None:  # noqa: ANN001
    import time

    started = time.monotonic()
    print(f"box: {what} ...", file=sys.stderr, flush=True)
    fn(*args)
    print(f"box: {what}: done in {time.monotonic() - started:.0f}s", file=sys.stderr, flush=True)


def add(box: Path, name: str) -> str:
    """`vagrant box add` unless a box of this name is there already. Returns the name."""
    listed = _run("vagrant", "box", "list", "--machine-readable")
    if f",box-name,{name}\n" in listed + "\n":
        return name
    _run("vagrant", "box", "add", "--force", "--name", name, str(box))
    return name


if __name__ == "__main__":
    variant = sys.argv[1] if len(sys.argv) > 1 else "v2"
    try:
        print(add(build(variant), box_name(variant)))
    except BoxError as e:
        print(f"minilab box: {e}", file=sys.stderr)
        raise SystemExit(1) from None
