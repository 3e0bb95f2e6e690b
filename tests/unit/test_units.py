from __future__ import annotations

import pytest

from mini_container.errors import ContainerError
from mini_container.units import MIB, format_mib, parse_memory


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("100", 100 * MIB),  # a bare number is MiB, the seed's unit (not bytes)
        ("6", 6 * MIB),
        ("512m", 512 * MIB),
        ("512M", 512 * MIB),
        ("512MiB", 512 * MIB),
        ("1g", 1024 * MIB),
        ("1.5g", 1536 * MIB),
        ("10485760b", 10 * MIB),
        ("8192k", 8 * MIB),
    ],
)
def test_sizes(text: str, expected: int) -> None:
    assert parse_memory(text) == expected


@pytest.mark.parametrize("text", ["", "abc", "-5", "12q", "1 2", "m"])
def test_malformed(text: str) -> None:
    with pytest.raises(ContainerError, match="invalid memory limit"):
        parse_memory(text)


@pytest.mark.parametrize("text", ["0", "1", "5", "1048576b", "6143k"])
def test_below_minimum(text: str) -> None:
    with pytest.raises(ContainerError, match="below the minimum"):
        parse_memory(text)


def test_format() -> None:
    assert format_mib(16 * MIB) == "16 MiB"
    assert format_mib(MIB + MIB // 2) == "1.5 MiB"
