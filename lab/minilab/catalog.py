"""The real root filesystems: pinned URLs and sha256, as published upstream."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    kind: str  # "alpine" or "ubuntu"
    arch: str  # Debian spelling: amd64, arm64
    version: str
    url: str
    sha256: str | None  # None: verified against sums_url, and the run prints the hash to pin
    sums_url: str | None = None

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[1]

    @property
    def label(self) -> str:
        return f"{self.kind}-{self.version}"


_ALPINE = "https://dl-cdn.alpinelinux.org/alpine/v3.23/releases"
_UBUNTU = "https://cdimage.ubuntu.com/ubuntu-base/releases/22.04/release"

CATALOG: dict[tuple[str, str], Entry] = {
    ("alpine", "amd64"): Entry(
        "alpine", "amd64", "3.23.2", f"{_ALPINE}/x86_64/alpine-minirootfs-3.23.2-x86_64.tar.gz",
        "b50bf42e519420ca2be48dd0efa22aa087c708d0602b67d413406533bef9dab5",
        f"{_ALPINE}/x86_64/alpine-minirootfs-3.23.2-x86_64.tar.gz.sha256",
    ),
    ("alpine", "arm64"): Entry(
        "alpine", "arm64", "3.23.2", f"{_ALPINE}/aarch64/alpine-minirootfs-3.23.2-aarch64.tar.gz",
        "0a6c278a906bb7dc1c14f3dae426b4494280cdc421697977459bd37f91287d09",
        f"{_ALPINE}/aarch64/alpine-minirootfs-3.23.2-aarch64.tar.gz.sha256",
    ),
    ("ubuntu", "amd64"): Entry(
        "ubuntu", "amd64", "22.04.5", f"{_UBUNTU}/ubuntu-base-22.04.5-base-amd64.tar.gz",
        None,  # not yet pinned: checked against Ubuntu's SHA256SUMS until a run with internet pins it
        f"{_UBUNTU}/SHA256SUMS",
    ),
    ("ubuntu", "arm64"): Entry(
        "ubuntu", "arm64", "22.04.5", f"{_UBUNTU}/ubuntu-base-22.04.5-base-arm64.tar.gz",
        "075d4abd2817a5023ab0a82f5cb314c5ec0aa64a9c0b40fd3154ca3bfdae979f",
        f"{_UBUNTU}/SHA256SUMS",
    ),
}  # fmt: skip

KINDS = ("alpine", "ubuntu")
ARCHES = ("amd64", "arm64")


def entry(kind: str, arch: str) -> Entry:
    if kind not in KINDS:
        raise KeyError(f"unknown rootfs kind {kind!r}: expected one of {', '.join(KINDS)}")
    if arch not in ARCHES:
        raise KeyError(f"unknown arch {arch!r}: expected one of {', '.join(ARCHES)}")
    return CATALOG[(kind, arch)]
