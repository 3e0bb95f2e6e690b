"""What the guest gets: the runtime and one tarball per target, staged for provision.sh, and the
upload that sends a guest only what it does not have yet (a tarball's content key beside it)."""

from __future__ import annotations

import os
import shutil
import tarfile
from pathlib import Path

from .. import targets as lab_targets
from ..hosts import VM_PROVISION, VM_ROOTFS_DIR, VM_STAGE
from .settings import LAB_DIR, REPO, Settings, say


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
        # the materialized tree's name carries its content key: a guest that has this key unpacked
        # needs neither the upload nor the unpacking (sha256 of the tarball under TCG costs seconds)
        (root / "rootfs" / f"{target.id}.key").write_text(Path(target.rootfs).name + "\n")
        built.append(target)
        say(f"staged {target.id} ({target.source})")
    return built


def upload(host, settings: Settings) -> str:  # noqa: ANN001 - a hosts.SshHost
    """Send provision.sh, the runtime and the stage's tarballs that this guest lacks (by content key)
    over SFTP. → a short account for the progress line."""
    root = Path(settings.stage)
    keys = {p.stem: p.read_text().strip() for p in sorted((root / "rootfs").glob("*.key"))}
    have = host.run(["sh", "-c", f"cd {VM_ROOTFS_DIR} 2>/dev/null && grep -H . .*.key || true"]).stdout
    present = {}
    for line in have.splitlines():
        name, _, key = line.partition(":")
        present[name.removeprefix(".").removesuffix(".key")] = key.strip()
    wanted = [name for name, key in keys.items() if present.get(name) != key]
    r = host.run(["sh", "-c", f"rm -rf {VM_STAGE} && mkdir -p {VM_STAGE}/rootfs && chmod 700 {VM_STAGE}"])
    if r.rc != 0:
        raise OSError(f"cannot make {VM_STAGE} on {host.name}: {r.stderr.strip()}")
    files = [(LAB_DIR / "provision.sh", VM_PROVISION)]
    runtime = root / "runtime"
    files += [(p, f"{VM_STAGE}/{p.relative_to(root)}") for p in sorted(runtime.rglob("*")) if p.is_file()]
    files += [(root / "rootfs" / f"{name}.key", f"{VM_STAGE}/rootfs/{name}.key") for name in keys]
    files += [(root / "rootfs" / f"{name}.tar", f"{VM_STAGE}/rootfs/{name}.tar") for name in wanted]
    dirs = sorted({str(Path(remote).parent) for _, remote in files})
    host.run(["sh", "-c", f"mkdir -p {' '.join(dirs)} && chown -R {host.user} {VM_STAGE}"])
    host.send_files(files)
    sent = ", ".join(wanted) if wanted else "none"
    return f"{len(keys)} targets, uploaded {len(wanted)} ({sent})"
