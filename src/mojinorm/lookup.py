"""Everything the compiled tables know about one character: ``mojinorm.lookup``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from . import _tables
from .errors import InputError
from .targets import BUILTIN_TARGETS, get_target
from .units import is_variation_selector, iter_units

__all__ = ["CharInfo", "ShrinkTarget", "MJGlyph", "lookup", "mj_ids_for_unit"]


@dataclass(frozen=True)
class ShrinkTarget:
    """A replacement the MJ縮退マップ or the NTA map allows for this character."""

    char: str
    rule: str
    mj: str | None  #: the MJ id the mapping starts from (None for the NTA map)
    x0213: str = ""
    rank: int | None = None
    hops: int | None = None
    in_jisx0208: bool = False
    in_jisx0213: bool = False


@dataclass(frozen=True)
class MJGlyph:
    """One MJ glyph (a row of the MJ文字情報一覧表) with its government codes."""

    mj: str
    ucs: str
    ivs: str
    svs: str
    koseki: str  #: 戸籍統一文字番号
    juki: str  #: 住基ネット統一文字コード (J+xxxx)
    nyukan_seiji: str
    nyukan_gaiji: str
    touki: str  #: 登記統一文字番号
    x0213: str
    x0212: str


@dataclass(frozen=True)
class CharInfo:
    """What mojinorm knows about one character (a base code point and its variation selector)."""

    char: str
    code_points: tuple[str, ...]
    mj: tuple[str, ...]  #: MJ ids this character may denote; several means ambiguous
    glyphs: tuple[MJGlyph, ...]
    targets: tuple[str, ...]  #: built-in targets in which it renders
    shrink: tuple[ShrinkTarget, ...]  #: every allowed replacement, table order

    @property
    def ambiguous(self) -> bool:
        """True when a bare code point matches several MJ glyphs (德 U+5FB7: two IVS glyphs)."""
        return len(self.mj) > 1

    @property
    def koseki(self) -> tuple[str, ...]:
        return tuple(g.koseki for g in self.glyphs if g.koseki)

    @property
    def juki(self) -> tuple[str, ...]:
        return tuple(g.juki for g in self.glyphs if g.juki)


def mj_ids_for_unit(unit: str) -> tuple[str, ...]:
    """MJ ids a unit denotes: exactly one for a Moji_Joho IVS, possibly several for a bare char."""
    if len(unit) > 1 and is_variation_selector(unit[-1]):
        mj = _tables.mj_id_for_ivs(unit)
        if mj:
            return (mj,)
        return ()
    return _tables.mj_ids_for_char(unit)


def shrink_targets(unit: str, mj_ids: tuple[str, ...]) -> tuple[ShrinkTarget, ...]:
    out = [
        ShrinkTarget(e.target, e.rule, e.mj, e.target_x0213, e.rank, e.hops,
                     e.in_jisx0208, e.in_jisx0213)
        for mj in mj_ids for e in _tables.shrink_for_mj(mj)
    ]
    base = unit[0]
    nta = _tables.nta_map().get(base)
    if nta:
        out.append(ShrinkTarget(nta, "nta-jis-shrink", None, "", None, None, True, True))
    return tuple(out)


_CODE = re.compile(r"(?i)(?:U\+[0-9A-F]{4,6})(?:\s+U\+[0-9A-F]{4,6})*")


def _resolve_query(query: str) -> str:
    q = query.strip()
    records = _tables.mj_records()
    if re.fullmatch(r"(?i)MJ\d{6}", q):
        rec = records.get(q.upper())
        if rec is None:
            raise InputError(f"no MJ glyph {q!r} in MJ文字情報一覧表")
        return rec.ucs or rec.ivs or rec.svs or rec.corresponding_ucs
    if re.fullmatch(r"(?i)J\+\S*", q) and not re.fullmatch(r"(?i)J\+[0-9A-F]{4}", q):
        raise InputError(f"{q!r} is not a 住基ネット統一文字コード (J+ and four hex digits)")
    if re.fullmatch(r"(?i)MJ\d*", q) and not re.fullmatch(r"(?i)MJ\d{6}", q) and len(q) > 2:
        raise InputError(f"{q!r} is not an MJ文字図形名 (MJ and six digits)")
    if re.fullmatch(r"(?i)J\+[0-9A-F]{4}", q):
        mj = _tables.mj_by_juki().get(q.upper())
        if mj is None:
            raise InputError(f"no MJ glyph has 住基ネット統一文字コード {q!r}")
        return _resolve_query(mj)
    if re.fullmatch(r"\d{6}", q):
        mj = _tables.mj_by_koseki().get(q)
        if mj is None:
            raise InputError(f"no MJ glyph has 戸籍統一文字番号 {q!r}")
        return _resolve_query(mj)
    if _CODE.fullmatch(q):
        cps = [int(c[2:], 16) for c in q.split()]
        if any(cp > 0x10FFFF or 0xD800 <= cp <= 0xDFFF for cp in cps):
            raise InputError(f"{q!r} is not a valid Unicode scalar value")
        return "".join(chr(cp) for cp in cps)
    return query


def lookup(query: str) -> CharInfo:
    """Look up one character.

    ``query`` is the character itself (a variation sequence counts as one), ``U+XXXX`` (several
    separated by spaces for a sequence), an MJ id (``MJ032129``), a 住基ネット統一文字コード
    (``J+AEAC``) or a 6-digit 戸籍統一文字番号 (``038140``).  Raises ``ValueError`` for a code that
    names nothing or for text that is not exactly one character.
    """
    if not isinstance(query, str) or not query:
        raise InputError("lookup needs one character or a code (U+XXXX, MJ id, 住基 J+XXXX, "
                         "戸籍 number)")
    unit = _resolve_query(query)
    units = list(iter_units(unit, get_target("jisx0213").sequences))
    if len(units) != 1:
        raise InputError(f"lookup takes one character at a time; {query!r} has {len(units)}: "
                         f"look them up one by one")
    records = _tables.mj_records()
    mj_ids = mj_ids_for_unit(unit)
    glyphs = tuple(
        MJGlyph(r.mj, r.ucs, r.ivs, r.svs, r.koseki, r.juki, r.nyukan_seiji, r.nyukan_gaiji,
                r.touki, r.x0213, r.x0212)
        for r in (records[m] for m in mj_ids)
    )
    inside = tuple(name for name in BUILTIN_TARGETS if unit in get_target(name))
    return CharInfo(
        char=unit,
        code_points=tuple(f"U+{ord(c):04X}" for c in unit),
        mj=mj_ids,
        glyphs=glyphs,
        targets=inside,
        shrink=shrink_targets(unit, mj_ids),
    )
