"""The normalization plan: make a name render in a target, changing as little as possible.

For every unit (a character, or a base with its variation selector or combining kana mark) that
the target cannot take, the steps of ``mojinorm.steps.PIPELINE`` run in order:

0. invisible characters are removed and odd spaces become U+3000 (see ``mojinorm.invisible``);
1. private-use gaiji are resolved through the user's gaiji tables (``unmapped-gaiji`` otherwise);
2. variation sequences: the base of a Moji_Joho IVS is the character when it renders, else the
   IVS glyph's own rows decide in step 4; an SVS becomes the compatibility ideograph it stands
   for; any other selector is stripped; a kana with a combining voiced mark is composed, or
   written with the standalone mark when the target lacks the composed kana;
3. a compatibility ideograph the target lacks becomes its unified ideograph;
4. variant mapping by evidence: the character's own glyph first, the ranked rules of
   ``mojinorm.rules``, ties between different characters broken only by corroboration, else
   ``ambiguous``; a second hop when no direct candidate is inside;
5. fallback: ``geta`` 〓, ``black-circle`` ●, ``kana`` (the whole name becomes its reading),
   ``keep``, ``error`` or any single character inside the target.

Units already inside the target are never touched.  Every change says which rule made it and from
which table, so replaying ``Result.changes`` on the input gives ``Result.text``.  ``explain`` is
the reference; ``normalize`` is an accelerator of it, checked by a property test.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any, NamedTuple

from . import _compiled, _tables
from ._schema import RESOLVED_TARGETS
from .errors import DataIntegrityError, OptionError, UnmappableCharacter
from .gaiji import GaijiTable, is_private_use, load_gaiji
from .invisible import classify
from .rules import DEFAULT_RULES, LOSSLESS_RULES, resolve_rules
from .steps import Context, Step, run
from .targets import Target, builtin_name, get_target
from .units import KANA_MARK_CLASS, VARIATION_SELECTOR_CLASS, iter_units

if TYPE_CHECKING:
    from pathlib import Path  # loaded where a file is read, not at import

__all__ = [
    "AMBIGUITY_MODES", "Change", "FEW_UNITS", "Normalizer", "Result", "Step", "UnitOutcome",
    "UnmappableCharacter", "FALLBACKS", "is_safe", "normalize", "normalize_many", "explain",
    "get_normalizer", "compile_resolved", "flags_one_by_one", "kana_change", "show",
    "show_char",
]

#: Named fallbacks; any single character inside the target is accepted too.
FALLBACKS: dict[str, str | None] = {
    "geta": "\u3013",  # 〓 GETA MARK: the conventional "character missing" mark
    "black-circle": "\u25cf",  # ● what the receiving systems show; simulates them
    "kana": None,  # whole name replaced by its normalized reading
    "keep": None,  # leave the unit as it is (output may be outside the target)
    "error": None,  # raise UnmappableCharacter
}

#: ``ambiguity`` option: what a tie between different characters with no corroboration gives.
AMBIGUITY_MODES = ("fallback", "first")
_CACHE_LIMIT = 200_000  # distinct units remembered per normalizer
#: Units worked out before a plan reads its target's compiled decisions (a name or two never
#: load the table; a file does, once).
_LIVE_BEFORE_COMPILED = 8
#: A list of at least this many names reads the compiled decisions from its first unit (it
#: meets many units: the table, a few milliseconds, costs less than eight pipeline runs).
_MANY_BEFORE_COMPILED = 1000


@dataclass(frozen=True, slots=True)  # slots: a long text makes one per changed unit
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
        return f"{show(self.original)}→{show(shown)} {chain}"


def kana_change(reading: str, hiragana: bool = False) -> tuple[str, str]:
    """A reading field through :func:`normalize_kana`: ``(text, change text)``, the change
    text ``ﾀｶﾊｼ→タカハシ kana-normalized``, empty when nothing changed."""
    from .kana import normalize_kana  # its tables are built on first use, not at import

    text = normalize_kana(reading, hiragana=hiragana)
    if text == reading:
        return reading, ""
    return text, f"{show(reading)}→{show(text) if text else '(empty)'} kana-normalized"


def show(s: str) -> str:
    """Text for people: invisible, private-use and selector code points written as <U+XXXX>."""
    return "".join(map(show_char, s))


def show_char(c: str) -> str:
    """:func:`show` of one code point."""
    return f"<U+{ord(c):04X}>" if is_private_use(c) or classify(c) else c


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


class UnitOutcome(NamedTuple):
    """What a plan does to one unit, without the steps' sources: what the bulk paths (the
    column kernel, ``normalize``, file scans) need, answered from the compiled decisions of a
    built-in target when the options are the defaults."""

    unit: str
    replacement: str
    rules: tuple[str, ...]  #: the rules of the steps, in order (the last one decided)
    fallback: bool
    review: bool
    mj: str | None = None
    alternatives: tuple[str, ...] = ()

    @property
    def rule(self) -> str:
        return self.rules[-1]

    @property
    def change_text(self) -> str:
        """``str(Change)`` of the unit's change."""
        shown = self.replacement if self.replacement else "(removed)"
        return f"{show(self.unit)}→{show(shown)} {'>'.join(self.rules)}"


#: The first columns of the compiled decisions, as ``Normalizer._decision`` and the compiled
#: guard (``_speedups.c``) read them: a change of ``_schema.RESOLVED`` fails loudly.
_ROW_COLUMNS = ("unit", "replacement", "rules", "flags")

#: What joins the code point before it into one unit (units.iter_units).
_JOINS = frozenset(chr(c) for c in [*range(0xFE00, 0xFE10), *range(0xE0100, 0xE01F0),
                                     0x3099, 0x309A])


class _NeedsReference(Exception):
    """The fast path met a unit whose answer depends on the whole text (a target sequence that
    spans units, or a fallback the text-level policy decides): ``explain`` takes over."""


@dataclass(frozen=True)
class _Resolution:
    replacement: str
    rule: str
    source: str
    mj: str | None
    alternatives: tuple[str, ...]
    steps: tuple[Step, ...]
    fallback: bool
    review: bool
    reason: str = ""


def _explain_flags(found: UnitOutcome, fallback: str) -> int:
    """The flags of ``_explain_list`` for one unit's outcome (see ``_explain_unit``)."""
    return (1 if found.review else 0) | (2 if found.fallback else 0) \
        | (4 if found.fallback and fallback == "error" else 0)


class _PythonGuard:
    """What the compiled base of :class:`Normalizer` (``_speedups.NameGuard``) does, where it
    is not built or turned off: every name goes to the Python path."""

    def _guard(self, safe: bytes, known: dict[str, str], private_use: str | None,
               rows: bytes | None, fallback: str | None) -> None:
        """The compiled guard reads these (see ``_speedups.c``); nothing to set here."""

    def _decide_unit(self, unit: str) -> str | None:
        raise NotImplementedError

    def _normalize_python(self, text: str, *, reading: str | None = None) -> str:
        raise NotImplementedError

    def _normalize_list_python(self, texts: list[str]) -> list[str]:
        raise NotImplementedError

    def _is_safe_python(self, text: str) -> bool:
        raise NotImplementedError

    def _explain_list(self, texts: list[str], units: dict[str, tuple[str, str, int]],
                      private_use: tuple[str, str, int] | None
                      ) -> tuple[list[str], list[str], bytes]:
        """Only the compiled guard explains a list (``column`` asks it only when built)."""
        raise NotImplementedError

    def _normalize_arrow(self, stream: Any, threads: int) -> tuple[Any, int] | None:
        """Only the compiled guard normalizes a column in place (``column`` asks it only when
        built)."""
        raise NotImplementedError

    def _compiled_lines(self, units: list[str]) -> tuple[bytes, list[int]] | None:
        """Only the compiled guard reads the compiled decisions' lines (``column`` asks it
        only when built)."""
        raise NotImplementedError

    def is_safe(self, text: str) -> bool:
        """True when ``normalize`` would return ``text`` unchanged."""
        return self._is_safe_python(text)

    def normalize(self, text: str, *, reading: str | None = None) -> str:
        """Return ``text`` brought into the target (``reading`` is used by fallback ``kana``).

        An accelerator of :meth:`explain` (the reference): one C-level substitution over the
        text, answering recurring units from a dict; anything that depends on more than the
        unit is handed to ``explain``.  A property test proves the two agree.
        """
        return self._normalize_python(text, reading=reading)

    def _normalize_list(self, texts: list[str]) -> list[str]:
        """``[self.normalize(t) for t in texts]``."""
        return self._normalize_list_python(texts)


def _name_guard() -> type[_PythonGuard]:
    """The compiled guard when it is used, else its Python equivalent."""
    if _compiled.SPEEDUPS and _compiled.MODULE is not None:
        guard: type[_PythonGuard] = _compiled.MODULE.NameGuard
        return guard
    return _PythonGuard


if TYPE_CHECKING:
    _NameGuard = _PythonGuard
else:
    #: The base of Normalizer: ``normalize`` in C when the compiled module is used.  It returns
    #: a name every code point of which the target shows as it is, substitutes the units
    #: decided before, and hands any other name to ``Normalizer._normalize_python``.
    _NameGuard = _name_guard()


class Normalizer(_NameGuard):
    """A compiled plan that brings text into one target.  Reusable and thread-safe.

    Parameters
    ----------
    target:
        a built-in target name (``mojinorm.targets()``), a YAML profile path or a ``Target``.
    fallback:
        what replaces a unit no allowed rule can map (default: the profile's ``fallback``, else
        ``"geta"``): ``"geta"`` (〓), ``"black-circle"``
        (●), ``"kana"`` (the whole name becomes ``reading``), ``"keep"``, ``"error"``, or any
        single character inside the target.
    gaiji:
        one or more gaiji table paths (or a loaded ``GaijiTable``) for private-use characters.
    rules:
        variant rules allowed, an iterable of rule ids or ``"default"``/``"all"``; default: every
        rule in ``mojinorm.rules.RANKING`` except ``dictionary-related``.
    ambiguity:
        what to do when the deciding rule offers *different* characters at the same rank and no
        independent source supports one: ``"fallback"`` (default: the unit is ``ambiguous``, the
        fallback replaces it, every candidate is listed) or ``"first"`` (take the first in table
        order: a guess, marked ``review``; nothing else changes).
    """

    def __init__(
        self,
        target: str | Path | Target = "jisx0208",
        *,
        fallback: str | None = None,
        gaiji: str | Path | Iterable[str | Path] | GaijiTable | None = None,
        rules: Iterable[str] | str | None = None,
        ambiguity: str = "fallback",
    ) -> None:
        self.target = get_target(target)
        # None: the profile's own fallback if it names one, else geta
        fallback = fallback or self.target.fallback or "geta"
        self.rules = resolve_rules(rules)
        self.gaiji = gaiji if isinstance(gaiji, GaijiTable) else load_gaiji(gaiji)
        if ambiguity not in AMBIGUITY_MODES:
            raise OptionError(f"unknown ambiguity {ambiguity!r}; use one of "
                              f"{', '.join(AMBIGUITY_MODES)}")
        self.ambiguity = ambiguity
        self._visible = self.target.visible_chars
        self._sequences = self.target.sequences
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
        # Only a fallback that writes its character needs that character inside the target.
        if self.fallback not in ("keep", "error") and not self._ok(self.fallback_char):
            raise OptionError(
                f"fallback character {self.fallback_char!r} is not inside target "
                f"{self.target.name!r}"
            )
        self._context = Context(self._ok, self._ok_text, frozenset(self.rules), self.gaiji,
                                ambiguity, self.target.name)
        self._cache: dict[str, _Resolution] = {}
        self._outcomes: dict[str, UnitOutcome] = {}
        # With the default options, a built-in target's decisions are compiled: after a few
        # units (a file, a column) they are read from that table instead of worked out.
        builtin = self.target.name in RESOLVED_TARGETS and \
            get_target(self.target.name) is self.target
        self._compiled_name = self.target.name if (
            builtin and self.rules == DEFAULT_RULES and ambiguity == "fallback") else None
        self._live = 0
        # unit -> replacement for the substitution callback; only units whose answer no context
        # or text-level policy can change are kept
        self._known: dict[str, str] = {}
        self._lock = threading.Lock()
        self._guard_reads_compiled = False
        if _NameGuard is not _PythonGuard:
            self._set_guard(None)

    def __repr__(self) -> str:
        return (f"Normalizer(target={self.target.name!r}, fallback={self.fallback!r}, "
                f"rules={len(self.rules)}, gaiji={len(self.gaiji)}, "
                f"ambiguity={self.ambiguity!r})")

    @property
    def compiled_target(self) -> str | None:
        """The built-in target whose compiled decisions answer for this plan (the default
        options on a built-in target), or None."""
        return self._compiled_name

    @cached_property
    def _substitute(self) -> Callable[[Callable[[re.Match[str]], str], str], str]:
        """``sub`` of the units that need a look, as iter_units cuts them: a code point
        outside the visible target with its selector, any base with a selector, or a selector
        on its own.  Compiled on first need (a scan on the column kernel never needs it)."""
        vs = VARIATION_SELECTOR_CLASS
        joins = vs + KANA_MARK_CLASS
        return re.compile(
            f"[^{self.target.visible_class}{vs}][{joins}]?|[^{vs}][{joins}]|[{vs}]").sub

    # ------------------------------------------------------------------ public

    def _is_safe_python(self, text: str) -> bool:
        """:meth:`is_safe` in Python."""
        return self.target.is_clean(text)

    @cached_property
    def _search(self) -> Callable[..., re.Match[str] | None]:
        """The target's guard ``search`` (compiled on first need: the compiled guard answers
        most names without it)."""
        return self.target.visible_guard.search

    def _normalize_python(self, text: str, *, reading: str | None = None) -> str:
        """:meth:`normalize` in Python: one C-level substitution over the text, answering
        recurring units from a dict; anything that depends on more than the unit is handed to
        ``explain``."""
        if self._search(text) is None:
            return text
        try:
            return self._substitute(self._replace, text)
        except _NeedsReference:
            return self.explain(text, reading=reading).text

    def normalize_many(self, texts: Iterable[str], *,
                       readings: Iterable[str | None] | None = None) -> list[str]:
        """``[normalize(t) for t in texts]`` (``readings``: one per text, for fallback
        ``kana``), for a list of names in one call."""
        out = texts if isinstance(texts, list) else list(texts)  # neither path changes it
        if len(out) >= _MANY_BEFORE_COMPILED:
            self._read_compiled_decisions()
        if readings is None:
            return self._normalize_list(out)
        read = list(readings)
        if len(read) != len(out):
            raise OptionError(f"{len(read)} readings for {len(out)} texts")
        return [self.normalize(t, reading=r) for t, r in zip(out, read, strict=True)]

    def _normalize_list_python(self, texts: list[str]) -> list[str]:
        """:meth:`normalize_many` in Python: one guard search runs over all of the texts
        joined, and the texts it stops in are substituted together in one pass."""
        out = list(texts)
        joined, sep = self._joined(out)
        if sep is None:
            return [self.normalize(t) for t in out]
        search = self._search
        unsafe: list[int] = []
        pos = index = 0
        while (m := search(joined, pos)) is not None:
            at = m.start()
            index += joined.count(sep, pos, at)  # the text the unsafe unit is in
            unsafe.append(index)
            pos = joined.find(sep, at) + 1
            if pos == 0:
                break
            index += 1
        if not unsafe:
            return out
        done = self._substitute_together([out[i] for i in unsafe], sep)
        if done is None:
            for i in unsafe:
                out[i] = self.normalize(out[i])
        else:
            for i, text in zip(unsafe, done, strict=True):
                out[i] = text
        return out

    def _substitute_together(self, texts: list[str], sep: str) -> list[str] | None:
        """:meth:`normalize` of each of ``texts`` (all unsafe, none holding ``sep``) from one
        substitution over them joined; None when that would not be the same as one by one (a
        text opens with a selector or mark, which would join ``sep``; a unit needs its text)."""
        if any(t[0] in _JOINS for t in texts):
            return None
        try:
            done = self._substitute(self._replace, sep.join(texts)).split(sep)
        except _NeedsReference:
            return None
        return done if len(done) == len(texts) else None

    #: Joiners for :meth:`normalize_many`: rare in names, inside most targets.
    _JOINERS = ("\u00b6", "\u2021", "\u266a", "\u222c", "\u203b", "\u3012", "\n")

    def _joined(self, texts: list[str]) -> tuple[str, str | None]:
        """``texts`` joined by a character inside the target that none of them holds (the
        count of joiners then says which text a position is in), or ``("", None)``."""
        for sep in self._JOINERS:
            if self._search(sep) is not None:
                continue
            joined = sep.join(texts)
            if joined.count(sep) == len(texts) - 1:
                return joined, sep
        return "", None

    def explain(self, text: str, *, reading: str | None = None) -> Result:
        """Like ``normalize`` but also return every change with its rule and source."""
        out = []
        changes = []
        pos = 0  # the text up to here is in out
        for index, unit in self.target.iter_unclean(text):
            res = self._resolve(unit)
            # the text between changes is copied as one slice, never unit by unit
            out.append(text[pos:index])
            out.append(res.replacement)
            pos = index + len(unit)
            changes.append(Change(index, unit, res.replacement, res.rule, res.source, res.mj,
                                  res.alternatives, res.steps, res.fallback, res.review))
        if not changes:
            return Result(text)
        out.append(text[pos:])
        return self._text_policy(text, "".join(out), tuple(changes), reading)

    def _text_policy(self, text: str, out: str, changes: tuple[Change, ...],
                     reading: str | None) -> Result:
        """The fallbacks that act on the whole text: ``error`` raises, ``kana`` with a reading
        replaces the whole name.  The only place these two are decided."""
        first = next((c for c in changes if c.fallback), None)
        if first is not None and self.fallback == "error":
            reason = self._resolve(first.original).reason
            raise UnmappableCharacter(first.original, first.index, text, self.target.name,
                                      reason)
        if first is not None and self.fallback == "kana" and reading and reading.strip():
            kana = self._kana(reading)
            source = "reading given by the caller"
            step = Step("fallback-kana", text, kana, source)
            return Result(kana, (Change(0, text, kana, "fallback-kana", source, first.mj, (),
                                        (step,), True, True),))
        return Result(out, changes)

    def outcome(self, unit: str) -> UnitOutcome:
        """What the plan does to ``unit`` (one unit that is outside the target or invisible).

        Never raises for fallback ``error``: ``UnitOutcome.fallback`` says the fallback decides.
        """
        found = self._outcomes.get(unit)
        if found is not None:
            return found
        if self._unmapped_private_use(unit):
            return self._remember(UnitOutcome(
                unit, self._fallback_text(unit),
                ("unmapped-gaiji",), True, True, None, ()))
        row = None
        if self._compiled_name is not None:
            self._live += 1
            if self._live > _LIVE_BEFORE_COMPILED:
                row = self.compiled_row(unit)
        if row is not None:
            replacement, rules, fallback, review, mj, alternatives = row
            found = UnitOutcome(unit, replacement, tuple(rules.split(">")), fallback, review,
                                mj, alternatives)
        else:
            res = self._resolve(unit)
            found = UnitOutcome(unit, res.replacement, tuple(s.rule for s in res.steps),
                                res.fallback, res.review, res.mj, res.alternatives)
        return self._remember(found)

    def remembered(self, unit: str) -> UnitOutcome | None:
        """:meth:`outcome` of ``unit`` when it was worked out before and is still kept (None
        otherwise): a scan's report reads back what its counting decided one unit at a
        time."""
        return self._outcomes.get(unit)

    def compiled_row(self, unit: str
                     ) -> tuple[str, str, bool, bool, str | None, tuple[str, ...]] | None:
        """``unit``'s compiled decision, when the built-in target's table has it (see
        :attr:`compiled_target`): ``(replacement, rules joined by ">", fallback, review, MJ id,
        alternatives)``, the replacement of a fallback being this plan's."""
        if self._compiled_name is None:
            return None
        row = self._compiled_line(unit) if self._guard_reads_compiled \
            else self._compiled_rows.get(unit)
        if row is None:
            return None
        replacement, rules, flags, mj, alternatives = row.split("\t")
        fallback = "F" in flags
        if fallback:
            replacement = self._fallback_text(unit)
        return (replacement, rules, fallback, "R" in flags, mj or None,
                tuple(alternatives.split("|")) if alternatives else ())

    def _compiled_line(self, unit: str) -> str | None:
        """``_compiled_rows.get(unit)`` read through the compiled guard's hash index of the
        same table (about 1.5 µs where the binary search takes 18: a scan's last new units
        come a few per batch and are decided one by one)."""
        read = self._compiled_lines([unit])
        if read is None:  # the guard reads no table after all
            row: str | None = self._compiled_rows.get(unit)
            return row
        if not read[1]:
            return None
        lines = read[0]
        start = lines.index(b"\n") + 1 + len(unit.encode("utf-8")) + 1  # the header, the key
        return lines[start:len(lines) - 1].decode("utf-8")

    def _remember(self, found: UnitOutcome) -> UnitOutcome:
        if len(self._outcomes) >= _CACHE_LIMIT:
            self._outcomes.clear()
        self._outcomes[found.unit] = found
        return found

    # ------------------------------------------------------------------ fast path

    def _replace(self, m: re.Match[str]) -> str:
        replacement = self._known.get(m.group())
        if replacement is None:
            return self._replace_first_time(m)
        return replacement

    def _replace_first_time(self, m: re.Match[str]) -> str:
        unit = m.group()
        index = m.start()
        if self._sequences:
            if index and m.string[index - 1] + unit[0] in self._sequences:
                raise _NeedsReference  # æ + U+0300: pairing depends on what came before
            if unit in self._sequences:
                return unit  # a variation sequence the target has (Moji_Joho IVS in mj)
        if not self._sequences:
            replacement = self._decide_unit(unit)
            if replacement is None:
                raise _NeedsReference
            return replacement
        replacement, fallback = self._decision(unit)
        if fallback and self.fallback in ("error", "kana"):
            raise _NeedsReference
        return replacement

    def _set_guard(self, rows: bytes | None) -> None:
        """Give the compiled guard what it reads: the target's code points, the units decided
        so far, the compiled decisions' table (``rows``, its bytes) once it is read, and what the
        fallback writes when neither the text nor the unit decides it (not ``error``,
        ``kana`` or ``keep``): for a compiled fallback row, and for a private-use code when no
        gaiji table is given and the target has no multi-code-point units (a file brings
        thousands of such codes, each once)."""
        writes = None if self.fallback in ("error", "kana", "keep") else self.fallback_char
        private_use = None if len(self.gaiji) or self._sequences else writes
        self._guard(_compiled.code_point_bitmap(self._visible), self._known, private_use, rows,
                    writes)

    def _decide_unit(self, unit: str) -> str | None:
        """The replacement of ``unit`` (cut as the substitution cuts units) when nothing but
        the unit decides it, remembered in ``_known``; None when the text decides (a target
        with multi-code-point characters, fallback ``error`` or ``kana``).  The compiled guard
        calls it for each unit it meets first."""
        if self._sequences:
            return None
        replacement, fallback = self._decision(unit)
        if self._live >= _LIVE_BEFORE_COMPILED:
            self._read_compiled_decisions()
        if fallback and self.fallback in ("error", "kana"):
            return None
        if len(self._known) < _CACHE_LIMIT:
            self._known[unit] = replacement
        return replacement

    def _read_compiled_decisions(self) -> None:
        """Read the target's compiled decisions from the next unit on (where the options
        allow them), the compiled guard too: a list of names meets thousands of units."""
        self._live = max(self._live, _LIVE_BEFORE_COMPILED)
        if not self._guard_reads_compiled and self._compiled_name is not None \
                and _NameGuard is not _PythonGuard:
            self._guard_reads_compiled = True
            self._set_guard(self._compiled_rows.data)

    def _explain_unit(self, unit: str) -> tuple[str, str, int]:
        """What the compiled guard's ``_explain_list`` writes for a unit it cannot answer
        itself: ``(replacement, change text, flags)``, the change text ``str(Change)`` ("" for a
        unit the target keeps), the flags 1 (review), 2 (the fallback replaced it) and 4 (the
        name needs :meth:`explain`: fallback ``error`` raises for the unit)."""
        if unit in self._visible or unit in self._sequences:
            return unit, "", 0
        found = self.outcome(unit)
        return found.replacement, found.change_text, _explain_flags(found, self.fallback)

    @cached_property
    def _private_use_row(self) -> tuple[str, str, int] | None:
        """``(replacement, rules, flags)`` of every private-use unit where the compiled guard
        writes them without asking (no gaiji table, a target without multi-code-point
        characters, a fallback that writes one character; see :meth:`_set_guard`): the
        outcome of one such code.  None otherwise."""
        if self.fallback in ("error", "kana", "keep") or len(self.gaiji) or self._sequences:
            return None
        for code in map(chr, range(0xF0000, 0xF0010)):  # plane 15: private use
            if self._unmapped_private_use(code):
                found = self.outcome(code)
                return found.replacement, ">".join(found.rules), \
                    _explain_flags(found, self.fallback)
        return None

    def _decision(self, unit: str) -> tuple[str, bool]:
        """``(replacement, used the fallback)`` of ``unit``: what :meth:`outcome` says, without
        building the outcome when a cheaper source answers (a file meets thousands of distinct
        units once each)."""
        found = self._outcomes.get(unit)
        if found is not None:
            return found.replacement, found.fallback
        if self._live >= _LIVE_BEFORE_COMPILED and self._compiled_name is not None:
            row = self._compiled_rows.get(unit)
            if row is not None:
                replacement, _, flags, _ = row.split("\t", 3)
                if "F" in flags:
                    return self._fallback_text(unit), True
                return replacement, False
        if self._unmapped_private_use(unit):
            return self._fallback_text(unit), True
        res = self.outcome(unit)
        return res.replacement, res.fallback

    @cached_property
    def _compiled_rows(self) -> _tables.Resolved:
        assert self._compiled_name is not None
        if _tables.RESOLVED_COLUMNS[:4] != _ROW_COLUMNS:
            raise DataIntegrityError(f"the compiled decisions' columns are "
                                     f"{_tables.RESOLVED_COLUMNS}; this mojinorm reads "
                                     f"{_ROW_COLUMNS} first")
        return _tables.resolved(self._compiled_name)

    def _unmapped_private_use(self, unit: str) -> bool:
        """``unit`` is a private-use code no gaiji table defines: resolve_gaiji stops it and
        the fallback decides (a file meets thousands of them, each once: the pipeline's answer
        without running it)."""
        return len(unit) == 1 and is_private_use(unit) and self.gaiji.get(unit) is None \
            and unit not in self._visible

    def _fallback_text(self, unit: str) -> str:
        """What the fallback writes for ``unit``."""
        return unit if self.fallback == "keep" else self.fallback_char

    # ------------------------------------------------------------------ plan

    def _ok(self, unit: str) -> bool:
        if len(unit) == 1:
            return unit in self._visible
        return unit in self._sequences

    def _ok_text(self, text: str) -> bool:
        return all(self._ok(u) for _, u in iter_units(text, self._sequences))

    def _kana(self, reading: str) -> str:
        from .kana import normalize_kana

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

    def _compute(self, unit: str) -> _Resolution:
        w = run(self._context, unit)
        if w.stop is None:
            last = w.steps[-1]
            return _Resolution(last.replacement, last.rule, last.source, w.mj, w.alternatives,
                               tuple(w.steps), False, w.review)
        rule, reason = w.stop
        replacement = self._fallback_text(unit)
        source = f"fallback {self.fallback}" + (
            f" ({self.fallback_char})" if self.fallback != "keep" else "")
        before = w.steps[-1].replacement if w.steps else unit
        steps = (*w.steps, Step(rule, before, replacement, source))
        return _Resolution(replacement, rule, source, w.mj, w.alternatives, steps, True, True,
                           reason)


@lru_cache(maxsize=64)
def _cached(target: str | Target, fallback: str | None, gaiji: tuple[str, ...] | None,
            rules: tuple[str, ...], ambiguity: str) -> Normalizer:
    return Normalizer(target, fallback=fallback, gaiji=list(gaiji) if gaiji else None, rules=rules,
                      ambiguity=ambiguity)


def get_normalizer(
    target: str | Path | Target = "jisx0208",
    fallback: str | None = None,
    gaiji: str | Path | Iterable[str | Path] | None = None,
    rules: Iterable[str] | str | None = None,
    ambiguity: str = "fallback",
) -> Normalizer:
    """A cached ``Normalizer`` for these options (built once, then reused)."""
    if isinstance(gaiji, (str, os.PathLike)):
        gaiji = [gaiji]
    key_gaiji = tuple(os.path.realpath(g) for g in gaiji) if gaiji else None
    key_target = target if isinstance(target, Target) else str(target)
    return _cached(key_target, fallback, key_gaiji, resolve_rules(rules), ambiguity)


#: The plans of the flat functions called without options, by target name: one dict lookup
#: per name instead of ``get_normalizer``'s canonical key (about 0.4 µs a call).
_PLAIN_PLANS: dict[str | Path | Target, Normalizer] = {}


def _plan(target: str | Path | Target, options: dict[str, Any]) -> Normalizer:
    """``get_normalizer(target, **options)``, the common call answered from a dict."""
    if options or not isinstance(target, str):
        return get_normalizer(target, **options)
    plan = _PLAIN_PLANS.get(target)
    if plan is None:
        plan = get_normalizer(target)
        if len(_PLAIN_PLANS) < 64:
            _PLAIN_PLANS[target] = plan
    return plan


def normalize(text: str, target: str | Path | Target = "jisx0208", *, reading: str | None = None,
              **options: Any) -> str:
    """Bring ``text`` into ``target``; options as for :class:`Normalizer`."""
    plan = None if options else _PLAIN_PLANS.get(target)
    return (plan or _plan(target, options)).normalize(text, reading=reading)


def is_safe(text: str, target: str | Path | Target = "jisx0208") -> bool:
    """True iff ``normalize(text, target)`` returns ``text``: every unit renders in ``target``
    and none is an invisible character or an odd space that a name never keeps."""
    plan = _PLAIN_PLANS.get(target)
    if plan is None:
        if not (isinstance(target, str) and builtin_name(target)):
            return get_target(target).is_clean(text)  # a profile: no plan needed
        plan = _plan(target, {})
    return plan.is_safe(text)


def normalize_many(texts: Iterable[str], target: str | Path | Target = "jisx0208", *,
                   readings: Iterable[str | None] | None = None, **options: Any) -> list[str]:
    """``normalize`` over a list of texts, faster than one call per text; options as for
    :class:`Normalizer`."""
    return _plan(target, options).normalize_many(texts, readings=readings)


def explain(text: str, target: str | Path | Target = "jisx0208", *, reading: str | None = None,
            **options: Any) -> Result:
    """``normalize`` plus the changes that made the result; options as for :class:`Normalizer`."""
    return _plan(target, options).explain(text, reading=reading)


def compile_resolved(target: str) -> str:
    """The compiled decisions of a built-in target (``_schema.RESOLVED``), worked out by the
    pipeline itself with the default options: every unit the tables know (MJ code points and
    IVS, SVS, the 国税庁 map's sources, the codecs' repertoires) that the target cannot take,
    except private use (gaiji tables decide those), invisible characters and spaces."""
    n = Normalizer(target)
    units: set[str] = set(_tables.mj_by_char()) | set(_tables.mj_by_ivs())
    units |= set(_tables.svs_map()) | set(_tables.nta_map()) | set(_tables.jis_equivalents())
    units |= set(_tables.overrides())
    for name in RESOLVED_TARGETS:
        units |= get_target(name).chars
    header = "\t".join(_tables.RESOLVED_COLUMNS) + "\n"
    rows = [header]
    for unit in sorted(units, key=lambda u: u.encode("utf-8")):
        if n._ok(unit) or is_private_use(unit[0]) or classify(unit[0]) is not None \
                or unit in (" ", "\u3000"):
            continue
        res = n._compute(unit)
        flags = ("F" if res.fallback else "") + ("R" if res.review else "")
        fields = [unit, "" if res.fallback else res.replacement,
                  ">".join(s.rule for s in res.steps), flags, res.mj or "",
                  "|".join(res.alternatives)]
        rows.append("\t".join(fields) + "\n")
    return "".join(rows)


#: Fewer new units than this are decided one by one (``Normalizer.outcome``: about 30 µs
#: each, :func:`flags_one_by_one`), more in one frame by the column kernel
#: (``mojinorm.column.flags_of_units``: about 9 ms whatever the number, then 13 µs each): a
#: scan meets a file's last new units a few per batch, and a small file's all at once.
FEW_UNITS = 300


def flags_one_by_one(normalizer: Normalizer, units: Sequence[str],
                     flags_of: Callable[[UnitOutcome], int],
                     few: int = FEW_UNITS) -> dict[str, int] | None:
    """``flags_of`` the outcome of each of ``units`` (-1 for a unit the target keeps: one of
    its characters or sequences), each decided by :meth:`Normalizer.outcome`, without the
    column kernel (nor polars); None, at no cost, when ``few`` or more units are given."""
    if len(units) >= few:
        return None
    target = normalizer.target
    kept, sequences = target.visible_chars, target.sequences
    out = {u: -1 for u in units if u in kept or u in sequences}
    changed = [u for u in units if u not in out]
    outcome = normalizer.outcome
    out.update((u, flags_of(outcome(u))) for u in changed)
    return out
