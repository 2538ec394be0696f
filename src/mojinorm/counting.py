"""Column analysis for ``scan``: what each selected value says, added up in :class:`Counts`.

:func:`count` reads the records of a :class:`~mojinorm.records.ResumedStream` and counts them.
A plain batch of a one-target scan is read and counted by the compiled reader itself
(:func:`mojinorm.records.compiled_tally`, ``_speedups.PlainTally``): on its reading threads,
without the GIL, each row it finds is cut into units and counted from the flags of the units
already met (a table kept for the whole scan); a row with a unit met for the first time waits
until the batch's new units are decided here, once each (a few one by one,
:func:`mojinorm.normalizer.flags_one_by_one`, more in one frame,
:func:`mojinorm.column.flags_of_units`).  With ``--jobs`` above one they are decided on a
thread of their own while the reader goes on with the next batches, and each batch is
finished, in file order, once they are.  polars is imported only where something needs it:
on the warming thread of a large file (:func:`warm_meanwhile`) while the first batches are
read, and never by a small file whose units are few.
Other plain batches (:func:`mojinorm.records.plain_hits`: polars, or the compiled reader for
a staged scan) are counted on the column kernel (:mod:`mojinorm.column`): the rows held, their
units cut and counted in C (or by polars without the compiled module), the rows' flags added
up by polars.  Every other batch goes to the exact reader, the reference the differential
tests compare the fast paths against.  All give the same :class:`Counts`;
:mod:`mojinorm.report` turns them into a ``ScanReport``.

The exact path
--------------
The exact reader (:class:`mojinorm.records.ExactReader`) is built with ``skip`` set to the
target's visible characters: one ``re`` pass over a batch passes over every record whose
selected values render as they are, and those only add to ``rows`` (never split, never
parsed).  The records it yields (an offending value, a ragged row, a blank line, a record
spanning lines, anything but a plain line) are counted here: their selected values are checked
with ``Target.visible_guard`` and, on a hit, analysed once per distinct value with
``Normalizer.explain`` (a bounded cache that also counts occurrences).

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
* per column (``col_*``): the same counts over one column's values: unsafe, of those the ones
  that need the fallback, are lossless (same character) or need a person's look (review).
* ``review_examples``: the first :data:`REVIEW_EXAMPLES` rows to review, in file order, each
  with its line (where the record starts; a Parquet file: the row number), the selected
  columns whose value needs the look and the units that made it so.  Both readers keep the
  same ones.
* ``ragged_rows``: rows whose field count differs from the header's (the first row's without a
  header; in a layout with a trailing delimiter, see :func:`mojinorm.records.trailing_layout`,
  a row may have one more field when it is empty).  Their existing selected fields are still
  checked: an unsafe one counts in ``unsafe_rows`` and in ``ragged_unsafe_rows``, never in
  ``fixable_rows``, ``fallback_rows`` or ``review_rows``, since ``normalize`` copies a ragged
  row as it is.  So ``unsafe_rows = fixable_rows + fallback_rows + ragged_unsafe_rows``.
* ``columns[C]["changed"]``: the values of column C that ``normalize`` changes (an unsafe or
  invisible character, outside ragged rows): what its ``C_changes`` column will fill.
* ``chars``: every unit the normalizer would change in the selected values, with its count
  (occurrences), sorted by count, then code point.
* ``notes``: oddities of a file that is still read, one sentence each (also in the table
  report and in ``normalize``'s summary line): an empty file, a header only, CR-only line
  ends, a trailing delimiter layout, a header name that occurs more than once.

The flags of a value (:func:`value_flags`) or of one unit (:func:`outcome_flags`) are the bits
:data:`UNSAFE`, :data:`INVISIBLE`, :data:`FALLBACK`, :data:`LOSSY` and :data:`REVIEW`; a row's
flags are the OR of its values' flags.
"""

from __future__ import annotations

import re
import sys
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from functools import cached_property
from typing import TYPE_CHECKING, Any, NamedTuple

from . import _compiled, records
from .normalizer import Normalizer, Result, UnitOutcome, flags_one_by_one
from .records import BLANK, RAGGED, ExactReader, Layout, Progress, Record, ResumedStream
from .rules import LOSSLESS_RULES
from .targets import Target

if TYPE_CHECKING:
    import polars as pl

    from .column import ColumnPlan
    from .csvio import Chunk
    from .records import PlainHits

__all__ = [
    "FALLBACK", "INVISIBLE", "INVISIBLE_RULES", "LOSSLESS_RULES", "LOSSY", "REVIEW", "UNSAFE",
    "LINE_COLUMN", "REVIEW_EXAMPLES", "Counts", "ReviewExample", "count", "count_rows",
    "WARM_FROM", "count_staged", "count_values", "hit_rows", "warm_meanwhile",
    "outcome_flags",
    "review_example", "value_flags",
]

#: Rules of a change that is about an invisible character or an odd space.
INVISIBLE_RULES = frozenset({"invisible-removed", "space-normalized"})

#: Flags of a value: a unit outside the target (it renders ●), an invisible character, a unit
#: only the fallback replaces, a change to another character, a change a person should look at.
UNSAFE, INVISIBLE, FALLBACK, LOSSY, REVIEW = 1, 2, 4, 8, 16

_CACHE_LIMIT = 100_000  # distinct analysed values kept (a member file repeats names)
_CACHEABLE = 256  # longer values (a 10 MB field) are analysed each time, never kept

#: Rows to review kept with their line numbers: enough to start the work, bounded in memory.
REVIEW_EXAMPLES = 100


class ReviewExample(NamedTuple):
    """A row a person should look at."""

    line: int  #: where the record starts (1-based, the header counted); Parquet: the row
    columns: tuple[int, ...]  #: positions in the selection of the values to look at
    units: tuple[str, ...]  #: the units of those values marked for review, first seen first


class Counts:
    """Everything a scan adds up (``col_*``: one entry per selected column)."""

    __slots__ = ("rows", "unsafe", "fixable", "lossless", "fallback", "review", "invisible",
                 "ragged", "ragged_unsafe", "blank", "multiline", "col_missing", "col_unsafe",
                 "col_invisible", "col_fallback", "col_changed", "col_lossless", "col_review",
                 "chars", "review_examples")

    def __init__(self, ncols: int) -> None:
        self.rows = self.unsafe = self.fixable = self.lossless = self.fallback = self.review = 0
        self.invisible = self.ragged = self.ragged_unsafe = self.blank = self.multiline = 0
        self.col_missing = [0] * ncols
        self.col_changed = [0] * ncols  #: values ``normalize`` changes (not in ragged rows)
        self.col_unsafe = [0] * ncols
        self.col_invisible = [0] * ncols
        self.col_fallback = [0] * ncols
        self.col_lossless = [0] * ncols
        self.col_review = [0] * ncols
        self.chars: Counter[str] = Counter()
        self.review_examples: list[ReviewExample] = []

    def add_column(self, j: int, unsafe: int, invisible: int, fallback: int, changed: int,
                   lossless: int, review: int) -> None:
        """Add to the counts of selected column ``j`` (``col_*``)."""
        self.col_unsafe[j] += unsafe
        self.col_invisible[j] += invisible
        self.col_fallback[j] += fallback
        self.col_changed[j] += changed
        self.col_lossless[j] += lossless
        self.col_review[j] += review

    def add_review_example(self, normalizer: Normalizer, line: int,
                           values: Sequence[str | None],
                           known: dict[str, int] | None = None) -> None:
        """Keep the row at ``line`` (``values``: the selected ones, None when missing) while
        fewer than :data:`REVIEW_EXAMPLES` are kept (``known``: see :func:`review_example`)."""
        if len(self.review_examples) < REVIEW_EXAMPLES:
            self.review_examples.append(review_example(normalizer, line, values, known))


def review_example(normalizer: Normalizer, line: int, values: Sequence[str | None],
                   known: dict[str, int] | None = None) -> ReviewExample:
    """The :class:`ReviewExample` of one row to review.  Worked out again from the values
    (both readers call this on the same values): at most :data:`REVIEW_EXAMPLES` per scan.

    ``known``: the flags of units already decided (the kernel's, unit -> :func:`outcome_flags`);
    a value whose units are all known is read from them, the others through ``explain``, which
    runs the pipeline, sources and all, for each unit."""
    target = normalizer.target
    columns: list[int] = []
    units: dict[str, None] = {}
    for j, value in enumerate(values):
        if not value:
            continue
        found = _known_flags(normalizer, value, known) if known is not None else None
        if found is None:
            res = normalizer.explain(value)
            flags = value_flags(res, target)
            marked = [ch.original for ch in res.changes if ch.review]
        else:
            flags, marked = found
        if flags & (UNSAFE | REVIEW) == UNSAFE | REVIEW:
            columns.append(j)
            units.update(dict.fromkeys(marked))
    return ReviewExample(line, tuple(columns), tuple(units))


def _known_flags(normalizer: Normalizer, value: str,
                 known: dict[str, int]) -> tuple[int, list[str]] | None:
    """``value``'s flags and its units marked for review, from the flags of its units (the
    units ``explain`` changes: those ``iter_unclean`` finds); None when one is not known.
    Cut by the compiled guard (:func:`mojinorm.column.units_counted`) where the column
    kernel is loaded: a scan that has not needed polars does not import it for twenty
    values."""
    counted = None
    if f"{__package__}.column" in sys.modules:
        from .column import units_counted

        counted = units_counted(normalizer, value, known)
    if counted is not None:  # the compiled guard's cut, without the target's patterns
        if isinstance(counted, list):
            return None
        flags, units = counted
        return flags, [u for u in units if known[u] & REVIEW]
    flags = 0
    marked = []
    for _, unit in normalizer.target.iter_unclean(value):
        f = known.get(unit, -1)
        if f < 0:
            return None
        flags |= f
        if f & REVIEW:
            marked.append(unit)
    return flags, marked


def change_flags(unit: str, rule: str, fallback: bool, review: bool, target: Target) -> int:
    """What one unit's change says, as the flag bits (the counting rules above)."""
    flags = INVISIBLE if rule in INVISIBLE_RULES else 0
    if unit not in target:
        flags |= UNSAFE | (FALLBACK if fallback else 0)
    if rule not in LOSSLESS_RULES:
        flags |= LOSSY
    return flags | (REVIEW if review else 0)


def value_flags(res: Result, target: Target) -> int:
    """What the changes of one value say: the OR of :func:`change_flags`."""
    flags = 0
    for ch in res.changes:
        flags |= change_flags(ch.original, ch.rule, ch.fallback, ch.review, target)
    return flags


def outcome_flags(out: UnitOutcome, target: Target) -> int:
    """:func:`change_flags` of one unit, from ``Normalizer.outcome``."""
    return change_flags(out.unit, out.rule, out.fallback, out.review, target)


#: Files from this size on have their decisions warmed on another thread while the file's
#: line ends, layout and first batches are read (:func:`warm_meanwhile`): a file with
#: nothing to decide pays for the warming only where its scan is shorter (a 16 MiB file's
#: takes about as long as the warming, 50-100 ms).
WARM_FROM = 16 * 1024 * 1024


def warm_meanwhile(normalizers: Sequence[Normalizer], threads: int,
                   size: int | None) -> Future[None] | None:
    """With more than one thread, the fast path on and a file of ``size`` bytes of at least
    :data:`WARM_FROM`, load what deciding units reads (:func:`mojinorm.column.warm`) into
    the column plans of ``normalizers`` on another thread, while the caller reads the file's
    line ends, layout and first batches; None otherwise.  Pass it to :func:`count`, which
    waits for it before anything decides a unit (the first decisions of a file no longer
    pay for loading tables), and wait for it after (``result()``: its error, if any, raised
    there)."""
    if threads < 2 or not records.FAST_PATH or size is None or size < WARM_FROM:
        return None

    def warm() -> None:
        # polars is imported here (0.2 s), while the caller reads the file's first batches
        from . import column

        for n in normalizers:
            column.warm(column.column_plan(n))  # the counting's own plans, made here

    pool = ThreadPoolExecutor(1, thread_name_prefix="mojinorm-warm")
    try:
        return pool.submit(warm)
    finally:
        pool.shutdown(wait=False)  # the thread ends with its one task


def count(normalizer: Normalizer, layout: Layout, stream: ResumedStream,
          progress: Progress | None = None, total: int | None = None,
          warming: Future[None] | None = None) -> Counts:
    """Count every record of ``stream`` after the header: plain batches on the column kernel
    (when :data:`mojinorm.records.FAST_PATH`), the others with the exact reader.
    ``warming``: :func:`warm_meanwhile`'s, waited for before a unit is decided."""
    return _count([normalizer], layout, stream, progress, total, track=False,
                  warming=warming)[0][0]


def count_staged(normalizers: Sequence[Normalizer], layout: Layout, stream: ResumedStream,
                 progress: Progress | None = None, total: int | None = None,
                 warming: Future[None] | None = None
                 ) -> tuple[list[Counts], list[set[int]]]:
    """:func:`count` for several targets in one pass over ``stream``: the counts of each, and
    the lines of the rows each finds unsafe (a name that passes one system and fails the
    next is a line in one set and not in the previous)."""
    return _count(normalizers, layout, stream, progress, total, track=True, warming=warming)


def _count(normalizers: Sequence[Normalizer], layout: Layout, stream: ResumedStream,
           progress: Progress | None, total: int | None, track: bool,
           warming: Future[None] | None = None) -> tuple[list[Counts], list[set[int]]]:
    """Count every chunk of ``stream`` for each normalizer: on the column kernel when the
    chunk is plain, else with the exact reader (which carries a record still open at a
    chunk's end into the next chunk); ``track``: keep the lines of the unsafe rows.

    ``warming`` (loading the normalizers' tables on another thread) is waited for before
    anything but the compiled reader's tally touches a normalizer: the tally of the first
    batches goes on meanwhile."""
    ready: Callable[[], object] = (lambda: None) if warming is None else warming.result
    counts = [Counts(len(layout.selected)) for _ in normalizers]
    unsafe: list[set[int]] = [set() for _ in normalizers]
    lines_of_unsafe: list[set[int] | None] = list(unsafe) if track else [None] * len(unsafe)
    # the exact reader passes over the records whose selected values all render as they are
    # (in every target)
    skip = normalizers[0].target.visible_chars if len(normalizers) == 1 else \
        frozenset.intersection(*(frozenset(n.target.visible_chars) for n in normalizers))
    reader = ExactReader(layout, stream.stream.eol or b"\n", stream.inp.name, raw=False,
                         skip=skip)
    small = total is not None and total < WARM_FROM
    fast = [_FastScan(n, layout, tally=len(normalizers) == 1 and not track, ready=ready,
                      small=small)
            for n in normalizers] if records.FAST_PATH and not stream.stream.cr else []
    scanners = [_Scanner(n, layout) for n in normalizers]
    try:
        _read(stream, layout, reader, fast, scanners, counts, lines_of_unsafe, skip,
              progress, total, ready)
    except BaseException:
        for f in fast:
            f.close(failed=True)
        raise
    for f, c in zip(fast, counts, strict=False):
        f.close()
        f.add_tally(c)
    for scanner, c in zip(scanners, counts, strict=True):
        scanner.flush(c)
    reader.finish()
    for c in counts:
        c.rows += reader.skipped
    return counts, unsafe


def _read(stream: ResumedStream, layout: Layout, reader: ExactReader,
          fast: Sequence[_FastScan], scanners: Sequence[_Scanner], counts: Sequence[Counts],
          lines_of_unsafe: Sequence[set[int] | None], skip: frozenset[str],
          progress: Progress | None, total: int | None,
          ready: Callable[[], object] = lambda: None) -> None:
    """:func:`_count`'s reading: every chunk, on the kernel or with the exact reader;
    ``ready`` is called before anything but the compiled reader's tally reads a chunk."""
    pos = layout.data_pos
    for chunk in stream:
        rest = records.has_records(chunk, pos)
        if fast and not reader.pending and rest:
            tallied = fast[0].tallied(chunk, pos, stream.stream.codec, skip, counts[0],
                                      lines_of_unsafe[0], stream.stream.prefetch)
            if tallied is not None:  # read and counted
                counts[0].rows += tallied.height
                records.count_lines(chunk, pos, tallied)
                rest = False
            batch = None
            if tallied is None:
                ready()
                batch = fast[0].batch(chunk, pos, stream.stream.codec, skip)
            if batch is not None:
                import polars as pl

                # a plain batch holds one record per line: its first one starts here
                at = records.line_at(chunk, pos) + (
                    batch.rows if batch.rows is not None else
                    pl.int_range(batch.height, dtype=pl.Int64, eager=True))
                # the compiled reader's rows are those the guard stops in, when its code
                # points are the target's (one target)
                found = batch.rows is not None and len(fast) == 1
                for f, c, lines in zip(fast, counts, lines_of_unsafe, strict=True):
                    c.rows += batch.height
                    f.hold(batch.values, at, c, lines, found)
                records.count_lines(chunk, pos, batch)
                rest = False
        if rest or reader.pending:
            ready()
            _flush(fast, counts, lines_of_unsafe)  # the review examples stay in file order
            read: Iterable[Record] = reader.read(chunk, pos)
            if len(scanners) > 1:
                read = list(read)  # every scanner reads the same records
            for scanner, c, lines in zip(scanners, counts, lines_of_unsafe, strict=True):
                scanner.records(read, c, lines)
        pos = 0
        if progress is not None:
            progress(stream.bytes_done, total)
    ready()
    _flush(fast, counts, lines_of_unsafe)


# ---------------------------------------------------------------------------- the fast path


def _flush(fast: Sequence[_FastScan], counts: Sequence[Counts],
           lines_of_unsafe: Sequence[set[int] | None]) -> None:
    """Count the rows every fast scanner holds (none without the fast path)."""
    for f, c, lines in zip(fast, counts[:len(fast)], lines_of_unsafe[:len(fast)],
                           strict=True):
        f.flush(c, lines)


class _Decider:
    """Decides the new units of batches read ahead (:meth:`_FastScan.tallied` with
    ``--jobs`` above one) on a thread of its own, while the reading threads read the next
    batches; the units of the batches that came meanwhile are decided together, in one call
    (one frame of decisions where there would be one per batch).  ``ready`` is waited for
    before the queue is taken: the units of the batches read while the tables load (a
    large file's first thousands) are decided in one call."""

    def __init__(self, decide: Callable[[list[str]], dict[str, int]],
                 ready: Callable[[], object] = lambda: None) -> None:
        self.decide = decide
        self.ready = ready
        self._lock = threading.Lock()
        self._queued: list[tuple[list[str], Future[dict[str, int]]]] = []
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="mojinorm-decide")

    def submit(self, units: list[str]) -> Future[dict[str, int]]:
        """The flags of ``units`` (a dict that may hold more units), to come."""
        decided: Future[dict[str, int]] = Future()
        with self._lock:
            self._queued.append((units, decided))
        self._pool.submit(self._decide_queued)
        return decided

    def _decide_queued(self) -> None:
        try:
            self.ready()
        except BaseException:
            pass  # raised to the batches by decide, which waits for it too
        with self._lock:
            queued, self._queued = self._queued, []
        if not queued:
            return  # decided with an earlier batch's
        try:
            flags = self.decide([u for units, _ in queued for u in units])
        except BaseException as exc:
            for _, decided in queued:
                decided.set_exception(exc)
            return
        for _, decided in queued:
            decided.set_result(flags)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class _FastScan:
    """Counts plain batches on the column kernel (``mojinorm.records``, ``mojinorm.column``):
    records read by the compiled reader or polars, each distinct unit decided once, every row
    counted by polars.

    A row whose selected values all pass the guard adds nothing but itself to the counts: a
    batch's other rows (a few percent in a member file) are held, with their lines, and
    counted together when enough are held (on a counting thread with ``--jobs`` above one),
    before the exact reader takes a chunk (the review examples stay in file order) and at the
    end.  The kernel then runs once for many batches.
    """

    #: the compiled reader counts a batch itself (:meth:`tallied`) only once rows held were
    #: counted (False: from the first batch on; the same counts either way)
    TALLY_AFTER_FLUSH = True
    #: rows held before they are counted (bounded memory whatever the file)
    HOLD_ROWS = 50_000
    #: or values (rows times selected columns: a wide file's rows are many values each)
    HOLD_VALUES = 1_000_000
    #: batches the compiled reader reads (and counts) ahead of the first one whose new units
    #: are still being decided (a file's first batches bring thousands: the reading goes on
    #: meanwhile), each keeping a copy of its rows that wait for them
    AHEAD = 200
    #: and bytes those copies may hold (a file whose every row waits: bounded memory)
    AHEAD_BYTES = 32 * 1024 * 1024
    #: read ahead of the decisions (:meth:`tallied`): None when polars has more than one
    #: thread (``--jobs``); True or False forces it either way
    READ_AHEAD: bool | None = None

    def __init__(self, normalizer: Normalizer, layout: Layout, tally: bool = False,
                 ready: Callable[[], object] = lambda: None, small: bool = False) -> None:
        #: a file under :data:`WARM_FROM`: tallied from its first batch on one thread too
        #: (see :meth:`tallied`)
        self.small = small
        #: waited for before a unit is decided (tables loading on another thread)
        self.ready = ready
        self.normalizer = normalizer
        self.memo: dict[str, int] = {}  # unit -> flags, across batches
        self.target = normalizer.target
        self.layout = layout
        self.ncols = layout.ncols
        self.selected = layout.selected if layout.delimiter is not None else (0,)
        self.held: list[pl.DataFrame] = []
        self.held_rows = 0
        self._pool: ThreadPoolExecutor | None = None
        self._counting: Future[None] | None = None
        #: rows held were counted once: a file's units are mostly decided (see :meth:`tallied`)
        self.flushed = False
        #: the batches read by the tally and not finished (with ``--jobs`` above one): the
        #: line each starts on, and its new units' flags to come (None: it brought none)
        self._waiting: deque[tuple[int, Future[dict[str, int]] | None]] = deque()
        self._decider: _Decider | None = None
        #: the compiled reader's own counting (one target, the compiled module's cut)
        self.tally = _compiled.MODULE.PlainTally(
            len(self.selected), UNSAFE, INVISIBLE, FALLBACK, LOSSY, REVIEW) \
            if tally and layout.selected and _compiled.MODULE is not None \
            and _compiled.explains_by_guard(normalizer) \
            and records.compiled_reads(layout.delimiter, self.selected) else None

    @cached_property
    def plan(self) -> ColumnPlan:
        """The column plan the batches are counted with (polars imported: not before a batch
        the compiled reader does not tally, or a unit to decide)."""
        from . import column

        return column.column_plan(self.normalizer)

    def tallied(self, chunk: Chunk, pos: int, codec: str | None, passing: frozenset[str],
                c: Counts, lines: set[int] | None,
                read: Callable[[], None] = lambda: None) -> records.Tallied | None:
        """Read the plain batch of ``chunk`` from text index ``pos`` and count it in C, on the
        reading threads (:class:`_speedups.PlainTally`): each new unit decided once; its rows
        to review added to ``c`` (after any rows held: file order).  None when there is no
        tally or the compiled reader declines the batch.  ``read`` is called before the batch
        is read (the next chunk is read meanwhile).

        With ``--jobs`` above one (:data:`READ_AHEAD`), from the first batch on: the new
        units of a batch are decided on a thread of its own (:class:`_Decider`) while the
        next batches are read, and a batch is finished (its rows that waited for them
        counted) once they are, in file order, at most :data:`AHEAD` batches behind.

        On one thread, None until the rows held were counted once (:data:`HOLD_ROWS` rows
        found): the first batches bring most of a file's distinct units (17,500 in 1M rows),
        decided together in one frame; a batch counted here decides its own new units, and
        that costs milliseconds per batch however few (a 1M-row scan paid 0.1 s more).  Past
        them, few new units come per batch and the tally counts on the reading threads.  A
        small file (a few batches) is tallied from its first batch: its units are decided a
        batch at a time, few enough to be decided one by one, without polars."""
        if self.tally is None:
            return None
        ahead = self.READ_AHEAD if self.READ_AHEAD is not None else records.threads() > 1
        if not ahead and self.TALLY_AFTER_FLUSH and not self.flushed and not self.small:
            return None
        read()
        batch = records.compiled_tally(
            self.tally, records.utf8_from(chunk, pos, codec), self.layout.delimiter,
            self.ncols, self.selected, self.layout.trailing, passing, self.memo,
            REVIEW_EXAMPLES - len(c.review_examples))
        if batch is None:
            return None
        first = records.line_at(chunk, pos)
        if ahead:
            if self._decider is None:
                self._decider = _Decider(self._decide, self.ready)
            self._waiting.append(
                (first, self._decider.submit(batch.missing) if batch.missing else None))
            self.finish_waiting(c, lines, keep=self.AHEAD)
            return batch
        if batch.missing:
            self.memo.update(self._decide(batch.missing))
        self._add_review(self.tally.finish(self.memo), first, c, lines)
        return batch

    def _decide(self, units: list[str]) -> dict[str, int]:
        """The flags of ``units`` (-1: the target keeps it): a few one by one, without the
        column kernel (a scan that decides only those, a small file's, never imports
        polars), more in one frame."""
        self.ready()
        alone = flags_one_by_one(self.normalizer, units, self._flags_of)
        if alone is not None:
            return alone
        from .column import flags_of_units

        return flags_of_units(units, self.plan, self._flags_of)

    def _flags_of(self, out: UnitOutcome) -> int:
        return outcome_flags(out, self.target)

    def finish_waiting(self, c: Counts, lines: set[int] | None, keep: int = 0) -> None:
        """Finish the batches read ahead (:meth:`tallied`), oldest first: those whose new
        units are decided, and, waiting for their decisions, all but the last ``keep`` (and
        while they hold more than :data:`AHEAD_BYTES`)."""
        waiting = self._waiting
        tally = self.tally
        while waiting:
            assert tally is not None
            first, decided = waiting[0]
            if len(waiting) <= keep and tally.held <= self.AHEAD_BYTES \
                    and decided is not None and not decided.done():
                return
            waiting.popleft()
            if decided is not None:
                self.memo.update(decided.result())
            self._add_review(tally.finish(self.memo), first, c, lines)

    def _add_review(self, review: list[tuple[int, tuple[str, ...]]], first: int, c: Counts,
                    lines: set[int] | None) -> None:
        """Add a tallied batch's rows to review (row ``i`` on line ``first + i``) to ``c``,
        after the rows held before it (file order)."""
        if review:
            self._flush_held(c, lines)
            for row, values in review:
                c.add_review_example(self.normalizer, first + row, values, self.memo)

    def add_tally(self, c: Counts) -> None:
        """Add what the compiled reader counted (:meth:`tallied`) to ``c``."""
        if self.tally is None:
            return
        rows, columns, units = self.tally.totals()
        review, invisible, unsafe, fallback, fixable, lossless = rows
        c.review += review
        c.invisible += invisible
        c.unsafe += unsafe
        c.fallback += fallback
        c.fixable += fixable
        c.lossless += lossless
        for j, counts in enumerate(columns):
            c.add_column(j, *counts)
        c.chars.update(units)

    def hold(self, values: pl.DataFrame, at: pl.Series, c: Counts,
             lines: set[int] | None, found: bool = False) -> None:
        """Keep the rows of ``values`` (row ``i`` on line ``at[i]``) that hit the guard in any
        selected column (the rows themselves are already counted); ``found``: every row of
        ``values`` does."""
        if not values.height or not values.width:
            return
        self.finish_waiting(c, lines)  # the batches read before these rows come first
        held = values.with_columns(at.alias(LINE_COLUMN)) if found else \
            hit_rows(values, self.plan.patterns.guard, at)
        if held.height:
            self.held.append(held)
            self.held_rows += held.height
            if self.held_rows >= self.HOLD_ROWS or \
                    self.held_rows * values.width >= self.HOLD_VALUES:
                self.flush(c, lines, background=True)

    def flush(self, c: Counts, lines: set[int] | None, background: bool = False) -> None:
        """Count the rows held so far into ``c`` (their lines, when unsafe, into ``lines``).

        ``background``: on a counting thread when polars has more than one (``--jobs``), while
        the caller reads the next batches; a flush waits for the one before, so the counts
        and the review examples are added in file order, and the caller touches no more of
        ``c`` than ``c.rows`` meanwhile.  The batches read ahead are finished first."""
        self.finish_waiting(c, lines)
        self._flush_held(c, lines, background)

    def _flush_held(self, c: Counts, lines: set[int] | None, background: bool = False) -> None:
        """:meth:`flush` of the rows held alone."""
        self.wait()
        if not self.held:
            return
        import polars as pl

        held = pl.concat(self.held)
        self.held, self.held_rows = [], 0
        self.flushed = True
        if background and pl.thread_pool_size() > 1:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(1, thread_name_prefix="mojinorm-count")
            self._counting = self._pool.submit(self._count_held, held, c, lines)
        else:
            self._count_held(held, c, lines)

    def wait(self) -> None:
        """Wait for the counting thread's flush (its error raises here)."""
        if self._counting is not None:
            counting, self._counting = self._counting, None
            counting.result()

    def close(self, failed: bool = False) -> None:
        """Wait for the counting thread, and let it go; ``failed``: the scan stops on an error
        of its own, so that the thread's error is not raised over it."""
        try:
            if failed and self._counting is not None:
                self._counting.exception()  # waited for, not raised
                self._counting = None
            self.wait()
        finally:
            if self._waiting and not failed:
                raise RuntimeError("batches read ahead were left unfinished")  # a bug
            self._waiting.clear()  # let go with the scan that stops
            if self._decider is not None:
                self._decider.close()
                self._decider = None
            if self._pool is not None:
                self._pool.shutdown()
                self._pool = None

    def _count_held(self, held: pl.DataFrame, c: Counts, lines: set[int] | None) -> None:
        unsafe = count_rows(self.plan, held.drop(LINE_COLUMN), held[LINE_COLUMN], c, self.memo)
        if lines is not None and unsafe is not None:
            lines.update(unsafe.to_list())

    def batch(self, chunk: Chunk, pos: int, codec: str | None,
              passing: frozenset[str]) -> PlainHits | None:
        """The plain batch of ``chunk`` from text index ``pos`` (at least its rows with a
        selected value holding a code point outside ``passing``), or None when the exact
        reader must take it."""
        return records.plain_hits(records.utf8_from(chunk, pos, codec),
                                  self.layout.delimiter, self.ncols, self.selected,
                                  self.layout.trailing, passing)


#: The column of :func:`hit_rows` holding each row's line.
LINE_COLUMN = "\x00line"
#: Up to this many selected columns, :func:`hit_rows` runs one guard per column in one query;
#: above (a 5,000-column file), one guard over the columns stacked in one series.
_FEW_COLUMNS = 16


def hit_rows(values: pl.DataFrame, guard: str, at: pl.Series) -> pl.DataFrame:
    """The rows of ``values`` (row ``i`` on line ``at[i]``, Int64) with a selected value the
    polars ``guard`` finds something in, and their lines in :data:`LINE_COLUMN`: the only
    rows that add more than themselves to the counts."""
    import polars as pl

    height = values.height
    if values.width <= _FEW_COLUMNS:
        # one query: a guard per column (polars runs them in parallel), the rows kept
        hit = pl.any_horizontal(pl.col(name).str.contains(guard) for name in values.columns)
        return values.lazy().with_columns(at.alias(LINE_COLUMN)).filter(hit).collect()
    # every column in one series, column after column: one guard pass whatever the width
    stacked = pl.concat([values.to_series(j).alias("v") for j in range(values.width)])
    hits = pl.DataFrame({"v": stacked}).lazy().with_row_index("i").filter(
        pl.col("v").str.contains(guard)).select((pl.col("i") % height).unique(
            maintain_order=False).sort()).collect().to_series()
    return values[hits].with_columns(at.gather(hits).alias(LINE_COLUMN))


def count_values(plan: ColumnPlan, values: pl.DataFrame, c: Counts,
                 first_line: int | None = None,
                 memo: dict[str, int] | None = None) -> pl.Series | None:
    """Add the rows of ``values`` (the selected columns, in selection order, as strings) to
    ``c`` on the column kernel: each distinct unit decided once, every row counted by polars.
    The counting rules are those of the exact path (see the module docstring).  Row ``i`` is
    on line ``first_line + i`` (one record per line; default: the rows counted so far + 1).
    ``memo``: the units' flags known from earlier batches (``column.unit_flags``).  Returns
    the lines of the unsafe rows (None when there are none to look at)."""
    import polars as pl

    first = c.rows + 1 if first_line is None else first_line
    c.rows += values.height
    lines = pl.int_range(first, first + values.height, dtype=pl.Int64, eager=True)
    return count_rows(plan, values, lines, c, memo)


def count_rows(plan: ColumnPlan, values: pl.DataFrame, lines: pl.Series, c: Counts,
               memo: dict[str, int] | None = None) -> pl.Series | None:
    """:func:`count_values` of rows at ``lines`` (any rows of a file, in file order) whose
    count ``c.rows`` already holds."""
    import polars as pl

    from .column import unit_flags

    target = plan.normalizer.target
    height, width = values.height, values.width
    if not height or not width:
        return None
    # Every selected column in one series, column after column: the guard, the units and
    # their decisions run once per batch whatever the number of columns (a polars query per
    # column costs milliseconds, and a 5,000-column file makes that minutes).
    stacked = pl.concat([values.to_series(j).alias("v") for j in range(width)])
    flags, _ = unit_flags(stacked, plan, lambda out: outcome_flags(out, target), memo, c.chars)
    f = pl.col("f")
    frame = pl.DataFrame({"f": flags}).with_columns(
        col=pl.int_range(pl.len(), dtype=pl.UInt32) // height,
        # what a value adds to its row: its flags when unsafe, else its invisible bit
        effective=pl.when((f & UNSAFE) != 0).then(f).otherwise(f & INVISIBLE),
    )
    per_column = frame.group_by("col").agg(
        unsafe=((f & UNSAFE) != 0).sum(),
        invisible=((f & INVISIBLE) != 0).sum(),
        fallback=((f & (UNSAFE | FALLBACK)) == (UNSAFE | FALLBACK)).sum(),
        changed=(f != 0).sum(),  # a plain batch has no ragged row
        lossless=((f & (UNSAFE | FALLBACK | LOSSY)) == UNSAFE).sum(),
        review=((f & (UNSAFE | REVIEW)) == (UNSAFE | REVIEW)).sum(),
    ).sort("col")
    for j, *counts in per_column.iter_rows():
        c.add_column(j, *counts)
    # The row's flags: the OR of its values' (slices of one series are views, not copies).
    effective = frame["effective"]
    row_flags = effective.slice(0, height)
    for j in range(1, width):
        row_flags = row_flags | effective.slice(j * height, height)
    rows = pl.DataFrame({"f": row_flags})
    unsafe = (f & UNSAFE) != 0
    fallback = unsafe & ((f & FALLBACK) != 0)
    fixable = unsafe & ((f & FALLBACK) == 0)
    totals = rows.select(
        review=((f & REVIEW) != 0).sum(),
        invisible=((f & INVISIBLE) != 0).sum(),
        unsafe=unsafe.sum(),
        fallback=fallback.sum(),
        fixable=fixable.sum(),
        lossless=(fixable & ((f & LOSSY) == 0)).sum(),
    ).row(0, named=True)
    room = REVIEW_EXAMPLES - len(c.review_examples)
    if totals["review"] and room > 0:
        at = ((row_flags & REVIEW) != 0).arg_true().head(room)
        for line, row in zip(lines.gather(at).to_list(), values[at].iter_rows(),
                             strict=True):
            c.add_review_example(plan.normalizer, line, row, memo)
    c.review += totals["review"]
    c.invisible += totals["invisible"]
    c.unsafe += totals["unsafe"]
    c.fallback += totals["fallback"]
    c.fixable += totals["fixable"]
    c.lossless += totals["lossless"]
    # the lines of the unsafe rows (the staged scan compares targets row by row)
    return lines.filter((row_flags & UNSAFE) != 0)


# ---------------------------------------------------------------------------- the exact path


class _Scanner:
    """Counts the records of :class:`mojinorm.records.ExactReader`; holds the value cache.

    The value cache maps a distinct value to ``[units, flags, count]``; ``count`` is how many
    times it was seen since the last :meth:`flush`, which moves the counts into the per-unit
    counter (when the cache is full and at the end), so memory stays bounded.
    """

    def __init__(self, normalizer: Normalizer, layout: Layout) -> None:
        self.normalizer = normalizer
        self.target = normalizer.target
        self.sel = tuple(enumerate(layout.selected))
        self.cache: dict[str, list[Any]] = {}

    @cached_property
    def guard(self) -> Callable[[str], re.Match[str] | None]:
        """The target's guard (compiled on first need: a plain file's batches never need
        it)."""
        return self.target.visible_guard.search

    def flush(self, c: Counts) -> None:
        chars = c.chars
        for units, _flags, n in self.cache.values():
            if n:
                for u in units:
                    chars[u] += n
        self.cache.clear()

    def analyse(self, value: str, c: Counts) -> list[Any]:
        if len(value) > _CACHEABLE:
            return self._analyse_long(value, c)
        res = self.normalizer.explain(value)
        flags = value_flags(res, self.target)
        units = tuple(ch.original for ch in res.changes)
        if len(self.cache) >= _CACHE_LIMIT:
            self.flush(c)
        info: list[Any] = [units, flags, 0]
        self.cache[value] = info
        return info

    def _analyse_long(self, value: str, c: Counts) -> list[Any]:
        """:meth:`analyse` for a value too long to keep (a 10 MB field): its units are counted
        now, as they are found, and each distinct one is decided once; no ``Change`` is made
        per occurrence, so memory stays bounded by the distinct units."""
        n = self.normalizer
        target = self.target
        # counted in C: the units the pattern finds, less those the target keeps (a sequence)
        units = Counter(map(re.Match.group, target.unit_pattern.finditer(value)))
        for u in [u for u in units if u in target.visible_chars or u in target.sequences]:
            del units[u]
        outcomes = [n.outcome(u) for u in units]
        if n.fallback == "error" and any(o.fallback for o in outcomes):
            n.explain(value)  # raises the per-name error
        flags = 0
        for o in outcomes:
            flags |= outcome_flags(o, self.target)
        c.chars.update(units)
        return [(), flags, 0]

    def records(self, records: Iterable[Record], c: Counts,
                unsafe_lines: set[int] | None = None) -> None:
        """Count ``records`` (what :meth:`ExactReader.read` yields) into ``c``; the line of
        each unsafe row goes to ``unsafe_lines`` too when it is given."""
        guard = self.guard
        cache = self.cache
        sel = self.sel
        for rec in records:
            kind = rec.kind
            if kind == BLANK:
                c.blank += 1
                continue
            c.rows += 1
            if rec.newlines:
                c.multiline += 1
            values = rec.values
            nv = len(values)
            if kind == RAGGED:
                c.ragged += 1
                for j, ci in sel:
                    if ci >= nv:
                        c.col_missing[j] += 1
            row_flags = 0
            for j, ci in sel:
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
                    if kind != RAGGED:
                        c.col_changed[j] += 1
                    if flags & INVISIBLE:
                        c.col_invisible[j] += 1
                    if flags & UNSAFE:
                        c.col_unsafe[j] += 1
                        if flags & FALLBACK:
                            c.col_fallback[j] += 1
                        elif not flags & LOSSY:
                            c.col_lossless[j] += 1
                        if flags & REVIEW:
                            c.col_review[j] += 1
                        row_flags |= flags
                    else:
                        row_flags |= flags & INVISIBLE
            if row_flags:
                if row_flags & INVISIBLE:
                    c.invisible += 1
                if kind == RAGGED:
                    # normalize copies a ragged row as it is: nothing in it is fixed or
                    # replaced by the fallback, nor waits for a review
                    if row_flags & UNSAFE:
                        c.unsafe += 1
                        c.ragged_unsafe += 1
                        if unsafe_lines is not None:
                            unsafe_lines.add(rec.line)
                    continue
                if row_flags & REVIEW:
                    c.review += 1
                    if len(c.review_examples) < REVIEW_EXAMPLES:
                        c.add_review_example(self.normalizer, rec.line,
                                             [values[ci] if ci < nv else None for _, ci in sel])
                if row_flags & UNSAFE:
                    c.unsafe += 1
                    if unsafe_lines is not None:
                        unsafe_lines.add(rec.line)
                    if row_flags & FALLBACK:
                        c.fallback += 1
                    else:
                        c.fixable += 1
                        if not row_flags & LOSSY:
                            c.lossless += 1
