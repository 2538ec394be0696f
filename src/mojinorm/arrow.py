"""mojinorm on Arrow record batches, for engines that speak Arrow (PySpark ``mapInArrow``,
DuckDB, Ray, Flight services …).

::

    import mojinorm.arrow

    out = mojinorm.arrow.normalize_batch(batch, columns=["name"], target="cp932")
    # batch's columns + name_normalized (string), name_changes (string), name_review (bool)

Each batch goes through the column kernel (``mojinorm.column``): Python decides once per
distinct unit, never per row.  The appended string columns have the type of the name
column (``string`` stays ``string``, which is what Spark expects), ``<col>_review`` is
``bool``; null names give nulls.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import polars as pl
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

from . import column
from .column import TargetLike

__all__ = ["normalize_batch", "normalize_batches", "normalize_table", "output_schema"]

_SUFFIXES = ("_normalized", "_changes", "_review")


def _is_string(t: pa.DataType) -> bool:
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t)
                or pa.types.is_string_view(t))


def _columns(schema: pa.Schema, columns: Sequence[str] | None) -> list[str]:
    if columns is None:
        return [f.name for f in schema if _is_string(f.type)]
    missing = [c for c in columns if c not in schema.names]
    if missing:
        raise KeyError(f"no column {', '.join(map(repr, missing))} in {schema.names}")
    return list(columns)


def _string_type(t: pa.DataType) -> pa.DataType:
    return t if _is_string(t) else pa.string()


def output_schema(schema: pa.Schema, columns: Sequence[str] | None = None) -> pa.Schema:
    """The schema :func:`normalize_batch` produces from ``schema``."""
    out = schema
    for name in _columns(schema, columns):
        t = _string_type(schema.field(name).type)
        out = out.append(pa.field(name + _SUFFIXES[0], t))
        out = out.append(pa.field(name + _SUFFIXES[1], t))
        out = out.append(pa.field(name + _SUFFIXES[2], pa.bool_()))
    return out


def _to_polars(array: pa.Array | pa.ChunkedArray, name: str) -> pl.Series:
    out = pl.from_arrow(array)
    assert isinstance(out, pl.Series)
    return column.as_strings(out.alias(name))


def _to_arrow(series: pl.Series, t: pa.DataType) -> pa.Array:
    array = series.to_arrow(compat_level=pl.CompatLevel.oldest())
    return array if array.type == t else array.cast(t)


def normalize_batch(batch: pa.RecordBatch, columns: Sequence[str] | None = None,
                    target: TargetLike = "jisx0208", *,
                    reading: Mapping[str, str] | None = None,
                    **options: Any) -> pa.RecordBatch:
    """``batch`` with ``<col>_normalized``, ``<col>_changes`` and ``<col>_review`` appended
    for each of ``columns`` (default: every string column).

    ``options`` (``fallback``, ``gaiji``, ``rules`` …) go to ``mojinorm.get_normalizer``;
    ``reading`` maps a name column to its reading column (for fallback ``kana``).
    """
    names = _columns(batch.schema, columns)
    arrays = list(batch.columns)
    fields = list(batch.schema)
    for name in names:
        values = _to_polars(batch.column(name), name)
        read = None
        if reading and name in reading:
            read = _to_polars(batch.column(reading[name]), reading[name])
        frame = column.explain(values, target, reading=read, **options)
        t = _string_type(batch.schema.field(name).type)
        for suffix, field_name, out_type in (
            (_SUFFIXES[0], "normalized", t), (_SUFFIXES[1], "changes", t),
            (_SUFFIXES[2], "review", pa.bool_()),
        ):
            arrays.append(_to_arrow(frame[field_name], out_type))
            fields.append(pa.field(name + suffix, out_type))
    return pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields, batch.schema.metadata))


def normalize_batches(batches: Iterable[pa.RecordBatch], columns: Sequence[str] | None = None,
                      target: TargetLike = "jisx0208", *,
                      reading: Mapping[str, str] | None = None,
                      **options: Any) -> Iterator[pa.RecordBatch]:
    """:func:`normalize_batch` over a stream of batches (the shape of Spark's ``mapInArrow``)."""
    for batch in batches:
        yield normalize_batch(batch, columns, target, reading=reading, **options)


def normalize_table(table: pa.Table, columns: Sequence[str] | None = None,
                    target: TargetLike = "jisx0208", *,
                    reading: Mapping[str, str] | None = None, **options: Any) -> pa.Table:
    """:func:`normalize_batch` over a table (batch by batch)."""
    schema = output_schema(table.schema, columns)
    batches = normalize_batches(table.to_batches(), columns, target, reading=reading,
                                **options)
    return pa.Table.from_batches(list(batches), schema=schema)
