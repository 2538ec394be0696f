"""Normalize kana reading (フリガナ) fields of Japanese health-insurance member records.

:func:`normalize_kana` applies these rules, in this order:

1. **Half-width katakana** (JIS X 0201 kana block U+FF61-U+FF9F) become full-width:
   ｱ→ア, small kana stay small (ｧ→ァ, ｯ→ッ, ｬ→ャ), ｰ (U+FF70)→ー wherever it stands, and
   the half-width punctuation of that block ｡→。 ､→、 ｢→「 ｣→」 ･→・.
2. **Voiced marks.** Every voiced / semi-voiced sound mark, whether half-width (ﾞ ﾟ U+FF9E/
   U+FF9F), combining (U+3099/U+309A) or full-width standalone (゛ ゜ U+309B/U+309C), is
   composed onto the kana right before it when a precomposed kana exists: ｶﾞ→ガ, ﾊﾟ→パ,
   ｳﾞ→ヴ, カ+U+3099→ガ, は+U+309A→ぱ, カ゛→ガ (legacy files typed standalone ゛/゜), ヽ゛→ヾ.
   ワ/ヰ/ヱ/ヲ (and わ/ゐ/ゑ/を) + voiced mark give ヷ/ヸ/ヹ/ヺ (U+30F7-U+30FA), the only
   single code points for these sounds.  A mark that cannot compose (at the start, after a
   non-kana, ｱﾞ, ｶﾟ, ア+U+3099 ...) becomes the standalone ゛ or ゜: U+3099/U+309A and
   U+FF9E/U+FF9F are not in JIS X 0208 / CP932, ゛/゜ are.  The pair table is built once at
   import with ``unicodedata.normalize("NFC", kana + mark)`` on the kana pair only; the string
   itself is never NFC-normalized, so CJK compatibility ideographs (e.g. U+FA10) pass through.
3. **One script.** By default hiragana become katakana (ぁ-ゖ→ァ-ヶ, ゔ→ヴ, ゝゞ→ヽヾ).
   With ``hiragana=True`` katakana become hiragana instead (ァ-ン→ぁ-ん, ヽヾ→ゝゞ), except
   ヷヸヹヺ (no hiragana code point exists), ヴ (ゔ U+3094 is missing from JIS X 0208 and
   CP932, so an input ゔ becomes ヴ too) and ヵヶ (ゕ/ゖ U+3095/U+3096 are missing from
   JIS X 0208 and CP932, and ヶ is mostly a counter / place-name kana): these stay katakana,
   and ゕ/ゖ already in the input are left alone.  ー stays ー in both modes.  Hence
   ``normalize_kana(x, hiragana=True)`` turned back into katakana equals ``normalize_kana(x)``.
4. **Long-vowel look-alikes** ``-`` U+002D, U+2010-U+2015 (hyphens, dashes, horizontal bar),
   U+2212 (minus), U+FE63 (small hyphen-minus), U+FF0D (fullwidth hyphen-minus), U+2500/U+2501
   (box-drawing horizontals) become ー (U+30FC) **only when they directly follow a kana**
   (hiragana, katakana including ー ヽ ヾ, a voiced mark, or a katakana phonetic extension
   U+31F0-U+31FF); a whole run of them after a kana becomes a run of ー (ア--→アーー).  A
   look-alike at the start of the text or after any other character (Latin, digit, kanji,
   space, ・) is kept unchanged.  Wave dashes and tildes (〜 U+301C, ～ U+FF5E) are never
   folded.
5. **Whitespace.** Every character for which ``str.isspace()`` is true (ASCII space, tab,
   newlines, NBSP, U+2000-U+200A and every other Zs space, U+3000 ...) is whitespace: it is
   stripped at both ends and each interior run becomes one ideographic space U+3000, the
   separator between family and given name in member files.

Everything else (Latin letters, digits, kanji, symbols, astral characters, lone surrogates)
is returned unchanged; half-width ASCII is *not* widened.  The function never raises on a
``str`` and is idempotent.

Two tables serve ``mojinorm.matching.compare_kana``: :data:`SMALL_KATAKANA` (small -> large
kana) and :data:`KATAKANA_VOWELS` (the vowel of each katakana), both derived from the Unicode
character names.

Speed: everything is built once at import (one ``str.translate`` table per mode for rules 1
and 3, a pair dict plus one compiled pattern for rule 2, one pattern for rule 4; rule 5 is
``str.split``/``join``).  One precompiled character-class search first decides whether
anything can change; an already-normal reading (the common case: full-width katakana with
one U+3000) is returned as the same object without further work.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["KATAKANA_VOWELS", "SMALL_KATAKANA", "normalize_kana"]

_IDEOGRAPHIC_SPACE = "\u3000"
_CHOONPU = "\u30fc"  # ー KATAKANA-HIRAGANA PROLONGED SOUND MARK
_DAKUTEN = "\u309b"  # ゛ standalone voiced sound mark
_HANDAKUTEN = "\u309c"  # ゜ standalone semi-voiced sound mark

# Long-vowel look-alikes folded to ー after a kana (rule 4).  ｰ U+FF70 is rule 1.
_DASHES = (
    "\u002d"  # - HYPHEN-MINUS
    "\u2010\u2011\u2012\u2013\u2014\u2015"  # HYPHEN .. HORIZONTAL BAR
    "\u2212"  # MINUS SIGN
    "\ufe63"  # SMALL HYPHEN-MINUS
    "\uff0d"  # FULLWIDTH HYPHEN-MINUS
    "\u2500\u2501"  # BOX DRAWINGS LIGHT / HEAVY HORIZONTAL
)

# Characters after which a dash counts as a long vowel (rule 4), as a regex class body.
_KANA_CONTEXT = r"\u3041-\u3096\u3099-\u309f\u30a1-\u30fa\u30fc-\u30ff\u31f0-\u31ff"

# All whitespace except U+3000 (which, alone between two non-spaces, is already normal).
# Every str.isspace() character is at or below U+3000 (tests/test_kana.py checks it against
# the whole of Unicode): the scan at import stops there.
_SPACE_LIMIT = 0x3000
_OTHER_SPACES = "".join(
    ch for ch in map(chr, range(_SPACE_LIMIT + 1)) if ch.isspace() and ch != _IDEOGRAPHIC_SPACE
)


def _class(chars: str) -> str:
    """Regex character-class body matching exactly ``chars``."""
    return "".join(f"\\u{ord(ch):04x}" for ch in chars)


def _build_half_width() -> dict[int, str]:
    """U+FF61-U+FF9F -> full width (rule 1); ﾞ/ﾟ -> standalone ゛/゜ (rule 2)."""
    table = {cp: unicodedata.normalize("NFKC", chr(cp)) for cp in range(0xFF61, 0xFFA0)}
    table[0xFF9E] = _DAKUTEN  # NFKC would give the combining U+3099
    table[0xFF9F] = _HANDAKUTEN
    return table


def _build_compose() -> dict[str, str]:
    """Full-width kana + standalone ゛/゜ -> precomposed kana, or the pair itself (rule 2).

    Every key starts with a kana that takes at least one of the two marks, so that one
    character-class pattern finds all pairs; pairs that do not compose map to themselves.
    """
    composed: dict[str, str] = {}
    for base in map(chr, range(0x3041, 0x3100)):  # hiragana and katakana blocks
        for combining, standalone in (("\u3099", _DAKUTEN), ("\u309a", _HANDAKUTEN)):
            nfc = unicodedata.normalize("NFC", base + combining)
            if len(nfc) == 1:
                composed[base + standalone] = nfc
    # NFC has no composition for these, but precomposed katakana exist.
    for kata, hira, voiced in zip("ワヰヱヲ", "わゐゑを", "ヷヸヹヺ", strict=True):
        composed[kata + _DAKUTEN] = voiced
        composed[hira + _DAKUTEN] = voiced
    table: dict[str, str] = {}
    for base in sorted({pair[0] for pair in composed}):
        for mark in (_DAKUTEN, _HANDAKUTEN):
            table[base + mark] = composed.get(base + mark, base + mark)
    return table


_HALF_WIDTH = _build_half_width()
_MARKS = {0x3099: _DAKUTEN, 0x309A: _HANDAKUTEN}  # combining -> standalone
_HIRA_TO_KATA = {cp: chr(cp + 0x60) for cp in range(0x3041, 0x3097)}  # ぁ-ゖ, incl. ゔ
_HIRA_TO_KATA.update({0x309D: "\u30fd", 0x309E: "\u30fe"})  # ゝゞ -> ヽヾ
# ァ-ヶ but ヴ ヵ ヶ: ゔ ゕ ゖ are not in JIS X 0208 / CP932, so those stay katakana
_KATA_TO_HIRA = {cp: chr(cp - 0x60) for cp in range(0x30A1, 0x30F4)}
_KATA_TO_HIRA.update({0x30FD: "\u309d", 0x30FE: "\u309e"})  # ヽヾ -> ゝゞ

# Identity entries for the characters of typical readings: str.translate pays for a raised
# and cleared LookupError on every character missing from the table.
_IDENTITY = {cp: chr(cp) for cp in (*range(0x20, 0x7F), *range(0x3000, 0x3100))}
_TABLE_KATA: dict[int, str] = {**_IDENTITY, **_HALF_WIDTH, **_MARKS, **_HIRA_TO_KATA}
_TABLE_HIRA: dict[int, str] = {
    **_IDENTITY,
    **{cp: full.translate(_KATA_TO_HIRA) for cp, full in _HALF_WIDTH.items()},  # ｱ -> あ
    **_MARKS,
    **_KATA_TO_HIRA,
    0x3094: "\u30f4",  # ゔ -> ヴ
}

_COMPOSE = _build_compose()
_COMPOSE_RE = re.compile(
    f"[{_class(''.join(sorted({pair[0] for pair in _COMPOSE})))}][{_DAKUTEN}{_HANDAKUTEN}]"
)
# A run of dashes whose first dash follows a kana (the class first keeps the scan fast).
_D = _class(_DASHES)
_DASH_RUN_RE = re.compile(f"[{_D}](?<=[{_KANA_CONTEXT}][{_D}])[{_D}]*")

# Fast path: the reading needs work iff it has one of these characters, or a U+3000 at
# either end or next to other whitespace.  Dashes are listed whatever precedes them.
_COMMON = r"\uff61-\uff9f\u3099-\u309c" + _D + _class(_OTHER_SPACES)
# A hit needs work unless it is a U+3000 with a non-space character on both sides.
_EDGE_SPACE = r"(?!(?<=\S\u3000)\S)"
_NEEDS_KATA = re.compile(f"[{_COMMON}\\u3041-\\u3096\\u309d\\u309e\\u3000]{_EDGE_SPACE}")
_NEEDS_HIRA = re.compile(f"[{_COMMON}\\u30a1-\\u30f3\\u3094\\u30fd\\u30fe\\u3000]{_EDGE_SPACE}")

_needs_kata = _NEEDS_KATA.search
_needs_hira = _NEEDS_HIRA.search
_compose_sub = _COMPOSE_RE.sub
_dash_sub = _DASH_RUN_RE.sub
_join_words = _IDEOGRAPHIC_SPACE.join


def _compose_pair(match: re.Match[str]) -> str:
    return _COMPOSE[match[0]]


def _dash_run(match: re.Match[str]) -> str:
    return _CHOONPU * len(match[0])


def _normalize(text: str, table: dict[int, str]) -> str:
    """Rules 1-5 without the fast path (``table`` is ``_TABLE_KATA`` or ``_TABLE_HIRA``)."""
    text = text.translate(table)  # rules 1 and 3, and every voiced mark to ゛/゜
    if _DAKUTEN in text or _HANDAKUTEN in text:
        text = _compose_sub(_compose_pair, text)  # rule 2
        if table is _TABLE_HIRA and "\u3094" in text:
            text = text.replace("\u3094", "\u30f4")  # う+゛ composed to ゔ: keep ヴ (rule 3)
    text = _dash_sub(_dash_run, text)  # rule 4
    return _join_words(text.split())  # rule 5


def normalize_kana(text: str, *, hiragana: bool = False) -> str:
    """Normalize a kana reading to full-width katakana (or hiragana) with tidy spacing.

    Rules (details in the module docstring):

    * half-width katakana and JIS X 0201 punctuation become full-width (ｱ→ア, ｧ→ァ, ｰ→ー,
      ｡→。, ･→・);
    * voiced marks (ﾞﾟ, combining U+3099/U+309A, standalone ゛゜) are composed onto the
      preceding kana (ｶﾞ→ガ, ﾊﾟ→パ, ｳﾞ→ヴ, ﾜﾞ→ヷ, カ゛→ガ); one that cannot compose
      becomes ゛/゜.  The rest of the string is not NFC-normalized (U+FA10 stays U+FA10);
    * one script: katakana by default, hiragana with ``hiragana=True`` (ヴヵヶヷヸヹヺ stay
      katakana there);
    * - ‐ ‑ ‒ – — ― − ﹣ － ─ ━ become ー only directly after a kana; a leading dash or
      one after a non-kana is kept, and 〜/～ are never touched;
    * whitespace (``str.isspace``) is stripped at both ends and each interior run becomes
      one U+3000.

    Other characters (ASCII, digits, kanji, symbols) are unchanged.  Never raises for a
    ``str``; idempotent.

    >>> normalize_kana("ﾔﾏﾀﾞ  ﾀﾛｳ")
    'ヤマダ\\u3000タロウ'
    >>> normalize_kana("すずき　はなこ")
    'スズキ\\u3000ハナコ'
    >>> normalize_kana("ｽｽﾞｷ ﾊﾅｺ", hiragana=True)
    'すずき\\u3000はなこ'
    """
    if hiragana:
        if _needs_hira(text) is None:
            return text
        return _normalize(text, _TABLE_HIRA)
    if _needs_kata(text) is None:
        return text
    return _normalize(text, _TABLE_KATA)


def _build_small_katakana() -> dict[str, str]:
    """Small katakana -> large, from the Unicode names (KATAKANA LETTER SMALL A -> ... A)."""
    table: dict[str, str] = {}
    for cp in (*range(0x30A1, 0x30FB), *range(0x31F0, 0x3200)):
        name = unicodedata.name(chr(cp), "")
        if " SMALL " in name:
            table[chr(cp)] = unicodedata.lookup(name.replace("SMALL ", ""))
    return table


def _build_katakana_vowels() -> dict[str, str]:
    """Katakana letter -> its vowel ``a i u e o``, from the Unicode names (KATAKANA LETTER KA,
    KATAKANA LETTER SMALL YO).  ン, ー, ・ and the voiced marks have none."""
    table: dict[str, str] = {}
    for cp in (*range(0x30A1, 0x30FB), *range(0x31F0, 0x3200)):
        name = unicodedata.name(chr(cp), "")
        if name.startswith("KATAKANA LETTER ") and name[-1] in "AIUEO":
            table[chr(cp)] = name[-1].lower()
    return table


#: Small katakana -> its large form (ァ→ア, ッ→ツ, ャ→ヤ, ヮ→ワ, ヵ→カ, ヶ→ケ, ㇰ→ク); legacy
#: reading fields often stored small kana as large (キヨウ for キョウ).  Used by ``compare_kana``.
SMALL_KATAKANA: dict[str, str] = _build_small_katakana()
#: Katakana letter -> its vowel (カ→a, ョ→o, ヴ→u); ン and ー have none.  Used by ``compare_kana``
#: to tell which vowel a ー lengthens.
KATAKANA_VOWELS: dict[str, str] = _build_katakana_vowels()
