"""Offline root filesystems built from Debian packages, for machines that cannot download Alpine.

Named honestly: a busybox rootfs is not Alpine. Results are cached by the sha256 of their inputs,
built in a temporary directory and renamed into place, so parallel test workers are safe.
"""

from __future__ import annotations

import os
import platform
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path

from .cache import cache_dir, sha256_file

BUILDER_VERSION = "1"  # bump when the layout below changes: it is part of the cache key
DEBIAN_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}
ARCHES = ("amd64", "arm64")


class BuildError(RuntimeError):
    pass


def host_arch() -> str:
    return DEBIAN_ARCH.get(platform.machine(), platform.machine())


def deb_package(package: str, arch: str) -> Path:
    """A Debian package file for arch, downloaded once with apt-get into the cache."""
    if arch not in ARCHES:
        raise BuildError(f"unknown arch {arch!r}: expected one of {', '.join(ARCHES)}")
    debs = cache_dir("debs", arch)
    found = sorted(debs.glob(f"{package}_*_{arch}.deb"))
    if found:
        return found[-1]
    if arch != host_arch():
        foreign = subprocess.run(["dpkg", "--print-foreign-architectures"], capture_output=True, text=True).stdout
        if arch not in foreign.split():
            raise BuildError(
                f"apt cannot fetch {package}:{arch}: run `dpkg --add-architecture {arch} && apt-get update` first"
            )
    p = subprocess.run(["apt-get", "download", f"{package}:{arch}"], cwd=debs, capture_output=True, text=True)
    found = sorted(debs.glob(f"{package}_*_{arch}.deb"))
    if p.returncode != 0 or not found:
        raise BuildError(f"apt-get download {package}:{arch} failed: {p.stderr.strip()[-300:]}")
    return found[-1]


def _busybox_binary(arch: str) -> Path:
    installed = Path("/bin/busybox")
    if arch == host_arch() and installed.exists() and _is_static(installed):
        return installed
    deb = deb_package("busybox-static", arch)
    out = cache_dir("extract", deb.stem)
    binary = out / "bin/busybox"
    if not binary.exists():
        subprocess.run(["dpkg-deb", "-x", str(deb), str(out)], check=True)
    return binary


HELPER_SOURCE = Path(__file__).resolve().parent.parent / "helpers" / "mchelper.c"
CROSS_CC = {"amd64": "x86_64-linux-gnu-gcc", "arm64": "aarch64-linux-gnu-gcc"}


def helper_binary(arch: str) -> Path:
    """lab/helpers/mchelper.c built static for arch, cached by the source's sha256."""
    key = sha256_file(HELPER_SOURCE)[:16]
    out = cache_dir("helpers") / f"mchelper-{arch}-{key}"
    if out.exists():
        return out
    cc = "gcc" if arch == host_arch() else CROSS_CC[arch]
    if shutil.which(cc) is None:
        package = f"gcc-{CROSS_CC[arch].rsplit('-gcc', 1)[0]} libc6-dev-{arch}-cross"
        raise BuildError(f"no C compiler for {arch} ({cc}): apt-get install {package}")
    tmp = out.with_name(f".{out.name}.{os.getpid()}")
    p = subprocess.run([cc, "-static", "-Os", "-o", str(tmp), str(HELPER_SOURCE)], capture_output=True, text=True)
    if p.returncode != 0:
        raise BuildError(f"building mchelper for {arch} failed: {p.stderr.strip()[-400:]}")
    os.replace(tmp, out)
    return out


def _is_static(path: Path) -> bool:
    """True if the 64-bit little-endian ELF has no PT_INTERP (no dynamic loader needed)."""
    data = path.read_bytes()[:65536]
    if data[:4] != b"\x7fELF" or data[4] != 2:
        return False
    (phoff,) = struct.unpack_from("<Q", data, 32)
    phentsize, phnum = struct.unpack_from("<HH", data, 54)
    return all(struct.unpack_from("<I", data, phoff + i * phentsize)[0] != 3 for i in range(phnum))


def _applets(binary: Path) -> list[str]:
    for candidate in (binary, Path("/bin/busybox")):
        p = subprocess.run([str(candidate), "--list"], capture_output=True, text=True)
        if p.returncode == 0 and p.stdout.strip():
            return [a for a in p.stdout.split() if a != "busybox"]
    raise BuildError("cannot list busybox applets (is busybox-static installed?)")


PASSWD = (
    "root:x:0:0:root:/root:/bin/sh\n"
    "user:x:1000:1000:user:/home/user:/bin/sh\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
)
GROUP = "root:x:0:\nwheel:x:10:root\nuser:x:1000:\nnogroup:x:65534:\n"


def _lay_out_base(root: Path, kind: str, arch: str) -> None:
    for d in ("bin", "sbin", "usr/bin", "usr/sbin", "etc", "proc", "sys", "dev", "root", "home/user", "var/tmp"):
        (root / d).mkdir(parents=True, exist_ok=True)
    tmp = root / "tmp"
    tmp.mkdir()
    tmp.chmod(0o1777)
    (root / "root").chmod(0o700)
    os.chown(root / "home/user", 1000, 1000)
    (root / "etc/passwd").write_text(PASSWD)
    (root / "etc/group").write_text(GROUP)
    (root / "etc/hostname").write_text("lab\n")
    pretty = f"{kind} ({arch}), built offline from Debian packages"
    (root / "etc/os-release").write_text(f'NAME="mini-container lab {kind}"\nID=minilab\nPRETTY_NAME="{pretty}"\n')


def busybox_rootfs(arch: str | None = None) -> Path:
    """A busybox-static rootfs for arch (default: this host's), cached by the binary's sha256."""
    arch = arch or host_arch()
    binary = _busybox_binary(arch)
    helper = helper_binary(arch)
    key = f"busybox-{arch}-{sha256_file(binary)[:12]}-{helper.name.rsplit('-', 1)[1][:8]}-v{BUILDER_VERSION}"
    final = cache_dir("rootfs") / key
    if final.exists():
        return final
    applets = _applets(binary)
    with tempfile.TemporaryDirectory(dir=cache_dir("rootfs"), prefix=".build-") as tmp:
        root = Path(tmp) / "root"
        root.mkdir()
        root.chmod(0o755)
        _lay_out_base(root, "busybox", arch)
        shutil.copy2(binary, root / "bin/busybox")
        (root / "bin/busybox").chmod(0o755)
        shutil.copy2(helper, root / "usr/bin/mchelper")
        for applet in applets:
            link = root / "bin" / applet
            if not link.exists():
                link.symlink_to("busybox")
        try:
            os.rename(root, final)
        except OSError:
            if not final.exists():  # another worker won the race: theirs is identical
                raise
    return final
