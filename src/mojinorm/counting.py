"""Column analysis for ``scan``: what each selected value says, added up in :class:`Counts`.

:func:`count` reads the records of a :class:`~mojinorm.records.ResumedStream` and counts them.
Plain batches (:func:`mojinorm.records.plain_batch`) are counted on the column kernel
(:mod:`mojinorm.column`): each distinct unit decided once, every row counted by polars.  Every
other batch goes to the exact reader below, the reference the differential tests compare the
fast path against.  Both give the same :class:`Counts`; :mod:`mojinorm.report` turns them into
a ``ScanReport``.

How the exact reader stays close to the speed of bare ``csv.reader`` (design)
----------------------------------------------------------------------------
*One* compiled ``re`` pass over the whole decoded text of a batch finds the lines that need a
look::

    \\n(?!FIELD,FIELD,FIELD\\r?\\n)

A selected column's ``FIELD`` is a run of the target's visible characters (a character class
built with ``targets.char_class`` from ``Target.visible_chars`` minus the delimiter, quote, CR
and LF: the whole-text form of ``Target.visible_guard``), or such a run in quotes; a
non-selected column's ``FIELD`` is anything but the delimiter, quote, CR and LF (quoted or not).
So a LF is reported exactly when the line after it

* holds a character that is outside the target or invisible, in a selected column, or
* has a different number of fields than the header (ragged), or
* is blank, or has a quoted field that does not close on the line (an embedded newline), a
  doubled quote, text after a closing quote: anything but a plain well-formed record.

Lines that pass are counted (``str.count("\\n")``) and never parsed.  Ragged rows are thus
counted exactly at no extra cost: the field count is part of the same pattern.  The few
reported lines are split (no quote in the chunk: ``line.split(delimiter)``; every field quoted:
a split on ``","``) or parsed with :class:`mojinorm.csvio.RecordParser`, which follows
``csv.reader``'s dialect and continues a record over embedded newlines, across chunk ends
too.  Their selected values are checked with ``visible_guard`` and, on a hit, analysed once per
distinct value with ``Normalizer.explain`` (a bounded cache that also counts occurrences).
The quoted variant of the pattern is compiled only when a chunk holds a quote.

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

The flags of a value (:func:`value_flags`) or of one unit (:func:`outcome_flags`) are the bits
:data:`UNSAFE`, :data:`INVISIBLE`, :data:`FALLBACK`, :data:`LOSSY` and :data:`REVIEW`; a row's
flags are the OR of its values' flags.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from functools import lru_cache
from typing import TYPE_CHECKING

from . import csvio, records
from .csvio import SWAP_EOL_STR, InputError, RecordParser, UnclosedQuote
from .normalizer import Normalizer, Result, UnitOutcome
from .records import Layout, Progress, ResumedStream, record_too_long
from .rules import LOSSLESS_RULES
from .targets import Target, char_class

if TYPE_CHECKING:
    from .records import PlainBatch

__all__ = [
    "FALLBACK", "INVISIBLE", "INVISIBLE_RULES", "LOSSLESS_RULES", "LOSSY", "REVIEW", "UNSAFE",
    "Counts", "count", "outcome_flags", "value_flags",
]

#: Rules of a change that is about an invisible character or an odd space.
INVISIBLE_RULES = frozenset({"invisible-removed", "space-normalized"})

#: Flags of a value: a unit outside the target (it renders ●), an invisible character, a unit
#: only the fallback replaces, a change to another character, a change a person should look at.
UNSAFE, INVISIBLE, FALLBACK, LOSSY, REVIEW = 1, 2, 4, 8, 16

_CACHE_LIMIT = 100_000  # distinct analysed values kept (a member file repeats names)
_CACHEABLE = 256  # longer values (a 10 MB field) are analysed each time, never kept


class Counts:
    """Everything a scan adds up (``col_*``: one entry per selected column)."""

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


def value_flags(res: Result, target: Target) -> int:
    """What the changes of one value (or unit) say, as the flag bits."""
    flags = 0
    for ch in res.changes:
        if ch.rule in INVISIBLE_RULES:
            flags |= INVISIBLE
        if ch.original not in target:
            flags |= UNSAFE
            if ch.fallback:
                flags |= FALLBACK
        if ch.rule not in LOSSLESS_RULES:
            flags |= LOSSY
        if ch.review:
            flags |= REVIEW
    return flags


def outcome_flags(out: UnitOutcome, target: Target) -> int:
    """:func:`value_flags` of one unit's change, from ``Normalizer.outcome``."""
    flags = 0
    if out.rule in INVISIBLE_RULES:
        flags |= INVISIBLE
    if out.unit not in target:
        flags |= UNSAFE
        if out.fallback:
            flags |= FALLBACK
    if out.rule not in LOSSLESS_RULES:
        flags |= LOSSY
    if out.review:
        flags |= REVIEW
    return flags


def count(normalizer: Normalizer, layout: Layout, stream: ResumedStream,
          progress: Progress | None = None, total: int | None = None) -> Counts:
    """Count every record of ``stream`` after the header: plain batches on the column kernel
    (when :data:`mojinorm.records.FAST_PATH`), the others with the exact reader."""
    counts = Counts(len(layout.selected))
    scanner = _Scanner(normalizer, layout, stream.stream.cr)
    fast = _FastScan(normalizer, layout) if records.FAST_PATH and not stream.stream.cr else None
    _run(scanner, stream, counts, layout.data_pos, progress, total, fast)
    return counts


# ---------------------------------------------------------------------------- the fast path


class _FastScan:
    """Counts plain batches on the column kernel (``mojinorm.records``, ``mojinorm.column``):
    records read by polars, each distinct unit decided once, every row counted by polars."""

    def __init__(self, normalizer: Normalizer, layout: Layout) -> None:
        from . import column

        self.plan = column.column_plan(normalizer)
        self.target = normalizer.target
        self.layout = layout
        self.ncols = layout.ncols
        self.selected = layout.selected if layout.delimiter is not None else (0,)

    def batch(self, text: str, data: bytes, pos: int, codec: str | None) -> PlainBatch | None:
        """The plain batch of ``text[pos:]``, or None when the exact reader must take it."""
        raw = data if pos == 0 and codec == "utf-8" else text[pos:].encode("utf-8")
        return records.plain_batch(raw, self.layout.delimiter, self.ncols, self.selected)

    def count(self, batch: PlainBatch, c: Counts) -> None:
        import polars as pl

        from .column import unit_flags

        target = self.target
        rows = pl.repeat(0, batch.height, dtype=pl.UInt8, eager=True)
        for j in range(len(self.layout.selected)):
            flags, chars = unit_flags(batch.values.to_series(j), self.plan,
                                      lambda out: outcome_flags(out, target))
            c.chars.update(chars)
            frame = pl.DataFrame({"f": flags}).select(
                unsafe=(pl.col("f") & UNSAFE) != 0,
                invisible=(pl.col("f") & INVISIBLE) != 0,
                fallback=(pl.col("f") & (UNSAFE | FALLBACK)) == (UNSAFE | FALLBACK),
                effective=pl.when((pl.col("f") & UNSAFE) != 0).then(pl.col("f"))
                .otherwise(pl.col("f") & INVISIBLE),
            )
            c.col_unsafe[j] += int(frame["unsafe"].sum())
            c.col_invisible[j] += int(frame["invisible"].sum())
            c.col_fallback[j] += int(frame["fallback"].sum())
            rows = rows | frame["effective"]
        f = pl.col("f")
        unsafe = (f & UNSAFE) != 0
        fallback = unsafe & ((f & FALLBACK) != 0)
        fixable = unsafe & ((f & FALLBACK) == 0)
        totals = pl.DataFrame({"f": rows}).select(
            review=((f & REVIEW) != 0).sum(),
            invisible=((f & INVISIBLE) != 0).sum(),
            unsafe=unsafe.sum(),
            fallback=fallback.sum(),
            fixable=fixable.sum(),
            lossless=(fixable & ((f & LOSSY) == 0)).sum(),
        ).row(0, named=True)
        c.rows += batch.height
        c.review += totals["review"]
        c.invisible += totals["invisible"]
        c.unsafe += totals["unsafe"]
        c.fallback += totals["fallback"]
        c.fixable += totals["fixable"]
        c.lossless += totals["lossless"]


# ---------------------------------------------------------------------------- the exact reader


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
    """Scans decoded text; holds the caches, adds into a ``Counts``.

    The value cache maps a distinct value to ``[units, flags, count]``; ``count`` is how many
    times it was seen since the last :meth:`flush`, which moves the counts into the per-unit
    counter (when the cache is full and at the end), so memory stays bounded.
    """

    def __init__(self, normalizer: Normalizer, layout: Layout, cr: bool = False) -> None:
        self.normalizer = normalizer
        self.target = normalizer.target
        self.guard = self.target.visible_guard.search
        self.layout = layout
        self.delimiter = layout.delimiter
        self.ncols = layout.ncols
        self.selected = layout.selected
        self.sel = tuple(enumerate(layout.selected))
        self.parser = RecordParser(layout.delimiter)
        self.qsep = f'"{layout.delimiter}"'
        self.cache: dict[str, list] = {}
        self.cr = cr  # CR-only input is scanned with CR and LF swapped: swap them back

    def patterns(self, quoted: bool) -> tuple[re.Pattern[str], re.Pattern[str]]:
        return _line_patterns(self.target, self.delimiter, self.ncols, self.selected, quoted)

    def flush(self, c: Counts) -> None:
        chars = c.chars
        for units, _flags, count in self.cache.values():
            if count:
                for u in units:
                    chars[u] += count
        self.cache.clear()

    def analyse(self, value: str, c: Counts) -> list:
        res = self.normalizer.explain(value)
        flags = value_flags(res, self.target)
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

    def row(self, values: list[str], c: Counts) -> None:
        if self.cr:
            values = [v.translate(SWAP_EOL_STR) for v in values]
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
                if flags & INVISIBLE:
                    c.col_invisible[j] += 1
                if flags & UNSAFE:
                    c.col_unsafe[j] += 1
                    if flags & FALLBACK:
                        c.col_fallback[j] += 1
                    row_flags |= flags
                else:
                    row_flags |= flags & INVISIBLE
        if row_flags:
            if row_flags & REVIEW:
                c.review += 1
            if row_flags & INVISIBLE:
                c.invisible += 1
            if row_flags & UNSAFE:
                c.unsafe += 1
                if row_flags & FALLBACK:
                    c.fallback += 1
                else:
                    c.fixable += 1
                    if not row_flags & LOSSY:
                        c.lossless += 1

    def text(self, text: str, pos: int, final: bool, c: Counts, lines_before: int,
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
        starts: Iterator[int] = (m.end() for m in flag.finditer(text, pos))
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

    def _one(self, text: str, s: int, final: bool, c: Counts, lines_before: int,
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
                raise record_too_long(self.parser, text, s, lines_before)
            return -1
        values, spans, end = rec
        newlines = text.count("\n", s, end)
        if end and text[end - 1] == "\n":
            newlines -= 1
        if newlines > 0:
            c.multiline += 1
            c.rows -= newlines
        if len(values) == 1 and spans[0][0] == spans[0][1]:
            c.blank += 1
            c.rows -= 1
            return end
        self.row(values, c)
        return end


def _run(scanner: _Scanner, stream: ResumedStream, c: Counts, first_pos: int,
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
