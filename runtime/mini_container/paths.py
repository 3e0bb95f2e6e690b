"""Resolve a path inside the rootfs the way the container will see it.

Symlinks in the rootfs are resolved against the rootfs, never the host (like
cyphar/filepath-securejoin): a link `/etc -> /` cannot make us mount over the host's /.
"""

import os
import stat

from .errors import ContainerError

_MAX_LINKS = 255


def secure_join(root: str, unsafe: str) -> str:
    """root + unsafe with every symlink followed inside root. Missing tails are kept as is."""
    parts = [p for p in unsafe.split("/") if p]
    resolved: list[str] = []
    links = 0
    while parts:
        part = parts.pop(0)
        if part == ".":
            continue
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = os.path.join(root, *resolved, part)
        try:
            st = os.lstat(candidate)
        except FileNotFoundError:
            resolved.append(part)
            continue
        except NotADirectoryError:
            resolved.append(part)
            continue
        if stat.S_ISLNK(st.st_mode):
            links += 1
            if links > _MAX_LINKS:
                raise ContainerError(f"too many levels of symbolic links in {unsafe}")
            target = os.readlink(candidate)
            if target.startswith("/"):
                resolved = []
            parts = [p for p in target.split("/") if p] + parts
            continue
        resolved.append(part)
    return os.path.join(root, *resolved)
