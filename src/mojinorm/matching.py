"""Reconciling names: ``compare`` / ``names_match`` for kanji names, ``compare_kana`` for readings.

Staff must decide whether ``●橋 太郎`` from the eligibility system is ``髙橋 太郎`` on file, and how
sure that decision is.  :func:`compare` folds both names, lines them up position by position and
answers with a :class:`Match` whose ``grade`` is one of :data:`GRADES`, strongest first:

``identical``
    the two strings are equal code point for code point and carry no mask (● 〓).
``same-characters``
    every position is equal after folds that keep the character itself (lossless):

    * invisible characters are removed (``invisible-removed``, policy of ``mojinorm.invisible``)
      and so is every space, whatever its kind (``space-removed``): spaces do not tell names
      apart;
    * each code point is NFKC-folded on its own: width Ａ/A, ｱ/ア (``width``), ㈱/(株)
      (``compatibility-form``), é/e+U+0301 (``canonical-equivalence``); a voiced kana is split
      into its base and mark, so ダ, ﾀﾞ, タ゛ and タ+U+3099 all are タ followed by U+3099
      (``voiced-mark``);
    * variation selectors are dropped (``variation-selector-stripped``, ``svs-to-compat``) and
      compatibility ideographs unified (``compat-to-unified``);
    * one JIS X 0208 code that the codecs decode differently (``same-jis-code``, codec table
      ``_tables.jis_equivalents``): ～ U+FF5E / 〜 U+301C / ~, － / − / -, ∥ / ‖, ￠ / ¢ …;
    * JIS包摂規準・UCS統合規則 (``jis-unification``, MJ縮退マップ): 髙/高, 𠮷/吉.  Only rows of the
      glyph the text names count: a bare code point's own MJ glyph, or a Moji_Joho IVS's glyph.
      增 U+589E is its own glyph MJ009289; the JIS row of MJ009290, which shares the code point
      only through an IVS, makes 增+U+E0102 / 増 ``same-characters`` but bare 增 / 増 a
      ``variant``.
``variant``
    likely the same name; a person confirms.  At some position the two characters are linked
    through directed rule edges: one reaches the other, or both reach a common character,
    within two rule hops each (dropping a selector or unifying a compatibility ideograph costs
    no hop).  The edges: every MJ縮退マップ row of the character's MJ glyphs except
    辞書類等による関連字 (which links different characters): 戸籍統一文字情報 親字・正字,
    法務省告示582号別表第四, 民一2842号通達, 民二5202号通知, 読み・字形による類推, and the JIS
    rows of sibling glyphs; the 国税庁 JIS縮退マップ; same JIS code; the reviewed overrides; the
    official same-字種 lists in both directions (``same-jisyu-list``: 常用漢字表 康熙字典体 麺/麵,
    人名用漢字表 異体字 桧/檜 凛/凜, 表外漢字字体表).  A 国税庁 or override edge to another number
    of characters (⓫ → １１, № → Ｎｏ．) is spelt out in the folded name, and those positions
    are ``variant`` against anything but the same spelling.  Every replacement ``normalize``
    makes without a fallback is such a path, so ``names_match(x, normalize(x, target))`` holds.
    Hiragana against katakana (さくら / サクラ) is a ``variant`` too (``kana-script``): a kanji
    name written in kana is registered in one script, and the other script is another
    registration of the same sound, not the same characters.
``masked``
    every position is equal or related as above, except positions where one side has a mask
    (● what the receiving systems show, 〓 the geta fallback) standing for one character;
    ``Match.masked`` counts them.  The same mask on both sides at one position is the same text
    and does not count.
``different``
    anything else: another length after folding, a position with no relation, or masks that
    stand for more than half of the compared characters (``〓〓`` never matches ``田中``).

The grade of a comparison is the weakest grade of its positions.  ``Match.steps`` says, for each
position that is not plainly equal and for each character removed before comparing, which fold
or rule made it so and where that comes from (``MatchStep.links`` has the whole chain).  Grades
are symmetric; ``variant`` is not transitive.  The relation is cached per character, so
comparing millions of pairs is cheap.

:func:`names_match` is ``compare(a, b).grade != "different"``.  :func:`match_key` is the older
one-key fold (kanji to the head of their 戸籍 family), kept for callers that need one key per
name (grouping, indexing); :func:`compare` is the finer judgement.

Readings (フリガナ) are compared by :func:`compare_kana` (:data:`KANA_GRADES`):

``identical``
    equal strings.
``same-reading``
    equal after :func:`mojinorm.kana.normalize_kana` (width, voiced marks, hiragana → katakana,
    long-vowel look-alikes after a kana → ー), with whitespace, the separator ・ and invisible
    characters removed and NFKC on what is not kana (Ａ/A).
``loose``
    equal position by position once these spelling differences are allowed (``KanaMatch.steps``
    lists them): small against large kana, キョウ/キヨウ (``small-kana``: old systems stored
    small kana as large); ー against the vowel it lengthens, オー/オオ/オウ, ケー/ケエ/ケイ
    (``long-vowel``, 現代仮名遣い 長音); ヂ/ジ and ヅ/ズ (``yotsugana``, 現代仮名遣い);
    ヰ/イ, ヱ/エ, ヲ/オ (``historical-kana``).
``different``
    anything else (another length after the folds, or another sound).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

from . import _tables
from .invisible import REMOVE, classify
from .kana import KATAKANA_VOWELS, SMALL_KATAKANA, normalize_kana
from .lookup import mj_ids_for_unit
from .rules import RANKING, RULE_SOURCES
from .units import is_variation_selector, iter_units

__all__ = [
    "GRADES", "KANA_GRADES", "KanaMatch", "Match", "MatchLink", "MatchStep", "WILDCARD",
    "compare", "compare_kana", "match_key", "names_match",
    # the folds and variant paths mojinorm.reconcile builds its blocking keys from
    "KATAKANA_OF", "VOICED_FORMS", "WILDCARDS", "explained_positions", "expansion_link",
    "fold_name", "position_seeds", "special_pattern", "variant_paths",
]

#: Grades of :func:`compare`, strongest first.
GRADES: tuple[str, ...] = ("identical", "same-characters", "variant", "masked", "different")
#: Grades of :func:`compare_kana`, strongest first.
KANA_GRADES: tuple[str, ...] = ("identical", "same-reading", "loose", "different")

WILDCARD = "●"
#: the masks a system writes for a character it cannot show (compatible with any character)
WILDCARDS = frozenset("●〓")
#: Rules that keep the identity of a character (same character, not a related one).
_FOLD_RULES = ("jis-unification", "koseki-parent", "nta-jis-shrink")

#: Variant hops allowed on each side of a comparison (``normalize`` takes at most two).
_MAX_HOPS = 2


# =========================================================================== match_key (kept)


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
    """A key equal for names that differ only in variants, IVS, width, spaces or invisibles.

    Invisible characters and every space are removed, selectors dropped, compatibility
    ideographs unified, width folded (NFKC on non-ideographs), hiragana becomes katakana, each
    kanji is folded to the head of its same-character family (the first candidate of the strong
    rules JIS包摂規準, 戸籍 parent, NTA map, followed to a fixed point: 髙→高, 﨑→崎, 邊→辺), and
    ● / 〓 become ``●``.  One key per name, for grouping; :func:`compare` is the finer judgement.
    """
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
                if c in WILDCARDS:
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


# =========================================================================== public types


class MatchLink(NamedTuple):
    """One fold or rule edge: ``original`` is related to ``replacement`` by ``rule``."""

    original: str
    replacement: str
    rule: str
    source: str


@dataclass(frozen=True)
class MatchStep:
    """Why one position of a comparison is equal, or which character was removed before it.

    ``links`` lists every fold and rule edge involved, ``a``'s side first (from ``a`` towards the
    character both reach), then ``b``'s side; ``rule`` is the weakest of them (the one that sets
    the grade) and ``source`` its table or policy.
    """

    position: int | None  #: position in the compared keys; None for a removed character
    index_a: int | None  #: index in ``a`` of the text at this position (None: none of ``a``)
    index_b: int | None  #: index in ``b`` of the text at this position (None: none of ``b``)
    a: str  #: the text of ``a`` at this position ("" when none)
    b: str  #: the text of ``b`` at this position ("" when none)
    grade: str  #: ``same-characters``, ``variant``, ``masked`` or ``different``
    rule: str
    source: str
    links: tuple[MatchLink, ...] = ()

    def __str__(self) -> str:
        where = "-" if self.position is None else str(self.position)
        return f"{where}: {self.a or '∅'}/{self.b or '∅'} {self.grade} {self.rule}"


@dataclass(frozen=True)
class Match:
    """The result of :func:`compare`: how strongly two names match (see the module docstring)."""

    grade: str  #: one of :data:`GRADES`
    a: str
    b: str
    steps: tuple[MatchStep, ...] = ()
    masked: int = 0  #: positions where a mask (● 〓) of one side stands for a character
    length: int = 0  #: positions compared (the folded length; 0 when the lengths differ)
    reason: str = ""  #: for ``different``: why

    @property
    def matched(self) -> bool:
        """True for every grade but ``different`` (what :func:`names_match` returns)."""
        return self.grade != "different"


@dataclass(frozen=True)
class KanaMatch:
    """The result of :func:`compare_kana`."""

    grade: str  #: one of :data:`KANA_GRADES`
    a: str
    b: str
    key_a: str  #: ``a`` in the form compared for ``same-reading``
    key_b: str
    steps: tuple[MatchStep, ...] = ()  #: one per position a ``loose`` fold made equal

    @property
    def matched(self) -> bool:
        """True for every grade but ``different``."""
        return self.grade != "different"


# =========================================================================== rules and sources

_MATCH_SOURCES: dict[str, str] = {
    "space-removed": "mojinorm matching: spaces do not tell names apart",
    "width": "Unicode NFKC (<wide>/<narrow> compatibility decomposition)",
    "compatibility-form": "Unicode NFKC (compatibility decomposition)",
    "canonical-equivalence": "Unicode canonical equivalence (NFC)",
    "voiced-mark": "Unicode canonical decomposition of a voiced kana (ダ = タ + U+3099); the "
                   "standalone marks ゛/゜ are the same marks",
    "kana-script": "Unicode hiragana/katakana blocks (one-to-one); the script is part of the "
                   "registered name",
    "mask": "● (receiving systems) / 〓 (geta fallback) stand for one character",
    "different": "no fold, rule or list relates the two characters",
    "small-kana": "legacy reading fields without small kana (キョウ stored as キヨウ)",
    "long-vowel": "現代仮名遣い (昭和61年内閣告示第1号) 長音, and ー of "
                  "外来語の表記 (平成3年内閣告示第2号)",
    "yotsugana": "現代仮名遣い (昭和61年内閣告示第1号): じ/ぢ, ず/づ",
    "historical-kana": "歴史的仮名遣い ゐ/ゑ/を against 現代仮名遣い い/え/お",
}

#: Folds that keep the character itself, strongest first.
_LOSSLESS = (
    "variation-selector-stripped", "svs-to-compat", "compat-to-unified", "width",
    "compatibility-form", "canonical-equivalence", "voiced-mark", "invisible-removed",
    "space-removed",
    "same-jis-code", "jis-unification",
)
#: Rules that relate variants, strongest first (the official lists say "the same 字種").
_VARIANT = (
    "same-jisyu-list",
    *(r for r in RANKING
      if r not in _LOSSLESS and r not in ("dictionary-related", "same-jisyu-list")),
    "kana-script",
)
_STRENGTH = {rule: i for i, rule in enumerate(_LOSSLESS + _VARIANT)}
_FREE = frozenset({"variation-selector-stripped", "svs-to-compat", "compat-to-unified"})


def _source(rule: str, detail: str = "") -> str:
    base = _MATCH_SOURCES.get(rule) or RULE_SOURCES.get(rule, rule)
    return f"{base}: {detail}" if detail else base


def _weakest(links: tuple[MatchLink, ...]) -> MatchLink | None:
    best: MatchLink | None = None
    for link in links:
        if best is None or _STRENGTH.get(link.rule, 99) > _STRENGTH.get(best.rule, 99):
            best = link
    return best


# =========================================================================== folding a name


def _build_jis_classes() -> dict[str, str]:
    """Code point -> representative of its same-JIS-code class, closed under NFKC.

    The classes come from ``_tables.jis_equivalents()`` (one JIS X 0208 code decoded differently
    by the codecs) joined with the NFKC form of each member (～ U+FF5E is <wide> ~), so the fold
    is one equivalence: {~ ～ 〜}, {- － −}, {‖ ∥}, {¢ ￠}, {£ ￡}, {¬ ￢}, {\\ ＼}.  The
    representative is the smallest NFKC-stable member.  Only NFKC-stable members are keys: the
    others are folded by NFKC first.
    """
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            x = parent[x]
        return x

    def union(x: str, y: str) -> None:
        rx, ry = find(x), find(y)
        if rx != ry:
            parent[max(rx, ry)] = min(rx, ry)

    for char, alts in _tables.jis_equivalents().items():
        for alt, _code in alts:
            union(char, alt)
    for member in list(parent):
        nf = unicodedata.normalize("NFKC", member)
        if len(nf) == 1:
            union(member, nf)
    classes: dict[str, list[str]] = {}
    for member in parent:
        classes.setdefault(find(member), []).append(member)
    out: dict[str, str] = {}
    for members in classes.values():
        stable = [m for m in members if unicodedata.normalize("NFKC", m) == m]
        rep = min(stable or members)
        for m in stable:
            if m != rep:
                out[m] = rep
    return out


@lru_cache(maxsize=1)
def _jis_classes() -> dict[str, str]:
    return _build_jis_classes()


def _build_voiced() -> dict[str, str]:
    """Voiced and semi-voiced kana -> base + combining mark (ダ -> タ+U+3099, ヷ -> ワ+U+3099)."""
    out: dict[str, str] = {}
    for cp in range(0x3041, 0x3100):
        nfd = unicodedata.normalize("NFD", chr(cp))
        if len(nfd) == 2 and nfd[1] in "\u3099\u309a":
            out[chr(cp)] = nfd
    return out


#: voiced and semi-voiced kana -> base + combining mark
VOICED_FORMS = _build_voiced()
_KANA_MARKS = frozenset("\u3099\u309a")


@lru_cache(maxsize=1)
def special_pattern() -> re.Pattern[str]:
    """Characters a printable NFKC-stable name may hold that the fold still changes."""
    chars = "".join(sorted(_jis_classes())) + _expanding() + "".join(VOICED_FORMS)
    body = "".join(f"\\u{ord(c):04x}" for c in chars)
    return re.compile(f"[\u115f\u1160\u034f\u3099\u309a\ufe00-\ufe0f\U000e0100-\U000e01ef"
                      f"{body}]")


class _UnitFold(NamedTuple):
    chars: str  #: folded characters ("" when the unit is removed)
    node: str  #: where the rule edges of a one-character result start (the unit as written)
    links: tuple[tuple[MatchLink, ...], ...]  #: structural folds of each character, in order
    origins: tuple[str, ...]  #: per character: "" or the expansion it comes from (expansion_link)
    removed: str  #: rule that removed the unit, or its leading space ("" when none)


class _Pos(NamedTuple):
    char: str
    node: str
    start: int
    end: int
    links: tuple[MatchLink, ...]
    origin: str = ""  #: the one-to-many rule edge this character comes from ("" when none)


class _Folded(NamedTuple):
    key: str
    name: str
    #: None for a plain name: every character but the spaces is one position, as written
    positions: tuple[_Pos, ...] | None
    removed: tuple[tuple[int, str, str], ...]  #: (index, text, rule) of removed characters
    expanded: bool = False  #: some position comes from a one-to-many rule edge


def _nfkc_rule(ch: str) -> str:
    """The name of the fold NFKC applies to one code point."""
    if _is_compat_ideograph(ch):
        return "compat-to-unified"
    decomposition = unicodedata.decomposition(ch)
    if ch in "\u309b\u309c":
        return "voiced-mark"
    if decomposition.startswith(("<wide>", "<narrow>")):
        return "width"
    if decomposition.startswith("<"):
        return "compatibility-form"
    return "canonical-equivalence"


def _is_compat_ideograph(ch: str) -> bool:
    cp = ord(ch)
    return (0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F) and \
        unicodedata.normalize("NFC", ch) != ch


def _fold_code_point(c: str, pending: list[MatchLink]) -> str:
    """One code point folded: NFKC without spaces, voiced kana split, same-JIS-code classes."""
    nf = unicodedata.normalize("NFKC", c)
    if nf != c:
        nf = "".join(x for x in nf if not x.isspace())  # ゛ is NFKC " " + U+3099
        if nf and nf[0] not in "\u3099\u309a" and all(unicodedata.combining(x) for x in nf):
            # a spacing accent (¯ ￣ ´): its mark alone would join the character before it
            # (e + U+0304 is ē), so it keeps a base of its own
            nf = "\u25cc" + nf
        rule = _nfkc_rule(c)
        pending.append(MatchLink(c, nf, rule, _source(rule)))
    split = "".join(VOICED_FORMS.get(x, x) for x in nf)
    if split != nf:
        pending.append(MatchLink(nf, split, "voiced-mark", _source("voiced-mark")))
    classes = _jis_classes()
    canon = "".join(classes.get(x, x) for x in split)
    if canon != split:
        pending.append(MatchLink(split, canon, "same-jis-code", _source("same-jis-code")))
    return canon


def _fold_text(text: str) -> str:
    return "".join(_fold_code_point(c, []) for c in text)


@lru_cache(maxsize=65536)
def _fold_unit(unit: str) -> _UnitFold:
    """Lossless folds of one unit (``units.iter_units``), mirroring the normalizer's cuts: a unit
    led by an invisible character or an odd space goes whole, as ``normalize`` removes it.

    Each code point is folded on its own (NFKC of a run would reorder combining marks across
    what ``normalize`` treats as separate units).  A voiced kana is split into its base and
    U+3099/U+309A, never composed: a variant rule can change the base (ㇰ -> ク), and what a
    mark composes with must not depend on that, so ダ is two positions, タ and U+3099.
    """
    kind = classify(unit[0])
    if kind is not None:
        return _UnitFold("", unit, (), (), "invisible-removed" if kind == REMOVE
                         else "space-removed")
    removed = ""
    cur = unit
    if cur[0] in " \u3000":
        removed = "space-removed"
        cur = cur[1:]  # a space with a mark or selector: the space goes, the mark stays
        if not cur or classify(cur[0]) is not None:
            return _UnitFold("", unit, (), (), removed)
    node = cur
    pending: list[MatchLink] = []
    if len(cur) == 2 and is_variation_selector(cur[1]):
        rule = "svs-to-compat" if cur in _tables.svs_map() else "variation-selector-stripped"
        pending.append(MatchLink(cur, cur[0], rule, _source(rule)))
        cur = cur[0]
    chars: list[str] = []
    links: list[tuple[MatchLink, ...]] = []
    origins: list[str] = []
    for c in cur:
        expansion = expansion_link(c)
        parts = c if expansion is None else expansion.replacement
        for part in parts:
            if expansion is not None:
                pending.append(expansion)  # every character spelt out carries the edge
            for x in _fold_code_point(part, pending):
                chars.append(x)
                links.append(tuple(pending))
                origins.append("" if expansion is None else f"{c}#{len(origins)}")
                pending = []
    folded = "".join(chars)
    one = len(folded) == 1 and not origins[0]
    return _UnitFold(folded, node if one else folded, tuple(links), tuple(origins), removed)


@lru_cache(maxsize=4096)
def expansion_link(ch: str) -> MatchLink | None:
    """A 国税庁-map or override edge that the position-by-position comparison cannot follow: to
    several characters (⓫ -> １１, № -> Ｎｏ．), or to one that folds to another number of
    characters.  The folded name spells the target out, so that positions keep lining up, and
    the positions remember where they come from (a ``variant``)."""
    if ch in VOICED_FORMS:
        return None  # ヷ -> ワ drops the voicing; normalize writes ワ゛ (kana-mark-separated)
    override = _tables.overrides().get(ch)
    if override is not None:
        target, rule = override[0], "override"
    else:
        nta = _tables.nta_map().get(ch)
        if nta is None:
            return None
        target, rule = nta, "nta-jis-shrink"
    have, want = _fold_text(ch), _fold_text(target)
    if have == want or (len(have) == 1 and len(want) == 1):
        return None  # equal, or one character each: the variant graph follows it
    return MatchLink(ch, target, rule, _source(rule))


@lru_cache(maxsize=1)
def _expanding() -> str:
    """Every character whose 国税庁-map or override edge is an expansion (fast-path check)."""
    chars = set(_tables.nta_map()) | set(_tables.overrides())
    return "".join(sorted(c for c in chars if expansion_link(c) is not None))


def fold_name(name: str) -> _Folded:
    """The folded form of a name.  A plain name (printable, NFKC-stable, nothing the fold
    changes but U+0020 / U+3000 spaces: the common case) is decided by C-level checks."""
    key = name
    if " " in key or "\u3000" in key:
        key = key.replace(" ", "").replace("\u3000", "")
    if key.isprintable() and unicodedata.is_normalized("NFKC", key) and \
            special_pattern().search(key) is None:
        return _Folded(key, name, None, ())
    return _fold_slow(name)


@lru_cache(maxsize=8192)
def _fold_slow(name: str) -> _Folded:
    positions: list[_Pos] = []
    removed: list[tuple[int, str, str]] = []
    for index, unit in iter_units(name):
        f = _fold_unit(unit)
        if f.removed:
            removed.append((index, unit if not f.chars else unit[0], f.removed))
        end = index + len(unit)
        for ch, links, origin in zip(f.chars, f.links, f.origins, strict=True):
            if positions and ch not in _KANA_MARKS and unicodedata.combining(ch) and not origin:
                prev = positions[-1]
                composed = unicodedata.normalize("NFC", prev.char + ch)
                if len(composed) == 1 and not prev.origin:  # e + U+0301 -> é
                    link = MatchLink(prev.char + ch, composed, "canonical-equivalence",
                                     _source("canonical-equivalence"))
                    positions[-1] = _Pos(composed, composed, prev.start, end,
                                         prev.links + links + (link,))
                    continue
            node = f.node if len(f.chars) == 1 else ch
            positions.append(_Pos(ch, node, index, end, links, origin))
    return _Folded("".join(p.char for p in positions), name, tuple(positions), tuple(removed),
                   any(p.origin for p in positions))


def explained_positions(f: _Folded) -> tuple[tuple[_Pos, ...], tuple[tuple[int, str, str], ...]]:
    """Positions and removed characters of a folded name, also for a plain one."""
    if f.positions is not None:
        return f.positions, f.removed
    positions: list[_Pos] = []
    removed: list[tuple[int, str, str]] = []
    for i, ch in enumerate(f.name):
        if ch == " " or ch == "\u3000":
            removed.append((i, ch, "space-removed"))
        else:
            positions.append(_Pos(ch, ch, i, i + 1, ()))
    return tuple(positions), tuple(removed)


# =========================================================================== the variant graph

_Edge = tuple[str, str, bool, str]  # (target, rule, lossless, detail)


@lru_cache(maxsize=65536)
def _edges(ch: str) -> tuple[_Edge, ...]:
    """Rule edges leaving one character (or one variation sequence), dictionary rows excluded."""
    out: list[_Edge] = []
    own: tuple[str, ...]
    siblings: tuple[str, ...]
    if len(ch) == 2 and is_variation_selector(ch[1]):
        own, siblings = mj_ids_for_unit(ch), ()
        rule = "svs-to-compat" if ch in _tables.svs_map() else "variation-selector-stripped"
        out.append((ch[0], rule, True, ""))
    else:
        own, siblings = _tables.mj_glyphs_for_char(ch)
    override = _tables.overrides().get(ch)
    if override is not None:
        out.append((override[0], "override", False, ""))
    for glyphs, own_glyph in ((own, True), (siblings, False)):
        for mj in glyphs:
            for e in _tables.shrink_for_mj(mj):
                if e.rule != "dictionary-related" and e.target != ch:
                    lossless = own_glyph and e.rule == "jis-unification"
                    detail = mj if own_glyph else f"{mj}, a glyph sharing the code point only " \
                                                  f"through an IVS"
                    out.append((e.target, e.rule, lossless, detail))
    for alt, code in _tables.jis_equivalents().get(ch, ()):
        out.append((alt, "same-jis-code", True, f"Shift_JIS 0x{code}"))
    if len(ch) == 1:
        nta = _tables.nta_map().get(ch)
        if nta is not None and nta != ch:
            out.append((nta, "nta-jis-shrink", False, ""))
        for other, list_id in _tables.same_jisyu_for(ch):
            out.append((other, "same-jisyu-list", False, list_id))
        if _is_compat_ideograph(ch):
            out.append((unicodedata.normalize("NFC", ch), "compat-to-unified", True, ""))
    best: dict[str, _Edge] = {}
    for edge in out:
        have = best.get(edge[0])
        if have is None or _edge_score(edge) < _edge_score(have):
            best[edge[0]] = edge
    return tuple(best.values())


def _edge_score(edge: _Edge) -> tuple[bool, int]:
    return (not edge[2], _STRENGTH.get(edge[1], 99))


class _Path(NamedTuple):
    lossless: bool
    weakest: int
    hops: int
    links: tuple[MatchLink, ...]

    @property
    def score(self) -> tuple[bool, int, int]:
        return (not self.lossless, self.hops, self.weakest)


@lru_cache(maxsize=65536)
def variant_paths(seeds: tuple[str, ...]) -> dict[str, _Path]:
    """Every character reachable from ``seeds`` within ``_MAX_HOPS`` rule hops, best path each."""
    paths: dict[str, _Path] = {}
    stack: list[tuple[str, _Path]] = [(s, _Path(True, -1, 0, ())) for s in seeds]
    while stack:
        ch, path = stack.pop()
        have = paths.get(ch)
        if have is not None and have.score <= path.score and have.hops <= path.hops:
            continue
        if have is None or path.score < have.score:
            paths[ch] = path
        for target, rule, lossless, detail in _edges(ch):
            hops = path.hops + (0 if rule in _FREE else 1)
            if hops > _MAX_HOPS or any(link.original == target for link in path.links):
                continue
            link = MatchLink(ch, target, rule, _source(rule, detail))
            stack.append((target, _Path(path.lossless and lossless,
                                        max(path.weakest, _STRENGTH.get(rule, 99)), hops,
                                        path.links + (link,))))
    return paths


def position_seeds(p: _Pos) -> tuple[str, ...]:
    return (p.char,) if p.node == p.char else (p.node, p.char)


@lru_cache(maxsize=65536)
def _relate(seeds_a: tuple[str, ...], seeds_b: tuple[str, ...]) -> tuple[_Path, _Path] | None:
    """The best pair of paths from both sides to a common character, or None."""
    fa, fb = variant_paths(seeds_a), variant_paths(seeds_b)
    if len(fb) < len(fa):
        common = [t for t in fb if t in fa]
    else:
        common = [t for t in fa if t in fb]
    best: tuple[tuple[bool, int, int], _Path, _Path] | None = None
    for t in common:
        pa, pb = fa[t], fb[t]
        score = (not (pa.lossless and pb.lossless), pa.hops + pb.hops,
                 max(pa.weakest, pb.weakest))
        if best is None or score < best[0]:
            best = (score, pa, pb)
    return None if best is None else (best[1], best[2])


#: hiragana -> katakana (readings compare in one script)
KATAKANA_OF = {**{chr(cp): chr(cp + 0x60) for cp in range(0x3041, 0x3097)},
                "\u309d": "\u30fd", "\u309e": "\u30fe"}  # hiragana, ゝゞ -> katakana


def _kana_script(x: str, y: str) -> bool:
    """True when two different characters are one kana in hiragana and katakana."""
    return KATAKANA_OF.get(x, x) == KATAKANA_OF.get(y, y)


# =========================================================================== compare


def compare(a: str, b: str) -> Match:
    """How strongly name ``a`` matches name ``b``: a :class:`Match` (grades: module docstring).

    >>> compare("髙橋 太郎", "高橋\\u3000太郎").grade
    'same-characters'
    >>> compare("渡邉", "渡邊").grade
    'variant'
    >>> m = compare("●橋 太郎", "髙橋 太郎")
    >>> m.grade, m.masked
    ('masked', 1)
    >>> compare("〓〓", "田中").grade
    'different'
    """
    return _compare(a, b, True)


def names_match(a: str, b: str) -> bool:
    """True when :func:`compare` gives any grade but ``different``: the names may be one person.

    ● and 〓 stand for any one character, as long as masks stand for at most half of the
    compared characters; variants (渡邉/渡邊) and hiragana/katakana count as matches, so check
    the grade where a person must confirm.
    """
    return _compare(a, b, False).grade != "different"


def _compare(a: str, b: str, explain: bool) -> Match:
    if a == b and WILDCARDS.isdisjoint(a):
        return Match("identical", a, b, length=len(fold_name(a).key))
    fa, fb = fold_name(a), fold_name(b)
    ka, kb = fa.key, fb.key
    n = len(ka)
    if n != len(kb):
        return Match("different", a, b, reason=f"{n} against {len(kb)} characters after "
                                                 f"folding")
    if explain:
        return _explain(fa, fb)
    expanded = fa.expanded or fb.expanded
    if ka == kb and not expanded:
        return Match("same-characters", a, b, length=n)
    pa, pb = fa.positions, fb.positions
    worst = 1
    masked = 0
    for i in range(n):
        x, y = ka[i], kb[i]
        if x == y:
            if expanded and (pa[i].origin if pa else "") != (pb[i].origin if pb else ""):
                worst = max(worst, 2)  # one side spelt out by a one-to-many rule edge
            continue
        if x in WILDCARDS or y in WILDCARDS:
            masked += 1
            worst = 3
        elif _kana_script(x, y):
            worst = max(worst, 2)
        else:
            related = _relate(position_seeds(pa[i]) if pa else (x,),
                              position_seeds(pb[i]) if pb else (y,))
            if related is None:
                return Match("different", a, b, masked=masked, length=n,
                             reason=f"no relation at position {i} ({x}/{y})")
            if not (related[0].lossless and related[1].lossless):
                worst = max(worst, 2)
    if masked * 2 > n:
        return Match("different", a, b, masked=masked, length=n,
                     reason=f"masks stand for {masked} of {n} characters (more than half)")
    return Match(GRADES[worst], a, b, masked=masked, length=n)


def _explain(fa: _Folded, fb: _Folded) -> Match:
    """``_compare`` with every step (the names have the same folded length)."""
    a, b = fa.name, fb.name
    positions_a, removed_a = explained_positions(fa)
    positions_b, removed_b = explained_positions(fb)
    steps: list[MatchStep] = []
    worst = 1  # same-characters
    masked = 0
    differ: list[str] = []
    for i, (pa, pb) in enumerate(zip(positions_a, positions_b, strict=True)):
        x, y = pa.char, pb.char
        if x == y:
            if pa.origin != pb.origin:  # one side spelt out by a one-to-many rule edge
                worst = max(worst, 2)
                steps.append(_step(a, b, i, pa, pb, "variant", pa.links + pb.links))
            elif (pa.links or pb.links) and a[pa.start:pa.end] != b[pb.start:pb.end]:
                steps.append(_step(a, b, i, pa, pb, "same-characters", pa.links + pb.links))
        elif x in WILDCARDS or y in WILDCARDS:
            masked += 1
            worst = 3
            link = MatchLink(x, y, "mask", _source("mask"))
            steps.append(_step(a, b, i, pa, pb, "masked", (*pa.links, link, *pb.links), "mask"))
        elif _kana_script(x, y):
            worst = max(worst, 2)
            link = MatchLink(x, y, "kana-script", _source("kana-script"))
            steps.append(_step(a, b, i, pa, pb, "variant", (*pa.links, link, *pb.links),
                               "kana-script"))
        else:
            related = _relate(position_seeds(pa), position_seeds(pb))
            if related is None:
                differ.append(f"{i} ({x}/{y})")
                steps.append(_step(a, b, i, pa, pb, "different", pa.links + pb.links,
                                   "different"))
                continue
            path_a, path_b = related
            grade = 1 if path_a.lossless and path_b.lossless else 2
            worst = max(worst, grade)
            steps.append(_step(a, b, i, pa, pb, GRADES[grade],
                               pa.links + path_a.links + pb.links + path_b.links))
    steps.extend(MatchStep(None, i, None, t, "", "same-characters", r, _source(r))
                 for i, t, r in removed_a)
    steps.extend(MatchStep(None, None, i, "", t, "same-characters", r, _source(r))
                 for i, t, r in removed_b)
    n = len(positions_a)
    if differ:
        return Match("different", a, b, tuple(steps), masked, n,
                     f"no relation at position {', '.join(differ)}")
    if masked * 2 > n:
        return Match("different", a, b, tuple(steps), masked, n,
                     f"masks stand for {masked} of {n} characters (more than half)")
    return Match(GRADES[worst], a, b, tuple(steps), masked, n)


def _step(a: str, b: str, i: int, pa: _Pos, pb: _Pos, grade: str,
          links: tuple[MatchLink, ...], rule: str = "") -> MatchStep:
    if rule:
        source = _source(rule)
    else:
        weakest = _weakest(links)
        rule, source = (weakest.rule, weakest.source) if weakest else ("", "")
    return MatchStep(i, pa.start, pb.start, a[pa.start:pa.end], b[pb.start:pb.end], grade,
                     rule, source, links)


# =========================================================================== compare_kana

#: Spelling differences ``loose`` allows, katakana -> (the form compared, rule).
_LOOSE: dict[str, tuple[str, str]] = {
    **{small: (large, "small-kana") for small, large in SMALL_KATAKANA.items()},
    "ヂ": ("ジ", "yotsugana"), "ヅ": ("ズ", "yotsugana"),
    "ヰ": ("イ", "historical-kana"), "ヱ": ("エ", "historical-kana"),
    "ヲ": ("オ", "historical-kana"),
}
#: Vowel -> the kana a ー after a kana with that vowel may stand for (オ段+ウ, エ段+イ too).
_LONG: dict[str, str] = {"a": "ア", "i": "イ", "u": "ウ", "e": "エイ", "o": "オウ"}
_CHOONPU = "\u30fc"


def _is_kana(ch: str) -> bool:
    return "\u3040" <= ch <= "\u30ff" or "\u31f0" <= ch <= "\u31ff"


def _reading_key(text: str) -> str:
    """``text`` as ``same-reading`` compares it (see the module docstring)."""
    out: list[str] = []
    for c in normalize_kana(text):
        if c.isspace() or c == "・" or classify(c) is not None:
            continue
        if _is_kana(c):
            out.append(c)
        else:
            out.extend(x for x in unicodedata.normalize("NFKC", c) if not x.isspace())
    return "".join(out)


def _vowel_before(key: str, i: int) -> str | None:
    while i > 0:
        i -= 1
        if key[i] != _CHOONPU:
            return KATAKANA_VOWELS.get(key[i])
    return None


def _loose_pair(ka: str, kb: str, i: int) -> str | None:
    """The rule that lets ``ka[i]`` and ``kb[i]`` stand for one sound, or None."""
    x, y = ka[i], kb[i]
    lx, rx = _LOOSE.get(x, (x, ""))
    ly, ry = _LOOSE.get(y, (y, ""))
    if lx == ly:
        return rx or ry
    for long_key, mark, other in ((ka, x, ly), (kb, y, lx)):
        if mark == _CHOONPU and other != _CHOONPU:
            vowel = _vowel_before(long_key, i)
            if vowel is not None and other in _LONG[vowel]:
                return "long-vowel"
    return None


def compare_kana(a: str, b: str) -> KanaMatch:
    """How strongly reading ``a`` matches reading ``b``: a :class:`KanaMatch`.

    Grades (:data:`KANA_GRADES`, details in the module docstring): ``identical`` (equal strings),
    ``same-reading`` (equal after ``normalize_kana``, without spaces and ・), ``loose`` (equal
    when small/large kana, ー/the vowel it lengthens, ヂ/ジ ヅ/ズ and ヰ/イ ヱ/エ ヲ/オ may differ;
    ``steps`` lists those positions of ``key_a``/``key_b``), ``different``.

    >>> compare_kana("ｷｮｳｺ", "きょうこ").grade
    'same-reading'
    >>> compare_kana("キョウコ", "キヨウコ").grade
    'loose'
    >>> compare_kana("オオタ", "オータ").grade
    'loose'
    """
    ka, kb = _reading_key(a), _reading_key(b)
    if a == b:
        return KanaMatch("identical", a, b, ka, kb)
    if ka == kb:
        return KanaMatch("same-reading", a, b, ka, kb)
    if len(ka) != len(kb):
        return KanaMatch("different", a, b, ka, kb)
    steps: list[MatchStep] = []
    for i, (x, y) in enumerate(zip(ka, kb, strict=True)):
        if x == y:
            continue
        rule = _loose_pair(ka, kb, i)
        if rule is None:
            return KanaMatch("different", a, b, ka, kb, tuple(steps))
        source = _source(rule)
        steps.append(MatchStep(i, None, None, x, y, "loose", rule, source,
                               (MatchLink(x, y, rule, source),)))
    return KanaMatch("loose", a, b, ka, kb, tuple(steps))
