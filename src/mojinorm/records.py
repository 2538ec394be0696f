"""The fast record reader: a batch of a plain member file as polars columns.

A member file is almost always *plain*: every line one record, the same number of fields on
every line, LF or CRLF throughout, quotes only around whole fields.  For such a batch the
records are read by polars (Rust, all cores) instead of Python:

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
same values; ``tests/test_records.py`` checks them against each other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import polars as pl

__all__ = ["PlainBatch", "plain_batch", "lines_of"]

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
    for sep in _LINE_SEPARATORS:
        if sep not in data:
            frame = pl.read_csv(data, has_header=False, separator=sep.decode(), quote_char=None,
                                infer_schema=False, new_columns=["line"])
            return frame.to_series().fill_null("")  # an empty line is null in some versions
    return None


def plain_batch(data: bytes, delimiter: str | None, ncols: int,
                selected: tuple[int, ...]) -> PlainBatch | None:
    """Read ``data`` (UTF-8, whole records, no header) when it is plain; else None."""
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
