"""Splitting text into the units a target is judged on.

A unit is one code point, or a base character with the variation selector or combining kana
voiced mark (U+3099/U+309A) that follows it (葛 + U+E0102 and タ + U+3099 are one unit each), or
a multi-code-point character the target defines as one (JIS X 0213's æ + U+0300).
A variation selector with no base is a unit of its own.
"""

from __future__ import annotations

from collections.abc import Iterator, Set

__all__ = ["is_variation_selector", "iter_units", "KANA_MARK_CLASS", "VARIATION_SELECTOR_CLASS"]

#: ``re`` character-class body matching every variation selector (VS1-16 and VS17-256).
VARIATION_SELECTOR_CLASS = "\\uFE00-\\uFE0F\\U000E0100-\\U000E01EF"
#: ``re`` character-class body of the combining kana voiced marks (U+3099, U+309A).
KANA_MARK_CLASS = "\\u3099\\u309A"
_KANA_MARKS = frozenset("\u3099\u309a")


def is_variation_selector(ch: str) -> bool:
    cp = ord(ch)
    return 0xFE00 <= cp <= 0xFE0F or 0xE0100 <= cp <= 0xE01EF


def iter_units(text: str, sequences: Set[str] = frozenset()) -> Iterator[tuple[int, str]]:
    """Yield ``(index, unit)`` for every unit of ``text``.

    ``sequences`` are the target's multi-code-point characters; a pair found there is one unit.
    """
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        j = i + 1
        if j < n:
            nxt = text[j]
            if (is_variation_selector(nxt) or nxt in _KANA_MARKS) and not is_variation_selector(ch):
                j += 1
            elif sequences and ch + nxt in sequences:
                j += 1
        yield i, text[i:j]
        i = j
