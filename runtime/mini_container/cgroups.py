"""cgroup v1, v2 and hybrid layouts behind one small interface.

The layout is read from /proc/self/mountinfo; managers take their mount points as plain paths,
so unit tests drive them against fixture directory trees.
"""

import _signal as signal  # why: `signal` only adds enum wrappers, ~2 ms of imports at every start
import errno
import os
import time

from .errors import ContainerError
from .record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs milliseconds at every start; annotations only
    from collections.abc import Callable

CONTROLLERS = ("memory", "pids")


def run_pid(name: str) -> int | None:
    """The runtime pid in a container cgroup's name (<runtime pid>-<random hex>): the sweep's key."""
    pid, sep, token = name.partition("-")
    if sep and pid.isdigit() and token and all(c in "0123456789abcdef" for c in token):
        return int(pid)
    return None


class Layout(Record):
    """Where cgroup hierarchies are mounted: the unified one, and v1 ones by controller."""

    __slots__ = ("unified", "v1")

    def __init__(self, unified: str | None = None, v1: dict[str, str] | None = None) -> None:
        self.unified = unified
        self.v1 = v1 if v1 is not None else {}

    @property
    def version(self) -> str:
        """The API the runtime uses: v1 as soon as memory or pids sits on a v1 hierarchy."""
        return "v1" if any(c in self.v1 for c in CONTROLLERS) else "v2"


def parse_mountinfo(text: str) -> Layout:
    layout = Layout()
    for line in text.splitlines():
        head, _, tail = line.partition(" - ")
        fields, tail_fields = head.split(), tail.split()
        if len(fields) < 5 or len(tail_fields) < 3 or fields[3] != "/":
            continue
        fstype, mount_point, options = tail_fields[0], fields[4], tail_fields[2].split(",")
        if fstype == "cgroup2" and layout.unified is None:
            layout.unified = mount_point
        elif fstype == "cgroup":
            for opt in options:
                if opt in CONTROLLERS and opt not in layout.v1:
                    layout.v1[opt] = mount_point
    return layout


def read_layout(mountinfo: str = "/proc/self/mountinfo") -> Layout:
    with open(mountinfo) as f:
        layout = parse_mountinfo(f.read())
    if layout.version == "v2" and layout.unified is None:
        raise ContainerError("no cgroup filesystem is mounted (looked for cgroup2 and cgroup v1)")
    return layout


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def _write(path: str, value: str) -> None:
    try:
        with open(path, "w") as f:
            f.write(value)
    except OSError as e:
        raise ContainerError(f"cgroup: cannot write {value.strip()!r} to {path}: {e.strerror}") from None


def _counter(path: str, key: str) -> int:
    try:
        for line in _read(path).splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    except OSError:
        pass
    return 0


def _optional_int(path: str) -> int | None:
    try:
        return int(_read(path).split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _pids(directory: str) -> list[int]:
    try:
        return [int(p) for p in _read(os.path.join(directory, "cgroup.procs")).split()]
    except OSError:
        return []


def _kill_and_remove(directory: str, timeout: float = 5.0) -> None:
    """SIGKILL whatever is left, then rmdir (EBUSY until the last task has exited)."""
    kill_file = os.path.join(directory, "cgroup.kill")
    if os.path.exists(kill_file):
        try:
            _write(kill_file, "1")
        except ContainerError:
            pass
    deadline = time.monotonic() + timeout
    while True:
        for pid in _pids(directory):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            os.rmdir(directory)
            return
        except FileNotFoundError:
            return
        except OSError as e:
            if e.errno != errno.EBUSY or time.monotonic() > deadline:
                raise ContainerError(f"cgroup: cannot remove {directory}: {e.strerror}") from None
        time.sleep(0.005)


DEFAULT_PARENT = "mini-container"


def _make_levels(mount: str, parent: str) -> list[str]:
    """mkdir -p mount/parent; returns the levels this call created (deepest last)."""
    created = []
    level = mount
    for part in [p for p in parent.split("/") if p]:
        level = os.path.join(level, part)
        try:
            os.mkdir(level)
            created.append(level)
        except FileExistsError:
            pass
    return created


class Cgroup:
    """One container's cgroup. Subclasses know where the files are."""

    version = ""

    def __init__(self, parent: str, name: str) -> None:
        self.parent = parent.strip("/")
        self.name = name
        self.created_parents: list[str] = []

    def _removable_parents(self) -> list[str]:
        """Parents to rmdir once empty: ours by name, or made by this run; deepest first."""
        leaves = [os.path.dirname(d) for d in self.directories()] if self.parent == DEFAULT_PARENT else []
        return sorted(set(leaves) | set(self.created_parents), key=len, reverse=True)

    def _remove_created_parents(self) -> None:
        for parent in sorted(self.created_parents, key=len, reverse=True):
            try:
                os.rmdir(parent)
            except OSError:
                pass

    def directories(self) -> list[str]:
        raise NotImplementedError

    def create(self, memory: int | None, pids: int | None) -> None:
        raise NotImplementedError

    def add(self, pid: int) -> None:
        for directory in self.directories():
            _write(os.path.join(directory, "cgroup.procs"), str(pid))

    def oom_kills(self) -> int:
        raise NotImplementedError

    def memory_peak(self) -> int | None:
        raise NotImplementedError

    def pids_peak(self) -> int | None:
        raise NotImplementedError

    def swap_allowance(self) -> int | None:
        """Bytes of swap the kernel lets the container use beyond its memory limit, read back from
        the cgroup (0 once -m has pinned it); None where the kernel accounts no swap."""
        return None

    def remove(self) -> None:
        errors = []
        for directory in self.directories():
            try:
                _kill_and_remove(directory)
            except ContainerError as e:
                errors.append(str(e))
        if errors:
            raise ContainerError("; ".join(errors))
        for parent in self._removable_parents():
            try:
                os.rmdir(parent)
            except OSError:
                pass  # another container still lives there (EBUSY), or it is gone already


class CgroupV2(Cgroup):
    version = "v2"

    def __init__(self, mount: str, parent: str, name: str) -> None:
        super().__init__(parent, name)
        self.mount = mount
        self.path = os.path.join(mount, self.parent, name)

    def directories(self) -> list[str]:
        return [self.path]

    def create(self, memory: int | None, pids: int | None) -> None:
        try:
            self._create(memory, pids)
        except OSError as e:  # e.g. a --cgroup-parent that names a file: ENOTDIR on the way down
            self._remove_created_parents()  # it failed before our own mkdir
            raise ContainerError(f"cgroup: cannot create {self.path}: {e.strerror}") from None

    def _create(self, memory: int | None, pids: int | None) -> None:
        available = _read(os.path.join(self.mount, "cgroup.controllers")).split()
        wanted = [c for c in CONTROLLERS if c in available]
        for controller, limit in (("memory", memory), ("pids", pids)):
            if limit is not None and controller not in wanted:
                raise ContainerError(f"cgroup v2: the {controller} controller is not available in {self.mount}")
        for attempt in range(5):
            # Each level must delegate the controllers to the next, from the root down; the
            # parents hold no process (the "no internal processes" rule).
            self.created_parents += _make_levels(self.mount, self.parent)
            level = self.mount
            for part in [p for p in self.parent.split("/") if p]:
                self._enable(level, wanted)
                level = os.path.join(level, part)
            self._enable(level, wanted)
            try:
                os.mkdir(self.path)
                break
            except FileNotFoundError:
                if attempt == 4:  # a finishing run keeps removing the empty parent under us
                    raise ContainerError(f"cgroup: cannot create {self.path}: parent keeps vanishing") from None
            except OSError as e:
                raise ContainerError(f"cgroup: cannot create {self.path}: {e.strerror}") from None
        try:
            if memory is not None:
                _write(os.path.join(self.path, "memory.max"), str(memory))
                swap = os.path.join(self.path, "memory.swap.max")
                if os.path.exists(swap):
                    _write(swap, "0")  # swap must not extend the limit
            if pids is not None:
                _write(os.path.join(self.path, "pids.max"), str(pids))
        except ContainerError:
            self.remove()
            raise

    @staticmethod
    def _enable(directory: str, controllers: list[str]) -> None:
        control = os.path.join(directory, "cgroup.subtree_control")
        try:
            enabled = _read(control).split()
        except FileNotFoundError:
            enabled = []
        missing = [c for c in controllers if c not in enabled]
        if missing:
            _write(control, " ".join(f"+{c}" for c in missing))

    def oom_kills(self) -> int:
        return _counter(os.path.join(self.path, "memory.events"), "oom_kill")

    def memory_peak(self) -> int | None:
        return _optional_int(os.path.join(self.path, "memory.peak"))

    def pids_peak(self) -> int | None:
        return _optional_int(os.path.join(self.path, "pids.peak"))

    def swap_allowance(self) -> int | None:
        try:
            value = _read(os.path.join(self.path, "memory.swap.max")).strip()
        except OSError:
            return None
        return -1 if value == "max" else int(value)  # -1: unlimited


class CgroupV1(Cgroup):
    version = "v1"

    def __init__(self, mounts: dict[str, str], parent: str, name: str) -> None:
        super().__init__(parent, name)
        self.mounts = {c: m for c, m in mounts.items() if c in CONTROLLERS}
        self.paths = {c: os.path.join(m, self.parent, name) for c, m in self.mounts.items()}

    def directories(self) -> list[str]:
        return list(self.paths.values())

    def create(self, memory: int | None, pids: int | None) -> None:
        for controller, limit in (("memory", memory), ("pids", pids)):
            if limit is not None and controller not in self.paths:
                raise ContainerError(f"cgroup v1: the {controller} controller is not mounted")
        made: list[str] = []
        try:
            for controller, path in self.paths.items():
                for attempt in range(5):
                    self.created_parents += _make_levels(self.mounts[controller], self.parent)
                    try:
                        os.mkdir(path)
                        break
                    except FileNotFoundError:
                        if attempt == 4:  # a finishing run keeps removing the empty parent under us
                            raise
                made.append(path)
            if memory is not None:
                mem = self.paths["memory"]
                _write(os.path.join(mem, "memory.limit_in_bytes"), str(memory))
                memsw = os.path.join(mem, "memory.memsw.limit_in_bytes")
                if os.path.exists(memsw):
                    _write(memsw, str(memory))  # after the plain limit: memsw must be >= it
            if pids is not None:
                _write(os.path.join(self.paths["pids"], "pids.max"), str(pids))
        except OSError as e:
            self._undo(made)
            raise ContainerError(f"cgroup: cannot create {e.filename}: {e.strerror}") from None
        except ContainerError:
            self._undo(made)
            raise

    def _undo(self, made: list[str]) -> None:
        for path in made:
            _kill_and_remove(path)
        self._remove_created_parents()

    def oom_kills(self) -> int:
        if "memory" not in self.paths:
            return 0
        return _counter(os.path.join(self.paths["memory"], "memory.oom_control"), "oom_kill")

    def memory_peak(self) -> int | None:
        if "memory" not in self.paths:
            return None
        return _optional_int(os.path.join(self.paths["memory"], "memory.max_usage_in_bytes"))

    def pids_peak(self) -> int | None:
        if "pids" not in self.paths:
            return None
        return _optional_int(os.path.join(self.paths["pids"], "pids.peak"))

    def swap_allowance(self) -> int | None:
        if "memory" not in self.paths:
            return None
        memsw = _optional_int(os.path.join(self.paths["memory"], "memory.memsw.limit_in_bytes"))
        memory = _optional_int(os.path.join(self.paths["memory"], "memory.limit_in_bytes"))
        return None if memsw is None or memory is None else memsw - memory


class NoCgroup(Cgroup):
    """A rootless run that asked for no limit where the caller has no cgroup of their own: the PID
    namespace still takes every process along when its init ends."""

    version = None  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__("", "")

    def directories(self) -> list[str]:
        return []

    def create(self, memory: int | None, pids: int | None) -> None:
        assert memory is None and pids is None

    def oom_kills(self) -> int:
        return 0

    def memory_peak(self) -> int | None:
        return None

    def pids_peak(self) -> int | None:
        return None


def for_layout(layout: Layout, parent: str, name: str, base: str | None = None) -> Cgroup:
    """base: where a rootless run's tree starts (its delegated cgroup); the v2 mount otherwise."""
    if layout.version == "v1":
        return CgroupV1(layout.v1, parent, name)
    assert layout.unified is not None
    return CgroupV2(base or layout.unified, parent, name)


def own_v2_path(proc_cgroup: str = "/proc/self/cgroup") -> str | None:
    """This process's cgroup on the unified hierarchy ("0::/path")."""
    try:
        with open(proc_cgroup) as f:
            for line in f.read().splitlines():
                if line.startswith("0::/"):
                    return line[3:]
    except OSError:
        pass
    return None


def file_owner(path: str) -> int | None:
    try:
        return os.stat(path).st_uid
    except OSError:
        return None


def _owned_by(directory: str, uid: int, owner: "Callable[[str], int | None]") -> bool:
    # systemd's Delegate=yes (and an admin's chown) hands over the directory and the files that
    # move processes and enable controllers: all of them must be the caller's
    return all(owner(os.path.join(directory, f)) == uid for f in ("", "cgroup.procs", "cgroup.subtree_control"))


def delegated_root(layout: Layout, uid: int, own: str | None, owner: "Callable[[str], int | None]" = file_owner,
                   ) -> tuple[str | None, str]:  # fmt: skip
    """The topmost cgroup above (or at) `own` that is delegated to `uid`: where a rootless run may
    make its cgroups, since a process may move another only below a cgroup it owns.
    → (directory, "") or (None, why there is none)."""
    if layout.version == "v1":
        return None, "this host keeps memory and pids on cgroup v1, which delegates nothing to a user"
    assert layout.unified is not None
    if own is None:
        return None, "this process is in no cgroup v2 (no 0:: line in /proc/self/cgroup)"
    found = None
    current = os.path.normpath(os.path.join(layout.unified, own.lstrip("/")))
    while (current == layout.unified or current.startswith(layout.unified + "/")) and _owned_by(current, uid, owner):
        found = current
        if current == layout.unified:
            break
        current = os.path.dirname(current)
    if found is None:
        return None, f"your cgroup {own} is not delegated to uid {uid}"
    return found, ""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep(layout: Layout, parent: str, base: str | None = None) -> list[str]:
    """Remove cgroups left by runs whose runtime was killed. Returns what was removed."""
    parent = parent.strip("/")
    bases = [os.path.join(m, parent) for c, m in layout.v1.items() if c in CONTROLLERS]
    if layout.version == "v2" and layout.unified:
        bases = [os.path.join(base or layout.unified, parent)]
    removed = []
    for base in bases:
        try:
            entries = os.listdir(base)
        except OSError:
            continue
        for entry in entries:
            pid = run_pid(entry)
            if pid is not None and not _alive(pid):
                path = os.path.join(base, entry)
                try:
                    _kill_and_remove(path, timeout=1.0)
                    removed.append(path)
                except ContainerError:
                    pass  # still busy: the next run tries again
    return removed
