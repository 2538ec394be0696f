"""The change log of ``normalize --log FILE``: one row per change, for the person who reviews.

Columns: ``line`` (the physical line of the record), the ``--id`` key columns, ``column``,
``original`` (the unit, or the whole value for a value-level change), ``codepoint`` (of a
unit: a private-use or invisible character shows nothing in a spreadsheet), ``replacement``,
``rule``, ``source``, ``mj``, ``alternatives`` (``|``-separated), ``review`` (``yes`` for a
fallback, an ambiguous unit or another glyph's mapping).  The log is UTF-8 with a BOM
whatever the input's encoding: it holds the characters the input's encoding may lack (𠮷
in a CP932 file's gaiji) and spreadsheet programs read the BOM as "UTF-8".  With
``review_only`` only the rows a person must look at are written.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from .csvio import Writable
from .normalizer import Change

__all__ = ["LOG_COLUMNS", "ChangeLog"]

LOG_COLUMNS = ("line", "column", "original", "codepoint", "replacement", "rule", "source",
               "mj", "alternatives", "review")


class ChangeLog:
    """Writes change rows to ``sink`` (bytes), a header first."""

    def __init__(self, sink: Writable, id_names: Sequence[str], review_only: bool) -> None:
        self.sink = sink
        self.review_only = review_only
        self.rows = 0  #: rows written (after the header)
        self.unmappable = 0  #: values fallback ``error`` refused (each one a row)
        self._buf = io.StringIO()
        self._csv = csv.writer(self._buf, lineterminator="\r\n")
        self._csv.writerow([LOG_COLUMNS[0], *id_names, *LOG_COLUMNS[1:]])
        self.sink.write(b"\xef\xbb\xbf" + self._take())

    def _take(self) -> bytes:
        data = self._buf.getvalue().encode("utf-8", "surrogateescape")
        self._buf.seek(0)
        self._buf.truncate()
        return data

    def _row(self, line: int, ids: Sequence[str], column: str, original: str, codepoint: str,
             replacement: str, rule: str, source: str, mj: str | None,
             alternatives: Sequence[str], review: bool) -> None:
        if self.review_only and not review:
            return
        self._csv.writerow([line, *ids, column, original, codepoint, replacement, rule, source,
                            mj or "", "|".join(alternatives), "yes" if review else ""])
        self.rows += 1

    def changes(self, line: int, ids: Sequence[str], column: str,
                changes: Sequence[Change]) -> None:
        """The unit changes of one name value."""
        for c in changes:
            self._row(line, ids, column, c.original,
                      " ".join(f"U+{ord(ch):04X}" for ch in c.original), c.replacement,
                      ">".join(s.rule for s in c.steps) or c.rule, c.source, c.mj,
                      c.alternatives, c.review)

    def value(self, line: int, ids: Sequence[str], column: str, original: str,
              replacement: str, rule: str, source: str, review: bool = False) -> None:
        """A change of a whole value (a reading normalized, a formula guarded)."""
        self._row(line, ids, column, original, "", replacement, rule, source, None, (), review)

    def unmappable_value(self, line: int, ids: Sequence[str], column: str, original: str,
                         char: str, reason: str) -> None:
        """A value fallback ``error`` refuses: always written (it is the to-do list)."""
        self._csv.writerow([line, *ids, column, original,
                            " ".join(f"U+{ord(ch):04X}" for ch in char), "", "unmappable",
                            reason, "", "", "yes"])
        self.rows += 1
        self.unmappable += 1

    def flush(self) -> None:
        data = self._take()
        if data:
            self.sink.write(data)
