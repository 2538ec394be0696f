"""Splitting text into the units a target is judged on.

A unit is one code point, or a base character with the variation selector or combining kana
voiced mark (U+3099/U+309A) that follows it (葛 + U+E0102 and タ + U+3099 are one unit each), or
a multi-code-point character the target defines as one (JIS X 0213's æ + U+0300).
A variation selector with no base is a unit of its own.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Set

__all__ = ["is_variation_selector", "iter_units", "unit_pattern", "KANA_MARK_CLASS",
           "VARIATION_SELECTOR_CLASS"]

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


def unit_pattern(visible_class: str, sequences: Set[str] = frozenset()) -> re.Pattern[str]:
    """A pattern whose ``finditer`` over a text finds the units of ``iter_units(text,
    sequences)`` that are not a lone code point of ``visible_class`` (a ``re`` class body),
    each at its index.

    Equal by construction: ``iter_units`` pairs a code point with the next one when that is a
    selector or voiced mark (and the first is no selector), or when the pair is in
    ``sequences``.  At each index the pattern tries a pair of ``sequences`` the first rule does
    not make, then a code point outside the class with the selector or mark that follows it,
    any base with its selector or mark, a lone selector; a visible code point that pairs with
    nothing matches nothing, and ``iter_units`` makes it a unit of its own, so both go on at the
    next index.  A long text is walked in C; only the units that need a look reach Python.
    """
    vs = VARIATION_SELECTOR_CLASS
    joins = vs + KANA_MARK_CLASS
    # pairs that only the sequences rule makes (the joiner rule makes the others)
    by_context = sorted(s for s in sequences if len(s) == 2 and not (
        (is_variation_selector(s[1]) or s[1] in _KANA_MARKS) and not is_variation_selector(s[0])))
    return re.compile("|".join([*(re.escape(s) for s in by_context),
                                f"[^{visible_class}{vs}][{joins}]?", f"[^{vs}][{joins}]",
                                f"[{vs}]"]))
