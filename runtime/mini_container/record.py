"""A tiny record base: `dataclasses` would add ~8 ms of imports (inspect, ast, dis) to every start."""


class Record:
    """Fields are the subclass's __slots__; equality and repr follow them."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and all(getattr(self, f) == getattr(other, f) for f in self.__slots__)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        fields = ", ".join(f"{f}={getattr(self, f)!r}" for f in self.__slots__)
        return f"{type(self).__name__}({fields})"
