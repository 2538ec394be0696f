"""Readings belong to their own name column: ``-c 姓:セイ -c 名:メイ``.

A reading written into another column's name is a different person's name, so fallback
``kana`` needs every name column paired with its reading, and each value can only receive the
reading of its own row and its own pair.  Reading columns are normalized too
(``R_normalized``, ``normalize_kana``).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mojinorm
from mojinorm import records
from mojinorm.cli import cli

SPLIT = "被保険者番号,姓,名,セイ,メイ,生年月日\r\n1,草彅,彅子,ｸｻﾅｷﾞ,ﾂﾖｼ,1970-01-01\r\n" \
        "2,山田,\ue000子,ﾔﾏﾀﾞ,ﾊﾅｺ,1980-02-02\r\n"


@pytest.fixture
def split_csv(tmp_path: Path) -> Path:
    p = tmp_path / "split.csv"
    p.write_bytes(SPLIT.encode("cp932"))
    return p


def _rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_bytes().decode("cp932"), newline="")))


def test_each_name_takes_its_own_reading(split_csv, tmp_path):
    out = tmp_path / "out.csv"
    res = CliRunner().invoke(cli, ["normalize", str(split_csv), "-o", str(out), "-c", "姓:セイ",
                                   "-c", "名:メイ", "--fallback", "kana", "-q"])
    assert res.exit_code == 0, res.output
    rows = _rows(out)
    # 彅 is outside JIS X 0208 with no mapping: the fallback writes the row's own reading of
    # that very column, ﾂﾖｼ for 名 (never ｸｻﾅｷﾞ, the surname's)
    assert [r["名_normalized"] for r in rows] == ["ツヨシ", "ハナコ"]
    assert [r["姓_normalized"] for r in rows] == ["クサナギ", "山田"]
    assert rows[0]["名_changes"] == "彅子→ツヨシ fallback-kana"
    # the readings themselves: half-width to full-width (normalize_kana)
    assert [r["セイ_normalized"] for r in rows] == ["クサナギ", "ヤマダ"]
    assert rows[1]["メイ_changes"] == "ﾊﾅｺ→ハナコ kana-normalized"
    assert list(rows[0])[6:] == ["姓_normalized", "姓_changes", "セイ_normalized", "セイ_changes",
                                 "名_normalized", "名_changes", "メイ_normalized", "メイ_changes"]


@pytest.mark.parametrize("args", [
    ["-c", "姓", "-c", "名", "-k", "セイ"],  # one reading for two names: whose?
    ["-c", "姓", "-c", "名", "-k", "セイ", "-k", "メイ"],  # which goes with which?
    ["-c", "姓:セイ", "-c", "名"],  # 名 has none
    ["-k", "セイ"],  # every other column is a name column: the ID and the date have none
])
def test_fallback_kana_without_a_paired_reading_is_refused(split_csv, tmp_path, args):
    out = tmp_path / "out.csv"
    res = CliRunner().invoke(cli, ["normalize", str(split_csv), "-o", str(out), *args,
                                   "--fallback", "kana"])
    assert res.exit_code == 2
    assert "--fallback kana writes a name's own reading, so every name column needs its " \
           "reading column paired" in res.output
    assert not out.exists()


def test_one_name_and_one_reading_pair_up(split_csv, tmp_path):
    out = tmp_path / "out.csv"
    res = CliRunner().invoke(cli, ["normalize", str(split_csv), "-o", str(out), "-c", "名",
                                   "-k", "メイ", "--fallback", "kana", "-q"])
    assert res.exit_code == 0, res.output
    assert [r["名_normalized"] for r in _rows(out)] == ["ツヨシ", "ハナコ"]


def test_a_reading_column_alone_is_normalized(split_csv, tmp_path):
    out = tmp_path / "out.csv"
    res = CliRunner().invoke(cli, ["normalize", str(split_csv), "-o", str(out), "-c", "姓",
                                   "-k", "セイ", "--kana-script", "hiragana"])
    assert res.exit_code == 0, res.output
    assert "2 readings normalized" in res.output
    assert [r["セイ_normalized"] for r in _rows(out)] == ["くさなぎ", "やまだ"]


def test_a_header_with_a_colon_is_a_column(tmp_path):
    p = tmp_path / "in.csv"
    p.write_text("id,氏名:漢字,カナ\n1,髙橋,ﾀｶﾊｼ\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    res = CliRunner().invoke(cli, ["normalize", str(p), "-o", str(out), "-c", "氏名:漢字", "-q"])
    assert res.exit_code == 0, res.output
    assert out.read_text(encoding="utf-8").splitlines()[1].endswith(",高橋,髙→高 jis-unification")


@pytest.mark.parametrize("spec,message", [
    ("姓:姓", "column '姓' cannot be its own reading"),
    ("姓:カナ", "no column 'カナ'"),
])
def test_bad_pairs(split_csv, tmp_path, spec, message):
    res = CliRunner().invoke(cli, ["normalize", str(split_csv), "-o", str(tmp_path / "o.csv"),
                                   "-c", spec])
    assert res.exit_code == 2 and message in res.output


_NAME = st.sampled_from(["\ue000", "彅", "髙", "山", "\ue001子"])
_READING = st.sampled_from(["ｱ", "ｲ", "ｳ", "ｴ", "ｵ", "ｶﾞ", "ｷ"])


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(width=st.integers(min_value=1, max_value=4), data=st.data(), fast=st.booleans())
def test_no_value_ever_receives_another_columns_reading(tmp_path_factory, monkeypatch, width,
                                                        data, fast):
    """Every fallback value is the normalized reading of its own row's own pair."""
    rows = data.draw(st.lists(st.tuples(*[_NAME] * width, *[_READING] * width), min_size=1,
                              max_size=6))
    header = [f"n{j}" for j in range(width)] + [f"r{j}" for j in range(width)]
    text = ",".join(header) + "\n" + "".join(",".join(r) + "\n" for r in rows)
    tmp = tmp_path_factory.mktemp("pairs")
    src, out = tmp / "in.csv", tmp / "out.csv"
    src.write_text(text, encoding="utf-8")
    monkeypatch.setattr(records, "FAST_PATH", fast)
    mojinorm.normalize_file(src, out, columns=[f"n{j}:r{j}" for j in range(width)],
                            fallback="kana")
    got = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"), newline="")))
    for row, written in zip(rows, got, strict=True):
        for j in range(width):
            name, reading = row[j], row[width + j]
            own = mojinorm.normalize(name, fallback="kana", reading=reading)
            assert written[f"n{j}_normalized"] == own
            if not mojinorm.is_safe(name) and own != mojinorm.normalize(name):
                assert own == mojinorm.normalize_kana(reading)
            assert written[f"r{j}_normalized"] == mojinorm.normalize_kana(reading)


def test_parquet_pairs_names_and_readings_the_same_way(tmp_path):
    import polars as pl

    src, out = tmp_path / "in.parquet", tmp_path / "out.parquet"
    pl.DataFrame({"姓": ["草彅"], "名": ["彅子"], "セイ": ["ｸｻﾅｷﾞ"], "メイ": ["ﾂﾖｼ"]}) \
        .write_parquet(src)
    mojinorm.normalize_file(src, out, columns=["姓:セイ", "名:メイ"], fallback="kana")
    got = pl.read_parquet(out).row(0, named=True)
    assert (got["姓_normalized"], got["名_normalized"]) == ("クサナギ", "ツヨシ")
    assert got["メイ_normalized"] == "ツヨシ"
    with pytest.raises(mojinorm.InputError, match="no reading for '名'"):
        mojinorm.normalize_file(src, tmp_path / "o2.parquet", columns=["姓:セイ", "名"],
                                fallback="kana")


@pytest.mark.parametrize("fast", [True, False])
def test_a_reading_that_becomes_a_formula_is_guarded_once(tmp_path, monkeypatch, fast):
    # a form feed kept "=" from being a formula; normalize_kana strips it (whitespace), so
    # the value is guarded, and the guard is said once, on both readers
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    src.write_text("id,name,kana\n1,髙橋,\x0c=\n", encoding="utf-8")
    monkeypatch.setattr(records, "FAST_PATH", fast)
    mojinorm.normalize_file(src, out, columns=["name"], kana_column="kana")
    assert out.read_text(encoding="utf-8").split("\n")[1] == \
        "1,髙橋,\x0c=,高橋,髙→高 jis-unification,'=,<U+000C>=→= kana-normalized; " \
        "=→'= formula-guarded"


def test_kana_script_without_a_reading_is_an_error(split_csv, tmp_path):
    # an option that would change nothing in this run is refused, never silently ignored
    res = CliRunner().invoke(cli, ["normalize", str(split_csv), "-o", str(tmp_path / "o.csv"),
                                   "-c", "姓", "--kana-script", "hiragana"])
    assert res.exit_code == 2
    assert "--kana-script hiragana has no effect without a reading column" in res.output
