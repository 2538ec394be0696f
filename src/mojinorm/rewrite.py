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
import os
import re
from collections.abc import Iterable, Sequence
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from . import csvio, records
from .csvio import DecodedStream, InputError, atomic_output, open_input, quote_field
from .normalizer import Normalizer, UnitOutcome, UnmappableCharacter
from .parquet import is_parquet, normalize_parquet
from .records import (
    BLANK,
    NO_DATA_ROWS,
    RAGGED,
    ExactReader,
    Layout,
    Progress,
    Record,
    ResumedStream,
    file_notes,
    read_layout,
    resolve_columns,
    set_threads,
)
from .report import NormalizeSummary
from .targets import Target

if TYPE_CHECKING:
    import polars as pl

    from .gaiji import GaijiTable

__all__ = ["normalize_file"]

_CACHE_LIMIT = 100_000  # distinct normalized values kept (a member file repeats names)
_CACHEABLE = 256  # longer values (a 10 MB field) are normalized each time, never kept
_LONG_OUTPUT = 1 << 20  # characters of new fields past which a record is written piecewise


def normalize_file(
    path: str | Path,
    output: str | Path,
    *,
    columns: Sequence[str | int] | None = None,
    kana_column: str | int | None = None,
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
    if src != "-" and is_parquet(src):
        return normalize_parquet(src, out, normalizer, columns=cols, replace=replace,
                                 kana_column=None if kana_column is None else str(kana_column))
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
        kana_idx = None
        if kana_column is not None:
            try:
                kana_idx = resolve_columns([str(kana_column)], layout.names,
                                           layout.raw_names)[0]
            except InputError as exc:
                exc.name = inp.name
                raise
            if cols is None:
                # every column but the reading column, decided from the one read of the input
                layout = dataclasses.replace(
                    layout, selected=tuple(i for i in layout.selected if i != kana_idx))
        summary = NormalizeSummary(inp.name, out, stream.encoding, normalizer.target.name,
                                   line_ends="CR" if stream.cr else "LF",
                                   notes=file_notes(layout, resumed))
        with atomic_output(out, mode=inp.mode, overwrite=overwrite) as f:
            writer = _Writer(f, normalizer, layout, kana_idx, replace, summary, inp.name,
                             stream.eol or b"\n")
            writer.run(resumed, progress, inp.size)
            inp.check_unchanged()  # inside: a changed input leaves no output behind
        if layout.header and text and summary.rows == 0:
            summary.notes.append(NO_DATA_ROWS)
        if summary.kept_empty:
            summary.notes.append(f"{summary.kept_empty:,} plain-text values would have become "
                                 f"empty (no record any more) and were kept as they are")
        return summary
    finally:
        inp.close()


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return Path(a).resolve() == Path(b).resolve()


class _Output(Protocol):
    """Where the writer writes (what :class:`mojinorm.csvio.atomic_output` gives)."""

    def write(self, data: bytes, /) -> int: ...


#: What a value becomes: ``(normalized, changes, used the fallback, to review)``.
_Normalized = tuple[str, str, bool, bool]


class _Writer:
    """Writes the output of one input: the header, then every record, with the exact reader
    (and, for plain batches of a table, :class:`_FastWrite`)."""

    def __init__(self, f: _Output, normalizer: Normalizer, layout: Layout, kana_idx: int | None,
                 replace: bool, summary: NormalizeSummary, name: str,
                 sep: bytes = b"\n") -> None:
        self.f = f
        self.sep = sep
        self.swap = sep == b"\r"  # CR-only input: the text has CR and LF swapped
        self.normalizer = normalizer
        self.guard = normalizer.target.visible_guard.search
        self.layout = layout
        self.delim = layout.delimiter
        self.ncols = layout.ncols
        self.selected = layout.selected
        self.kana_idx = kana_idx
        self.replace = replace
        self.summary = summary
        self.name = name
        self.cache: dict[str | tuple[str, str | None], _Normalized] = {}
        self.kana = normalizer.fallback == "kana"
        # Plain batches of a table are rewritten on the column kernel (not --replace: that
        # rewrites fields inside the record, which the exact reader's field spans do).
        self.fast = _FastWrite(self) if (records.FAST_PATH and not replace
                                         and self.delim is not None and not self.swap) else None

    def _encode(self, s: str, codec: str, line: int) -> bytes:
        try:
            return s.encode(codec)
        except UnicodeEncodeError as exc:
            bad = exc.object[exc.start]
            raise InputError(f"cannot write {bad!r} (U+{ord(bad):04X}) in {codec}: choose a "
                             f"target that fits the file's encoding", name=self.name,
                             line=line) from None

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
        if stream.stream.has_bom:
            self.f.write(b"\xef\xbb\xbf")
        first = True
        for chunk in stream:
            text, data, _, lines_before = chunk
            codec = stream.stream.codec or "utf-8"
            pieces: list[bytes] = []
            pos = bpos = 0
            if first:
                first = False
                header = reader.header(chunk) if self.layout.header else None
                if header is not None:
                    self._header(header, pieces, codec)
                    pos, bpos = header.end, header.bend
            if self.fast is not None and not reader.pending and pos < len(text) and \
                    self.fast.write(text, data, pos, bpos, codec,
                                    lines_before + text.count("\n", 0, pos), pieces):
                pos = len(text)
            if pos < len(text) or reader.pending:
                self._records(reader.read(chunk, pos), pieces, codec)
            self.f.write(b"".join(pieces))
            if progress is not None:
                progress(stream.bytes_done, total)
        reader.finish()

    def _header(self, rec: Record, pieces: list[bytes], codec: str) -> None:
        if self.replace or self.delim is None:
            pieces.append(rec.raw)
            return
        body, eol = _split_eol(rec.raw, self.sep)
        force = rec.quoted(-1)
        extra = "".join(
            self.delim + quote_field(f"{self.layout.names[ci]}_normalized", self.delim, force)
            + self.delim + quote_field(f"{self.layout.names[ci]}_changes", self.delim, force)
            for ci in self.selected
        )
        pieces.append(body + self._encode(extra, codec, 1) + eol)

    def _records(self, records: Iterable[Record], pieces: list[bytes], codec: str) -> None:
        s = self.summary
        delim = self.delim
        guard = self.guard
        selected = self.selected
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
            reading = values[self.kana_idx] if self.kana_idx is not None else None
            changed = False
            results: list[_Normalized] = []
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
                append(self._replaced(rec, results, codec) if changed else rec.raw)
            elif delim is not None:
                body, eol = _split_eol(rec.raw, self.sep)
                force = rec.quoted(-1)
                if sum(len(r[0]) + len(r[1]) for r in results) > _LONG_OUTPUT:
                    self._write_long(pieces, body, eol, [
                        f for r in results for f in (quote_field(r[0], delim, force),
                                                     quote_field(r[1], delim, force))],
                        codec, line_no)
                    continue
                extra = "".join(
                    delim + quote_field(r[0], delim, force) + delim
                    + quote_field(r[1], delim, force)
                    for r in results
                )
                append(body + self._encode(extra, codec, line_no) + eol)

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
        new = dict(zip(self.selected, results, strict=True))
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
        w = self.w
        raw = data[bpos:]
        if codec == "utf-8":
            utf8 = raw
        else:
            body = text[pos:]
            if body.encode(codec, "replace") != raw:
                return False  # bytes that do not round-trip (NEC/IBM duplicates): copy raw
            utf8 = body.encode("utf-8")
        batch = records.plain_batch(utf8, w.delim, w.ncols, self.columns)
        if batch is None:
            return False
        reading = None
        if w.kana_idx is not None:
            reading = batch.values.to_series(self.columns.index(w.kana_idx))
        d = w.delim
        assert d is not None
        height, width = batch.height, len(w.selected)
        if not width:
            return False  # nothing to add (the reading column alone): the exact reader copies
        # Every selected column in one series, column after column (the reading repeated for
        # each): the kernel runs once per batch whatever the number of columns.
        values = pl.concat([batch.values.to_series(j).alias("v") for j in range(width)])
        if reading is not None:
            reading = pl.concat([reading] * width)
        try:
            out = column.explain(values, w.normalizer, reading=reading,
                                 outputs=("normalized", "changes"))
        except UnmappableCharacter:
            return False  # the exact reader raises it with the line
        flags, _ = column.unit_flags(values, self.plan, _fallback_review)
        force = batch.lines.str.ends_with('"')
        frame = pl.DataFrame({"v": values, "n": out["normalized"], "c": out["changes"],
                              "f": flags, "force": pl.concat([force] * width)})
        frame = frame.with_columns(_formula_guarded(pl.col("v"), pl.col("n"), pl.col("c")))
        done = frame.select(
            changed=(pl.col("n") != pl.col("v")) | (pl.col("c") != ""),
            fallback=(pl.col("f") & 1) != 0,
            review=(pl.col("f") & 2) != 0,
            piece=pl.concat_str([pl.lit(d), _quoted(pl.col("n"), d), pl.lit(d),
                                 _quoted(pl.col("c"), d)]))
        value_changed = done["changed"]
        s = w.summary
        s.values_changed += int(value_changed.sum())
        s.fallback_values += int((value_changed & done["fallback"]).sum())
        s.review_values += int((value_changed & done["review"]).sum())
        changed = value_changed.slice(0, height)
        for j in range(1, width):
            changed = changed | value_changed.slice(j * height, height)
        # each line's new fields, column after column (slices of one series are views)
        piece = done["piece"]
        extra = [pl.lit(piece.slice(j * height, height)) for j in range(width)]
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


def _split_eol(raw: bytes, sep: bytes = b"\n") -> tuple[bytes, bytes]:
    """``raw`` record bytes split into the body and its line end (CRLF, LF, CR or none)."""
    if sep == b"\r":
        return (raw[:-1], b"\r") if raw.endswith(b"\r") else (raw, b"")
    if raw.endswith(b"\r\n"):
        return raw[:-2], b"\r\n"
    if raw.endswith(b"\n"):
        return raw[:-1], b"\n"
    return raw, b""
