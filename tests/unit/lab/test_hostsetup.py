from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from minilab import hostsetup
from minilab.aptsources import Distro, parse_os_release

FIXTURES = Path(__file__).parent / "fixtures" / "apt"
JAMMY = parse_os_release((FIXTURES / "ubuntu-22.04-amd64/etc/os-release").read_text())
NOBLE = parse_os_release((FIXTURES / "ubuntu-24.04-amd64/etc/os-release").read_text())
BOOKWORM = parse_os_release((FIXTURES / "debian-12-amd64/etc/os-release").read_text())


def test_os_release_fixtures() -> None:
    assert (JAMMY.id, JAMMY.version, JAMMY.codename) == ("ubuntu", "22.04", "jammy")
    assert (NOBLE.version, BOOKWORM.pretty) == ("24.04", "Debian 12 (bookworm)")


@pytest.mark.parametrize(("args", "sessions"), [
    ([], ["lint", "unit", "e2e_local", "e2e"]),
    (["-s", "lint", "unit"], ["lint", "unit"]),
    (["--session", "unit-3.10", "-x"], ["unit-3.10"]),
    (["-s", "e2e", "--", "-k", "oom"], ["e2e"]),
    (["-e", "lint", "-s", "bench"], ["lint", "bench"]),
    (["--", "-s", "lint"], ["lint", "unit", "e2e_local", "e2e"]),  # after --: pytest's, not nox's
])  # fmt: skip
def test_sessions_from_nox_args(args: list[str], sessions: list[str]) -> None:
    assert hostsetup.sessions_from_nox_args(args) == sessions


@pytest.mark.parametrize(("name", "base"), [("unit-3.10", "unit"), ("e2e_local", "e2e_local"),
                                           ("lab_up", "lab_up"), ("e2e_local-3.11", "e2e_local")])  # fmt: skip
def test_base_name(name: str, base: str) -> None:
    assert hostsetup.base_name(name) == base


def test_unit_and_lint_need_no_lab_packages() -> None:
    needs = hostsetup.plan(BOOKWORM, "amd64", ["lint", "unit-3.11"], have_npm=True)
    assert "qemu-user-static" not in needs.packages and "vagrant" not in needs.packages
    assert {"python3-venv", "gcc", "busybox-static"} <= set(needs.packages)
    assert "nodejs" in hostsetup.plan(BOOKWORM, "amd64", ["lint"], have_npm=False).packages


def test_unit_gets_a_headless_browser_for_the_matrix_page() -> None:
    assert "chromium" in hostsetup.plan(BOOKWORM, "amd64", ["unit-3.11"], have_npm=True).packages
    assert "chromium-browser" in hostsetup.plan(JAMMY, "amd64", ["unit"], have_npm=True).packages
    assert "chromium" not in hostsetup.plan(BOOKWORM, "amd64", ["lint"], have_npm=True).packages


@pytest.mark.parametrize("distro", [BOOKWORM, JAMMY, NOBLE])
def test_host_lab_on_amd64_gets_the_arm64_cross_compiler(distro: Distro) -> None:
    packages = hostsetup.plan(distro, "amd64", ["e2e_local"], have_npm=True).packages
    assert {"qemu-user-static", "mmdebstrap", "arch-test", "gcc-aarch64-linux-gnu"} <= set(packages)
    assert ("debian-archive-keyring" in packages) == (distro.id == "ubuntu")  # mmdebstrap bootstraps Debian
    assert "vagrant" not in packages and "grub-pc-bin" not in packages


def test_host_lab_on_arm64_gets_the_amd64_cross_compiler() -> None:
    packages = hostsetup.plan(JAMMY, "arm64", ["e2e_local"], have_npm=True).packages
    assert {"gcc-x86-64-linux-gnu", "libc6-dev-amd64-cross"} <= set(packages)
    assert "gcc-aarch64-linux-gnu" not in packages


def test_vm_lab_packages_only_for_vm_sessions_and_only_on_x86_64() -> None:
    packages = hostsetup.plan(NOBLE, "amd64", ["e2e"], have_npm=True).packages
    assert {"vagrant", "vagrant-libvirt", "grub-pc-bin", "qemu-system-x86", "debian-archive-keyring"} <= set(packages)
    assert len(packages) == len(set(packages))
    with pytest.raises(hostsetup.SetupRefused, match="needs an x86_64 host"):
        hostsetup.plan(JAMMY, "arm64", ["lint", "e2e"], have_npm=True)
    hostsetup.plan(JAMMY, "arm64", ["lint", "unit", "e2e_local"], have_npm=True)  # the host lab is fine


@pytest.mark.skipif(shutil.which("dpkg-query") is None, reason="not a Debian/Ubuntu machine (no dpkg-query)")
def test_missing_asks_dpkg() -> None:
    """On this (Debian) machine: a package that is surely installed, and one that surely is not."""
    assert hostsetup.missing(["dpkg", "no-such-package-minilab"]) == ["no-such-package-minilab"]
