"""Memory sizes: a bare number is MiB (the seed's unit); b, k, m, g, t suffixes as docker."""

from __future__ import annotations

import re

from .errors import ContainerError

MIB = 1024 * 1024
# docker's own floor (`Minimum memory limit allowed is 6MB`): below it nothing starts.
MIN_MEMORY = 6 * MIB

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([bkmgt]?)(?:i?b)?\s*$", re.IGNORECASE)
_FACTORS = {"b": 1, "k": 1024, "m": MIB, "g": 1024 * MIB, "t": 1024 * 1024 * MIB}


def parse_memory(text: str) -> int:
    """'-m' value → bytes. '100' → 100 MiB, '512m', '1g', '1048576b'."""
    match = _SIZE.match(text)
    if not match:
        raise ContainerError(f"invalid memory limit {text!r}: expected a number of MiB or a size such as 512m, 1g")
    number, unit = match.groups()
    factor = _FACTORS[unit.lower()] if unit else MIB
    value = int(float(number) * factor)
    if value < MIN_MEMORY:
        raise ContainerError(f"memory limit {text!r} is below the minimum of {MIN_MEMORY // MIB} MiB")
    return value


def format_mib(value: int) -> str:
    mib = value / MIB
    return f"{mib:g} MiB" if mib == int(mib) else f"{mib:.1f} MiB"
