"""Download once into the cache, verify, and extract safely. Nothing half-done is ever kept."""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from .catalog import Entry

CHUNK = 1 << 16


class FetchError(RuntimeError):
    pass


def _progress(name: str, done: int, total: int | None) -> None:
    if not sys.stderr.isatty():
        return
    if total:
        sys.stderr.write(f"\rdownload {name}: {done * 100 // total:3d}% of {total // 1024} KiB")
    else:
        sys.stderr.write(f"\rdownload {name}: {done // 1024} KiB")
    sys.stderr.flush()


def download(url: str, dest: Path, sha256: str, timeout: float = 30) -> Path:
    """url → dest, verified. On any failure dest does not exist and no partial file remains."""
    if dest.exists():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    h = hashlib.sha256()
    received = 0
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                response = urllib.request.urlopen(url, timeout=timeout)  # noqa: S310 - pinned https URLs
            except (urllib.error.URLError, OSError) as e:
                raise FetchError(f"cannot download {url}: {getattr(e, 'reason', e)}") from None
            with response:
                total = int(response.headers.get("Content-Length") or 0) or None
                while True:
                    try:
                        chunk = response.read(CHUNK)
                    except (OSError, urllib.error.URLError) as e:
                        raise FetchError(f"download of {url} broke off after {received} bytes: {e}") from None
                    if not chunk:
                        break
                    out.write(chunk)
                    h.update(chunk)
                    received += len(chunk)
                    _progress(dest.name, received, total)
        if sys.stderr.isatty():
            sys.stderr.write("\n")
        if total is not None and received != total:
            raise FetchError(f"download of {url} is truncated: {received} of {total} bytes; nothing kept")
        if h.hexdigest() != sha256:
            raise FetchError(
                f"checksum mismatch for {url}: expected sha256 {sha256}, got {h.hexdigest()}; nothing kept"
            )
        os.replace(tmp, dest)
        return dest
    finally:
        tmp.unlink(missing_ok=True)


def published_sha256(entry: Entry, timeout: float = 30) -> str:
    """The checksum upstream publishes beside the file (used only where the catalog has no pin)."""
    if entry.sums_url is None:
        raise FetchError(f"{entry.url} has neither a pinned sha256 nor a published checksum file")
    try:
        with urllib.request.urlopen(entry.sums_url, timeout=timeout) as r:  # noqa: S310
            text = r.read().decode()
    except (urllib.error.URLError, OSError) as e:
        raise FetchError(f"cannot download {entry.sums_url}: {getattr(e, 'reason', e)}") from None
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[-1].lstrip("*") == entry.filename:
            return parts[0]
    raise FetchError(f"{entry.sums_url} does not list {entry.filename}")


def fetch(entry: Entry, cache: Path) -> Path:
    sha = entry.sha256
    if sha is None:
        sha = published_sha256(entry)
        print(f"minilab: {entry.filename} has no pinned sha256; upstream publishes {sha}: pin it in catalog.py")
    return download(entry.url, cache / entry.filename, sha)


class UnsafeArchive(FetchError):
    pass


def _check_member(member: tarfile.TarInfo, target: Path) -> None:
    name = member.name
    if name.startswith("/") or ".." in Path(name).parts:
        raise UnsafeArchive(f"refusing archive member {name!r}: it would land outside the target")
    # Writing through a symlink an earlier member made must not leave the target either.
    parent = os.path.realpath(target / Path(name).parent)
    if not (parent + os.sep).startswith(str(target) + os.sep) and parent != str(target):
        raise UnsafeArchive(f"refusing archive member {name!r}: its directory resolves to {parent}")
    if member.islnk():
        linked = os.path.realpath(target / member.linkname)
        if not linked.startswith(str(target) + os.sep):
            raise UnsafeArchive(f"refusing hard link {name!r} -> {member.linkname!r}: outside the target")


def safe_extract(tarball: Path, target: Path) -> list[str]:
    """Extract into target (which must not exist yet), atomically. Returns skipped device nodes."""
    target = target.resolve()
    if target.exists():
        raise FetchError(f"{target} already exists")
    work = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    skipped: list[str] = []
    try:
        root = work / "root"
        root.mkdir()
        real = root.resolve()
        try:
            with tarfile.open(tarball) as tar:
                for member in tar:
                    _check_member(member, real)
                    if member.isdev():
                        try:
                            tar.extract(member, real, numeric_owner=True, **_trusted())
                        except OSError:
                            skipped.append(member.name)  # e.g. mknod refused in a user namespace
                        continue
                    tar.extract(member, real, numeric_owner=True, **_trusted())
        except (tarfile.TarError, EOFError, OSError) as e:
            if isinstance(e, UnsafeArchive):
                raise
            raise FetchError(f"cannot extract {tarball}: {e}") from None
        root.chmod(0o755)
        os.rename(root, target)
        return skipped
    finally:
        _rmtree(work)


def _trusted() -> dict[str, object]:
    # Our own checks ran above; the stock 'data'/'tar' filters would strip the setuid and sticky
    # bits a root filesystem needs.
    return {"filter": "fully_trusted"} if hasattr(tarfile, "fully_trusted_filter") else {}


def _rmtree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
