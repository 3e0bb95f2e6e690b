from __future__ import annotations

import concurrent.futures
import os
import tarfile
import time
from pathlib import Path

import pytest

from minilab import targets


def test_policy_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MINILAB_ROOTFS_SOURCE", "offline")
    assert targets.decide_source("alpine", "amd64") == "offline"
    assert targets.decide_source("alpine", "amd64", "download") == "download"
    monkeypatch.setenv("MINILAB_ROOTFS_SOURCE", "sometimes")
    with pytest.raises(ValueError, match="expected one of auto, download, offline"):
        targets.decide_source("alpine", "amd64")


def test_auto_falls_back_to_offline_when_unreachable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MINI_CONTAINER_CACHE", str(tmp_path))
    monkeypatch.setattr(targets, "reachable", lambda url: False)
    assert targets.decide_source("ubuntu", "arm64", "auto") == "offline"
    monkeypatch.setattr(targets, "reachable", lambda url: True)
    assert targets.decide_source("ubuntu", "arm64", "auto") == "download"


def test_auto_uses_a_cached_download_without_the_network(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MINI_CONTAINER_CACHE", str(tmp_path))
    monkeypatch.setattr(targets, "reachable", lambda url: False)
    (tmp_path / "downloads").mkdir()
    (tmp_path / "downloads/alpine-minirootfs-3.23.2-x86_64.tar.gz").write_bytes(b"")
    assert targets.decide_source("alpine", "amd64", "auto") == "download"


def test_labels_say_what_it_really_is() -> None:
    assert targets.label_for("alpine", "arm64", "download") == "alpine-3.23.2"
    assert targets.label_for("alpine", "arm64", "offline") == "alpine-like"
    assert targets.label_for("ubuntu", "amd64", "offline") == "ubuntu-like"


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to uid 1000 needs root")
def test_lab_layer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    helper = tmp_path / "mchelper"
    helper.write_bytes(b"\x7fELF")
    monkeypatch.setattr(targets.builders, "helper_binary", lambda arch: helper)
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    passwd = "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:kept:/home/user:/bin/ash\n"
    (root / "etc/passwd").write_text(passwd)
    targets.apply_lab_layer(root, "amd64", "alpine-like", "offline")
    assert (root / "etc/passwd").read_text() == passwd  # an existing user is kept as it is
    assert "labgrp:x:4242:user" in (root / "etc/group").read_text()
    assert (root / "usr/local/bin/mchelper").read_bytes() == b"\x7fELF"
    assert (root / "home/user").stat().st_uid == 1000 and (root / "tmp").stat().st_mode & 0o7777 == 0o1777
    assert (root / "etc/minilab-target").read_text() == "arch=amd64\nlabel=alpine-like\nsource=offline\n"


@pytest.mark.skipif(os.geteuid() != 0, reason="the lab layer chowns to uid 1000: needs root")
def test_parallel_cold_builds_of_one_target_build_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two workers materialize the same target on a cold cache: the slow base build runs once."""
    monkeypatch.setenv("MINI_CONTAINER_CACHE", str(tmp_path / "cache"))
    helper = tmp_path / "mchelper"
    helper.write_bytes(b"\x7fELF")
    monkeypatch.setattr(targets.builders, "helper_binary", lambda arch: helper)
    builds = []

    def slow_builder(arch: str) -> Path:  # behaves like the builders: cached result, else build
        out = tmp_path / f"ubuntu-like-{arch}.tar"
        if not out.exists():
            builds.append(arch)
            time.sleep(0.5)
            with tarfile.open(out, "w") as tar:
                (tmp_path / "etc").mkdir(exist_ok=True)
                tar.add(tmp_path / "etc", arcname="etc")
        return out

    monkeypatch.setattr(targets.builders, "ubuntu_like_tarball", slow_builder)
    arch = targets.builders.host_arch()
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        done = list(pool.map(lambda _: targets.materialize("ubuntu", arch, "offline"), range(2)))
    assert builds == [arch]
    assert done[0].rootfs == done[1].rootfs and Path(done[0].rootfs, "etc/minilab-target").exists()
