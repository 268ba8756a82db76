"""Type aliases and the OMIT sentinel that tells "not given" apart from an explicit None."""

from __future__ import annotations

import enum
from typing import Final, Literal, TypeAlias, TypeVar

__all__ = ["OMIT", "Addresses", "Omit", "Omittable"]

T = TypeVar("T")


class Omit(enum.Enum):
    """The type of OMIT: an argument the caller did not pass (None would mean "clear")."""

    OMIT = enum.auto()

    def __repr__(self) -> str:
        return "OMIT"

    def __bool__(self) -> Literal[False]:
        return False


OMIT: Final = Omit.OMIT

Omittable: TypeAlias = "T | Omit"
#: Recipients: one address string or a list of them (``"a@x.com"`` or ``["A <a@x.com>", "b@y.org"]``).
Addresses: TypeAlias = "str | list[str]"
