"""One schema for the table generator and the loader (mojinorm._schema)."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

import mojinorm
from mojinorm import _schema, _tables, rules

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "src" / "mojinorm" / "_data"


def test_generator_writes_exactly_the_schema_files(build_tables):
    assert list(build_tables.COMPILED) == list(_schema.COMPILED_FILES)
    assert set(_tables.manifest()["files"]) == set(_schema.COMPILED_FILES) - {"MANIFEST.json"}
    assert [name for _, name in build_tables.MJ_COLUMNS] == list(_schema.MJ.columns)
    assert set(build_tables.SAME_JISYU_SOURCES) == set(_schema.SAME_JISYU_LISTS)


@pytest.mark.parametrize("table", list(_schema.TSV_TABLES.values()), ids=lambda t: t.file)
def test_committed_headers_match_the_schema(table):
    first = (DATA / table.file).read_bytes().split(b"\n", 1)[0].decode("utf-8")
    assert first == table.header


def test_record_types_follow_the_schema():
    assert _tables.MJRecord._fields == _schema.MJ.columns
    assert _tables.ShrinkEntry._fields == _schema.SHRINK.columns


def test_shrink_rule_ids_are_defined_once():
    # The rule ids in shrink.tsv are the schema's; every one is a ranked variant rule.
    assert set(_tables.manifest()["rows"]["shrink_by_rule"]) == set(_schema.SHRINK_RULE_IDS)
    assert set(_schema.SHRINK_RULE_IDS) <= set(rules.RANKING)
    assert {e.rule for rows in _tables.shrink_map().values() for e in rows} == set(
        _schema.SHRINK_RULE_IDS)


def _with_header(monkeypatch, name: str, new_header: bytes) -> None:
    """Serve ``name`` with another header line and a manifest hash that matches it, as tables
    from another build would look."""
    real_raw, real_manifest = _tables._raw, _tables.manifest()
    body = real_raw(name).split(b"\n", 1)[1]
    data = new_header + b"\n" + body
    files = dict(real_manifest["files"], **{name: hashlib.sha256(data).hexdigest()})
    patched = dict(real_manifest, files=files)
    monkeypatch.setattr(_tables, "_raw", lambda n: data if n == name else real_raw(n))
    monkeypatch.setattr(_tables, "manifest", lambda: patched)


@pytest.mark.parametrize("table", list(_schema.TSV_TABLES.values()), ids=lambda t: t.file)
def test_header_mismatch_is_a_data_integrity_error(monkeypatch, table):
    found = "\t".join(table.columns[:-1] + ("renamed",))
    _with_header(monkeypatch, table.file, found.encode("utf-8"))
    with pytest.raises(mojinorm.DataIntegrityError) as info:
        _tables._verified(table.file)
    message = str(info.value)
    assert table.file in message
    assert repr(table.header) in message and repr(found) in message


def test_header_is_checked_on_first_load(monkeypatch):
    _with_header(monkeypatch, "same_jisyu.tsv", b"char\tvariant\tlist")
    monkeypatch.setattr(_tables, "_full", {})  # no index built by earlier tests
    for fn in (_tables._bytes, _tables._text, _tables.same_jisyu, _tables.same_jisyu_for):
        fn.cache_clear()
    try:
        with pytest.raises(mojinorm.DataIntegrityError,
                           match=re.escape("'char\\tother\\tlist_id'")):
            _tables.same_jisyu_for("麺")
        with pytest.raises(mojinorm.DataIntegrityError, match="same_jisyu.tsv has header"):
            _tables.same_jisyu()
    finally:
        monkeypatch.undo()
        for fn in (_tables._bytes, _tables._text, _tables.same_jisyu, _tables.same_jisyu_for):
            fn.cache_clear()
    assert ("麵", "joyo-kangxi") in _tables.same_jisyu_for("麺")


def test_rule_sources_take_versions_from_the_manifest(monkeypatch):
    src = rules.RULE_SOURCES
    assert "MJ縮退マップ 1.2.0" in src["jis-unification"]
    assert "MJ文字情報一覧表 006.02" in src["jis-unification"]
    assert "mojidata 1.8.1" in src["koseki-parent"]
    assert "JIS包摂規準" in src["jis-unification"]
    assert "jntajis-python 0.1.0" in src["nta-jis-shrink"]
    assert "人名用漢字表 異体字" in src["same-jisyu-list"]
    assert src.get("no-such-rule", "fallback") == "fallback"
    assert all(rule in src for rule in rules.RANKING)
    # No version is typed into rules.py: another manifest gives other strings.
    text = (REPO / "src" / "mojinorm" / "rules.py").read_text(encoding="utf-8")
    for version in ("1.8.1", "1.2.0", "006.02", "0.1.0"):
        assert version not in text
    m = _tables.manifest()
    sources = [dict(s) for s in m["sources"]]
    for s in sources:
        if s["name"] == _schema.SOURCE_MOJIDATA:
            s["datasets"] = dict(s["datasets"], **{_schema.DATASET_MJSM: "9.9.9"})
    monkeypatch.setattr(_tables, "manifest", lambda: dict(m, sources=sources))
    assert "MJ縮退マップ 9.9.9" in rules._RuleSources()["jis-unification"]


def test_missing_source_version_is_a_data_integrity_error(monkeypatch):
    m = _tables.manifest()
    monkeypatch.setattr(_tables, "manifest", lambda: dict(m, sources=[]))
    with pytest.raises(mojinorm.DataIntegrityError, match="no version of jntajis-python"):
        _tables.source_version(_schema.SOURCE_JNTAJIS)


def test_importing_rules_reads_no_table():
    code = ("import mojinorm.rules as r, mojinorm._tables as t; "
            "print(t.manifest.cache_info().currsize, r.RULE_SOURCES._built is None)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["0", "True"]


def test_new_rules_are_documented():
    # "ambiguous" is an outcome (a step), "same-jisyu-list" a variant rule (ranked after the
    # 国税庁 map: the official lists decide where no table row does, e.g. 凜 -> 凛 in
    # jisx0208-1983).
    assert "ambiguous" in rules.STEP_RULES and "ambiguous" not in rules.RANKING
    assert "same-jisyu-list" in rules.RANKING and "same-jisyu-list" not in rules.STEP_RULES
    assert rules.RANKING.index("same-jisyu-list") == rules.RANKING.index("nta-jis-shrink") + 1
    assert "ambiguous" in rules.RULE_SOURCES and "same-jisyu-list" in rules.RULE_SOURCES
