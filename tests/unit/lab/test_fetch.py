"""The download path against a real HTTP server on 127.0.0.1, and extraction of hostile archives."""

from __future__ import annotations

import hashlib
import io
import socket
import tarfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from minilab import fetch
from minilab.catalog import Entry


def make_tarball(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o755
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


GOOD = make_tarball({"bin/sh": b"#!fake\n", "etc/os-release": b"ID=test\n"})


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        if self.path == "/good.tar.gz":
            self.send_response(200)
            self.send_header("Content-Length", str(len(GOOD)))
            self.end_headers()
            self.wfile.write(GOOD)
        elif self.path == "/truncated.tar.gz":
            self.send_response(200)
            self.send_header("Content-Length", str(len(GOOD)))
            self.end_headers()
            self.wfile.write(GOOD[: len(GOOD) // 2])  # then the connection closes
            self.close_connection = True
        elif self.path == "/SHA256SUMS":
            body = f"{hashlib.sha256(GOOD).hexdigest()} *good.tar.gz\n".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            self.send_error(404)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_download_verifies_and_keeps_one_file(server: str, tmp_path: Path) -> None:
    dest = tmp_path / "good.tar.gz"
    fetch.download(f"{server}/good.tar.gz", dest, hashlib.sha256(GOOD).hexdigest())
    assert dest.read_bytes() == GOOD
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.tar.gz"]
    # cached: a second call does not need the server
    fetch.download("http://127.0.0.1:9/never", dest, "unused")


def test_checksum_mismatch_keeps_nothing(server: str, tmp_path: Path) -> None:
    with pytest.raises(fetch.FetchError, match="checksum mismatch .* nothing kept"):
        fetch.download(f"{server}/good.tar.gz", tmp_path / "x.tar.gz", "0" * 64)
    assert list(tmp_path.iterdir()) == []


def test_truncated_body_keeps_nothing(server: str, tmp_path: Path) -> None:
    with pytest.raises(fetch.FetchError, match="truncated|broke off"):
        fetch.download(f"{server}/truncated.tar.gz", tmp_path / "t.tar.gz", hashlib.sha256(GOOD).hexdigest())
    assert list(tmp_path.iterdir()) == []


def test_unreachable_and_missing(server: str, tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(fetch.FetchError, match="cannot download"):
        fetch.download(f"http://127.0.0.1:{port}/x", tmp_path / "x", "0" * 64)
    with pytest.raises(fetch.FetchError, match="cannot download .*Not Found"):
        fetch.download(f"{server}/missing.tar.gz", tmp_path / "m", "0" * 64)
    assert list(tmp_path.iterdir()) == []


def test_unpinned_entry_uses_the_published_sums(server: str, tmp_path: Path) -> None:
    entry = Entry("alpine", "amd64", "0", f"{server}/good.tar.gz", None, f"{server}/SHA256SUMS")
    assert fetch.published_sha256(entry) == hashlib.sha256(GOOD).hexdigest()
    assert fetch.fetch(entry, tmp_path).read_bytes() == GOOD


def test_safe_extract(tmp_path: Path) -> None:
    tarball = tmp_path / "good.tar.gz"
    tarball.write_bytes(GOOD)
    target = tmp_path / "root"
    assert fetch.safe_extract(tarball, target) == []
    assert (target / "bin/sh").read_bytes() == b"#!fake\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def _hostile(tmp_path: Path, *members: tarfile.TarInfo) -> Path:
    path = tmp_path / "evil.tar"
    with tarfile.open(path, "w") as tar:
        for m in members:
            tar.addfile(m, io.BytesIO(b"x" * m.size) if m.isfile() else None)
    return path


def _file(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = 1
    return info


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


@pytest.mark.parametrize(
    "members",
    [
        [_file("/etc/evil")],
        [_file("../evil")],
        [_file("a/../../evil")],
        [_link("esc", str(Path("/tmp").resolve())), _file("esc/evil-through-link")],
        [_link("hard", "../../etc/passwd", tarfile.LNKTYPE)],
    ],
    ids=["absolute", "dotdot", "nested-dotdot", "through-symlink", "hardlink-out"],
)
def test_hostile_archives_are_refused_and_leave_nothing(tmp_path: Path, members: list[tarfile.TarInfo]) -> None:
    tarball = _hostile(tmp_path, *members)
    with pytest.raises(fetch.UnsafeArchive):
        fetch.safe_extract(tarball, tmp_path / "root")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evil.tar"]
    assert not Path("/tmp/evil-through-link").exists()


def test_absolute_symlinks_inside_a_rootfs_are_fine(tmp_path: Path) -> None:
    # /etc/mtab -> /proc/mounts is normal in a rootfs: the link is for the container to resolve
    tarball = _hostile(tmp_path, _link("etc/mtab", "/proc/mounts"))
    fetch.safe_extract(tarball, tmp_path / "root")
    assert (tmp_path / "root/etc/mtab").readlink() == Path("/proc/mounts")


def test_corrupt_archive(tmp_path: Path) -> None:
    tarball = tmp_path / "corrupt.tar.gz"
    tarball.write_bytes(GOOD[:40])
    with pytest.raises(fetch.FetchError, match="cannot extract"):
        fetch.safe_extract(tarball, tmp_path / "root")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corrupt.tar.gz"]
