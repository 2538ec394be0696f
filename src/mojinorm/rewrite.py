"""Rewriting member files for ``normalize``: :func:`normalize_file`.

Every original byte is kept: the raw bytes of each record are copied and only new text is
encoded, in the input's encoding (a UTF-8 BOM is kept), with each record's own line ending.
Plain batches (:func:`mojinorm.records.plain_batch`) are rewritten on the column kernel: the
selected columns are normalized by polars, each distinct unit decided once, and every output
line is built by ``concat_str``, quoting as ``csv`` would; a CP932 batch whose bytes do not
round-trip goes to the exact reader, which copies each record's raw bytes and appends the new
fields (or, with ``--replace``, rewrites the selected fields inside the record).  Both writers
give the same bytes (``tests/test_fastpath.py``).

Output errors (exit 2, one line): an output that cannot be written (no such directory, a path
under a regular file, a directory, disk full).  The temp file is removed, the destination is
untouched (:class:`mojinorm.csvio.atomic_output`); with ``--overwrite`` the input stays intact
until the complete output replaces it.  An interrupt (Ctrl-C) exits 130 with the same clean-up.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import re
from collections.abc import Callable, Iterable, Sequence
from functools import cached_property
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from . import csvio, records
from .changelog import ChangeLog
from .csvio import (
    Chunk,
    DecodedStream,
    InputError,
    Writable,
    atomic_output,
    open_input,
    quote_field,
)
from .errors import OptionError
from .normalizer import Normalizer, UnitOutcome, UnmappableCharacter, kana_change
from .parquet import is_parquet, normalize_parquet
from .records import (
    BLANK,
    NO_DATA_ROWS,
    RAGGED,
    ExactReader,
    Layout,
    Output,
    Progress,
    Record,
    ResumedStream,
    file_notes,
    listed_columns,
    plan_outputs,
    read_layout,
    resolve_columns,
    set_threads,
)
from .report import NormalizeSummary
from .targets import Target

if TYPE_CHECKING:
    import polars as pl

    from .gaiji import GaijiTable

__all__ = ["normalize_file", "same_file"]

_CACHE_LIMIT = 100_000  # distinct normalized values kept (a member file repeats names)
_CACHEABLE = 256  # longer values (a 10 MB field) are normalized each time, never kept
_LONG_OUTPUT = 1 << 20  # characters of new fields past which a record is written piecewise


def normalize_file(
    path: str | Path,
    output: str | Path,
    *,
    columns: Sequence[str | int] | None = None,
    kana_column: str | int | Sequence[str | int] | None = None,
    kana_script: str = "katakana",
    target: str | Path | Target = "jisx0208",
    fallback: str | None = None,
    gaiji: str | Path | Iterable[str | Path] | GaijiTable | None = None,
    rules: Iterable[str] | str | None = None,
    ambiguity: str = "fallback",
    replace: bool = False,
    encoding: str = "auto",
    delimiter: str | None = None,
    header: bool | None = None,
    overwrite: bool = False,
    progress: Progress | None = None,
    jobs: int | None = None,
    log: str | Path | None = None,
    log_ids: Sequence[str | int] = (),
    review_only: bool = False,
    output_encoding: str = "keep",
) -> NormalizeSummary:
    """Write ``output`` (``"-"``: stdout): the input with normalized columns.

    Every original byte is kept: the raw bytes of each record are copied and only new text is
    encoded, in the input's encoding (a UTF-8 BOM is kept), with each record's own line ending.
    Without ``replace``, two columns per selected column ``C`` are appended after the last
    original column, in selection order: ``C_normalized`` and ``C_changes`` (``str(Change)``
    joined by ``"; "``).  With ``replace`` the selected fields are rewritten in place (a field
    that was quoted stays quoted) and nothing is added.  Ragged rows and blank lines are copied
    unchanged.  In a layout with a trailing delimiter (``records.trailing_layout``) the new
    fields go before a line's trailing empty field, which stays last as it was.  The output is
    written to a temp file in its directory and renamed when complete; it is never the input
    unless ``overwrite``.

    ``columns`` may pair a name column with its reading column, ``"姓:セイ"``: fallback ``kana``
    then takes that row's own reading for that name (a name column without a paired reading is
    refused under fallback ``kana``: another column's reading would be a different person's
    name).  ``kana_column`` lists reading columns (one reading column and one name column pair
    up).  Every paired or listed reading column gets ``R_normalized`` and ``R_changes`` through
    :func:`mojinorm.normalize_kana` (``kana_script``: ``katakana`` or ``hiragana``).

    ``output_encoding``: ``keep`` (the input's), or ``cp932``, ``utf-8``, ``utf-8-sig`` (any
    name :func:`mojinorm.csvio.canonical_encoding` takes): the whole output is re-encoded, and
    a character the encoding cannot hold is refused with its line (with ``replace`` the
    normalized values are what is written).

    ``log``: write one row per change there (:mod:`mojinorm.changelog`), with the ``log_ids``
    key columns; ``review_only`` keeps the rows a person must look at.  With fallback
    ``error`` and a log, every value that cannot be brought into the target is listed in the
    log, and then the run fails with no output written.
    """
    if output_encoding != "keep" and csvio.canonical_encoding(output_encoding) == "auto":
        raise OptionError("--output-encoding is keep or an encoding, not auto")
    if (log_ids or review_only) and log is None:
        raise OptionError("--id and --review-only shape the change log: give --log FILE")
    if kana_script not in ("katakana", "hiragana"):
        raise OptionError(f"unknown kana script {kana_script!r}; use katakana or hiragana")
    src = str(path)
    out = str(output)
    if src != "-" and out != "-" and not overwrite and same_file(src, out):
        raise InputError(f"output {out} is the input file; choose another -o or pass "
                         "--overwrite")
    if log is not None and (str(log) in ("-", "") or
                            any(p != "-" and same_file(str(log), p) for p in (src, out))):
        raise OptionError(f"--log {log} must be a file of its own, not the input, the output "
                          "or stdout")
    if out != "-" and os.path.isdir(out):
        raise csvio.OutputError("is a directory; give a file name", name=out)
    set_threads(jobs)
    normalizer = Normalizer(target, gaiji=gaiji, fallback=fallback, rules=rules,
                            ambiguity=ambiguity)
    cols = [str(c) for c in columns] if columns else None
    # every column: asked for by name ("all"), or by default only those with something to
    # change (an ID or a date column never gets _normalized twins), known from a scan first
    every = cols is not None and [c.lower() for c in cols] == ["all"]
    if every:
        cols = None
    if src != "-" and is_parquet(src):
        return normalize_parquet(src, out, normalizer, columns=cols, replace=replace,
                                 kana_columns=listed_columns(kana_column),
                                 hiragana=kana_script == "hiragana")
    inp = open_input(src)
    try:
        # polars pays a fixed cost per batch: plain files are read in larger chunks
        fast = records.FAST_PATH and not replace
        size = csvio.CHUNK_SIZE * (records.FAST_CHUNKS if fast else 1)
        stream = DecodedStream(inp, encoding, size=size)
        stream.prepare()
        layout, resumed = read_layout(stream, delimiter, header, cols)
        text = resumed.first_text
        if layout.delimiter is None and not replace and text:
            raise InputError("plain text input (no delimiter in the first line): pass "
                             "--replace to write one normalized value per line, or --delimiter "
                             "to treat it as a one-column table", name=inp.name)
        narrowed = None
        if cols is None and not every and inp.path is not None and layout.delimiter is not None:
            narrowed = _columns_to_change(inp.path, layout, target, gaiji, rules, ambiguity,
                                          stream.encoding)
            layout = dataclasses.replace(
                layout, selected=tuple(i for i in layout.selected if i in narrowed))
        try:
            layout, outputs = plan_outputs(layout, listed_columns(kana_column), cols is None,
                                           normalizer.fallback == "kana")
        except InputError as exc:
            exc.name = inp.name
            raise
        if kana_script != "katakana" and not any(o.kana for o in outputs):
            raise OptionError("--kana-script hiragana has no effect without a reading column "
                              "(-c 姓:セイ or --kana-column)")
        summary = NormalizeSummary(inp.name, out, stream.encoding, normalizer.target.name,
                                   line_ends=stream.line_ends,
                                   notes=file_notes(layout, resumed))
        if narrowed is not None:
            names = ", ".join(layout.names[o.column] for o in outputs if not o.kana) or "none"
            summary.notes.append(f"columns with something to change: {names} (--column all "
                                 "for every column)")
        try:
            id_columns = [resolve_columns([str(k)], layout.names, layout.raw_names)[0]
                          for k in log_ids]
        except InputError as exc:
            exc.name = inp.name
            raise
        with atomic_output(out, mode=inp.mode, overwrite=overwrite) as f:
            sink = stream.sink(f, output_encoding)
            if isinstance(sink, csvio.RecodingSink):  # a refusal names the column
                sink.delimiter = layout.delimiter
                sink.columns = [*layout.names, *(f"{layout.names[o.column]}_{part}"
                                                 for o in outputs
                                                 for part in ("normalized", "changes"))]
            writer = _Writer(sink, normalizer, layout, outputs, replace, summary, inp.name,
                             stream.eol or b"\n", kana_script == "hiragana")
            if log is None:
                writer.run(resumed, progress, inp.size)
                inp.check_unchanged()  # inside: a changed input leaves no output behind
            else:
                with atomic_output(str(log), mode=inp.mode, overwrite=overwrite) as lf:
                    changelog = ChangeLog(lf, [layout.names[i] for i in id_columns],
                                          review_only)
                    writer.log_to(changelog, id_columns)
                    writer.run(resumed, progress, inp.size)
                    changelog.flush()
                    inp.check_unchanged()
                summary.log_rows = changelog.rows
                if changelog.unmappable:
                    # the log (the to-do list) is written; the output is not
                    raise InputError(
                        f"{changelog.unmappable:,} values cannot be brought into "
                        f"{normalizer.target.name} (--fallback error): every one is listed in "
                        f"{log}; no output was written", name=inp.name)
        summary.encoding = stream.output_encoding(output_encoding)  # a stream's: decided
        # while reading
        summary.notes.extend(n for n in stream.notes if n not in summary.notes)
        if layout.header and text and summary.rows == 0:
            summary.notes.append(NO_DATA_ROWS)
        if summary.kept_empty:
            summary.notes.append(f"{summary.kept_empty:,} plain-text values would have become "
                                 f"empty (no record any more) and were kept as they are")
        return summary
    finally:
        inp.close()


def _columns_to_change(path: str, layout: Layout, target: str | Path | Target,
                       gaiji: str | Path | Iterable[str | Path] | GaijiTable | None,
                       rules: Iterable[str] | str | None, ambiguity: str,
                       encoding: str) -> set[int]:
    """The columns in which a scan finds a value to change (a regular file is read twice:
    once to know, once to write)."""
    from .scan import scan_file

    report = scan_file(path, target=target, gaiji=gaiji, rules=rules, ambiguity=ambiguity,
                       encoding=encoding, delimiter=layout.delimiter or "",
                       header=layout.header)
    return {i for i, name in enumerate(layout.names)
            if report.columns.get(name, {}).get("changed")}


def same_file(a: str, b: str) -> bool:
    """``a`` and ``b`` name the same file (also through links, or both still missing)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        try:
            return Path(a).resolve() == Path(b).resolve()
        except (OSError, RuntimeError):  # a symbolic link loop: atomic_output names it
            return False


#: What a value becomes: ``(normalized, changes, used the fallback, to review)``.
_Normalized = tuple[str, str, bool, bool]


class _Writer:
    """Writes the output of one input: the header, then every record, with the exact reader
    (and, for plain batches of a table, :class:`_FastWrite`)."""

    def __init__(self, f: Writable, normalizer: Normalizer, layout: Layout,
                 outputs: tuple[Output, ...], replace: bool, summary: NormalizeSummary,
                 name: str, sep: bytes = b"\n", hiragana: bool = False) -> None:
        self.f = f
        self.sep = sep
        self.swap = sep == b"\r"  # CR-only input: the text has CR and LF swapped
        self.normalizer = normalizer
        self.layout = layout
        self.delim = layout.delimiter
        self.ncols = layout.ncols
        self.outputs = outputs
        self.hiragana = hiragana
        self.kana_cache: dict[str, _Normalized] = {}
        self.log: ChangeLog | None = None
        self.id_columns: list[int] = []
        self.replace = replace
        self.summary = summary
        self.name = name
        self.cache: dict[str | tuple[str, str | None], _Normalized] = {}
        self.kana = normalizer.fallback == "kana"
        # Plain batches of a table are rewritten on the column kernel (not --replace: that
        # rewrites fields inside the record, which the exact reader's field spans do).
        self.fast = _FastWrite(self) if (records.FAST_PATH and not replace
                                         and self.delim is not None and not self.swap) else None

    @cached_property
    def guard(self) -> Callable[[str], re.Match[str] | None]:
        """The target's guard, for the exact reader's records (compiled on first need: a plain
        file's batches never need it)."""
        return self.normalizer.target.visible_guard.search

    def _encode(self, s: str, codec: str, line: int) -> bytes:
        try:
            return s.encode(codec)
        except UnicodeEncodeError as exc:
            raise _unwritable(exc, self.name, line, codec) from None

    def log_to(self, log: ChangeLog, id_columns: list[int]) -> None:
        """Write every change to ``log`` too (through the exact reader: it knows each
        record's line)."""
        self.log = log
        self.id_columns = id_columns
        self.fast = None

    def _log(self, line: int, values: list[str], o: Output, value: str,
             r: _Normalized) -> None:
        assert self.log is not None
        ids = [values[i] if i < len(values) else "" for i in self.id_columns]
        column = self.layout.names[o.column]
        if o.kana:
            self.log.value(line, ids, column, value, r[0], "kana-normalized",
                           "normalize_kana (half-width, voiced marks, one script, spaces)")
            return
        reading = None if o.reading is None else values[o.reading]
        res = self.normalizer.explain(value, reading=reading)
        self.log.changes(line, ids, column, res.changes)
        if r[0] != res.text:
            self.log.value(line, ids, column, res.text, r[0], "formula-guarded",
                           "a leading ' keeps the value text in a spreadsheet")

    def _norm(self, value: str, reading: str | None, line: int) -> _Normalized:
        key: str | tuple[str, str | None] = (value, reading) if self.kana else value
        hit = self.cache.get(key)
        if hit is not None:
            return hit
        long = self._long(value) if len(value) > _CACHEABLE else None
        if long is not None:
            text, changes, fallback, review = long
        else:
            try:
                res = self.normalizer.explain(value, reading=reading)
            except UnmappableCharacter as exc:
                if self.log is not None:
                    raise  # listed in the log by the caller, which knows the column
                raise InputError(str(exc), name=self.name, line=line) from None
            text, changes = res.text, "; ".join(str(c) for c in res.changes)
            fallback, review = res.used_fallback, any(c.review for c in res.changes)

        guarded = formula_guard(value, text)
        if guarded is not None:
            text, changes = guarded, "; ".join(filter(None, [changes, guard_change(guarded)]))
        hit = (text, changes, fallback, review)
        if len(value) <= _CACHEABLE:
            if len(self.cache) >= _CACHE_LIMIT:
                self.cache.clear()
            self.cache[key] = hit
        return hit

    def counted(self, value: str, r: _Normalized) -> bool:
        """Whether ``r`` (what :meth:`_norm` gives for ``value``) changes the value; a change
        is counted in the summary (with the fallback, for review)."""
        if r[0] == value and not r[1]:
            return False
        s = self.summary
        s.values_changed += 1
        s.fallback_values += r[2]
        s.review_values += r[3]
        return True

    def _kana(self, value: str) -> _Normalized:
        hit = self.kana_cache.get(value)
        if hit is None:
            hit = kana_field(value, self.hiragana)
            if len(value) <= _CACHEABLE and len(self.kana_cache) < _CACHE_LIMIT:
                self.kana_cache[value] = hit
        return hit

    def _long(self, value: str) -> _Normalized | None:
        """What ``explain`` gives for a long value (a 10 MB field), without a ``Change`` per
        occurrence: each distinct unit is decided once (``Normalizer.outcome``), and the units
        are walked by ``re`` (a substitution, then the change texts joined from a second walk)
        instead of a Python loop.  None when a fallback acts on the whole text (``error``,
        ``kana``): :meth:`_norm` asks ``explain`` then."""
        n = self.normalizer
        target = n.target
        pattern = target.unit_pattern
        # unit -> (replacement, change text); None for a unit the target keeps (a sequence)
        decided: dict[str, tuple[str, str] | None] = {}
        outcomes: list[UnitOutcome] = []

        def replace(m: re.Match[str]) -> str:
            unit = m.group()
            if unit in decided:
                d = decided[unit]
            else:
                d = None
                if unit not in target.visible_chars and unit not in target.sequences:
                    o = n.outcome(unit)
                    if o.fallback and n.fallback in ("error", "kana"):
                        raise _WholeText
                    outcomes.append(o)
                    d = (o.replacement, o.change_text)
                decided[unit] = d
            return unit if d is None else d[0]

        try:
            text = pattern.sub(replace, value)
        except _WholeText:
            return None
        found = map(decided.__getitem__, map(re.Match.group, pattern.finditer(value)))
        changes = "; ".join(map(itemgetter(1), filter(None, found)))
        return (text, changes, any(o.fallback for o in outcomes),
                any(o.review for o in outcomes))

    def run(self, stream: ResumedStream, progress: Progress | None, total: int | None) -> None:
        reader = ExactReader(self.layout, self.sep, self.name)
        if stream.stream.utf8_bom:
            self.f.write(b"\xef\xbb\xbf")
        first = True
        for chunk in stream:
            codec = stream.stream.codec or "utf-8"
            pieces: list[bytes] = []
            pos = bpos = 0
            if first:
                first = False
                header = reader.header(chunk) if self.layout.header else None
                if header is not None:
                    self._header(header, pieces, codec)
                    pos, bpos = header.end, header.bend
            rest = records.has_records(chunk, pos)
            if self.fast is not None and not reader.pending and rest and \
                    self.fast.write(chunk, pos, bpos, codec, pieces):
                rest = False
            if rest or reader.pending:
                if self.fast is not None:
                    self.fast.flush(pieces)  # the held batches come first
                self._records(reader.read(chunk, pos), pieces, codec)
            self.f.write(b"".join(pieces))
            if progress is not None:
                progress(stream.bytes_done, total)
        if self.fast is not None:
            self.fast.flush([])
        reader.finish()

    def _header(self, rec: Record, pieces: list[bytes], codec: str) -> None:
        if self.replace or self.delim is None:
            pieces.append(rec.raw)
            return
        body, tail, eol = self._split(rec)
        force = rec.quoted(self.ncols - 1)
        extra = "".join(
            self.delim + quote_field(f"{self.layout.names[ci]}_normalized", self.delim, force)
            + self.delim + quote_field(f"{self.layout.names[ci]}_changes", self.delim, force)
            for ci, _, _ in self.outputs
        )
        pieces.append(body + self._encode(extra, codec, 1) + tail + eol)

    def _split(self, rec: Record) -> tuple[bytes, bytes, bytes]:
        """``rec``'s bytes as ``(body, tail, line end)``: ``tail`` is the trailing delimiter
        and its empty field (``,`` or ``,""``) of a record with one field more than the layout
        (``Layout.trailing``), else empty.  New fields go between body and tail, so that every
        line keeps its trailing delimiter last and the added columns line up with the
        header's."""
        body, eol = _split_eol(rec.raw, self.sep)
        if len(rec.values) <= self.ncols:
            return body, b"", eol
        a, b = rec.field_spans[-1]
        cut = len(body) - (b - a + 1)  # the delimiter and "" or nothing: one byte a character
        return body[:cut], body[cut:], eol

    def _records(self, records: Iterable[Record], pieces: list[bytes], codec: str) -> None:
        s = self.summary
        delim = self.delim
        guard = self.guard
        outputs = self.outputs
        append = pieces.append
        for rec in records:
            if rec.newlines:
                s.multiline_records += 1
            kind = rec.kind
            if kind == BLANK:
                s.blank_lines += 1
                append(rec.raw)
                continue
            s.rows += 1
            if kind == RAGGED:
                s.ragged_rows += 1
                append(rec.raw)
                continue
            values = rec.values
            line_no = rec.line
            changed = False
            results: list[_Normalized] = []
            for o in outputs:
                ci, ri, kana = o
                v = values[ci]
                if kana:
                    r = self._kana(v)
                    if r[1]:
                        changed = True
                        s.readings_changed += 1
                        if self.log is not None:
                            self._log(line_no, values, o, v, r)
                    results.append(r)
                    continue
                if guard(v) is None:
                    results.append((v, "", False, False))
                    continue
                try:
                    r = self._norm(v, None if ri is None else values[ri], line_no)
                except UnmappableCharacter as exc:  # fallback error, with a log
                    assert self.log is not None
                    self.log.unmappable_value(
                        line_no, [values[i] if i < len(values) else "" for i in self.id_columns],
                        self.layout.names[ci], v, exc.char, exc.reason)
                    results.append((v, "", False, False))
                    continue
                if self.log is not None and (r[0] != v or r[1]):
                    self._log(line_no, values, o, v, r)
                if self.counted(v, r):
                    changed = True
                results.append(r)
            if changed:
                s.rows_changed += 1
            if self.replace:
                append(self._replaced(rec, results, codec) if changed else rec.raw)
            elif delim is not None:
                body, tail, eol = self._split(rec)
                force = rec.quoted(self.ncols - 1)
                if sum(len(r[0]) + len(r[1]) for r in results) > _LONG_OUTPUT:
                    self._write_long(pieces, body, tail + eol, [
                        f for r in results for f in (quote_field(r[0], delim, force),
                                                     quote_field(r[1], delim, force))],
                        codec, line_no)
                    continue
                extra = "".join(
                    delim + quote_field(r[0], delim, force) + delim
                    + quote_field(r[1], delim, force)
                    for r in results
                )
                append(body + self._encode(extra, codec, line_no) + tail + eol)

    def _write_long(self, pieces: list[bytes], body: bytes, eol: bytes, fields: list[str],
                    codec: str, line: int) -> None:
        """Write a record whose new fields are long (a 10 MB field) now, after ``pieces``: each
        field is encoded and written on its own, so the record is never copied whole into
        one more string or bytes object."""
        write = self.f.write
        write(b"".join(pieces))
        pieces.clear()
        write(body)
        delim = self._encode(self.delim or "", codec, line)
        for field in fields:
            write(delim)
            write(self._encode(field, codec, line))
        write(eol)

    def _replaced(self, rec: Record, results: list[_Normalized], codec: str) -> bytes:
        """``rec`` with its selected fields rewritten in place (a quoted field stays quoted)."""
        new = {o.column: r for o, r in zip(self.outputs, results, strict=True)}
        text, raw, values = rec.text, rec.raw, rec.values
        out = []
        prev = rec.start  # character position of the next raw byte to copy
        bprev = 0
        for ci, (a, b) in enumerate(rec.field_spans):
            if ci not in new or new[ci][0] == values[ci]:
                continue
            # a one-field record that becomes "" must stay a record: quote it (plain text has
            # no quoting, so there the record is kept as it was)
            empties = new[ci][0] == "" and len(values) == 1
            if empties and self.delim is None:
                self.summary.kept_empty += 1
                return raw
            # byte lengths: UTF-8 round-trips exactly and every CP932 character re-encodes to
            # as many bytes as it was read from, so these are the raw bytes' offsets
            ba = bprev + len(text[prev:a].encode(codec))
            out.append(raw[bprev:ba])
            quoted = text[a:a + 1] == '"' or empties
            out.append(self._encode(quote_field(new[ci][0], self.delim, quoted), codec,
                                    rec.line))
            bprev = ba + len(text[a:b].encode(codec))
            prev = b
        out.append(raw[bprev:])
        return b"".join(out)


class _WholeText(Exception):
    """A unit of a long value needs a fallback that acts on the whole text."""


#: Characters that make a spreadsheet read a cell as a formula (or that hide one).
FORMULA_STARTS = "=+-@\t\r"


def formula_guard(original: str, normalized: str) -> str | None:
    """``normalized`` with a leading ``'`` when normalizing turned it into a formula (it starts
    with ``= + - @``, TAB or CR and the original did not start with that character: a value
    defused by an invisible character would become live); None when nothing needs guarding."""
    if normalized[:1] and normalized[0] in FORMULA_STARTS and original[:1] != normalized[0]:
        return "'" + normalized
    return None


def guard_change(guarded: str) -> str:
    """The change text of a guard (rule ``formula-guarded``)."""
    first = guarded[1]
    shown = {"\t": "<U+0009>", "\r": "<U+000D>"}.get(first, first)
    return f"{shown}→'{shown} formula-guarded"


class _Held(NamedTuple):
    """A batch the compiled reader read, not yet rewritten."""

    chunk: Chunk
    pos: int
    utf8: bytes
    hits: records.HitLists
    codec: str


class _FastWrite:
    """Rewrites plain batches on the column kernel (each distinct unit decided once).

    A batch the compiled reader reads (``records.compiled_hit_lists``): the kernel sees only
    the rows with a unit to look at, several batches' at once (they are held, then written in
    order, before anything that comes after them), and ``records.append_fields`` writes every
    line.  Fewer than :data:`FEW_VALUES` values to look at are normalized one by one, without
    the kernel (a small file's normalize never imports polars).  Any other plain batch:
    polars reads it and builds every output line with ``concat_str``.
    """

    #: bytes of compiled batches held before they are rewritten together (three batches)
    HOLD_BYTES = 3 * records.FAST_CHUNKS * csvio.CHUNK_SIZE
    #: or values of their rows to look at (a wide file whose every row has one: the kernel's
    #: memory grows with them)
    HOLD_VALUES = 50_000
    #: Held values to look at, fewer than this many are normalized one by one (as the exact
    #: reader normalizes a record's values): about 0.2 ms a value (its units resolved cold),
    #: where the kernel needs polars' import; 257 values took 0.249 s end to end one by one,
    #: 0.327 s on the kernel, 800 values 0.346 and 0.317 s (benchmarks/README.md)
    FEW_VALUES = 300

    def __init__(self, writer: _Writer) -> None:
        self.w = writer
        columns: list[int] = []
        for o in writer.outputs:
            for i in (o.column, o.reading):
                if i is not None and i not in columns:
                    columns.append(i)
        self.columns = tuple(columns)
        self.column_at = {c: k for k, c in enumerate(columns)}  # a wide file: 5,000 columns
        # The compiled reader and writer take batches whose new fields are all names (a
        # reading column's normalize_kana changes values the guard passes).
        self.compiled = records.SPEEDUPS and not any(o.kana for o in writer.outputs)
        # Compiled batches are held and rewritten together (the kernel's cost is mostly per
        # call); not with fallback "error", which sends a batch back to the exact reader.
        self.hold = writer.normalizer.fallback != "error"
        self.held: list[_Held] = []
        self.held_bytes = 0
        self.held_values = 0

    def _series(self, batch: records.PlainBatch, column: int) -> pl.Series:
        return batch.values.to_series(self.columns.index(column)).alias("v")

    @staticmethod
    def _pieces(values: pl.Series, normalized: pl.Series, changes: pl.Series,
                fallback: pl.Series, review: pl.Series, force: pl.Series | None,
                d: str) -> pl.DataFrame:
        """Per value: changed, fallback, review, and its new fields as written
        (``,normalized,changes``, guarded and quoted); without ``force``, the new fields
        guarded but not quoted (``n`` and ``c``: the compiled writer quotes them)."""
        import polars as pl

        frame = pl.LazyFrame({"v": values, "n": normalized, "c": changes,
                              "fallback": fallback, "review": review})
        frame = frame.with_columns(_formula_guarded(pl.col("v"), pl.col("n"), pl.col("c")))
        written = ["n", "c"] if force is None else [pl.concat_str(
            [pl.lit(d), _quoted(pl.col("n"), d), pl.lit(d), _quoted(pl.col("c"), d)]
        ).alias("piece")]
        if force is not None:
            frame = frame.with_columns(force=force)
        return frame.select(
            *written,
            changed=(pl.col("n") != pl.col("v")) | (pl.col("c") != ""),
            fallback=pl.col("fallback").fill_null(False),
            review=pl.col("review").fill_null(False)).collect()

    def _explain(self, values: pl.Series, reading: pl.Series | None, force: pl.Series | None,
                 d: str) -> pl.DataFrame | None:
        """:meth:`_pieces` of the name values (the columns one after another), their changes
        counted in the summary; None when a unit has no answer (``fallback="error"``: the
        exact reader raises it with the line)."""
        from . import column

        w = self.w
        try:
            out = column.explain(values, w.normalizer, reading=reading,
                                 outputs=("normalized", "changes", "review", "fallback"))
        except UnmappableCharacter:
            return None
        done = self._pieces(values, out["normalized"], out["changes"], out["fallback"],
                            out["review"], force, d)
        value_changed = done["changed"]
        s = w.summary
        s.values_changed += int(value_changed.sum())
        s.fallback_values += int((value_changed & done["fallback"]).sum())
        s.review_values += int((value_changed & done["review"]).sum())
        return done

    def _write_held(self, batches: Sequence[_Held], emit: Callable[[bytes], object]) -> bool:
        """Give the rewritten ``batches`` (read by the compiled reader, in file order) to
        ``emit``, one after another: the kernel sees only the rows with a unit to look at,
        all the batches' at once, and the compiled writer copies every other line with its
        own value and an empty change.  False when a unit has no answer
        (``fallback="error"``), and nothing was emitted."""
        w = self.w
        d = w.delim
        assert d is not None
        names = list(w.outputs)  # names only (see self.compiled)
        sizes = [len(b.hits.rows) for b in batches]
        starts = [0, *itertools.accumulate(sizes)]
        total = starts[-1]
        # name after name, each the batches' values one after another (no reading: a paired
        # reading is normalized too, which keeps its batches off this path)
        at = [self.column_at[o.column] for o in names]
        values = [v for k in at for b in batches for v in b.hits.columns[k]]
        new = self._new_fields(values, total) if len(values) < self.FEW_VALUES \
            else self._new_fields_on_kernel(values, total, d)
        if new is None:
            return False
        n_texts, c_texts, rows_changed = new
        for b, start, size in zip(batches, starts[:-1], sizes, strict=True):
            spans = [(j * total + start, j * total + start + size) for j in range(len(names))]
            fields = [(n_texts[a:z], c_texts[a:z]) for a, z in spans]
            written = records.append_fields(b.utf8, d, w.ncols,
                                            tuple(o.column for o in names), b.hits, fields) \
                if names else b.utf8
            if b.codec == "utf-8":
                emit(written)
            else:
                text = written.decode("utf-8")
                try:
                    emit(text.encode(b.codec))
                except UnicodeEncodeError as exc:
                    raise _unwritable(exc, w.name, records.line_at(b.chunk, b.pos)
                                      + text.count("\n", 0, exc.start), b.codec) from None
            w.summary.rows += b.hits.height
        w.summary.rows_changed += rows_changed
        return True

    def _new_fields(self, values: list[str], rows: int
                    ) -> tuple[list[str], list[str], int] | None:
        """The new fields of ``values`` (normalized, changes: not quoted), normalized one by
        one as the exact reader does, and how many of the ``rows`` changed (``values`` holds
        each name column's values of the same rows, one column after another); the changes
        are counted in the summary.  None (nothing counted) when a unit has no answer
        (``fallback="error"``)."""
        w = self.w
        guard = w.guard
        results: list[_Normalized] = []
        for v in values:
            if guard(v) is None:
                results.append((v, "", False, False))
                continue
            try:
                results.append(w._norm(v, None, 0))
            except InputError:  # fallback error: the exact reader raises it with the line
                if w.normalizer.fallback != "error":
                    raise
                return None
        changed = [w.counted(v, r) for v, r in zip(values, results, strict=True)]
        rows_changed = sum(any(changed[i::rows]) for i in range(rows))
        return [r[0] for r in results], [r[1] for r in results], rows_changed

    def _new_fields_on_kernel(self, values: list[str], rows: int, d: str
                              ) -> tuple[list[str], list[str], int] | None:
        """:meth:`_new_fields` on the column kernel (each distinct unit decided once)."""
        import polars as pl

        done = self._explain(pl.Series("v", values, dtype=pl.String), None, None, d)
        if done is None:
            return None
        changed = done["changed"]
        row_changed = changed.slice(0, rows)
        for j in range(1, changed.len() // rows if rows else 0):
            row_changed = row_changed | changed.slice(j * rows, rows)
        return done["n"].to_list(), done["c"].to_list(), int(row_changed.sum())

    def flush(self, pieces: list[bytes]) -> None:
        """Write ``pieces`` (what comes before), then the batches held so far, rewritten, one
        at a time (a batch's output is not kept once written)."""
        if not self.held:
            return
        f = self.w.f
        for piece in pieces:
            f.write(piece)
        pieces.clear()
        batches, self.held, self.held_bytes, self.held_values = self.held, [], 0, 0
        if not self._write_held(batches, f.write):
            raise AssertionError("a held batch refused")  # never held with fallback "error"

    def write(self, chunk: Chunk, pos: int, bpos: int, codec: str,
              pieces: list[bytes]) -> bool:
        """Append the rewritten ``chunk`` from text index ``pos`` (byte index ``bpos``) to
        ``pieces``; False when the batch is not plain (or cannot be written exactly this way),
        and nothing was appended."""
        w = self.w
        raw = chunk.data[bpos:]
        if codec == "utf-8":
            utf8 = raw
        else:
            body = chunk.text[pos:]
            if body.encode(codec, "replace") != raw:
                return False  # bytes that do not round-trip (NEC/IBM duplicates): copy raw
            utf8 = body.encode("utf-8")
        if self.compiled:
            # no column to change (a file found clean): the first column is read only to
            # take the batch's records, which are copied as they are
            hits = records.compiled_hit_lists(utf8, w.delim, w.ncols, self.columns or (0,),
                                              w.layout.trailing,
                                              w.normalizer.target.visible_chars)
            if hits is not None:
                records.count_lines(chunk, pos, hits)  # before the next chunk is read
                held = _Held(chunk, pos, utf8, hits, codec)
                if not self.hold:
                    return self._write_held([held], pieces.append)
                self.held.append(held)
                self.held_bytes += len(utf8)
                self.held_values += len(hits.rows) * len(hits.columns)
                if self.held_bytes >= self.HOLD_BYTES or self.held_values >= self.HOLD_VALUES:
                    self.flush(pieces)
                return True
        # a batch the compiled reader declines (a control character...) comes after the held
        self.flush(pieces)
        import polars as pl

        from . import column

        batch = records.plain_batch(utf8, w.delim, w.ncols, self.columns, w.layout.trailing)
        if batch is None:
            return False
        records.count_lines(chunk, pos, batch)
        d = w.delim
        assert d is not None
        lines = batch.lines
        tail = pl.repeat("", batch.height, eager=True)
        if batch.tail:  # the new fields go before the trailing delimiter (see _Writer._split)
            split = pl.DataFrame({"line": lines}).select(
                tail=pl.when(pl.col("line").str.ends_with(d + '""')).then(pl.lit(d + '""'))
                .otherwise(pl.lit(d))).with_columns(line=lines)
            split = split.with_columns(pl.col("line").str.strip_suffix(pl.col("tail")))
            lines, tail = split["line"], split["tail"]
        height = batch.height
        force = lines.str.ends_with('"')
        s = w.summary
        names = [o for o in w.outputs if not o.kana]
        # Every name column in one series, column after column (each with its own reading):
        # the kernel runs once per batch whatever the number of columns.
        pieces_of: dict[Output, pl.Series] = {}
        changed = pl.repeat(False, height, eager=True)
        if names:
            values = pl.concat([self._series(batch, o.column) for o in names])
            reading = None
            if w.normalizer.fallback == "kana":  # plan_outputs paired every name
                reading = pl.concat([self._series(batch, o.reading) for o in names
                                     if o.reading is not None])
            done = self._explain(values, reading, pl.concat([force] * len(names)), d)
            if done is None:
                return False
            value_changed = done["changed"]
            for j, o in enumerate(names):
                changed = changed | value_changed.slice(j * height, height)
                pieces_of[o] = done["piece"].slice(j * height, height)
        for o in w.outputs:
            if not o.kana:
                continue
            values = self._series(batch, o.column)
            normalized = column.map_distinct(
                values, column.kana_hiragana if w.hiragana else column.kana_katakana)
            # the change without the guard: _pieces guards, once, as for names
            changes = column.map_distinct(values, lambda v: kana_change(v, w.hiragana)[1])
            no = pl.repeat(False, height, eager=True)
            done = self._pieces(values, normalized, changes, no, no, force, d)
            s.readings_changed += int(done["changed"].sum())
            changed = changed | done["changed"]
            pieces_of[o] = done["piece"]
        extra = [pl.lit(pieces_of[o]) for o in w.outputs]
        eol = "\r\n" if batch.crlf else "\n"
        whole = pl.concat_str([pl.lit(lines), *extra, pl.lit(tail), pl.lit(eol)]).str.join("")
        if codec == "utf-8":  # the bytes polars holds, never a Python str
            data: bytes = pl.select(whole.cast(pl.Binary)).item()
            pieces.append(data if batch.terminated else data[:-len(eol)])
        else:
            joined: str = pl.select(whole).item()
            if not batch.terminated:
                joined = joined[:-len(eol)]
            try:
                pieces.append(joined.encode(codec))
            except UnicodeEncodeError as exc:
                raise _unwritable(exc, w.name, records.line_at(chunk, pos)
                                  + joined.count("\n", 0, exc.start), codec) from None
        s.rows += batch.height
        s.rows_changed += int(changed.sum())
        return True


def _unwritable(exc: UnicodeEncodeError, name: str, line: int, codec: str) -> InputError:
    bad = exc.object[exc.start]
    return InputError(f"cannot write {bad!r} (U+{ord(bad):04X}) in {codec}: choose a target "
                      f"that fits the file's encoding", name=name, line=line)


def kana_field(value: str, hiragana: bool = False) -> _Normalized:
    """A reading field as the writer writes it: :func:`mojinorm.normalizer.kana_change`, and a
    value that would become a formula (a TAB stripped before ``=``) guarded like a name."""
    text, change = kana_change(value, hiragana)
    if change:
        guarded = formula_guard(value, text)
        if guarded is not None:
            text, change = guarded, f"{change}; {guard_change(guarded)}"
    return text, change, False, False


def _formula_guarded(original: pl.Expr, normalized: pl.Expr,
                     changes: pl.Expr) -> list[pl.Expr]:
    """:func:`formula_guard` and :func:`guard_change` as expressions: new ``n`` and ``c``."""
    import polars as pl

    first = normalized.str.slice(0, 1)
    guard = first.is_in(list(FORMULA_STARTS)) & (first != original.str.slice(0, 1))
    shown = pl.when(first == "\t").then(pl.lit("<U+0009>")) \
        .when(first == "\r").then(pl.lit("<U+000D>")).otherwise(first)
    note = pl.concat_str([shown, pl.lit("→'"), shown, pl.lit(" formula-guarded")])
    return [
        pl.when(guard).then(pl.concat_str([pl.lit("'"), normalized])).otherwise(normalized)
        .alias("n"),
        pl.when(guard & (changes == "")).then(note)
        .when(guard).then(pl.concat_str([changes, pl.lit("; "), note])).otherwise(changes)
        .alias("c"),
    ]


def _quoted(value: pl.Expr, delimiter: str) -> pl.Expr:
    """``quote_field(value, delimiter, force)`` as an expression (``force`` is a column)."""
    import polars as pl

    special = f"[{re.escape(delimiter)}\"\r\n]"
    needs = pl.col("force") | ((value != "") & value.str.contains(special))
    return pl.when(needs).then(
        pl.concat_str([pl.lit('"'), value.str.replace_all('"', '""', literal=True),
                       pl.lit('"')])).otherwise(value)


def _split_eol(raw: bytes, sep: bytes = b"\n") -> tuple[bytes, bytes]:
    """``raw`` record bytes split into the body and its line end (CRLF, LF, CR or none)."""
    if sep == b"\r":
        return (raw[:-1], b"\r") if raw.endswith(b"\r") else (raw, b"")
    if raw.endswith(b"\r\n"):
        return raw[:-2], b"\r\n"
    if raw.endswith(b"\n"):
        return raw[:-1], b"\n"
    return raw, b""
