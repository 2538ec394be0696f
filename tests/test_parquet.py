"""Parquet in and out: the same counts and the same normalized columns as the CSV path."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

import mojinorm
from mojinorm import scan as scan_mod

pl = pytest.importorskip("polars")
SAMPLE = Path(__file__).parent.parent / "data" / "samples" / "names.csv"
COUNTS = ("rows", "unsafe_rows", "fixable_rows", "lossless_rows", "substituted_rows",
          "fallback_rows", "review_rows", "invisible_rows", "columns", "chars")


@pytest.fixture()
def member_parquet(tmp_path: Path) -> Path:
    frame = pl.read_csv(SAMPLE, infer_schema=False).with_columns(pl.col("id").cast(pl.Int64))
    path = tmp_path / "members.parquet"
    frame.write_parquet(path)
    return path


@pytest.mark.parametrize("target", ["jisx0208", "cp932", "mj"])
def test_parquet_scan_counts_as_the_csv_scan(member_parquet: Path, target: str) -> None:
    # String columns by default (id is an integer column here); every count and character.
    got = scan_mod.scan_file(member_parquet, target=target).to_dict()
    want = scan_mod.scan_file(SAMPLE, target=target, columns=["name", "kana"]).to_dict()
    assert {k: got[k] for k in COUNTS} == {k: want[k] for k in COUNTS}
    assert got["encoding"] == "parquet" and got["columns_selected"] == ["name", "kana"]


def test_parquet_normalize_writes_the_csv_columns(member_parquet: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.parquet"
    summary = scan_mod.normalize_file(member_parquet, out, columns=["name"], target="cp932")
    frame = pl.read_parquet(out)
    assert frame.columns == ["id", "name", "kana", "name_normalized", "name_changes"]
    assert frame["id"].dtype == pl.Int64  # other columns keep their type
    csv_out = tmp_path / "out.csv"
    csv_summary = scan_mod.normalize_file(SAMPLE, csv_out, columns=["name"], target="cp932")
    with open(csv_out, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert frame["name_normalized"].to_list() == [r["name_normalized"] for r in rows]
    assert frame["name_changes"].to_list() == [r["name_changes"] for r in rows]
    for key in ("rows", "rows_changed", "values_changed", "fallback_values", "review_values"):
        assert getattr(summary, key) == getattr(csv_summary, key), key


def test_parquet_replace_and_errors(member_parquet: Path, tmp_path: Path) -> None:
    out = tmp_path / "fixed.parquet"
    scan_mod.normalize_file(member_parquet, out, columns=["name"], replace=True)
    fixed = pl.read_parquet(out)
    assert fixed.columns == ["id", "name", "kana"]
    assert all(mojinorm.is_safe(v) for v in fixed["name"].to_list())
    with pytest.raises(mojinorm.OutputError, match="written as Parquet"):
        scan_mod.normalize_file(member_parquet, tmp_path / "fixed.csv", columns=["name"])
    with pytest.raises(mojinorm.InputError, match="no column 'nope'"):
        scan_mod.scan_file(member_parquet, columns=["nope"])
    damaged = tmp_path / "damaged.parquet"
    damaged.write_bytes(b"PAR1 not really")
    with pytest.raises(mojinorm.InputError, match="not a readable Parquet file"):
        scan_mod.scan_file(damaged)
