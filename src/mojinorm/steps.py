"""The pipeline's steps: small functions, each looking at one unit and returning what it did.

A unit (a character, or a base with its variation selector or combining kana mark) that a target
cannot take goes through :data:`PIPELINE` in order.  Each step reads the :class:`Walk` (the unit
as it stands after the steps before) and returns the :class:`Step` objects it applied, or an
empty tuple when it does not apply.  A step that finds the unit cannot be brought in sets
``Walk.stop`` and the fallback decides.  The walk ends as soon as the current text renders.

Variant mapping decides by evidence (``mojinorm.rules`` has the ranking):

* a plain code point is first its own glyph: the MJ rows of the glyph implemented at that code
  point (and the 国税庁 map, keyed by code point) decide; the rows of sibling glyphs that share
  the code point only through an IVS are used when the own glyph reaches nothing, and such a
  change is marked for review;
* the base of a variation sequence is the character (UTS #37): when the base renders it is the
  answer, and the IVS glyph's rows that name a different character are alternatives;
* when the deciding rule offers different characters at the same rank and hop count, a tie
  between forms of one 字種 keeps the table order; otherwise the candidate more independent
  sources support wins, and with no such support the unit is *ambiguous* (fallback, review).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from . import _tables
from .gaiji import GaijiTable, is_private_use
from .invisible import REMOVE, SPACE, SPACE_REPLACEMENT, classify
from .lookup import mj_ids_for_unit
from .rules import RANKING, rule_source
from .units import is_variation_selector

__all__ = ["Step", "Context", "Walk", "PIPELINE", "run", "same_jisyu", "STRONG_RULES"]

_RANK = {rule: i for i, rule in enumerate(RANKING)}
_SPACES = frozenset(" \u3000")
_MARKS = {"\u3099": "\u309b", "\u309a": "\u309c"}  # combining -> standalone voiced marks

#: Rules whose rows say "the same character" or "the registered correct form": an IVS glyph row of
#: one of these naming another character than the base deserves a person's look.
STRONG_RULES = frozenset({
    "jis-unification", "koseki-parent", "moj582-table4-1", "moj582-table4-2",
    "minji2842-zokuji", "minji2842-betsuji", "minji2842-unmarked", "minji5202",
})


@dataclass(frozen=True)
class Step:
    """One transformation of a unit: ``original`` became ``replacement`` under ``rule``."""

    rule: str
    original: str
    replacement: str
    source: str


@dataclass(frozen=True)
class Context:
    """What the steps need to know about the plan (built once per ``Normalizer``)."""

    ok: Callable[[str], bool]  #: a single unit renders in the target and is visible
    ok_text: Callable[[str], bool]  #: every unit of a text renders and is visible
    rules: frozenset[str]  #: variant rules allowed
    gaiji: GaijiTable
    ambiguity: str  #: "fallback" or "first"
    target_name: str


@dataclass
class Walk:
    """One unit on its way through the pipeline."""

    unit: str
    cur: str
    mj: str | None = None  #: MJ id of the glyph the mapping started from
    mj_ids: tuple[str, ...] = ()  #: glyphs of a Moji_Joho IVS found by the selector step
    steps: list[Step] = field(default_factory=list)
    alternatives: tuple[str, ...] = ()
    review: bool = False
    stop: tuple[str, str] | None = None  #: (rule, reason) when the fallback must decide


# --------------------------------------------------------------------------- the steps


def remove_invisible(ctx: Context, w: Walk) -> tuple[Step, ...]:
    """Invisible and control characters go; odd spaces (and a space the target lacks) become
    U+3000 or a space the target has."""
    kind = classify(w.cur[0])
    if kind == REMOVE:
        return (Step("invisible-removed", w.cur, "", rule_source("invisible-removed")),)
    if kind == SPACE or w.cur in _SPACES:
        for space in (SPACE_REPLACEMENT, " "):
            if ctx.ok(space):
                return (Step("space-normalized", w.cur, space,
                             rule_source("space-normalized")),)
        w.stop = ("no-mapping", "the target has no space")
    return ()


def resolve_gaiji(ctx: Context, w: Walk) -> tuple[Step, ...]:
    """A private-use code point is what the user's gaiji table says it stands for."""
    if not is_private_use(w.cur[0]):
        return ()
    entry = ctx.gaiji.get(w.cur[0])
    if entry is None:
        w.stop = ("unmapped-gaiji", "private-use character with no gaiji table entry")
        return ()
    w.mj = entry.mj
    char = entry.char
    if len(w.cur) == 2 and len(char) == 1:
        char += w.cur[1]  # keep the selector the gaiji carried; the next step judges it
    return (Step("gaiji-table", w.cur, char, entry.source),)


def variation_sequence(ctx: Context, w: Walk) -> tuple[Step, ...]:
    """A Moji_Joho IVS is its MJ glyph (its base when the base renders), an SVS becomes its
    compatibility ideograph, any other selector is dropped."""
    cur = w.cur
    if len(cur) != 2 or not is_variation_selector(cur[1]):
        return ()
    ids = mj_ids_for_unit(cur)
    if ids:
        w.mj_ids = ids
        w.mj = w.mj or ids[0]
        base = cur[0]
        if not ctx.ok(base):
            return ()  # the glyph's own ranked rows decide (增+U+E0102 -> 増)
        # The base is the character.  Rows of the glyph naming a different one are only
        # alternatives; a strong one among them means a person should look.
        other = [e for mj in ids for e in _tables.shrink_for_mj(mj)
                 if e.rule in ctx.rules and not same_jisyu(e.target, base)]
        w.alternatives = _unique(e.target for e in other if ctx.ok_text(e.target))
        w.review = w.review or any(e.rule in STRONG_RULES for e in other)
        return (Step("variation-selector-stripped", cur, base,
                     rule_source("variation-selector-stripped")),)
    svs = _tables.svs_map().get(cur)
    if svs is not None:
        return (Step("svs-to-compat", cur, svs, rule_source("svs-to-compat")),)
    return (Step("variation-selector-stripped", cur, cur[0],
                 rule_source("variation-selector-stripped")),)


def kana_marks(ctx: Context, w: Walk) -> tuple[Step, ...]:
    """A kana with a combining voiced mark is composed; a voiced kana the target lacks is written
    with the standalone mark (か゚ -> か゜)."""
    cur = w.cur
    if len(cur) == 2 and cur[1] in _MARKS:
        composed = unicodedata.normalize("NFC", cur)
        if len(composed) == 1 and ctx.ok(composed):
            return (Step("kana-composed", cur, composed, rule_source("kana-composed")),)
        base, mark = cur[0], _MARKS[cur[1]]
    elif len(cur) == 1 and "\u3041" <= cur <= "\u30ff":
        decomposed = unicodedata.normalize("NFD", cur)
        if len(decomposed) != 2 or decomposed[1] not in _MARKS:
            return ()
        base, mark = decomposed[0], _MARKS[decomposed[1]]
    else:
        return ()
    if ctx.ok(base) and ctx.ok(mark):
        return (Step("kana-mark-separated", cur, base + mark,
                     rule_source("kana-mark-separated")),)
    return ()


def compat_ideograph(ctx: Context, w: Walk) -> tuple[Step, ...]:
    """A CJK compatibility ideograph the target lacks becomes its unified ideograph."""
    cur = w.cur
    if len(cur) != 1 or not _is_compat_ideograph(cur):
        return ()
    unified = unicodedata.normalize("NFC", cur)
    if unified == cur:
        return ()  # one of the twelve "unified" ideographs of the block (﨑)
    return (Step("compat-to-unified", cur, unified, rule_source("compat-to-unified")),)


def _other_widths(ch: str) -> tuple[str, ...]:
    """``ch`` in its other width: full-width for ASCII, the ASCII space and half-width kana
    (ｱ→ア, A→Ａ, ' '→U+3000, ﾞ→゛), half-width (NFKC) for a full-width form (Ａ→A)."""
    cp = ord(ch)
    if 0x21 <= cp <= 0x7E:
        return (chr(cp + 0xFEE0),)
    if ch == " ":
        return ("\u3000",)
    if 0xFF61 <= cp <= 0xFF9F:
        wide = {"\uff9e": "\u309b", "\uff9f": "\u309c"}.get(
            ch, unicodedata.normalize("NFKC", ch))
        return (wide,) if wide != ch else ()
    if 0xFF01 <= cp <= 0xFF5E:
        return (unicodedata.normalize("NFKC", ch),)
    return ()


def width_fold(ctx: Context, w: Walk) -> tuple[Step, ...]:
    """A character the target has only in the other width takes that width: a profile of
    full-width-only name fields (レセ電) gets ア for ｱ, Ａ for A, U+3000 for a space.  After
    the variant rules: the same JIS code in the same width (－ → − in JIS X 0208) is nearer."""
    cur = w.cur
    if len(cur) != 1:
        return ()
    for other in _other_widths(cur):
        if ctx.ok_text(other):
            return (Step("width-folded", cur, other, rule_source("width-folded")),)
    return ()


def variant_mapping(ctx: Context, w: Walk) -> tuple[Step, ...]:
    """The ranked variant rules, the character's own glyph first (see the module docstring)."""
    cur = w.cur
    is_sequence = len(cur) == 2 and is_variation_selector(cur[1])
    own: tuple[str, ...]
    siblings: tuple[str, ...]
    if is_sequence:
        own, siblings = w.mj_ids, ()
    else:
        own, siblings = _glyphs(cur)
    decided = _decide(ctx, w, cur, own, with_nta=not is_sequence)
    if decided is None and siblings:
        decided = _decide(ctx, w, cur, siblings, with_nta=False)
        if decided is not None:
            w.review = True  # another glyph's mapping: likely, not certain
    if decided is None and is_sequence:
        # The IVS glyph reaches nothing: the base is the character, try it as such.
        strip = Step("variation-selector-stripped", cur, cur[0],
                     rule_source("variation-selector-stripped"))
        own, siblings = _glyphs(cur[0])
        decided = _decide(ctx, w, cur[0], own, with_nta=True)
        if decided is None and siblings:
            decided = _decide(ctx, w, cur[0], siblings, with_nta=False)
            w.review = w.review or decided is not None
        if decided is not None:
            return (strip, *decided)
    return decided or ()


PIPELINE: tuple[Callable[[Context, Walk], tuple[Step, ...]], ...] = (
    remove_invisible, resolve_gaiji, variation_sequence, kana_marks, compat_ideograph,
    variant_mapping, width_fold,
)


def run(ctx: Context, unit: str) -> Walk:
    """Take ``unit`` through the pipeline until it renders, or until the fallback must decide."""
    w = Walk(unit, unit)
    for step in PIPELINE:
        done = step(ctx, w)
        if w.stop is not None:
            return w
        if done:
            w.steps.extend(done)
            w.cur = done[-1].replacement
            if ctx.ok_text(w.cur):
                return w
    w.stop = ("no-mapping", f"no allowed rule maps it into {ctx.target_name}")
    return w


# --------------------------------------------------------------------------- evidence


@dataclass(frozen=True)
class _Candidate:
    target: str
    rule: str
    rank: int
    hops: int
    mj: str | None

    @property
    def key(self) -> tuple[int, int, int]:
        return (_RANK[self.rule], self.rank, self.hops)


def _candidates(ctx: Context, char: str, mj_ids: Sequence[str],
                with_nta: bool) -> list[_Candidate]:
    """Every allowed replacement of ``char`` other than itself, best first, each target once."""
    found: list[tuple[tuple[int, int, int, int], _Candidate]] = []
    if "override" in ctx.rules:
        ov = _tables.overrides().get(char)
        if ov is not None:
            found.append(((0, 0, 0, 0), _Candidate(ov[0], "override", 0, 0, None)))
    for order, mj in enumerate(mj_ids):
        for e in _tables.shrink_for_mj(mj):
            if e.rule in ctx.rules:
                c = _Candidate(e.target, e.rule, e.rank or 0, e.hops or 0, mj)
                found.append(((*c.key, order), c))
    if "same-jis-code" in ctx.rules:
        for alt, _code in _tables.jis_equivalents().get(char, ()):
            found.append(((_RANK["same-jis-code"], 0, 0, 0),
                          _Candidate(alt, "same-jis-code", 0, 0, None)))
    if "same-jisyu-list" in ctx.rules:
        for other, _list_id in _tables.same_jisyu_for(char):
            found.append(((_RANK["same-jisyu-list"], 0, 0, 0),
                          _Candidate(other, "same-jisyu-list", 0, 0, None)))
    if with_nta and "nta-jis-shrink" in ctx.rules and len(char) == 1:
        nta = _tables.nta_map().get(char)
        if nta is not None:
            found.append(((_RANK["nta-jis-shrink"], 0, 0, 0),
                          _Candidate(nta, "nta-jis-shrink", 0, 0, None)))
    found.sort(key=lambda f: f[0])
    seen = {char}
    out = []
    for _, c in found:
        if c.target not in seen:
            seen.add(c.target)
            out.append(c)
    return out


def _support(ctx: Context, char: str, mj_ids: Sequence[str], deciding: str,
             target: str) -> frozenset[str]:
    """Independent sources, other than the deciding rule, that map ``char`` to ``target``."""
    sources = {e.rule for mj in mj_ids for e in _tables.shrink_for_mj(mj)
               if e.target == target and e.rule in ctx.rules and e.rule != deciding}
    if deciding != "nta-jis-shrink" and "nta-jis-shrink" in ctx.rules \
            and _tables.nta_map().get(char) == target:
        sources.add("nta-jis-shrink")
    if deciding != "same-jisyu-list":
        sources.update(list_id for other, list_id in _tables.same_jisyu_for(char)
                       if other == target)
    return frozenset(sources)


def _break_tie(ctx: Context, char: str, mj_ids: Sequence[str],
               tie: list[_Candidate]) -> tuple[_Candidate | None, list[_Candidate]]:
    """The winner of a tie (None when ambiguous) and the tied candidates, best supported first."""
    classes: list[list[_Candidate]] = []
    for c in tie:
        for cls in classes:
            if same_jisyu(cls[0].target, c.target):
                cls.append(c)
                break
        else:
            classes.append([c])
    if len(classes) == 1:
        return tie[0], tie
    support = [frozenset().union(*(_support(ctx, char, mj_ids, c.rule, c.target) for c in cls))
               for cls in classes]
    order = sorted(range(len(classes)), key=lambda i: -len(support[i]))
    ranked = [c for i in order for c in classes[i]]
    if len(support[order[0]]) > len(support[order[1]]):
        return classes[order[0]][0], ranked
    return None, ranked


def _decide(ctx: Context, w: Walk, char: str, mj_ids: Sequence[str],
            with_nta: bool) -> tuple[Step, ...] | None:
    """The steps from ``char`` into the target through the glyphs ``mj_ids``, or None when they
    reach nothing.  Sets ``w.stop`` for an ambiguous tie (ambiguity ``fallback``)."""
    ranked = _candidates(ctx, char, mj_ids, with_nta)
    inside = [c for c in ranked if ctx.ok_text(c.target)]
    if inside:
        tie = [c for c in inside if c.key == inside[0].key]
        winner, tied = _break_tie(ctx, char, mj_ids, tie)
        rest = [c for c in inside if c not in tied]
        return _outcome(ctx, w, winner, tied, rest, lambda c: (_step(char, c),))
    # Two hops: the first intermediate character (in rank order) that reaches the target.
    for mid in ranked:
        mid_own, mid_siblings = _glyphs(mid.target)
        second = [c for c in _candidates(ctx, mid.target, mid_own or mid_siblings, True)
                  if ctx.ok_text(c.target)]
        if not second:
            continue
        tie = [c for c in second if c.key == second[0].key]
        winner, tied = _break_tie(ctx, mid.target, mid_own or mid_siblings, tie)
        rest = [c for c in second if c not in tied]
        first = _step(char, mid)

        def via_mid(c: _Candidate, first: Step = first, via: str = mid.target,
                    ) -> tuple[Step, ...]:
            return (first, _step(via, c))

        return _outcome(ctx, w, winner, tied, rest, via_mid)
    return None


def _outcome(ctx: Context, w: Walk, winner: _Candidate | None, tied: list[_Candidate],
             rest: list[_Candidate],
             steps_to: Callable[[_Candidate], tuple[Step, ...]]) -> tuple[Step, ...]:
    if winner is None:
        w.alternatives = _unique(c.target for c in [*tied, *rest])
        w.review = True
        if ctx.ambiguity == "first":
            winner = min(tied, key=lambda c: (c.key, tied.index(c)))
            w.alternatives = tuple(a for a in w.alternatives if a != winner.target)
            return _record(w, winner, steps_to(winner))
        names = " / ".join(c.target for c in tied)
        w.stop = ("ambiguous", f"different characters tie ({names}) and no independent "
                               f"source supports one")
        return ()
    w.alternatives = _unique(c.target for c in [*tied, *rest] if c.target != winner.target)
    return _record(w, winner, steps_to(winner))


def _record(w: Walk, winner: _Candidate, steps: tuple[Step, ...]) -> tuple[Step, ...]:
    if winner.mj is not None and w.mj is None:
        w.mj = winner.mj
    return steps


def _step(char: str, c: _Candidate) -> Step:
    source = rule_source(c.rule)
    if c.mj is not None and c.mj not in _glyphs(char)[0] and not _is_ivs_glyph(char, c.mj):
        source = f"{source} (row of the sibling glyph {c.mj})"
    if len(c.target) > 1:
        source = f"{source} (one character to {len(c.target)})"
    return Step(c.rule, char, c.target, source)


def _is_ivs_glyph(char: str, mj: str) -> bool:
    return len(char) == 2 and mj_ids_for_unit(char) == (mj,)


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    out: list[str] = []
    for item in items:
        if item not in out:
            out.append(item)
    return tuple(out)


@lru_cache(maxsize=16384)
def _glyphs(char: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(own, siblings): the MJ glyphs implemented at the plain code point, and the glyphs that
    share the code point only through an IVS."""
    own, siblings = _tables.mj_glyphs_for_char(char)
    return own, siblings


@lru_cache(maxsize=16384)
def same_jisyu(a: str, b: str) -> bool:
    """True when ``a`` and ``b`` are forms of one character (字種): equal after NFC, one JIS X 0208
    code, one base with a selector, a JIS包摂規準・UCS統合規則 row between them, or an official
    same-字種 list (常用漢字表 康熙字典体, 人名用漢字表 異体字, 表外漢字字体表)."""
    if a == b or unicodedata.normalize("NFC", a) == unicodedata.normalize("NFC", b):
        return True
    if a[:1] == b[:1] and (is_variation_selector(a[-1]) or is_variation_selector(b[-1])):
        return True
    if any(alt == b for alt, _ in _tables.jis_equivalents().get(a, ())):
        return True
    if any(other == b for other, _ in _tables.same_jisyu_for(a)):
        return True
    for x, y in ((a, b), (b, a)):
        # Only the glyph(s) of x itself: a sibling glyph reached through an IVS may be unified
        # with another character (壳's IVS glyph MJ009390 is 売 by JIS包摂).
        own = mj_ids_for_unit(x) if len(x) > 1 else _glyphs(x)[0]
        for mj in own:
            if any(e.rule == "jis-unification" and e.target == y
                   for e in _tables.shrink_for_mj(mj)):
                return True
    return False


def _is_compat_ideograph(ch: str) -> bool:
    cp = ord(ch)
    return 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F
