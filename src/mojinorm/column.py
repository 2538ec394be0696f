"""The column kernel: mojinorm over a polars string column.

Two engines do the per-row work; both equal the per-name API on every value
(``tests/test_column.py`` runs its differential tests on each).

**The compiled guard's** (where ``mojinorm._speedups`` is built and used, for a target without
multi-code-point characters, and without a reading column):

* the rows a normalizer has to look at are found by the compiled module straight from the
  column's Arrow memory (:func:`guard_hits`, on polars' threads); the others pass through
  untouched;
* ``normalize`` alone is done there too (``Normalizer._normalize_arrow``: each distinct
  unit decided once as ``normalize`` decides it, a compiled decision read in the table's
  bytes; the result a new column of Arrow string views whose unchanged values point into
  the input's buffers, no str made and nothing scattered); scan's counting
  (:func:`unit_flags`) cuts and counts the units there (``_speedups.count_arrow``), a str
  made per distinct unit;
* ``explain``, ``changes`` and ``review`` send the rows found, as str, through
  ``Normalizer._explain_list``, which cuts each name into units, writes the change text of
  each distinct unit once (a compiled decision's or a private-use code's in C, any other by
  ``Normalizer._explain_unit``) and keeps it in the plan for the next batches.

**polars'** (everywhere else), every row operation a polars expression (Rust):

* the guard ``str.contains([^visible])`` (``Target.visible_guard``) finds the values a
  normalizer has to look at; the others are safe and pass through untouched;
* those values are cut into tokens that cover them (``str.extract_all``): each code point
  with the variation selector or combining voiced mark that follows it, or a lone selector,
  exactly as ``mojinorm.units.iter_units`` (and the unit pattern of ``Normalizer``) cut
  them.  Every unit a normalizer looks at is one token;
* list expressions map each token through the unit tables (``replace``) and join them back:
  the normalized value, the change texts (``"; "``) and the review flags.  A token is
  replaced as a whole, so a lone selector can never match inside a unit that carries one.
  Each *distinct unit* is decided once (:meth:`ColumnPlan.decisions`): a built-in target's
  compiled decisions answer (a binary search), ``Normalizer.outcome`` the other units;
  polars writes the change texts (``str(Change)``), and a unit's row is kept for the next
  batch.

Either way the kernel follows whatever the normalizer decides.  A few values cannot be
answered unit by unit; they go through the per-name API, those rows only:

* fallback ``error``: rows with a unit whose resolution raises.  They are run in row order,
  so the first offending row raises ``UnmappableCharacter`` with the per-name message;
* fallback ``kana`` with a reading column: rows with a unit resolved by the fallback (the
  whole name becomes its reading);
* targets with a multi-code-point character that is not a base plus a selector or voiced
  mark (JIS X 0213's æ + U+0300, ˥˩): rows where such a pair occurs, because how the units
  pair up there depends on the neighbouring code point.

Importing this module imports polars; ``import mojinorm`` does not.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any, TypeAlias

import polars as pl

from . import _compiled
from ._compiled import explains_by_guard
from .errors import UnmappableCharacter
from .gaiji import PRIVATE_USE_CLASS
from .kana import normalize_kana as _normalize_kana
from .matching import match_key as _match_key
from .normalizer import (
    FEW_UNITS,
    Normalizer,
    UnitOutcome,
    flags_one_by_one,
    get_normalizer,
    show_char,
)
from .targets import Target, code_point_runs, get_target
from .units import KANA_MARK_CLASS, VARIATION_SELECTOR_CLASS

__all__ = [
    "ColumnPlan", "TargetPatterns", "changes", "column_plan", "explain", "explains_by_guard",
    "flags_of_units", "is_safe",
    "match_key", "normalize", "normalize_kana", "review", "rust_class", "rust_runs_class",
    "shown_codes", "target_patterns", "warm",
    "unsafe_chars",
]

#: What names a target: a built-in name, a YAML profile path, a ``Target`` or a ``Normalizer``.
TargetLike: TypeAlias = "str | Path | Target | Normalizer"

_UNIT_MEMO_LIMIT = 200_000  # distinct units remembered per plan
#: Code points ``str(Change)`` writes as <U+XXXX>: selectors, controls and format characters,
#: private use (a class for polars' regex; see ``normalizer._show``).  Others print as is.
_SHOWN_AS_CODES = (r"\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Zs}\p{Co}\x{FE00}-\x{FE0F}"
                   r"\x{E0100}-\x{E01EF}\x{F0000}-\x{10FFFF}\x{115F}\x{1160}\x{3164}"
                   r"\x{FFA0}\x{034F}")
_JOINERS = frozenset("\u3099\u309a")


# --------------------------------------------------------------------------- patterns


def rust_class(chars: Iterable[str]) -> str:
    """A character-class body for polars' (Rust) regex engine: ``\\x{…}`` ranges.

    Every code point is written as an escape, so no class syntax of the Rust engine (``&&``,
    ``--``, ``~~``, ``[:alpha:]``) can be triggered by the target's own characters.
    """
    return rust_runs_class(code_point_runs(chars))


def rust_runs_class(runs: Iterable[tuple[int, int]]) -> str:
    """:func:`rust_class` of code points given as runs ``(first, last)``."""
    return "".join(f"\\x{{{lo:X}}}" if lo == hi else f"\\x{{{lo:X}}}-\\x{{{hi:X}}}"
                   for lo, hi in runs)


def _rust_literal(text: str) -> str:
    return "".join(f"\\x{{{ord(c):X}}}" for c in text)


def _is_joiner(ch: str) -> bool:
    cp = ord(ch)
    return ch in _JOINERS or 0xFE00 <= cp <= 0xFE0F or 0xE0100 <= cp <= 0xE01EF


@dataclass(frozen=True)
class TargetPatterns:
    """The polars regexes of one target."""

    #: one code point a normalizer must look at (``Target.visible_guard`` for polars)
    guard: str
    #: the units a normalizer looks at, cut as ``iter_units`` cuts them (the unit pattern of
    #: ``Normalizer``: a code point outside the visible target, or any base, with its
    #: selector or voiced mark, or a lone selector)
    units: str
    #: every unit of a text, visible or not: a code point with its selector or voiced mark,
    #: or a lone selector (the tokens of a value that holds a selector or a mark)
    tokens: str
    #: a pair of code points forming a target character with no selector or voiced mark
    #: (JIS X 0213's æ + U+0300); ``None`` when the target has none
    context: str | None
    #: the target's multi-code-point units, sorted (kept as they are)
    sequences: tuple[str, ...]
    #: the target (the compiled guard reads its visible code points as a bitmap)
    target: Target


@lru_cache(maxsize=32)
def target_patterns(target: Target) -> TargetPatterns:
    """Compile (as text) the polars patterns of ``target``; cached per target object."""
    visible = rust_runs_class(target.visible_runs)
    vs = VARIATION_SELECTOR_CLASS
    joins = vs + KANA_MARK_CLASS
    units = f"[^{visible}{vs}][{joins}]?|[^{vs}][{joins}]|[{vs}]"
    # A sequence whose second code point is a selector or a voiced mark is one unit by the
    # ordinary rule (and kept as it is); the others pair up only by context.
    context = sorted(s for s in target.sequences if not all(_is_joiner(c) for c in s[1:]))
    return TargetPatterns(
        guard=f"[^{visible}]",
        units=units,
        tokens=f"[^{vs}][{joins}]?|[{vs}]",
        context="|".join(_rust_literal(s) for s in context) or None,
        sequences=tuple(sorted(target.sequences)),
        target=target,
    )


# --------------------------------------------------------------------------- the plan



class ColumnPlan:
    """One normalizer's decisions per distinct unit, reused across batches.  Thread-safe.

    ``units_resolved`` counts the units the polars engine decided in Python
    (``Normalizer.outcome`` calls: the units a built-in target's compiled table does not
    answer), ``resolve_seconds`` the time they took, and ``rows_per_name`` the values sent
    through the per-name API (the special rows; with the compiled guard's engine, every row
    ``normalize`` alone looks at, which ``_normalize_arrow`` takes); all stay bounded by the
    distinct units and the rows the guard finds, never by the rows of a column.
    """

    def __init__(self, normalizer: Normalizer) -> None:
        self.normalizer = normalizer
        self.units_resolved = 0
        self.resolve_seconds = 0.0
        self.rows_per_name = 0
        self._compiled_frame: pl.DataFrame | None = None
        #: the table rows worked out so far (:meth:`table`), for later batches
        self._table_rows: pl.DataFrame | None = None
        #: private-use codes a gaiji table defines or the target shows
        self._defined_private_use: pl.Series | None = None
        self._decided: list[pl.DataFrame] = []  # decisions() frames, for recalled_decisions
        #: unit -> (replacement, change text, flags) of the compiled guard's explain path
        self.explained_units: dict[str, tuple[str, str, int]] = {}
        self._lock = threading.Lock()

    @cached_property
    def patterns(self) -> TargetPatterns:
        """The target's polars patterns (written when a column first needs them)."""
        return target_patterns(self.normalizer.target)

    def __repr__(self) -> str:
        return (f"ColumnPlan({self.normalizer!r}, units_resolved={self.units_resolved}, "
                f"rows_per_name={self.rows_per_name})")

    #: The columns of :meth:`table`, in order.
    TABLE = ("unit", "replacement", "changes", "rule", "review", "fallback", "raises", "inside")

    def table(self, keys: list[str], changes: bool = True) -> pl.DataFrame:
        """One row per unit of ``keys``, in order: ``replacement``, ``changes`` (the change
        text, ``str(Change)``, "" for none; null without ``changes``: only the rewriting
        needs it), ``rule`` (the deciding rule), ``review``, ``fallback``, ``raises``
        (fallback ``error`` raises for it: such rows go per name) and ``inside`` (the target
        takes the unit as it is).

        Each unit is worked out once, column by column (:meth:`decisions`), and its row kept
        in a frame for the next batches, which join their units with it (one query, however
        many units: a batch of a file brings a few thousand).
        """
        wanted = pl.DataFrame({"unit": keys}, schema={"unit": pl.String})
        with self._lock:
            known = self._table_rows
        missing = keys
        if known is not None:
            joined = wanted.join(known, on="unit", how="left", maintain_order="left")
            ready = joined["replacement"].is_not_null()  # every kept row has a replacement
            if changes:
                ready &= joined["changes"].is_not_null()
            if ready.all():
                return joined
            missing = joined.filter(~ready)["unit"].to_list()
        made = self._table_frame(missing, changes)
        with self._lock:
            base = self._table_rows
            rows = made if base is None or base.height + made.height > _UNIT_MEMO_LIMIT else \
                pl.concat([base.filter(~pl.col("unit").is_in(made["unit"].implode())), made])
            self._table_rows = rows
        if known is None:
            return made  # the units of keys, in order
        # from this call's own rows: the kept frame may have been cut down to the new ones
        return wanted.join(pl.concat([joined.filter(ready), made]), on="unit", how="left",
                           maintain_order="left")

    def _table_frame(self, units: list[str], changes: bool) -> pl.DataFrame:
        """:meth:`table` of ``units`` (distinct), worked out: the decisions in one frame, the
        change texts written by polars."""
        n = self.normalizer
        visible, sequences = n.target.visible_chars, n.target.sequences
        inside = [u in visible or u in sequences for u in units]
        changed = [u for u, kept in zip(units, inside, strict=True) if not kept]
        decided = self.decisions(pl.Series(changed, dtype=pl.String))
        replacement, rules = pl.col("replacement"), pl.col("rules")
        text: pl.Expr = pl.lit(None, pl.String)
        if changes:
            shown = shown_codes(pl.concat([decided["unit"], decided["replacement"]]))
            # str(Change): code points nobody can see written as <U+XXXX>
            text = pl.concat_str([shown(pl.col("unit")), pl.lit("→"),
                                  shown(pl.when(replacement == "").then(pl.lit("(removed)"))
                                        .otherwise(replacement)),
                                  pl.lit(" "), rules])
        frame = decided.select(
            "unit", replacement, text.alias("changes"),
            rules.str.split(">").list.last().alias("rule"), "review", "fallback",
            (pl.col("fallback") & pl.lit(n.fallback == "error")).alias("raises"),
            pl.lit(False).alias("inside"))
        if not any(inside):
            return frame
        kept = pl.DataFrame({"unit": [u for u, k in zip(units, inside, strict=True) if k]},
                            schema={"unit": pl.String}).select(
            "unit", pl.col("unit").alias("replacement"), pl.lit("").alias("changes"),
            pl.lit("").alias("rule"), *(pl.lit(False).alias(c)
                                        for c in ("review", "fallback", "raises")),
            pl.lit(True).alias("inside"))
        # back in the order of units: the changed ones first, then the kept ones
        order = [i for i, k in enumerate(inside) if not k] + [i for i, k in enumerate(inside)
                                                                if k]
        return pl.concat([frame, kept]).with_columns(
            pl.Series("_at", order, dtype=pl.UInt32)).sort("_at").drop("_at")

    #: The columns of :meth:`decisions`, in order.
    DECISIONS = ("unit", "replacement", "rules", "fallback", "review", "mj", "alternatives")

    def decisions(self, units: pl.Series) -> pl.DataFrame:
        """What ``Normalizer.outcome`` says of each of ``units`` (units the normalizer changes:
        outside the target, or invisible), in order, one row each: ``replacement``, ``rules``
        (joined by ">"), ``fallback``, ``review``, ``mj`` (null for none) and
        ``alternatives`` (a list).  A built-in target's compiled decisions answer, found by a
        binary search (the default options); ``outcome`` answers the other units.  The frame
        is kept for :meth:`recalled_decisions`."""
        decided = self._decide(units)
        with self._lock:
            if sum(f.height for f in self._decided) + decided.height > _UNIT_MEMO_LIMIT:
                self._decided.clear()
            self._decided.append(decided)
        return decided

    def recalled_decisions(self, units: pl.Series) -> pl.DataFrame:
        """:meth:`decisions` of ``units``, the ones decided before read from the frames kept
        (a scan's report asks again for every unit its counting decided)."""
        with self._lock:
            kept = list(self._decided)
        if not kept:
            return self.decisions(units)
        frame = pl.DataFrame({"unit": units.cast(pl.String)}).with_row_index("i").join(
            pl.concat(kept), on="unit", how="left", maintain_order="left")
        if frame.height > units.len():  # a unit decided twice (batches read meanwhile)
            frame = frame.unique("i", keep="first", maintain_order=True)
        seen = pl.col("rules").is_not_null()  # every decision has rules
        missing = frame.filter(~seen)
        found = frame.filter(seen)
        if missing.height:
            # the units the counting decided one by one (a few per batch at the end of a
            # file): their outcomes are still kept, and rows of them cost no new decisions
            outcomes = list(map(self.normalizer.remembered, missing["unit"].to_list()))
            if all(o is not None for o in outcomes):
                rows = self._outcome_rows(missing.select("i", "unit"),
                                          [o for o in outcomes if o is not None])
            else:
                rows = self.decisions(missing["unit"]).with_columns(missing["i"])
            found = pl.concat([found, rows.select(found.columns)]).sort("i")
        return found.select(self.DECISIONS)

    def _outcome_rows(self, frame: pl.DataFrame, outcomes: list[UnitOutcome]) -> pl.DataFrame:
        """The decisions of the units of ``frame`` (``i``, ``unit``) from their
        ``outcomes``, in the same order, with their ``i``."""
        rest = frame.with_columns(
            replacement=pl.Series([o.replacement for o in outcomes], dtype=pl.String),
            rules=pl.Series([">".join(o.rules) for o in outcomes], dtype=pl.String),
            fallback=pl.Series([o.fallback for o in outcomes], dtype=pl.Boolean),
            review=pl.Series([o.review for o in outcomes], dtype=pl.Boolean),
            mj=pl.Series([o.mj for o in outcomes], dtype=pl.String),
            alternatives=pl.lit([], dtype=pl.List(pl.String)))
        pairs = [(i, a) for i, o in zip(frame["i"].to_list(), outcomes, strict=True)
                 for a in o.alternatives]
        if pairs:
            # gathered into lists by polars (a list per row built in Python costs
            # microseconds each)
            lists = pl.DataFrame({"i": [i for i, _ in pairs], "a": [a for _, a in pairs]},
                                 schema={"i": pl.UInt32, "a": pl.String}
                                 ).group_by("i").agg(listed="a")
            rest = rest.join(lists, on="i", how="left").with_columns(
                alternatives=pl.col("listed").fill_null(pl.col("alternatives"))
            ).drop("listed")
        return rest.select("i", *self.DECISIONS)

    def _decide(self, units: pl.Series) -> pl.DataFrame:
        frame = pl.DataFrame({"unit": units.cast(pl.String)}).with_row_index("i")
        n = self.normalizer
        parts = []
        joined, hit = self._compiled_rows_of(frame)
        if joined is not None and hit is not None:
            flags = pl.col("flags").fill_null("")
            fallback = flags.str.contains("F", literal=True)
            fallback_text = pl.col("unit") if n.fallback == "keep" else pl.lit(n.fallback_char)
            alternatives = pl.col("alternatives").fill_null("")
            parts.append(joined.select(
                "i", "unit",
                replacement=pl.when(fallback).then(fallback_text)
                .otherwise(pl.col("replacement").fill_null("")),
                rules="rules", fallback=fallback,
                review=flags.str.contains("R", literal=True),
                mj=pl.when(pl.col("mj") != "").then(pl.col("mj")),
                alternatives=pl.when(alternatives != "").then(alternatives.str.split("|"))
                .otherwise(pl.lit([], dtype=pl.List(pl.String)))))
            frame = frame.filter(~hit)
        if frame.height:
            unmapped = self._unmapped_private_use(frame["unit"])
            if unmapped.any():
                # the pipeline stops every such code alike (a file brings thousands): the
                # outcome of one of them, the fallback writing each one's own text for keep
                codes = frame.filter(unmapped)
                start = time.perf_counter()
                one = n.outcome(codes["unit"][0])
                with self._lock:
                    self.units_resolved += 1
                    self.resolve_seconds += time.perf_counter() - start
                parts.append(codes.select(
                    "i", "unit",
                    replacement=pl.col("unit") if one.replacement == one.unit
                    else pl.lit(one.replacement, pl.String),
                    rules=pl.lit(">".join(one.rules), pl.String),
                    fallback=pl.lit(one.fallback), review=pl.lit(one.review),
                    mj=pl.lit(one.mj, pl.String),
                    alternatives=pl.lit(list(one.alternatives), pl.List(pl.String))))
                frame = frame.filter(~unmapped)
        if frame.height:
            start = time.perf_counter()
            outcomes = [n.outcome(u) for u in frame["unit"].to_list()]
            with self._lock:
                self.units_resolved += len(outcomes)
                self.resolve_seconds += time.perf_counter() - start
            parts.append(self._outcome_rows(frame, outcomes))
        columns = ["i", *self.DECISIONS]
        if not parts:  # no units
            return pl.DataFrame(schema={
                "unit": pl.String, "replacement": pl.String, "rules": pl.String,
                "fallback": pl.Boolean, "review": pl.Boolean, "mj": pl.String,
                "alternatives": pl.List(pl.String)})
        return pl.concat([p.select(columns) for p in parts]).sort("i").drop("i")

    def _compiled_rows_of(self, frame: pl.DataFrame
                          ) -> tuple[pl.DataFrame | None, pl.Series | None]:
        """The compiled decisions of the units of ``frame`` (``i``, ``unit``) that have one,
        with their ``i``, and which units have one; (None, None) when the options allow no
        compiled decisions.  The compiled guard copies those lines out of the table through
        its hash index (a file's 17,000 units: 3 ms, where reading the whole table into a
        frame costs 15 ms and searching it 10 ms); else a binary search in the table's
        frame."""
        n = self.normalizer
        if n.compiled_target is None:
            return None, None
        if explains_by_guard(n):
            n._read_compiled_decisions()
            read = n._compiled_lines(frame["unit"].to_list())
            if read is not None:
                lines, positions = read
                at = pl.Series("i", positions, dtype=pl.UInt32)
                rows = pl.read_csv(lines, separator="\t", quote_char=None, infer_schema=False)
                hit = pl.repeat(False, frame.height, dtype=pl.Boolean, eager=True).scatter(
                    at, True)
                return rows.with_columns(at), hit
        compiled = self._compiled()
        if compiled is None or not compiled.height:
            return None, None
        # a binary search in the compiled units (sorted): cheaper than a join, which
        # hashes all of them for each batch's thousand new units
        keys = compiled["unit"]
        at = keys.search_sorted(frame["unit"], side="left").clip(0, keys.len() - 1)
        found = compiled[at].with_columns(frame["i"])
        hit = found["unit"] == frame["unit"]
        return found.filter(hit), hit

    def _unmapped_private_use(self, units: pl.Series) -> pl.Series:
        """True for each of ``units`` that is one private-use code point no gaiji table
        defines and the target does not show (``Normalizer.outcome`` gives them all the
        fallback, without running the pipeline)."""
        n = self.normalizer
        with self._lock:
            if self._defined_private_use is None:
                private_use = re.compile(f"[{PRIVATE_USE_CLASS}]").fullmatch
                self._defined_private_use = pl.Series(
                    [*n.gaiji.entries, *filter(private_use, n.target.visible_chars)],
                    dtype=pl.String)
            defined = self._defined_private_use
        unit = pl.col("u")
        return units.to_frame("u").select(
            (unit.str.len_chars() == 1) & unit.str.contains(f"^[{PRIVATE_USE_CLASS}]$")
            & ~unit.is_in(defined.implode())).to_series()

    def _compiled(self) -> pl.DataFrame | None:
        """The target's compiled decisions as a frame, when the options allow them."""
        name = self.normalizer.compiled_target
        if name is None:
            return None
        with self._lock:
            if self._compiled_frame is None:
                from . import _tables

                frame = _tables.resolved_frame(name)
                # decisions() searches the units: sorted (UTF-8 byte order, as polars
                # compares strings; the table is written in that order)
                self._compiled_frame = frame if frame["unit"].is_sorted() \
                    else frame.sort("unit")
        return self._compiled_frame

@lru_cache(maxsize=64)
def _plan_for(normalizer: Normalizer) -> ColumnPlan:
    return ColumnPlan(normalizer)


def column_plan(target: TargetLike = "jisx0208", **options: Any) -> ColumnPlan:
    """The cached plan for a normalizer (``target`` and ``options`` as for ``get_normalizer``;
    ``target`` may be a ``Normalizer``, then no options are allowed)."""
    return _plan_for(_normalizer(target, options))


def _normalizer(target: TargetLike, options: dict[str, Any]) -> Normalizer:
    if isinstance(target, Normalizer):
        if options:
            raise TypeError("options cannot be combined with a Normalizer instance: "
                            f"{', '.join(sorted(options))}")
        return target
    options = {k: v for k, v in options.items() if v is not None}
    return get_normalizer(target, **options)


def _target(target: TargetLike) -> Target:
    if isinstance(target, Normalizer):
        return target.target
    return get_target(target)


def shown_codes(values: pl.Series) -> Callable[[pl.Expr], pl.Expr]:
    """``mojinorm.normalizer.show`` as an expression over texts made of the code points of
    ``values``: each code point it writes as ``<U+XXXX>`` (found among ``values`` by a polars
    class holding every such code point, ``tests/test_column.py`` checks it over all of
    Unicode) replaced by ``str.replace_many``."""
    found = values.str.extract_all(f"[{_SHOWN_AS_CODES}]").explode().drop_nulls().unique()
    codes = {c: shown for c in found.to_list() if (shown := show_char(c)) != c}
    if not codes:
        return lambda expr: expr
    keys, texts = list(codes), list(codes.values())
    return lambda expr: expr.str.replace_many(keys, texts)


# --------------------------------------------------------------------------- helpers


def as_strings(values: pl.Series) -> pl.Series:
    """``values`` as a String series (String, Null, Categorical and Enum are accepted)."""
    dtype = values.dtype
    if dtype == pl.String:
        return values
    if dtype == pl.Null or isinstance(dtype, (pl.Categorical, pl.Enum)):
        return values.cast(pl.String)
    raise TypeError(f"mojinorm works on string columns; {values.name!r} has dtype {dtype}")


def _blank(s: pl.Series, value: Any, dtype: pl.DataType | type[pl.DataType]) -> pl.Series:
    """``value`` on every non-null row of ``s``, null where ``s`` is null."""
    out = pl.select(
        pl.when(pl.lit(s).is_not_null()).then(pl.lit(value, dtype=dtype)).alias(s.name)
    ).to_series()
    return out


@dataclass
class _Work:
    """The rows that hit the guard: positions, texts, and tokens.

    A row's tokens cover it: each code point with the selector or voiced mark that follows
    it, or a lone selector, as ``iter_units`` cuts them.  Every unit a normalizer looks at is
    one token; the other tokens are code points inside the visible target, which no
    normalizer changes.  Joining the tokens gives the text back.
    """

    idx: pl.Series  # positions in the column
    texts: pl.Series
    tokens: pl.Series  # list[str]
    context: pl.Series | None  # bool: rows that go per name because of target sequences


def guard_hits(s: pl.Series, target: Target) -> pl.Series | None:
    """The positions of the values of ``s`` (a String series) the guard finds, read by the
    compiled module straight from the column's Arrow memory on polars' threads (a sixth of
    the time of ``str.contains`` with the guard over a member file's names); None when the
    compiled module is not used (``mojinorm._compiled.SPEEDUPS``)."""
    found = _arrow_hits(s, target, False)
    return None if found is None else pl.Series("i", found, dtype=pl.get_index_type())


def guard_hit_values(s: pl.Series, target: Target) -> tuple[pl.Series, list[str]] | None:
    """:func:`guard_hits` and the values at those positions, as str (made from the column's
    bytes: cheaper than gathering them from the column)."""
    found = _arrow_hits(s, target, True)
    if found is None:
        return None
    rows, texts = found
    return pl.Series("i", rows, dtype=pl.get_index_type()), texts


def _arrow_hits(s: pl.Series, target: Target, values: bool) -> Any:
    if not _compiled.SPEEDUPS or _compiled.MODULE is None:
        return None
    return _compiled.MODULE.arrow_hits(s.__arrow_c_stream__(),
                                       _compiled.code_point_bitmap(target.visible_chars),
                                       pl.thread_pool_size(), values)


def _work(s: pl.Series, patterns: TargetPatterns) -> _Work | None:
    hits = guard_hits(s, patterns.target)
    if hits is not None:
        if hits.len() == 0:
            return None
        texts = s.gather(hits).alias("v")
        return _tokens(hits, texts, texts.str.extract_all(patterns.tokens), patterns)
    # One lazy query, so polars runs the guard over slices of the column in parallel.  The
    # tokens pattern cuts a value without a selector or voiced mark into its code points, as
    # str.split("") would; one pattern for every row is cheaper than splitting and then
    # re-cutting the rows that hold one (a quarter of a member file's work rows).
    frame = (
        pl.LazyFrame([s.alias("v")])
        .with_row_index("i")
        .filter(pl.col("v").str.contains(patterns.guard))
        .with_columns(pl.col("v").str.extract_all(patterns.tokens).alias("t"))
        .collect()
    )
    if frame.height == 0:
        return None
    return _tokens(frame["i"], frame["v"], frame["t"], patterns)


def _tokens(idx: pl.Series, texts: pl.Series, tokens: pl.Series,
            patterns: TargetPatterns) -> _Work:
    context = texts.str.contains(patterns.context) if patterns.context else None
    if context is not None and not context.any():
        context = None
    return _Work(idx, texts, tokens, context)


def _units(work: _Work, patterns: TargetPatterns) -> list[str]:
    """The distinct units of the work rows: tokens other than a visible code point (a code
    point the guard finds, or a base with its selector or voiced mark), found by polars."""
    t = pl.col("t")
    return pl.LazyFrame({"t": work.tokens}).explode("t").filter(
        t.str.contains(patterns.guard) | (t.str.len_chars() > 1)).unique().collect() \
        .to_series().to_list()


def _per_token(keys: pl.Series, values: pl.Series | list[Any],
               dtype: pl.DataType | type[pl.DataType], default: Any) -> pl.Expr:
    """Each token of the list column ``t`` mapped through ``keys -> values`` (``default`` for
    the other tokens)."""
    new = values if isinstance(values, pl.Series) else pl.Series(values, dtype=dtype)
    return pl.col("t").list.eval(
        pl.element().replace_strict(keys, new, default=default, return_dtype=dtype))


def _replace_rows(values: pl.Series, pos: pl.Series, new: pl.Series) -> pl.Series:
    """``values`` with the rows at ``pos`` replaced by ``new`` (works for any dtype)."""
    n = values.len()
    k = new.len()
    index = pl.int_range(n, eager=True, dtype=pl.UInt32).scatter(
        pos, pl.int_range(n, n + k, eager=True, dtype=pl.UInt32))
    return pl.concat([values, new.cast(values.dtype)]).gather(index)


# --------------------------------------------------------------------------- target only


def _unsafe_flags(work: _Work, tgt: Target,
                  patterns: TargetPatterns) -> tuple[pl.Series, list[bool]]:
    keys = _units(work, patterns)
    seqs = frozenset(patterns.sequences)
    return pl.Series(keys, dtype=pl.String), [k not in seqs for k in keys]


def is_safe(values: pl.Series, target: TargetLike = "jisx0208") -> pl.Series:
    """``Normalizer.is_safe`` per value: True when normalizing leaves the value as it is."""
    s = as_strings(values)
    tgt = _target(target)
    patterns = target_patterns(tgt)
    safe = s.str.contains(patterns.guard).not_().alias(s.name)
    if not patterns.sequences:
        return safe
    work = _work(s, patterns)
    if work is None:
        return safe
    keys, flags = _unsafe_flags(work, tgt, patterns)
    ok = work.tokens.to_frame("t").select(
        _per_token(keys, flags, pl.Boolean, False).list.any().not_()).to_series()
    if work.context is not None:
        pos = work.context.arg_true()
        texts = work.texts.gather(pos).to_list()
        ok = ok.scatter(pos, [tgt.is_clean(t) for t in texts])
    return safe.scatter(work.idx, ok)


def unsafe_chars(values: pl.Series, target: TargetLike = "jisx0208") -> pl.Series:
    """The units of each value a normalizer would change (``mojinorm.unsafe_chars``), as a
    list of strings; an empty list for a safe value."""
    s = as_strings(values)
    tgt = _target(target)
    patterns = target_patterns(tgt)
    dtype = pl.List(pl.String)
    work = _work(s, patterns)
    if work is None:
        return _blank(s, [], dtype)
    keys, flags = _unsafe_flags(work, tgt, patterns)
    new = pl.Series(flags, dtype=pl.Boolean)
    units = work.tokens.list.eval(pl.element().filter(
        pl.element().replace_strict(keys, new, default=False, return_dtype=pl.Boolean)))
    if work.context is not None:
        pos = work.context.arg_true()
        texts = work.texts.gather(pos).to_list()
        exact = pl.Series([[u for _, u in tgt.unclean_units(t)] for t in texts], dtype=dtype)
        units = _replace_rows(units, pos, exact)
    # Rows outside the work set get the empty list at position len(units); nulls stay null.
    n = units.len()
    extended = pl.concat([units, pl.Series([[]], dtype=dtype)])
    pos_all = _blank(s, n, pl.UInt32).scatter(work.idx, pl.int_range(n, eager=True,
                                                                          dtype=pl.UInt32))
    return extended.gather(pos_all).alias(s.name)


def unit_flags(values: pl.Series, plan: ColumnPlan, flags_of: Callable[[UnitOutcome], int],
               memo: dict[str, int] | None = None, counts: Counter[str] | None = None
               ) -> tuple[pl.Series, Counter[str]]:
    """For each value, the bitwise OR of ``flags_of(Normalizer.outcome(unit))`` over the units
    the normalizer changes (0 for a value it leaves alone, null for null), and how many times
    each such unit occurs in ``values`` (added to ``counts`` when given, and returned).

    Equals the OR over ``Normalizer.explain(value).changes`` per value (scan's counting);
    rows whose units pair up by context go per name.  ``memo`` (unit -> flags, -1 for a unit
    the target keeps) carries the answers from one batch to the next: give the same dict for
    the same ``flags_of``.
    """
    s = as_strings(values)
    if counts is None:
        counts = Counter()
    zeros = _blank(s, 0, pl.UInt8)
    normalizer = plan.normalizer
    if memo is None:
        memo = {}
    if explains_by_guard(normalizer):
        counted = _counted_in_arrow(s, plan, flags_of, memo, counts)
        if counted is not None:
            found, row_flags = counted
            if not found:
                return zeros, counts
            return zeros.scatter(pl.Series(found, dtype=pl.get_index_type()),
                                 pl.Series(list(row_flags), dtype=pl.UInt8)), counts
    work = _work(s, plan.patterns)
    if work is None:
        return zeros, counts
    # The units of the work rows, one row each: the tokens outside the visible target (a code
    # point the guard finds, or a base with its selector or voiced mark).  Rows whose units
    # pair up by context go per name, below.
    rows = pl.DataFrame({"r": pl.int_range(work.tokens.len(), eager=True, dtype=pl.UInt32),
                         "t": work.tokens})
    if work.context is not None:
        rows = rows.filter(~work.context)
    token = pl.col("t")
    pairs = rows.lazy().explode("t").filter(
        token.str.contains(plan.patterns.guard) | (token.str.len_chars() > 1)).collect()
    row = pl.repeat(0, work.tokens.len(), dtype=pl.UInt8, eager=True)
    if pairs.height:
        per_unit = pairs.group_by("t").len()
        keys = per_unit["t"].to_list()
        new = [u for u in keys if u not in memo]
        if new:
            memo.update(flags_of_units(new, plan, flags_of))
        key_flags = [memo[u] for u in keys]
        # a unit the target keeps (an IVS of mj) is not counted; one dict, added in C
        counts.update({unit: n for unit, n, f in zip(keys, per_unit["len"].to_list(),
                                                     key_flags, strict=True) if f >= 0})
        flag_frame = per_unit.select(
            "t", f=pl.Series(key_flags, dtype=pl.Int16).clip(0).cast(pl.UInt8))
        per_row = (pairs.lazy().join(flag_frame.lazy(), on="t", how="left")
                   .group_by("r").agg(pl.col("f").bitwise_or()).collect())
        row = row.scatter(per_row["r"], per_row["f"])
    if work.context is not None:
        pos = work.context.arg_true()
        flags = []
        for text in work.texts.gather(pos).to_list():
            value_flags = 0
            for c in normalizer.explain(text).changes:
                value_flags |= flags_of(normalizer.outcome(c.original))
                counts[c.original] += 1
            flags.append(value_flags)
        row = row.scatter(pos, pl.Series(flags, dtype=pl.UInt8))
    return zeros.scatter(work.idx, row), counts


@lru_cache(maxsize=16)
def target_units(target: Target) -> pl.Series:
    """The units of ``target`` (its code points and sequences: ``unit in target``) as a
    series, for ``is_in`` (a file's 17,000 units: 1 ms, where ``in`` costs 10)."""
    return pl.Series([*target.chars, *target.sequences], dtype=pl.String)


def units_counted(normalizer: Normalizer, value: str, known: dict[str, int]
                  ) -> tuple[int, dict[str, int]] | list[str] | None:
    """The flags of one value and how many times each of its units occurs, counted by
    ``_speedups.count_arrow`` from the flags of the units ``known``; the units ``known``
    lacks; or None when the compiled module cannot cut for ``normalizer`` (it is not used, or
    the target has multi-code-point characters)."""
    if not explains_by_guard(normalizer):
        return None
    assert _compiled.MODULE is not None
    counted = _compiled.MODULE.count_arrow(
        pl.Series([value], dtype=pl.String).__arrow_c_stream__(),
        _compiled.code_point_bitmap(normalizer.target.visible_chars), 1, known)
    if counted is None or isinstance(counted, list):
        return counted
    rows, flags, counts = counted
    return (flags[0] if rows else 0), counts


def _counted_in_arrow(s: pl.Series, plan: ColumnPlan, flags_of: Callable[[UnitOutcome], int],
                      memo: dict[str, int], counts: Counter[str]
                      ) -> tuple[list[int], bytes] | None:
    """:func:`unit_flags` of the values the guard finds, with the compiled module: the column
    read in its Arrow memory, each value cut into units as the guard cuts a name, the units
    not in ``memo`` decided once, then the values' flags counted and the units'
    occurrences added to ``counts`` in C (no str per value, no tokens, no per-unit frames).
    None when the column is not one the compiled reader takes."""
    bitmap = _compiled.code_point_bitmap(plan.normalizer.target.visible_chars)

    def count() -> Any:
        assert _compiled.MODULE is not None
        return _compiled.MODULE.count_arrow(s.__arrow_c_stream__(), bitmap,
                                            pl.thread_pool_size(), memo, counts)

    counted = count()
    if isinstance(counted, list):
        memo.update(flags_of_units(counted, plan, flags_of))
        counted = count()
        if isinstance(counted, list):
            raise RuntimeError(f"units left undecided: {counted[:5]}")
    return None if counted is None else (counted[0], counted[1])


#: A unit of each kind the decisions read differently: a compiled decision, a private-use
#: code, a variation sequence, a character outside the compiled decisions.
_WARMING_UNITS = ("髙", "\ue000", "葛\U000e0102", "\U0002000b")


def warm(plan: ColumnPlan) -> None:
    """Load what deciding units reads (the compiled decisions, the tables of the pipeline,
    polars' first queries) by deciding a unit of each kind the target does not keep: a scan
    on several threads does it while the file's line ends are read."""
    target = plan.normalizer.target
    units = [u for u in _WARMING_UNITS if u not in target.visible_chars
             and u not in target.sequences]
    if units:
        plan.decisions(pl.Series(units, dtype=pl.String))


def flags_of_units(units: list[str], plan: ColumnPlan,
                    flags_of: Callable[[UnitOutcome], int]) -> dict[str, int]:
    """``flags_of`` for each of ``units`` (-1 for a unit the target keeps), called once per
    distinct kind of outcome: flags depend on what the outcome says, and on the unit itself
    only through the target's membership.  The decisions come in one frame
    (:meth:`ColumnPlan.decisions`), or, for fewer than :data:`FEW_UNITS` units, from
    ``Normalizer.outcome`` one by one (the same flags: ``tests/test_fastpath.py``)."""
    alone = flags_one_by_one(plan.normalizer, units, flags_of, FEW_UNITS)
    if alone is not None:
        return alone
    target = plan.normalizer.target
    kept = target.visible_chars
    sequences = target.sequences
    out = {u: -1 for u in units if u in kept or u in sequences}
    changed = [u for u in units if u not in out]
    kind = ["rule", "fallback", "review", "inside"]
    decided = plan.decisions(pl.Series(changed, dtype=pl.String)).select(
        "unit", rule=pl.col("rules").str.split(">").list.last(), fallback="fallback",
        review="review", inside=pl.col("unit").is_in(target_units(target).implode()))
    # one unit of each kind asked (a handful of kinds per file), the others joined to it
    kinds = decided.unique(kind, keep="first", maintain_order=True)
    kind_flags = [flags_of(UnitOutcome(unit, "", (rule,), fallback, review))
                  for unit, rule, fallback, review, _ in kinds.iter_rows()]
    flags = decided.join(kinds.select(*kind, f=pl.Series(kind_flags, dtype=pl.Int64)),
                         on=kind, how="left", maintain_order="left", nulls_equal=True)["f"]
    out.update(zip(changed, flags.to_list(), strict=True))
    return out


# --------------------------------------------------------------------------- normalizing

#: The outputs of :func:`explain`, in order.
OUTPUTS = ("normalized", "changes", "review")
#: What :func:`explain` can give besides: ``fallback``, True when a unit of the value is
#: replaced by the fallback (what ``normalize`` counts as a fallback value).
EXTRA_OUTPUTS = ("fallback",)


def explain(
    values: pl.Series,
    target: TargetLike = "jisx0208",
    *,
    reading: pl.Series | None = None,
    outputs: Sequence[str] = OUTPUTS,
    **options: Any,
) -> pl.DataFrame:
    """Normalize a column: a frame with ``normalized``, ``changes`` and ``review``.

    ``normalized`` equals ``Normalizer.normalize`` per value, ``changes`` the ``str(Change)``
    of ``Normalizer.explain`` joined by ``"; "`` (the CLI's ``C_changes`` column) and
    ``review`` is True when any change has ``Change.review``.  Null values stay null.
    ``reading`` is the reading column fallback ``kana`` uses.  ``outputs`` selects the columns
    to compute (and may ask for :data:`EXTRA_OUTPUTS`).  ``options`` (``fallback``,
    ``gaiji``, ``rules`` …) go to ``mojinorm.get_normalizer``.
    """
    unknown = set(outputs) - set(OUTPUTS) - set(EXTRA_OUTPUTS)
    if unknown:
        raise ValueError(f"unknown outputs {sorted(unknown)}; choose from "
                         f"{OUTPUTS + EXTRA_OUTPUTS}")
    plan = column_plan(target, **options)
    s = as_strings(values)
    if reading is not None:
        reading = as_strings(reading)
        if reading.len() != s.len():
            raise ValueError(f"reading has {reading.len()} values, the column {s.len()}")
    return _explain(s, plan, reading, tuple(outputs))


def normalize(values: pl.Series, target: TargetLike = "jisx0208", *,
              reading: pl.Series | None = None, **options: Any) -> pl.Series:
    """``Normalizer.normalize`` per value (see :func:`explain`)."""
    frame = explain(values, target, reading=reading, outputs=("normalized",), **options)
    return frame.to_series(0).alias(values.name)


def changes(values: pl.Series, target: TargetLike = "jisx0208", *,
            reading: pl.Series | None = None, **options: Any) -> pl.Series:
    """The change text per value, as the CLI's ``C_changes`` column (see :func:`explain`)."""
    frame = explain(values, target, reading=reading, outputs=("changes",), **options)
    return frame.to_series(0).alias(values.name)


def review(values: pl.Series, target: TargetLike = "jisx0208", *,
           reading: pl.Series | None = None, **options: Any) -> pl.Series:
    """True per value when a person should look at a change (see :func:`explain`)."""
    frame = explain(values, target, reading=reading, outputs=("review",), **options)
    return frame.to_series(0).alias(values.name)


def _explain(s: pl.Series, plan: ColumnPlan, reading: pl.Series | None,
             outputs: tuple[str, ...]) -> pl.DataFrame:
    normalizer = plan.normalizer
    if reading is None and explains_by_guard(normalizer):
        if outputs == ("normalized",):
            normalized = _normalized_in_arrow(s, plan)
            if normalized is not None:
                return normalized
        found = guard_hit_values(s, normalizer.target)
        if found is not None:
            return _explained_by_guard(s, plan, outputs, *found)
    work = _work(s, plan.patterns)
    if work is None:
        return _frame(s, outputs, None, None, None, None, None)

    # Once per distinct unit: a join with the compiled decisions, Python for the others (and
    # only for units not seen in an earlier batch).
    keys = _units(work, plan.patterns)
    table = plan.table(keys, changes="changes" in outputs)
    key_series = table["unit"]
    kana = normalizer.fallback == "kana" and reading is not None
    special = table["raises"] | (table["fallback"] & kana)

    # polars: per row, every output in one query (a query costs about a millisecond whatever
    # its size, and a batch of a file brings a few thousand rows).
    def any_token(flags: pl.Series) -> pl.Expr:
        return _per_token(key_series, flags, pl.Boolean, False).list.any() if flags.any() else \
            pl.repeat(False, pl.len(), dtype=pl.Boolean)

    outs: dict[str, pl.Expr] = {}
    if "normalized" in outputs:
        # Each unit replaced as a token: exact by construction (no re-matching of the text).
        outs["normalized"] = pl.col("t").list.eval(
            pl.element().replace(key_series, table["replacement"])).list.join("")
    if "changes" in outputs:
        change_values = table["changes"].replace("", None)
        outs["changes"] = _per_token(key_series, change_values, pl.String, None).list.join(
            "; ", ignore_nulls=True)
    if "review" in outputs:
        outs["review"] = any_token(table["review"])
    if "fallback" in outputs:
        outs["fallback"] = any_token(table["fallback"])
    if special.any():
        outs["special"] = any_token(special)
    per_row = pl.LazyFrame({"t": work.tokens}).select(**outs).collect()
    texts = per_row["normalized"] if "normalized" in outs else None
    row_changes = per_row["changes"] if "changes" in outs else None
    row_review = per_row["review"] if "review" in outs else None
    row_fallback = per_row["fallback"] if "fallback" in outs else None

    # Per name: the rows the unit map cannot answer, in row order.
    per_name = work.context
    if "special" in outs:
        mask = per_row["special"]
        per_name = mask if per_name is None else (per_name | mask)
    if per_name is not None:
        pos = per_name.arg_true()
        plan.rows_per_name += pos.len()
        rows = work.texts.gather(pos).to_list()
        reads = (reading.gather(work.idx.gather(pos)).to_list() if reading is not None
                 else [None] * len(rows))
        results = [normalizer.explain(text, reading=read)
                   for text, read in zip(rows, reads, strict=True)]
        if texts is not None:
            texts = texts.scatter(pos, pl.Series([r.text for r in results], dtype=pl.String))
        if row_changes is not None:
            row_changes = row_changes.scatter(pos, pl.Series(
                ["; ".join(str(c) for c in r.changes) for r in results], dtype=pl.String))
        if row_review is not None:
            row_review = row_review.scatter(pos, pl.Series(
                [any(c.review for c in r.changes) for r in results], dtype=pl.Boolean))
    if row_fallback is not None and work.context is not None:
        # units that pair up by context: the units the per-name API found (elsewhere a
        # value's units are its tokens, whoever writes its text)
        pos = work.context.arg_true()
        row_fallback = row_fallback.scatter(pos, pl.Series(
            [any(normalizer.outcome(c.original).fallback
                 for c in normalizer.explain(text).changes)
             for text in work.texts.gather(pos).to_list()], dtype=pl.Boolean))
    return _frame(s, outputs, work.idx, texts, row_changes, row_review, row_fallback)


#: From this many values on, a column normalized on the compiled guard reads the compiled
#: decisions first (as ``Normalizer.normalize_many`` does for as many names).
_MANY_VALUES = 1000


def _normalized_in_arrow(s: pl.Series, plan: ColumnPlan) -> pl.DataFrame | None:
    """The ``normalized`` column alone, made by ``Normalizer._normalize_arrow`` in the
    column's Arrow memory: the values the guard stops at, each distinct unit decided once as
    ``normalize`` decides it, written into a new column of string views whose other values
    point at the input's bytes (no str per value, no scatter); None when the compiled module
    cannot read the column."""
    normalizer = plan.normalizer
    if s.len() >= _MANY_VALUES:
        normalizer._read_compiled_decisions()
    read = normalizer._normalize_arrow(s.__arrow_c_stream__(), pl.thread_pool_size())
    if read is None:
        return None
    stream, changed = read
    if stream is None:
        return _frame(s, ("normalized",), None, None, None, None, None)
    plan.rows_per_name += changed
    return pl.DataFrame([pl.Series("normalized", _ArrowStream(stream))])


class _ArrowStream:
    """An Arrow C stream capsule as polars imports one (the PyCapsule interface)."""

    def __init__(self, capsule: Any) -> None:
        self._capsule = capsule

    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any:
        return self._capsule


def _explained_by_guard(s: pl.Series, plan: ColumnPlan, outputs: tuple[str, ...],
                        hits: pl.Series, values: list[str]) -> pl.DataFrame:
    """:func:`explain` with the compiled module: the rows the guard found (``hits``) are
    explained unit by unit by ``Normalizer._explain_list``, which writes each distinct unit's
    change once (a compiled decision's or a private-use code's in C, the others by
    ``Normalizer.outcome``) and keeps it in the plan for the next batches.  A name with a unit
    fallback ``error`` raises for goes through ``Normalizer.explain``, in row order, as in
    the polars path.  Equal to it (``tests/test_column.py`` proves both against the per-name
    API), and three to four times as fast on a member file: no tokens, no per-unit frames."""
    if hits.len() == 0:
        return _frame(s, outputs, None, None, None, None, None)
    normalizer = plan.normalizer
    normalizer._read_compiled_decisions()
    with plan._lock:
        if len(plan.explained_units) > _UNIT_MEMO_LIMIT:
            plan.explained_units.clear()
        units = plan.explained_units
    texts, changes, flags = normalizer._explain_list(values, units,
                                                     normalizer._private_use_row)
    per_name = [k for k, f in enumerate(flags) if f & 4]
    review = [bool(f & 1) for f in flags]
    if per_name:
        plan.rows_per_name += len(per_name)
        for k in per_name:
            result = normalizer.explain(values[k])
            texts[k] = result.text
            changes[k] = "; ".join(str(c) for c in result.changes)
            review[k] = any(c.review for c in result.changes)
    return _frame(s, outputs, hits, pl.Series(texts, dtype=pl.String),
                  pl.Series(changes, dtype=pl.String), pl.Series(review, dtype=pl.Boolean),
                  pl.Series([bool(f & 2) for f in flags], dtype=pl.Boolean))


def _frame(s: pl.Series, outputs: tuple[str, ...], idx: pl.Series | None,
           texts: pl.Series | None, row_changes: pl.Series | None,
           row_review: pl.Series | None, row_fallback: pl.Series | None) -> pl.DataFrame:
    """The full columns: the work rows' results scattered over the untouched values."""
    columns = []
    for name in outputs:
        if name == "normalized":
            col = s if idx is None or texts is None else s.clone().scatter(idx, texts)
        elif name == "changes":
            col = _blank(s, "", pl.String)
            if idx is not None and row_changes is not None:
                col = col.scatter(idx, row_changes)
        else:
            flags = row_review if name == "review" else row_fallback
            col = _blank(s, False, pl.Boolean)
            if idx is not None and flags is not None:
                col = col.scatter(idx, flags)
        columns.append(col.alias(name))
    return pl.DataFrame(columns)


# --------------------------------------------------------------------------- per distinct value


def map_distinct(values: pl.Series, function: Any) -> pl.Series:
    """``function`` applied once per distinct non-null value, joined back in row order."""
    s = as_strings(values)
    distinct = s.drop_nulls().unique()
    results = pl.Series([function(v) for v in distinct.to_list()], dtype=pl.String)
    return s.replace_strict(distinct, results, default=None, return_dtype=pl.String)


def match_key_value(value: str) -> str:
    return _match_key(value)


def kana_katakana(value: str) -> str:
    return _normalize_kana(value)


def kana_hiragana(value: str) -> str:
    return _normalize_kana(value, hiragana=True)


def match_key(values: pl.Series) -> pl.Series:
    """``mojinorm.match_key`` per value, computed once per distinct value."""
    return map_distinct(values, match_key_value)


def normalize_kana(values: pl.Series, *, hiragana: bool = False) -> pl.Series:
    """``mojinorm.normalize_kana`` per value, computed once per distinct value."""
    return map_distinct(values, kana_hiragana if hiragana else kana_katakana)


# --------------------------------------------------------------------------- expressions


class ColumnUnmappableCharacter(UnmappableCharacter):
    """``UnmappableCharacter`` raised from inside a polars expression.

    polars re-raises an exception from a Python function as ``type(exc)(message + context)``;
    this class takes that single argument and restores the fields and the per-name message of
    the error that was raised, so callers see the same exception as from the per-name API.
    """

    _raised: dict[str, tuple[str, int, str, str, str]] = {}

    def __init__(self, *args: Any) -> None:
        if len(args) == 5:
            super().__init__(*args)
            raised = ColumnUnmappableCharacter._raised
            if len(raised) > 64:
                raised.clear()
            raised[str(self)] = args
            return
        message = str(args[0]) if args else ""
        for text, fields in list(ColumnUnmappableCharacter._raised.items()):
            if message.startswith(text):
                super().__init__(*fields)
                return
        Exception.__init__(self, message)

    @classmethod
    def wrap(cls, exc: UnmappableCharacter) -> ColumnUnmappableCharacter:
        return cls(exc.char, exc.index, exc.text, exc.target, exc.reason)


def _batch(function: Any) -> Any:
    """Run ``function`` so an ``UnmappableCharacter`` survives polars' re-raise."""

    def run(s: pl.Series) -> pl.Series:
        try:
            out: pl.Series = function(s)
        except ColumnUnmappableCharacter:
            raise
        except UnmappableCharacter as exc:
            raise ColumnUnmappableCharacter.wrap(exc) from None
        return out

    return run


def is_safe_expr(expr: pl.Expr, target: TargetLike = "jisx0208") -> pl.Expr:
    """:func:`is_safe` as an expression (a plain ``str.contains`` for most targets)."""
    tgt = _target(target)
    patterns = target_patterns(tgt)
    if not patterns.sequences:
        return expr.str.contains(patterns.guard).not_()
    return expr.map_batches(lambda s: is_safe(s, tgt), return_dtype=pl.Boolean,
                            is_elementwise=False)


def unsafe_chars_expr(expr: pl.Expr, target: TargetLike = "jisx0208") -> pl.Expr:
    """:func:`unsafe_chars` as an expression."""
    tgt = _target(target)
    return expr.map_batches(lambda s: unsafe_chars(s, tgt), return_dtype=pl.List(pl.String),
                            is_elementwise=False)


def explain_expr(expr: pl.Expr, target: TargetLike = "jisx0208", *,
                 reading: pl.Expr | str | None = None, outputs: Sequence[str] = OUTPUTS,
                 **options: Any) -> pl.Expr:
    """:func:`explain` as an expression: a struct of ``outputs`` (``normalized``, ``changes``,
    ``review``), or that column itself when one output is asked for."""
    plan = column_plan(target, **options)  # options are checked now, not at collect time
    wanted = tuple(outputs)
    unknown = set(wanted) - set(OUTPUTS)
    if unknown:
        raise ValueError(f"unknown outputs {sorted(unknown)}; choose from {OUTPUTS}")
    dtypes = {"normalized": pl.String, "changes": pl.String, "review": pl.Boolean}
    dtype: Any = (dtypes[wanted[0]] if len(wanted) == 1
                  else pl.Struct({name: dtypes[name] for name in wanted}))

    def result(s: pl.Series, reading: pl.Series | None) -> pl.Series:
        frame = _explain(as_strings(s), plan, reading, wanted)
        if len(wanted) == 1:
            return frame.to_series(0).alias(s.name)
        return frame.to_struct(s.name)

    if reading is None:
        return expr.map_batches(_batch(lambda s: result(s, None)), return_dtype=dtype,
                                is_elementwise=False)

    read = pl.col(reading) if isinstance(reading, str) else reading

    def two(s: pl.Series) -> pl.Series:
        fields = s.struct.unnest()
        return result(fields.to_series(0), as_strings(fields.to_series(1))).alias(s.name)

    # The struct takes the name of its first field, so the output keeps the column's name.
    return pl.struct(expr, read.alias("__mojinorm_reading")).map_batches(
        _batch(two), return_dtype=dtype, is_elementwise=False)


def map_distinct_expr(expr: pl.Expr, function: Any) -> pl.Expr:
    """``function`` per distinct value of a string expression (see :func:`map_distinct`)."""
    return expr.map_batches(lambda s: map_distinct(s, function), return_dtype=pl.String,
                            is_elementwise=False)
