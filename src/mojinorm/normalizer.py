"""The normalization pipeline: make a name render in a target, changing as little as possible.

For every unit (a character, or a base with its variation selector or combining kana mark)
outside the target, in order:

0. invisible characters are removed and odd spaces become U+3000 (see ``mojinorm.invisible``);
1. private-use gaiji are resolved through the user's gaiji tables (``unmapped-gaiji`` otherwise);
2. variation sequences: a Moji_Joho IVS is its MJ glyph (kept when the target has it, else its
   ranked mappings decide in step 4), an SVS becomes the compatibility ideograph it stands for,
   any other selector is stripped; a kana with a combining voiced mark is composed, or written
   with the standalone mark when the target lacks the composed kana;
3. a compatibility ideograph the target lacks becomes its unified ideograph;
4. variant mapping: the ranked MJ縮退マップ rules, the codecs' same-JIS-code pairs and the NTA map
   (``mojinorm.rules``); the first candidate inside the target wins, the others are reported as
   alternatives; a second hop is tried when no direct candidate is inside;
5. fallback: ``geta`` 〓, ``black-circle`` ●, ``kana`` (the whole name becomes its reading),
   ``keep``, ``error`` or any single character inside the target.

Units already inside the target are never touched.  Every change says which rule made it and from
which table, so replaying ``Result.changes`` on the input gives ``Result.text``.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from . import _tables
from .errors import OptionError, UnmappableCharacter
from .gaiji import GaijiTable, is_private_use, load_gaiji
from .invisible import REMOVE, SPACE, SPACE_REPLACEMENT, classify
from .kana import normalize_kana
from .lookup import mj_ids_for_unit
from .rules import LOSSLESS_RULES, RANKING, RULE_SOURCES, resolve_rules
from .targets import Target, get_target
from .units import KANA_MARK_CLASS, VARIATION_SELECTOR_CLASS, is_variation_selector, iter_units

__all__ = [
    "Change", "Normalizer", "Result", "Step", "UnmappableCharacter", "FALLBACKS", "normalize",
    "explain", "get_normalizer",
]

#: Named fallbacks; any single character inside the target is accepted too.
FALLBACKS: dict[str, str | None] = {
    "geta": "\u3013",  # 〓 GETA MARK: the conventional "character missing" mark
    "black-circle": "\u25cf",  # ● what the receiving systems show; simulates them
    "kana": None,  # whole name replaced by its normalized reading
    "keep": None,  # leave the unit as it is (output may be outside the target)
    "error": None,  # raise UnmappableCharacter
}

_RANK = {rule: i for i, rule in enumerate(RANKING)}
_SPACES = frozenset(" \u3000")
_MARKS = {"\u3099": "\u309b", "\u309a": "\u309c"}  # combining -> standalone voiced marks
_CACHE_LIMIT = 200_000  # distinct units remembered per normalizer
_NAME_CACHE_LIMIT = 100_000  # distinct names needing work remembered per normalizer
_NAME_CACHE_LENGTH = 64  # longer texts are not names; they are never kept


@dataclass(frozen=True)
class Step:
    """One transformation of a unit: ``original`` became ``replacement`` under ``rule``."""

    rule: str
    original: str
    replacement: str
    source: str


@dataclass(frozen=True)
class Change:
    """What happened to one unit of the input."""

    index: int  #: position of the unit in the input text
    original: str
    replacement: str
    rule: str  #: the rule that decided the outcome (the last step)
    source: str  #: table or file that rule comes from
    mj: str | None = None  #: MJ id of the original (or of the glyph the mapping started from)
    alternatives: tuple[str, ...] = ()  #: other allowed replacements inside the target
    steps: tuple[Step, ...] = ()  #: every step, in order
    fallback: bool = False  #: True when the fallback produced the replacement
    #: True when a person should look: every fallback, an ambiguous unit, a sibling glyph's
    #: mapping, or a variation sequence whose own MJ rows name a different character
    review: bool = False

    @property
    def lossless(self) -> bool:
        """True when every step keeps the character itself (see ``rules.LOSSLESS_RULES``)."""
        return not self.fallback and all(s.rule in LOSSLESS_RULES for s in self.steps)

    def __str__(self) -> str:
        chain = ">".join(s.rule for s in self.steps) or self.rule
        shown = self.replacement if self.replacement else "(removed)"
        return f"{_show(self.original)}→{_show(shown)} {chain}"


def _show(s: str) -> str:
    """Text for people: invisible, private-use and selector code points written as <U+XXXX>."""
    return "".join(f"<U+{ord(c):04X}>" if classify(c) or is_private_use(c) else c for c in s)


@dataclass(frozen=True)
class Result:
    """Normalized text and the changes that made it."""

    text: str
    changes: tuple[Change, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.changes)

    @property
    def used_fallback(self) -> bool:
        return any(c.fallback for c in self.changes)

    def replay(self, original: str) -> str:
        """Apply the changes to ``original``; equals ``self.text``."""
        out = []
        pos = 0
        for c in self.changes:
            out.append(original[pos:c.index])
            out.append(c.replacement)
            pos = c.index + len(c.original)
        out.append(original[pos:])
        return "".join(out)

    def __str__(self) -> str:
        return self.text


class _UnitWalkNeeded(Exception):
    """The substitution met a target sequence; the name is cut with iter_units instead."""


@dataclass(frozen=True)
class _Resolution:
    replacement: str
    rule: str
    source: str
    mj: str | None
    alternatives: tuple[str, ...]
    steps: tuple[Step, ...]
    fallback: bool
    reason: str = ""


class Normalizer:
    """A compiled plan that brings text into one target.  Reusable and thread-safe.

    Parameters
    ----------
    target:
        a built-in target name (``mojinorm.targets()``), a YAML profile path or a ``Target``.
    fallback:
        what replaces a unit no allowed rule can map: ``"geta"`` (〓, default), ``"black-circle"``
        (●), ``"kana"`` (the whole name becomes ``reading``), ``"keep"``, ``"error"``, or any
        single character inside the target.
    gaiji:
        one or more gaiji table paths (or a loaded ``GaijiTable``) for private-use characters.
    rules:
        variant rules allowed, an iterable of rule ids or ``"default"``/``"all"``; default: every
        rule in ``mojinorm.rules.RANKING`` except ``dictionary-related``.
    """

    def __init__(
        self,
        target: str | Path | Target = "jisx0208",
        *,
        fallback: str = "geta",
        gaiji: str | Path | Iterable[str | Path] | GaijiTable | None = None,
        rules: Iterable[str] | str | None = None,
    ) -> None:
        self.target = get_target(target)
        self.rules = resolve_rules(rules)
        self._rule_set = frozenset(self.rules)
        self.gaiji = gaiji if isinstance(gaiji, GaijiTable) else load_gaiji(gaiji)
        if fallback in FALLBACKS:
            self.fallback = fallback
            self.fallback_char = FALLBACKS[fallback] or "\u3013"
        elif isinstance(fallback, str) and len(fallback) == 1:
            self.fallback = "char"
            self.fallback_char = fallback
        else:
            raise OptionError(
                f"unknown fallback {fallback!r}; use one of {', '.join(FALLBACKS)} "
                f"or a single character inside the target"
            )
        if not self._ok(self.fallback_char):
            raise OptionError(
                f"fallback character {self.fallback_char!r} is not inside target "
                f"{self.target.name!r}"
            )
        self._guard = self.target.visible_guard
        # The units that need a look, as iter_units cuts them: a code point outside the visible
        # target with its selector, any base with a selector, or a selector on its own.
        vs = VARIATION_SELECTOR_CLASS
        joins = vs + KANA_MARK_CLASS
        self._unit_sub = re.compile(
            f"[^{self.target.visible_class}{vs}][{joins}]?|[^{vs}][{joins}]|[{vs}]").sub
        self._visible = self.target.visible_chars
        self._sequences = self.target.sequences
        self._cache: dict[str, _Resolution] = {}
        self._known: dict[str, str] = {}  # unit -> replacement, for the substitution callback
        # name -> result for names that needed work: member files repeat names (households,
        # re-submitted records), and a hit costs one dict look-up instead of a substitution
        self._names: dict[str, str] = {}
        self._sub_known = self._replace_known
        self._lock = threading.Lock()
        # The hot path: a closure with the guard bound locally, set on the instance, costs about
        # half of a bound method doing attribute look-ups (see benchmarks/README.md).
        search = self._guard.search
        slow = self._normalize_units
        names = self._names
        kana = self.fallback == "kana"

        def normalize(text: str, *, reading: str | None = None) -> str:
            if search(text) is None:
                return text
            if kana:
                return slow(text, reading)
            done = names.get(text)
            if done is None:
                done = slow(text, reading)
                if len(names) < _NAME_CACHE_LIMIT and len(text) <= _NAME_CACHE_LENGTH:
                    names[text] = done
            return done

        normalize.__doc__ = Normalizer.normalize.__doc__
        self.normalize = normalize  # type: ignore[method-assign]

    def __repr__(self) -> str:
        return (f"Normalizer(target={self.target.name!r}, fallback={self.fallback!r}, "
                f"rules={len(self.rules)}, gaiji={len(self.gaiji)})")

    # ------------------------------------------------------------------ public

    def is_safe(self, text: str) -> bool:
        """True when ``normalize`` would return ``text`` unchanged."""
        return self.target.is_clean(text)

    def normalize(self, text: str, *, reading: str | None = None) -> str:
        """Return ``text`` brought into the target (``reading`` is used by fallback ``kana``)."""
        if self._guard.search(text) is None:
            return text
        return self._normalize_units(text, reading)

    def _normalize_units(self, text: str, reading: str | None) -> str:
        if self.fallback == "kana" and reading and reading.strip():
            return self.explain(text, reading=reading).text  # may replace the whole name
        # One C-level substitution over the name; Python runs only for the units that need it.
        try:
            return self._unit_sub(self._sub_known, text)
        except _UnitWalkNeeded:
            return self.explain(text).text

    def _replace_known(self, m: re.Match[str]) -> str:
        # Most units recur (a member file repeats its extended kanji): answer from a dict.
        replacement = self._known.get(m.group())
        if replacement is None:
            return self._replace_unit(m)
        return replacement

    def _replace_unit(self, m: re.Match[str]) -> str:
        unit = m.group()
        index = m.start()
        if index and m.string[index - 1] + unit[0] in self._sequences:
            # Part of a multi-code-point character of the target (æ + U+0300): how the units
            # pair up depends on what came before, so walk the name unit by unit.
            raise _UnitWalkNeeded
        if unit in self._sequences:
            return unit  # a variation sequence the target has (Moji_Joho IVS in mj)
        res = self._resolve(unit)
        if res.fallback and self.fallback == "error":
            raise UnmappableCharacter(unit, index, m.string, self.target.name, res.reason)
        if not self._sequences and len(self._known) < _CACHE_LIMIT:
            self._known[unit] = res.replacement  # no context can change this unit's answer
        return res.replacement

    def explain(self, text: str, *, reading: str | None = None) -> Result:
        """Like ``normalize`` but also return every change with its rule and source."""
        if self._guard.search(text) is None:
            return Result(text)
        out = []
        changes = []
        for index, unit in iter_units(text, self._sequences):
            if unit in self._visible or unit in self._sequences:
                out.append(unit)
                continue
            res = self._resolve(unit)
            if res.fallback:
                if self.fallback == "error":
                    raise UnmappableCharacter(unit, index, text, self.target.name, res.reason)
                if self.fallback == "kana" and reading and reading.strip():
                    kana = self._kana(reading)
                    step = Step("fallback-kana", text, kana, "reading given by the caller")
                    return Result(kana, (Change(
                        0, text, kana, "fallback-kana", "reading given by the caller",
                        res.mj, (), (step,), True,
                    ),))
            out.append(res.replacement)
            changes.append(Change(index, unit, res.replacement, res.rule, res.source, res.mj,
                                  res.alternatives, res.steps, res.fallback))
        return Result("".join(out), tuple(changes))

    # ------------------------------------------------------------------ plan

    def _ok(self, unit: str) -> bool:
        if len(unit) == 1:
            return unit in self.target.chars and classify(unit) is None
        return unit in self.target.sequences

    def export_resolutions(self) -> dict[str, object]:
        """The units resolved so far (for a worker process to hand to its parent)."""
        return dict(self._cache)

    def import_resolutions(self, resolutions: dict[str, object]) -> None:
        """Adopt units another process with the same options resolved."""
        with self._lock:
            for unit, res in resolutions.items():
                if isinstance(res, _Resolution) and len(self._cache) < _CACHE_LIMIT:
                    self._cache.setdefault(unit, res)

    def _space(self) -> str | None:
        for space in (SPACE_REPLACEMENT, " "):
            if self._ok(space):
                return space
        return None

    def _kana(self, reading: str) -> str:
        kana = normalize_kana(reading)
        if self.is_safe(kana):
            return kana
        # A reading is kana, but guarantee the target anyway: map what is left, 〓 otherwise.
        plain = get_normalizer(self.target, "geta", None, self.rules)
        return plain.normalize(kana)

    def _resolve(self, unit: str) -> _Resolution:
        res = self._cache.get(unit)
        if res is None:
            res = self._compute(unit)
            with self._lock:
                if len(self._cache) >= _CACHE_LIMIT:
                    self._cache.clear()
                self._cache[unit] = res
        return res

    def _done(self, unit: str, steps: list[Step], mj: str | None,
              alternatives: tuple[str, ...] = ()) -> _Resolution:
        last = steps[-1]
        return _Resolution(last.replacement, last.rule, last.source, mj, alternatives,
                           tuple(steps), False)

    def _fallback(self, unit: str, rule: str, reason: str, steps: list[Step],
                  mj: str | None) -> _Resolution:
        replacement = unit if self.fallback == "keep" else self.fallback_char
        source = f"fallback {self.fallback}" + (
            f" ({self.fallback_char})" if self.fallback != "keep" else "")
        steps = [*steps, Step(rule, steps[-1].replacement if steps else unit, replacement, source)]
        return _Resolution(replacement, rule, source, mj, (), tuple(steps), True, reason)

    def _compute(self, unit: str) -> _Resolution:
        steps: list[Step] = []
        # 0. invisible characters and odd spaces
        kind = classify(unit[0])
        if kind == REMOVE:
            return self._done(unit, [Step("invisible-removed", unit, "",
                                          RULE_SOURCES["invisible-removed"])], None)
        if kind == SPACE or unit in _SPACES:  # an odd space, or a space the target lacks
            space = self._space()
            if space is None:
                return self._fallback(unit, "no-mapping", "the target has no space", steps, None)
            return self._done(unit, [Step("space-normalized", unit, space,
                                          RULE_SOURCES["space-normalized"])], None)
        cur = unit
        mj: str | None = None
        # 1. private-use gaiji
        if is_private_use(cur[0]):
            entry = self.gaiji.get(cur[0])
            if entry is None:
                return self._fallback(unit, "unmapped-gaiji",
                                      "private-use character with no gaiji table entry", steps,
                                      None)
            steps.append(Step("gaiji-table", cur, entry.char, entry.source))
            cur, mj = entry.char, entry.mj
            if len(unit) == 2 and len(cur) == 1:
                cur += unit[1]  # keep the selector the gaiji carried; step 2 judges it
            if self._ok(cur):
                return self._done(unit, steps, mj)
        # 2. variation sequences
        mj_ids = mj_ids_for_unit(cur)
        if len(cur) == 2 and is_variation_selector(cur[1]):
            if mj_ids:  # a Moji_Joho IVS: its MJ glyph decides (step 4), like 增+IVS -> 増
                mj = mj_ids[0]
            else:
                svs = _tables.svs_map().get(cur)
                if svs is not None:
                    steps.append(Step("svs-to-compat", cur, svs, RULE_SOURCES["svs-to-compat"]))
                    cur = svs
                else:
                    steps.append(Step("variation-selector-stripped", cur, cur[0],
                                      RULE_SOURCES["variation-selector-stripped"]))
                    cur = cur[0]
                if self._ok(cur):
                    return self._done(unit, steps, mj)
                mj_ids = mj_ids_for_unit(cur)
        if mj is None and mj_ids:
            mj = mj_ids[0]
        # 2b. kana with a voiced mark: composed (タ+U+3099 -> ダ), else base + standalone mark
        kana = self._kana_marks(cur)
        if kana is not None:
            steps.append(kana)
            return self._done(unit, steps, mj)
        # 3. compatibility ideographs
        if len(cur) == 1 and _is_compat_ideograph(cur):
            unified = unicodedata.normalize("NFC", cur)
            if unified != cur:
                steps.append(Step("compat-to-unified", cur, unified,
                                  RULE_SOURCES["compat-to-unified"]))
                cur = unified
                if self._ok(cur):
                    return self._done(unit, steps, mj)
                mj_ids = mj_ids + tuple(i for i in mj_ids_for_unit(cur) if i not in mj_ids)
        # 4. variant mapping, ranked; a second hop when no direct candidate is in the target
        ranked = self._candidates(cur, mj_ids)
        inside = [c for c in ranked if self._ok(c[0])]
        if inside:
            char, rule, from_mj = inside[0]
            steps.append(Step(rule, cur, char, _source(rule)))
            alternatives = tuple(c[0] for c in inside[1:])
            return self._done(unit, steps, from_mj or mj, alternatives)
        for mid, rule1, from_mj in ranked:
            second = [c for c in self._candidates(mid, mj_ids_for_unit(mid)) if self._ok(c[0])]
            if second:
                char, rule2, _ = second[0]
                steps.append(Step(rule1, cur, mid, _source(rule1)))
                steps.append(Step(rule2, mid, char, _source(rule2)))
                return self._done(unit, steps, from_mj or mj, tuple(c[0] for c in second[1:]))
        if len(cur) == 2 and is_variation_selector(cur[1]) and self._ok(cur[0]):
            steps.append(Step("variation-selector-stripped", cur, cur[0],
                              RULE_SOURCES["variation-selector-stripped"]))
            return self._done(unit, steps, mj)
        # 5. fallback
        return self._fallback(unit, "no-mapping",
                              f"no allowed rule maps it into {self.target.name}", steps, mj)

    def _kana_marks(self, cur: str) -> Step | None:
        """Compose a kana and its combining voiced mark, or spell it with the standalone mark."""
        if len(cur) == 2 and cur[1] in _MARKS:
            composed = unicodedata.normalize("NFC", cur)
            if len(composed) == 1 and self._ok(composed):
                return Step("kana-composed", cur, composed, RULE_SOURCES["kana-composed"])
            base, mark = cur[0], _MARKS[cur[1]]
        elif len(cur) == 1 and "\u3041" <= cur <= "\u30ff":
            decomposed = unicodedata.normalize("NFD", cur)
            if len(decomposed) != 2 or decomposed[1] not in _MARKS:
                return None
            base, mark = decomposed[0], _MARKS[decomposed[1]]
        else:
            return None
        if self._ok(base) and self._ok(mark):
            return Step("kana-mark-separated", cur, base + mark,
                        RULE_SOURCES["kana-mark-separated"])
        return None

    def _candidates(self, char: str, mj_ids: tuple[str, ...]) -> list[tuple[str, str, str | None]]:
        """Every allowed replacement of ``char`` (other than itself), best first, no repeats."""
        scored = []
        if "override" in self._rule_set:
            ov = _tables.overrides().get(char)
            if ov is not None:
                scored.append(((0, 0, 0, 0), ov[0], "override", None))
        for order, mj in enumerate(mj_ids):
            for e in _tables.shrink_for_mj(mj):
                if e.rule in self._rule_set:
                    key = (_RANK[e.rule], e.rank or 0, e.hops or 0, order)
                    scored.append((key, e.target, e.rule, mj))
        if "same-jis-code" in self._rule_set:
            for alt, _code in _tables.jis_equivalents().get(char, ()):
                scored.append(((_RANK["same-jis-code"], 0, 0, 0), alt, "same-jis-code", None))
        if "nta-jis-shrink" in self._rule_set and len(char) == 1:
            nta = _tables.nta_map().get(char)
            if nta is not None:
                scored.append(((_RANK["nta-jis-shrink"], 0, 0, 0), nta, "nta-jis-shrink", None))
        scored.sort(key=lambda s: s[0])
        seen = {char}
        out = []
        for _, target, rule, mj in scored:
            if target not in seen:
                seen.add(target)
                out.append((target, rule, mj))
        return out


def _is_compat_ideograph(ch: str) -> bool:
    cp = ord(ch)
    return 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F


def _source(rule: str) -> str:
    return RULE_SOURCES.get(rule, rule)


@lru_cache(maxsize=64)
def _cached(target: str | Target, fallback: str, gaiji: tuple[str, ...] | None,
            rules: tuple[str, ...]) -> Normalizer:
    return Normalizer(target, fallback=fallback, gaiji=list(gaiji) if gaiji else None, rules=rules)


def get_normalizer(
    target: str | Path | Target = "jisx0208",
    fallback: str = "geta",
    gaiji: str | Path | Iterable[str | Path] | None = None,
    rules: Iterable[str] | str | None = None,
) -> Normalizer:
    """A cached ``Normalizer`` for these options (built once, then reused)."""
    if isinstance(gaiji, (str, Path)):
        gaiji = [gaiji]
    key_gaiji = tuple(str(Path(g).resolve()) for g in gaiji) if gaiji else None
    key_target = target if isinstance(target, Target) else str(target)
    return _cached(key_target, fallback, key_gaiji, resolve_rules(rules))


def normalize(text: str, target: str | Path | Target = "jisx0208", *, reading: str | None = None,
              **options) -> str:
    """Bring ``text`` into ``target``; options as for :class:`Normalizer`."""
    return get_normalizer(target, **options).normalize(text, reading=reading)


def explain(text: str, target: str | Path | Target = "jisx0208", *, reading: str | None = None,
            **options) -> Result:
    """``normalize`` plus the changes that made the result; options as for :class:`Normalizer`."""
    return get_normalizer(target, **options).explain(text, reading=reading)
