"""Targets = (arch, rootfs kind): where they come from, and the lab layer every one of them gets.

Source policy (MINILAB_ROOTFS_SOURCE or the `source` argument):
  download  the real Alpine / ubuntu-base tarball from the catalog (pinned sha256)
  offline   the honest look-alike built from Debian packages (alpine-like, ubuntu-like)
  auto      download when the tarball is cached or its host answers, else offline (the default)
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import socket
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from . import binfmt, builders, catalog, fetch
from .cache import cache_dir, sha256_file

LAYER_VERSION = "1"  # bump when apply_lab_layer changes: part of the cache key
SOURCES = ("auto", "download", "offline")


@dataclass(frozen=True)
class Target:
    arch: str
    kind: str  # alpine | ubuntu: what was asked for
    label: str  # what it really is: alpine-3.23.2, alpine-like, ubuntu-22.04.5, ubuntu-like
    source: str  # download | offline
    rootfs: str
    user: int | None = None  # None: the runtime runs as root; else as this uid (rootless)

    @property
    def id(self) -> str:
        return f"{self.arch}-{self.label}"


def reachable(url: str, timeout: float = 5) -> bool:
    host = urllib.parse.urlsplit(url).hostname or ""
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def decide_source(kind: str, arch: str, policy: str | None = None) -> str:
    policy = policy or os.environ.get("MINILAB_ROOTFS_SOURCE", "auto")
    if policy not in SOURCES:
        raise ValueError(f"MINILAB_ROOTFS_SOURCE={policy!r}: expected one of {', '.join(SOURCES)}")
    if policy != "auto":
        return policy
    entry = catalog.entry(kind, arch)
    if (cache_dir("downloads") / entry.filename).exists() or reachable(entry.url):
        return "download"
    return "offline"


RESOLVED = "MINILAB_RESOLVED_TARGETS"  # arch:kind:source,... decided once, shared with every process of a run


def resolve(env: dict[str, str] | None = None) -> list[tuple[str, str, str]]:
    """The run's targets with their source decided, stored in env (os.environ by default) so that a
    collection, the run and its xdist workers agree even when `auto` would decide differently later.
    MINILAB_TARGETS picks them ("amd64:alpine,arm64:ubuntu"; default: this host's arch, alpine)."""
    env = os.environ if env is None else env
    if RESOLVED not in env:
        specs = env.get("MINILAB_TARGETS", f"{builders.host_arch()}:alpine").split(",")
        decided = []
        for spec in specs:
            arch, _, kind = spec.strip().partition(":")
            decided.append(f"{arch}:{kind}:{decide_source(kind, arch, env.get('MINILAB_ROOTFS_SOURCE'))}")
        env[RESOLVED] = ",".join(decided)
    return [tuple(s.split(":")) for s in env[RESOLVED].split(",")]  # type: ignore[misc]


def label_for(kind: str, arch: str, source: str) -> str:
    return catalog.entry(kind, arch).label if source == "download" else f"{kind}-like"


def _base_tarball(kind: str, arch: str, source: str) -> Path:
    if source == "download":
        return fetch.fetch(catalog.entry(kind, arch), cache_dir("downloads"))
    return builders.alpine_like_tarball(arch) if kind == "alpine" else builders.ubuntu_like_tarball(arch)


def _append_missing(path: Path, lines: list[str]) -> None:
    existing = path.read_text().splitlines() if path.exists() else []
    names = {line.split(":", 1)[0] for line in existing}
    added = [line for line in lines if line.split(":", 1)[0] not in names]
    if added:
        path.write_text("\n".join([*existing, *added]) + "\n")


def apply_lab_layer(root: Path, arch: str, label: str, source: str) -> None:
    """What the scenarios need on top of any rootfs: a user 1000, a group, the helper, /tmp."""
    _install_helper(root, arch)
    _append_missing(root / "etc/passwd", ["user:x:1000:1000:user:/home/user:/bin/sh"])
    _append_missing(root / "etc/group", ["user:x:1000:", "labgrp:x:4242:user"])
    home = root / "home/user"
    home.mkdir(parents=True, exist_ok=True)
    os.chown(home, 1000, 1000)
    (root / "tmp").mkdir(exist_ok=True)
    (root / "tmp").chmod(0o1777)
    (root / "etc/minilab-target").write_text(f"arch={arch}\nlabel={label}\nsource={source}\n")


def _install_helper(root: Path, arch: str) -> None:
    (root / "usr/local/bin").mkdir(parents=True, exist_ok=True)
    shutil.copy2(builders.helper_binary(arch), root / "usr/local/bin/mchelper")


@contextlib.contextmanager
def _target_lock(arch: str, kind: str) -> Iterator[None]:
    """One builder per target at a time: two xdist workers on a cold cache would otherwise both run
    the same slow build (mmdebstrap for arm64 takes minutes); the second one then finds it cached."""
    with open(cache_dir("targets") / f".{arch}-{kind}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def materialize(kind: str, arch: str, policy: str | None = None) -> Target:
    """The ready-to-use rootfs directory for (kind, arch), built once and cached by content."""
    catalog.entry(kind, arch)  # validates both names
    if arch != builders.host_arch():
        binfmt.ensure(arch)
    source = decide_source(kind, arch, policy)
    with _target_lock(arch, kind):
        return _materialize(kind, arch, source)


def _materialize(kind: str, arch: str, source: str) -> Target:
    label = label_for(kind, arch, source)
    tarball = _base_tarball(kind, arch, source)
    helper = builders.helper_binary(arch)
    # The tarball's name already carries its content key (pinned version, or the builder's inputs).
    key = hashlib.sha256(f"{tarball.name}|{sha256_file(helper)}|{LAYER_VERSION}".encode()).hexdigest()[:16]
    final = cache_dir("targets") / f"{arch}-{label}-{key}"
    if not final.exists():
        staging = cache_dir("targets") / f".{final.name}.{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        try:
            fetch.safe_extract(tarball, staging)
            apply_lab_layer(staging, arch, label, source)
            try:
                os.rename(staging, final)
            except OSError:
                if not final.exists():  # another worker won the race with an identical tree
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return Target(arch, kind, label, source, str(final))
