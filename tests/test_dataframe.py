"""mojinorm.pandas, mojinorm.arrow and the Dask recipe of docs/scale-out.md."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

import mojinorm

pd = pytest.importorskip("pandas")
pa = pytest.importorskip("pyarrow")
pytest.importorskip("polars")

import mojinorm.arrow  # noqa: E402
import mojinorm.pandas as mp  # noqa: E402

GAIJI = str(Path(__file__).parent / "cases" / "gaiji-cases.yaml")
NAMES = ["髙橋 太郎", "山田 花子", None, "\ue000田", "葛\U000e0102城", "德永", float("nan"), "ﾔﾏﾀﾞ"]


def _per_name(values: Sequence[object], **options: Any) -> tuple[list[Any], ...]:
    texts: list[Any] = []
    changes: list[Any] = []
    review: list[Any] = []
    for v in values:
        if not isinstance(v, str):
            texts.append(None)
            changes.append(None)
            review.append(None)
            continue
        result = mojinorm.explain(v, **options)
        texts.append(result.text)
        changes.append("; ".join(str(c) for c in result.changes))
        review.append(any(c.review for c in result.changes))
    return texts, changes, review


def _plain(values: object) -> list[object]:
    return [None if v is None or v is pd.NA or (isinstance(v, float) and v != v) else v
            for v in values]  # type: ignore[attr-defined]


@pytest.mark.parametrize("dtype", [object, "str", "string"])
def test_pandas_functions_keep_index_name_and_dtype(dtype: object) -> None:
    s = pd.Series(NAMES, index=[10, 3, 7, 1, 99, 5, 6, 2], name="name", dtype=dtype)
    texts, changes, review = _per_name(NAMES, target="cp932", gaiji=[GAIJI])
    out = mp.normalize(s, "cp932", gaiji=[GAIJI])
    assert list(out.index) == list(s.index) and out.name == "name"
    assert out.dtype == s.dtype
    assert _plain(out) == texts
    assert _plain(mp.changes(s, "cp932", gaiji=[GAIJI])) == changes
    flags = mp.review(s, "cp932", gaiji=[GAIJI])
    assert str(flags.dtype) == "boolean"
    assert _plain(flags) == review
    safe = mp.is_safe(s, "cp932")
    assert _plain(safe) == [None if not isinstance(v, str) else mojinorm.is_safe(v, "cp932")
                            for v in NAMES]
    assert list(safe.index) == list(s.index)
    units = mp.unsafe_chars(s, "cp932")
    assert _plain(units) == [None if not isinstance(v, str)
                             else [u for _, u in mojinorm.unsafe_chars(v, "cp932")]
                             for v in NAMES]
    frame = mp.explain(s, "cp932", gaiji=[GAIJI])
    assert list(frame.columns) == ["normalized", "changes", "review"]
    assert list(frame.index) == list(s.index)
    assert _plain(frame["normalized"]) == texts
    assert _plain(mp.match_key(s)) == [None if not isinstance(v, str) else mojinorm.match_key(v)
                                       for v in NAMES]
    assert _plain(mp.normalize_kana(s)) == [
        None if not isinstance(v, str) else mojinorm.normalize_kana(v) for v in NAMES]


def test_pandas_reading_aligns_on_the_index() -> None:
    s = pd.Series(["\ue000田", "髙橋"], index=["a", "b"])
    kana = pd.Series(["ﾀｶﾊｼ", "ﾖｼﾀﾞ"], index=["b", "a"])
    out = mp.normalize(s, fallback="kana", reading=kana)
    assert out.tolist() == ["ヨシダ", "高橋"]


def test_pandas_rejects_non_strings() -> None:
    with pytest.raises(TypeError, match="string columns"):
        mp.normalize(pd.Series(["a", 1], dtype=object))


def test_pandas_normalize_frame() -> None:
    df = pd.DataFrame({"id": [1, 2, 3], "name": ["髙橋", None, "\ue000田"],
                       "kana": ["ﾀｶﾊｼ", None, "ﾖｼﾀﾞ"]})
    out = mp.normalize_frame(df, ["name"], "jisx0208", fallback="kana",
                             reading={"name": "kana"})
    assert list(out.columns) == ["id", "name", "kana", "name_normalized", "name_changes",
                                 "name_review"]
    assert _plain(out["name_normalized"]) == ["高橋", None, "ヨシダ"]
    assert _plain(out["name_review"]) == _per_name(
        ["髙橋", None, "\ue000田"], fallback="kana")[2][:2] + [True]
    both = mp.normalize_frame(df)  # every string column
    assert "kana_normalized" in both.columns and "id_normalized" not in both.columns


def test_arrow_normalize_batch() -> None:
    batch = pa.RecordBatch.from_pydict({
        "id": pa.array([1, 2, 3, 4], pa.int64()),
        "name": pa.array(["髙橋 太郎", None, "\ue002田", "山田"], pa.string()),
        "kana": pa.array(["ﾀｶﾊｼ", None, "ﾖｼﾀﾞ", "ﾔﾏﾀﾞ"], pa.large_string()),
    })
    out = mojinorm.arrow.normalize_batch(batch, columns=["name"], target="jisx0208",
                                         gaiji=[GAIJI])
    assert out.schema == mojinorm.arrow.output_schema(batch.schema, ["name"])
    assert out.schema.field("name_normalized").type == pa.string()
    assert out.schema.field("name_review").type == pa.bool_()
    texts, changes, review = _per_name(batch.column(1).to_pylist(), gaiji=[GAIJI])
    assert out.column("name_normalized").to_pylist() == texts
    assert out.column("name_changes").to_pylist() == changes
    assert out.column("name_review").to_pylist() == review
    assert out.column("id").to_pylist() == [1, 2, 3, 4]
    every = mojinorm.arrow.normalize_batch(batch)  # every string column
    assert every.schema.field("kana_normalized").type == pa.large_string()
    assert every.num_columns == 3 + 6
    table = mojinorm.arrow.normalize_table(pa.Table.from_batches([batch, batch]), ["name"],
                                           gaiji=[GAIJI])
    assert table.column("name_normalized").to_pylist() == texts + texts
    with pytest.raises(KeyError, match="no column"):
        mojinorm.arrow.normalize_batch(batch, columns=["nope"])


def test_dask_recipe() -> None:
    dd = pytest.importorskip("dask.dataframe")
    import dask

    names = ["髙橋 太郎", "山﨑 花子", None, "\ue000田 一郎", "佐藤 次郎", "德永 三郎"] * 5
    kana = ["ﾀｶﾊｼ ﾀﾛｳ", "ﾔﾏｻﾞｷ ﾊﾅｺ", None, "ﾖｼﾀﾞ ｲﾁﾛｳ", "ｻﾄｳ ｼﾞﾛｳ", "ﾄｸﾅｶﾞ ｻﾌﾞﾛｳ"] * 5
    pdf = pd.DataFrame({"id": range(len(names)), "name": names, "kana": kana})
    ddf = dd.from_pandas(pdf, npartitions=3)
    # The recipe in docs/scale-out.md: one pandas function per partition.
    options = dict(fallback="kana", reading={"name": "kana"})
    meta = mp.normalize_frame(ddf._meta, ["name"], "cp932", **options)
    out = ddf.map_partitions(mp.normalize_frame, ["name"], "cp932", meta=meta, **options)
    with dask.config.set(scheduler="threads"):
        result = out.compute().sort_values("id")
    expected = [None if n is None else mojinorm.explain(n, "cp932", reading=k, fallback="kana")
                for n, k in zip(names, kana, strict=True)]
    assert _plain(result["name_normalized"]) == [None if e is None else e.text for e in expected]
    assert _plain(result["name_changes"]) == [
        None if e is None else "; ".join(str(c) for c in e.changes) for e in expected]
    assert _plain(result["name_normalized"])[3] == "ヨシダ\u3000イチロウ"
    # Counting the names that would render as ●.
    unsafe = ~ddf["name"].map_partitions(mp.is_safe, "cp932", meta=("name", "boolean"))
    with dask.config.set(scheduler="threads"):
        assert int(unsafe.fillna(False).sum().compute()) == 5
