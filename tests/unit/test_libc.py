"""The syscall layer's C types, built from _ctypes, held against the real ctypes and a real libc."""

from __future__ import annotations

import ctypes
import errno
import os

import pytest

from mini_container import libc as c

SAME_NAMES = ["c_char", "c_char_p", "c_short", "c_int", "c_uint", "c_long", "c_ulong", "c_void_p",
              "c_size_t", "c_uint32", "c_uint64"]  # fmt: skip


@pytest.mark.parametrize("name", SAME_NAMES)
def test_types_match_ctypes(name: str) -> None:
    ours, theirs = getattr(c, name), getattr(ctypes, name)
    assert c.sizeof(ours) == ctypes.sizeof(theirs)
    assert ours._type_ == theirs._type_


def test_a_call_returns_its_value_and_failures_set_errno() -> None:
    lib = c.Library()
    assert lib.getpid() == os.getpid()
    lib.umount2.argtypes = [c.c_char_p, c.c_int]
    assert lib.umount2(b"/no/such/mount/point", 0) == -1
    assert c.get_errno() == errno.ENOENT


def test_a_long_result_is_not_truncated() -> None:
    lib = c.Library()
    lib.syscall.restype = c.c_long
    lib.strtol.restype = c.c_long
    assert lib.strtol(b"8589934593", None, 10) == 8589934593  # 2**33 + 1: more than an int holds


def test_functions_are_made_once_and_missing_symbols_raise_attribute_error() -> None:
    lib = c.Library()
    assert lib.getpid is lib.getpid
    assert getattr(lib, "no_such_function_in_libc", None) is None
    with pytest.raises(AttributeError):
        lib.__wrapped__  # noqa: B018 - dunder lookups never go to dlsym


def test_structures_and_buffers() -> None:
    class Pair(c.Structure):
        _fields_ = [("name", c.c_char * 16), ("flags", c.c_short)]

    class TheirPair(ctypes.Structure):
        _fields_ = [("name", ctypes.c_char * 16), ("flags", ctypes.c_short)]

    assert c.sizeof(Pair) == ctypes.sizeof(TheirPair)
    p = Pair(name=b"lo", flags=3)
    assert (p.name, p.flags) == (b"lo", 3)
    buf = c.string_buffer(8, b"\x01\x02")
    assert buf.raw == b"\x01\x02" + b"\0" * 6
    assert c.string_buffer(4).raw == b"\0" * 4
    lib = c.Library()
    lib.memset.argtypes = [c.c_void_p, c.c_int, c.c_size_t]
    lib.memset(c.byref(buf), 0x41, 3)
    assert buf.raw[:4] == b"AAA\0"
