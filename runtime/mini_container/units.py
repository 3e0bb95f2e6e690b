"""Memory sizes: a bare number is MiB (the seed's unit); b, k, m, g, t suffixes as docker."""

from .errors import ContainerError

MIB = 1024 * 1024
# docker's own floor (`Minimum memory limit allowed is 6MB`): below it nothing starts.
MIN_MEMORY = 6 * MIB

_FACTORS = {"b": 1, "k": 1024, "m": MIB, "g": 1024 * MIB, "t": 1024 * 1024 * MIB}
_TAILS = ("", "b", "ib")  # after the unit letter: 512m, 512mb, 512MiB


def _split(text: str) -> tuple[str, str] | None:
    """'1.5 GiB' → ('1.5', 'g'); None if malformed. (Not `re`: it costs milliseconds per start.)"""
    t = text.strip().lower()
    digits = len(t) - len(t.lstrip("0123456789."))
    number, rest = t[:digits], t[digits:].strip()
    if not number or number.count(".") > 1 or number[0] == "." or number[-1] == ".":
        return None
    if rest in ("", "b"):
        return number, rest
    if rest[0] in "kmgt" and rest[1:] in _TAILS:
        return number, rest[0]
    return None


def parse_memory(text: str) -> int:
    """'-m' value → bytes. '100' → 100 MiB, '512m', '1g', '1048576b'."""
    split = _split(text)
    if split is None:
        raise ContainerError(f"invalid memory limit {text!r}: expected a number of MiB or a size such as 512m, 1g")
    number, unit = split
    value = int(float(number) * (_FACTORS[unit] if unit else MIB))
    if value < MIN_MEMORY:
        raise ContainerError(f"memory limit {text!r} is below the minimum of {MIN_MEMORY // MIB} MiB")
    return value


def format_mib(value: int) -> str:
    mib = value / MIB
    return f"{mib:g} MiB" if mib == int(mib) else f"{mib:.1f} MiB"
