"""A foreign architecture for apt (arm64 packages on an amd64 host, or the reverse), without breaking apt.

Debian's mirrors carry every release architecture, so on Debian adding one is `dpkg --add-architecture`.
Ubuntu splits its archive: amd64 and i386 live on archive.ubuntu.com, security.ubuntu.com and their
mirrors; arm64 and the other ports on ports.ubuntu.com/ubuntu-ports. With a second architecture and
unqualified sources, `apt-get update` asks the main archive for binary-arm64 indices and fails (404).
So on Ubuntu the existing archive entries get the native architecture (`[arch=amd64]`, or
`Architectures: amd64` in deb822 files) and one new file points the foreign one at the other archive.

`plan()` is pure (sources text in, edits out; unit-tested on fixture files); `enable()` applies a plan,
runs `apt-get update`, and puts every file back if that fails.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

PRIMARY = "primary"  # archive.ubuntu.com, security.ubuntu.com and mirrors: amd64, i386
PORTS = "ports"  # ports.ubuntu.com/ubuntu-ports: arm64, armhf, ppc64el, riscv64, s390x
SERVES = {PRIMARY: {"amd64", "i386"}, PORTS: {"arm64", "armhf", "ppc64el", "riscv64", "s390x"}}
PORTS_URI = "http://ports.ubuntu.com/ubuntu-ports"
ARCHIVE_URI = "http://archive.ubuntu.com/ubuntu"
SECURITY_URI = "http://security.ubuntu.com/ubuntu"
SOURCES_DIR = "/etc/apt/sources.list.d"

_ONE_LINE = re.compile(
    r"^(?P<type>deb)\s+(?:\[(?P<options>[^\]]*)\]\s+)?(?P<uri>\S+)\s+(?P<suite>\S+)(?P<components>[^#]*)"
)


class AptError(RuntimeError):
    pass


@dataclass(frozen=True)
class Distro:
    id: str  # debian | ubuntu | ...
    version: str  # "22.04", "12"
    codename: str

    @property
    def pretty(self) -> str:
        return f"{self.id.capitalize()} {self.version} ({self.codename})"


def parse_os_release(text: str) -> Distro:
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            fields[key.strip()] = value.strip().strip('"')
    codename = fields.get("VERSION_CODENAME") or fields.get("UBUNTU_CODENAME", "")
    return Distro(fields.get("ID", "unknown"), fields.get("VERSION_ID", ""), codename)


UBUNTU_COMPONENTS = {"main", "restricted", "universe", "multiverse"}


def archive_of(uri: str, components: tuple[str, ...] = ("main",)) -> str | None:
    """Which half of Ubuntu's archive an entry serves, or None for anything else (PPAs, third parties).

    Mirrors count (any `.../ubuntu` path), but only with Ubuntu's own components: a third-party
    repository under `/ubuntu` (docker's `stable`) is not the archive."""
    match = re.match(r"^[a-z+]+://([^/]+)(/.*)?$", uri.strip())
    if not match or not components or not set(components) <= UBUNTU_COMPONENTS:
        return None
    host, path = match.group(1).lower(), (match.group(2) or "/").rstrip("/")
    if path.endswith("/ubuntu-ports"):
        return PORTS
    if host.endswith("archive.ubuntu.com") or host == "security.ubuntu.com" or path.endswith("/ubuntu"):
        return PRIMARY
    return None


@dataclass
class Source:
    """One binary source: its suites and components, whether an arch restriction is set already."""

    archive: str | None
    suites: tuple[str, ...]
    components: tuple[str, ...]
    restricted: bool
    signed_by: str = ""


@dataclass
class Plan:
    edits: dict[str, str] = field(default_factory=dict)  # path -> new text
    new_files: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.edits and not self.new_files


def _one_line_options(options: str) -> dict[str, str]:
    pairs = {}
    for item in options.split():
        key, _, value = item.partition("=")
        pairs[key.rstrip("+-")] = value
    return pairs


def _plan_one_line(text: str, needs_arch: str, native: str, sources: list[Source]) -> str:
    """Qualify the entries of one sources.list-style file; collect what they serve."""
    out = []
    for line in text.splitlines(keepends=True):
        m = _ONE_LINE.match(line.strip())
        components = tuple(m["components"].split()) if m else ()
        archive = archive_of(m["uri"], components) if m else None
        if archive is None:
            out.append(line)
            continue
        options = _one_line_options(m["options"] or "")
        restricted = "arch" in options
        source = Source(archive, (m["suite"],), components, restricted, options.get("signed-by", ""))
        sources.append(source)
        if archive == needs_arch and not restricted:
            indent = line[: len(line) - len(line.lstrip())]
            body = line.strip()
            if m["options"] is not None:
                body = body.replace(f"[{m['options']}]", f"[{m['options'].strip()} arch={native}]", 1)
            else:
                body = body.replace("deb", f"deb [arch={native}]", 1)
            out.append(indent + body + ("\n" if line.endswith("\n") else ""))
        else:
            out.append(line)
    return "".join(out)


def _stanzas(text: str) -> list[list[str]]:
    """deb822 paragraphs, each a list of its lines (blank lines kept as their own one-line paragraphs)."""
    paragraphs: list[list[str]] = []
    current: list[str] = []
    for line in text.splitlines(keepends=True):
        if line.strip() == "":
            if current:
                paragraphs.append(current)
                current = []
            paragraphs.append([line])
        else:
            current.append(line)
    if current:
        paragraphs.append(current)
    return paragraphs


def _deb822_fields(lines: list[str]) -> dict[str, str]:
    fields: dict[str, str] = {}
    key = ""
    for line in lines:
        if line.startswith("#"):
            continue
        if line[:1] in (" ", "\t") and key:
            fields[key] += "\n" + line.strip()
            continue
        key, _, value = line.partition(":")
        key = key.strip().lower()
        fields[key] = value.strip()
    return fields


def _plan_deb822(text: str, needs_arch: str, native: str, sources: list[Source]) -> str:
    out = []
    for lines in _stanzas(text):
        fields = _deb822_fields(lines)
        components = tuple(fields.get("components", "").split())
        archives = {archive_of(u, components) for u in fields.get("uris", "").split()}
        binary = "deb" in fields.get("types", "").split()
        enabled = fields.get("enabled", "yes").lower() not in ("no", "false", "0")
        if not binary or not enabled or len(archives) != 1 or None in archives:
            out.extend(lines)
            continue
        archive = archives.pop()
        restricted = "architectures" in fields
        signed_by = fields.get("signed-by", "")
        suites = tuple(fields.get("suites", "").split())
        inline_key = "\n" in signed_by  # a key block, not a keyring path: not copied to the new file
        sources.append(Source(archive, suites, components, restricted, "" if inline_key else signed_by))
        out.extend(lines)
        if archive == needs_arch and not restricted:
            if not out[-1].endswith("\n"):
                out[-1] += "\n"
            out.append(f"Architectures: {native}\n")
    return "".join(out)


def _counterpart(archive: str, suite: str) -> str:
    if archive == PRIMARY:
        return PORTS_URI
    return SECURITY_URI if suite.endswith("-security") else ARCHIVE_URI


def plan(distro: Distro, native: str, foreign: str, files: dict[str, str]) -> Plan:
    """What to change in `files` (path -> text of every apt sources file) so `foreign` installs."""
    result = Plan()
    if distro.id != "ubuntu":
        result.notes.append(f"{distro.pretty}: its mirrors carry {foreign}; only `dpkg --add-architecture` is needed")
        return result
    # The half of the archive that does not serve the foreign arch gets the native arch pinned.
    needs_arch = PRIMARY if foreign in SERVES[PORTS] else PORTS
    other = PORTS if needs_arch == PRIMARY else PRIMARY
    sources: list[Source] = []
    for path, text in sorted(files.items()):
        if path.endswith(".sources"):
            new = _plan_deb822(text, needs_arch, native, sources)
        else:
            new = _plan_one_line(text, needs_arch, native, sources)
        if new != text:
            result.edits[path] = new
            result.notes.append(f"{path}: {needs_arch} archive entries restricted to {native}")
    if any(s.archive == other for s in sources):
        result.notes.append(f"a source for the {other} archive already exists: no new file")
        return result
    wanted: dict[tuple[str, str, str], list[str]] = {}
    for s in sources:
        if s.archive != needs_arch:
            continue
        for suite in s.suites:
            suites = wanted.setdefault((_counterpart(needs_arch, suite), s.signed_by, " ".join(s.components)), [])
            if suite not in suites:
                suites.append(suite)
    if not wanted:
        raise AptError(f"no Ubuntu archive entry found in {', '.join(sorted(files)) or 'the apt sources'}")
    deb822 = any(p.endswith(".sources") for p in result.edits) or (
        not result.edits and any(p.endswith(".sources") for p in files)
    )
    if deb822:
        stanzas = []
        for (uri, signed_by, components), suites in wanted.items():
            lines = ["Types: deb", f"URIs: {uri}", f"Suites: {' '.join(suites)}", f"Components: {components}",
                     f"Architectures: {foreign}"]  # fmt: skip
            if signed_by:
                lines.append(f"Signed-By: {signed_by}")
            stanzas.append("\n".join(lines) + "\n")
        body = "\n".join(stanzas)
        name = f"{SOURCES_DIR}/minilab-{foreign}.sources"
    else:
        lines = []
        for (uri, signed_by, components), suites in wanted.items():
            options = f"arch={foreign}" + (f" signed-by={signed_by}" if signed_by else "")
            lines += [f"deb [{options}] {uri} {suite} {components}" for suite in suites]
        body = "\n".join(lines) + "\n"
        name = f"{SOURCES_DIR}/minilab-{foreign}.list"
    header = f"# Added by mini-container's lab (lab/minilab/aptsources.py): {foreign} packages for {distro.pretty}\n"
    if files.get(name) != header + body:
        result.new_files[name] = header + body
        result.notes.append(f"{name}: {foreign} from {', '.join(sorted({k[0] for k in wanted}))}")
    return result


def read_sources(root: Path = Path("/")) -> dict[str, str]:
    files = {}
    main = root / "etc/apt/sources.list"
    if main.exists():
        files["/etc/apt/sources.list"] = main.read_text()
    for path in sorted((root / SOURCES_DIR.lstrip("/")).glob("*")):
        if path.suffix in (".list", ".sources") and path.is_file():
            files[f"{SOURCES_DIR}/{path.name}"] = path.read_text()
    return files


def _dpkg(*args: str) -> str:
    return subprocess.run(["dpkg", *args], capture_output=True, text=True, check=True).stdout


def enable(foreign: str, say=print) -> bool:  # noqa: ANN001
    """Make `apt-get download pkg:foreign` work; idempotent. Returns True when something changed.

    Every file is put back and the architecture removed again when `apt-get update` fails.
    """
    native = _dpkg("--print-architecture").strip()
    if foreign == native or foreign in _dpkg("--print-foreign-architectures").split():
        return False
    distro = parse_os_release(Path("/etc/os-release").read_text())
    files = read_sources()
    change = plan(distro, native, foreign, files)
    for note in change.notes:
        say(f"apt: {note}")
    for path, text in change.edits.items():
        Path(path).write_text(text)
    for path, text in change.new_files.items():
        Path(path).write_text(text)
    subprocess.run(["dpkg", "--add-architecture", foreign], check=True)
    update = subprocess.run(["apt-get", "update", "-q"], capture_output=True, text=True)
    if update.returncode != 0:
        for path, text in files.items():
            if path in change.edits:
                Path(path).write_text(text)
        for path in change.new_files:
            if path not in files:
                Path(path).unlink(missing_ok=True)
        subprocess.run(["dpkg", "--remove-architecture", foreign], check=False)
        subprocess.run(["apt-get", "update", "-q"], capture_output=True, check=False)
        last = (update.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise AptError(f"apt-get update failed with {foreign} added, so it was undone: {last}")
    return True


if __name__ == "__main__":
    import sys

    try:
        for arch in sys.argv[1:]:
            enable(arch, say=lambda m: print(f"setup: {m}", file=sys.stderr))
    except AptError as e:
        print(f"setup: {e}", file=sys.stderr)
        raise SystemExit(1) from None
