"""Each target is what the matrix says: its architecture, and its own C library runs."""

from __future__ import annotations

UNAME = {"amd64": "x86_64", "arm64": "aarch64"}


def test_architecture_is_the_targets(mc, target) -> None:
    r = mc.sh("uname -m; cat /etc/minilab-target")
    assert r.stdout.split() == [UNAME[target.arch], f"arch={target.arch}", f"label={target.label}",
                                f"source={target.source}"], r  # fmt: skip


def test_the_rootfs_libc_runs(mc, target) -> None:
    if target.kind == "alpine":
        # musl's loader at Alpine's path (the real one, or Debian's musl in alpine-like)
        r = mc.sh(f"/lib/ld-musl-{UNAME[target.arch]}.so.1 2>&1; true")
        assert f"musl libc ({UNAME[target.arch]})" in r.stdout, r
    else:
        r = mc.sh("ls --version | head -1; ldd --version | head -1")
        assert "GNU coreutils" in r.stdout and ("GLIBC" in r.stdout or "GNU libc" in r.stdout), r
