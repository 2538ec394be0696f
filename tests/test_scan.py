"""mojinorm.scan / mojinorm.csvio: counts, streaming, encodings, parallel == serial."""

from __future__ import annotations

import copy
import csv
import io
import itertools
import json
import pickle
import re
import sys
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mojinorm
from mojinorm import csvio
from mojinorm.csvio import InputError, RecordParser, UnclosedQuote
from mojinorm.scan import INVISIBLE_RULES, LOSSLESS_RULES, normalize_file, scan_file

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "samples" / "names.csv"
SAMPLE_GAIJI = ROOT / "data" / "samples" / "gaiji.yaml"
sys.path.insert(0, str(ROOT / "tools"))
import make_sample  # noqa: E402

# A small member file whose numbers are derived by hand (target jisx0208, no gaiji table):
#   row 1  髙橋　太郎     髙 U+9AD9 is not in JIS X 0208 -> unsafe; 髙→高 jis-unification:
#                         fixable, lossless (same character)
#   row 2  山田　花子     all in JIS X 0208 -> safe
#   row 3  山﨑　次郎     﨑 U+FA11 not in 0208 -> unsafe; 﨑→崎 koseki-parent: fixable,
#                         substitution (another character)
#   row 4  草彅　剛       彅 has no mapping into 0208 -> unsafe, needs the fallback
#   row 5  齋藤　一       齋 is in JIS X 0208 (old form) -> safe, unchanged
#   row 6  <U+E000>田     private-use gaiji, no table -> unsafe, fallback (unmapped-gaiji)
#   row 7  葛<IVS>西      葛+U+E0102 (MJ022335) -> unsafe; jis-unification: lossless
#   row 8  田中<TAB>太郎  TAB is inside Shift_JIS: safe, but invisible
#   row 9  鈴木<ZWSP>一   U+200B is outside the target -> unsafe (and invisible); removing it
#                         is lossless
#   row 10 佐藤　一,ｻﾄｳ,x  4 fields: ragged; 佐藤 is safe; half-width kana are in JIS X 0201
#   blank line           not a row
# => rows 10, unsafe 6 (1,3,4,6,7,9), fallback 2 (4,6), fixable 4 (1,3,7,9),
#    lossless 3 (1,7,9), substituted 1 (3), invisible 2 (8,9), ragged 1 (10).
HANDMADE = [
    ("1", "髙橋\u3000太郎", "タカハシ\u3000タロウ"),
    ("2", "山田\u3000花子", "ヤマダ\u3000ハナコ"),
    ("3", "山﨑\u3000次郎", "ヤマサキ\u3000ジロウ"),
    ("4", "草彅\u3000剛", "クサナギ\u3000ツヨシ"),
    ("5", "齋藤\u3000一", "サイトウ\u3000ハジメ"),
    ("6", "\ue000田", "ヨシダ"),
    ("7", "葛\U000e0102西", "カサイ"),
    ("8", "田中\t太郎", "タナカ\u3000タロウ"),
    ("9", "鈴木\u200b一", "スズキ\u3000ハジメ"),
]
EXPECTED = {
    "rows": 10, "unsafe_rows": 6, "fixable_rows": 4, "lossless_rows": 3,
    "substituted_rows": 1, "fallback_rows": 2, "invisible_rows": 2, "ragged_rows": 1,
    "blank_lines": 1,
}


def handmade_text(eol: str = "\n", encodable_only: str | None = None) -> str:
    lines = ["id,name,kana"]
    for row in HANDMADE:
        lines.append(",".join(row))
    lines.append("")  # a blank line
    lines.append("10,佐藤\u3000一,ｻﾄｳ,x")
    return eol.join(lines) + eol


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def counts(report) -> dict:
    d = report.to_dict()
    return {k: d[k] for k in EXPECTED}


# ---------------------------------------------------------------------------- counts


def test_handmade_counts(tmp_path):
    r = scan_file(write(tmp_path / "m.csv", handmade_text()))
    assert counts(r) == EXPECTED
    assert r.encoding == "utf-8"
    # changed: the 7 values normalize rewrites, the unsafe ones and the TAB of row 8
    assert r.columns["name"] == {"values": 10, "unsafe": 6, "fallback": 2, "invisible": 2,
                                 "changed": 7, "lossless": 3, "substituted": 1, "review": 2}
    # rows 4 and 6 need the fallback: lines 5 and 7 (the header is line 1)
    assert [(e.line, e.columns, e.chars) for e in r.review_examples] == [
        (5, ("name",), ("彅",)), (7, ("name",), ("\ue000",))]
    assert r.columns["kana"]["unsafe"] == 0
    chars = {c.char: c for c in r.chars}
    assert chars["髙"].replacement == "高" and chars["髙"].rule == "jis-unification"
    assert chars["﨑"].replacement == "崎"
    assert chars["彅"].fallback and chars["彅"].rule == "no-mapping"
    assert chars["\ue000"].category == "gaiji"
    assert chars["葛\U000e0102"].category == "variation-sequence"
    assert chars["\t"].category == "invisible" and chars["\t"].in_target
    assert chars["\u200b"].category == "invisible" and not chars["\u200b"].in_target
    assert "齋" not in chars


def test_handmade_counts_bom_cp932_crlf(tmp_path):
    bom = tmp_path / "bom.csv"
    bom.write_bytes(csvio.BOM + handmade_text("\r\n").encode("utf-8"))
    r = scan_file(bom)
    assert counts(r) == EXPECTED
    assert r.encoding == "utf-8-sig"
    assert list(r.columns) == ["id", "name", "kana"]  # the BOM is not part of "id"

    # CP932 cannot carry 𠮷-like astral characters or IVS: drop row 7 and the ZWSP row
    rows = [r_ for r_ in HANDMADE if r_[0] not in ("7", "9")]
    text = "id,name,kana\r\n" + "".join(",".join(x) + "\r\n" for x in rows)
    sj = write(tmp_path / "sj.csv", text, "cp932")
    r = scan_file(sj)
    assert r.encoding == "cp932" and r.encoding_detected
    # rows 1,3,4,6 unsafe; 4,6 fallback; 1 lossless; 3 substituted; 8 invisible
    assert (r.rows, r.unsafe_rows, r.fallback_rows, r.lossless_rows, r.substituted_rows,
            r.invisible_rows) == (7, 4, 2, 1, 1, 1)


def test_target_changes_counts(tmp_path):
    r = scan_file(write(tmp_path / "m.csv", handmade_text()), target="cp932")
    # in CP932: 髙 and 﨑 render; 彅 is an IBM extension kanji too (in CP932);
    # still unsafe: the gaiji (PUA is excluded), the IVS, the ZWSP
    chars = {c.char for c in r.chars if not c.in_target}
    assert chars == {"\ue000", "葛\U000e0102", "\u200b"}
    assert r.unsafe_rows == 3


def test_gaiji_table_makes_rows_fixable(tmp_path):
    r = scan_file(write(tmp_path / "m.csv", handmade_text()), gaiji=SAMPLE_GAIJI)
    assert r.fallback_rows == 1  # only 彅 left
    chars = {c.char: c for c in r.chars}
    assert chars["\ue000"].replacement == "吉"
    assert chars["\ue000"].steps == "gaiji-table>jis-unification"


def test_columns_by_name_and_index(tmp_path):
    p = write(tmp_path / "m.csv", handmade_text())
    by_name = scan_file(p, columns=["kana"])
    by_index = scan_file(p, columns=[3])
    assert by_name.to_dict() == by_index.to_dict()
    assert by_name.unsafe_rows == 0 and list(by_name.columns) == ["kana"]
    assert scan_file(p, columns=["2"]).unsafe_rows == 6


def test_missing_column_names_existing(tmp_path):
    p = write(tmp_path / "m.csv", handmade_text())
    with pytest.raises(InputError) as e:
        scan_file(p, columns=["nmae"])
    msg = str(e.value)
    assert "'nmae'" in msg and "'id'" in msg and "'name'" in msg and "'kana'" in msg
    with pytest.raises(InputError):
        scan_file(p, columns=["4"])


def test_hit_in_unselected_column_does_not_count(tmp_path):
    p = write(tmp_path / "m.csv", "name,note\n田中,髙\n髙橋,x\n")
    r = scan_file(p, columns=["name"])
    assert (r.rows, r.unsafe_rows) == (2, 1)
    assert [c.char for c in r.chars] == ["髙"] and r.chars[0].count == 1


# ---------------------------------------------------------------------------- quoting


QUOTED = (
    'id,name,kana\n'
    '1,"髙橋\n太郎",タカハシ\n'          # embedded newline in a quoted field, with 髙
    '2,"山田, 花子","ヤマダ ""ハナコ"""\n'  # delimiter and doubled quotes inside quotes
    '3,"田中\r\n一",タナカ\n'             # CRLF inside a quoted field
    '4,"佐藤",サトウ\n'
    '5,"﨑",,\n'                           # ragged (4 fields)
)


def test_quoted_fields_with_embedded_newlines(tmp_path):
    p = write(tmp_path / "q.csv", QUOTED)
    r = scan_file(p)
    # 5 records; the newline inside row 1 and the CRLF inside row 3 are invisible characters
    assert r.rows == 5 and r.multiline_records == 2
    assert r.unsafe_rows == 2  # 髙 (row 1), 﨑 (row 5); LF and CR are inside Shift_JIS
    assert r.invisible_rows == 2
    assert r.ragged_rows == 1
    assert {c.char: c.count for c in r.chars} == {"髙": 1, "﨑": 1, "\n": 2, "\r": 1}


@pytest.mark.parametrize("size", [1, 7, 16, 33, 100, 4096])
def test_chunk_boundaries_do_not_matter(tmp_path, monkeypatch, size):
    text = QUOTED * 3 + handmade_text().split("\n", 1)[1] + QUOTED.split("\n", 1)[1]
    p = write(tmp_path / "q.csv", text)
    want = scan_file(p).to_dict()
    monkeypatch.setattr(csvio, "CHUNK_SIZE", size)
    assert scan_file(p).to_dict() == want


def test_unterminated_last_line_and_no_header(tmp_path):
    p = write(tmp_path / "n.csv", "1,髙橋\n2,田中\n3,﨑")
    r = scan_file(p, header=False)
    assert (r.rows, r.unsafe_rows) == (3, 2)
    assert list(r.columns) == ["1", "2"]


def test_plain_text(tmp_path):
    p = write(tmp_path / "names.txt", "髙橋　太郎\n山田　花子\n\n草彅　剛\n")
    r = scan_file(p)
    assert r.delimiter is None and not r.header
    assert (r.rows, r.unsafe_rows, r.fallback_rows, r.blank_lines) == (3, 2, 1, 1)
    # a comma or quote in plain text is data, not structure
    p2 = write(tmp_path / "n2.txt", 'Smith, "J"\n髙\n')
    r2 = scan_file(p2, delimiter="")
    assert (r2.rows, r2.unsafe_rows) == (2, 1)


def test_tsv(tmp_path):
    p = write(tmp_path / "m.tsv", "id\tname\n1\t髙橋\n2\t田中, 一\n")
    r = scan_file(p)
    assert r.delimiter == "\t" and (r.rows, r.unsafe_rows, r.ragged_rows) == (2, 1, 0)


def test_empty_file(tmp_path):
    r = scan_file(write(tmp_path / "e.csv", ""))
    assert r.rows == 0 and r.chars == []


# ---------------------------------------------------------------------------- encodings


def test_undecodable_byte_has_line_and_offset(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_bytes(b"id,name\n1,abc\n2,\x85\x40x\n")
    with pytest.raises(InputError) as e:
        scan_file(p)
    msg = str(e.value)
    assert "line 3" in msg and "byte offset 16" in msg and str(p) in msg
    with pytest.raises(InputError) as e:
        scan_file(p, encoding="utf-8")
    assert "line 3" in str(e.value)


def test_undecodable_byte_late_in_file(tmp_path, monkeypatch):
    monkeypatch.setattr(csvio, "CHUNK_SIZE", 64)
    lines = [b"id,name"] + [b"%d,\xe9\xab\x99" % i for i in range(50)]  # 髙 in UTF-8
    lines[40] = b"39,\xff"
    p = tmp_path / "late.csv"
    p.write_bytes(b"\n".join(lines) + b"\n")
    with pytest.raises(InputError) as e:
        scan_file(p)
    offset = sum(len(x) + 1 for x in lines[:40]) + 3
    assert "line 41" in str(e.value) and f"byte offset {offset}" in str(e.value)


def test_auto_falls_back_to_cp932(tmp_path):
    p = write(tmp_path / "sj.csv", "id,name\n1,髙橋〜\n2,田中\n", "cp932")
    r = scan_file(p)
    assert r.encoding == "cp932" and r.unsafe_rows == 1
    assert scan_file(p, encoding="cp932").to_dict()["encoding"] == "cp932"
    with pytest.raises(InputError):
        scan_file(p, encoding="utf-8")


def test_ascii_only_start_then_cp932(tmp_path, monkeypatch):
    monkeypatch.setattr(csvio, "CHUNK_SIZE", 32)
    text = "id,name\n" + "".join(f"{i},abc\n" for i in range(20)) + "99,髙橋\n"
    p = write(tmp_path / "late-sj.csv", text, "cp932")
    r = scan_file(p)
    assert r.encoding == "cp932" and r.rows == 21 and r.unsafe_rows == 1


# ---------------------------------------------------------------------------- streaming


def test_stdin(monkeypatch):
    data = handmade_text("\r\n").encode("cp932", errors="ignore")

    class FakeStdin:
        buffer = io.BytesIO(data)

    monkeypatch.setattr(sys, "stdin", FakeStdin)
    r = scan_file("-", jobs=4)
    assert r.file == "<stdin>" and r.encoding == "cp932" and r.rows == 10


def test_memory_does_not_hold_rows(tmp_path, monkeypatch):
    """The value cache is bounded; counts survive a flush."""
    from mojinorm import counting

    monkeypatch.setattr(counting, "_CACHE_LIMIT", 3)
    names = ["髙" + chr(0x4E00 + i) for i in range(50)]
    p = write(tmp_path / "many.csv", "name\n" + "\n".join(names * 2) + "\n")
    r = scan_file(p)
    assert r.unsafe_rows == 100 and r.chars[0].char == "髙" and r.chars[0].count == 100


# ---------------------------------------------------------------------------- parallel


def test_parallel_equals_serial(tmp_path):
    p = tmp_path / "20k.csv"
    make_sample.write(p, 20_000, seed=7)
    serial = scan_file(p, jobs=1)
    parallel = scan_file(p, jobs=2, gaiji=None)
    assert parallel.to_dict() == serial.to_dict()
    assert serial.rows == 20_000 and serial.unsafe_rows > 500
    assert scan_file(p, jobs=3, columns=["name"]).to_dict() == \
        scan_file(p, columns=["name"]).to_dict()


def test_parallel_with_quoted_newlines_falls_back(tmp_path):
    p = tmp_path / "q20k.csv"
    rows = ["id,name"]
    for i in range(20_000):
        rows.append(f'{i},"髙橋\n{i}"' if i % 997 == 0 else f"{i},山田{i}")
    p.write_text("\n".join(rows) + "\n", encoding="utf-8")
    serial = scan_file(p)
    assert serial.rows == 20_000 and serial.multiline_records == 21
    assert scan_file(p, jobs=2).to_dict() == serial.to_dict()


def test_parallel_cp932_crlf_and_decode_error(tmp_path, monkeypatch):
    monkeypatch.setattr(csvio, "CHUNK_SIZE", 4096)  # the parent's first chunk is small
    p = tmp_path / "sj.csv"
    make_sample.write(p, 20_000, seed=3, encoding="cp932", crlf=True)
    a, b = scan_file(p), scan_file(p, jobs=2)
    assert a.encoding == "cp932" and a.to_dict() == b.to_dict()
    data = bytearray(p.read_bytes())
    lines = data.split(b"\r\n")
    target_line = 15_000
    lines[target_line - 1] = lines[target_line - 1] + b"\x85\x40"
    p.write_bytes(b"\r\n".join(lines))
    offset = sum(len(x) + 2 for x in lines[:target_line - 1]) + len(lines[target_line - 1]) - 2
    for jobs in (1, 2):
        with pytest.raises(InputError) as e:
            scan_file(p, jobs=jobs)
        assert f"line {target_line}, byte offset {offset}:" in str(e.value)
        assert str(p) in str(e.value)


# ---------------------------------------------------------------------------- sample


def test_sample_file_scan():
    r = scan_file(SAMPLE)
    assert r.rows >= 2000 and r.encoding == "utf-8" and r.ragged_rows == 0
    assert 0.04 < r.unsafe_rows / r.rows < 0.09
    chars = {c.char: c for c in r.chars}
    for ch in "髙﨑德栁濵𠮷":
        assert ch in chars, ch
    for ch in "齋邊邉濱眞":  # old forms inside JIS X 0208 stay unchanged
        assert ch not in chars
    assert any(c.rule == "no-mapping" for c in r.chars)
    assert any(c.category == "variation-sequence" for c in r.chars)
    assert {"\ue000", "\ue001", "\ue002", "\ue003"} <= set(chars)
    with_table = scan_file(SAMPLE, gaiji=SAMPLE_GAIJI)
    assert with_table.fallback_rows < r.fallback_rows
    assert with_table.unsafe_rows == r.unsafe_rows
    json.dumps(r.to_dict(), ensure_ascii=False)


def test_sample_is_reproducible(tmp_path):
    out = tmp_path / "names.csv"
    make_sample.main(["--out", str(out)])
    assert out.read_bytes() == SAMPLE.read_bytes()
    assert list(make_sample.generate(50, 1)) == list(make_sample.generate(50, 1))
    rows = list(make_sample.generate(3000, 5))
    assert sum(1 for _, _, k in rows if "ﾀ" in k or "ｱ" in k or any("ｦ" <= c <= "ﾟ" for c in k)) \
        > 200
    assert all("\u3000" in n or "\u00a0" in n or "\u200b" in n for _, n, _ in rows)


def test_sample_gaiji_matches_example():
    ex = mojinorm.load_gaiji(ROOT / "data" / "mappings" / "gaiji-example.yaml")
    mine = mojinorm.load_gaiji(SAMPLE_GAIJI)
    assert {k: v.char for k, v in ex.entries.items()} == \
        {k: v.char for k, v in mine.entries.items()}


# ---------------------------------------------------------------------------- reference model


def reference_scan(text: str, target: str = "jisx0208", idx: list[int] | None = None) -> dict:
    """What scan_file must report, computed the slow way with csv.reader."""
    t = mojinorm.get_target(target)
    n = mojinorm.Normalizer(t, fallback="geta")
    records = list(csv.reader(io.StringIO(text, newline="")))
    header, data = records[0], [r for r in records[1:] if r]
    # A trailing delimiter (one more, empty, field) on the header or on the first data record
    # but not on the other is a layout: then a row may have it or not.
    width, trailing = len(header), False
    first = data[0] if data else None
    if width >= 2 and header[-1] == "" and (first is None or len(first) == width - 1 or (
            len(first) == width and first[-1] == "")):
        width, trailing = width - 1, True
    elif first is not None and len(first) == width + 1 and first[-1] == "":
        trailing = True
    out = Counter()
    chars = Counter()
    for row in data:
        out["rows"] += 1
        ragged = not (len(row) == width or (trailing and len(row) == width + 1
                                             and row[-1] == ""))
        out["ragged_rows"] += ragged
        unsafe = fallback = lossy = invisible = False
        for i in idx if idx is not None else range(width):
            if i >= len(row):
                continue
            v = row[i]
            res = n.explain(v)
            chars.update(c.original for c in res.changes)
            if any(c.rule in INVISIBLE_RULES for c in res.changes):
                invisible = True
            if not t.is_safe(v):
                unsafe = True
                fallback |= res.used_fallback
                lossy |= not all(c.rule in LOSSLESS_RULES for c in res.changes)
        out["invisible_rows"] += invisible
        if unsafe and ragged:  # normalize copies the row as it is: neither fixed nor fallback
            out["unsafe_rows"] += 1
            out["ragged_unsafe_rows"] += 1
        elif unsafe:
            out["unsafe_rows"] += 1
            out["fallback_rows"] += fallback
            out["fixable_rows"] += not fallback
            out["lossless_rows"] += not fallback and not lossy
    keys = ["rows", "unsafe_rows", "fixable_rows", "lossless_rows", "fallback_rows",
            "invisible_rows", "ragged_rows", "ragged_unsafe_rows"]
    return {k: out[k] for k in keys} | {"chars": dict(chars)}


def ends_in_open_quote(text: str) -> bool:
    """csv.reader's reading of ``text`` ends inside a quoted field (where it takes the rest of
    the input as the field, and mojinorm reports an unclosed quote).  Two sentinel lines after
    the text are two records exactly when no quoted field is open."""
    tail = ["\x01a\n", "\x01b\n"]
    rows = list(csv.reader(itertools.chain(io.StringIO(text, newline=""), tail)))
    return rows[-2:] != [["\x01a"], ["\x01b"]]


TOKENS = ["a", "髙", "高", "﨑", "齋", " ", "\u3000", '"', ",", "\n", "\r\n", "\t", "\u200b",
          "葛\U000e0102", "\ue000", "ｱ", "𠮷", "彅", "x", "田中"]
field_st = st.lists(st.sampled_from(TOKENS), max_size=4).map("".join)
row_st = st.one_of(
    st.lists(field_st, min_size=3, max_size=3),
    st.lists(field_st, min_size=0, max_size=5),
)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(row_st, max_size=12), eol=st.sampled_from(["\n", "\r\n"]),
       size=st.sampled_from([1, 5, 24, 1 << 20]), strip_last=st.booleans(),
       quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]))
def test_scan_matches_csv_reader_model(tmp_path, monkeypatch, rows, eol, size, strip_last,
                                       quoting):
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator=eol, quoting=quoting)
    w.writerow(["id", "name", "kana"])
    for r in rows:
        w.writerow(r)
    text = buf.getvalue()
    if strip_last and rows and rows[-1] and text.endswith(eol):
        text = text[: -len(eol)]
    p = tmp_path / "h.csv"
    p.write_bytes(text.encode("utf-8"))
    monkeypatch.setattr(csvio, "CHUNK_SIZE", size)
    got = scan_file(p, delimiter=",").to_dict()
    want = reference_scan(text)
    assert {k: got[k] for k in want if k != "chars"} == {k: v for k, v in want.items()
                                                          if k != "chars"}
    assert {c["char"]: c["count"] for c in got["chars"]} == want["chars"]


GARBAGE = ["a", '"', ",", "\n", "\r\n", "髙", "", " ", '""', '","', "\t", "彅", "\u200b"]


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tokens=st.lists(st.sampled_from(GARBAGE), max_size=40),
       size=st.sampled_from([1, 3, 16, 1 << 20]),
       cols=st.sampled_from([(None, None), (["name"], [1]), (["1", "3"], [0, 2])]))
def test_scan_of_malformed_csv_matches_model(tmp_path, monkeypatch, tokens, size, cols):
    """Stray quotes, text after a closing quote, ragged rows: still what csv.reader reads; a
    quoted field still open at the end is an error (csv.reader hides the rest in it)."""
    text = "id,name,kana\n" + "".join(tokens)
    p = tmp_path / "g.csv"
    p.write_bytes(text.encode("utf-8"))
    monkeypatch.setattr(csvio, "CHUNK_SIZE", size)
    if ends_in_open_quote(text):
        with pytest.raises(InputError, match="never closed"):
            scan_file(p, delimiter=",", columns=cols[0])
        return
    got = scan_file(p, delimiter=",", columns=cols[0]).to_dict()
    want = reference_scan(text, idx=cols[1])
    assert {k: got[k] for k in want if k != "chars"} == {k: v for k, v in want.items()
                                                          if k != "chars"}
    assert {c["char"]: c["count"] for c in got["chars"]} == want["chars"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(['a', '"', ",", "\n", "\r\n", "髙", "", " "]), max_size=30))
def test_record_parser_matches_csv_reader(tokens):
    text = "".join(tokens)
    want = [r for r in csv.reader(io.StringIO(text, newline=""))]
    got = []
    p = RecordParser(",")
    pos = 0
    if ends_in_open_quote(text):
        with pytest.raises(UnclosedQuote):
            while pos < len(text):
                pos = p.parse(text, pos, True)[2]
        return
    while pos < len(text):
        values, spans, end = p.parse(text, pos, True)
        assert end > pos
        got.append([] if len(values) == 1 and spans[0][0] == spans[0][1] else values)
        pos = end
    assert got == want


# ---------------------------------------------------------------------------- normalize_file


def test_normalize_file_library(tmp_path):
    src = write(tmp_path / "m.csv", handmade_text())
    out = tmp_path / "o.csv"
    s = normalize_file(src, out, columns=["name"])
    assert s.rows == 10 and s.ragged_rows == 1 and s.blank_lines == 1
    rows = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8"), newline="")))
    assert rows[0] == ["id", "name", "kana", "name_normalized", "name_changes"]
    assert rows[1][3:] == ["高橋\u3000太郎", "髙→高 jis-unification"]
    assert rows[2][3:] == ["山田\u3000花子", ""]
    assert rows[8][3:] == ["田中太郎", "<U+0009>→(removed) invisible-removed"]


def test_long_values_are_counted_but_not_cached(tmp_path):
    # Values longer than the cache bound are analysed each time and still counted per unit.
    long_value = "髙" + "田" * 300
    path = tmp_path / "long.csv"
    path.write_text("name\n" + f"{long_value}\n" * 3 + "髙橋\n", encoding="utf-8")
    report = scan_file(path)
    assert report.unsafe_rows == 4
    assert {s.char: s.count for s in report.chars} == {"髙": 4}


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=4), count=st.integers(0, 10**12), flags=st.booleans(),
       mj=st.none() | st.text(max_size=8), sjis=st.none() | st.text(max_size=4),
       alternatives=st.lists(st.text(max_size=3), max_size=3))
def test_char_line_is_what_json_dumps_writes(text: str, count: int, flags: bool,
                                             mj: str | None, sjis: str | None,
                                             alternatives: list[str]) -> None:
    # The report writes each character's line itself (a report may hold tens of thousands):
    # it must be byte for byte what json.dumps writes for the same dict, quotes, backslashes,
    # controls and lone surrogates included.
    from mojinorm.report import CharStat

    stat = CharStat(char=text or "x", codepoint="U+0078", count=count, replacement=text,
                    rule="no-mapping", steps=text, mj=mj, category="gaiji",
                    in_target=flags, fallback=not flags, alternatives=tuple(alternatives),
                    sjis=sjis)
    assert stat.to_json() == json.dumps(stat.to_dict(), ensure_ascii=False)


def _char_stat(text: str, count: int, flags: bool, mj: str | None, sjis: str | None,
               alternatives: list[str], steps: str) -> object:
    from mojinorm.report import CharStat

    return CharStat(char=text or "x", codepoint="U+0078", count=count, replacement=text,
                    rule=steps.rpartition(">")[2] if steps else "no-mapping", steps=steps,
                    mj=mj, category="gaiji", in_target=flags, fallback=not flags,
                    alternatives=tuple(alternatives), sjis=sjis)


_CHAR_STATS = st.builds(
    _char_stat, text=st.text(max_size=4), count=st.integers(0, 10**12), flags=st.booleans(),
    mj=st.none() | st.text(max_size=8), sjis=st.none() | st.text(max_size=4),
    alternatives=st.lists(st.text(max_size=3), max_size=3),
    # lossless steps, a lossy one, and text to escape: the "fix" field is worked out from them
    steps=st.sampled_from(["", "jis-inclusion", "jis-inclusion>mj-shrink-koseki", "nfc",
                           "unmapped-gaiji", 'a"b\\c\n']))


@settings(max_examples=100, deadline=None)
@given(stats=st.lists(_CHAR_STATS, max_size=6))
def test_char_table_writes_the_lines_each_char_writes(stats: list) -> None:
    # A scan of many characters writes its JSON lines column by column (polars): byte for
    # byte what CharStat.to_json writes per character (quotes, backslashes, controls, the
    # "fix" worked out from the steps), and its items are the same CharStats.
    pytest.importorskip("polars")
    from mojinorm.report import CharTable

    table = CharTable.of(stats)
    assert table.json_lines(",\n") == ",\n".join(c.to_json() for c in stats)
    assert list(table) == stats and table == stats and len(table) == len(stats)
    assert table[1:3] == stats[1:3] and table[::2] == stats[::2]
    if stats:
        assert table[-1] == stats[-1] and table[0] == stats[0]
        assert table.head(2) == stats[:2]
    with pytest.raises(IndexError):
        table[len(stats)]


def _units_of(normalizer: mojinorm.Normalizer, candidates: list[str]) -> list[str]:
    """The candidates that are one unit the normalizer changes (what a scan counts)."""
    from mojinorm.units import iter_units

    return [u for u in dict.fromkeys(candidates)
            if len(list(iter_units(u))) == 1 and not normalizer.is_safe(u)]


def _some_compiled_units() -> list[str]:
    from mojinorm import _tables

    return sorted(_tables.resolved("jisx0208"))[::50]


_UNIT_CANDIDATES = st.lists(st.one_of(
    st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=("Cs",)),
    # extended kanji, private use in both planes, invisible characters, IVS of each kind,
    # a compatibility ideograph, NTA-map symbols, a sibling-glyph case and a tie
    st.sampled_from(["髙", "﨑", "𠮷", "\ue000", "\uf8ff", "\U000f0001", "\t", "\x01", "\u00a0",
                     "\u200b", "葛\U000e0102", "辻\U000e0100", "増\U000e0102", "\ufa11", "·",
                     "ゕ", "①", "壳", "𭤟", "兀\U000e0103"]),
    st.sampled_from(_some_compiled_units()),
), min_size=1, max_size=40)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(candidates=_UNIT_CANDIDATES,
       counts=st.lists(st.integers(1, 5), min_size=40, max_size=40),
       target=st.sampled_from(["jisx0208", "cp932", "jisx0213", "mj"]),
       fallback=st.sampled_from([None, "keep", "●"]))
def test_char_table_equals_the_list_of_char_stats(candidates: list[str], counts: list[int],
                                                  target: str, fallback: str | None) -> None:
    # The report's characters built column by column (decisions in one frame, one sort) and
    # built one by one (Normalizer.outcome, two stable sorts) are the same items in the same
    # order and write the same JSON; so are the Shift_JIS codes of private-use units.
    pytest.importorskip("polars")
    from mojinorm.report import CharTable, ScanReport, char_stats, shift_jis_codes

    normalizer = mojinorm.Normalizer(target, fallback=fallback)
    units = _units_of(normalizer, candidates)
    tally = Counter(dict(zip(units, counts, strict=False)))
    columns = char_stats(normalizer, tally, columnar=True)
    one_by_one = char_stats(normalizer, tally, columnar=False)
    assert isinstance(columns, CharTable) and isinstance(one_by_one, list)
    assert list(columns) == one_by_one
    reports = [ScanReport("f", target, "cp932", False, ",", True, 1, ["n"], chars=c)
               for c in (columns, one_by_one)]
    for r in reports:
        shift_jis_codes(r)
    assert reports[0].to_json() == reports[1].to_json()
    assert reports[0].to_json(top=2) == reports[1].to_json(top=2)
    assert json.loads(reports[0].to_json())["chars"] == [c.to_dict() for c in reports[1].chars]
    # A table not built yet gives its first items (what the summary shows) from the units
    # counted most, worked out alone: the items the built table begins with, Shift_JIS codes
    # included; anything past them builds it.
    deferred = ScanReport("f", target, "cp932", False, ",", True, 1, ["n"],
                          chars=char_stats(normalizer, tally, columnar=True))
    shift_jis_codes(deferred)
    table, listed = deferred.chars, reports[1].chars
    assert isinstance(table, CharTable) and len(table) == len(listed)
    k = min(len(listed), 3)
    assert table[:k] == listed[:k] and table[1:k] == listed[1:k]
    assert [table[i] for i in range(k)] == listed[:k] and table[-1:-1] == []
    assert deferred.to_json(top=2) == reports[1].to_json(top=2)
    assert not table.built
    # copied and pickled as the table it is (a deferred one built for it)
    assert pickle.loads(pickle.dumps(deferred)).chars == listed and table.built
    assert copy.deepcopy(deferred).to_json() == reports[1].to_json()
    assert list(table) == listed


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(units=st.lists(st.text(min_size=1, max_size=3) | _UNIT_CANDIDATES.map("".join)
                      | st.sampled_from(["\ufa0e", "\ufa10", "\U0002f800", "\U0002fa1d",
                                         "\u3164", "\u034f", "\ufe00", "\u3000", " ",
                                         "a\ufe0f", "\U000e0100", "\u2003"]),
                      min_size=1, max_size=40))
def test_unit_categories_equal_the_category_of_each_unit(units: list[str]) -> None:
    # The report's category column by polars (classes of code points) against _category per
    # unit: private use, invisible first code points, selector sequences, the compatibility
    # ideographs NFC changes (U+FA0E is a unified ideograph in that block: outside-target).
    pl = pytest.importorskip("polars")
    from mojinorm.report import _category, unit_categories

    assert unit_categories(pl.Series(units, dtype=pl.String)).to_list() == [
        _category(u) for u in units]
    # U+FA10 decomposes to U+585A (NFC changes it); U+FA0E has no decomposition (one of the
    # twelve unified ideographs in the compatibility block): UnicodeData.txt
    assert [_category(u) for u in ("\ufa10", "\ufa0e", "\U0002f800")] == [
        "compatibility-ideograph", "outside-target", "compatibility-ideograph"]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=st.lists(st.none() | st.text(
           alphabet=st.sampled_from(list("山田太郎髙﨑𠮷·ゕ①壳𭤟兀葛辻 \u3000\t\u200b\u00a0"
                                         "\ue000\uf8ff\U000f0001\U000e0100\U000e0102"
                                         "\U000e0103\ufe00\u3099")),
           max_size=6), min_size=1, max_size=3),
       target=st.sampled_from(["jisx0208", "cp932", "jisx0213", "mj"]),
       fallback=st.sampled_from([None, "keep", "●"]),
       forget=st.integers(0, 3))
def test_review_examples_from_known_flags_equal_those_from_explain(
        values: list[str | None], target: str, fallback: str | None, forget: int) -> None:
    # The fast reader hands review_example the flags its kernel found for each unit, so that
    # explain (a pipeline run per unit, sources and all) is not needed.  The example must be
    # the one explain gives, and a value with a unit the flags lack goes through explain.
    from mojinorm.counting import outcome_flags, review_example

    normalizer = mojinorm.Normalizer(target, fallback=fallback)
    units = sorted({u for v in values if v for _, u in normalizer.target.iter_unclean(v)})
    known = {u: outcome_flags(normalizer.outcome(u), normalizer.target)
             for u in units[forget:]}
    reference = review_example(mojinorm.Normalizer(target, fallback=fallback), 3, values)
    assert review_example(normalizer, 3, values, known) == reference


def test_char_table_lines_keep_the_table_order_over_many_parts() -> None:
    # The lines are made on the streaming engine, which cuts the rows into parts on its
    # threads: 300,000 characters (several parts on any thread count) come out in the
    # table's order, each line its own character's.
    pytest.importorskip("polars")
    from mojinorm.report import CharStat, CharTable

    pl = pytest.importorskip("polars")
    n = 300_000

    def stat(i: int) -> CharStat:
        return CharStat(chr(0x4E00 + i % 20000) + str(i), f"U+{i:04d}", n - i, "〓",
                        "no-mapping", "", None, "outside-target", False, True, ())

    # the table's columns made by polars (300,000 CharStat objects cost seconds to make)
    i = pl.int_range(n, eager=True)
    frame = pl.DataFrame({"i": i}).select(
        char=pl.concat_str([(pl.col("i") % 20000 + 0x4E00).map_elements(
            chr, return_dtype=pl.String), pl.col("i").cast(pl.String)]),
        codepoint=pl.format("U+{}", pl.col("i").cast(pl.String).str.zfill(4)),
        count=(n - pl.col("i")).cast(pl.Int64), replacement=pl.lit("〓"),
        rule=pl.lit("no-mapping"), steps=pl.lit(""), mj=pl.lit(None, pl.String),
        category=pl.lit("outside-target"), in_target=pl.lit(False), fallback=pl.lit(True),
        alternatives=pl.lit([], pl.List(pl.String)), sjis=pl.lit(None, pl.String))
    lines = CharTable(frame).json_lines(",\n").split(",\n")
    # every line in the table's order (the counts are the rows' own, decreasing), and the
    # line each character writes itself (every 997th checked whole)
    assert [int(m) for m in re.findall(r'"count": (\d+)', "\n".join(lines))] == list(
        range(n, 0, -1))
    assert len(lines) == n
    assert all(lines[k] == stat(k).to_json() for k in range(0, n, 997))
    assert lines[-1] == stat(n - 1).to_json()
