"""The optional compiled module, ``mojinorm._speedups``, and whether it is used.

It holds the reader and writer of plain batches (``mojinorm.records``), the guard that
``mojinorm.Normalizer`` is built on, and the column kernel's reader of Arrow string columns
(``mojinorm.column``).  An install without a C compiler has no such module;
``MOJINORM_NO_SPEEDUPS=1`` in the environment leaves it unused.  Either way the results are
the same (differential tests), only slower.
"""

from __future__ import annotations

import os
from functools import lru_cache
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .normalizer import Normalizer

__all__ = ["MODULE", "SPEEDUPS", "code_point_bitmap", "code_point_names",
           "explains_by_guard", "state"]


def _load() -> ModuleType | None:
    try:
        from . import _speedups
    except ImportError:  # built without a C compiler
        return None
    return _speedups


#: The compiled module, or None when it was not built.
MODULE = _load()

#: The compiled module is used: built, and not turned off by ``MOJINORM_NO_SPEEDUPS``.
SPEEDUPS = MODULE is not None and not os.environ.get("MOJINORM_NO_SPEEDUPS")


def state() -> str:
    """Whether the compiled module is used, in words (``mojinorm --version``)."""
    if MODULE is None:
        return ("not built (no C compiler at install): polars reads every batch, names take "
                "the Python path")
    if not SPEEDUPS:
        return "built, turned off (MOJINORM_NO_SPEEDUPS)"
    return "on"


def explains_by_guard(normalizer: Normalizer) -> bool:
    """The compiled guard can explain a column for ``normalizer``: it is built and used, and
    every unit of the target is decided alone (no multi-code-point target characters)."""
    return (SPEEDUPS and MODULE is not None and isinstance(normalizer, MODULE.NameGuard)
            and not normalizer.target.sequences)


@lru_cache(maxsize=8)
def code_point_bitmap(chars: frozenset[str]) -> bytes:
    """The bitmap of ``chars`` (single code points) the compiled code reads: bit ``cp`` of
    0x110000 set for each (made by the compiled module where it is built: 7,000 code points
    cost 2 ms in Python at every start)."""
    if MODULE is not None:
        made: bytes = MODULE.bitmap(chars)
        return made
    bits = bytearray(0x110000 // 8)
    for ch in chars:
        if len(ch) == 1:
            cp = ord(ch)
            bits[cp >> 3] |= 1 << (cp & 7)
    return bytes(bits)


def code_point_names(units: list[str]) -> list[str]:
    """Each unit as its code points, ``U+XXXX`` joined by spaces (a report's ``codepoint``),
    written by the compiled module where it is built (17,000 units: 2 ms instead of 19)."""
    if MODULE is not None:
        written: list[str] = MODULE.code_points(units)
        return written
    return [" ".join(f"U+{ord(x):04X}" for x in u) for u in units]
