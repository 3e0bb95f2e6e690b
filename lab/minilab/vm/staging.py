"""What the guest gets: the runtime and one tarball per target, staged for provision.sh."""

from __future__ import annotations

import os
import shutil
import tarfile
from pathlib import Path

from .. import targets as lab_targets
from .settings import REPO, Settings, say


def target_tarball(rootfs: str) -> Path:
    """The tarball of a materialized target, beside it. The whole name plus `.tar`: labels have dots
    (`amd64-alpine-3.23.2-<key>`), and with_suffix would cut the content key off."""
    return Path(f"{rootfs}.tar")


def link_or_copy(src: Path, dst: Path) -> None:
    """A hard link when the stage is on the cache's filesystem, a copy when it is not (EXDEV)."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def stage(settings: Settings, specs: list[tuple[str, str, str]]) -> list[lab_targets.Target]:
    """What provision.sh installs: the runtime and one tarball per target."""
    root = Path(settings.stage)
    shutil.rmtree(root, ignore_errors=True)
    (root / "rootfs").mkdir(parents=True)
    shutil.copytree(REPO / "runtime/mini_container", root / "runtime/mini_container",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    built = []
    for arch, kind, source in specs:
        target = lab_targets.materialize(kind, arch, source)
        cached = target_tarball(target.rootfs)
        if not cached.exists():  # one tarball per materialized target, reused across runs
            tmp = cached.with_name(f".{cached.name}.{os.getpid()}")
            with tarfile.open(tmp, "w") as tar:
                tar.add(target.rootfs, arcname=".")
            os.replace(tmp, cached)
        link_or_copy(cached, root / "rootfs" / f"{target.id}.tar")
        built.append(target)
        say(f"staged {target.id} ({target.source})")
    return built
