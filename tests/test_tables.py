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
    # DOMAIN: 58,862 MJ ids, 11,384 Moji_Joho IVS, 62,682 MJ縮退マップ rows, 851 NTA kanji.
    assert m["rows"]["mj"] == 58862
    assert m["rows"]["mj_ivs"] == 11384
    assert m["rows"]["shrink"] == 62682
    assert m["rows"]["nta"] == 851
    assert m["rows"]["shrink_by_rule"]["jis-unification"] == 14515


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
