"""`-u UID[:GID]` or `NAME[:GROUP]`, resolved in the rootfs's /etc/passwd and /etc/group."""

from .errors import ContainerError
from .paths import secure_join
from .record import Record

_ID_MAX = 2**32 - 2  # (uid_t)-1 means "unchanged" to the kernel


class User(Record):
    __slots__ = ("uid", "gid", "home", "name")

    def __init__(self, uid: int, gid: int, home: str, name: str | None) -> None:
        self.uid, self.gid, self.home, self.name = uid, gid, home, name


ROOT = User(0, 0, "/root", "root")


def _read_db(rootfs: str, name: str) -> list[list[str]]:
    path = secure_join(rootfs, f"/etc/{name}")
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return []
    except OSError as e:
        raise ContainerError(f"cannot read /etc/{name} in the rootfs: {e.strerror}") from None
    return [line.split(":") for line in lines if line and not line.startswith("#")]


def _number(text: str, what: str) -> int | None:
    if not text.isdigit():
        return None
    value = int(text)
    if value > _ID_MAX:
        raise ContainerError(f"{what} {text} is out of range (0..{_ID_MAX})")
    return value


def resolve(spec: str | None, rootfs: str) -> User:
    """The user the command runs as. A numeric uid need not exist in passwd (as with docker)."""
    if spec is None:
        passwd = _read_db(rootfs, "passwd")
        home = next((e[5] for e in passwd if len(e) >= 6 and e[2] == "0"), "/root")
        return User(0, 0, home or "/root", "root")
    user_part, sep, group_part = spec.partition(":")
    if not user_part or (sep and not group_part):
        raise ContainerError(f"invalid user {spec!r}: expected UID[:GID] or NAME[:GROUP]")
    passwd = _read_db(rootfs, "passwd")
    uid = _number(user_part, "uid")
    entry = None
    for e in passwd:
        if len(e) < 4:
            continue
        if (uid is None and e[0] == user_part) or (uid is not None and e[2] == user_part):
            entry = e
            break
    if uid is None:
        if entry is None:
            raise ContainerError(f"unknown user {user_part!r}: no such name in the rootfs's /etc/passwd")
        uid = int(entry[2])
    gid = int(entry[3]) if entry is not None and entry[3].isdigit() else 0
    home = entry[5] if entry is not None and len(entry) >= 6 and entry[5] else "/"
    name = entry[0] if entry is not None else None
    if group_part:
        number = _number(group_part, "gid")
        if number is not None:
            gid = number
        else:
            groups = _read_db(rootfs, "group")
            match = next((g for g in groups if len(g) >= 3 and g[0] == group_part), None)
            if match is None or not match[2].isdigit():
                raise ContainerError(f"unknown group {group_part!r}: no such name in the rootfs's /etc/group")
            gid = int(match[2])
    return User(uid, gid, home, name)
