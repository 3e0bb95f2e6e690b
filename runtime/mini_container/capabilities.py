"""Capability names, docker's add/drop rules, and the five sets a process ends up with."""

from .errors import ContainerError
from .record import Record
from .syscalls import (
    PR_CAP_AMBIENT,
    PR_CAP_AMBIENT_CLEAR_ALL,
    PR_CAP_AMBIENT_RAISE,
    PR_CAPBSET_DROP,
    Kernel,
)

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs milliseconds at every start; annotations only
    from collections.abc import Iterable

# Index = capability number (linux/capability.h).
NAMES: tuple[str, ...] = (
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
    "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
    "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
    "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD",
    "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
    "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
)  # fmt: skip
NUMBERS = {name: i for i, name in enumerate(NAMES)}

# docker's default set (moby oci/caps/defaults.go): 14 capabilities.
DEFAULT = frozenset(
    NUMBERS[n]
    for n in (
        "CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID",
        "SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE",
    )
)  # fmt: skip


def last_cap(path: str = "/proc/sys/kernel/cap_last_cap") -> int:
    """The highest capability number this kernel knows."""
    try:
        with open(path) as f:
            return int(f.read())
    except OSError:
        return len(NAMES) - 1


def parse(values: "Iterable[str]", top: int) -> tuple[set[int], bool]:
    """Names as given on the command line → (numbers, whether ALL was named).

    Accepts repeats and comma lists, any case, with or without the CAP_ prefix.
    """
    caps: set[int] = set()
    everything = False
    for value in values:
        for raw in value.split(","):
            name = raw.strip().upper()
            if name.startswith("CAP_"):
                name = name[4:]
            if not name:
                raise ContainerError(f"empty capability name in {value!r}")
            if name == "ALL":
                everything = True
                continue
            number = NUMBERS.get(name)
            if number is None:
                raise ContainerError(f"unknown capability {raw.strip()!r} (see capabilities(7))")
            if number > top:
                raise ContainerError(f"capability CAP_{name} is not supported by this kernel")
            caps.add(number)
    return caps, everything


class CapSets(Record):
    __slots__ = ("bounding", "permitted", "effective", "inheritable", "ambient")

    def __init__(self, bounding: int, permitted: int, effective: int, inheritable: int, ambient: int) -> None:
        self.bounding, self.permitted, self.effective = bounding, permitted, effective
        self.inheritable, self.ambient = inheritable, ambient


def _mask(caps: "Iterable[int]") -> int:
    mask = 0
    for c in caps:
        mask |= 1 << c
    return mask


def compute(cap_add: "Iterable[str]", cap_drop: "Iterable[str]", uid: int, top: int) -> CapSets:
    """docker's rules (moby TweakCapabilities), then the five sets for this uid.

    root keeps the final set in bounding, permitted and effective (runc: CapInh = CapAmb = 0).
    Any other uid gets no capability by default, like docker, except the ones named with
    --cap-add: those are raised in all sets including inheritable and ambient, so that they
    survive execve for a non-root user (runc measured: CapInh = CapAmb = 0x400).
    """
    every = set(range(top + 1))
    add, add_all = parse(cap_add, top)
    drop, drop_all = parse(cap_drop, top)
    if add_all:
        final = every - drop
        added = final
    elif drop_all:
        final = set(add)
        added = set(add)
    else:
        final = (set(DEFAULT) - drop) | add
        added = set(add)
    final_mask = _mask(final)
    if uid == 0:
        return CapSets(final_mask, final_mask, final_mask, 0, 0)
    raised = _mask(added) & final_mask
    return CapSets(final_mask, raised, raised, raised, raised)


def apply_bounding(k: Kernel, sets: CapSets, top: int) -> None:
    """Drop from the bounding set; needs CAP_SETPCAP, so it runs while we are still root."""
    for cap in range(top + 1):
        if not sets.bounding >> cap & 1:
            k.prctl(PR_CAPBSET_DROP, cap)


def apply_process_sets(k: Kernel, sets: CapSets, top: int) -> None:
    """permitted/effective/inheritable, then ambient (which needs the cap in P and I)."""
    k.capset(sets.effective, sets.permitted, sets.inheritable)
    k.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    for cap in range(top + 1):
        if sets.ambient >> cap & 1:
            k.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap)
