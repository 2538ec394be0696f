"""Reconciling names: ``match_key`` and ``names_match``.

Staff must decide whether ``●橋 太郎`` from the eligibility system is ``髙橋 太郎`` on file.  The
match key folds what does not distinguish two people's names on paper:

* invisible characters and every kind of space are removed;
* variation selectors are dropped and compatibility ideographs become unified ones;
* width is folded (NFKC on non-ideographs: Ａ→A, ｱ→ア), hiragana becomes katakana;
* each kanji is folded to the head of its same-character family: the first candidate of the
  strong rules (JIS包摂規準, 戸籍 parent, NTA map), followed to a fixed point, so 髙→高, 﨑→崎,
  邊→辺 and 濵→浜 share a key;
* ● and 〓 (a character the sender could not carry) become ``●``, which ``names_match`` lets
  stand for any one character.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

from . import _tables
from .invisible import classify
from .lookup import mj_ids_for_unit
from .units import is_variation_selector

__all__ = ["match_key", "names_match", "WILDCARD"]

WILDCARD = "●"
_WILDCARDS = frozenset("●〓")
#: Rules that keep the identity of a character (same character, not a related one).
_FOLD_RULES = ("jis-unification", "koseki-parent", "nta-jis-shrink")


@lru_cache(maxsize=65536)
def _fold_char(ch: str) -> str:
    seen = [ch]
    cur = ch
    for _ in range(8):
        nxt = _head(cur)
        if nxt == cur or nxt in seen:
            break
        seen.append(nxt)
        cur = nxt
    # On a cycle, the smallest code point of the cycle is the family head (order-independent).
    if _head(cur) in seen and _head(cur) != cur:
        cycle = seen[seen.index(_head(cur)):]
        return min(cycle)
    return cur


def _head(ch: str) -> str:
    override = _tables.overrides().get(ch)
    if override is not None:  # reviewed: the same character, said by a person
        return override[0]
    best: tuple[int, int, str] | None = None
    for mj in mj_ids_for_unit(ch):
        for e in _tables.shrink_for_mj(mj):
            if e.rule in _FOLD_RULES and e.target != ch:
                key = (_FOLD_RULES.index(e.rule), e.hops or 0, e.target)
                if best is None or key < best:
                    best = key
    nta = _tables.nta_map().get(ch)
    if nta is not None:
        key = (_FOLD_RULES.index("nta-jis-shrink"), 0, nta)
        if best is None or key < best:
            best = key
    if best is None:
        return ch
    target = best[2]
    return unicodedata.normalize("NFC", target) if len(target) == 1 else target


def match_key(name: str) -> str:
    """A key equal for names that differ only in variants, IVS, width, spaces or invisibles."""
    key = _key(name)
    for _ in range(4):  # removing a space can let NFKC compose again (A + ¨ -> Ä): settle it
        again = _key(key)
        if again == key:
            break
        key = again
    return key


def _key(name: str) -> str:
    out: list[str] = []
    run: list[str] = []  # non-ideographs, folded together so ﾀﾞ composes to ダ

    def flush() -> None:
        if run:
            for c in unicodedata.normalize("NFKC", "".join(run)):
                if c in _WILDCARDS:
                    out.append(WILDCARD)
                elif c.isspace() or classify(c) is not None:
                    continue
                elif "\u3041" <= c <= "\u3096":
                    out.append(chr(ord(c) + 0x60))  # hiragana -> katakana
                elif _is_ideograph(c):
                    out.append(_fold_char(c))
                else:
                    out.append(c)
            run.clear()

    for ch in name:
        if _is_ideograph(ch):
            flush()
            out.append(_fold_char(unicodedata.normalize("NFC", ch)))
        elif not is_variation_selector(ch):
            run.append(ch)
    flush()
    return "".join(out)


def _is_ideograph(ch: str) -> bool:
    return unicodedata.name(ch, "").startswith("CJK ")


def names_match(a: str, b: str) -> bool:
    """True when the two names have the same match key, ``●``/``〓`` matching any one character."""
    ka, kb = match_key(a), match_key(b)
    if len(ka) != len(kb):
        return False
    return all(x == y or x == WILDCARD or y == WILDCARD for x, y in zip(ka, kb, strict=True))
