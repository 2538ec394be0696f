"""``mojinorm match`` and ``mojinorm.reconcile``: pairing two files of names.

The pairs the join finds are checked against a brute-force cross product graded by
``compare`` (the blocking key must not lose a pair that ``compare`` keeps), and every grade and
explanation against ``compare`` / ``compare_kana`` themselves (the polars fast paths must not
say anything else).
"""

from __future__ import annotations

import csv
import io
import random
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from mojinorm import compare, compare_kana
from mojinorm.cli import cli
from mojinorm.reconcile import LINE, _why, match_files, match_frames, read_table

# (left name, right name, expected grade, why that grade is right)
LABELLED = [
    ("髙橋 太郎", "髙橋 太郎", "identical", "the same code points, no mask"),
    ("髙橋 太郎", "髙橋\u3000太郎", "same-characters", "only the kind of space differs"),
    ("髙橋太郎", "高橋太郎", "same-characters",
     "髙/高 is one character under JIS包摂規準 (MJ縮退マップ jis-unification)"),
    ("渡邉 一", "渡邊 一", "variant",
     "邉 and 邊 meet at 邊 through 戸籍統一文字 親字・正字 (koseki-parent): related, not "
     "the same character"),
    ("●橋 太郎", "髙橋 太郎", "masked", "● stands for one character, 1 of 4 positions"),
    ("山﨑 〓子", "山崎 花子", "masked",
     "﨑/崎 are related, 〓 (geta) stands for 花: masked is the weakest position"),
    ("さくら", "サクラ", "variant", "hiragana against katakana: another registration"),
]


def frames(pairs, key="1980-01-02"):
    left = pl.DataFrame({"氏名": [a for a, *_ in pairs], "生年月日": [key] * len(pairs)})
    right = pl.DataFrame({"氏名": [b for _, b, *_ in pairs], "生年月日": [key] * len(pairs)})
    return left, right


@pytest.mark.parametrize(("a", "b", "grade", "why"), LABELLED, ids=[c[0] for c in LABELLED])
def test_labelled_grades(a, b, grade, why):
    out = match_frames(pl.DataFrame({"氏名": [a]}), pl.DataFrame({"氏名": [b]}), name="氏名")
    assert out["status"].to_list() == ["pair"], why
    assert out["grade"].to_list() == [grade], why
    assert out["grade"][0] == compare(a, b).grade


def test_explanation_says_what_made_them_equal():
    out = match_frames(pl.DataFrame({"n": ["●橋 太郎", "渡邉"]}),
                       pl.DataFrame({"n": ["髙橋 太郎", "渡邊"]}), name="n")
    why = dict(zip(out["left_n"], out["why"], strict=True))
    assert why["●橋 太郎"] == "●/髙 mask"  # spaces are not listed
    assert why["渡邉"] == "邉/邊 koseki-parent"


def test_masked_name_meets_every_candidate_and_keys_must_agree():
    # ●橋 meets 髙橋 and 高橋 with the same birth date; 石橋 too (● stands for any
    # character): a person decides.  The row with another date never meets.
    left = pl.DataFrame({"氏名": ["●橋 太郎"], "生年月日": ["1980-01-02"]})
    right = pl.DataFrame({"氏名": ["髙橋 太郎", "高橋 太郎", "石橋 太郎", "髙橋 太郎"],
                          "生年月日": ["1980-01-02", "1980-01-02", "1980-01-02", "1999-09-09"]})
    out = match_frames(left, right, name="氏名", keys=["生年月日"])
    pairs = out.filter(pl.col("status") == "pair")
    assert pairs["right_line"].to_list() == [1, 2, 3]
    assert set(pairs["grade"]) == {"masked"}
    assert out.filter(pl.col("status") == "right-only")["right_line"].to_list() == [4]


def test_too_many_masks_never_pair():
    # compare: masks that stand for more than half of the characters match nobody
    out = match_frames(pl.DataFrame({"n": ["〓〓"]}), pl.DataFrame({"n": ["田中"]}), name="n")
    assert out["status"].to_list() == ["left-only", "right-only"]


def test_both_sides_masked():
    # ●橋太郎 / 髙橋●郎: two masked positions of four (not more than half)
    out = match_frames(pl.DataFrame({"n": ["●橋太郎"]}), pl.DataFrame({"n": ["髙橋●郎"]}),
                       name="n")
    assert out["status"].to_list() == ["pair"]
    assert out["grade"].to_list() == [compare("●橋太郎", "髙橋●郎").grade] == ["masked"]


def test_duplicates_on_either_side_give_one_to_n_pairs():
    left = pl.DataFrame({"n": ["田中 一", "田中 一", "佐藤 二"], "k": ["1", "1", "2"]})
    right = pl.DataFrame({"n": ["田中　一", "佐藤 二", "佐藤 二", "鈴木"],
                          "k": ["1", "2", "2", "3"]})
    out = match_frames(left, right, name="n", keys=["k"])
    pairs = out.filter(pl.col("status") == "pair")
    assert sorted(zip(pairs["left_line"], pairs["right_line"], strict=True)) == \
        [(1, 1), (2, 1), (3, 2), (3, 3)]
    assert out.filter(pl.col("status") == "right-only")["right_line"].to_list() == [4]
    assert out["status"].to_list() == ["pair"] * 4 + ["right-only"]


def test_unpaired_rows_say_why():
    left = pl.DataFrame({"n": ["佐藤 次郎", "", "山田"], "k": ["1", "1", ""]})
    right = pl.DataFrame({"n": ["佐藤 二郎", "山田"], "k": ["1", ""]})
    out = match_frames(left, right, name="n", keys=["k"])
    assert out["status"].to_list() == ["left-only"] * 3 + ["right-only"] * 2
    why = out["why"].to_list()
    assert why[0] == ""  # 次/二 are different characters: the rows never met
    assert why[1] == why[2] == "not paired: empty name or key"  # an empty key never pairs


def test_rejected_candidates_are_named():
    # Two masked names meet when they agree outside both patterns; here the masks of both
    # sides cover all 3 positions, and compare counts 3 masked of 3 (more than half): different,
    # and the left row says which candidate it met and why it was refused.
    out = match_frames(pl.DataFrame({"n": ["●●田"]}), pl.DataFrame({"n": ["山●●"]}), name="n")
    assert out["status"].to_list() == ["left-only", "right-only"]
    assert out["why"][0].startswith("candidates graded different: line 1: masks stand for")


def test_kana_grades():
    left = pl.DataFrame({"n": ["田中 京子"] * 4, "k": ["1", "2", "3", "4"],
                         "kana": ["タナカ キョウコ", "ﾀﾅｶ ｷｮｳｺ", "タナカ キヨウコ",
                                  "タナカ ケイコ"]})
    right = pl.DataFrame({"n": ["田中 京子"] * 4, "k": ["1", "2", "3", "4"],
                          "kana": ["タナカ キョウコ"] * 4})
    out = match_frames(left, right, name="n", kana="kana", keys=["k"])
    # identical; half-width is the same reading; キヨウ for キョウ is an old system's large
    # kana (loose); ケイコ is another reading
    assert out["kana_grade"].to_list() == ["identical", "same-reading", "loose", "different"]
    assert out["kana_why"][2] == "ヨ/ョ small-kana"


def test_different_column_names_and_ids():
    left = pl.DataFrame({"氏名": ["●橋 太郎"], "番号": ["A1"], "誕生日": ["1980-01-02"]})
    right = pl.DataFrame({"漢字氏名": ["髙橋 太郎"], "患者ID": ["P9"], "生年月日": ["1980-01-02"]})
    out = match_frames(left, right, name=("氏名", "漢字氏名"), keys=[("誕生日", "生年月日")],
                       ids=[("番号", "患者ID")])
    assert out.columns == ["status", "left_line", "right_line", "left_番号", "right_患者ID",
                           "誕生日", "left_氏名", "right_漢字氏名", "grade", "why"]
    assert out.row(0) == ("pair", 1, 1, "A1", "P9", "1980-01-02", "●橋 太郎", "髙橋 太郎",
                          "masked", "●/髙 mask")


def test_missing_column_in_frame():
    with pytest.raises(ValueError, match="right: no column '氏名'"):
        match_frames(pl.DataFrame({"氏名": ["a"]}), pl.DataFrame({"名前": ["a"]}), name="氏名")


# ---------------------------------------------------------------------------- differential

# Characters chosen so that random names hit every kind of position compare knows: variants
# (髙/高, 﨑/崎, 邉/邊/辺, 齋/斎/斉, 澤/沢, 塚 U+FA10/塚), masks, both kana scripts and
# half-width, a voiced kana in three spellings, an IVS, a PUA code, an invisible character,
# odd spaces, 〜/～ (one JIS code), and plain kanji that relate to nothing here.
ALPHABET = ["髙", "高", "﨑", "崎", "邉", "邊", "辺", "齋", "斎", "斉", "澤", "沢", "\ufa10",
            "塚", "●", "〓", "さ", "サ", "ｻ", "が", "ガ", "ｶﾞ", "葛\U000e0102", "葛", "\ue000",
            "\u200b", " ", "\u3000", "\u00a0", "〜", "～", "田", "中", "山", "川", "一"]


def random_names(rnd: random.Random, n: int) -> list[str]:
    return ["".join(rnd.choice(ALPHABET) for _ in range(rnd.randint(1, 4))) for _ in range(n)]


@pytest.mark.parametrize("seed", range(12))
def test_join_finds_exactly_the_pairs_compare_keeps(seed):
    rnd = random.Random(seed)
    left = pl.DataFrame({"n": random_names(rnd, 60), "k": [rnd.choice("12") for _ in range(60)],
                         "r": [rnd.choice(["キョウ", "ｷｮｳ", "キヨウ", "きょう", "キ ョウ"])
                               for _ in range(60)]})
    right = pl.DataFrame({"n": random_names(rnd, 60), "k": [rnd.choice("12") for _ in range(60)],
                          "r": [rnd.choice(["キョウ", "キョー", "ｷｮｰ"]) for _ in range(60)]})
    out = match_frames(left, right, name="n", keys=["k"], kana="r")
    found = {(row["left_line"], row["right_line"]): row
             for row in out.filter(pl.col("status") == "pair").iter_rows(named=True)}
    expected = {}
    for i, (a, ka, ra) in enumerate(left.iter_rows(), 1):
        for j, (b, kb, rb) in enumerate(right.iter_rows(), 1):
            if ka != kb or not a.replace(" ", "").replace("\u3000", ""):
                continue  # different keys, or an empty name: never paired
            if not b.replace(" ", "").replace("\u3000", ""):
                continue
            m = compare(a, b)
            if m.grade != "different":
                expected[(i, j)] = (m.grade, _why(m.steps), compare_kana(ra, rb))
    assert set(found) == set(expected)
    for pair, (grade, why, kana) in expected.items():
        row = found[pair]
        assert (row["grade"], row["why"]) == (grade, why), (row["left_n"], row["right_n"])
        assert (row["kana_grade"], row["kana_why"]) == (kana.grade, _why(kana.steps))
    paired_left = {i for i, _ in expected}
    left_only = out.filter(pl.col("status") == "left-only")["left_line"].to_list()
    assert sorted(left_only) == [i for i in range(1, 61) if i not in paired_left]


# ---------------------------------------------------------------------------- files and CLI


RESULTS = ("受給者番号,氏名,カナ,生年月日\n"
           "1001,●橋 太郎,ﾀｶﾊｼ ﾀﾛｳ,1980-01-02\n"
           "1002,山田 花子,ヤマダ ハナコ,1990-05-05\n"
           "1003,\"渡邊, 一\",ワタナベ ハジメ,1970-03-03\n"
           "1004,佐藤 次郎,サトウ ジロウ,1985-01-01\n")
# CP932 with CRLF, Japanese headers, a quoted field with a line break inside
MASTER = ("患者ID,漢字氏名,カナ,生年月日\r\n"
          "P1,髙橋\u3000太郎,タカハシ\u3000タロウ,1980-01-02\r\n"
          "P2,\"山田\u3000花子\",\"ヤマダ\r\nハナコ\",1990-05-05\r\n"
          "P3,\"渡邉, 一\",ワタナベ\u3000ハジメ,1970-03-03\r\n"
          "P4,鈴木\u3000一郎,スズキ\u3000イチロウ,1985-01-01\r\n")


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    results = tmp_path / "results.csv"
    results.write_bytes(b"\xef\xbb\xbf" + RESULTS.encode("utf-8"))
    master = tmp_path / "master.csv"
    master.write_bytes(MASTER.encode("cp932"))
    return results, master


def test_read_table_cp932_crlf_quoted(files):
    _, master = files
    t = read_table(master, ["漢字氏名", "カナ"])
    assert t.encoding == "cp932"
    assert t.frame[LINE].to_list() == [2, 3, 5, 6]  # the record at line 3 spans two lines
    assert t.frame["カナ"][1] == "ヤマダ\r\nハナコ"
    assert t.frame["漢字氏名"][2] == "渡邉, 一"


def test_cli_match(files, tmp_path):
    results, master = files
    out = tmp_path / "pairs.csv"
    r = CliRunner().invoke(cli, ["match", str(results), str(master), "--name", "氏名=漢字氏名",
                                 "--kana", "カナ", "--key", "生年月日",
                                 "--id", "受給者番号=患者ID", "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert "3 pairs (identical 0, same-characters 1, variant 1, masked 1)" in r.stderr
    assert "1 of 4 RESULTS rows and 1 of 4 MASTER rows unpaired" in r.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert [(x["status"], x["left_line"], x["right_line"], x["grade"]) for x in rows] == [
        ("pair", "2", "2", "masked"), ("pair", "3", "3", "same-characters"),
        ("pair", "4", "5", "variant"), ("left-only", "5", "", ""), ("right-only", "", "6", "")]
    assert rows[0]["left_受給者番号"] == "1001" and rows[0]["right_患者ID"] == "P1"
    assert rows[0]["why"] == "●/髙 mask" and rows[0]["kana_grade"] == "same-reading"
    # the reading with a line break inside is still the same reading (whitespace)
    assert rows[1]["kana_grade"] == "same-reading"


def test_match_files_api(files, tmp_path):
    results, master = files
    s = match_files(results, master, str(tmp_path / "o.csv"), name=("氏名", "漢字氏名"),
                    keys=["生年月日"])
    assert (s.pairs, s.left_only, s.right_only) == (3, 1, 1)
    assert s.grades == {"masked": 1, "same-characters": 1, "variant": 1}
    assert s.right_encoding == "cp932"


@pytest.mark.parametrize("args, message", [
    (["--name", "名前"], "no column '名前'"),
    (["--name", "氏名=漢字氏名", "--key", "誕生日"], "no column '誕生日'"),
    (["--name", "氏名=漢字氏名", "--kana", "=カナ"], "give COLUMN or LEFT=RIGHT"),
])
def test_cli_bad_columns_one_line_no_output(files, tmp_path, args, message):
    results, master = files
    out = tmp_path / "pairs.csv"
    r = CliRunner().invoke(cli, ["match", str(results), str(master), *args, "-o", str(out)])
    assert r.exit_code == 2
    assert message in r.stderr
    assert "Traceback" not in r.output and "Traceback" not in r.stderr
    if "give COLUMN" not in message:
        assert r.stderr.startswith("mojinorm: error: ") and r.stderr.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["master.csv", "results.csv"]


def test_cli_refuses_to_write_over_an_input(files):
    results, master = files
    before = master.read_bytes()
    r = CliRunner().invoke(cli, ["match", str(results), str(master), "--name", "1",
                                 "-o", str(master)])
    assert r.exit_code == 2 and "is an input file" in r.stderr
    assert master.read_bytes() == before


def test_cli_undecodable_input_is_one_line(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"name\n\xff\xfe\xfa\n")
    ok = tmp_path / "ok.csv"
    ok.write_text("name\n田中\n", encoding="utf-8")
    out = tmp_path / "o.csv"
    r = CliRunner().invoke(cli, ["match", str(bad), str(ok), "--name", "name", "-o", str(out),
                                 "--encoding", "utf-8"])
    assert r.exit_code == 2 and r.stderr.startswith("mojinorm: error: ")
    assert r.stderr.count("\n") == 1 and not out.exists()


def test_cli_columns_by_number_keep_their_header_names(files, tmp_path):
    results, master = files
    out = tmp_path / "pairs.csv"
    r = CliRunner().invoke(cli, ["match", str(results), str(master), "--name", "2",
                                 "--key", "4", "-o", str(out)])
    assert r.exit_code == 0, r.output
    header = out.read_text(encoding="utf-8").splitlines()[0]
    assert header == "status,left_line,right_line,生年月日,left_氏名,right_漢字氏名,grade,why"


def test_cli_missing_file_is_one_line(files, tmp_path):
    _, master = files
    r = CliRunner().invoke(cli, ["match", str(tmp_path / "nope.csv"), str(master),
                                 "--name", "1", "-o", str(tmp_path / "o.csv")])
    assert r.exit_code == 2
    assert r.stderr == f"mojinorm: error: {tmp_path / 'nope.csv'}: no such file\n"


def test_a_column_called_line_is_a_column_like_any_other(tmp_path):
    # the line numbers live in a column no header can be named: "line" is the user's
    left = tmp_path / "l.csv"
    right = tmp_path / "r.csv"
    left.write_text("line,氏名\nA,髙橋太郎\n", encoding="utf-8")
    right.write_text("line,氏名\nB,高橋太郎\n", encoding="utf-8")
    out = tmp_path / "pairs.csv"
    res = CliRunner().invoke(cli, ["match", str(left), str(right), "--name", "氏名",
                                   "--id", "line", "-o", str(out), "-q"])
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    assert [(r["status"], r["left_line"], r["right_line"], r["grade"]) for r in rows] == [
        ("pair", "2", "2", "same-characters")]
    assert (rows[0]["left_line"], rows[0]["right_line"]) == ("2", "2")
