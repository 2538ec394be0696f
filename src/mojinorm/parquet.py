"""Parquet member files: ``scan`` and ``normalize`` through the column kernel.

A Parquet file is already columns, so there are no bytes to keep and no records to find: the
selected string columns are read by polars in batches, counted by :func:`mojinorm.counting.
count_values` (the same counting rules as a CSV scan) and rewritten with the same columns a
CSV gets (``C_normalized``, ``C_changes``; or the column itself with ``replace``).  By
default every string column is selected; a column of another type can be named and is read
as text.  The output of ``normalize`` is Parquet too, written through a temp file renamed
when complete (``mojinorm.csvio.atomic_output``); it is assembled in memory (a Parquet file
is compressed columns: ten million names take a few hundred MB).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .counting import Counts, count_values
from .csvio import atomic_output
from .errors import InputError, OutputError
from .normalizer import Normalizer, kana_change
from .records import Layout, plan_outputs, resolve_pairs
from .report import NormalizeSummary, ScanReport, fill_report

if TYPE_CHECKING:
    import polars as pl

__all__ = ["is_parquet", "scan_parquet", "normalize_parquet", "BATCH_ROWS"]

BATCH_ROWS = 1_000_000  #: rows read per batch
_MAGIC = b"PAR1"


def is_parquet(path: str | Path) -> bool:
    """True for a path named ``*.parquet``/``*.pq``, or a regular file that starts with the
    Parquet magic bytes."""
    p = Path(path)
    if p.suffix.lower() in (".parquet", ".pq"):
        return True
    try:
        with open(p, "rb") as f:
            return f.read(4) == _MAGIC
    except OSError:
        return False


def _layout(path: Path, columns: Sequence[str] | None) -> tuple[Layout, list[str]]:
    import polars as pl

    try:
        schema = pl.read_parquet_schema(path)
    except FileNotFoundError:
        raise InputError("no such file", name=str(path)) from None
    except Exception as exc:  # polars reports a damaged file with its own exception types
        raise InputError(f"not a readable Parquet file ({exc})".split("\n")[0],
                         name=str(path)) from None
    names = tuple(schema)
    readings: tuple[tuple[int, int], ...] = ()
    if columns:
        selected, readings = resolve_pairs(list(columns), names, names)
    else:
        selected = tuple(i for i, n in enumerate(names) if schema[n] == pl.String)
    layout = Layout(delimiter=None, header=True, names=names, selected=selected, data_pos=0,
                    header_lines=0, raw_names=names, readings=readings)
    return layout, [names[i] for i in selected]


def _batches(path: Path, names: list[str]) -> Iterator[pl.DataFrame]:
    import polars as pl

    query = pl.scan_parquet(path).select(pl.col(n).cast(pl.String) for n in names)
    offset = 0
    while True:
        batch = query.slice(offset, BATCH_ROWS).collect()
        if batch.height == 0 and offset:
            return
        yield batch
        if batch.height < BATCH_ROWS:
            return
        offset += BATCH_ROWS


def scan_parquet(path: str | Path, normalizer: Normalizer,
                 columns: Sequence[str] | None = None) -> ScanReport:
    """The :class:`ScanReport` of a Parquet file (``encoding`` is ``"parquet"``)."""
    from .column import column_plan

    p = Path(path)
    layout, names = _layout(p, columns)
    report = ScanReport(
        file=str(path), target=normalizer.target.name, encoding="parquet",
        encoding_detected=True, delimiter=None, header=True, fields=len(layout.names),
        columns_selected=names, line_ends="", notes=[],
    )
    counts = Counts(len(names))
    plan = column_plan(normalizer)
    if names:
        for batch in _batches(p, names):
            count_values(plan, batch, counts)
    else:
        report.notes.append("no string column to scan; name one with --column")
    fill_report(report, counts, layout, normalizer)
    return report


def normalize_parquet(path: str | Path, output: str | Path, normalizer: Normalizer, *,
                      columns: Sequence[str] | None = None,
                      kana_columns: Sequence[str] = (), hiragana: bool = False,
                      replace: bool = False) -> NormalizeSummary:
    """Write ``output`` (Parquet): the input with ``C_normalized``/``C_changes`` after the
    columns (or the selected columns rewritten, with ``replace``); names and readings paired
    as for CSV (:func:`mojinorm.records.plan_outputs`)."""
    import polars as pl

    from . import column

    out = str(output)
    if out == "-" or not is_parquet(out) and not out.lower().endswith((".parquet", ".pq")):
        raise OutputError("a Parquet input is written as Parquet: name the output *.parquet",
                          name=out)
    p = Path(path)
    layout, _ = _layout(p, columns)
    try:
        layout, outputs = plan_outputs(layout, kana_columns, not columns,
                                       normalizer.fallback == "kana")
    except InputError as exc:
        exc.name = str(path)
        raise
    summary = NormalizeSummary(str(path), out, "parquet", normalizer.target.name,
                               line_ends="")
    frame = pl.read_parquet(p)
    summary.rows = frame.height
    changed_rows = pl.repeat(False, frame.height, eager=True)
    new_columns = []
    for o in outputs:
        name = layout.names[o.column]
        values = frame[name].cast(pl.String)
        if o.kana:
            normalized = column.normalize_kana(values, hiragana=hiragana)
            changes = column.map_distinct(values, lambda v: kana_change(v, hiragana)[1])
            changed = (changes != "").fill_null(False)
            summary.readings_changed += int(changed.sum())
            changed_rows = changed_rows | changed
            new_columns += [normalized.alias(name)] if replace else [
                normalized.alias(f"{name}_normalized"), changes.alias(f"{name}_changes")]
            continue
        reading = None if o.reading is None else frame[layout.names[o.reading]].cast(pl.String)
        done = column.explain(values, normalizer, reading=reading)
        changed = ((done["normalized"] != values) | (done["changes"] != "")).fill_null(False)
        flags, _ = column.unit_flags(values, column.column_plan(normalizer),
                                     lambda o: int(o.fallback))
        summary.values_changed += int(changed.sum())
        summary.fallback_values += int((changed & (flags == 1)).sum())
        summary.review_values += int((changed & done["review"]).sum())
        changed_rows = changed_rows | changed
        if replace:
            new_columns.append(done["normalized"].alias(name))
        else:
            new_columns += [done["normalized"].alias(f"{name}_normalized"),
                            done["changes"].alias(f"{name}_changes")]
    summary.rows_changed = int(changed_rows.sum())
    result = frame.with_columns(new_columns)
    mode = p.stat().st_mode & 0o777 if p.is_file() else None
    with atomic_output(out, mode=mode) as f:
        result.write_parquet(f)  # type: ignore[arg-type]
    return summary
