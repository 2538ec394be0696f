"""mojinorm on pandas Series, through Arrow and the polars column kernel.

::

    import mojinorm.pandas as mp

    df["safe"] = mp.is_safe(df["name"], "cp932")
    df["name_normalized"] = mp.normalize(df["name"], "cp932", gaiji=["insurer-gaiji.yaml"])
    out = mp.normalize_frame(df, ["name"], "cp932")   # + name_normalized/_changes/_review

The series goes to Arrow and polars once; no Python runs per clean row (see
``mojinorm.column``).  Results keep the index and name of the input.  String results have the
input's dtype when it is a string dtype (pandas' ``str``/``string``), ``object`` for an object
series; flags are pandas' nullable ``boolean`` (a null name gives ``<NA>``); ``unsafe_chars``
gives an object series of lists.  Nulls (``None``, ``NaN``, ``pd.NA``) stay null.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd  # type: ignore[import-untyped, unused-ignore]
import polars as pl
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

from . import column
from .column import TargetLike

__all__ = [
    "changes", "explain", "is_safe", "match_key", "normalize", "normalize_frame",
    "normalize_kana", "review", "unsafe_chars",
]


def to_polars(series: pd.Series) -> pl.Series:
    """A pandas series of strings (or nulls) as a polars String series, through Arrow."""
    try:
        array = pa.array(series, from_pandas=True)
    except (pa.ArrowTypeError, pa.ArrowInvalid) as exc:
        raise TypeError(f"mojinorm works on string columns; {series.name!r}: {exc}") from None
    out = pl.from_arrow(array)
    assert isinstance(out, pl.Series)
    return column.as_strings(out.alias(str(series.name) if series.name is not None else ""))


def _strings(out: pl.Series, like: pd.Series) -> pd.Series:
    array = out.to_arrow(compat_level=pl.CompatLevel.oldest())
    if isinstance(like.dtype, pd.StringDtype):
        return pd.Series(pd.array(array, dtype=like.dtype), index=like.index, name=like.name,
                         copy=False)
    values = pd.array(array, dtype=pd.StringDtype()).to_numpy(dtype=object, na_value=None)
    return pd.Series(values, index=like.index, name=like.name, dtype=object, copy=False)


def _flags(out: pl.Series, like: pd.Series) -> pd.Series:
    values = pd.array(out.to_arrow(), dtype="boolean")
    return pd.Series(values, index=like.index, name=like.name, copy=False)


def _reading(reading: pd.Series | None, series: pd.Series) -> pl.Series | None:
    if reading is None:
        return None
    if not reading.index.equals(series.index):
        reading = reading.reindex(series.index)
    return to_polars(reading)


def is_safe(series: pd.Series, target: TargetLike = "jisx0208") -> pd.Series:
    """True where the name renders in ``target`` as it is (``Normalizer.is_safe``)."""
    return _flags(column.is_safe(to_polars(series), target), series)


def unsafe_chars(series: pd.Series, target: TargetLike = "jisx0208") -> pd.Series:
    """The units a normalizer would change per name, as lists (empty when safe)."""
    out = column.unsafe_chars(to_polars(series), target)
    values = out.to_arrow(compat_level=pl.CompatLevel.oldest()).to_pylist()
    return pd.Series(values, index=series.index, name=series.name, dtype=object)


def explain(series: pd.Series, target: TargetLike = "jisx0208", *,
            reading: pd.Series | None = None, **options: Any) -> pd.DataFrame:
    """``normalized``, ``changes`` and ``review`` per name, in one pass (same index)."""
    frame = column.explain(to_polars(series), target, reading=_reading(reading, series),
                           **options)
    return pd.DataFrame({
        "normalized": _strings(frame["normalized"], series),
        "changes": _strings(frame["changes"], series),
        "review": _flags(frame["review"], series),
    }, index=series.index)


def normalize(series: pd.Series, target: TargetLike = "jisx0208", *,
              reading: pd.Series | None = None, **options: Any) -> pd.Series:
    """``Normalizer.normalize`` per name; ``options`` as for ``mojinorm.get_normalizer``
    (``fallback``, ``gaiji``, ``rules`` …); ``reading`` is used by fallback ``kana``."""
    out = column.normalize(to_polars(series), target, reading=_reading(reading, series),
                           **options)
    return _strings(out, series)


def changes(series: pd.Series, target: TargetLike = "jisx0208", *,
            reading: pd.Series | None = None, **options: Any) -> pd.Series:
    """The changes per name as text (``髙→高 jis-unification; …``), "" when none."""
    out = column.changes(to_polars(series), target, reading=_reading(reading, series),
                         **options)
    return _strings(out, series)


def review(series: pd.Series, target: TargetLike = "jisx0208", *,
           reading: pd.Series | None = None, **options: Any) -> pd.Series:
    """True where a change needs a person's look (``Change.review``)."""
    out = column.review(to_polars(series), target, reading=_reading(reading, series),
                        **options)
    return _flags(out, series)


def match_key(series: pd.Series) -> pd.Series:
    """``mojinorm.match_key`` per name, computed once per distinct name."""
    return _strings(column.match_key(to_polars(series)), series)


def normalize_kana(series: pd.Series, *, hiragana: bool = False) -> pd.Series:
    """``mojinorm.normalize_kana`` per reading, computed once per distinct reading."""
    return _strings(column.normalize_kana(to_polars(series), hiragana=hiragana), series)


def normalize_frame(df: pd.DataFrame, columns: Sequence[str] | None = None,
                    target: TargetLike = "jisx0208", *,
                    reading: Mapping[str, str] | None = None, **options: Any) -> pd.DataFrame:
    """``df`` with ``<col>_normalized``, ``<col>_changes`` and ``<col>_review`` appended for
    each of ``columns`` (default: every string or object column).

    ``reading`` maps a name column to its reading column (for fallback ``kana``).  Works as a
    ``dask.dataframe`` ``map_partitions`` function (see docs/scale-out.md).
    """
    if columns is None:
        columns = [str(c) for c in df.columns
                   if isinstance(df[c].dtype, pd.StringDtype) or df[c].dtype == object]
    out = df.copy(deep=False)
    for name in columns:
        read = df[reading[name]] if reading and name in reading else None
        frame = explain(df[name], target, reading=read, **options)
        out[f"{name}_normalized"] = frame["normalized"]
        out[f"{name}_changes"] = frame["changes"]
        out[f"{name}_review"] = frame["review"]
    return out
