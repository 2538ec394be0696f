"""Records of a member file: its layout, and the readers that turn decoded chunks into records.

Data flows one way: :mod:`mojinorm.csvio` (bytes, encodings, line ends: decoded chunks) ->
this module (the layout, then the records of each chunk) -> :mod:`mojinorm.counting` (``scan``)
or :mod:`mojinorm.rewrite` (``normalize``) -> :mod:`mojinorm.report`.

The layout
----------
:func:`read_layout` reads the first record of a prepared :class:`~mojinorm.csvio.DecodedStream`
(merging chunks while a quoted field of it continues) and decides the delimiter (sniffed from
the first line unless given), the header, the column labels and the selected columns
(:func:`resolve_columns`).  Every occurrence of a header name that occurs more than once is
labelled ``name#3`` (``#`` and the 1-based column number; more ``#`` when that is itself a
header name, :func:`column_labels`), and :func:`file_notes` says so.  The stream then
continues as a :class:`ResumedStream` whose first chunk is the one already read.

Two readers
-----------
A member file is almost always *plain*: every line one record, the same number of fields on
every line, LF or CRLF throughout, quotes only around whole fields.  For such a batch the
records are read by polars (Rust, all cores) instead of Python (:func:`plain_batch`):

* the lines come from ``read_csv`` with a separator byte the batch does not contain and no
  quoting, so each line is one value (polars strips the CR of a CRLF);
* one regex checks every line against the CSV grammar, ``F(,F)*`` with ``F`` a quoted field
  (``"…"`` with doubled quotes) or a run without delimiter, quote or CR, and a count of the
  delimiters outside quoted fields checks the layout's field count.  For lines of that shape
  ``csv.reader``'s reading is unambiguous, so polars' ``read_csv`` gives the same values;
* the selected columns come from ``read_csv`` (only those are built).

``scan`` and ``normalize`` need less of a plain batch: its size and the rows with a selected
value the guard stops in (:class:`PlainHits`).  When the optional compiled reader
``mojinorm._speedups`` is built (:data:`SPEEDUPS`), :func:`compiled_hits` reads the batch in
one pass over the bytes, on polars' thread count, making strings of those rows only, and
``normalize`` writes the batch back with :func:`append_fields`; :func:`compiled_tally` reads a
batch and counts its rows for a one-target scan on the same threads (see
:mod:`mojinorm.counting`).  The reader takes a subset of
what :func:`plain_batch` takes (strict UTF-8, no control character) and declines the rest,
which polars then reads (:func:`plain_hits`).  ``tests/test_speedups.py`` checks it against
:func:`plain_batch` with the guard.

Anything else (a blank line, a ragged row, a record spanning lines, a stray quote, a lone CR,
mixed line ends, CR-only files, a line longer than :data:`MAX_FAST_LINE`) makes
:func:`plain_batch` return None, and the caller reads that batch with the exact reader,
:class:`ExactReader`: the one place that decides blank lines, CRLF, ragged rows and records
spanning lines, for ``scan`` and ``normalize`` alike.  It yields each :class:`Record` with its
values, field spans, line number, kind (record, blank, ragged) and raw byte span; a line
without a quote is split at the delimiter, a line whose fields are all quoted is split at
``","``, any other line with a quote is parsed by :class:`mojinorm.csvio.RecordParser`
(``csv.reader``'s dialect), which continues a record over line breaks inside quotes, across
chunk ends too.  Both readers give the same values;
``tests/test_fastpath.py`` checks the scans and rewrites built on them against each other.
:data:`FAST_PATH` is the switch between them (False: every batch goes to the exact reader,
the reference), :data:`FAST_CHUNKS` the fast reader's batch size and :func:`set_threads`
polars' thread count (``--jobs``; a report never depends on it).

How the exact reader stays close to the speed of bare ``csv.reader`` when it only counts
(``scan``): given ``skip``, the characters a selected value may hold, *one* compiled ``re``
pass over the whole text of a batch finds the lines that need a look (:func:`skip_patterns`);
the lines that pass are plain one-line records with the layout's field count whose selected
values need nothing, and they are only counted (``str.count("\\n")``), never split.

Importing this module does not import polars, nor does :func:`set_threads`, which must run
before anything imports it (it sets polars' thread count, fixed at polars' import).

Hostile and broken files (``tests/test_hostile.py``, corpus in ``tests/hostile/``)
------------------------------------------------------------------------------
Read, with the oddity in the report (``scan`` exits 0; ``normalize`` writes byte-exact output):

* NUL bytes and a BOM (U+FEFF) in the middle of the file (two files concatenated) are
  invisible characters: they count in ``invisible_rows`` and show in ``chars``
  (NUL is inside Shift_JIS, so invisible only; U+FEFF is outside every target, so also
  unsafe).  ``normalize`` removes them from the ``C_normalized`` value.
* Ragged rows are counted (``ragged_rows``), their existing selected fields are checked
  (an unsafe one counts in ``ragged_unsafe_rows``, never as fixable);
  ``normalize`` copies them unchanged, without the new columns.
* A trailing delimiter (``1,髙橋,`` under ``id,name``; or a header ``id,name,``): when the
  header and the first data record differ by one empty last field, that field is a layout
  (:func:`trailing_layout`), not raggedness: a record has the columns, with or without that
  empty field; a header's empty last field is no column.  ``normalize`` writes the new fields
  before it and keeps it, byte for byte, last on the line.  A file whose first record has the
  header's width keeps every other width ragged.
* CR-only line ends (classic Mac OS): when the first 64 KiB hold a CR and no LF, CR ends
  records (``line_ends: "CR"``); ``normalize`` keeps CR.  A CR or LF inside a quoted field
  stays data.
* A field of any size up to ``csvio.MAX_RECORD`` (16 MiB per record; a 10 MB name is read).
* An empty file (0 rows, note "the file is empty"), a header only (note "no data rows").
* Duplicate header names: every column is scanned; each occurrence is labelled ``name#3``
  (``#`` and the 1-based column number; ``name##3`` when the file also has a header called
  ``name#3``: a label never equals a header) and a note says so.  ``--column name`` is then
  an error listing the labels and indexes that select each (``--column name#3`` selects a
  header written ``name#3``, never a label).  Only ASCII digits are indexes: ``-c ²`` or
  ``-c ١`` is "no column".

Refused with exit 2 and one line naming the file, line (and byte offset where known):

* an undecodable byte (in the given encoding; with ``auto``: "neither UTF-8 nor CP932", or
  "the file mixes encodings" when UTF-8 lines are followed by a CP932 line or the reverse);
* a quoted field still open at the end of the file (``csv.reader`` would silently take the
  rest of the file as one field): "line N: quoted field opened here is never closed", N the
  line of the opening quote; a record or line over ``MAX_RECORD`` (:func:`record_too_long`);
* a column that does not exist or is ambiguous; a directory or an unreadable file.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, NamedTuple

from . import _compiled, csvio
from .csvio import (
    SWAP_EOL_STR,
    Chunk,
    DecodedStream,
    InputError,
    RecordParser,
    UnclosedQuote,
    sniff_delimiter,
)
from .targets import char_class

if TYPE_CHECKING:
    import polars as pl

    from ._speedups import PlainTally

__all__ = [
    "BLANK", "FAST_CHUNKS", "FAST_PATH", "HEADER", "MAX_FAST_LINE", "NO_DATA_ROWS", "RAGGED",
    "RECORD", "SPEEDUPS", "ExactReader", "HitLists", "Layout", "PlainBatch", "PlainHits",
    "Progress", "Record", "ResumedStream", "code_point_bitmap", "column_labels", "file_notes",
    "lines_of", "plain_batch", "plain_hits", "read_layout", "record_too_long", "append_fields",
    "compiled_hit_lists", "compiled_hits", "compiled_reads", "compiled_tally", "speedups_state",
    "Tallied", "Output", "listed_columns", "plan_outputs", "resolve_columns", "resolve_pairs",
    "set_threads", "skip_patterns", "count_lines", "has_records", "line_at", "utf8_from",
]

#: Plain batches go to the polars reader (and then the column kernel); False sends every batch
#: to the exact Python reader (the reference the differential tests compare against).  The one
#: switch: ``mojinorm.scan.FAST_PATH`` reads and sets this one.
FAST_PATH = True
FAST_CHUNKS = 2  #: chunks of ``csvio.CHUNK_SIZE`` per batch on the fast path (4 MiB: peak RSS)

#: ``progress(bytes_done, total_bytes)``, called after each chunk (``total_bytes``: None when
#: the size is not known, on stdin).
Progress = Callable[[int, "int | None"], None]

#: The note of a file that holds a header and no data record.
NO_DATA_ROWS = "no data rows: the file holds a header only"


def set_threads(jobs: int | None) -> int:
    """Run polars with ``jobs`` threads (capped to the machine's CPUs); None keeps polars'
    default (every CPU).  polars fixes its thread pool when it is first imported, so this takes
    effect only before that; returns the number of threads in effect (:func:`threads`).
    polars is not imported here: a scan imports it on another thread while the compiled
    reader reads the first batches."""
    global _threads_to_come
    if "polars" in sys.modules:
        _threads_to_come = None
        return threads()
    if jobs is not None:
        os.environ["POLARS_MAX_THREADS"] = str(max(1, min(jobs, os.cpu_count() or 1)))
    _threads_to_come = _threads_polars_takes()
    return _threads_to_come


#: The threads polars will take, found by :func:`set_threads` before polars was imported
#: (it may be being imported on another thread: asking polars would wait for it).
_threads_to_come: int | None = None


def threads() -> int:
    """The threads polars runs on (``--jobs``), the compiled reader's too: the count
    :func:`set_threads` found, else polars' own."""
    if _threads_to_come is not None:
        return _threads_to_come
    import polars as pl

    return int(pl.thread_pool_size())


@lru_cache(maxsize=1)
def _polars_default_threads() -> int:
    """``std::thread::available_parallelism``, which polars' pool takes by default: the CPUs
    of the process's affinity mask, at most its cgroup's CPU quota (cgroup v2 ``cpu.max``)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    try:
        with open("/sys/fs/cgroup/cpu.max", encoding="ascii") as f:
            quota, period = f.read().split()[:2]
        if quota != "max":
            cpus = min(cpus, max(1, int(quota) // int(period)))
    except (OSError, ValueError):
        pass
    return max(1, cpus)


def _threads_polars_takes() -> int:
    value = os.environ.get("POLARS_MAX_THREADS", "").strip()
    if value.isdigit() and int(value) > 0:
        return int(value)
    return _polars_default_threads()


# ---------------------------------------------------------------------------- layout


@dataclass(frozen=True)
class Layout:
    """How the records of one input are laid out, from its first record."""

    delimiter: str | None  #: None for plain text (one value per line)
    header: bool
    names: tuple[str, ...]  #: unique labels (:func:`column_labels`)
    selected: tuple[int, ...]  #: 0-based indexes of the selected columns, in selection order
    data_pos: int  #: index in the first text where data starts
    header_lines: int  #: LF count consumed by the header
    raw_names: tuple[str, ...] = ()  #: the header's values as written (its columns')
    #: records may end with one more, empty, field after the last column (a trailing
    #: delimiter, see :func:`trailing_layout`); without it only the layout's field count is a
    #: record
    trailing: bool = False
    #: the header itself ends with a delimiter: its empty last field is not a column
    header_trailing: bool = False
    #: ``(name column, its reading column)`` from requests ``姓:セイ`` (see :func:`resolve_pairs`)
    readings: tuple[tuple[int, int], ...] = ()

    @property
    def ncols(self) -> int:
        """Fields per record (1 for plain text, and for an empty file)."""
        return max(1, len(self.names)) if self.delimiter is not None else 1

    def duplicates(self) -> dict[str, list[int]]:
        """Header names that occur more than once: name -> 1-based column numbers."""
        where: dict[str, list[int]] = {}
        for i, v in enumerate(self.raw_names):
            where.setdefault(v, []).append(i + 1)
        return {v: cols for v, cols in where.items() if len(cols) > 1}


class _NeedMore(Exception):
    """The first record, or the first data record after the header (at ``text[at]``), does
    not end in the text read so far (a quoted field continues)."""

    def __init__(self, delimiter: str | None, at: int = 0) -> None:
        super().__init__(delimiter)
        self.delimiter = delimiter
        self.at = at


def _and(items: Sequence[object]) -> str:
    words = [str(x) for x in items]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


#: A column index is ASCII digits only: ``str.isdigit`` also accepts "²" and "١", which
#: ``int`` then refuses or reads as 1.
_INDEX = re.compile(r"[0-9]+")


def resolve_columns(requested: Sequence[str] | None, names: Sequence[str],
                    raw_names: Sequence[str] = ()) -> tuple[int, ...]:
    """0-based indexes of ``requested`` columns, in request order.

    ``names`` are the column labels (see :func:`column_labels`), ``raw_names`` the header as
    written (empty without a header).  A request is, in this order: a header name as written
    (a name the header holds more than once is ambiguous: an :class:`InputError` lists the
    labels and indexes that address each); a label (one the report shows for a repeated or
    empty header name, never equal to a header name); a 1-based index in ASCII digits.
    """
    if not requested:
        return tuple(range(len(names)))
    raw = list(raw_names)
    labels = list(names)
    out: list[int] = []
    for c in requested:
        c = str(c)
        hits = [i for i, v in enumerate(raw) if v == c]
        if len(hits) > 1:
            raise InputError(_ambiguous(c, hits, labels, raw))
        if hits:
            idx = hits[0]  # a header name as written means that header
        elif c in labels:
            idx = labels.index(c)
        elif _INDEX.fullmatch(c) and 1 <= int(c) <= len(labels):
            idx = int(c) - 1
        else:
            have = ", ".join(f"{i + 1} {n!r}" for i, n in enumerate(labels)) or \
                "none (empty file)"
            raise InputError(f"no column {c!r}; the file has columns: {have}")
        if idx not in out:
            out.append(idx)
    return tuple(out)


def _is_column(c: str, labels: Sequence[str], raw: Sequence[str]) -> bool:
    return c in raw or c in labels or bool(_INDEX.fullmatch(c)) and 1 <= int(c) <= len(labels)


def resolve_pairs(requested: Sequence[str] | None, names: Sequence[str],
                  raw_names: Sequence[str] = ()
                  ) -> tuple[tuple[int, ...], tuple[tuple[int, int], ...]]:
    """The selected columns and ``(name, reading)`` pairs of ``requested``.

    A request ``姓:セイ`` selects the name column 姓 and pairs it with its reading column セイ
    (each part as :func:`resolve_columns` reads it), unless ``姓:セイ`` is itself a column: a
    header written with a colon means that header.  A reading column is never also a name
    column, and a name has one reading.
    """
    if not requested:
        return resolve_columns(requested, names, raw_names), ()
    plain: list[str] = []
    specs: list[tuple[str, str]] = []
    for c in map(str, requested):
        if ":" in c and not _is_column(c, names, raw_names):
            name, reading = c.rsplit(":", 1)
            plain.append(name)
            specs.append((name, reading))
        else:
            plain.append(c)
    selected = resolve_columns(plain, names, raw_names)
    pairs: dict[int, int] = {}
    for name, reading in specs:
        ni = resolve_columns([name], names, raw_names)[0]
        ri = resolve_columns([reading], names, raw_names)[0]
        if ri == ni:
            raise InputError(f"column {name!r} cannot be its own reading")
        if pairs.get(ni, ri) != ri:
            raise InputError(f"column {name!r} is paired with two readings "
                             f"({names[pairs[ni]]!r} and {names[ri]!r})")
        pairs[ni] = ri
    both = [ri for ri in pairs.values() if ri in selected]
    if both:
        raise InputError(f"column {names[both[0]]!r} is a reading (after ':') and also asked "
                         "for as a name column")
    return selected, tuple(pairs.items())


class Output(NamedTuple):
    """One column the writer normalizes: it adds ``C_normalized`` and ``C_changes`` for it (or
    rewrites it in place with ``--replace``)."""

    column: int
    reading: int | None  #: a name's own reading column (fallback ``kana`` reads it)
    kana: bool  #: a reading column itself: normalize_kana, not the target


def listed_columns(kana_column: str | int | Sequence[str | int] | None) -> list[str]:
    if kana_column is None:
        return []
    if isinstance(kana_column, (str, int)):
        return [str(kana_column)]
    return [str(k) for k in kana_column]


def plan_outputs(layout: Layout, kana_columns: Sequence[str], every: bool,
                 kana_fallback: bool) -> tuple[Layout, tuple[Output, ...]]:
    """The columns to normalize, each name with its own reading, then the readings.

    ``every``: no column was asked for, so every column but the readings is a name column.
    One listed reading column and one name column pair up; under fallback ``kana`` every name
    column must have its reading, or the run is refused before anything is written.
    """
    listed = [resolve_columns([k], layout.names, layout.raw_names)[0] for k in kana_columns]
    pairs = dict(layout.readings)
    readings = set(pairs.values()) | set(listed)
    selected = layout.selected
    if every:
        selected = tuple(i for i in selected if i not in readings)
        layout = dataclasses.replace(layout, selected=selected)
    both = [i for i in selected if i in listed]
    if both:
        raise InputError(f"column {layout.names[both[0]]!r} is asked for both as a name "
                         "(--column) and as a reading (--kana-column)")
    if not pairs and len(listed) == 1 and len(selected) == 1:
        pairs = {selected[0]: listed[0]}  # -c 氏名 -k カナ: one name, one reading
    if kana_fallback:
        lonely = [layout.names[i] for i in selected if i not in pairs]
        if lonely:
            example = f"-c {lonely[0]}:<its reading column>"
            raise InputError(
                f"--fallback kana writes a name's own reading, so every name column needs its "
                f"reading column paired ({example}); no reading for "
                f"{', '.join(repr(n) for n in lonely)}")
    outputs: list[Output] = []
    done: set[int] = set()
    for ci in selected:
        outputs.append(Output(ci, pairs.get(ci), False))
        ri = pairs.get(ci)
        if ri is not None and ri not in done:
            outputs.append(Output(ri, None, True))
            done.add(ri)
    for ri in listed:
        if ri not in done:
            outputs.append(Output(ri, None, True))
            done.add(ri)
    return layout, tuple(outputs)


def _ambiguous(c: str, hits: list[int], labels: list[str], raw: list[str]) -> str:
    """The refusal of a header name that names several columns: how to address each."""
    numbers = [i + 1 for i in hits]
    # an index that is itself a header name would mean that header, not the column
    indexes = [str(n) for n in numbers if str(n) not in raw]
    how = f"its label ({' or '.join(labels[i] for i in hits)})"
    if indexes:
        how += f" or its index ({' or '.join(indexes)})"
    return f"column {c!r} appears more than once (columns {_and(numbers)}); select one by {how}"


def _layout(text: str, final: bool, delimiter: str | None, header: bool | None,
            columns: Sequence[str] | None, name: str, cr: bool = False) -> Layout:
    """The delimiter, header and selected columns, from the first text of the input.

    Raises :class:`_NeedMore` when the first record continues past ``text`` (not ``final``).
    """
    try:
        return _layout1(text, final, delimiter, header, columns, cr)
    except UnclosedQuote as exc:
        raise exc.at(text, 0, name) from None
    except InputError as exc:
        exc.name = exc.name or name
        raise


def _layout1(text: str, final: bool, delimiter: str | None, header: bool | None,
             columns: Sequence[str] | None, cr: bool) -> Layout:
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
            resolve_pairs(columns, names)
        return Layout(delimiter, header, names, (), 0, 0)
    parser = RecordParser(delimiter)
    rec = parser.parse(text, 0, final)
    if rec is None:
        raise _NeedMore(delimiter)
    values, _, end = rec
    if cr:
        values = [v.translate(SWAP_EOL_STR) for v in values]
    raw: tuple[str, ...] = ()
    trailing = header_trailing = False
    if header:
        raw = tuple(values)
        if delimiter is not None:
            first = _first_data(parser, text, end, final)
            trailing, header_trailing = trailing_layout(raw, first)
            if header_trailing:
                raw = raw[:-1]
        names = column_labels(raw)
        data_pos = end
        header_lines = text.count("\n", 0, end)
    else:
        names = tuple(str(i + 1) for i in range(len(values)))
        data_pos = 0
        header_lines = 0
    selected, readings = resolve_pairs(columns, names, raw)
    return Layout(delimiter, header, names, selected, data_pos, header_lines, raw, trailing,
                  header_trailing, readings)


def _first_data(parser: RecordParser, text: str, pos: int, final: bool) -> list[str] | None:
    """The values of the first data record at or after ``text[pos]`` (blank lines skipped),
    or None when the input has none (or only after :data:`csvio.MAX_RECORD` characters of
    blank lines: the decision must not wait for the whole input).  Raises :class:`_NeedMore`
    when that record, or whether there is one, lies past ``text``."""
    start = pos
    n = len(text)
    while pos < n and pos - start <= csvio.MAX_RECORD:
        if text[pos] == "\n":
            pos += 1
            continue
        if text.startswith("\r\n", pos):
            pos += 2
            continue
        rec = parser.parse(text, pos, final)
        if rec is None:
            raise _NeedMore(parser.delimiter, pos)
        return rec[0]
    if pos < n or final:
        return None
    raise _NeedMore(parser.delimiter, pos)


def trailing_layout(header: Sequence[str], first: Sequence[str] | None) -> tuple[bool, bool]:
    """``(trailing, header_trailing)`` of a file from its header and its first data record.

    A line that ends with a delimiter has one more, empty, field: when the header and the
    first data record disagree by that field, the file is laid out with a trailing delimiter
    (what some exports write on every line), not ragged.  ``header_trailing``: the header ends
    with a delimiter (its last name is empty) and the first record has no value under it (it
    has one field less, or that field is empty, or there is no data record); that field is no
    column.  ``trailing``: besides, the first record has one empty field more than the header.
    In such a layout a record is a row with the columns, with or without one more empty field;
    any other width is ragged.  Without either, only the header's width is a record (a file
    whose first record matches its header keeps every other width ragged).
    """
    h = len(header)
    if h >= 2 and header[-1] == "" and (
            first is None or len(first) == h - 1 or (len(first) == h and first[-1] == "")):
        return True, True
    if first is not None and len(first) == h + 1 and first[-1] == "":
        return True, False
    return False, False


def column_labels(values: Sequence[str]) -> tuple[str, ...]:
    """Unique labels for the header ``values``: a name the header holds once is its own label;
    every occurrence of a repeated name, and an empty name, is labelled ``name#3`` (``column#3``
    for an empty one: ``#`` and the 1-based column number).  A label never equals a name the
    header holds (a header may itself be called ``name#3``): then the ``#`` is doubled until
    it does not."""
    count = Counter(values)
    taken = set(values)
    out = []
    for i, v in enumerate(values):
        if v and count[v] == 1:
            out.append(v)
            continue
        mark = "#"
        label = f"{v or 'column'}{mark}{i + 1}"
        while label in taken:
            mark += "#"
            label = f"{v or 'column'}{mark}{i + 1}"
        taken.add(label)
        out.append(label)
    return tuple(out)


class ResumedStream:
    """A :class:`~mojinorm.csvio.DecodedStream` whose first chunk was already read (to find the
    layout): iterating yields that chunk, then the rest of the stream."""

    def __init__(self, stream: DecodedStream, rest: Iterator[Chunk], first: Chunk) -> None:
        self.stream = stream
        self.rest = rest
        self.first = first
        self.inp = stream.inp

    @property
    def bytes_done(self) -> int:
        return self.stream.bytes_done

    @property
    def first_text(self) -> str:
        """The first chunk's text (the whole first record at least)."""
        return self.first.text

    def __iter__(self) -> Iterator[Chunk]:
        yield self.first
        yield from self.rest


def has_records(chunk: Chunk, pos: int) -> bool:
    """``chunk`` holds records from text index ``pos`` on (after the header in the first
    chunk; without decoding a chunk read from its start)."""
    return pos < len(chunk.text) if pos else bool(chunk.data)


def line_at(chunk: Chunk, pos: int) -> int:
    """The line number of text index ``pos`` of ``chunk`` (1-based)."""
    return chunk.lines_before + (chunk.text.count("\n", 0, pos) if pos else 0) + 1


def count_lines(chunk: Chunk, pos: int,
                batch: PlainBatch | PlainHits | HitLists | Tallied) -> None:
    """Tell ``chunk`` its line count when ``batch`` is all of it (read from ``pos`` 0): one
    line per record, less an unterminated last one; the stream then need not count them."""
    if pos == 0:
        chunk.newlines = batch.height - (not batch.terminated)


def utf8_from(chunk: Chunk, pos: int, codec: str | None) -> bytes:
    """``chunk``'s text from index ``pos`` as UTF-8: its own bytes when it is read from its
    start and is UTF-8 (or ASCII, the encoding not yet known), else encoded from the text."""
    if pos == 0 and codec in (None, "utf-8"):
        return chunk.data
    return chunk.text[pos:].encode("utf-8")


def read_layout(stream: DecodedStream, delimiter: str | None, header: bool | None,
                columns: Sequence[str] | None) -> tuple[Layout, ResumedStream]:
    """Read the first chunk(s) of a prepared stream and the layout; the stream goes on from
    the first chunk, which holds the whole first record (chunks are merged while a quoted
    field of the first record continues)."""
    name = stream.inp.name
    chunks = iter(stream)
    first = next(chunks)
    while True:
        try:
            layout = _layout(first.text, first.final, delimiter, header, columns, name,
                             stream.cr)
            return layout, ResumedStream(stream, chunks, first)
        except _NeedMore as more_needed:
            if len(first.text) - more_needed.at > csvio.MAX_RECORD:
                raise record_too_long(RecordParser(more_needed.delimiter), first.text,
                                      more_needed.at, first.lines_before, name) from None
            first = first.joined(next(chunks))


def record_too_long(parser: RecordParser, text: str, s: int, lines_before: int,
                    name: str = "") -> InputError:
    """The error for a record at ``text[s]`` still open after :data:`csvio.MAX_RECORD`:
    an unclosed quote names the line of the quote, else the line where the record starts."""
    limit = csvio.format_size(csvio.MAX_RECORD)
    try:
        parser.parse(text, s, True)
    except UnclosedQuote as exc:
        return exc.at(text, lines_before, name,
                      f"quoted field opened here is still open after {limit} (unbalanced "
                      "quote?)")
    return InputError(f"a record longer than {limit}", name=name,
                      line=lines_before + text.count("\n", 0, s) + 1)


def file_notes(layout: Layout, stream: ResumedStream) -> list[str]:
    """The oddities known once the first record is read (see ``ScanReport.notes``): an empty
    file, CR-only line ends, a trailing delimiter layout, repeated header names."""
    notes = []
    if not stream.first.text and stream.first.final:
        notes.append("the file is empty")
    if stream.stream.cr:
        notes.append("line ends are CR only (classic Mac OS): read as record ends")
    if layout.header_trailing:
        notes.append("the header ends with a delimiter: the empty field after its last name is "
                     "not a column (a record may end with one too)")
    elif layout.trailing:
        notes.append("records end with a delimiter (an empty field after the last column): "
                     "read as the file's layout, the field kept as written")
    for name, cols in layout.duplicates().items():
        labels = [layout.names[i - 1] for i in cols]
        notes.append(f"column name {name!r} appears {len(cols)} times (columns {_and(cols)}), "
                     f"reported as {_and(labels)}; select one by its label or index")
    return notes


# ---------------------------------------------------------------------------- the exact reader


RECORD, BLANK, RAGGED, HEADER = "record", "blank", "ragged", "header"


class Record(NamedTuple):
    """One record as the exact reader read it, with where it is in its batch.

    ``kind``: :data:`RECORD`, :data:`BLANK` (an empty line: not a row), :data:`RAGGED` (a row
    whose field count is not the layout's) or :data:`HEADER`.  ``values`` are what
    ``csv.reader`` reads (for CR-only input with CR and LF swapped back).  ``spans`` are the
    fields as written (quotes included) in ``text``, or None for a line without a quote (see
    :attr:`field_spans`).  ``text[start:end]`` and ``data[bstart:bend]`` are the record with
    its line end, decoded and raw; ``text`` and ``data`` are the whole batch.
    """

    kind: str
    values: list[str]
    spans: list[tuple[int, int]] | None
    line: int  #: 1-based physical line where the record starts
    newlines: int  #: line breaks inside the record (quoted fields spanning lines)
    text: str
    start: int
    end: int
    data: bytes
    bstart: int
    bend: int

    @property
    def raw(self) -> bytes:
        """The record's bytes as read, line end included."""
        return self.data[self.bstart:self.bend]

    @property
    def field_spans(self) -> list[tuple[int, int]]:
        """``spans``, worked out for a line without a quote (its fields are split at the
        delimiter, so they follow each other with one character between)."""
        if self.spans is not None:
            return self.spans
        spans = []
        p = self.start
        for v in self.values:
            spans.append((p, p + len(v)))
            p += len(v) + 1
        return spans

    def quoted(self, i: int) -> bool:
        """Field ``i`` is written in quotes."""
        if self.spans is None:
            return False
        a = self.spans[i][0]
        return self.text[a:a + 1] == '"'


class ExactReader:
    """Reads records from decoded chunks with ``csv.reader``'s rules, in Python, exactly: the
    one place that decides blank lines, CRLF, ragged rows and records spanning lines (a quoted
    field with a line break).  ``scan`` counts its records and ``normalize`` rewrites them.

    :meth:`read` yields the complete records of a chunk; a record still open at its end (a
    quoted field continuing in the next chunk) is kept and read with the next chunk
    (:attr:`pending`).  A record longer than ``csvio.MAX_RECORD`` and a quoted field never
    closed are :class:`~mojinorm.csvio.InputError` naming the line.

    ``raw=False``: the records carry no bytes (``data`` empty, byte spans 0), for a reader
    that only looks at values.  ``skip`` (with ``raw=False``): the characters a selected value
    may hold for its record to be passed over: a record on one line, with the layout's field
    count, every field unquoted or quoted without a doubled quote, every selected value made of
    ``skip`` characters, is not yielded but counted in :attr:`skipped` (one ``re`` pass over
    the text finds the others, see :func:`skip_patterns`).  ``scan`` skips the values that
    render as they are.
    """

    def __init__(self, layout: Layout, sep: bytes, name: str, *, raw: bool = True,
                 skip: frozenset[str] | None = None) -> None:
        if skip is not None and raw:
            raise ValueError("a reader that skips records keeps no bytes: pass raw=False")
        self.layout = layout
        self.delimiter = layout.delimiter
        self.ncols = layout.ncols
        self.trailing = layout.trailing
        self.sep = sep
        self.swap = sep == b"\r"  # CR-only input: the text has CR and LF swapped
        self.name = name
        self.raw = raw
        self.skip = skip
        self.skipped = 0  #: records passed over (``skip``), from the start
        self.parser = RecordParser(layout.delimiter)
        self.qsep = f'"{layout.delimiter}"'
        self._carry: tuple[str, bytes, int] | None = None

    @property
    def pending(self) -> bool:
        """A record started in an earlier chunk waits for the next one."""
        return self._carry is not None

    def header(self, chunk: Chunk) -> Record | None:
        """The first record of the first chunk, as :data:`HEADER` (None for an empty input):
        :func:`read_layout` made sure that chunk holds it whole."""
        text, data, lines_before = chunk.text, chunk.data, chunk.lines_before
        if not text:
            return None
        rec = self._record_at(text, data, 0, 0, True, lines_before, lines_before)
        assert rec is not None
        return rec._replace(kind=HEADER)

    def read(self, chunk: Chunk, pos: int = 0) -> Iterator[Record]:
        """The complete records of ``chunk`` from text index ``pos`` (a record start: after the
        header in the first chunk), after the record carried from the chunk before."""
        text, data, final, lines_before = chunk.text, chunk.data, chunk.final, \
            chunk.lines_before
        if self._carry is not None:
            carried, carried_data, lines_before = self._carry
            self._carry = None
            text, data = carried + text, carried_data + data
        if pos >= len(text):
            return iter(())
        if self.skip is not None:
            return self._unskipped(text, data, pos, final, lines_before)
        bpos = _advance(data, 0, text.count("\n", 0, pos), self.sep) if pos and self.raw else 0
        return self._records(text, data, pos, bpos, final, lines_before)

    def finish(self) -> None:
        """At the end of the input: nothing may be left (the final chunk reads to its end)."""
        if self._carry is not None:
            raise InputError("unexpected end of input inside a record", name=self.name)

    def _records(self, text: str, data: bytes, pos: int, bpos: int, final: bool,
                 lines_before: int) -> Iterator[Record]:
        """Every record of ``text[pos:]``."""
        n = len(text)
        line = lines_before + text.count("\n", 0, pos)
        record_at = self._record_at
        while pos < n:
            rec = record_at(text, data, pos, bpos, final, lines_before, line)
            if rec is None:
                self._carry = (text[pos:], data[bpos:], line)
                return
            yield rec
            line += rec.newlines + 1
            pos, bpos = rec.end, rec.bend

    def _unskipped(self, text: str, data: bytes, pos: int, final: bool, lines_before: int,
                   ) -> Iterator[Record]:
        """The records of ``text[pos:]`` that :attr:`skip` does not pass over."""
        assert self.skip is not None
        quoted = self.delimiter is not None and text.find('"', pos) >= 0
        good, flag = skip_patterns(self.layout, self.skip, quoted)
        n = len(text)
        starts: Iterator[int] = (m.end() for m in flag.finditer(text, pos))
        if good.match(text, pos) is None:
            starts = itertools.chain((pos,), starts)
        count = text.count
        record_at = self._record_at
        line = lines_before + count("\n", 0, pos)
        for s in starts:
            if s < pos or s >= n:
                continue  # inside the record read last, or the end of the text
            passed = count("\n", pos, s)  # the lines in between pass
            self.skipped += passed
            line += passed
            rec = record_at(text, b"", s, 0, final, lines_before, line)
            if rec is None:
                self._carry = (text[s:], b"", line)
                return
            yield rec
            line += rec.newlines + 1
            pos = rec.end
        self.skipped += count("\n", pos, n)

    def _record_at(self, text: str, data: bytes, pos: int, bpos: int, final: bool,
                   lines_before: int, line: int) -> Record | None:
        """The record at ``text[pos]`` (``data[bpos]``), on line ``line + 1``; None when it
        continues past ``text`` (not ``final``)."""
        e = text.find("\n", pos)
        end = len(text) if e < 0 else e + 1
        delim = self.delimiter
        if delim is not None and text.find('"', pos, end) >= 0:
            return self._quoted_at(text, data, pos, bpos, final, lines_before, line, e)
        # no quote on the line: the record is the line, without its CR LF or LF
        values: list[str]
        if e < 0:
            body = text[pos:]
        elif e > pos and text[e - 1] == "\r":
            body = text[pos:e - 1]
        else:
            body = text[pos:e]
        if not body:
            values = [body]
            kind = BLANK
        elif delim is None:
            values = [body]
            kind = RECORD
        else:
            values = body.split(delim)
            kind = self._kind(values)
        if self.swap:
            values = [v.translate(SWAP_EOL_STR) for v in values]
        if not self.raw:
            bend = 0
        elif e < 0:
            bend = len(data)  # the last record of the input, without a line end
        else:
            bend = data.index(self.sep, bpos) + 1
        return _new_record(Record, (kind, values, None, line + 1, 0, text, pos, end, data, bpos,
                                    bend))

    def _kind(self, values: list[str]) -> str:
        """:data:`RECORD` for the layout's field count (or, in a layout with a trailing
        delimiter, one more field that is empty), else :data:`RAGGED`."""
        n = len(values)
        if n == self.ncols or (self.trailing and n == self.ncols + 1 and values[-1] == ""):
            return RECORD
        return RAGGED

    def _quoted_at(self, text: str, data: bytes, pos: int, bpos: int, final: bool,
                   lines_before: int, line: int, e: int) -> Record | None:
        """:meth:`_record_at` for a record whose first line holds a quote (``e``: the index of
        that line's LF, or -1)."""
        end = len(text) if e < 0 else e + 1
        newlines = 0
        body = text[pos:] if e < 0 else text[pos:e - 1 if text[e - 1] == "\r" else e]
        inner = body[1:-1]
        qsep = self.qsep
        if len(body) > 1 and body[0] == '"' and body[-1] == '"' and \
                inner.count('"') == 2 * inner.count(qsep):
            # every field quoted, no other quote ("a","b"): the line is '"' + X + '"' where
            # each quote of X is in a '","' separator (the non-overlapping occurrences
            # str.count and str.split find), so csv reads X.split('","')
            values = inner.split(qsep)
            spans = []
            a = pos
            for v in values:
                spans.append((a, a + len(v) + 2))
                a += len(v) + 3
            kind = self._kind(values)
        else:
            try:
                rec = self.parser.parse(text, pos, final)
            except UnclosedQuote as exc:
                raise exc.at(text, lines_before, self.name) from None
            if rec is None:  # a quoted field continues in the next chunk
                if len(text) - pos > csvio.MAX_RECORD:
                    raise record_too_long(self.parser, text, pos, lines_before, self.name)
                return None
            values, spans, end = rec
            newlines = text.count("\n", pos, end - 1 if text[end - 1] == "\n" else end)
            if len(values) == 1 and spans[0][0] == spans[0][1]:
                kind = BLANK
            else:
                kind = self._kind(values)
        if self.swap:
            values = [v.translate(SWAP_EOL_STR) for v in values]
        if not self.raw:
            bend = 0
        elif text[end - 1] != "\n":
            bend = len(data)  # the last record of the input, without a line end
        else:
            bend = _advance(data, bpos, newlines + 1, self.sep)
        return Record(kind, values, spans, line + 1, newlines, text, pos, end, data, bpos, bend)


#: Builds a :class:`Record` from a tuple of its fields without the keyword handling of
#: ``Record(...)`` (the exact reader makes one per line).
_new_record = tuple.__new__


#: Runs of adjacent selected columns that the skip pattern checks one by one; a selection in
#: more pieces is checked as if every column were selected.
MAX_SKIP_RUNS = 8
_INLINE_FIELDS = 4  # shorter runs of equal fields are written out (re runs them faster)


def _cls(chars: frozenset[str]) -> str:
    return f"[{char_class(chars)}]" if chars else "(?!)"


@lru_cache(maxsize=32)
def skip_patterns(layout: Layout, allowed: frozenset[str], quoted: bool,
                  ) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """``(good, flag)`` for :class:`ExactReader`'s ``skip``: ``good.match`` accepts a line that
    can be passed over, ``flag.finditer`` reports each LF followed by a line that cannot::

        \\n(?!FIELD,FIELD,FIELD(?:,)?\\r?\\n)

    A selected column's ``FIELD`` is a run of ``allowed`` characters (minus the delimiter,
    quote, CR and LF), or such a run in quotes; another column's ``FIELD`` is anything but the
    delimiter, quote, CR and LF (quoted or not).  So a LF is reported exactly when the line
    after it holds a character outside ``allowed`` in a selected column, has another field
    count (ragged), is blank, or is anything but a plain well-formed record (a quoted field
    that does not close on the line, a doubled quote, text after a closing quote).  The quoted
    variant is compiled only for a text holding a quote.  In a layout with a trailing delimiter
    (``Layout.trailing``) a line may end with one more, empty, field (``(?:,)?``, or ``,""``).

    The pattern's size does not grow with the columns: a run of equal fields is one group with
    a count, and a selection in more than :data:`MAX_SKIP_RUNS` pieces holds every field to
    ``allowed`` (a line that fails only for an unselected column is read and counted right).
    """
    delimiter = layout.delimiter
    if delimiter is None:
        line = f"{_cls(allowed - {chr(13), chr(10)})}+\\r?\\n"
    else:
        d = re.escape(delimiter)
        v = _cls(allowed - {delimiter, '"', "\r", "\n"})
        any_unquoted = f'[^{d}"\\r\\n]*'
        if quoted:
            # a quoted field without doubled quotes: a field with "" is rare in names, and the
            # simpler pattern is ~40% faster; such lines are just reported and read
            vq = _cls(allowed - {'"', "\r", "\n"})
            sel = f'(?:"{vq}*"|{v}*)'
            other = f'(?:"[^"\\r\\n]*"|{any_unquoted})'
        else:
            sel = f"{v}*"
            other = any_unquoted
        chosen = set(layout.selected)
        if _runs(chosen) > MAX_SKIP_RUNS:
            # each run of selected columns repeats the target's class in the pattern: past a
            # few runs, every field is held to the class (a line that fails is only read)
            chosen = set(range(layout.ncols))
        line = _fields(d, [sel if i in chosen else other for i in range(layout.ncols)])
        if layout.trailing:
            line += f'(?:{d}(?:"")?)?' if quoted else f"(?:{d})?"
        line += "\\r?\\n"
        if layout.ncols <= 1:
            line = "(?=[^\\r\\n])" + line  # a blank line is not a one-field record
    return re.compile(line), re.compile(f"\\n(?!{line})")


def _runs(chosen: set[int]) -> int:
    """How many runs of adjacent columns ``chosen`` makes."""
    return sum(1 for i in chosen if i - 1 not in chosen)


def _fields(delimiter: str, fields: list[str]) -> str:
    """``fields`` joined by ``delimiter``, a run of equal fields written once with a count:
    the pattern of a 5,000-column layout stays a few fields long (``re`` repeats the group,
    it does not copy it)."""
    out: list[str] = []
    for pattern, group in itertools.groupby(fields):
        k = len(list(group))
        if not out:
            out.append(pattern)
            k -= 1
        if k > _INLINE_FIELDS:
            out.append(f"(?:{delimiter}{pattern}){{{k}}}")
        else:
            out.extend(delimiter + pattern for _ in range(k))
    return "".join(out)


def _advance(data: bytes, bpos: int, nlines: int, sep: bytes = b"\n") -> int:
    """Byte index after the ``nlines``-th ``sep`` (LF, or CR for CR-only input) from ``bpos``."""
    for _ in range(nlines):
        bpos = data.index(sep, bpos) + 1
    return bpos


# ---------------------------------------------------------------------------- the fast reader


#: A batch holding a line longer than this (bytes) is read by the exact reader.  The kernel
#: holds a list element per code point of each value it works on, tens of bytes for each; the
#: exact reader holds the value and its distinct units.  Names are far shorter: this only
#: sends a field of megabytes there.
MAX_FAST_LINE = 1 << 20

#: Bytes tried as the separator that turns ``read_csv`` into a line reader.
_LINE_SEPARATORS = (b"\x1f", b"\x1e", b"\x1d", b"\x1c", b"\x01")


@dataclass(frozen=True)
class PlainBatch:
    """Complete records of a plain batch."""

    lines: pl.Series  #: each record's text without its line end
    values: pl.DataFrame  #: the selected columns, in selection order, as strings
    crlf: bool  #: every line ends with CRLF (else every line ends with LF)
    terminated: bool  #: the last line has its line end
    #: every line ends with one more, empty, field (a trailing delimiter, ``,`` or ``,""``)
    tail: bool = False

    @property
    def height(self) -> int:
        return self.lines.len()


def lines_of(data: bytes) -> pl.Series | None:
    """The lines of ``data`` (UTF-8) without their line ends, or None when no separator byte
    is free (every candidate occurs in the data)."""
    import polars as pl

    for sep in _LINE_SEPARATORS:
        if sep not in data:
            frame = pl.read_csv(data, has_header=False, separator=sep.decode(), quote_char=None,
                                infer_schema=False, new_columns=["line"])
            return frame.to_series().fill_null("")  # an empty line is null in some versions
    return None


def plain_batch(data: bytes, delimiter: str | None, ncols: int,
                selected: tuple[int, ...], trailing: bool = False) -> PlainBatch | None:
    """Read ``data`` (UTF-8, whole records, no header) when it is plain; else None.

    ``trailing`` (``Layout.trailing``): a batch whose every line has one more, empty, field is
    plain too (``PlainBatch.tail``); a batch mixing both widths goes to the exact reader."""
    import polars as pl

    if not data or data.startswith(b"\xef\xbb\xbf"):
        # polars takes U+FEFF at the start of a buffer for a byte-order mark (and a buffer of
        # it alone for an empty file): a record starting with one goes to the exact reader
        return None
    crlf = b"\r" in data
    if crlf:
        # CRLF on every line, and no CR anywhere else (a lone CR is data to the exact reader)
        lf = data.count(b"\n")
        if not data.count(b"\r") == data.count(b"\r\n") == lf or not data.endswith(b"\n"):
            return None
    terminated = data.endswith(b"\n")
    try:
        lines = lines_of(data)
    except pl.exceptions.ComputeError:
        return None  # not UTF-8: the exact reader decodes the batch and names the byte
    if lines is None:
        return None
    if len(data) > MAX_FAST_LINE and lines.str.len_bytes().gt(MAX_FAST_LINE).any():
        return None
    expected = lines.len()
    quoted = b'"' in data
    line = pl.col("line")
    # Without a quote the grammar holds by construction (no CR is left but those of CRLF
    # line ends, checked above, and a field is anything between delimiters): one regex pass
    # over every line saved.
    plain = line.str.contains(_grammar(delimiter, quoted)).all() if quoted else pl.lit(True)
    checks = [(line != "").all().alias("nonblank"), plain.alias("plain")]
    if delimiter is not None:
        # The field count: a line of that grammar has one field more than delimiters outside
        # its quoted fields.  (A count in the regex would copy the field pattern per column:
        # a 5,000-column layout exceeds the regex engine's size limit.)
        bare = line.str.replace_all(_QUOTED_FIELD, "") if quoted else line
        count = bare.str.count_matches(delimiter, literal=True)
        checks.append((count == ncols - 1).all().alias("fields"))
        if trailing:
            # every line with one field more, an empty one: a trailing delimiter
            empty_last = line.str.ends_with(delimiter)
            if quoted:
                empty_last = empty_last | line.str.ends_with(delimiter + '""')
            checks.append(((count == ncols) & empty_last).all().alias("tail"))
    ok = pl.LazyFrame([lines]).select(checks).collect().row(0, named=True)
    if not (ok["nonblank"] and ok["plain"]):
        return None
    tail = False
    if delimiter is not None and not ok["fields"]:
        if not ok.get("tail"):
            return None
        tail = True
    if not all(ok):
        return None
    if delimiter is None:
        values = pl.DataFrame([lines.alias("0")])
    else:
        # Only the selected columns are built (polars still reads every field; the field
        # count of every line was checked above, since a projection ignores extra fields).
        wanted = list(dict.fromkeys(selected))
        frame = pl.read_csv(data, has_header=False, separator=delimiter, quote_char='"',
                            infer_schema=False, columns=wanted)
        if frame.height != expected or frame.width != len(wanted):
            return None
        name_of = dict(zip(wanted, frame.columns, strict=True))
        # Every line has all its fields (checked above), so a null is an empty field.
        values = frame.select(pl.col(name_of[i]).fill_null("").alias(str(i))
                              for i in selected)
    return PlainBatch(lines, values, crlf, terminated, tail)


@dataclass(frozen=True)
class PlainHits:
    """What ``scan`` and ``normalize`` need of a plain batch: its size, and the rows a guard
    may stop in."""

    height: int  #: records (one per line)
    crlf: bool  #: every line ends with CRLF (else every line ends with LF)
    terminated: bool  #: the last line has its line end
    tail: bool  #: every line ends with one more, empty, field (:attr:`PlainBatch.tail`)
    #: the selected columns (as :attr:`PlainBatch.values`) of the rows at :attr:`rows`
    values: pl.DataFrame
    #: the rows of :attr:`values` in the batch (0-based, ascending); None: every row
    rows: pl.Series | None


class _Compiled(NamedTuple):
    plain_hits: Callable[..., tuple[int, bool, bool, bool, list[int],
                                    tuple[list[str], ...]] | None]
    append_fields: Callable[..., bytes]


_COMPILED = None if _compiled.MODULE is None else \
    _Compiled(_compiled.MODULE.plain_hits, _compiled.MODULE.append_fields)

#: ``scan`` and ``normalize`` read plain batches with the compiled reader
#: (``mojinorm._speedups``) when it is built, polars reading the batches it declines; False
#: (or ``MOJINORM_NO_SPEEDUPS=1`` in the environment): polars reads them all.  The same
#: reports and the same output either way (differential tests).
SPEEDUPS = _compiled.SPEEDUPS

#: Whether the compiled module is used, in words (``mojinorm --version``).
speedups_state = _compiled.state

code_point_bitmap = _compiled.code_point_bitmap


def compiled_reads(delimiter: str | None, selected: tuple[int, ...]) -> bool:
    """The compiled reader is built and on (:data:`SPEEDUPS`) and reads a layout of this
    delimiter and selection (one ASCII byte or none; each column selected once)."""
    return (SPEEDUPS and _COMPILED is not None and bool(selected)
            and len(set(selected)) == len(selected)
            and (delimiter is None or (len(delimiter) == 1 and 0 < ord(delimiter) < 0x7F)))


class HitLists(NamedTuple):
    """A plain batch as the compiled reader reads it (:func:`compiled_hit_lists`): its size,
    and its rows with a selected value the guard stops in, as Python lists (no polars)."""

    height: int  #: records (one per line)
    crlf: bool  #: every line ends with CRLF (else every line ends with LF)
    terminated: bool  #: the last line has its line end
    tail: bool  #: every line ends with one more, empty, field (:attr:`PlainBatch.tail`)
    rows: list[int]  #: the rows read (0-based, ascending)
    columns: tuple[list[str], ...]  #: each selected column's values at :attr:`rows`


def compiled_hit_lists(data: bytes, delimiter: str | None, ncols: int,
                       selected: tuple[int, ...], trailing: bool,
                       passing: frozenset[str]) -> HitLists | None:
    """The plain batch ``data`` as the compiled reader reads it: its size, and its rows with
    a selected value holding a code point outside ``passing`` (no string is made for the
    other rows), on polars' thread count (``--jobs``) without importing polars; None when
    the reader is not built or off (:data:`SPEEDUPS`) or declines the batch (it takes a
    subset of what :func:`plain_batch` takes)."""
    if _COMPILED is None or not compiled_reads(delimiter, selected):
        return None
    read = _COMPILED.plain_hits(data, -1 if delimiter is None else ord(delimiter), ncols,
                                selected, code_point_bitmap(passing), MAX_FAST_LINE, trailing,
                                threads())
    return None if read is None else HitLists(*read)


def compiled_hits(data: bytes, delimiter: str | None, ncols: int, selected: tuple[int, ...],
                  trailing: bool, passing: frozenset[str]) -> PlainHits | None:
    """:func:`compiled_hit_lists` as a :class:`PlainHits` (its values in a polars frame)."""
    read = compiled_hit_lists(data, delimiter, ncols, selected, trailing, passing)
    if read is None:
        return None
    import polars as pl

    values = pl.DataFrame([pl.Series(str(i), column, dtype=pl.String)
                           for i, column in zip(selected, read.columns, strict=True)])
    return PlainHits(read.height, read.crlf, read.terminated, read.tail, values,
                     pl.Series(read.rows, dtype=pl.Int64))


class Tallied(NamedTuple):
    """A plain batch :func:`compiled_tally` read and counted."""

    height: int  #: records (one per line)
    crlf: bool  #: every line ends with CRLF (else every line ends with LF)
    terminated: bool  #: the last line has its line end
    tail: bool  #: every line ends with one more, empty, field
    missing: list[str]  #: units met for the first time that ``flags`` lacks


def compiled_tally(tally: PlainTally, data: bytes, delimiter: str | None, ncols: int,
                   selected: tuple[int, ...], trailing: bool, passing: frozenset[str],
                   flags: dict[str, int], room: int) -> Tallied | None:
    """Read the plain batch ``data`` as :func:`compiled_hits` reads it and count its rows in
    ``tally`` (a ``_speedups.PlainTally``; ``flags``, ``room``: see its ``read``), on the
    reading threads (``--jobs``); None when the reader is off or declines the batch.  The
    caller decides the ``missing`` units, then calls ``tally.finish``."""
    if not compiled_reads(delimiter, selected):
        return None
    read = tally.read(data, -1 if delimiter is None else ord(delimiter), ncols, selected,
                      code_point_bitmap(passing), MAX_FAST_LINE, trailing,
                      threads(), flags, room)
    return None if read is None else Tallied(*read)


def plain_hits(data: bytes, delimiter: str | None, ncols: int, selected: tuple[int, ...],
               trailing: bool, passing: frozenset[str]) -> PlainHits | None:
    """:func:`plain_batch` for a scan: :func:`compiled_hits`, or, when that gives nothing,
    every row as polars reads it; None when the exact reader must take the batch."""
    hits = compiled_hits(data, delimiter, ncols, selected, trailing, passing)
    if hits is not None:
        return hits
    batch = plain_batch(data, delimiter, ncols, selected, trailing)
    if batch is None:
        return None
    return PlainHits(batch.height, batch.crlf, batch.terminated, batch.tail, batch.values, None)


def append_fields(data: bytes, delimiter: str, ncols: int, columns: tuple[int, ...],
                  hits: HitLists, new: Sequence[tuple[list[str], list[str]]]) -> bytes:
    """The batch ``data`` that :func:`compiled_hit_lists` read, each line with two more fields
    for each of ``columns`` (``,normalized,changes``, quoted as ``csvio.quote_field`` quotes,
    before a trailing empty field): ``new[k]`` gives column k's two values for the rows at
    ``hits.rows``; every other row keeps its own value and no change."""
    assert _COMPILED is not None
    return _COMPILED.append_fields(data, ord(delimiter), ncols, columns, hits.tail,
                                   hits.rows, tuple(new))


#: A quoted field (polars regex): what the line grammar reads as one.
_QUOTED_FIELD = '"(?:[^"]|"")*"'


@lru_cache(maxsize=64)
def _grammar(delimiter: str | None, quoted: bool) -> str:
    """The regex a plain line of this delimiter matches, whatever its field count (CR was
    stripped by the line reader): ``F(,F)*`` with ``F`` a field."""
    if delimiter is None:
        return r"\A[^\r]*\z"  # a lone CR is data the exact reader keeps: let it decide
    d = re.escape(delimiter)
    plain = f'[^{d}"\\r\\n]*'
    field = f'(?:{_QUOTED_FIELD}|{plain})' if quoted else plain
    return f"\\A{field}(?:{d}{field})*\\z"
