"""Offline root filesystems built from Debian packages, for machines that cannot download Alpine.

Named honestly: a busybox rootfs is not Alpine. Results are cached by the sha256 of their inputs,
built in a temporary directory and renamed into place, so parallel test workers are safe.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import struct
import subprocess
import tarfile
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
        _foreign_arch(arch)
    p = subprocess.run(["apt-get", "download", f"{package}:{arch}"], cwd=debs, capture_output=True, text=True)
    found = sorted(debs.glob(f"{package}_*_{arch}.deb"))
    if p.returncode != 0 or not found:
        raise BuildError(f"apt-get download {package}:{arch} failed: {p.stderr.strip()[-300:]}")
    return found[-1]


def _foreign_arch(arch: str) -> None:
    """apt must know `arch` before `apt-get download pkg:arch`: added on first need, once (a lock
    across xdist workers), with Ubuntu's ports archive handled (aptsources)."""
    foreign = subprocess.run(["dpkg", "--print-foreign-architectures"], capture_output=True, text=True).stdout
    if arch in foreign.split():
        return
    if os.geteuid() != 0:
        raise BuildError(f"apt cannot fetch {arch} packages and adding the architecture needs root")
    import fcntl
    import sys

    from . import aptsources

    with open(cache_dir() / "apt.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if aptsources.enable(arch, say=lambda m: print(f"lab: {m}", file=sys.stderr)):
                print(f"lab: added the {arch} architecture to apt (for the offline {arch} rootfs)", file=sys.stderr)
        except (aptsources.AptError, subprocess.CalledProcessError) as e:
            raise BuildError(str(e)) from None


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


MUSL_ARCH = {"amd64": "x86_64", "arm64": "aarch64"}
DEBIAN_SUITE = "bookworm"
DEBIAN_MIRROR = "http://deb.debian.org/debian"


def _tar_directory(root: Path, out: Path) -> Path:
    """Pack a built tree into out atomically (owners and modes kept)."""
    tmp = out.with_name(f".{out.name}.{os.getpid()}")
    with tarfile.open(tmp, "w") as tar:
        tar.add(root, arcname=".")
    os.replace(tmp, out)
    return out


def alpine_like_tarball(arch: str) -> Path:
    """busybox-static plus Debian's musl laid out like Alpine (/lib/ld-musl-<arch>.so.1). Not Alpine."""
    binary = _busybox_binary(arch)
    musl_deb = deb_package("musl", arch)
    key = hashlib.sha256(f"{BUILDER_VERSION}|{sha256_file(binary)}|{sha256_file(musl_deb)}".encode()).hexdigest()
    out = cache_dir("offline") / f"alpine-like-{arch}-{key[:16]}.tar"
    if out.exists():
        return out
    applets = _applets(binary)
    with tempfile.TemporaryDirectory(dir=cache_dir("offline"), prefix=".build-") as tmp:
        root = Path(tmp) / "root"
        root.mkdir(mode=0o755)
        for d in ("bin", "sbin", "usr/bin", "usr/sbin", "usr/local/bin", "lib", "etc", "proc", "sys", "dev",
                  "root", "var/tmp", "home"):  # fmt: skip
            (root / d).mkdir(parents=True, exist_ok=True)
        (root / "tmp").mkdir(mode=0o1777)
        (root / "tmp").chmod(0o1777)
        (root / "root").chmod(0o700)
        shutil.copy2(binary, root / "bin/busybox")
        for applet in applets:
            link = root / "bin" / applet
            if not link.exists():
                link.symlink_to("busybox")
        extracted = Path(tmp) / "musl"
        subprocess.run(["dpkg-deb", "-x", str(musl_deb), str(extracted)], check=True)
        libc = next(extracted.glob("lib/*-linux-musl/libc.so"))
        loader = f"ld-musl-{MUSL_ARCH[arch]}.so.1"
        shutil.copy2(libc, root / "lib" / loader)
        (root / "lib" / f"libc.musl-{MUSL_ARCH[arch]}.so.1").symlink_to(loader)
        (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/sbin/nologin\n")
        (root / "etc/group").write_text("root:x:0:root\nwheel:x:10:root\nnogroup:x:65534:\n")
        (root / "etc/hostname").write_text("alpine-like\n")
        pretty = f"alpine-like ({arch}): busybox-static and musl from Debian, built offline; not Alpine"
        (root / "etc/os-release").write_text(f'NAME="alpine-like"\nID=alpine-like\nPRETTY_NAME="{pretty}"\n')
        return _tar_directory(root, out)


def ubuntu_like_tarball(arch: str) -> Path:
    """Debian minbase from mmdebstrap (Ubuntu's parent, same tools and layout). Not Ubuntu."""
    if shutil.which("mmdebstrap") is None:
        raise BuildError("mmdebstrap is missing: apt-get install mmdebstrap arch-test")
    key = hashlib.sha256(f"{BUILDER_VERSION}|{arch}|{DEBIAN_SUITE}|{DEBIAN_MIRROR}|minbase".encode()).hexdigest()
    out = cache_dir("offline") / f"ubuntu-like-{arch}-{key[:16]}.tar"
    if out.exists():
        return out
    if arch != host_arch():
        from . import binfmt

        binfmt.ensure(arch)  # mmdebstrap runs the arm64 maintainer scripts through qemu
    tmp = out.with_name(f".{out.stem}.{os.getpid()}.tar")  # mmdebstrap picks the format from the suffix
    cmd = ["mmdebstrap", "--variant=minbase", f"--architectures={arch}", "--quiet", DEBIAN_SUITE, str(tmp),
           DEBIAN_MIRROR]  # fmt: skip
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise BuildError(f"mmdebstrap for {arch} failed: {p.stderr.strip()[-600:]}")
    os.replace(tmp, out)
    return out
