"""apt sources for a foreign arch, on fixture hosts (tests/unit/lab/fixtures/apt/<distro>-<arch>/etc).

The check is behavioural: after the plan, every (archive URI, arch) that apt would fetch binary
indices for must be one the archive serves (Ubuntu: amd64/i386 on the main archive, the rest on
ports.ubuntu.com). Read with a parser of the test's own, not the module's."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from minilab import aptsources

FIXTURES = Path(__file__).parent / "fixtures" / "apt"
PORTS_ARCHES = {"arm64", "armhf", "ppc64el", "riscv64", "s390x"}


def fetched(files: dict[str, str], arches: set[str]) -> set[tuple[str, str]]:
    """(uri, arch) pairs apt asks for binary indices, as apt reads these files."""
    pairs = set()
    for path, text in files.items():
        if path.endswith(".sources"):
            for stanza in re.split(r"\n\s*\n", text):
                fields = dict(re.findall(r"^([A-Za-z-]+):\s*(.*)$", stanza, re.M))
                if "deb" not in fields.get("Types", "").split() or fields.get("Enabled", "yes") == "no":
                    continue
                wanted = set(fields["Architectures"].split()) if "Architectures" in fields else arches
                pairs |= {(uri, a) for uri in fields["URIs"].split() for a in wanted & arches}
        else:
            for line in text.splitlines():
                m = re.match(r"^deb\s+(\[[^\]]*\]\s+)?(\S+)", line.strip())
                if not m:
                    continue
                arch = re.search(r"arch=([\w,]+)", m.group(1) or "")
                wanted = set(arch.group(1).split(",")) if arch else arches
                pairs |= {(m.group(2), a) for a in wanted & arches}
    return pairs


def served(uri: str, arch: str) -> bool:
    if "ubuntu.com" not in uri:
        return True  # Debian's mirrors and the fixtures' third-party repositories carry every arch
    return (arch in PORTS_ARCHES) == ("ubuntu-ports" in uri)


def host(name: str) -> tuple[aptsources.Distro, dict[str, str]]:
    root = FIXTURES / name
    distro = aptsources.parse_os_release((root / "etc/os-release").read_text())
    return distro, aptsources.read_sources(root)


def apply(files: dict[str, str], plan: aptsources.Plan) -> dict[str, str]:
    return {**files, **plan.edits, **plan.new_files}


CASES = [("ubuntu-22.04-amd64", "amd64", "arm64"), ("ubuntu-24.04-amd64", "amd64", "arm64"),
         ("ubuntu-22.04-arm64", "arm64", "amd64"), ("ubuntu-24.04-arm64", "arm64", "amd64")]  # fmt: skip


@pytest.mark.parametrize(("name", "native", "foreign"), CASES)
def test_ubuntu_fixture_is_broken_without_the_plan(name: str, native: str, foreign: str) -> None:
    """The trap is real on the fixtures: adding the arch alone makes apt ask an archive for indices
    it does not carry (a 404, so `apt-get update` fails)."""
    _, files = host(name)
    assert any(not served(u, a) for u, a in fetched(files, {native, foreign}))


@pytest.mark.parametrize(("name", "native", "foreign"), CASES)
def test_ubuntu_plan_makes_every_fetch_served_and_keeps_native(name: str, native: str, foreign: str) -> None:
    distro, files = host(name)
    after = apply(files, aptsources.plan(distro, native, foreign, files))
    pairs = fetched(after, {native, foreign})
    assert [p for p in pairs if not served(*p)] == []
    assert {a for _, a in pairs} == {native, foreign}  # both arches still have a source
    native_before = {u for u, a in fetched(files, {native}) if a == native}
    assert native_before <= {u for u, a in pairs if a == native}  # the user's own mirrors still serve native


@pytest.mark.parametrize(("name", "native", "foreign"), CASES)
def test_plan_is_idempotent(name: str, native: str, foreign: str) -> None:
    distro, files = host(name)
    after = apply(files, aptsources.plan(distro, native, foreign, files))
    assert aptsources.plan(distro, native, foreign, after).empty


def test_jammy_amd64_one_line_details() -> None:
    distro, files = host("ubuntu-22.04-amd64")
    plan = aptsources.plan(distro, "amd64", "arm64", files)
    edited = plan.edits["/etc/apt/sources.list"]
    assert "deb [arch=amd64] http://azure.archive.ubuntu.com/ubuntu/ jammy main restricted" in edited
    assert "# deb-src http://azure.archive.ubuntu.com/ubuntu/ jammy main restricted" in edited  # comments kept
    assert "deb-src http://azure.archive.ubuntu.com/ubuntu/ jammy-backports" in edited  # source entries untouched
    assert "/etc/apt/sources.list.d/docker.list" not in plan.edits  # docker's /ubuntu repo is not the archive
    assert "/etc/apt/sources.list.d/microsoft-prod.list" not in plan.edits  # already arch-qualified
    ((name, text),) = plan.new_files.items()
    assert name == "/etc/apt/sources.list.d/minilab-arm64.list"
    assert "deb [arch=arm64] http://ports.ubuntu.com/ubuntu-ports jammy-security main restricted" in text


def test_noble_amd64_deb822_details() -> None:
    distro, files = host("ubuntu-24.04-amd64")
    plan = aptsources.plan(distro, "amd64", "arm64", files)
    edited = plan.edits["/etc/apt/sources.list.d/ubuntu.sources"]
    assert edited.count("Architectures: amd64\n") == 2
    assert "## Ubuntu security updates" in edited
    ((name, text),) = plan.new_files.items()
    assert name == "/etc/apt/sources.list.d/minilab-arm64.sources"
    assert "Suites: noble noble-updates noble-backports noble-security" in text
    assert "Signed-By: /usr/share/keyrings/ubuntu-archive-keyring.gpg" in text


def test_arm64_host_gets_archive_and_security_for_amd64() -> None:
    distro, files = host("ubuntu-22.04-arm64")
    text = aptsources.plan(distro, "arm64", "amd64", files).new_files["/etc/apt/sources.list.d/minilab-amd64.list"]
    assert "deb [arch=amd64] http://archive.ubuntu.com/ubuntu jammy main restricted universe multiverse" in text
    assert "deb [arch=amd64] http://security.ubuntu.com/ubuntu jammy-security main" in text


@pytest.mark.parametrize(("name", "native", "foreign"), [("debian-12-amd64", "amd64", "arm64"),
                                                        ("debian-12-arm64", "arm64", "amd64")])  # fmt: skip
def test_debian_needs_no_source_change(name: str, native: str, foreign: str) -> None:
    distro, files = host(name)
    plan = aptsources.plan(distro, native, foreign, files)
    assert plan.empty and "dpkg --add-architecture" in plan.notes[0]
    assert all(served(*p) for p in fetched(files, {native, foreign}))


def test_ubuntu_without_any_archive_entry_is_an_error() -> None:
    distro = aptsources.Distro("ubuntu", "22.04", "jammy")
    with pytest.raises(aptsources.AptError, match="no Ubuntu archive entry"):
        aptsources.plan(distro, "amd64", "arm64", {"/etc/apt/sources.list": "# nothing\n"})


@pytest.mark.parametrize(("uri", "components", "archive"), [
    ("http://archive.ubuntu.com/ubuntu/", ("main",), "primary"),
    ("http://azure.archive.ubuntu.com/ubuntu", ("universe",), "primary"),
    ("http://security.ubuntu.com/ubuntu", ("main", "restricted"), "primary"),
    ("http://mirror.example.org/pub/ubuntu/", ("main",), "primary"),
    ("http://ports.ubuntu.com/ubuntu-ports/", ("main",), "ports"),
    ("https://download.docker.com/linux/ubuntu", ("stable",), None),
    ("http://deb.debian.org/debian", ("main",), None),
    ("https://ppa.launchpadcontent.net/deadsnakes/ppa/ubuntu", ("main",), "primary"),
])  # fmt: skip
def test_archive_of(uri: str, components: tuple[str, ...], archive: str | None) -> None:
    assert aptsources.archive_of(uri, components) == archive
