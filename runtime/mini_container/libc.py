"""The C library through `_ctypes`, the C half of ctypes: only the types the syscall layer uses.

why not `ctypes` itself: its __init__ builds some forty types, imports struct and checks type sizes,
~1.5 ms at every container start, for nothing the runtime uses. The classes below are ctypes' own
definitions under the same names (a `_type_` is a struct-module code), so ctypes' documentation
applies to them; tests/unit/test_libc.py holds them against the real ctypes.
"""

import _ctypes
from _ctypes import POINTER, Structure, byref, get_errno, sizeof

__all__ = ["POINTER", "Structure", "byref", "get_errno", "sizeof", "Library", "string_buffer"]


class c_char(_ctypes._SimpleCData):  # noqa: N801 - ctypes' names
    _type_ = "c"


class c_char_p(_ctypes._SimpleCData):  # noqa: N801
    _type_ = "z"


class c_short(_ctypes._SimpleCData):  # noqa: N801
    _type_ = "h"


class c_int(_ctypes._SimpleCData):  # noqa: N801
    _type_ = "i"


class c_uint(_ctypes._SimpleCData):  # noqa: N801
    _type_ = "I"


class c_long(_ctypes._SimpleCData):  # noqa: N801
    _type_ = "l"


class c_ulong(_ctypes._SimpleCData):  # noqa: N801
    _type_ = "L"


class c_void_p(_ctypes._SimpleCData):  # noqa: N801
    _type_ = "P"


# LP64, like both architectures the runtime supports (x86_64, aarch64)
c_size_t = c_ulong
c_uint32 = c_uint
c_uint64 = c_ulong


class Function(_ctypes.CFuncPtr):
    """A C function that returns int and saves errno for get_errno(): CDLL(use_errno=True)'s."""

    _flags_ = _ctypes.FUNCFLAG_CDECL | _ctypes.FUNCFLAG_USE_ERRNO
    _restype_ = c_int


class Library:
    """dlopen(NULL): the C library the interpreter already has loaded. Functions are attributes,
    made on first use and kept (set their argtypes/restype once); a missing symbol raises
    AttributeError, as with ctypes.CDLL."""

    def __init__(self) -> None:
        self._handle = _ctypes.dlopen(None, _ctypes.RTLD_LOCAL)

    def __getattr__(self, name: str) -> Function:
        if name.startswith("__"):
            raise AttributeError(name)
        fn = Function((name, self))  # reads self._handle; AttributeError if the symbol is missing
        setattr(self, name, fn)
        return fn


def string_buffer(size: int, init: bytes = b"") -> _ctypes.Array:
    """A writable char[size] holding `init`: ctypes.create_string_buffer(init, size)."""
    buf = (c_char * size)()
    buf.raw = init.ljust(size, b"\0")[:size]
    return buf
