"""Records of a member file: its layout, and the readers that turn decoded chunks into records.

Data flows one way: :mod:`mojinorm.csvio` (bytes, encodings, line ends: decoded chunks) ->
this module (the layout, then the records of each chunk) -> :mod:`mojinorm.counting` (``scan``)
or :mod:`mojinorm.rewrite` (``normalize``) -> :mod:`mojinorm.report`.

The layout
----------
:func:`read_layout` reads the first record of a prepared :class:`~mojinorm.csvio.DecodedStream`
(merging chunks while a quoted field of it continues) and decides the delimiter (sniffed from
the first line unless given), the header, the column labels and the selected columns
(:func:`resolve_columns`).  A header name that occurs more than once is labelled ``name#3``
(``#`` and the 1-based column number), and :func:`file_notes` says so.  The stream then
continues as a :class:`ResumedStream` whose first chunk is the one already read.

Two readers
-----------
A member file is almost always *plain*: every line one record, the same number of fields on
every line, LF or CRLF throughout, quotes only around whole fields.  For such a batch the
records are read by polars (Rust, all cores) instead of Python (:func:`plain_batch`):

* the lines come from ``read_csv`` with a separator byte the batch does not contain and no
  quoting, so each line is one value (polars strips the CR of a CRLF);
* one regex checks every line against the CSV grammar of the layout, the exact field count
  included: ``F(,F)*`` with ``F`` a quoted field (``"…"`` with doubled quotes) or a run without
  delimiter, quote or CR.  For lines of that shape ``csv.reader``'s reading is unambiguous, so
  polars' ``read_csv`` gives the same values;
* the selected columns come from ``read_csv``.

Anything else (a blank line, a ragged row, a record spanning lines, a stray quote, a lone CR,
mixed line ends, CR-only files) makes :func:`plain_batch` return None, and the caller reads that
batch with the exact Python reader (``mojinorm.csvio.RecordParser``).  Both readers give the
same values; ``tests/test_fastpath.py`` checks the scans and rewrites built on them against
each other.  :data:`FAST_PATH` is the switch between them (False: every batch goes to the exact
reader, the reference), :data:`FAST_CHUNKS` the fast reader's batch size and
:func:`set_threads` polars' thread count (``--jobs``; a report never depends on it).

Importing this module does not import polars: :func:`set_threads` must run first.

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
  line of the opening quote; a record or line over ``MAX_RECORD`` (:func:`record_too_long`);
* a column that does not exist or is ambiguous; a directory or an unreadable file.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from . import csvio
from .csvio import (
    SWAP_EOL_STR,
    Chunk,
    DecodedStream,
    InputError,
    RecordParser,
    UnclosedQuote,
    sniff_delimiter,
)

if TYPE_CHECKING:
    import polars as pl

__all__ = [
    "FAST_CHUNKS", "FAST_PATH", "MAX_FAST_FIELDS", "NO_DATA_ROWS", "Layout", "PlainBatch",
    "Progress", "ResumedStream", "file_notes", "lines_of", "plain_batch", "read_layout",
    "record_too_long", "resolve_columns", "set_threads",
]

#: Plain batches go to the polars reader (and then the column kernel); False sends every batch
#: to the exact Python reader (the reference the differential tests compare against).  The one
#: switch: ``mojinorm.scan.FAST_PATH`` reads and sets this one.
FAST_PATH = True
FAST_CHUNKS = 8  #: chunks of ``csvio.CHUNK_SIZE`` per batch on the fast path (16 MiB)

#: ``progress(bytes_done, total_bytes)``, called after each chunk (``total_bytes``: None when
#: the size is not known, on stdin).
Progress = Callable[[int, "int | None"], None]

#: The note of a file that holds a header and no data record.
NO_DATA_ROWS = "no data rows: the file holds a header only"


def set_threads(jobs: int | None) -> int:
    """Run polars with ``jobs`` threads (capped to the machine's CPUs); None keeps polars'
    default (every CPU).  polars fixes its thread pool when it is first imported, so this takes
    effect only before that; returns the number of threads in effect."""
    if jobs is not None and "polars" not in sys.modules:
        os.environ["POLARS_MAX_THREADS"] = str(max(1, min(jobs, os.cpu_count() or 1)))
    import polars as pl

    return int(pl.thread_pool_size())


# ---------------------------------------------------------------------------- layout


@dataclass(frozen=True)
class Layout:
    """How the records of one input are laid out, from its first record."""

    delimiter: str | None  #: None for plain text (one value per line)
    header: bool
    names: tuple[str, ...]  #: unique labels: a repeated header name gets "#<column number>"
    selected: tuple[int, ...]  #: 0-based indexes of the selected columns, in selection order
    data_pos: int  #: index in the first text where data starts
    header_lines: int  #: LF count consumed by the header
    raw_names: tuple[str, ...] = ()  #: the header's values as written

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
    """The first record does not end in the text read so far (a quoted field continues)."""

    def __init__(self, delimiter: str | None) -> None:
        super().__init__(delimiter)
        self.delimiter = delimiter


def _and(items: Sequence[object]) -> str:
    words = [str(x) for x in items]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


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
            resolve_columns(columns, names)
        return Layout(delimiter, header, names, (), 0, 0)
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
    return Layout(delimiter, header, names, selected, data_pos, header_lines, raw)


def _unique(values: Sequence[str]) -> tuple[str, ...]:
    seen: set[str] = set()
    out = []
    for i, v in enumerate(values):
        key = v if v and v not in seen else f"{v or 'column'}#{i + 1}"
        seen.add(key)
        out.append(key)
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
        return self.first[0]

    def __iter__(self) -> Iterator[Chunk]:
        yield self.first
        yield from self.rest


def read_layout(stream: DecodedStream, delimiter: str | None, header: bool | None,
                columns: Sequence[str] | None) -> tuple[Layout, ResumedStream]:
    """Read the first chunk(s) of a prepared stream and the layout; the stream goes on from
    the first chunk, which holds the whole first record (chunks are merged while a quoted
    field of the first record continues)."""
    name = stream.inp.name
    chunks = iter(stream)
    text, data, final, lines_before = next(chunks)
    while True:
        try:
            layout = _layout(text, final, delimiter, header, columns, name, stream.cr)
            return layout, ResumedStream(stream, chunks, (text, data, final, lines_before))
        except _NeedMore as more_needed:
            if len(text) > csvio.MAX_RECORD:
                raise record_too_long(RecordParser(more_needed.delimiter), text, 0,
                                      lines_before, name) from None
            more, more_data, final, _ = next(chunks)
            text += more
            data += more_data


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
    file, CR-only line ends, repeated header names."""
    notes = []
    text, _, final, _ = stream.first
    if not text and final:
        notes.append("the file is empty")
    if stream.stream.cr:
        notes.append("line ends are CR only (classic Mac OS): read as record ends")
    for name, cols in layout.duplicates().items():
        labels = [layout.names[i - 1] for i in cols]
        notes.append(f"column name {name!r} appears {len(cols)} times (columns {_and(cols)}), "
                     f"reported as {_and(labels)}; select one by its index")
    return notes


# ---------------------------------------------------------------------------- the fast reader


#: Bytes tried as the separator that turns ``read_csv`` into a line reader.
_LINE_SEPARATORS = (b"\x1f", b"\x1e", b"\x1d", b"\x1c", b"\x01")
#: Layouts wider than this are read by the exact reader (the grammar regex grows per field).
MAX_FAST_FIELDS = 512


@dataclass(frozen=True)
class PlainBatch:
    """Complete records of a plain batch."""

    lines: pl.Series  #: each record's text without its line end
    values: pl.DataFrame  #: the selected columns, in selection order, as strings
    crlf: bool  #: every line ends with CRLF (else every line ends with LF)
    terminated: bool  #: the last line has its line end

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
                selected: tuple[int, ...]) -> PlainBatch | None:
    """Read ``data`` (UTF-8, whole records, no header) when it is plain; else None."""
    import polars as pl

    if not data:
        return None
    crlf = b"\r" in data
    if crlf:
        # CRLF on every line, and no CR anywhere else (a lone CR is data to the exact reader)
        lf = data.count(b"\n")
        if not data.count(b"\r") == data.count(b"\r\n") == lf or not data.endswith(b"\n"):
            return None
    terminated = data.endswith(b"\n")
    if delimiter is not None and ncols > MAX_FAST_FIELDS:
        return None
    lines = lines_of(data)
    if lines is None:
        return None
    expected = lines.len()
    grammar = _grammar(delimiter, ncols, b'"' in data)
    ok = pl.LazyFrame([lines]).select(
        (pl.col("line") != "").all().alias("nonblank"),
        pl.col("line").str.contains(grammar).all().alias("plain"),
    ).collect().row(0)
    if not all(ok):
        return None
    if delimiter is None:
        values = pl.DataFrame([lines.alias("0")])
    else:
        names = [str(i) for i in range(ncols)]
        frame = pl.read_csv(data, has_header=False, separator=delimiter, quote_char='"',
                            infer_schema=False, new_columns=names)
        if frame.height != expected or frame.width != ncols:
            return None
        # Every line has all its fields (checked above), so a null is an empty field.
        values = frame.select(pl.col(names[i]).fill_null("") for i in selected)
    return PlainBatch(lines, values, crlf, terminated)


@lru_cache(maxsize=64)
def _grammar(delimiter: str | None, ncols: int, quoted: bool) -> str:
    """The regex a plain line of this layout matches (CR was stripped by the line reader)."""
    if delimiter is None:
        return r"\A[^\r]*\z"  # a lone CR is data the exact reader keeps: let it decide
    d = re.escape(delimiter)
    plain = f'[^{d}"\\r\\n]*'
    field = f'(?:"(?:[^"]|"")*"|{plain})' if quoted else plain
    return f"\\A{field}(?:{d}{field}){{{ncols - 1}}}\\z"
