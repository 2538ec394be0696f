"""Scan and normalize whole member files: :func:`scan_file` and :func:`normalize_file`.

How ``scan`` stays close to the speed of bare ``csv.reader`` (design)
-------------------------------------------------------------------
The file is read in 8 MiB byte chunks cut after a LF and each chunk is decoded once.  Then
*one* compiled ``re`` pass over the whole decoded text finds the lines that need a look::

    \n(?!FIELD,FIELD,FIELD\r?\n)

A selected column's ``FIELD`` is a run of the target's visible characters (a character class
built with ``targets.char_class`` from ``Target.visible_chars`` minus the delimiter, quote, CR
and LF: the whole-text form of ``Target.visible_guard``), or such a run in quotes; a
non-selected column's ``FIELD`` is anything but the delimiter, quote, CR and LF (quoted or not).
So a LF is reported exactly when the line after it

* holds a character that is outside the target or invisible, in a selected column, or
* has a different number of fields than the header (ragged), or
* is blank, or has a quoted field that does not close on the line (an embedded newline), a
  doubled quote, text after a closing quote: anything but a plain well-formed record.

Lines that pass are counted (``str.count("\n")``) and never parsed.  Ragged rows are thus
counted exactly at no extra cost: the field count is part of the same pattern.  The few
reported lines are split (no quote in the chunk: ``line.split(delimiter)``; every field quoted:
a split on ``","``) or parsed with :class:`mojinorm.csvio.RecordParser`, which follows
``csv.reader``'s dialect and continues a record over embedded newlines, across chunk ends
too.  Their selected values are checked with ``visible_guard`` and, on a hit, analysed once per
distinct value with ``Normalizer.explain`` (a bounded cache that also counts occurrences).
The quoted variant of the pattern is compiled only when a chunk holds a quote.

Plain batches (every line one record, the same field count, LF or CRLF throughout) do not go
through this reader at all: :mod:`mojinorm.records` reads them with polars and the column
kernel (:mod:`mojinorm.column`) counts them, each distinct unit decided once.  The reader
above is the exact path for everything else, and the reference the differential tests
compare the fast path against.  ``jobs`` is polars' thread count (see :func:`set_threads`);
a report never depends on it.

Counting rules (also in the CLI help)
-------------------------------------
* ``rows``: data records, without the header and without blank lines.
* a value is *unsafe* when it has a unit outside the target (``Target.is_safe`` semantics): it
  would render as ●.  A value whose only findings are invisible characters *inside* the target
  (TAB, NUL: Shift_JIS encodes them) is not unsafe; it counts as *invisible*.  Invisible
  characters outside the target (zero-width space, NBSP) make a value both unsafe and invisible.
* ``unsafe_rows``: rows with at least one unsafe value in the selected columns.
  ``fixable_rows`` of them become safe without the fallback, ``fallback_rows`` need it;
  ``fixable_rows = lossless_rows + substituted_rows``: lossless when every change of the row's
  unsafe values keeps the character (rules in :data:`LOSSLESS_RULES`: the same character under
  JIS/UCS unification, compatibility/variation forms, gaiji table entries, and removed invisible
  characters), substituted when some change replaces it by another character (a variant).
* ``invisible_rows``: rows with an invisible character in a selected value.
* ``ragged_rows``: rows whose field count differs from the header's (the first row's without a
  header); their existing selected fields are still checked.
* ``chars``: every unit the normalizer would change in the selected values, with its count
  (occurrences), sorted by count, then code point.
* ``notes``: oddities of a file that is still read, one sentence each (also in the table
  report and in ``normalize``'s summary line): an empty file, a header only, CR-only line
  ends, a header name that occurs more than once.

Hostile and broken files (``tests/test_hostile.py``, corpus in ``tests/hostile/``)
------------------------------------------------------------------------------
Read, with the oddity in the report (``scan`` exits 0; ``normalize`` writes byte-exact output):

* NUL bytes and a BOM (U+FEFF) in the middle of the file (two files concatenated) are
  invisible characters: they count in ``invisible_rows`` and show in ``chars``
  (NUL is inside Shift_JIS, so invisible only; U+FEFF is outside every target, so also
  unsafe).  ``normalize`` removes them from the ``C_normalized`` value.
* Ragged rows are counted (``ragged_rows``), their existing selected fields are checked;
  ``normalize`` copies them unchanged, without the new columns.
* CR-only line ends (classic Mac OS): when the first 64 KiB hold a CR and no LF, CR ends
  records (``line_ends: "CR"``); ``normalize`` keeps CR.  A CR or LF inside a quoted field
  stays data.
* A field of any size up to ``csvio.MAX_RECORD`` (16 MiB per record; a 10 MB name is read).
* An empty file (0 rows, note "the file is empty"), a header only (note "no data rows").
* Duplicate header names: every column is scanned; the repeats are labelled ``name#3``
  (``#`` and the 1-based column number) and a note says so.  ``--column name`` is then an
  error (give the index, or the ``name#3`` label).

Refused with exit 2 and one line naming the file, line (and byte offset where known):

* an undecodable byte (in the given encoding; with ``auto``: "neither UTF-8 nor CP932", or
  "the file mixes encodings" when UTF-8 lines are followed by a CP932 line or the reverse);
* a quoted field still open at the end of the file (``csv.reader`` would silently take the
  rest of the file as one field): "line N: quoted field opened here is never closed", N the
  line of the opening quote; a record or line over ``MAX_RECORD``;
* a column that does not exist or is ambiguous; a directory or an unreadable file;
* an output that cannot be written (no such directory, a path under a regular file, a
  directory, disk full).  The temp file is removed, the destination is untouched; with
  ``--overwrite`` the input stays intact until the complete output replaces it.  An
  interrupt (Ctrl-C) exits 130 with the same clean-up.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import sys
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from . import csvio
from .csvio import (
    SWAP_EOL_STR,
    DecodedStream,
    InputError,
    RecordParser,
    UnclosedQuote,
    atomic_output,
    open_input,
    quote_field,
    sniff_delimiter,
)
from .gaiji import is_private_use
from .invisible import classify
from .normalizer import Normalizer, Result, UnitOutcome, UnmappableCharacter
from .rules import LOSSLESS_RULES
from .targets import Target, char_class
from .units import is_variation_selector

if TYPE_CHECKING:
    import polars as pl

__all__ = [
    "CharStat", "LOSSLESS_RULES", "NormalizeSummary", "ScanReport", "normalize_file",
    "resolve_columns", "scan_file",
]

INVISIBLE_RULES = frozenset({"invisible-removed", "space-normalized"})
#: Plain batches go to the polars reader and the column kernel; False sends every batch to the
#: exact Python reader (the reference the differential tests compare against).
FAST_PATH = True
FAST_CHUNKS = 8  #: chunks of ``csvio.CHUNK_SIZE`` per batch on the fast path (16 MiB)

_CACHE_LIMIT = 100_000  # distinct analysed values kept (a member file repeats names)
_CACHEABLE = 256  # longer values (a 10 MB field) are analysed each time, never kept

Progress = Callable[[int, int | None], None]


# ---------------------------------------------------------------------------- report


@dataclass
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

    def to_dict(self) -> dict[str, object]:
        return {"char": self.char, "codepoint": self.codepoint, "count": self.count,
                "replacement": self.replacement, "rule": self.rule, "steps": self.steps,
                "mj": self.mj, "category": self.category, "in_target": self.in_target,
                "fallback": self.fallback, "alternatives": list(self.alternatives)}


@dataclass
class ScanReport:
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
    blank_lines: int = 0
    multiline_records: int = 0
    columns: dict[str, dict[str, int]] = field(default_factory=dict)
    chars: list[CharStat] = field(default_factory=list)
    line_ends: str = "LF"  #: "LF" (LF or CRLF) or "CR" (classic Mac OS)
    #: oddities of the file, one sentence each: empty, header only, duplicate header names,
    #: CR-only line ends
    notes: list[str] = field(default_factory=list)

    @property
    def unsafe_percent(self) -> float:
        return 100.0 * self.unsafe_rows / self.rows if self.rows else 0.0

    def to_dict(self, top: int | None = None) -> dict:
        """The report as plain data (what ``--format json`` prints).  Built field by field:
        a report may hold tens of thousands of characters."""
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "chars"}
        d["columns_selected"] = list(self.columns_selected)
        d["columns"] = {k: dict(v) for k, v in self.columns.items()}
        d["notes"] = list(self.notes)
        d["unsafe_percent"] = round(self.unsafe_percent, 3)
        chars = self.chars if top is None else self.chars[:top]
        d["chars"] = [c.to_dict() for c in chars]
        return d

    def to_json(self, top: int | None = None) -> str:
        """``to_dict`` as JSON: indented, one line per character (the C encoder does those)."""
        d = self.to_dict(top)
        chars = d.pop("chars")
        head = json.dumps(d, ensure_ascii=False, indent=2)
        if not chars:
            return head[:-2] + ',\n  "chars": []\n}'
        lines = ",\n".join("    " + json.dumps(c, ensure_ascii=False) for c in chars)
        return head[:-2] + ',\n  "chars": [\n' + lines + "\n  ]\n}"


# ---------------------------------------------------------------------------- counters


class _Counts:
    """Everything a scan adds up."""

    __slots__ = ("rows", "unsafe", "fixable", "lossless", "fallback", "review", "invisible",
                 "ragged", "blank", "multiline", "col_missing", "col_unsafe", "col_invisible",
                 "col_fallback", "chars")

    def __init__(self, ncols: int) -> None:
        self.rows = self.unsafe = self.fixable = self.lossless = self.fallback = self.review = 0
        self.invisible = self.ragged = self.blank = self.multiline = 0
        self.col_missing = [0] * ncols
        self.col_unsafe = [0] * ncols
        self.col_invisible = [0] * ncols
        self.col_fallback = [0] * ncols
        self.chars: Counter[str] = Counter()

    def __getstate__(self):
        return {k: getattr(self, k) for k in self.__slots__}

    def __setstate__(self, state):
        for k, v in state.items():
            setattr(self, k, v)

    def merge(self, other: _Counts) -> None:
        for k in ("rows", "unsafe", "fixable", "lossless", "fallback", "review", "invisible",
                  "ragged", "blank", "multiline"):
            setattr(self, k, getattr(self, k) + getattr(other, k))
        for k in ("col_missing", "col_unsafe", "col_invisible", "col_fallback"):
            mine = getattr(self, k)
            for i, v in enumerate(getattr(other, k)):
                mine[i] += v
        self.chars.update(other.chars)


# value analysis flags
_UNSAFE, _INVISIBLE, _FALLBACK, _LOSSY, _REVIEW = 1, 2, 4, 8, 16


def _flags(res: Result, target: Target) -> int:
    """What the changes of one value (or unit) say, as the bits above."""
    flags = 0
    for ch in res.changes:
        if ch.rule in INVISIBLE_RULES:
            flags |= _INVISIBLE
        if ch.original not in target:
            flags |= _UNSAFE
            if ch.fallback:
                flags |= _FALLBACK
        if ch.rule not in LOSSLESS_RULES:
            flags |= _LOSSY
        if ch.review:
            flags |= _REVIEW
    return flags


def _unit_flags(out: UnitOutcome, target: Target) -> int:
    """:func:`_flags` of one unit's change, from ``Normalizer.outcome``."""
    flags = 0
    if out.rule in INVISIBLE_RULES:
        flags |= _INVISIBLE
    if out.unit not in target:
        flags |= _UNSAFE
        if out.fallback:
            flags |= _FALLBACK
    if out.rule not in LOSSLESS_RULES:
        flags |= _LOSSY
    if out.review:
        flags |= _REVIEW
    return flags


class _FastScan:
    """Counts plain batches on the column kernel (``mojinorm.records``, ``mojinorm.column``):
    records read by polars, each distinct unit decided once, every row counted by polars."""

    def __init__(self, normalizer: Normalizer, layout: _Layout) -> None:
        from . import column

        self.plan = column.column_plan(normalizer)
        self.target = normalizer.target
        self.layout = layout
        self.ncols = len(layout.names) if layout.delimiter is not None else 1
        self.selected = layout.selected if layout.delimiter is not None else (0,)

    def batch(self, text: str, data: bytes, pos: int, codec: str | None):
        """The plain batch of ``text[pos:]``, or None when the exact reader must take it."""
        from .records import plain_batch

        raw = data if pos == 0 and codec == "utf-8" else text[pos:].encode("utf-8")
        return plain_batch(raw, self.layout.delimiter, self.ncols, self.selected)

    def count(self, batch, c: _Counts) -> None:
        import polars as pl

        from .column import unit_flags

        target = self.target
        rows = pl.repeat(0, batch.height, dtype=pl.UInt8, eager=True)
        for j in range(len(self.layout.selected)):
            flags, chars = unit_flags(batch.values.to_series(j), self.plan,
                                      lambda out: _unit_flags(out, target))
            c.chars.update(chars)
            frame = pl.DataFrame({"f": flags}).select(
                unsafe=(pl.col("f") & _UNSAFE) != 0,
                invisible=(pl.col("f") & _INVISIBLE) != 0,
                fallback=(pl.col("f") & (_UNSAFE | _FALLBACK)) == (_UNSAFE | _FALLBACK),
                effective=pl.when((pl.col("f") & _UNSAFE) != 0).then(pl.col("f"))
                .otherwise(pl.col("f") & _INVISIBLE),
            )
            c.col_unsafe[j] += int(frame["unsafe"].sum())
            c.col_invisible[j] += int(frame["invisible"].sum())
            c.col_fallback[j] += int(frame["fallback"].sum())
            rows = rows | frame["effective"]
        f = pl.col("f")
        unsafe = (f & _UNSAFE) != 0
        fallback = unsafe & ((f & _FALLBACK) != 0)
        fixable = unsafe & ((f & _FALLBACK) == 0)
        totals = pl.DataFrame({"f": rows}).select(
            review=((f & _REVIEW) != 0).sum(),
            invisible=((f & _INVISIBLE) != 0).sum(),
            unsafe=unsafe.sum(),
            fallback=fallback.sum(),
            fixable=fixable.sum(),
            lossless=(fixable & ((f & _LOSSY) == 0)).sum(),
        ).row(0, named=True)
        c.rows += batch.height
        c.review += totals["review"]
        c.invisible += totals["invisible"]
        c.unsafe += totals["unsafe"]
        c.fallback += totals["fallback"]
        c.fixable += totals["fixable"]
        c.lossless += totals["lossless"]


# ---------------------------------------------------------------------------- layout and plan


@dataclass(frozen=True)
class _Layout:
    delimiter: str | None
    header: bool
    names: tuple[str, ...]  #: unique labels: a repeated header name gets "#<column number>"
    selected: tuple[int, ...]
    data_pos: int  #: index in the first text where data starts
    header_lines: int  #: LF count consumed by the header
    raw_names: tuple[str, ...] = ()  #: the header's values as written

    def duplicates(self) -> dict[str, list[int]]:
        """Header names that occur more than once: name -> 1-based column numbers."""
        where: dict[str, list[int]] = {}
        for i, v in enumerate(self.raw_names):
            where.setdefault(v, []).append(i + 1)
        return {v: cols for v, cols in where.items() if len(cols) > 1}


class _NeedMore(Exception):
    """The first record does not end in the text read so far (a quoted field continues)."""


def _and(items: Sequence[object]) -> str:
    items = [str(x) for x in items]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def resolve_columns(requested: Sequence[str] | None, names: Sequence[str],
                    raw_names: Sequence[str] = ()) -> tuple[int, ...]:
    """0-based indexes of ``requested`` columns (header names, else 1-based numbers).

    A name that the header holds more than once (``raw_names``) is ambiguous: an
    :class:`InputError` asks for the column's number.  The labels ``name#3`` that the report
    shows for the repeats are accepted.
    """
    if not requested:
        return tuple(range(len(names)))
    raw = list(raw_names)
    out: list[int] = []
    for c in requested:
        c = str(c)
        if raw.count(c) > 1:
            cols = [i + 1 for i, v in enumerate(raw) if v == c]
            raise InputError(f"column {c!r} appears more than once (columns {_and(cols)}); "
                             "give its index")
        if c in names:
            idx = list(names).index(c)
        elif c.strip().isdigit() and 1 <= int(c) <= len(names):
            idx = int(c) - 1
        else:
            have = ", ".join(f"{i + 1} {n!r}" for i, n in enumerate(names)) or "none (empty file)"
            raise InputError(f"no column {c!r}; the file has columns: {have}")
        if idx not in out:
            out.append(idx)
    return tuple(out)


def _layout(text: str, final: bool, delimiter: str | None, header: bool | None,
            columns: Sequence[str] | None, name: str, cr: bool = False) -> _Layout:
    """The delimiter, header and selected columns, from the first text of the input.

    Raises :class:`_NeedMore` when the first record continues past ``text`` (not ``final``).
    """
    try:
        return _layout1(text, final, delimiter, header, columns, name, cr)
    except UnclosedQuote as exc:
        raise exc.at(text, 0, name) from None
    except InputError as exc:
        exc.name = exc.name or name
        raise


def _layout1(text: str, final: bool, delimiter: str | None, header: bool | None,
             columns: Sequence[str] | None, name: str, cr: bool) -> _Layout:
    nl = text.find("\n")
    first_line = text if nl < 0 else text[:nl]
    if delimiter == "":
        delimiter = None  # plain text, asked for
    elif delimiter is None:
        delimiter = sniff_delimiter(first_line)
    elif delimiter not in (",", "\t", ";", "|"):
        raise InputError(f"unsupported delimiter {delimiter!r}: use ',' or TAB")
    if header is None:
        header = delimiter is not None  # plain text: one name per line, no header
    if not text:
        names: tuple[str, ...] = ()
        if columns:
            resolve_columns(columns, names)
        return _Layout(delimiter, header, names, (), 0, 0)
    parser = RecordParser(delimiter)
    rec = parser.parse(text, 0, final)
    if rec is None:
        raise _NeedMore(delimiter)
    values, _, end = rec
    if cr:
        values = [v.translate(SWAP_EOL_STR) for v in values]
    raw: tuple[str, ...] = ()
    if header:
        raw = tuple(values)
        names = _unique(values)
        data_pos = end
        header_lines = text.count("\n", 0, end)
    else:
        names = tuple(str(i + 1) for i in range(len(values)))
        data_pos = 0
        header_lines = 0
    selected = resolve_columns(columns, names, raw)
    return _Layout(delimiter, header, names, selected, data_pos, header_lines, raw)


def _begin(stream: DecodedStream, delimiter: str | None, header: bool | None,
           columns: Sequence[str] | None):
    """Read the first chunk(s) of a prepared stream and the layout: ``(layout, first, rest)``
    where ``first`` is ``(text, data, final, lines_before)`` and holds the whole first record
    (chunks are merged while a quoted field of the first record continues)."""
    name = stream.inp.name
    chunks = iter(stream)
    text, data, final, lines_before = next(chunks)
    while True:
        try:
            layout = _layout(text, final, delimiter, header, columns, name, stream.cr)
            return layout, (text, data, final, lines_before), chunks
        except _NeedMore as more_needed:
            if len(text) > csvio.MAX_RECORD:
                raise _too_long(RecordParser(more_needed.args[0]), text, 0, lines_before,
                                name) from None
            more, more_data, final, _ = next(chunks)
            text += more
            data += more_data


def _too_long(parser: RecordParser, text: str, s: int, lines_before: int,
              name: str = "") -> InputError:
    """The error for a record at ``s`` still open after :data:`csvio.MAX_RECORD`."""
    limit = csvio._size(csvio.MAX_RECORD)
    try:
        parser.parse(text, s, True)
    except UnclosedQuote as exc:
        return exc.at(text, lines_before, name,
                      f"quoted field opened here is still open after {limit} (unbalanced "
                      "quote?)")
    return InputError(f"a record longer than {limit}", name=name,
                      line=lines_before + text.count("\n", 0, s) + 1)


def _unique(values: Sequence[str]) -> tuple[str, ...]:
    seen: set[str] = set()
    out = []
    for i, v in enumerate(values):
        key = v if v and v not in seen else f"{v or 'column'}#{i + 1}"
        seen.add(key)
        out.append(key)
    return tuple(out)


def _cls(chars: Iterable[str]) -> str:
    chars = frozenset(chars)
    return f"[{char_class(chars)}]" if chars else "(?!)"


@lru_cache(maxsize=32)
def _line_patterns(target: Target, delimiter: str | None, ncols: int,
                   selected: tuple[int, ...], quoted: bool
                   ) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """``(good_line, flag)``: ``good_line.match`` accepts a line that needs no look;
    ``flag.finditer`` reports each LF followed by a line that does (see module doc)."""
    vis = target.visible_chars
    if delimiter is None:
        line = f"{_cls(vis - {chr(13), chr(10)})}+\\r?\\n"
    else:
        d = re.escape(delimiter)
        v = _cls(vis - {delimiter, '"', "\r", "\n"})
        any_unquoted = f'[^{d}"\\r\\n]*'
        if quoted:
            # a quoted field without doubled quotes: a field with "" is rare in names, and the
            # simpler pattern is ~40% faster; such lines are just reported and parsed
            vq = _cls(vis - {'"', "\r", "\n"})
            sel = f'(?:"{vq}*"|{v}*)'
            other = f'(?:"[^"\\r\\n]*"|{any_unquoted})'
        else:
            sel = f"{v}*"
            other = any_unquoted
        chosen = set(selected)
        line = d.join(sel if i in chosen else other for i in range(ncols)) + "\\r?\\n"
        if ncols <= 1:
            line = "(?=[^\\r\\n])" + line  # a blank line is not a one-field record
    return re.compile(line), re.compile(f"\\n(?!{line})")


class _Scanner:
    """Scans decoded text; one per process.  Holds the caches, adds into a ``_Counts``.

    The value cache maps a distinct value to ``[units, flags, count]``; ``count`` is how many
    times it was seen since the last :meth:`flush`, which moves the counts into the per-unit
    counter (when the cache is full and at the end), so memory stays bounded.
    """

    def __init__(self, normalizer: Normalizer, layout: _Layout, cr: bool = False) -> None:
        self.normalizer = normalizer
        self.target = normalizer.target
        self.guard = self.target.visible_guard.search
        self.layout = layout
        self.delimiter = layout.delimiter
        self.ncols = max(1, len(layout.names)) if layout.delimiter is not None else 1
        self.selected = layout.selected
        self.sel = tuple(enumerate(layout.selected))
        self.parser = RecordParser(layout.delimiter)
        self.qsep = f'"{layout.delimiter}"'
        self.cache: dict[str, list] = {}
        if cr:
            # CR-only input is scanned with CR and LF swapped: swap them back in the values
            plain = self.row

            def row(values: list[str], c: _Counts) -> None:
                plain([v.translate(SWAP_EOL_STR) for v in values], c)

            self.row = row  # type: ignore[method-assign]

    def patterns(self, quoted: bool) -> tuple[re.Pattern[str], re.Pattern[str]]:
        return _line_patterns(self.target, self.delimiter, self.ncols, self.selected, quoted)

    def flush(self, c: _Counts) -> None:
        chars = c.chars
        for units, _flags, count in self.cache.values():
            if count:
                for u in units:
                    chars[u] += count
        self.cache.clear()

    def analyse(self, value: str, c: _Counts) -> list:
        res = self.normalizer.explain(value)
        flags = _flags(res, self.target)
        units = tuple(ch.original for ch in res.changes)
        if len(value) > _CACHEABLE:
            for u in units:  # counted now, since the value is not kept for flush()
                c.chars[u] += 1
            return [units, flags, 0]
        if len(self.cache) >= _CACHE_LIMIT:
            self.flush(c)
        info = [units, flags, 0]
        self.cache[value] = info
        return info

    def row(self, values: list[str], c: _Counts) -> None:
        nv = len(values)
        if nv != self.ncols and self.delimiter is not None:
            c.ragged += 1
            for j, ci in self.sel:
                if ci >= nv:
                    c.col_missing[j] += 1
        guard = self.guard
        cache = self.cache
        row_flags = 0
        for j, ci in self.sel:
            if ci >= nv:
                continue
            v = values[ci]
            if guard(v) is None:
                continue
            info = cache.get(v)
            if info is None:
                info = self.analyse(v, c)
            info[2] += 1
            flags = info[1]
            if flags:
                if flags & _INVISIBLE:
                    c.col_invisible[j] += 1
                if flags & _UNSAFE:
                    c.col_unsafe[j] += 1
                    if flags & _FALLBACK:
                        c.col_fallback[j] += 1
                    row_flags |= flags
                else:
                    row_flags |= flags & _INVISIBLE
        if row_flags:
            if row_flags & _REVIEW:
                c.review += 1
            if row_flags & _INVISIBLE:
                c.invisible += 1
            if row_flags & _UNSAFE:
                c.unsafe += 1
                if row_flags & _FALLBACK:
                    c.fallback += 1
                else:
                    c.fixable += 1
                    if not row_flags & _LOSSY:
                        c.lossless += 1

    def text(self, text: str, pos: int, final: bool, c: _Counts, lines_before: int,
             ) -> int:
        """Scan ``text[pos:]`` (``pos`` at a record start); return where unscanned text starts.

        Text from the returned index on is an incomplete record (a quoted field that continues
        in the next chunk); the caller prepends it to the next chunk.
        """
        n = len(text)
        if pos >= n:
            return n
        delim = self.delimiter
        quoted = delim is not None and text.find('"', pos) >= 0
        good, flag = self.patterns(quoted)
        unterminated = text[-1] != "\n"
        rows = text.count("\n", pos) + unterminated
        consumed = n
        starts = (m.end() for m in flag.finditer(text, pos))
        if good.match(text, pos) is None:
            starts = itertools.chain((pos,), starts)
        if not quoted:
            # no quote in this text: a record is a line; split it (what the parser would do)
            row = self.row
            find = text.find
            for s in starts:
                if s >= n:
                    continue
                e = find("\n", s)
                if e < 0:
                    line = text[s:]
                else:
                    line = text[s:e]
                    if line and line[-1] == "\r":
                        line = line[:-1]
                if not line:
                    c.blank += 1
                    rows -= 1
                    continue
                row([line] if delim is None else line.split(delim), c)
        else:
            skip = pos
            one = self._one
            for s in starts:
                if s < skip or s >= n:
                    continue
                skip = one(text, s, final, c, lines_before)
                if skip < 0:
                    consumed = s
                    break
        if consumed < n:
            rows -= text.count("\n", consumed) + unterminated
        c.rows += rows
        return consumed

    def _one(self, text: str, s: int, final: bool, c: _Counts, lines_before: int,
             ) -> int:
        """Handle the record at ``s``; return its end, or -1 when it continues past the text."""
        # fast path: every field of the line quoted, no other quote ("a","b"): the line is
        # '"' + X + '"' where each quote of X is in a '","' separator (the same non-overlapping
        # occurrences str.count and str.split find), so csv's parse is X.split('","')
        e = text.find("\n", s)
        line = text[s:] if e < 0 else text[s:e]
        if e >= 0 and line[-1:] == "\r":
            line = line[:-1]
        if len(line) > 1 and line[0] == '"' and line[-1] == '"':
            inner = line[1:-1]
            qsep = self.qsep
            if inner.count('"') == 2 * inner.count(qsep):
                self.row(inner.split(qsep), c)
                return len(text) if e < 0 else e + 1
        try:
            rec = self.parser.parse(text, s, final)
        except UnclosedQuote as exc:
            raise exc.at(text, lines_before) from None
        if rec is None:
            if len(text) - s > csvio.MAX_RECORD:
                raise _too_long(self.parser, text, s, lines_before)
            return -1
        values, spans, end = rec
        inner = text.count("\n", s, end)
        if end and text[end - 1] == "\n":
            inner -= 1
        if inner > 0:
            c.multiline += 1
            c.rows -= inner
        if len(values) == 1 and spans[0][0] == spans[0][1]:
            c.blank += 1
            c.rows -= 1
            return end
        self.row(values, c)
        return end


def _run(scanner: _Scanner, stream: _Resume, c: _Counts, first_pos: int,
         progress: Progress | None, total: int | None, fast: _FastScan | None = None) -> None:
    """Scan every chunk of ``stream`` (the first one from ``first_pos``), carrying incomplete
    records over chunk ends.  A plain chunk goes to ``fast`` when given."""
    carry = ""
    carry_lines = 0
    pos = first_pos
    for text, data, final, lines_before in stream:
        if carry:
            text = carry + text
            lines_before = carry_lines
        elif fast is not None:
            batch = fast.batch(text, data, pos, stream.stream.codec) if pos < len(text) \
                else None
            if batch is not None or pos >= len(text):
                if batch is not None:
                    fast.count(batch, c)
                pos = 0
                if progress is not None:
                    progress(stream.bytes_done, total)
                continue
        try:
            idx = scanner.text(text, pos, final, c, lines_before)
        except InputError as exc:
            exc.name = exc.name or stream.inp.name
            raise
        pos = 0
        carry = text[idx:] if idx < len(text) else ""
        if carry:
            carry_lines = lines_before + text.count("\n", 0, idx)
        if progress is not None:
            progress(stream.bytes_done, total)
    scanner.flush(c)
    if carry:  # cannot happen: the final chunk parses to the end
        raise InputError("unexpected end of input inside a record", name=stream.inp.name)


# ---------------------------------------------------------------------------- scan_file


def set_threads(jobs: int | None) -> int:
    """Run polars with ``jobs`` threads (capped to the machine's CPUs); None keeps polars'
    default (every CPU).  polars fixes its thread pool when it is first imported, so this takes
    effect only before that; returns the number of threads in effect."""
    if jobs is not None and "polars" not in sys.modules:
        os.environ["POLARS_MAX_THREADS"] = str(max(1, min(jobs, os.cpu_count() or 1)))
    import polars as pl

    return int(pl.thread_pool_size())



def scan_file(
    path: str | Path,
    *,
    columns: Sequence[str | int] | None = None,
    target: str | Path | Target = "jisx0208",
    gaiji=None,
    encoding: str = "auto",
    delimiter: str | None = None,
    header: bool | None = None,
    jobs: int | None = None,
    progress: Progress | None = None,
    rules=None,
    ambiguity: str = "fallback",
) -> ScanReport:
    """Scan a member file (``"-"``: stdin) and report what would render as ● in ``target``.

    ``columns``: header names or 1-based numbers (default: every column).  ``delimiter``:
    ``","``, ``"\\t"``, ``""`` for plain text (one value per line, quotes and commas are data),
    or None to sniff it from the first line (TAB, else comma, else plain text).  ``header``:
    None means yes for a delimited file, no for plain text.
    ``progress(bytes_done, total_bytes)`` is called after each chunk.  Raises
    :class:`mojinorm.csvio.InputError` for bad input.
    """
    set_threads(jobs)
    normalizer = Normalizer(target, gaiji=gaiji, fallback="geta", rules=rules,
                            ambiguity=ambiguity)
    cols = [str(c) for c in columns] if columns else None
    inp = open_input(str(path))
    try:
        # polars pays a fixed cost per batch: plain files are read in larger chunks
        size = csvio.CHUNK_SIZE * (FAST_CHUNKS if FAST_PATH else 1)
        stream = DecodedStream(inp, encoding, size=size)
        stream.prepare()
        layout, (text, data, final, lines_before), chunks = _begin(stream, delimiter, header,
                                                                   cols)
        scanner = _Scanner(normalizer, layout, stream.cr)
        report = ScanReport(
            file=inp.name, target=normalizer.target.name, encoding=stream.encoding,
            encoding_detected=encoding == "auto", delimiter=layout.delimiter,
            header=layout.header, fields=len(layout.names),
            columns_selected=[layout.names[i] for i in layout.selected],
            line_ends="CR" if stream.cr else "LF",
            notes=_notes(layout, stream, text, final),
        )
        counts = _Counts(len(layout.selected))
        fast = _FastScan(normalizer, layout) if FAST_PATH and not stream.cr else None
        _run(scanner, _Resume(stream, chunks, text, data, final, lines_before), counts,
             layout.data_pos, progress, inp.size, fast=fast)
        report.encoding = stream.encoding
        _fill(report, counts, layout, normalizer)
        if layout.header and text and report.rows == 0:
            report.notes.append("no data rows: the file holds a header only")
        return report
    finally:
        inp.close()


def _notes(layout: _Layout, stream: DecodedStream, text: str, final: bool) -> list[str]:
    """The oddities known once the first record is read (see ``ScanReport.notes``)."""
    notes = []
    if not text and final:
        notes.append("the file is empty")
    if stream.cr:
        notes.append("line ends are CR only (classic Mac OS): read as record ends")
    for name, cols in layout.duplicates().items():
        labels = [layout.names[i - 1] for i in cols]
        notes.append(f"column name {name!r} appears {len(cols)} times (columns {_and(cols)}), "
                     f"reported as {_and(labels)}; select one by its index")
    return notes


class _Resume:
    """A DecodedStream whose first chunk was already read (to find the header)."""

    def __init__(self, stream: DecodedStream, rest, text, data, final, lines_before) -> None:
        self.stream = stream
        self.rest = rest
        self.first = (text, data, final, lines_before)
        self.inp = stream.inp

    @property
    def bytes_done(self) -> int:
        return self.stream.bytes_done

    @property
    def start(self) -> int:
        return self.stream.start

    def __iter__(self):
        yield self.first
        yield from self.rest


def _fill(report: ScanReport, c: _Counts, layout: _Layout, normalizer: Normalizer) -> None:
    report.rows = c.rows
    report.unsafe_rows = c.unsafe
    report.fixable_rows = c.fixable
    report.lossless_rows = c.lossless
    report.substituted_rows = c.fixable - c.lossless
    report.fallback_rows = c.fallback
    report.review_rows = c.review
    report.invisible_rows = c.invisible
    report.ragged_rows = c.ragged
    report.blank_lines = c.blank
    report.multiline_records = c.multiline
    report.columns = {
        layout.names[ci]: {
            "values": c.rows - c.col_missing[j],
            "unsafe": c.col_unsafe[j],
            "fallback": c.col_fallback[j],
            "invisible": c.col_invisible[j],
        }
        for j, ci in enumerate(layout.selected)
    }
    target = normalizer.target
    stats = []
    for unit, count in c.chars.items():
        out = normalizer.outcome(unit)
        stats.append(CharStat(
            char=unit,
            codepoint=" ".join(f"U+{ord(x):04X}" for x in unit),
            count=count,
            replacement=out.replacement,
            rule=out.rule,
            steps=">".join(out.rules),
            mj=out.mj,
            category=_category(unit),
            in_target=unit in target,
            fallback=out.fallback,
            alternatives=out.alternatives,
        ))
    stats.sort(key=lambda s: (-s.count, [ord(x) for x in s.char]))
    report.chars = stats


def _category(unit: str) -> str:
    first = unit[0]
    if classify(first) is not None:
        return "invisible"
    if is_private_use(first):
        return "gaiji"
    if len(unit) > 1 and is_variation_selector(unit[-1]):
        return "variation-sequence"
    cp = ord(first)
    if (0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F) and \
            unicodedata.normalize("NFC", first) != first:
        return "compatibility-ideograph"
    return "outside-target"


# ---------------------------------------------------------------------------- normalize_file


@dataclass
class NormalizeSummary:
    file: str
    output: str
    encoding: str
    target: str
    rows: int = 0
    rows_changed: int = 0
    values_changed: int = 0
    fallback_values: int = 0
    review_values: int = 0  #: values a person should look at (fallback, ambiguous, sibling glyph)
    ragged_rows: int = 0
    blank_lines: int = 0
    multiline_records: int = 0
    line_ends: str = "LF"  #: "LF" (LF or CRLF, each record's own kept) or "CR"
    notes: list[str] = field(default_factory=list)  #: as in ``ScanReport.notes``


def normalize_file(
    path: str | Path,
    output: str | Path,
    *,
    columns: Sequence[str | int] | None = None,
    kana_column: str | int | None = None,
    target: str | Path | Target = "jisx0208",
    fallback: str = "geta",
    gaiji=None,
    rules=None,
    ambiguity: str = "fallback",
    replace: bool = False,
    encoding: str = "auto",
    delimiter: str | None = None,
    header: bool | None = None,
    overwrite: bool = False,
    progress: Progress | None = None,
    jobs: int | None = None,
) -> NormalizeSummary:
    """Write ``output`` (``"-"``: stdout): the input with normalized columns.

    Every original byte is kept: the raw bytes of each record are copied and only new text is
    encoded, in the input's encoding (a UTF-8 BOM is kept), with each record's own line ending.
    Without ``replace``, two columns per selected column ``C`` are appended after the last
    original column, in selection order: ``C_normalized`` and ``C_changes`` (``str(Change)``
    joined by ``"; "``).  With ``replace`` the selected fields are rewritten in place (a field
    that was quoted stays quoted) and nothing is added.  Ragged rows and blank lines are copied
    unchanged.  The output is written to a temp file in its directory and renamed when complete;
    it is never the input unless ``overwrite``.
    """
    src = str(path)
    out = str(output)
    if src != "-" and out != "-" and not overwrite and _same_file(src, out):
        raise InputError(f"output {out} is the input file; choose another -o or pass "
                         "--overwrite")
    if out != "-" and os.path.isdir(out):
        raise csvio.OutputError("is a directory; give a file name", name=out)
    set_threads(jobs)
    normalizer = Normalizer(target, gaiji=gaiji, fallback=fallback, rules=rules,
                            ambiguity=ambiguity)
    cols = [str(c) for c in columns] if columns else None
    inp = open_input(src)
    try:
        size = csvio.CHUNK_SIZE * (FAST_CHUNKS if FAST_PATH and not replace else 1)
        stream = DecodedStream(inp, encoding, size=size)
        stream.prepare()
        layout, first, chunks = _begin(stream, delimiter, header, cols)
        text = first[0]
        if layout.delimiter is None and not replace and text:
            raise InputError("plain text input (no delimiter in the first line): pass "
                             "--replace to write one normalized value per line, or --delimiter "
                             "to treat it as a one-column table", name=inp.name)
        kana_idx = None
        if kana_column is not None:
            try:
                kana_idx = resolve_columns([str(kana_column)], layout.names,
                                           layout.raw_names)[0]
            except InputError as exc:
                exc.name = inp.name
                raise
        summary = NormalizeSummary(inp.name, out, stream.encoding, normalizer.target.name,
                                   line_ends="CR" if stream.cr else "LF",
                                   notes=_notes(layout, stream, text, first[2]))
        with atomic_output(out) as f:
            writer = _Writer(f, normalizer, layout, kana_idx, replace, summary, inp.name,
                             stream.eol or b"\n")
            writer.run(_Resume(stream, chunks, *first), progress, inp.size)
        if layout.header and text and summary.rows == 0:
            summary.notes.append("no data rows: the file holds a header only")
        return summary
    finally:
        inp.close()


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return Path(a).resolve() == Path(b).resolve()


class _Writer:
    def __init__(self, f, normalizer: Normalizer, layout: _Layout, kana_idx: int | None,
                 replace: bool, summary: NormalizeSummary, name: str,
                 sep: bytes = b"\n") -> None:
        self.f = f
        self.sep = sep
        self.swap = sep == b"\r"  # CR-only input: the text has CR and LF swapped
        self.normalizer = normalizer
        self.guard = normalizer.target.visible_guard.search
        self.layout = layout
        self.delim = layout.delimiter
        self.ncols = len(layout.names) if layout.delimiter is not None else 1
        self.selected = layout.selected
        self.kana_idx = kana_idx
        self.replace = replace
        self.summary = summary
        self.name = name
        self.parser = RecordParser(layout.delimiter)
        self.cache: dict = {}
        self.kana = normalizer.fallback == "kana"
        # Plain batches of a table are rewritten on the column kernel (not --replace: that
        # rewrites fields inside the record, which the exact reader's field spans do).
        self.fast = _FastWrite(self) if (FAST_PATH and not replace and self.delim is not None
                                         and not self.swap) else None

    def _encode(self, s: str, codec: str, line: int) -> bytes:
        try:
            return s.encode(codec)
        except UnicodeEncodeError as exc:
            bad = exc.object[exc.start]
            raise InputError(f"cannot write {bad!r} (U+{ord(bad):04X}) in {codec}: choose a "
                             f"target that fits the file's encoding", name=self.name,
                             line=line) from None

    def _norm(self, value: str, reading: str | None, line: int) -> tuple[str, str, bool, bool]:
        key = (value, reading) if self.kana else value
        hit = self.cache.get(key)
        if hit is not None:
            return hit
        try:
            res = self.normalizer.explain(value, reading=reading)
        except UnmappableCharacter as exc:
            raise InputError(str(exc), name=self.name, line=line) from None
        hit = (res.text, "; ".join(str(c) for c in res.changes), res.used_fallback,
               any(c.review for c in res.changes))
        if len(value) <= _CACHEABLE:
            if len(self.cache) >= _CACHE_LIMIT:
                self.cache.clear()
            self.cache[key] = hit
        return hit

    def run(self, stream: _Resume, progress: Progress | None, total: int | None) -> None:
        codec = stream.stream.codec or "utf-8"
        if stream.stream.has_bom:
            self.f.write(b"\xef\xbb\xbf")
        carry_t, carry_b, carry_lines = "", b"", 0
        first = True
        for text, data, final, lines_before in stream:
            codec = stream.stream.codec or "utf-8"
            if carry_t:
                text, data, lines_before = carry_t + text, carry_b + data, carry_lines
            pieces: list[bytes] = []
            pos = bpos = 0
            if first:
                first = False
                if self.layout.header:
                    pos, bpos = self._header(text, data, pieces, codec)
            lines_here = lines_before + text.count("\n", 0, pos)
            if pos >= len(text):
                lines = lines_here  # nothing after the header in this chunk
            elif self.fast is not None and \
                    self.fast.write(text, data, pos, bpos, codec, lines_here, pieces):
                pos, bpos, lines = len(text), len(data), lines_here + text.count("\n", pos)
            else:
                pos, bpos, lines = self._records(text, data, pos, bpos, final, pieces, codec,
                                                 lines_before)
            carry_t, carry_b = text[pos:], data[bpos:]
            carry_lines = lines
            if carry_t and len(carry_t) > csvio.MAX_RECORD:
                raise _too_long(self.parser, carry_t, 0, lines, self.name)
            self.f.write(b"".join(pieces))
            if progress is not None:
                progress(stream.bytes_done, total)

    def _header(self, text: str, data: bytes, pieces: list[bytes], codec: str) -> tuple[int, int]:
        if not text:
            return 0, 0
        rec = self.parser.parse(text, 0, True)
        assert rec is not None
        values, spans, end = rec
        bend = _advance(data, 0, text.count("\n", 0, end), self.sep)
        if end and text[end - 1] != "\n":
            bend = len(data)
        raw = data[:bend]
        if self.replace or self.delim is None:
            pieces.append(raw)
            return end, bend
        body, eol = _split_eol(raw, self.sep)
        force = text[spans[-1][0]:spans[-1][0] + 1] == '"'
        extra = "".join(
            self.delim + quote_field(f"{self.layout.names[ci]}_normalized", self.delim, force)
            + self.delim + quote_field(f"{self.layout.names[ci]}_changes", self.delim, force)
            for ci in self.selected
        )
        pieces.append(body + self._encode(extra, codec, 1) + eol)
        return end, bend

    def _records(self, text: str, data: bytes, pos: int, bpos: int, final: bool,
                 pieces: list[bytes], codec: str, lines_before: int) -> tuple[int, int, int]:
        n = len(text)
        s = self.summary
        delim = self.delim
        quoted = delim is not None and '"' in text
        guard = self.guard
        selected = self.selected
        ncols = self.ncols
        line = lines_before + text.count("\n", 0, pos)
        append = pieces.append
        parse = self.parser.parse
        while pos < n:
            e = text.find("\n", pos)
            end = n if e < 0 else e + 1
            if quoted and text.find('"', pos, end) >= 0:
                try:
                    rec = parse(text, pos, final)
                except UnclosedQuote as exc:
                    raise exc.at(text, lines_before, self.name) from None
                if rec is None:
                    break  # continues in the next chunk
                values, spans, end = rec
            else:
                body = text[pos:end]
                if body.endswith("\n"):
                    body = body[:-2] if body.endswith("\r\n") else body[:-1]
                values = [body] if delim is None else body.split(delim)
                spans = None
            if self.swap:
                values = [v.translate(SWAP_EOL_STR) for v in values]
            nlines = text.count("\n", pos, end)
            bend = _advance(data, bpos, nlines, self.sep) if text[end - 1] == "\n" \
                else len(data)
            raw = data[bpos:bend]
            if nlines > 1:
                s.multiline_records += 1
            line_no = line + 1
            line += nlines
            if len(values) == 1 and values[0] == "" and (
                    spans is None or spans[0][0] == spans[0][1]):
                s.blank_lines += 1
                append(raw)
            elif delim is not None and len(values) != ncols:
                s.ragged_rows += 1
                s.rows += 1
                append(raw)
            else:
                s.rows += 1
                reading = values[self.kana_idx] if self.kana_idx is not None else None
                changed = False
                results = []
                for ci in selected:
                    v = values[ci]
                    if guard(v) is None:
                        results.append((v, "", False, False))
                        continue
                    r = self._norm(v, reading, line_no)
                    if r[0] != v or r[1]:
                        changed = True
                        s.values_changed += 1
                        if r[2]:
                            s.fallback_values += 1
                        if r[3]:
                            s.review_values += 1
                    results.append(r)
                if changed:
                    s.rows_changed += 1
                if self.replace:
                    if not changed:
                        append(raw)
                    else:
                        append(self._replaced(text, pos, end, raw, values, spans, results,
                                              codec, line_no))
                else:
                    body, eol = _split_eol(raw, self.sep)
                    if spans is None:
                        force = False
                    else:
                        force = text[spans[-1][0]:spans[-1][0] + 1] == '"'
                    extra = "".join(
                        delim + quote_field(r[0], delim, force) + delim
                        + quote_field(r[1], delim, force)
                        for r in results
                    )
                    append(body + self._encode(extra, codec, line_no) + eol)
            pos, bpos = end, bend
        return pos, bpos, line

    def _replaced(self, text, pos, end, raw, values, spans, results, codec, line_no) -> bytes:
        if spans is None:
            rec = self.parser.parse(text, pos, True)
            assert rec is not None
            spans = rec[1]
        new = dict(zip(self.selected, results, strict=True))
        out = []
        prev = pos  # character position of the next raw byte to copy
        bprev = 0
        for ci, (a, b) in enumerate(spans):
            if ci not in new or new[ci][0] == values[ci]:
                continue
            # byte lengths: UTF-8 round-trips exactly and every CP932 character re-encodes to
            # as many bytes as it was read from, so these are the raw bytes' offsets
            ba = bprev + len(text[prev:a].encode(codec))
            out.append(raw[bprev:ba])
            quoted = text[a:a + 1] == '"'
            out.append(self._encode(quote_field(new[ci][0], self.delim, quoted), codec, line_no))
            bprev = ba + len(text[a:b].encode(codec))
            prev = b
        out.append(raw[bprev:])
        return b"".join(out)


class _FastWrite:
    """Rewrites plain batches with polars: the kernel normalizes the selected columns (each
    distinct unit decided once) and every output line is built by ``concat_str``."""

    def __init__(self, writer: _Writer) -> None:
        from . import column

        self.w = writer
        self.plan = column.column_plan(writer.normalizer)
        columns = list(writer.selected)
        if writer.kana_idx is not None and writer.kana_idx not in columns:
            columns.append(writer.kana_idx)
        self.columns = tuple(columns)
        self.target = writer.normalizer.target

    def write(self, text: str, data: bytes, pos: int, bpos: int, codec: str, lines_before: int,
              pieces: list[bytes]) -> bool:
        """Append the rewritten ``text[pos:]`` to ``pieces``; False when the batch is not plain
        (or cannot be written exactly this way), and nothing was appended."""
        import polars as pl

        from . import column
        from .records import plain_batch

        w = self.w
        raw = data[bpos:]
        if codec == "utf-8":
            utf8 = raw
        else:
            body = text[pos:]
            if body.encode(codec, "replace") != raw:
                return False  # bytes that do not round-trip (NEC/IBM duplicates): copy raw
            utf8 = body.encode("utf-8")
        batch = plain_batch(utf8, w.delim, w.ncols, self.columns)
        if batch is None:
            return False
        reading = None
        if w.kana_idx is not None:
            reading = batch.values.to_series(self.columns.index(w.kana_idx))
        d = w.delim
        assert d is not None
        force = batch.lines.str.ends_with('"')
        extra: list[pl.Expr] = []
        changed = pl.repeat(False, batch.height, eager=True)
        s = w.summary
        for j in range(len(w.selected)):
            values = batch.values.to_series(j)
            try:
                out = column.explain(values, w.normalizer, reading=reading,
                                     outputs=("normalized", "changes"))
            except UnmappableCharacter:
                return False  # the exact reader raises it with the line
            flags, _ = column.unit_flags(values, self.plan, _fallback_review)
            frame = pl.DataFrame({"v": values, "n": out["normalized"], "c": out["changes"],
                                  "f": flags, "force": force})
            done = frame.select(
                changed=(pl.col("n") != pl.col("v")) | (pl.col("c") != ""),
                fallback=(pl.col("f") & 1) != 0,
                review=(pl.col("f") & 2) != 0,
                n=_quoted(pl.col("n"), d), c=_quoted(pl.col("c"), d))
            value_changed = done["changed"]
            s.values_changed += int(value_changed.sum())
            s.fallback_values += int((value_changed & done["fallback"]).sum())
            s.review_values += int((value_changed & done["review"]).sum())
            changed = changed | value_changed
            extra += [pl.lit(d), pl.lit(done["n"]), pl.lit(d), pl.lit(done["c"])]
        eol = "\r\n" if batch.crlf else "\n"
        joined = pl.select(pl.concat_str([pl.lit(batch.lines), *extra, pl.lit(eol)])
                           .str.join("")).item()
        if not batch.terminated:
            joined = joined[:-len(eol)]
        try:
            pieces.append(joined.encode(codec))
        except UnicodeEncodeError as exc:
            bad = exc.object[exc.start]
            raise InputError(f"cannot write {bad!r} (U+{ord(bad):04X}) in {codec}: choose a "
                             f"target that fits the file's encoding", name=w.name,
                             line=lines_before + joined.count("\n", 0, exc.start) + 1) from None
        s.rows += batch.height
        s.rows_changed += int(changed.sum())
        return True


def _fallback_review(out: UnitOutcome) -> int:
    return (1 if out.fallback else 0) | (2 if out.review else 0)


def _quoted(value: pl.Expr, delimiter: str) -> pl.Expr:
    """``quote_field(value, delimiter, force)`` as an expression (``force`` is a column)."""
    import polars as pl

    special = f"[{re.escape(delimiter)}\"\r\n]"
    needs = pl.col("force") | ((value != "") & value.str.contains(special))
    return pl.when(needs).then(
        pl.concat_str([pl.lit('"'), value.str.replace_all('"', '""', literal=True),
                       pl.lit('"')])).otherwise(value)


def _advance(data: bytes, bpos: int, nlines: int, sep: bytes = b"\n") -> int:
    """Byte index after the ``nlines``-th ``sep`` (LF, or CR for CR-only input) from ``bpos``."""
    for _ in range(nlines):
        bpos = data.index(sep, bpos) + 1
    return bpos


def _split_eol(raw: bytes, sep: bytes = b"\n") -> tuple[bytes, bytes]:
    """``raw`` record bytes split into the body and its line end (CRLF, LF, CR or none)."""
    if sep == b"\r":
        return (raw[:-1], b"\r") if raw.endswith(b"\r") else (raw, b"")
    if raw.endswith(b"\r\n"):
        return raw[:-2], b"\r\n"
    if raw.endswith(b"\n"):
        return raw[:-1], b"\n"
    return raw, b""
