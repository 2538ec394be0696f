"""Scan whole member files: :func:`scan_file` (and, re-exported, :func:`normalize_file`).

A scan flows through one module per concern:

* :mod:`mojinorm.csvio`: bytes, encodings and line ends (decoded chunks), the record parser;
* :mod:`mojinorm.records`: the layout (delimiter, header, selected columns) and the readers
  (polars for plain batches, the exact Python reader for the others);
* :mod:`mojinorm.counting`: what each selected value says, added up (the counting rules);
* :mod:`mojinorm.report`: the :class:`ScanReport` built from those counts.

``normalize`` reads the same way and writes through :mod:`mojinorm.rewrite`.  The names
callers import from here (``ScanReport``, ``CharStat``, ``NormalizeSummary``,
``normalize_file``, ``resolve_columns``, ``set_threads``, ``INVISIBLE_RULES``,
``LOSSLESS_RULES``) are re-exported.  ``FAST_PATH`` and ``FAST_CHUNKS`` are the switches of
:mod:`mojinorm.records`: reading or setting ``mojinorm.scan.FAST_PATH`` reads or sets
``mojinorm.records.FAST_PATH`` (one switch, not a copy).
"""

from __future__ import annotations

import sys
import types
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from . import counting, csvio, records
from .counting import INVISIBLE_RULES, LOSSLESS_RULES
from .csvio import DecodedStream, open_input
from .errors import OptionError
from .normalizer import Normalizer
from .parquet import is_parquet, scan_parquet
from .records import NO_DATA_ROWS, Progress, file_notes, read_layout, resolve_columns, set_threads
from .report import CharStat, NormalizeSummary, ScanReport, fill_report, shift_jis_codes
from .rewrite import normalize_file
from .targets import Target

if TYPE_CHECKING:
    from .gaiji import GaijiTable

__all__ = [
    "FAST_CHUNKS", "FAST_PATH", "INVISIBLE_RULES", "LOSSLESS_RULES", "CharStat",
    "NormalizeSummary", "ScanReport", "normalize_file", "resolve_columns", "scan_file",
    "set_threads",
]

# The switches of mojinorm.records, forwarded there by _ScanModule below (declared here for
# type checkers and ``__all__``; this module never holds a copy).
FAST_PATH: bool
FAST_CHUNKS: int


def scan_file(
    path: str | Path,
    *,
    columns: Sequence[str | int] | None = None,
    target: str | Path | Target | Sequence[str | Path | Target] = "jisx0208",
    gaiji: str | Path | Iterable[str | Path] | GaijiTable | None = None,
    encoding: str = "auto",
    delimiter: str | None = None,
    header: bool | None = None,
    jobs: int | None = None,
    progress: Progress | None = None,
    rules: Iterable[str] | str | None = None,
    ambiguity: str = "fallback",
    fallback: str | None = None,
) -> ScanReport:
    """Scan a member file (``"-"``: stdin) and report what would render as ● in ``target``.

    ``columns``: header names or 1-based numbers (default: every column).  ``delimiter``:
    ``","``, ``"\\t"``, ``""`` for plain text (one value per line, quotes and commas are data),
    or None to sniff it from the first line (TAB, else comma, else plain text).  ``header``:
    None means yes for a delimited file, no for plain text.
    ``progress(bytes_done, total_bytes)`` is called after each chunk.  Raises
    :class:`mojinorm.csvio.InputError` for bad input.

    ``fallback``: what the report shows as the replacement of a unit nothing maps (default:
    the target profile's fallback, else geta 〓).

    ``target`` may be a list of targets a name goes through in turn (staged systems: it
    passes the eligibility check, then a claim is rejected): the report is the last target's
    (the one a name must finally pass), and ``stages`` gives the counts of each from the same
    single pass, with the rows that render in one target and not in the next.
    """
    threads = set_threads(jobs)
    targets: list[str | Path | Target] = \
        [target] if isinstance(target, (str, Path, Target)) else list(target)
    if not targets:
        raise OptionError("no target given")
    normalizers = [_scanning(t, gaiji, fallback, rules, ambiguity) for t in targets]
    normalizer = normalizers[-1]
    cols = [str(c) for c in columns] if columns else None
    if str(path) != "-" and is_parquet(path):
        if len(normalizers) > 1:
            raise OptionError("several targets are read from a CSV/TSV file; scan a Parquet "
                              "file once per target")
        return scan_parquet(path, normalizer, cols)
    inp = open_input(str(path))
    warming = None
    try:
        # polars pays a fixed cost per batch: plain files are read in larger chunks; on
        # several threads twice as large (a batch's parts wait for its last one, and the
        # Python between batches leaves the reading threads idle: paid half as often)
        size = csvio.CHUNK_SIZE * (records.FAST_CHUNKS * (2 if threads > 1 else 1)
                                   if records.FAST_PATH else 1)
        stream = DecodedStream(inp, encoding, size=size, threads=threads)
        warming = counting.warm_meanwhile(normalizers, threads, inp.size)
        stream.prepare()
        layout, resumed = read_layout(stream, delimiter, header, cols)
        report = ScanReport(
            file=inp.name, target=normalizer.target.name, encoding=stream.encoding,
            encoding_detected=encoding == "auto", delimiter=layout.delimiter,
            header=layout.header, fields=len(layout.names),
            columns_selected=[layout.names[i] for i in layout.selected],
            line_ends=stream.line_ends,
            notes=file_notes(layout, resumed),
        )
        # the tables load on the warming thread while the first batches are tallied
        if len(normalizers) == 1:
            counts = counting.count(normalizer, layout, resumed, progress, inp.size, warming)
        else:
            staged, unsafe = counting.count_staged(normalizers, layout, resumed, progress,
                                                   inp.size, warming)
            counts = staged[-1]
            report.stages = [
                {"target": n.target.name, "unsafe_rows": c.unsafe, "fixable_rows": c.fixable,
                 "fallback_rows": c.fallback, "review_rows": c.review,
                 "newly_unsafe_rows": len(unsafe[k] - unsafe[k - 1]) if k else None}
                for k, (n, c) in enumerate(zip(normalizers, staged, strict=True))]
        if warming is not None:  # done (its error raised here) before the report reads
            warming.result()
            warming = None
        inp.check_unchanged()
        report.encoding = stream.encoding
        report.notes.extend(n for n in stream.notes if n not in report.notes)
        fill_report(report, counts, layout, normalizer)
        shift_jis_codes(report)
        if layout.header and resumed.first_text and report.rows == 0:
            report.notes.append(NO_DATA_ROWS)
        return report
    finally:
        if warming is not None:  # the file was refused: waited for, its own error dropped
            warming.exception()
        inp.close()


def _scanning(target: str | Path | Target,
              gaiji: str | Path | Iterable[str | Path] | GaijiTable | None,
              fallback: str | None, rules: Iterable[str] | str | None,
              ambiguity: str) -> Normalizer:
    """The normalizer a scan reports with: ``fallback`` (else the profile's, else geta) shows
    as the replacement; ``error`` and ``kana`` act on whole names when normalizing, so a scan
    counts those units as fallback units and shows 〓."""
    n = Normalizer(target, gaiji=gaiji, fallback=fallback, rules=rules, ambiguity=ambiguity)
    if n.fallback in ("error", "kana"):
        n = Normalizer(target, gaiji=gaiji, fallback="geta", rules=rules, ambiguity=ambiguity)
    return n


class _ScanModule(types.ModuleType):
    """This module, with ``FAST_PATH`` and ``FAST_CHUNKS`` forwarded to :mod:`mojinorm.records`
    (where the readers look them up), so that setting them here is never a silent copy."""

    @property
    def FAST_PATH(self) -> bool:  # noqa: N802 - the module constant's name
        return records.FAST_PATH

    @FAST_PATH.setter
    def FAST_PATH(self, value: bool) -> None:  # noqa: N802
        records.FAST_PATH = value

    @property
    def FAST_CHUNKS(self) -> int:  # noqa: N802
        return records.FAST_CHUNKS

    @FAST_CHUNKS.setter
    def FAST_CHUNKS(self, value: int) -> None:  # noqa: N802
        records.FAST_CHUNKS = value


sys.modules[__name__].__class__ = _ScanModule
