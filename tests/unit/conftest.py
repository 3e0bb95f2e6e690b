from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "runtime"))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "lab"))


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    """A tiny fixture rootfs: passwd, group, and an executable /bin/sh placeholder."""
    root = tmp_path / "rootfs"
    for d in ("bin", "etc", "home/user", "proc", "sys", "dev", "tmp"):
        (root / d).mkdir(parents=True)
    (root / "etc/passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\n"
        "user:x:1000:1000:user:/home/user:/bin/sh\n"
        "# comment\n"
        "svc:x:201:301::/srv:/bin/false\n"
    )
    (root / "etc/group").write_text("root:x:0:\nuser:x:1000:\nwheel:x:10:user\nsvcgrp:x:301:\n")
    sh = root / "bin/sh"
    sh.write_bytes(b"\x7fELF\x02\x01\x01" + b"\0" * 9 + b"\x02\x00\x3e\x00" + b"\0" * 100)
    sh.chmod(0o755)
    os.symlink("sh", root / "bin/ash")
    return root
