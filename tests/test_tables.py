"""Compiled tables: provenance, integrity, lookup (foundation issue)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import mojinorm
from mojinorm import _tables

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "src" / "mojinorm" / "_data"



def test_manifest_records_sources_and_counts():
    m = _tables.manifest()
    names = {s["name"]: s for s in m["sources"]}
    assert names["@mandel59/mojidata"]["version"] == "1.8.1"
    assert names["@mandel59/mojidata"]["integrity"].startswith("sha512-OLA5LEmPHuVb")
    assert names["jntajis-python"]["version"] == "0.1.0"
    # Dataset versions as mojidata's download.txt lists them.
    assert names["@mandel59/mojidata"]["datasets"]["MJ文字情報一覧表"] == "006.02"
    assert names["@mandel59/mojidata"]["datasets"]["MJ縮退マップ"] == "1.2.0"
    assert names["@mandel59/mojidata"]["datasets"]["IVD"] == "2022-09-13"
    # DOMAIN: 58,862 MJ ids, 11,384 Moji_Joho IVS, 62,682 MJ縮退マップ rows.
    assert m["rows"]["mj"] == 58862
    assert m["rows"]["mj_ivs"] == 11384
    assert m["rows"]["shrink"] == 62682
    assert m["rows"]["shrink_by_rule"]["jis-unification"] == 14515
    # 国税庁 JIS縮退マップ as jntajis 0.1.0 yields it: 1,061 replaced code points, 3 of them
    # (combining tildes -> U+FF5E, which shift_jis does not encode) outside JIS X 0208.
    assert m["rows"]["nta"] == 1058
    assert m["rows"]["nta_by_kind"] == {
        "total": 1058, "kanji": 851, "non_kanji": 207, "multi_character": 79,
        "excluded_outside_jisx0208": 3,
    }
    # DOMAIN: joyo_kangxi 364, kdpv_jinmei1/variant 18 + kdpv_jinmei2/variant 212,
    # kdpv_hyogai/variant 22; each pair is stored in both directions.
    by_list = m["rows"]["same_jisyu_by_list"]
    assert {k: v["pairs"] for k, v in by_list.items()} == {
        "joyo-kangxi": 364, "jinmei-itaiji": 230, "hyogai-itaiji": 22,
    }
    assert by_list["jinmei-itaiji"]["source_rows"] == {
        "kdpv_jinmei1/variant": 18, "kdpv_jinmei2/variant": 212,
    }
    assert m["rows"]["same_jisyu"] == 2 * (364 + 230 + 22)


def test_every_compiled_file_matches_its_hash():
    for name in _tables.manifest()["files"]:
        _tables._read(name)  # raises DataIntegrityError on mismatch


def test_tampered_table_is_detected(monkeypatch):
    real = _tables._raw

    def tampered(name):
        data = real(name)
        return data + b"x" if name == "nta.tsv" else data

    monkeypatch.setattr(_tables, "_raw", tampered)
    with pytest.raises(mojinorm.DataIntegrityError, match="nta.tsv does not match"):
        _tables._read("nta.tsv")


def test_import_reads_no_table():
    code = ("import mojinorm, mojinorm._tables as t; "
            "print(t.mj_records.cache_info().currsize, t.target_data.cache_info().currsize)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["0", "0"]


def test_lookup_by_character_and_codes():
    info = mojinorm.lookup("𠮷")
    assert info.mj == ("MJ032129",)
    assert info.code_points == ("U+20BB7",)
    assert info.juki == ("J+AEAC",)
    assert info.koseki == ("038140",)
    # The same glyph from its 住基ネット統一文字コード, MJ id, 戸籍統一文字番号 and code point.
    for query in ("J+AEAC", "j+aeac", "MJ032129", "038140", "U+20BB7"):
        assert mojinorm.lookup(query).mj == ("MJ032129",), query
    assert {(s.char, s.rule) for s in info.shrink} >= {("吉", "jis-unification")}


def test_lookup_shrink_targets_carry_category_and_membership():
    info = mojinorm.lookup("髙")
    by_rule = {s.rule: s for s in info.shrink}
    # MJ縮退マップ: 髙 (MJ028902) -> 高 by JIS包摂規準 and by 戸籍 parent (1 hop).
    assert by_rule["jis-unification"].char == "高"
    assert by_rule["koseki-parent"].hops == 1
    assert by_rule["koseki-parent"].in_jisx0208
    # NTA map: 﨔 -> 欅 (JIS X 0213 level 3 -> 0208).
    assert ("欅", "nta-jis-shrink") in {(s.char, s.rule) for s in mojinorm.lookup("﨔").shrink}


def test_bare_code_point_with_several_glyphs_is_ambiguous():
    # DOMAIN: 德 matches MJ011356 (its own code point) and MJ011357 (reached by IVS only).
    info = mojinorm.lookup("德")
    assert info.mj == ("MJ011356", "MJ011357")
    assert info.ambiguous
    assert not mojinorm.lookup("髙").ambiguous


@pytest.mark.parametrize("query", ["MJ999999", "J+0000", "999999", "U+110000", "ab", ""])
def test_lookup_rejects_codes_that_name_nothing(query):
    with pytest.raises(ValueError):
        mojinorm.lookup(query)


def test_overrides_compiled_from_reviewed_yaml(build_tables):
    # The committed overrides.json must be exactly what build_tables compiles from the YAML.
    assert build_tables.compile_overrides() == (DATA / "overrides.json").read_text(encoding="utf-8")
    for entry in json.loads((DATA / "overrides.json").read_text(encoding="utf-8"))["overrides"]:
        assert len(entry["reason"]) > 40, entry["char"]


@pytest.mark.skipif(shutil.which("npm") is None, reason="npm not available")
@pytest.mark.slow
def test_build_tables_check():
    # Rebuilds every table from the pinned sources and compares byte for byte; prints SKIP and
    # passes when the registries cannot be reached.
    out = subprocess.run([sys.executable, str(REPO / "tools" / "build_tables.py"), "--check"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "OK" in out.stdout or "SKIP" in out.stdout


def test_point_queries_agree_with_full_indexes():
    # The binary searches over the sorted tables must find exactly what the full indexes hold.
    by_char = _tables.mj_by_char()
    assert all(_tables.mj_ids_for_char(ch) == ids for ch, ids in by_char.items())
    assert all(_tables.mj_id_for_ivs(ivs) == mj for ivs, mj in _tables.mj_by_ivs().items())
    smap = _tables.shrink_map()
    assert all(_tables.shrink_for_mj(mj) == rows for mj, rows in smap.items())
    # Keys that are absent, or sort before/after every row, find nothing.
    for missing in ("a", "\x00", "\U0010ffff", "\ud800", "MJ000000", "MJ999999"):
        assert _tables.mj_ids_for_char(missing) == ()
        assert _tables.shrink_for_mj(missing) == ()
        assert _tables.mj_id_for_ivs(missing) is None


def test_nta_map_keeps_every_row_that_reaches_jisx0208():
    nta = _tables.nta_map()
    assert len(nta) == _tables.manifest()["rows"]["nta"]
    # Kanji (JIS X 0213 level 3/4 -> 0208), as before.
    assert nta["﨔"] == "欅" and nta["﨑"] == "崎" and nta["棃"] == "梨"
    # Non-kanji rows, single and several characters.
    assert nta["\u00b7"] == "・"  # MIDDLE DOT
    assert nta["ゕ"] == "ヵ" and nta["ゖ"] == "ヶ"
    assert nta["ㇷ"] == "フ"  # a character that may start a sequence (ㇷ゚) is still read
    assert nta["①"] == "１" and nta["⑩"] == "１０" and nta["№"] == "Ｎｏ．"
    assert nta["Ⅻ"] == "ＸＩＩ"
    # Every replacement is entirely in JIS X 0208; no source is.
    for src, dst in nta.items():
        dst.encode("shift_jis")
        assert len(src) == 1
        with pytest.raises(UnicodeEncodeError):
            src.encode("shift_jis")
    assert sum(len(dst) > 1 for dst in nta.values()) == 79
    # U+0303 etc. map to U+FF5E, which shift_jis does not encode: left out.
    assert "\u0303" not in nta


def test_nta_point_query_agrees_with_full_map():
    nta = _tables.nta_map()
    assert all(_tables.nta_for(ch) == dst for ch, dst in nta.items())
    for missing in ("a", "\x00", "\U0010ffff", "\ud800", "高", "崎"):
        assert _tables.nta_for(missing) is None


@pytest.mark.parametrize("name", ["nta.tsv", "same_jisyu.tsv", "mj_chars.tsv", "mj_ivs.tsv",
                                  "shrink.tsv"])
def test_point_query_tables_are_sorted_by_utf8_bytes(name):
    keys = [line.split(b"\t", 1)[0] for line in (DATA / name).read_bytes().split(b"\n")[1:-1]]
    assert keys == sorted(keys)  # what the binary search in _tables._lines_for relies on



@pytest.mark.parametrize("target", ["jisx0208", "cp932", "jisx0213", "mj"])
def test_compiled_decisions_found_by_binary_search_are_the_table_rows(target):
    # _tables.Resolved answers by bisection over the sorted lines: every row must be found,
    # and nothing else (a unit that only begins a longer unit, as 葛 begins 葛+U+E0102).
    lines = (DATA / f"resolved_{target}.tsv").read_text(encoding="utf-8").split("\n")[1:-1]
    rows = dict(line.split("\t", 1) for line in lines)
    table = _tables.resolved(target)
    assert len(table) == len(rows) and list(table) == list(rows)
    assert all(table.get(unit) == row for unit, row in rows.items())
    starts = {unit[0] for unit in rows if len(unit) > 1} - set(rows)
    for missing in [*sorted(starts)[:200], "a", "\x00", "\U0010ffff", "\ud800", ""]:
        assert table.get(missing) is None and missing not in table
        with pytest.raises(KeyError):
            table[missing]

# Official same-字種 lists (mojidata joyo_kangxi, kdpv_jinmei1/2/variant, kdpv_hyogai/variant).
SAME_JISYU_EXAMPLES = [
    # 人名用漢字表 異体字
    ("桧", "檜", "jinmei-itaiji"),
    ("凛", "凜", "jinmei-itaiji"),
    ("遥", "遙", "jinmei-itaiji"),
    ("亘", "亙", "jinmei-itaiji"),
    ("巌", "巖", "jinmei-itaiji"),
    ("晃", "晄", "jinmei-itaiji"),
    ("槇", "槙", "jinmei-itaiji"),
    ("穣", "穰", "jinmei-itaiji"),
    # 常用漢字表 康熙字典体
    ("麺", "麵", "joyo-kangxi"),
    # 表外漢字字体表 (印刷標準字体 麵, 簡易慣用字体 麺)
    ("麺", "麵", "hyogai-itaiji"),
]


@pytest.mark.parametrize(("a", "b", "list_id"), SAME_JISYU_EXAMPLES)
def test_same_jisyu_pairs_hold_in_both_directions(a, b, list_id):
    table = _tables.same_jisyu()
    assert (b, list_id) in table[a]
    assert (a, list_id) in table[b]
    assert (b, list_id) in _tables.same_jisyu_for(a)
    assert (a, list_id) in _tables.same_jisyu_for(b)


def test_same_jisyu_table_is_symmetric_and_uses_schema_list_ids():
    from mojinorm import _schema

    table = _tables.same_jisyu()
    rows = {(c, o, lid) for c, pairs in table.items() for o, lid in pairs}
    assert len(rows) == _tables.manifest()["rows"]["same_jisyu"]
    assert all((o, c, lid) in rows for c, o, lid in rows)
    assert {lid for _, _, lid in rows} == set(_schema.SAME_JISYU_LISTS)
    assert all(c != o and len(c) == len(o) == 1 for c, o, _ in rows)


def test_same_jisyu_point_query_agrees_with_full_table():
    table = _tables.same_jisyu()
    assert all(_tables.same_jisyu_for(ch) == pairs for ch, pairs in table.items())
    for missing in ("a", "\x00", "\U0010ffff", "\ud800", "高"):
        assert _tables.same_jisyu_for(missing) == ()
