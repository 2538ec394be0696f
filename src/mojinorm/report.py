"""What ``scan`` and ``normalize`` report: :class:`ScanReport`, :class:`CharStat`,
:class:`NormalizeSummary`.

A :class:`ScanReport` is built from the :class:`~mojinorm.counting.Counts` of a scan by
:func:`fill_report` (the counting rules are in :mod:`mojinorm.counting`); each offending unit
becomes a :class:`CharStat` with what the normalizer would do with it (``Normalizer.outcome``)
and its category.  A scan of many units holds them column by column, in a :class:`CharTable`
(the decisions in one frame, the JSON lines written by polars); it reads as a sequence of the
same :class:`CharStat` items.  ``--format json`` prints :meth:`ScanReport.to_json`; the keys
are part of the command line's interface.
"""

from __future__ import annotations

import heapq
import json
import re
import shlex
import sys
import threading
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from functools import lru_cache
from operator import attrgetter
from pathlib import PurePath
from typing import TYPE_CHECKING, Any, overload

from ._compiled import code_point_names
from .counting import Counts
from .gaiji import PRIVATE_USE_CLASS, is_private_use
from .invisible import classify, invisible_among
from .normalizer import Normalizer
from .records import Layout
from .rules import LOSSLESS_RULES
from .units import VARIATION_SELECTOR_CLASS, is_variation_selector

if TYPE_CHECKING:
    import polars as pl

__all__ = ["CharStat", "CharTable", "NormalizeSummary", "ReviewRow", "ScanReport",
           "char_stats", "fill_report", "next_command", "shift_jis_codes"]


_quote: Callable[[str], str] = json.encoder.encode_basestring


@dataclass(slots=True)
class CharStat:
    """One offending unit: how often it occurs and what the normalizer would do with it."""

    char: str
    codepoint: str
    count: int
    replacement: str
    rule: str
    steps: str
    mj: str | None
    category: str  #: invisible, gaiji, variation-sequence, compatibility-ideograph, outside-target
    in_target: bool
    fallback: bool
    alternatives: tuple[str, ...] = ()
    #: the Shift_JIS code of a private-use character read from a CP932 file (F040...): what
    #: gaiji lists of such systems use
    sjis: str | None = None

    @property
    def fix(self) -> str:
        """``same`` (the character itself in another form), ``substitute`` (another
        character) or ``fallback``."""
        if self.fallback:
            return "fallback"
        steps = self.steps.split(">") if self.steps else [self.rule]
        return "same" if all(s in LOSSLESS_RULES for s in steps) else "substitute"

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "char": self.char, "codepoint": self.codepoint, "count": self.count,
            "replacement": self.replacement, "rule": self.rule, "steps": self.steps,
            "mj": self.mj, "category": self.category, "in_target": self.in_target,
            "fallback": self.fallback, "fix": self.fix, "alternatives": list(self.alternatives)}
        if self.sjis is not None:
            out["sjis"] = self.sjis
        return out

    def to_json(self) -> str:
        """``json.dumps(self.to_dict(), ensure_ascii=False)``, written directly: a report may
        hold tens of thousands of characters, and ``dumps`` sets up an encoder per call."""
        q = _quote
        alternatives = ", ".join(map(q, self.alternatives))
        sjis = "" if self.sjis is None else f", \"sjis\": {q(self.sjis)}"
        return (f'{{"char": {q(self.char)}, "codepoint": {q(self.codepoint)}, '
                f'"count": {self.count:d}, "replacement": {q(self.replacement)}, '
                f'"rule": {q(self.rule)}, "steps": {q(self.steps)}, '
                f'"mj": {"null" if self.mj is None else q(self.mj)}, '
                f'"category": {q(self.category)}, '
                f'"in_target": {"true" if self.in_target else "false"}, '
                f'"fallback": {"true" if self.fallback else "false"}, '
                f'"fix": {q(self.fix)}, "alternatives": [{alternatives}]{sjis}}}')


#: A rule's name (what :meth:`CharTable.json_lines_utf8` puts in a pattern unescaped).
_RULE_NAME = re.compile(r"[a-z0-9-]+")

#: What ``json.dumps(ensure_ascii=False)`` escapes in a string, and how: the encoder's own
#: table (``\\``, ``"`` and every code point below U+0020).
_JSON_ESCAPES: dict[str, str] = json.encoder.ESCAPE_DCT


class CharTable(Sequence[CharStat]):
    """The characters of a report, in order, held column by column in a polars frame (one
    column per :class:`CharStat` field, ``alternatives`` a list): a member file meets tens of
    thousands of units.  A :class:`CharStat` is made only for the items read, and the JSON
    lines are written by polars, byte for byte what :meth:`CharStat.to_json` writes.  A scan's
    table is deferred (:meth:`deferred`): built when first read whole, its first items (the
    summary's) worked out alone until then."""

    #: A deferred table (:meth:`deferred`) gives up to this many first items without being
    #: built (the summary shows the first 20 characters of tens of thousands).
    FIRST_ALONE = 100

    def __init__(self, frame: pl.DataFrame) -> None:
        _check_char_frame(frame)
        self._setup(frame, frame.height, None, None)

    def _setup(self, frame: pl.DataFrame | None, length: int,
               build: Callable[[], pl.DataFrame] | None,
               first: Callable[[int], list[CharStat]] | None) -> None:
        self._frame = frame
        self._length = length
        self._build = build
        self._first = first
        self._lock = threading.Lock()

    @classmethod
    def deferred(cls, length: int, build: Callable[[], pl.DataFrame],
                 first: Callable[[int], list[CharStat]]) -> CharTable:
        """A table of ``length`` items, built by ``build`` when first read whole (its frame,
        an item past :data:`FIRST_ALONE`, the JSON lines), its first ``n`` items, until then,
        given by ``first(n)``: they must be the items the built table begins with."""
        table = cls.__new__(cls)
        table._setup(None, length, build, first)
        return table

    @property
    def frame(self) -> pl.DataFrame:
        """The table's items, one row each (the table is built here when deferred)."""
        frame = self._frame
        if frame is None:
            with self._lock:
                frame = self._frame
                if frame is None:
                    assert self._build is not None
                    frame = self._build()
                    _check_char_frame(frame)
                    if frame.height != self._length:
                        raise ValueError(f"a deferred CharTable of {self._length} items "
                                         f"built {frame.height}")
                    self._frame = frame
        return frame

    def __reduce__(self) -> tuple[type[CharTable], tuple[pl.DataFrame]]:
        # copied and pickled as its frame (a deferred table is built first)
        return CharTable, (self.frame,)

    @property
    def built(self) -> bool:
        """False while a deferred table (:meth:`deferred`) is not built."""
        return self._frame is not None

    def _first_alone(self, n: int) -> list[CharStat] | None:
        """The first ``n`` items when the table is deferred, not built, and ``n`` is at most
        :data:`FIRST_ALONE`; None otherwise."""
        if self._frame is not None or self._first is None or n > self.FIRST_ALONE:
            return None
        return self._first(min(n, self._length))

    def __len__(self) -> int:
        return self._length

    @overload
    def __getitem__(self, index: int) -> CharStat: ...

    @overload
    def __getitem__(self, index: slice) -> list[CharStat]: ...

    def __getitem__(self, index: int | slice) -> CharStat | list[CharStat]:
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if step != 1:
                return [self[i] for i in range(start, stop, step)]
            if stop <= start:
                return []
            first = self._first_alone(stop)
            if first is not None:
                return first[start:]
            return _char_stats_of(self.frame.slice(start, max(0, stop - start)))
        i = index + len(self) if index < 0 else index
        if not 0 <= i < len(self):
            raise IndexError("CharTable index out of range")
        first = self._first_alone(i + 1)
        if first is not None:
            return first[i]
        return _char_stats_of(self.frame.slice(i, 1))[0]

    def __iter__(self) -> Iterator[CharStat]:
        return iter(_char_stats_of(self.frame))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, CharTable):
            return self.frame.equals(other.frame)
        if isinstance(other, Sequence):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"CharTable({len(self)} characters)"

    @classmethod
    def of(cls, stats: Sequence[CharStat]) -> CharTable:
        """The table holding ``stats``, in their order."""
        import polars as pl

        def column(name: str) -> list[Any]:
            return [getattr(c, name) for c in stats]

        types: dict[str, pl.DataType] = {
            "count": pl.Int64(), "in_target": pl.Boolean(), "fallback": pl.Boolean(),
            "alternatives": pl.List(pl.String)}
        return cls(pl.DataFrame(
            [pl.Series(name, column(name) if name != "alternatives"
                       else [list(a) for a in column(name)], dtype=types.get(name, pl.String()))
             for name in CHAR_FIELDS]))

    def head(self, n: int) -> CharTable:
        first = self._first_alone(max(n, 0))
        if first is not None:
            return CharTable.of(first)
        return CharTable(self.frame.head(n))

    def json_lines(self, separator: str) -> str:
        """Each character's :meth:`CharStat.to_json`, joined by ``separator``."""
        return self.json_lines_utf8(separator).decode("utf-8")

    def json_lines_utf8(self, separator: str) -> bytes:
        """:meth:`json_lines` as UTF-8, as polars writes it (no str of megabytes made)."""
        import polars as pl

        if not len(self):
            return b""
        escapes = (list(_JSON_ESCAPES), list(_JSON_ESCAPES.values()))
        frame = self.frame
        # escaping costs a pass per column: only the columns holding a character to escape
        special = r'[\x00-\x1f"\\]'
        strings = ("char", "codepoint", "replacement", "rule", "steps", "mj", "category", "sjis")
        found = frame.select(*(pl.col(c).str.contains(special).any() for c in strings),
                             pl.col("alternatives").list.join("").str.contains(special).any()
                             .alias("alternatives")).row(0, named=True)

        def quoted(expr: pl.Expr, escape: bool = True) -> pl.Expr:
            if escape:
                expr = expr.str.replace_many(*escapes)
            return pl.concat_str([pl.lit('"'), expr, pl.lit('"')])

        def text(name: str) -> pl.Expr:
            return quoted(pl.col(name), bool(found[name]))

        def boolean(name: str) -> pl.Expr:
            return pl.when(pl.col(name)).then(pl.lit("true")).otherwise(pl.lit("false"))

        # CharStat.fix: every step (the rule when there are none) a lossless rule, matched by
        # one pattern over the steps (rule names are letters, digits and hyphens)
        lossless = "|".join(sorted(LOSSLESS_RULES))
        assert _RULE_NAME.fullmatch(lossless.replace("|", "")), lossless
        steps = pl.when(pl.col("steps") != "").then(pl.col("steps")).otherwise(pl.col("rule"))
        fix = pl.when(pl.col("fallback")).then(pl.lit("fallback")).when(
            steps.str.contains(f"^(?:{lossless})(?:>(?:{lossless}))*$")
        ).then(pl.lit("same")).otherwise(pl.lit("substitute"))
        mj = pl.when(pl.col("mj").is_null()).then(pl.lit("null")).otherwise(text("mj"))
        sjis = pl.when(pl.col("sjis").is_null()).then(pl.lit("")).otherwise(
            pl.concat_str([pl.lit(', "sjis": '), text("sjis")]))
        if found["alternatives"]:
            alternatives = pl.col("alternatives").list.eval(quoted(pl.element())).list.join(
                ", ")
        else:  # nothing to escape: the items joined by '", "', quoted at both ends
            alternatives = pl.when(pl.col("alternatives").list.len() > 0).then(
                quoted(pl.col("alternatives").list.join('", "'), False)).otherwise(pl.lit(""))
        line = pl.concat_str([
            pl.lit('{"char": '), text("char"), pl.lit(', "codepoint": '), text("codepoint"),
            pl.lit(', "count": '), pl.col("count").cast(pl.String),
            pl.lit(', "replacement": '), text("replacement"), pl.lit(', "rule": '),
            text("rule"), pl.lit(', "steps": '), text("steps"), pl.lit(', "mj": '), mj,
            pl.lit(', "category": '), text("category"),
            pl.lit(', "in_target": '), boolean("in_target"),
            pl.lit(', "fallback": '), boolean("fallback"), pl.lit(', "fix": '), quoted(fix, False),
            pl.lit(', "alternatives": ['), alternatives, pl.lit("]"), sjis, pl.lit("}")])
        # the lines made on polars' threads (the streaming engine cuts the rows in parts),
        # then joined
        lines = frame.lazy().select(line.alias("line")).collect(engine="streaming")
        joined: bytes = lines.select(pl.col("line").str.join(separator).cast(pl.Binary)).item()
        return joined

    def with_sjis(self, codes: Sequence[str | None]) -> CharTable:
        """The table with ``sjis`` set where ``codes`` holds one (kept elsewhere)."""
        import polars as pl

        new = pl.Series("new", codes, dtype=pl.String)
        return CharTable(self.frame.with_columns(pl.coalesce(new, pl.col("sjis")).alias("sjis")))

    def with_sjis_of(self, code_of: Callable[[str], str | None]) -> CharTable:
        """The table with ``sjis`` set to ``code_of(char)`` where that is not None (kept
        elsewhere); a deferred table stays deferred."""
        build, first = self._build, self._first
        if self._frame is not None or build is None or first is None:
            return self.with_sjis(list(map(code_of, self.frame["char"].to_list())))

        def first_coded(n: int) -> list[CharStat]:
            stats = first(n)
            for c in stats:
                code = code_of(c.char)
                if code is not None:
                    c.sjis = code
            return stats

        return CharTable.deferred(
            self._length, lambda: CharTable(build()).with_sjis_of(code_of).frame, first_coded)


#: The fields of a :class:`CharStat`, in order: the columns of a :class:`CharTable`.
CHAR_FIELDS = tuple(f.name for f in fields(CharStat))


def _check_char_frame(frame: pl.DataFrame) -> None:
    if tuple(frame.columns) != CHAR_FIELDS:
        raise ValueError(f"a CharTable has the columns {CHAR_FIELDS}, not {frame.columns}")


def _char_stats_of(frame: pl.DataFrame) -> list[CharStat]:
    return [CharStat(char, codepoint, count, replacement, rule, steps, mj, category, in_target,
                     fallback, tuple(alternatives), sjis)
            for (char, codepoint, count, replacement, rule, steps, mj, category, in_target,
                 fallback, alternatives, sjis) in frame.iter_rows()]


@dataclass
class ReviewRow:
    """A row a person should look at (one of the first ``counting.REVIEW_EXAMPLES``)."""

    line: int  #: where the record starts (1-based, the header counted); Parquet: the row
    columns: tuple[str, ...]  #: the selected columns whose value needs the look
    chars: tuple[str, ...]  #: the units of those values marked for review

    def to_dict(self) -> dict[str, object]:
        return {"line": self.line, "columns": list(self.columns), "chars": list(self.chars)}


@dataclass
class ScanReport:
    """What a scan found (the counting rules are in :mod:`mojinorm.counting`)."""

    file: str
    target: str
    encoding: str
    encoding_detected: bool
    delimiter: str | None  #: None for plain text (one value per line)
    header: bool
    fields: int  #: fields per row expected (header's or first row's)
    columns_selected: list[str]
    rows: int = 0
    unsafe_rows: int = 0
    fixable_rows: int = 0
    lossless_rows: int = 0
    substituted_rows: int = 0
    fallback_rows: int = 0
    #: rows a person should look at: a fallback, an ambiguous unit or a sibling glyph's mapping
    review_rows: int = 0
    invisible_rows: int = 0
    ragged_rows: int = 0
    #: unsafe rows among the ragged ones: ``normalize`` copies them as they are, so they are
    #: neither fixable nor fallback rows
    ragged_unsafe_rows: int = 0
    blank_lines: int = 0
    multiline_records: int = 0
    columns: dict[str, dict[str, int]] = field(default_factory=dict)
    #: a list, or (a scan of many characters) a :class:`CharTable`
    chars: Sequence[CharStat] = field(default_factory=list)
    #: "LF", "CRLF", "LF and CRLF" or "CR" (classic Mac OS); a stream's from its first MiB
    line_ends: str = "LF"
    #: oddities of the file, one sentence each: empty, header only, duplicate header names,
    #: CR-only line ends, a trailing delimiter layout
    notes: list[str] = field(default_factory=list)
    #: the first rows to review, in file order (``review_rows`` counts them all)
    review_examples: list[ReviewRow] = field(default_factory=list)
    #: staged targets (``scan --target A --target B``), in order, one pass: per target its
    #: ``unsafe_rows``, ``fixable_rows``, ``fallback_rows``, ``review_rows``, and
    #: ``newly_unsafe_rows``, the rows that render in the previous target and not in this
    #: one (None for the first); empty for one target
    stages: list[dict[str, Any]] = field(default_factory=list)

    @property
    def unsafe_percent(self) -> float:
        return 100.0 * self.unsafe_rows / self.rows if self.rows else 0.0

    def to_dict(self, top: int | None = None) -> dict[str, Any]:
        """The report as plain data (what ``--format json`` prints).  Built field by field:
        a report may hold tens of thousands of characters."""
        d = {f.name: getattr(self, f.name) for f in fields(self)
             if f.name not in ("chars", "review_examples")}
        d["columns_selected"] = list(self.columns_selected)
        d["columns"] = {k: dict(v) for k, v in self.columns.items()}
        d["notes"] = list(self.notes)
        d["stages"] = [dict(s) for s in self.stages]
        d["unsafe_percent"] = round(self.unsafe_percent, 3)
        d["review_examples"] = [r.to_dict() for r in self.review_examples]
        chars = self.chars if top is None else self.chars[:top]
        d["chars"] = [c.to_dict() for c in chars]
        return d

    def to_json(self, top: int | None = None) -> str:
        """``to_dict`` as JSON: indented, one line per character and per review row (the C
        encoder does those)."""
        return self.to_json_utf8(top).decode("utf-8")

    def to_json_utf8(self, top: int | None = None) -> bytes:
        """:meth:`to_json` as UTF-8 (what ``scan --format json`` writes): the character lines
        come from polars as bytes, and megabytes of them are never decoded and encoded
        again."""
        d = self.to_dict(top=0)
        chars = self.chars
        if isinstance(chars, CharTable):
            lines = (chars if top is None else chars.head(top)).json_lines_utf8(",\n    ")
        else:
            lines = ",\n    ".join(c.to_json() for c in (chars if top is None
                                                      else chars[:top])).encode("utf-8")
        items = {"review_examples": ",\n    ".join(
                     json.dumps(r, ensure_ascii=False)
                     for r in d.pop("review_examples")).encode("utf-8"),
                 "chars": lines}
        del d["chars"]
        # one join at the end: the character lines may make megabytes of text
        parts = [json.dumps(d, ensure_ascii=False, indent=2)[:-2].encode("utf-8")]
        for key, joined in items.items():
            if joined:
                parts += [f',\n  "{key}": [\n    '.encode(), joined, b"\n  ]"]
            else:
                parts.append(f',\n  "{key}": []'.encode())
        parts.append(b"\n}")
        return b"".join(parts)


@dataclass
class NormalizeSummary:
    """What ``normalize`` wrote."""

    file: str
    output: str
    encoding: str
    target: str
    rows: int = 0
    rows_changed: int = 0
    values_changed: int = 0
    fallback_values: int = 0
    review_values: int = 0
    readings_changed: int = 0  #: reading (kana) values normalize_kana changed
    log_rows: int = 0  #: rows written to the change log (``--log``)
    #: plain-text records kept as they were because their value would have become empty
    kept_empty: int = 0  #: values a person should look at (fallback, ambiguous, sibling glyph)
    ragged_rows: int = 0
    blank_lines: int = 0
    multiline_records: int = 0
    line_ends: str = "LF"  #: as ScanReport.line_ends (each record's own line end is kept)
    notes: list[str] = field(default_factory=list)  #: as in ``ScanReport.notes``


def fill_report(report: ScanReport, c: Counts, layout: Layout, normalizer: Normalizer) -> None:
    """Set the counts of ``report`` from ``c``: rows, columns and one :class:`CharStat` per
    offending unit, sorted by count, then code point."""
    report.rows = c.rows
    report.unsafe_rows = c.unsafe
    report.fixable_rows = c.fixable
    report.lossless_rows = c.lossless
    report.substituted_rows = c.fixable - c.lossless
    report.fallback_rows = c.fallback
    report.review_rows = c.review
    report.invisible_rows = c.invisible
    report.ragged_rows = c.ragged
    report.ragged_unsafe_rows = c.ragged_unsafe
    report.blank_lines = c.blank
    report.multiline_records = c.multiline
    report.columns = {
        layout.names[ci]: {
            "values": c.rows - c.col_missing[j],
            "unsafe": c.col_unsafe[j],
            "fallback": c.col_fallback[j],
            "invisible": c.col_invisible[j],
            "changed": c.col_changed[j],
            "lossless": c.col_lossless[j],
            "substituted": c.col_unsafe[j] - c.col_fallback[j] - c.col_lossless[j],
            "review": c.col_review[j],
        }
        for j, ci in enumerate(layout.selected)
    }
    names = [layout.names[ci] for ci in layout.selected]
    report.review_examples = [
        ReviewRow(e.line, tuple(names[j] for j in e.columns), e.units)
        for e in c.review_examples]
    report.chars = char_stats(normalizer, c.chars)


#: From this many characters on, and when a scan has loaded polars, :func:`char_stats` builds
#: a :class:`CharTable` (a member file meets tens of thousands of units).
COLUMNAR_CHARS = 1000


def char_stats(normalizer: Normalizer, counts: Mapping[str, int],
               columnar: bool | None = None) -> Sequence[CharStat]:
    """A :class:`CharStat` per unit of ``counts`` (unit -> occurrences): what ``normalizer``
    does with it, sorted by count, then code point.  A :class:`CharTable` when ``columnar``
    (default: many units and polars loaded), else a list; the same items either way.

    The table is deferred: built when first read whole (the JSON report, the HTML report),
    while its first items (the summary's top characters) are worked out alone, from the
    units counted most."""
    if columnar is None:
        columnar = len(counts) >= COLUMNAR_CHARS and "polars" in sys.modules
    if not columnar:
        return _listed_char_stats(normalizer, counts)
    counts = dict(counts)  # the table's own, built later
    return CharTable.deferred(
        len(counts), lambda: _char_frame(normalizer, counts),
        lambda n: _listed_char_stats(normalizer, dict(heapq.nsmallest(
            n, counts.items(), key=lambda item: (-item[1], item[0])))))


def _char_frame(normalizer: Normalizer, counts: Mapping[str, int]) -> pl.DataFrame:
    """The frame of :func:`char_stats`' table: the decisions in one frame, one sort."""
    import polars as pl

    from .column import column_plan, target_units

    units = list(counts)
    # the units the scan's counting decided are read back, not decided again; their
    # categories found meanwhile (most of the one is polars', most of the other Python's)
    unit_series = pl.Series(units, dtype=pl.String)
    with ThreadPoolExecutor(1, thread_name_prefix="mojinorm-report") as pool:
        categorized = pool.submit(unit_categories, unit_series)
        decided = column_plan(normalizer).recalled_decisions(unit_series)
        unit_category = categorized.result()
    frame = decided.select(
        pl.col("unit").alias("char"),
        pl.Series("codepoint", code_point_names(units), dtype=pl.String),
        pl.Series("count", list(counts.values()), dtype=pl.Int64),
        "replacement", pl.col("rules").str.split(">").list.last().alias("rule"),
        pl.col("rules").alias("steps"), "mj",
        unit_category.alias("category"),
        pl.col("unit").is_in(target_units(normalizer.target).implode()).alias("in_target"),
        "fallback", "alternatives", pl.lit(None, pl.String).alias("sjis"))
    # by count, then code point (UTF-8 byte order is code point order)
    return frame.sort(["count", "char"], descending=[True, False])


def _listed_char_stats(normalizer: Normalizer, counts: Mapping[str, int]) -> list[CharStat]:
    """:func:`char_stats` as a list, one ``Normalizer.outcome`` per unit."""
    units = list(counts)
    codepoints = code_point_names(units)
    categories = list(map(_category, units))
    inside = list(map(normalizer.target.__contains__, units))
    stats = []
    for unit, codepoint, count, category, in_target in zip(
            units, codepoints, counts.values(), categories, inside, strict=True):
        out = normalizer.outcome(unit)
        stats.append(CharStat(unit, codepoint, count, out.replacement, out.rule,
                              ">".join(out.rules), out.mj, category, in_target,
                              out.fallback, out.alternatives))
    # by count, then code point (str order): two stable sorts with C keys
    stats.sort(key=attrgetter("char"))
    stats.sort(key=attrgetter("count"), reverse=True)
    return stats


def unit_categories(units: pl.Series) -> pl.Series:
    """:func:`_category` of each of ``units`` (a String series of units), by polars: one query
    over classes of code points, the invisible ones among the units' first code points found
    once (a member file meets tens of thousands of units)."""
    import polars as pl

    first = pl.col("u").str.slice(0, 1)
    private_use = f"^[{PRIVATE_USE_CLASS}]"
    # the first code points to classify: not the private-use ones (gaiji, whatever else)
    firsts = units.str.slice(0, 1).unique().drop_nulls().to_frame("f").filter(
        ~pl.col("f").str.contains(private_use)).to_series().to_list()
    invisible = pl.Series(sorted(invisible_among(firsts)), dtype=pl.String)
    compatibility = pl.Series(sorted(_changed_compatibility_ideographs()), dtype=pl.String)
    return units.to_frame("u").select(
        pl.when(first.str.contains(private_use)).then(pl.lit("gaiji"))
        .when(first.is_in(invisible.implode())).then(pl.lit("invisible"))
        .when((pl.col("u").str.len_chars() > 1)
              & pl.col("u").str.contains(f"[{VARIATION_SELECTOR_CLASS}]$"))
        .then(pl.lit("variation-sequence"))
        .when(first.is_in(compatibility.implode())).then(pl.lit("compatibility-ideograph"))
        .otherwise(pl.lit("outside-target"))).to_series()


@lru_cache(maxsize=1)
def _changed_compatibility_ideographs() -> frozenset[str]:
    """The CJK compatibility ideographs NFC changes (the others in their blocks are unified
    ideographs, such as U+FA0E, or unassigned)."""
    return frozenset(ch for block in (range(0xF900, 0xFB00), range(0x2F800, 0x2FA20))
                     for ch in map(chr, block) if unicodedata.normalize("NFC", ch) != ch)


def _category(unit: str) -> str:
    """What kind of offending unit: ``invisible``, ``gaiji`` (private use),
    ``variation-sequence``, ``compatibility-ideograph`` or ``outside-target``."""
    first = unit[0]
    cp = ord(first)
    if 0xE000 <= cp <= 0xF8FF or 0xF0000 <= cp <= 0x10FFFD:  # gaiji.is_private_use, inlined
        return "gaiji"
    if classify(first) is not None:
        return "invisible"
    if len(unit) > 1 and is_variation_selector(unit[-1]):
        return "variation-sequence"
    if first in _changed_compatibility_ideographs():
        return "compatibility-ideograph"
    return "outside-target"


def next_command(report: ScanReport, options: Sequence[str] = ()) -> str | None:
    """The ``mojinorm normalize`` command for the columns with values that would render ●
    (None when there are none); ``options``: the scan's own options to repeat (target,
    gaiji, rules, encoding...), as command-line words."""
    columns = [name for name, c in report.columns.items() if c["unsafe"]]
    if not columns:
        return None
    stdin = report.file == "<stdin>"
    src = "-" if stdin else report.file
    path = PurePath("normalized.csv" if stdin else report.file)
    suffix = path.suffix or ""
    out = str(path.with_name(f"{path.stem if suffix else path.name}.normalized{suffix}"))
    words = ["mojinorm", "normalize", src, "-o", out]
    for name in columns:
        words += ["--column", name]
    words += list(options)
    return " ".join(shlex.quote(w) for w in words)


def shift_jis_codes(report: ScanReport) -> None:
    """Name each private-use character of a CP932 file by its Shift_JIS code (U+E000 is
    F040): the code a gaiji list of the sending system uses."""
    if report.encoding != "cp932":
        return
    chars = report.chars
    if isinstance(chars, CharTable):
        report.chars = chars.with_sjis_of(_shift_jis_code)
        return
    for c in chars:
        code = _shift_jis_code(c.char)
        if code is not None:
            c.sjis = code


def _shift_jis_code(unit: str) -> str | None:
    if len(unit) == 1 and is_private_use(unit):
        try:
            return unit.encode("cp932").hex().upper()
        except UnicodeEncodeError:
            pass
    return None
