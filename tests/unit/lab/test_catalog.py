from __future__ import annotations

import re

import pytest

from minilab import catalog


def test_every_arch_and_kind_is_pinned_to_https() -> None:
    for kind in catalog.KINDS:
        for arch in catalog.ARCHES:
            e = catalog.entry(kind, arch)
            assert e.url.startswith("https://") and e.filename.endswith(".tar.gz")
            assert e.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", e.sha256)
            assert e.sha256 is not None or e.sums_url is not None  # never unverified
    assert catalog.entry("alpine", "arm64").filename == "alpine-minirootfs-3.23.2-aarch64.tar.gz"
    assert catalog.entry("ubuntu", "amd64").label == "ubuntu-22.04.5"


@pytest.mark.parametrize(("kind", "arch", "message"), [("fedora", "amd64", "unknown rootfs kind"),
                                                       ("alpine", "riscv64", "unknown arch")])  # fmt: skip
def test_unknown_names(kind: str, arch: str, message: str) -> None:
    with pytest.raises(KeyError, match=message):
        catalog.entry(kind, arch)
