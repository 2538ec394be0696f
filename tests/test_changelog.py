"""``normalize --log FILE``: one row per change, the to-do list of ``--fallback error``."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from click.testing import CliRunner

from mojinorm.cli import cli

SPLIT = "被保険者番号,姓,名,セイ,メイ\r\n1,草彅,彅子,ｸｻﾅｷﾞ,ﾂﾖｼ\r\n2,髙橋,\ue000子,ﾀｶﾊｼ,ﾊﾅｺ\r\n" \
        "3,山田,花子,ヤマダ,ハナコ\r\n"


@pytest.fixture
def split_csv(tmp_path: Path) -> Path:
    p = tmp_path / "split.csv"
    p.write_bytes(SPLIT.encode("cp932"))
    return p


def _log(path: Path) -> list[dict[str, str]]:
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")  # UTF-8 with a BOM: spreadsheets read it so
    return list(csv.DictReader(io.StringIO(data[3:].decode("utf-8"), newline="")))


def _run(*args: object) -> tuple[int, str]:
    res = CliRunner().invoke(cli, [str(a) for a in args])
    return res.exit_code, res.output


def test_one_row_per_change_with_the_key_columns(split_csv, tmp_path):
    out, log = tmp_path / "out.csv", tmp_path / "log.csv"
    code, output = _run("normalize", split_csv, "-o", out, "-c", "姓:セイ", "-c", "名:メイ",
                        "--log", log, "--id", "被保険者番号")
    assert code == 0, output
    rows = _log(log)
    got = [(r["line"], r["被保険者番号"], r["column"], r["original"], r["codepoint"],
            r["replacement"], r["rule"], r["review"]) for r in rows]
    assert got == [
        # 彅 has no mapping into JIS X 0208: the fallback, a person must look
        ("2", "1", "姓", "彅", "U+5F45", "〓", "no-mapping", "yes"),
        ("2", "1", "セイ", "ｸｻﾅｷﾞ", "", "クサナギ", "kana-normalized", ""),
        ("2", "1", "名", "彅", "U+5F45", "〓", "no-mapping", "yes"),
        ("2", "1", "メイ", "ﾂﾖｼ", "", "ツヨシ", "kana-normalized", ""),
        # 髙 → 高: JIS X 0208 unifies them (JIS包摂規準), the same character
        ("3", "2", "姓", "髙", "U+9AD9", "高", "jis-unification", ""),
        ("3", "2", "セイ", "ﾀｶﾊｼ", "", "タカハシ", "kana-normalized", ""),
        ("3", "2", "名", "\ue000", "U+E000", "〓", "unmapped-gaiji", "yes"),
        ("3", "2", "メイ", "ﾊﾅｺ", "", "ハナコ", "kana-normalized", ""),
    ]
    assert rows[4]["mj"] == "MJ028902" and "JIS包摂" in rows[4]["source"]
    assert "8 rows in the change log" in output


def test_review_only(split_csv, tmp_path):
    log = tmp_path / "log.csv"
    code, _ = _run("normalize", split_csv, "-o", tmp_path / "out.csv", "-c", "姓", "-c", "名",
                   "--log", log, "--review-only")
    assert code == 0
    assert [(r["line"], r["column"], r["rule"]) for r in _log(log)] == [
        ("2", "姓", "no-mapping"), ("2", "名", "no-mapping"), ("3", "名", "unmapped-gaiji")]


def test_fallback_error_lists_every_value_then_fails(split_csv, tmp_path):
    out, log = tmp_path / "out.csv", tmp_path / "log.csv"
    code, output = _run("normalize", split_csv, "-o", out, "-c", "姓", "-c", "名",
                        "--fallback", "error", "--log", log, "--id", "被保険者番号")
    assert code == 2
    assert output.strip().endswith("3 values cannot be brought into jisx0208 (--fallback "
                                   f"error): every one is listed in {log}; no output was "
                                   "written")
    assert not out.exists()
    assert [(r["line"], r["被保険者番号"], r["column"], r["original"], r["rule"])
            for r in _log(log)] == [("2", "1", "姓", "草彅", "unmappable"),
                                    ("2", "1", "名", "彅子", "unmappable"),
                                    # 髙 maps (jis-unification): a change like any other
                                    ("3", "2", "姓", "髙", "jis-unification"),
                                    ("3", "2", "名", "\ue000子", "unmappable")]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log.csv", "split.csv"]


def test_without_log_fallback_error_stops_at_the_first(split_csv, tmp_path):
    code, output = _run("normalize", split_csv, "-o", tmp_path / "out.csv", "-c", "姓",
                        "--fallback", "error")
    assert code == 2 and "line 2" in output


@pytest.mark.parametrize("args,message", [
    (["--id", "被保険者番号"], "--id and --review-only shape the change log: give --log FILE"),
    (["--review-only"], "give --log FILE"),
    (["--log", "-"], "must be a file of its own"),
    (["--log", "LOG", "--id", "nope"], "no column 'nope'"),
])
def test_log_option_errors(split_csv, tmp_path, args, message):
    args = [str(tmp_path / "log.csv") if a == "LOG" else a for a in args]
    code, output = _run("normalize", split_csv, "-o", tmp_path / "out.csv", "-c", "姓", *args)
    assert code == 2 and message in output
    assert not (tmp_path / "out.csv").exists() and not (tmp_path / "log.csv").exists()


def test_log_may_not_be_the_output(split_csv, tmp_path):
    out = tmp_path / "out.csv"
    code, output = _run("normalize", split_csv, "-o", out, "--log", out)
    assert code == 2 and "must be a file of its own" in output


def test_replace_without_log_warns(split_csv, tmp_path):
    res = CliRunner().invoke(cli, ["normalize", str(split_csv), "-o", str(tmp_path / "o.csv"),
                                   "-c", "姓", "--replace"])
    assert res.exit_code == 0
    assert "warning: --replace without --log keeps the original values nowhere" in res.output
