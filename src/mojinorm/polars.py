"""The ``mojinorm`` namespace on polars expressions and series.

``import mojinorm.polars`` registers it::

    import polars as pl
    import mojinorm.polars  # noqa: F401

    df.with_columns(
        pl.col("name").mojinorm.is_safe("cp932").alias("safe"),
        pl.col("name").mojinorm.normalize("cp932", reading=pl.col("kana"), fallback="kana"),
        pl.col("name").mojinorm.changes("cp932").alias("name_changes"),
    )

Rows run in polars or, where it is built, the compiled module, reading the column's Arrow
memory; Python decides once per distinct unit, never per row (see ``mojinorm.column``).
``explain`` returns the three outputs of one pass as a struct, which is cheaper than
``normalize`` + ``changes`` + ``review`` separately.  ``match_key`` and ``normalize_kana``
call Python once per distinct value.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from . import column
from .column import TargetLike

__all__ = ["MojinormExprNamespace", "MojinormSeriesNamespace"]


@pl.api.register_expr_namespace("mojinorm")
class MojinormExprNamespace:
    """``pl.col(...).mojinorm``: mojinorm on a string expression."""

    def __init__(self, expr: pl.Expr) -> None:
        self._expr = expr

    def _one(self, output: str, target: TargetLike, fallback: str | None, gaiji: Any,
             rules: Any, reading: pl.Expr | str | None, options: dict[str, Any]) -> pl.Expr:
        return column.explain_expr(self._expr, target, reading=reading, outputs=(output,),
                                   fallback=fallback, gaiji=gaiji, rules=rules, **options)

    def is_safe(self, target: TargetLike = "jisx0208") -> pl.Expr:
        """True where ``Normalizer.is_safe``: the value renders in ``target`` as it is."""
        return column.is_safe_expr(self._expr, target)

    def unsafe_chars(self, target: TargetLike = "jisx0208") -> pl.Expr:
        """The units a normalizer would change, as ``list[str]`` (empty when safe)."""
        return column.unsafe_chars_expr(self._expr, target)

    def explain(self, target: TargetLike = "jisx0208", *, fallback: str | None = None,
                gaiji: Any = None, rules: Any = None, reading: pl.Expr | str | None = None,
                **options: Any) -> pl.Expr:
        """A struct ``{normalized, changes, review}`` from one pass (see ``normalize``)."""
        return column.explain_expr(self._expr, target, reading=reading, fallback=fallback,
                                   gaiji=gaiji, rules=rules, **options)

    def normalize(self, target: TargetLike = "jisx0208", *, fallback: str | None = None,
                  gaiji: Any = None, rules: Any = None, reading: pl.Expr | str | None = None,
                  **options: Any) -> pl.Expr:
        """``Normalizer.normalize`` per value.

        ``fallback``, ``gaiji``, ``rules`` and any further option go to
        ``mojinorm.get_normalizer``; ``reading`` (an expression or a column name) is the
        reading fallback ``kana`` puts in place of a name.  Null stays null.
        """
        return self._one("normalized", target, fallback, gaiji, rules, reading, options)

    def changes(self, target: TargetLike = "jisx0208", *, fallback: str | None = None,
                gaiji: Any = None, rules: Any = None, reading: pl.Expr | str | None = None,
                **options: Any) -> pl.Expr:
        """The changes per value as text (``髙→高 jis-unification; …``), "" when none."""
        return self._one("changes", target, fallback, gaiji, rules, reading, options)

    def review(self, target: TargetLike = "jisx0208", *, fallback: str | None = None,
               gaiji: Any = None, rules: Any = None, reading: pl.Expr | str | None = None,
               **options: Any) -> pl.Expr:
        """True where a change needs a person's look (``Change.review``)."""
        return self._one("review", target, fallback, gaiji, rules, reading, options)

    def match_key(self) -> pl.Expr:
        """``mojinorm.match_key`` per value (once per distinct value)."""
        return column.map_distinct_expr(self._expr, column.match_key_value)

    def normalize_kana(self, *, hiragana: bool = False) -> pl.Expr:
        """``mojinorm.normalize_kana`` per value (once per distinct value)."""
        return column.map_distinct_expr(
            self._expr, column.kana_hiragana if hiragana else column.kana_katakana)


@pl.api.register_series_namespace("mojinorm")
class MojinormSeriesNamespace:
    """``series.mojinorm``: the same operations on a string series."""

    def __init__(self, series: pl.Series) -> None:
        self._s = series

    def is_safe(self, target: TargetLike = "jisx0208") -> pl.Series:
        return column.is_safe(self._s, target)

    def unsafe_chars(self, target: TargetLike = "jisx0208") -> pl.Series:
        return column.unsafe_chars(self._s, target)

    def explain(self, target: TargetLike = "jisx0208", *, reading: pl.Series | None = None,
                **options: Any) -> pl.DataFrame:
        return column.explain(self._s, target, reading=reading, **options)

    def normalize(self, target: TargetLike = "jisx0208", *, reading: pl.Series | None = None,
                  **options: Any) -> pl.Series:
        return column.normalize(self._s, target, reading=reading, **options)

    def changes(self, target: TargetLike = "jisx0208", *, reading: pl.Series | None = None,
                **options: Any) -> pl.Series:
        return column.changes(self._s, target, reading=reading, **options)

    def review(self, target: TargetLike = "jisx0208", *, reading: pl.Series | None = None,
               **options: Any) -> pl.Series:
        return column.review(self._s, target, reading=reading, **options)

    def match_key(self) -> pl.Series:
        return column.match_key(self._s)

    def normalize_kana(self, *, hiragana: bool = False) -> pl.Series:
        return column.normalize_kana(self._s, hiragana=hiragana)
