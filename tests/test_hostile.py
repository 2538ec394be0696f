"""Hostile and broken input for ``mojinorm scan`` and ``mojinorm normalize -o OUT``.

Issue "Reliability: no name lost, no crash, nothing hidden".  Every case runs the real CLI
(click's CliRunner in-process, a real subprocess for some) and checks:

* the exit code: 2 for an input, output or usage error; 0 when the file is odd but valid, and
  then the report says what is odd (``notes``, ``invisible_rows``, ``ragged_rows``, ...);
* an error is ONE line on stderr starting ``mojinorm: error:`` (or click's usage error);
* no ``Traceback`` anywhere;
* no output file, partial or complete, and no temp file after an error;
* the input is byte-identical afterwards (SHA-256 before and after).

The small files live in ``tests/hostile/`` (see ``CORPUS_CASES`` for what each one holds); big
ones (a 10 MB field) are generated into ``tmp_path``.
"""

from __future__ import annotations

import csv
import errno
import hashlib
import io
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from mojinorm import csvio
from mojinorm.cli import cli

HOSTILE = Path(__file__).resolve().parent / "hostile"
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import make_sample  # noqa: E402

ERROR = "mojinorm: error: "


# ---------------------------------------------------------------------------- helpers


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Workspace:
    """An input copied into ``tmp/in/`` and an empty output directory ``tmp/out/``."""

    def __init__(self, tmp_path: Path, data: bytes, name: str = "in.csv") -> None:
        self.indir = tmp_path / "in"
        self.outdir = tmp_path / "out"
        self.indir.mkdir()
        self.outdir.mkdir()
        self.src = self.indir / name
        self.src.write_bytes(data)
        self.digest = sha(data)
        self.out = self.outdir / "out.csv"

    @classmethod
    def corpus(cls, tmp_path: Path, name: str) -> Workspace:
        return cls(tmp_path, (HOSTILE / name).read_bytes(), name)

    def input_untouched(self) -> None:
        assert sorted(os.listdir(self.indir)) == [self.src.name]
        assert sha(self.src.read_bytes()) == self.digest

    def no_output(self) -> None:
        assert os.listdir(self.outdir) == [], "partial output or temp file left behind"

    def output(self) -> bytes:
        assert os.listdir(self.outdir) == ["out.csv"], "temp file left behind"
        return self.out.read_bytes()


def invoke(*args, input: bytes | None = None) -> tuple[int, str, str]:
    r = CliRunner().invoke(cli, [str(a) for a in args], input=input, catch_exceptions=False)
    return r.exit_code, r.stdout, r.stderr


def spawn(*args, input: bytes | None = None) -> tuple[int, str, str]:
    done = subprocess.run([sys.executable, "-m", "mojinorm.cli", *map(str, args)],
                          input=input, capture_output=True, timeout=300)
    return (done.returncode, done.stdout.decode("utf-8", "replace"),
            done.stderr.decode("utf-8", "replace"))


def assert_error(result: tuple[int, str, str], pattern: str, code: int = 2) -> str:
    """One line ``mojinorm: error: ...`` matching ``pattern``, exit ``code``, no traceback."""
    rc, out, err = result
    assert "Traceback" not in out and "Traceback" not in err
    assert rc == code, (rc, out, err)
    assert err.endswith("\n") and err.count("\n") == 1, f"not one line: {err!r}"
    assert err.startswith(ERROR), err
    assert re.search(pattern, err), (pattern, err)
    return err


def assert_usage_error(result: tuple[int, str, str], pattern: str) -> None:
    """click's usage error form: exit 2, ``Error: ...`` on stderr, no traceback."""
    rc, out, err = result
    assert "Traceback" not in out and "Traceback" not in err
    assert rc == 2 and out == ""
    assert re.search(r"^Error: ", err, re.M) and re.search(pattern, err), err


def assert_ok(result: tuple[int, str, str]) -> tuple[str, str]:
    rc, out, err = result
    assert "Traceback" not in out and "Traceback" not in err
    assert rc == 0, (rc, out, err)
    return out, err


def scan_json(ws: Workspace, *args) -> dict:
    out, err = assert_ok(invoke("scan", ws.src, "-f", "json", *args))
    assert err == ""
    return json.loads(out)


# ---------------------------------------------------------------------------- the corpus

# file, extra args, expected error (a regex on the one stderr line) for both scan and normalize
ERROR_CASES = [
    # a CP932 file read as UTF-8 on request
    ("cp932.csv", ["--encoding", "utf-8"],
     r"^mojinorm: error: \S*cp932\.csv, line 2, byte offset 10: cannot decode byte 0x8D as "
     r"utf-8 \(try --encoding cp932\)$"),
    # UTF-16LE without a BOM: NUL bytes between ASCII characters
    ("utf16le_no_bom.csv", [],
     r"utf16le_no_bom\.csv: NUL bytes between the characters: this looks like UTF-16LE without "
     r"a byte-order mark; pass --encoding utf-16le, or convert the file to UTF-8 "
     r"\(iconv -f UTF-16LE -t UTF-8\)$"),
    # a UTF-16LE BOM read as CP932 on request would be mojibake
    ("utf16be_bom.csv", ["--encoding", "cp932"],
     r"utf16be_bom\.csv: the file starts with a UTF-16BE byte-order mark, but --encoding cp932 "
     r"was given: pass --encoding utf-16be \(or auto\)$"),
    # a lone high surrogate (0xD800) after BOM (2) + "id,name\n" (16) + "1," (4): offset 22
    ("utf16le_lone_surrogate.csv", [],
     r"utf16le_lone_surrogate\.csv, byte offset 22: cannot decode as UTF-16LE: illegal UTF-16 "
     r"surrogate$"),
    # records end with CR, then one with LF: which one is the separator is not knowable
    ("line_ends_conflict.csv", [],
     r"line_ends_conflict\.csv: the line ends conflict: 4 records end with CR only and 1 with LF "
     r"\(outside quoted fields\); convert the file to one kind of line end$"),
    # 퀀 (U+D000) is ED 80 80 in UTF-8; as CP932 that is a kanji and U+0080: not clearly either
    ("both_encodings_weak.csv", [],
     r"both_encodings_weak\.csv: the bytes read both as UTF-8 \(with Hangul: 퀀\) and as CP932, "
     r"and neither reading is clearly Japanese: give --encoding utf-8 or --encoding cp932$"),
    # b"\x81\x20": invalid in UTF-8 and in CP932
    ("invalid_in_both.csv", [],
     r"invalid_in_both\.csv, line 3, byte offset 16: cannot decode byte 0x81: the line is "
     r"neither UTF-8 nor CP932$"),
    ("invalid_in_both.csv", ["--encoding", "utf-8"],
     r"line 3, byte offset 16: cannot decode byte 0x81 as utf-8 \(nor as cp932\)$"),
    ("invalid_in_both.csv", ["--encoding", "cp932"],
     r"line 3, byte offset 16: cannot decode bytes 0x81 0x20 as cp932 \(nor as utf-8\)$"),
    # UTF-8 lines, then CP932 lines
    ("mixed_encodings.csv", [],
     r"mixed_encodings\.csv, line 4, byte offset 28: cannot decode byte 0x8D as utf-8, the "
     r"encoding of the lines before it; this line reads as cp932: the file mixes encodings"),
    # a quote opened on line 2 and never closed
    ("unbalanced_quote.csv", [],
     r"unbalanced_quote\.csv, line 2: quoted field opened here is never closed"),
    ("unbalanced_quote_header.csv", [],
     r"unbalanced_quote_header\.csv, line 1: quoted field opened here is never closed"),
    # "id,name,name": the name alone is ambiguous; the refusal says how to address each column
    ("duplicate_header.csv", ["--column", "name"],
     r"duplicate_header\.csv: column 'name' appears more than once \(columns 2 and 3\); select "
     r"one by its label \(name#2 or name#3\) or its index \(2 or 3\)$"),
    # a column that does not exist
    ("ragged.csv", ["--column", "nmae"],
     r"ragged\.csv: no column 'nmae'; the file has columns: 1 'id', 2 'name', 3 'kana'$"),
    ("ragged.csv", ["--column", "4"], r"no column '4'"),
    ("empty.csv", ["--column", "name"],
     r"empty\.csv: no column 'name'; the file has columns: none \(empty file\)$"),
    # "id,name,name,name#3": the label of column 3 cannot be name#3 (a real header), so it is
    # name##3; the name alone is still ambiguous
    ("header_like_label.csv", ["--column", "name"],
     r"header_like_label\.csv: column 'name' appears more than once \(columns 2 and 3\); "
     r"select one by its label \(name#2 or name##3\) or its index \(2 or 3\)$"),
    # "²".isdigit() and "١".isdigit() are true, but only ASCII digits are indexes: no int()
    # error, and the Arabic-Indic one is not column 1
    ("header_like_label.csv", ["--column", "²"],
     r"header_like_label\.csv: no column '²'; the file has columns: 1 'id', 2 'name#2', "
     r"3 'name##3', 4 'name#3'$"),
    ("header_like_label.csv", ["--column", "١"], r"header_like_label\.csv: no column '١'; "),
    ("header_like_label.csv", ["-c", "\uff12"], r"no column '\uff12'"),  # full-width 2: neither
    # "id,name,": the header's trailing delimiter is no column, so there is no column 3
    ("trailing_delimiter_header.csv", ["--column", "3"],
     r"trailing_delimiter_header\.csv: no column '3'; the file has columns: 1 'id', 2 'name'$"),
    # "2,name,name": "-c 2" would mean the header "2" (column 1), so the refusal offers only
    # the index 3 besides the labels
    ("numeric_header.csv", ["--column", "name"],
     r"numeric_header\.csv: column 'name' appears more than once \(columns 2 and 3\); select "
     r"one by its label \(name#2 or name#3\) or its index \(3\)$"),
]


@pytest.mark.parametrize("name,args,pattern", ERROR_CASES,
                         ids=[f"{c[0]}{''.join(c[1])}" for c in ERROR_CASES])
def test_corpus_errors(tmp_path, name, args, pattern):
    ws = Workspace.corpus(tmp_path, name)
    assert_error(invoke("scan", ws.src, *args), pattern)
    assert_error(invoke("scan", ws.src, "-f", "json", *args), pattern)
    assert_error(invoke("normalize", ws.src, "-o", ws.out, *args), pattern)
    ws.no_output()
    assert_error(invoke("normalize", ws.src, "-o", ws.out, "--replace", *args), pattern)
    ws.no_output()
    ws.input_untouched()


def _u(s: str) -> bytes:
    return s.encode("utf-8")


# file -> (expected scan report subset, expected `normalize -c 2` output bytes)
CORPUS_CASES = {
    "cp932.csv": (
        {"encoding": "cp932", "rows": 2, "unsafe_rows": 1, "notes": []},
        "id,name,name_normalized,name_changes\n1,高橋,高橋,\n2,﨑田,崎田,﨑→崎 koseki-parent\n"
        .encode("cp932"),
    ),
    # Excel "Unicode text": UTF-16LE with a BOM, TAB, CRLF, Japanese headers.  Read through a
    # transcoder and written back in UTF-16LE with its BOM (never as CP932 mojibake)
    "utf16le_bom.tsv": (
        {"encoding": "utf-16le", "rows": 3, "unsafe_rows": 2, "line_ends": "CRLF",
         "columns_selected": ["被保険者番号", "氏名", "カナ"],
         "chars": {"U+9AD9": 1, "U+20BB7": 1},
         "notes": ["UTF-16LE text with a byte-order mark: read as text and written back as "
                   "UTF-16LE; byte offsets in messages are not given for it"]},
        ("\ufeff被保険者番号\t氏名\tカナ\t氏名_normalized\t氏名_changes\r\n"
         "1\t髙橋\tﾀｶﾊｼ\t高橋\t髙→高 jis-unification\r\n2\t山田\tﾔﾏﾀﾞ\t山田\t\r\n"
         "3\t𠮷田\tﾖｼﾀﾞ\t吉田\t𠮷→吉 jis-unification\r\n").encode("utf-16-le"),
    ),
    "utf16be_bom.csv": (
        {"encoding": "utf-16be", "rows": 1, "unsafe_rows": 1},
        "\ufeffid,name,name_normalized,name_changes\n1,髙橋,高橋,髙→高 jis-unification\n"
        .encode("utf-16-be"),
    ),
    "utf32le_bom.csv": (
        {"encoding": "utf-32le", "rows": 1, "unsafe_rows": 1},
        "\ufeffid,name,name_normalized,name_changes\n1,髙橋,高橋,髙→高 jis-unification\n"
        .encode("utf-32-le"),
    ),
    # classic Mac OS export (CR only) with an LF inside a quoted note on the first record: the
    # LF inside quotes is data, so the line ends are CR (it was read as LF: 0 rows).  The added
    # fields of record 1 are quoted because its last field is
    "cr_only_lf_in_cell.csv": (
        {"rows": 3, "unsafe_rows": 2, "line_ends": "CR", "columns_selected": ["id", "name", "note"],
         "chars": {"U+000A": 1, "U+9AD9": 1, "U+FA11": 1}},
        _u('id,name,note,name_normalized,name_changes\r1,髙橋,"line one\nline two","高橋",'
           '"髙→高 jis-unification"\r2,山田,x,山田,\r3,﨑山,y,崎山,﨑→崎 koseki-parent\r'),
    ),
    # CP932 as Python and Java write it: 德 and 﨑 with NEC-selected IBM codes (0xED lead
    # bytes) make every line valid UTF-8 too, where it reads as Hangul.  Japanese wins, said so
    "nec_cp932.csv": (
        {"encoding": "cp932", "rows": 5, "unsafe_rows": 5, "fallback_rows": 0,
         "chars": {"U+FA11": 3, "U+5FB7": 2},
         "notes": ["read as CP932: the bytes are also valid UTF-8, where they read as Hangul "
                   "(힓힎핓), not Japanese (CP932 with NEC-selected IBM codes, as Python and Java "
                   "write it)"]},
        # 德 → 徳 and 﨑 → 崎: 戸籍統一文字 親字 (the MJ縮退マップ row)
        ("id,name,name_normalized,name_changes\n1,德田,徳田,德→徳 koseki-parent\n"
         "2,德山,徳山,德→徳 koseki-parent\n3,﨑田,崎田,﨑→崎 koseki-parent\n"
         "4,﨑山,崎山,﨑→崎 koseki-parent\n5,﨑本,崎本,﨑→崎 koseki-parent\n").encode("cp932"),
    ),
    # starts with a BOM, and a second file with its BOM was appended: U+FEFF mid-file is an
    # invisible character (in the "id" column of the repeated header and inside 山<BOM>田)
    "bom_middle.csv": (
        {"encoding": "utf-8-sig", "rows": 3, "invisible_rows": 2, "unsafe_rows": 3,
         "chars": {"U+FEFF": 2, "U+9AD9": 1}},
        csvio.BOM + _u("id,name,name_normalized,name_changes\n1,髙橋,高橋,髙→高 jis-unification\n"
                       "\ufeffid,name,name,\n"
                       "2,山\ufeff田,山田,<U+FEFF>→(removed) invisible-removed\n"),
    ),
    # NUL is inside Shift_JIS: invisible, not unsafe by itself; normalize removes it
    "nul_bytes.csv": (
        {"rows": 3, "unsafe_rows": 1, "invisible_rows": 2, "chars": {"U+0000": 2, "U+9AD9": 1}},
        _u("id,name,name_normalized,name_changes\n"
           "1,髙橋\x00,高橋,髙→高 jis-unification; <U+0000>→(removed) invisible-removed\n"
           "2,abc\x00def,abcdef,<U+0000>→(removed) invisible-removed\n3,山田,山田,\n"),
    ),
    # classic Mac OS line ends: CR is the record separator, kept byte for byte
    "cr_only.csv": (
        {"rows": 2, "unsafe_rows": 1, "line_ends": "CR", "columns_selected": ["id", "name"],
         "notes": ["line ends are CR only (classic Mac OS): read as record ends"]},
        _u("id,name,name_normalized,name_changes\r1,髙橋,高橋,髙→高 jis-unification\r"
           "2,高橋,高橋,\r"),
    ),
    # CP932, CR only, a CR inside a quoted field (an invisible U+000D in the name)
    "cr_only_cp932.csv": (
        {"encoding": "cp932", "rows": 2, "unsafe_rows": 1, "invisible_rows": 1,
         "multiline_records": 1, "line_ends": "CR", "chars": {"U+000D": 1, "U+FA11": 1}},
        'id,name,kana,name_normalized,name_changes\r1,"山﨑\r次郎",ﾔﾏｻﾞｷ,山崎次郎,'
        '﨑→崎 koseki-parent; <U+000D>→(removed) invisible-removed\r2,高橋,ﾀｶﾊｼ,高橋,\r'
        .encode("cp932"),
    ),
    # rows 1, 2 and 4 have 2, 4 and 1 fields: counted, checked, copied as they are (so the 髙
    # of row 1 is unsafe but not fixable: normalize leaves it; row 3's 﨑 is fixed)
    "ragged.csv": (
        {"rows": 4, "ragged_rows": 3, "blank_lines": 1, "unsafe_rows": 2, "fixable_rows": 1,
         "ragged_unsafe_rows": 1, "chars": {"U+9AD9": 1, "U+FA11": 1}},
        _u("id,name,kana,name_normalized,name_changes\n1,髙橋\n2,山田,ヤマダ,extra\n"
           "3,﨑,サキ,崎,﨑→崎 koseki-parent\n\n4\n"),
    ),
    # a quote inside an unquoted field is a literal; text after a closing quote is appended
    "stray_quote.csv": (
        {"rows": 2, "unsafe_rows": 1, "ragged_rows": 0},
        _u('id,name,name_normalized,name_changes\n1,髙"橋,"高""橋",髙→高 jis-unification\n'
           '2,"山田"x,"山田x",""\n'),
    ),
    "empty.csv": (
        {"rows": 0, "fields": 0, "columns_selected": [], "notes": ["the file is empty"]},
        b"",
    ),
    "header_only.csv": (
        {"rows": 0, "fields": 2, "notes": ["no data rows: the file holds a header only"]},
        b"id,name,name_normalized,name_changes\n",
    ),
    "header_only_no_eol.csv": (
        {"rows": 0, "fields": 2, "notes": ["no data rows: the file holds a header only"]},
        b"id,name,name_normalized,name_changes",
    ),
    # "id,name,name": every column is scanned; both repeats are labelled by column number (a
    # bare "name" would be ambiguous, and is a header, not a label)
    "duplicate_header.csv": (
        {"rows": 2, "unsafe_rows": 2, "columns_selected": ["id", "name#2", "name#3"],
         "notes": ["column name 'name' appears 2 times (columns 2 and 3), reported as name#2 "
                   "and name#3; select one by its label or index"]},
        _u("id,name,name,name#2_normalized,name#2_changes\n"
           "1,髙橋,高橋,高橋,髙→高 jis-unification\n2,山田,﨑,山田,\n"),
    ),
    # "id,name,name,name#3": column 3 would be name#3, the header of column 4, so it is
    # name##3; the real header name#3 keeps its own name
    "header_like_label.csv": (
        {"rows": 2, "unsafe_rows": 2, "chars": {"U+9AD9": 2, "U+FA11": 1},
         "columns_selected": ["id", "name#2", "name##3", "name#3"],
         "notes": ["column name 'name' appears 2 times (columns 2 and 3), reported as name#2 "
                   "and name##3; select one by its label or index"]},
        _u("id,name,name,name#3,name#2_normalized,name#2_changes\n"
           "1,髙橋,山田,﨑,高橋,髙→高 jis-unification\n2,高橋,髙,崎,高橋,\n"),
    ),
    # header "id,name", every record "1,髙橋,": the same extra empty field on every line is a
    # trailing delimiter, not raggedness; the new fields go before it, so every line keeps it
    # last and the added columns line up with the header's (2 + 2 names, 2 + 2 + 1 fields)
    "trailing_delimiter.csv": (
        {"rows": 3, "fields": 2, "unsafe_rows": 2, "fixable_rows": 2, "ragged_rows": 0,
         "notes": ["records end with a delimiter (an empty field after the last column): read "
                   "as the file's layout, the field kept as written"]},
        _u("id,name,name_normalized,name_changes\n1,髙橋,高橋,髙→高 jis-unification,\n"
           "2,山田,山田,,\n3,﨑,崎,﨑→崎 koseki-parent,\n"),
    ),
    # header "id,name," and records "1,髙橋,": the header's empty last field is no column
    # (never selected, no "column#3_normalized"); the header keeps its trailing delimiter too
    "trailing_delimiter_header.csv": (
        {"rows": 2, "fields": 2, "unsafe_rows": 1, "fixable_rows": 1, "ragged_rows": 0,
         "columns_selected": ["id", "name"],
         "notes": ["the header ends with a delimiter: the empty field after its last name is "
                   "not a column (a record may end with one too)"]},
        _u("id,name,name_normalized,name_changes,\n1,髙橋,高橋,髙→高 jis-unification,\n"
           "2,山田,山田,,\n"),
    ),
    # the first record sets the trailing delimiter layout; a row without it has every column
    # (a record, no trailing field to keep); "3,髙,x" holds a value after the last column:
    # ragged, copied as it is, so its 髙 is unsafe but neither fixable nor fallback
    "trailing_delimiter_ragged.csv": (
        {"rows": 3, "unsafe_rows": 3, "fixable_rows": 2, "fallback_rows": 0, "ragged_rows": 1,
         "ragged_unsafe_rows": 1, "chars": {"U+9AD9": 2, "U+FA11": 1}},
        _u("id,name,name_normalized,name_changes\n1,髙橋,高橋,髙→高 jis-unification,\n"
           "2,﨑,崎,﨑→崎 koseki-parent\n3,髙,x\n"),
    ),
    # "2,name,name": a header literally called "2" is column 1; -c 2 below is column 1 too
    "numeric_header.csv": (
        {"rows": 1, "unsafe_rows": 1, "columns_selected": ["2", "name#2", "name#3"]},
        _u("2,name,name,2_normalized,2_changes\n1,髙橋,﨑,1,\n"),
    ),
}


#: corpus files with a test of their own below (a rewrite that must keep a record or guard it)
REWRITE_CASES = {"one_column_invisible.csv", "formula_defused.csv"}


def test_every_corpus_file_has_a_case():
    covered = set(CORPUS_CASES) | {c[0] for c in ERROR_CASES} | REWRITE_CASES
    assert {p.name for p in HOSTILE.iterdir()} == covered


def _report_subset(d: dict, want: dict) -> dict:
    got = {k: d[k] for k in want if k != "chars"}
    if "chars" in want:
        got["chars"] = {c["codepoint"]: c["count"] for c in d["chars"]}
    return got


@pytest.mark.parametrize("name", sorted(CORPUS_CASES))
def test_corpus_odd_but_valid(tmp_path, name):
    want, normalized = CORPUS_CASES[name]
    ws = Workspace.corpus(tmp_path, name)
    d = scan_json(ws)
    assert _report_subset(d, want) == want
    table, _ = assert_ok(invoke("scan", ws.src))
    for note in d["notes"]:
        assert f"note        {note}" in table
    if d["invisible_rows"]:
        assert f"invisible   {d['invisible_rows']} rows with invisible characters" in table
    if d["ragged_rows"]:
        assert f"ragged      {d['ragged_rows']} rows" in table
    if d["ragged_unsafe_rows"]:
        assert f"  ragged    {d['ragged_unsafe_rows']} in ragged rows, which normalize copies " \
            "as they are" in table
    cols = ["-c", "2"] if d["fields"] else []  # an empty file has no column 2
    _, summary = assert_ok(invoke("normalize", ws.src, "-o", ws.out, *cols))
    assert summary.count("\n") == 1 and summary.startswith(f"wrote {ws.out}")
    for note in d["notes"]:
        if not note.startswith("line ends"):
            assert note in summary
    if d["line_ends"] == "CR":
        assert "CR-only line ends kept" in summary
    assert ws.output() == normalized
    ws.input_untouched()


def test_duplicate_header_by_index_or_label(tmp_path):
    ws = Workspace.corpus(tmp_path, "duplicate_header.csv")
    for col in ("3", "name#3"):
        d = scan_json(ws, "--column", col)
        assert d["columns_selected"] == ["name#3"] and d["unsafe_rows"] == 1
    for col in ("2", "name#2"):
        assert scan_json(ws, "-c", col)["columns_selected"] == ["name#2"]
    assert_ok(invoke("normalize", ws.src, "-o", ws.out, "-c", "all"))
    assert ws.output().split(b"\n")[0] == (
        b"id,name,name,id_normalized,id_changes,name#2_normalized,name#2_changes,"
        b"name#3_normalized,name#3_changes")
    # by default only the columns with something to change (髙 in one, 﨑 in the other)
    assert_ok(invoke("normalize", ws.src, "-o", ws.out))
    assert ws.output().split(b"\n")[0] == (
        b"id,name,name,name#2_normalized,name#2_changes,name#3_normalized,name#3_changes")
    # the reading column is resolved the same way
    ws.out.unlink()
    assert_error(invoke("normalize", ws.src, "-o", ws.out, "--kana-column", "name"),
                 r"column 'name' appears more than once \(columns 2 and 3\); select one by its "
                 r"label \(name#2 or name#3\) or its index \(2 or 3\)$")
    ws.no_output()
    ws.input_untouched()


def test_a_header_that_looks_like_a_label(tmp_path):
    # "id,name,name,name#3": a request equal to a real header means that header
    ws = Workspace.corpus(tmp_path, "header_like_label.csv")
    d = scan_json(ws, "-c", "name#3")
    # column 4 holds 﨑 and 崎: one unsafe value (the third column's 山田 and 髙 are not read)
    assert d["columns_selected"] == ["name#3"] and d["unsafe_rows"] == 1
    assert d["chars"][0]["codepoint"] == "U+FA11" and len(d["chars"]) == 1
    for col in ("3", "name##3"):  # the repeat in column 3: by index or its label
        d = scan_json(ws, "-c", col)
        assert d["columns_selected"] == ["name##3"] and d["columns"]["name##3"]["unsafe"] == 1
    # the report's labels are unique and none of them is another column's header
    labels = scan_json(ws)["columns"]
    assert list(labels) == ["id", "name#2", "name##3", "name#3"]
    assert_ok(invoke("normalize", ws.src, "-o", ws.out, "-c", "name#3", "-k", "name#2"))
    # name#3 is the header (column 4); name#2 is the label of column 2, its reading, which
    # normalize_kana leaves as it is (no kana in it)
    assert ws.output() == _u("id,name,name,name#3,name#3_normalized,name#3_changes,"
                             "name#2_normalized,name#2_changes\n"
                             "1,髙橋,山田,﨑,崎,﨑→崎 koseki-parent,髙橋,\n"
                             "2,高橋,髙,崎,崎,,高橋,\n")
    # the reading column follows the same rules: ambiguous by name, no digit but ASCII
    for kana, pattern in [("name", r"column 'name' appears more than once"),
                          ("١", r"no column '١'; the file has columns: 1 'id'"),
                          ("²", r"no column '²'; the file has columns: 1 'id'")]:
        assert_error(invoke("normalize", ws.src, "-o", ws.out, "-c", "1", "-k", kana), pattern)
    ws.input_untouched()


def test_a_header_named_like_an_index(tmp_path):
    # "2,name,name": the header "2" is column 1, so "-c 2" is column 1, never column 2
    ws = Workspace.corpus(tmp_path, "numeric_header.csv")
    assert scan_json(ws, "-c", "2")["columns_selected"] == ["2"]
    assert scan_json(ws, "-c", "name#2")["columns_selected"] == ["name#2"]
    assert scan_json(ws, "-c", "3")["columns_selected"] == ["name#3"]
    ws.input_untouched()


def test_mixed_encodings_read_as_cp932(tmp_path):
    ws = Workspace.corpus(tmp_path, "mixed_encodings.csv")
    # asked to read it all as CP932, the UTF-8 lines do not decode either (橋 is E6 A9 8B)
    assert_error(invoke("scan", ws.src, "--encoding", "cp932"),
                 r"line 2, byte offset 15: cannot decode bytes 0x8B 0x0A as cp932 \(try "
                 r"--encoding utf-8\)$")
    ws.input_untouched()


def test_undecodable_ff_fe_is_cp932_private_use(tmp_path):
    """b"\\xff\\xfe" decodes in CP932 (U+F8F3 U+F8F2, private use): the codec's answer, and
    the report shows them as unmapped gaiji rather than hiding them."""
    ws = Workspace(tmp_path, b"id,name\n1,\xff\xfe\n")
    d = scan_json(ws)
    assert d["encoding"] == "cp932" and d["unsafe_rows"] == 1 and d["fallback_rows"] == 1
    assert {c["category"] for c in d["chars"]} == {"gaiji"}


# ---------------------------------------------------------------------------- subprocess


def test_subprocess_errors(tmp_path):
    for name, args, pattern in [ERROR_CASES[1], ERROR_CASES[4], ERROR_CASES[5],
                                ERROR_CASES[7]]:
        sub = tmp_path / name.replace(".", "_")
        sub.mkdir()
        ws = Workspace.corpus(sub, name)
        assert_error(spawn("scan", ws.src, *args), pattern)
        assert_error(spawn("normalize", ws.src, "-o", ws.out, *args), pattern)
        ws.no_output()
        ws.input_untouched()


def test_subprocess_cr_only_and_stdin(tmp_path):
    ws = Workspace.corpus(tmp_path, "cr_only_cp932.csv")
    data = ws.src.read_bytes()
    out, _ = assert_ok(spawn("scan", ws.src, "-f", "json"))
    d = json.loads(out)
    assert d["line_ends"] == "CR" and d["rows"] == 2 and d["encoding"] == "cp932"
    out, _ = assert_ok(spawn("scan", "-", "-f", "json", input=data))
    assert {k: v for k, v in json.loads(out).items() if k != "file"} == \
        {k: v for k, v in d.items() if k != "file"}
    assert_ok(spawn("normalize", ws.src, "-o", ws.out, "-c", "name", "-q"))
    assert ws.output() == CORPUS_CASES["cr_only_cp932.csv"][1]
    done = subprocess.run([sys.executable, "-m", "mojinorm.cli", "normalize", "-", "-o", "-",
                           "-c", "name", "-q"], input=data, capture_output=True, timeout=120)
    assert done.returncode == 0 and done.stdout == CORPUS_CASES["cr_only_cp932.csv"][1]
    ws.input_untouched()


def test_subprocess_unbalanced_quote_on_stdin():
    data = (HOSTILE / "unbalanced_quote.csv").read_bytes()
    assert_error(spawn("scan", "-", input=data),
                 r"<stdin>, line 2: quoted field opened here is never closed")
    assert_error(spawn("normalize", "-", "-o", "-", input=data),
                 r"<stdin>, line 2: quoted field opened here is never closed")


# ---------------------------------------------------------------------------- the file itself


def test_directory_instead_of_file(tmp_path):
    ws = Workspace(tmp_path, b"id,name\n")
    d = tmp_path / "adir"
    d.mkdir()
    assert_error(invoke("scan", d), r"adir: is a directory, not a file$")
    assert_error(invoke("normalize", d, "-o", ws.out), r"adir: is a directory, not a file$")
    assert_error(spawn("scan", d), r"adir: is a directory, not a file$")
    ws.no_output()


def test_missing_file_is_a_usage_error(tmp_path):
    ws = Workspace(tmp_path, b"id,name\n")
    missing = tmp_path / "missing.csv"
    assert_usage_error(invoke("scan", missing), r"no such file")
    assert_usage_error(invoke("normalize", missing, "-o", ws.out), r"no such file")
    ws.no_output()


def test_no_read_permission_simulated(tmp_path, monkeypatch):
    """Tests run as root, where chmod 000 does not stop reads: make the open call fail."""
    ws = Workspace(tmp_path, b"id,name\n1,\xe9\xab\x99\n")

    def denied(path):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(csvio, "_open_read", denied)
    pattern = r"in\.csv: permission denied \(cannot read it\)$"
    assert_error(invoke("scan", ws.src), pattern)
    assert_error(invoke("normalize", ws.src, "-o", ws.out), pattern)
    assert_error(invoke("normalize", ws.src, "-o", ws.out, "--kana-column", "name"), pattern)
    ws.no_output()
    ws.input_untouched()


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root reads a file whatever its mode")
def test_no_read_permission_real(tmp_path):
    ws = Workspace(tmp_path, b"id,name\n1,\xe9\xab\x99\n")
    os.chmod(ws.src, 0)
    try:
        assert_error(spawn("scan", ws.src), r"in\.csv: permission denied")
        assert_error(spawn("normalize", ws.src, "-o", ws.out), r"in\.csv: permission denied")
        ws.no_output()
    finally:
        os.chmod(ws.src, 0o644)
    ws.input_untouched()


# ---------------------------------------------------------------------------- big fields


def test_10mb_field(tmp_path):
    big = "x" * (10 * 1024 * 1024)
    text = f"id,name\n1,髙橋\n2,{big}髙\n3,山田\n"
    ws = Workspace(tmp_path, text.encode("utf-8"))
    d = scan_json(ws)
    assert (d["rows"], d["unsafe_rows"], d["ragged_rows"]) == (3, 2, 0)
    assert {c["codepoint"]: c["count"] for c in d["chars"]} == {"U+9AD9": 2}
    assert_ok(invoke("normalize", ws.src, "-o", ws.out, "-c", "name", "-q"))
    assert ws.output() == (f"id,name,name_normalized,name_changes\n"
                           f"1,髙橋,高橋,髙→高 jis-unification\n"
                           f"2,{big}髙,{big}高,髙→高 jis-unification\n3,山田,山田,\n"
                           ).encode()
    ws.input_untouched()


def test_10mb_quoted_field_over_lines(tmp_path):
    big = ("あ" * 1000 + "\n") * 3500  # ~10.5 MB in UTF-8, 3,500 lines in one field
    text = f'id,name\n1,"{big}髙"\n2,﨑\n'
    ws = Workspace(tmp_path, text.encode("utf-8"))
    d = scan_json(ws)
    assert (d["rows"], d["unsafe_rows"], d["multiline_records"]) == (2, 2, 1)
    assert d["chars"][0] == {**d["chars"][0], "codepoint": "U+000A", "count": 3500}
    assert_ok(invoke("normalize", ws.src, "-o", ws.out, "-c", "name", "--replace", "-q"))
    assert ws.output() == f'id,name\n1,"{big.replace(chr(10), "")}高"\n2,崎\n'.encode()
    ws.input_untouched()


def test_record_limit(tmp_path, monkeypatch):
    """Past csvio.MAX_RECORD (16 MiB; 1 MiB here) a line or a quoted field is an error."""
    monkeypatch.setattr(csvio, "MAX_RECORD", 1 << 20)
    monkeypatch.setattr(csvio, "CHUNK_SIZE", 1 << 16)
    for sub in "abc":
        (tmp_path / sub).mkdir()
    long_line = Workspace(tmp_path / "a", b"id,name\n1,abc\n2," + b"x" * (2 << 20) + b"\n")
    # line 3 starts at byte 14 (b"id,name\n" is 8 bytes, b"1,abc\n" 6)
    pattern = r"in\.csv, line 3, byte offset 14: a line longer than 1 MiB \(no line breaks\?\)$"
    assert_error(invoke("scan", long_line.src), pattern)
    assert_error(invoke("normalize", long_line.src, "-o", long_line.out), pattern)
    long_line.no_output()
    open_quote = Workspace(tmp_path / "b",
                           b'id,name\n1,abc\n2,"' + b"xxxxxxx\n" * (300 << 10) + b'"\n')
    pattern = r"in\.csv, line 3: quoted field opened here is still open after 1 MiB"
    assert_error(invoke("scan", open_quote.src), pattern)
    assert_error(invoke("normalize", open_quote.src, "-o", open_quote.out), pattern)
    open_quote.no_output()
    header = Workspace(tmp_path / "c", b'id,"name' + b"xxxxxxx\n" * (300 << 10) + b'"\n')
    pattern = r"in\.csv, line 1: quoted field opened here is still open after 1 MiB"
    assert_error(invoke("scan", header.src), pattern)
    assert_error(invoke("normalize", header.src, "-o", header.out), pattern)
    header.no_output()


# ---------------------------------------------------------------------------- CR-only files


def _lf_and_cr(rows: int, seed: int) -> tuple[bytes, bytes]:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["id", "name", "kana"])
    w.writerows(make_sample.generate(rows, seed))
    lf = buf.getvalue().encode("utf-8")
    assert b"\r" not in lf
    return lf, lf.replace(b"\n", b"\r")


@pytest.mark.parametrize("size", [1, 7, 64, 1 << 20])
def test_cr_only_reads_like_lf(tmp_path, monkeypatch, size):
    """A CR-only file gives the report of the same file with LF, and the same output with CR,
    whatever the chunk size."""
    lf, cr = _lf_and_cr(300, seed=5)
    (tmp_path / "lf").mkdir()
    (tmp_path / "cr").mkdir()
    a = Workspace(tmp_path / "lf", lf)
    b = Workspace(tmp_path / "cr", cr)
    want = scan_json(a)
    monkeypatch.setattr(csvio, "CHUNK_SIZE", size)
    got = scan_json(b)
    assert got["line_ends"] == "CR" and got["notes"] == [
        "line ends are CR only (classic Mac OS): read as record ends"]
    strip = ("line_ends", "notes", "file")
    assert {k: v for k, v in got.items() if k not in strip} == \
        {k: v for k, v in want.items() if k not in strip}
    assert want["unsafe_rows"] > 0
    for args in ([], ["--replace"]):
        assert_ok(invoke("normalize", a.src, "-o", a.out, "-c", "name", "-q", *args))
        assert_ok(invoke("normalize", b.src, "-o", b.out, "-c", "name", "-q", *args))
        assert b.output() == a.output().replace(b"\n", b"\r")
    a.input_untouched()
    b.input_untouched()


def test_cr_only_parallel_equals_serial(tmp_path):
    _, cr = _lf_and_cr(20_000, seed=9)
    ws = Workspace(tmp_path, cr)
    one = scan_json(ws)
    two = scan_json(ws, "--jobs", "2")
    assert one == two and one["rows"] == 20_000 and one["line_ends"] == "CR"


def test_crlf_is_not_cr_only(tmp_path):
    ws = Workspace(tmp_path, "id,name\r\n1,髙橋\r\n".encode())
    d = scan_json(ws)
    assert d["line_ends"] == "CRLF" and d["rows"] == 1 and d["notes"] == []


# ---------------------------------------------------------------------------- the output


def test_output_in_missing_directory(tmp_path):
    ws = Workspace.corpus(tmp_path, "ragged.csv")
    out = ws.outdir / "nodir" / "out.csv"
    assert_error(invoke("normalize", ws.src, "-o", out),
                 r"out/nodir/out\.csv: cannot write into \S+/nodir: No such file or directory$")
    ws.no_output()
    ws.input_untouched()


def test_output_under_a_regular_file(tmp_path):
    ws = Workspace.corpus(tmp_path, "ragged.csv")
    (ws.outdir / "file").write_bytes(b"keep")
    out = ws.outdir / "file" / "out.csv"
    assert_error(invoke("normalize", ws.src, "-o", out),
                 r"out/file/out\.csv: cannot write into \S+/file: Not a directory$")
    assert_error(spawn("normalize", ws.src, "-o", out), r"Not a directory$")
    assert os.listdir(ws.outdir) == ["file"] and (ws.outdir / "file").read_bytes() == b"keep"
    ws.input_untouched()


def test_output_is_a_directory(tmp_path):
    ws = Workspace.corpus(tmp_path, "ragged.csv")
    assert_error(invoke("normalize", ws.src, "-o", ws.outdir),
                 r"out: is a directory; give a file name$")
    ws.no_output()
    ws.input_untouched()


class FullDisk:
    """A temp file that takes ``room`` bytes, then fails like a full disk."""

    def __init__(self, f, room: int, on_flush: bool = False) -> None:
        self.f = f
        self.room = room
        self.on_flush = on_flush
        self.written = 0

    def write(self, data: bytes) -> int:
        if self.written + len(data) > self.room:
            take = self.room - self.written
            self.f.write(data[:take])
            self.written += take
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.written += len(data)
        return self.f.write(data)

    def flush(self) -> None:
        if self.on_flush:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.f.flush()

    def fileno(self) -> int:
        return self.f.fileno()

    def close(self) -> None:
        self.f.close()


def _full_disk(monkeypatch, room: int, on_flush: bool = False) -> list[FullDisk]:
    opened: list[FullDisk] = []

    def open_temp(fd):
        f = FullDisk(os.fdopen(fd, "wb"), room, on_flush)
        opened.append(f)
        return f

    monkeypatch.setattr(csvio.atomic_output, "_open_temp", staticmethod(open_temp))
    return opened


@pytest.mark.parametrize("on_flush", [False, True])
def test_disk_full_mid_way(tmp_path, monkeypatch, on_flush):
    monkeypatch.setattr(csvio, "CHUNK_SIZE", 64)  # many writes
    ws = Workspace(tmp_path, make_sample_bytes(500))
    ws.out.write_bytes(b"old output")
    opened = _full_disk(monkeypatch, 1 << 30 if on_flush else 3000, on_flush)
    err = assert_error(invoke("normalize", ws.src, "-o", ws.out, "-c", "name"),
                       r"out\.csv: cannot write: No space left on device$")
    assert str(ws.out) in err
    assert opened and opened[0].written >= (3000 if not on_flush else 1)
    assert ws.output() == b"old output"  # untouched, and no temp file
    ws.out.unlink()
    assert_error(invoke("normalize", ws.src, "-o", ws.out, "-c", "name", "--replace"),
                 r"No space left on device$")
    ws.no_output()
    ws.input_untouched()


def make_sample_bytes(rows: int, seed: int = 3) -> bytes:
    return _lf_and_cr(rows, seed)[0]


def test_overwrite_is_atomic(tmp_path, monkeypatch):
    """--overwrite may replace the input, but only with a complete file."""
    monkeypatch.setattr(csvio, "CHUNK_SIZE", 64)
    data = make_sample_bytes(500)
    ws = Workspace(tmp_path, data)
    _full_disk(monkeypatch, 3000)
    assert_error(invoke("normalize", ws.src, "-o", ws.src, "-c", "name", "--overwrite"),
                 r"in\.csv: cannot write: No space left on device$")
    ws.input_untouched()  # old file intact, no temp file next to it
    monkeypatch.undo()
    # without --overwrite it refuses; with it, the input is replaced by the complete output
    assert_error(invoke("normalize", ws.src, "-o", ws.src, "-c", "name"), r"--overwrite")
    ws.input_untouched()
    assert_ok(invoke("normalize", ws.src, "-o", ws.out, "-c", "name", "-q"))
    expected = ws.out.read_bytes()
    ws.out.unlink()
    assert_ok(invoke("normalize", ws.src, "-o", ws.src, "-c", "name", "--overwrite", "-q"))
    assert ws.src.read_bytes() == expected != data
    assert sorted(os.listdir(ws.indir)) == ["in.csv"]


def _syncs(monkeypatch, fail: bool = False) -> list[int]:
    """Count the background data syncs of an output (their file's size when each ran); with
    ``fail``, each fails like a disk error."""
    ran: list[int] = []
    real = getattr(os, "fdatasync", os.fsync)

    def fdatasync(fd: int) -> None:
        ran.append(os.fstat(fd).st_size)
        if fail:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        real(fd)

    monkeypatch.setattr(os, "fdatasync", fdatasync, raising=False)
    return ran


def test_output_synced_behind_the_writer(tmp_path, monkeypatch):
    """The temp file goes to the disk every WRITE_BEHIND bytes while normalize writes on: the
    same bytes as without, the first sync started before the file is complete."""
    data = make_sample_bytes(3000)
    ws = Workspace(tmp_path, data)
    assert_ok(invoke("normalize", ws.src, "-o", ws.out, "-c", "name", "-q"))
    expected = ws.output()
    ws.out.unlink()
    monkeypatch.setattr(csvio, "WRITE_BEHIND", 4096)
    monkeypatch.setattr(csvio, "CHUNK_SIZE", 2048)  # many writes
    ran = _syncs(monkeypatch)
    # the file's size when each sync is started, by the writer (when its thread then runs is
    # the scheduler's affair: on a busy machine, after the last write)
    started: list[int] = []
    thread = threading.Thread

    class Recorded(thread):
        def __init__(self, *args, **kwargs):
            if kwargs.get("name") == "mojinorm-write-behind":
                started.append(os.fstat(kwargs["args"][0]).st_size)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(threading, "Thread", Recorded)
    assert_ok(invoke("normalize", ws.src, "-o", ws.out, "-c", "name", "-q"))
    assert ws.output() == expected
    # started while the file was still being written, each after WRITE_BEHIND more bytes
    assert started and started == sorted(started) and 4096 <= started[0] < len(expected)
    assert ran and all(size <= len(expected) for size in ran)
    ws.input_untouched()


def test_output_sync_error_behind_the_writer(tmp_path, monkeypatch):
    """A disk error in a background sync fails the command like one in the last fsync: one
    line, exit 2, the old output untouched and no temp file."""
    monkeypatch.setattr(csvio, "WRITE_BEHIND", 4096)
    monkeypatch.setattr(csvio, "CHUNK_SIZE", 2048)
    ws = Workspace(tmp_path, make_sample_bytes(3000))
    ws.out.write_bytes(b"old output")
    ran = _syncs(monkeypatch, fail=True)
    assert_error(invoke("normalize", ws.src, "-o", ws.out, "-c", "name"),
                 r"out\.csv: cannot write: Input/output error$")
    assert ran
    assert ws.output() == b"old output"
    ws.input_untouched()


def test_write_behind_one_sync_at_a_time(tmp_path, monkeypatch):
    """While a sync runs, more writes start no other: the writer never waits for the disk,
    and the syncs never pile up."""
    started = threading.Event()
    release = threading.Event()
    ran: list[int] = []

    def slow(fd: int) -> None:
        ran.append(fd)
        started.set()
        release.wait(10)

    monkeypatch.setattr(os, "fdatasync", slow, raising=False)
    with open(tmp_path / "f", "wb") as f:
        behind = csvio.WriteBehind(f, every=10)
        f.write(b"x" * 10)
        behind.wrote(10)
        assert started.wait(10)
        for _ in range(5):  # a sync still runs: these start none
            f.write(b"y" * 10)
            behind.wrote(10)
        assert len(ran) == 1
        release.set()
        behind.wait()
        f.write(b"z" * 50)
        behind.wrote(50)  # 100 bytes since: the next one
        behind.wait()
    assert len(ran) == 2


def test_keyboard_interrupt_mid_way(tmp_path, monkeypatch):
    from mojinorm import counting, records, rewrite

    monkeypatch.setattr(csvio, "CHUNK_SIZE", 64)
    monkeypatch.setattr(records, "FAST_PATH", False)  # the interrupt is injected in that writer
    ws = Workspace(tmp_path, make_sample_bytes(500))
    real = rewrite._Writer._norm
    seen = {"calls": 0, "temp": []}

    def interrupted(self, value, reading, line):
        seen["calls"] += 1
        if seen["calls"] == 10:
            seen["temp"] = os.listdir(ws.outdir)
            raise KeyboardInterrupt
        return real(self, value, reading, line)

    monkeypatch.setattr(rewrite._Writer, "_norm", interrupted)
    assert_error(invoke("normalize", ws.src, "-o", ws.out, "-c", "name"),
                 r"^mojinorm: error: interrupted$", code=130)
    assert len(seen["temp"]) == 1 and seen["temp"][0].endswith(".tmp")  # it was there
    ws.no_output()  # and it is gone
    ws.input_untouched()
    # scan too
    def stop(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(records, "FAST_PATH", True)
    monkeypatch.setattr(counting._FastScan, "batch", stop)  # the polars reader
    monkeypatch.setattr(counting._FastScan, "tallied", stop)  # the compiled reader's counting
    assert_error(invoke("scan", ws.src), r"^mojinorm: error: interrupted$", code=130)
    monkeypatch.setattr(rewrite._FastWrite, "write", stop)
    assert_error(invoke("normalize", ws.src, "-o", ws.out, "-c", "name"),
                 r"^mojinorm: error: interrupted$", code=130)
    ws.no_output()
    monkeypatch.setattr(records, "FAST_PATH", False)
    monkeypatch.setattr(counting._Scanner, "analyse", stop)  # the exact reader
    assert_error(invoke("scan", ws.src), r"^mojinorm: error: interrupted$", code=130)


def test_special_file_outputs_are_written_not_replaced(tmp_path):
    ws = Workspace.corpus(tmp_path, "ragged.csv")
    null = Path("/dev/null")
    if not null.is_char_device():
        pytest.skip("no /dev/null")
    assert_ok(invoke("normalize", ws.src, "-o", null, "-q"))
    assert null.is_char_device()
    fifo = ws.outdir / "fifo"
    os.mkfifo(fifo)
    reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE)
    assert_ok(invoke("normalize", ws.src, "-o", fifo, "-c", "name", "-q"))
    got = reader.communicate(timeout=60)[0]
    assert got == CORPUS_CASES["ragged.csv"][1]
    assert stat.S_ISFIFO(os.stat(fifo).st_mode) and os.listdir(ws.outdir) == ["fifo"]
    ws.input_untouched()


def test_dev_full(tmp_path):
    full = Path("/dev/full")
    if not full.is_char_device():
        pytest.skip("no /dev/full")
    ws = Workspace.corpus(tmp_path, "ragged.csv")
    assert_error(spawn("normalize", ws.src, "-o", full),
                 r"^mojinorm: error: /dev/full: cannot write: No space left on device$")
    assert full.is_char_device()  # written into, never replaced by a regular file
    with open(full, "wb") as sink:
        done = subprocess.run([sys.executable, "-m", "mojinorm.cli", "normalize", ws.src,
                               "-o", "-"], stdout=sink, stderr=subprocess.PIPE, timeout=120)
        assert done.returncode == 2
        assert done.stderr.decode() == (f"{ERROR}<stdout>: cannot write: No space left on "
                                        "device\n")
        done = subprocess.run([sys.executable, "-m", "mojinorm.cli", "scan", ws.src],
                              stdout=sink, stderr=subprocess.PIPE, timeout=120)
        assert done.returncode == 2 and done.stderr.count(b"\n") == 1
        assert b"No space left on device" in done.stderr
    ws.input_untouched()


def test_stdout_closed_early_is_quiet(tmp_path):
    lf = make_sample_bytes(20_000)
    ws = Workspace(tmp_path, lf)
    p = subprocess.Popen([sys.executable, "-m", "mojinorm.cli", "normalize", ws.src, "-o", "-",
                          "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.read(100)
    p.stdout.close()
    err = p.stderr.read()
    assert p.wait(timeout=120) == 0 and err == b""
    ws.input_untouched()


def test_corpus_files_are_small():
    for p in HOSTILE.iterdir():
        assert p.stat().st_size < 1024, p
    assert shutil.which("cat")  # test_special_file_outputs uses it


# ---------------------------------------------------------------------------- records and formulas


@pytest.mark.parametrize("fast", [True, False])
def test_replace_never_empties_a_record(tmp_path, monkeypatch, fast):
    # A one-column file whose values are only invisible characters (ZWSP, TAB, BOM): with
    # --replace they become "", and an empty line would not be a record when read again.
    from mojinorm import records

    monkeypatch.setattr(records, "FAST_PATH", fast)
    ws = Workspace.corpus(tmp_path, "one_column_invisible.csv")
    assert_ok(invoke("normalize", ws.src, "-o", ws.out, "--replace", "-d", ","))
    assert ws.output() == _u('name\n""\n""\n""\n高橋\n')
    with open(ws.out, encoding="utf-8", newline="") as fh:
        assert len(list(csv.reader(fh))) == 5  # header + every record survived


@pytest.mark.parametrize("fast", [True, False])
def test_a_defused_formula_is_never_made_live(tmp_path, monkeypatch, fast):
    # \t=HYPERLINK(...) and ZWSP+81-3 are defused by an invisible first character; removing it
    # would make a spreadsheet run them.  The value gets a leading ' (rule formula-guarded),
    # in the added column and with --replace; =SUM(A1) was live already and stays as it is.
    from mojinorm import records

    monkeypatch.setattr(records, "FAST_PATH", fast)
    ws = Workspace.corpus(tmp_path, "formula_defused.csv")
    assert_ok(invoke("normalize", ws.src, "-o", ws.out, "-c", "name"))
    with open(ws.out, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["name_normalized"] for r in rows] == [
        "'=HYPERLINK(\"http://x\",\"y\")", "'+81-3", "=SUM(A1)", "高橋"]
    assert rows[0]["name_changes"].endswith("=→'= formula-guarded")
    assert rows[1]["name_changes"].endswith("+→'+ formula-guarded")
    assert rows[2]["name_changes"] == ""
    assert_ok(invoke("normalize", ws.src, "-o", ws.out, "-c", "name", "--replace",
                     "--overwrite"))
    with open(ws.out, encoding="utf-8", newline="") as fh:
        names = [r["name"] for r in csv.DictReader(fh)]
    assert names[:2] == ["'=HYPERLINK(\"http://x\",\"y\")", "'+81-3"]


def test_input_read_once_from_a_pipe_with_a_reading_index(tmp_path):
    # normalize - -k 3: the reading column by index, the names from the one read of stdin
    data = make_sample_bytes(5000)
    out = tmp_path / "out.csv"
    proc = subprocess.run([sys.executable, "-m", "mojinorm", "normalize", "-", "-o", str(out),
                           "-k", "3", "-q"], input=data, capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = out.read_bytes().split(b"\n")
    assert lines[0] == (b"id,name,kana,id_normalized,id_changes,name_normalized,name_changes,"
                        b"kana_normalized,kana_changes")
    assert len(lines) == data.count(b"\n") + 1  # every row, the header first


def test_output_permissions_follow_the_input(tmp_path):
    ws = Workspace(tmp_path, make_sample_bytes(20))
    os.chmod(ws.src, 0o600)  # health data
    assert_ok(invoke("normalize", ws.src, "-o", ws.out, "-c", "name", "-q"))
    assert stat.S_IMODE(os.stat(ws.out).st_mode) == 0o600
    os.chmod(ws.out, 0o4755)  # an existing output's setuid bit is never copied
    assert_ok(invoke("normalize", ws.src, "-o", ws.out, "-c", "name", "-q"))
    assert stat.S_IMODE(os.stat(ws.out).st_mode) == 0o600
    os.chmod(ws.out, 0o444)  # read-only: replacing it needs --overwrite
    assert_error(invoke("normalize", ws.src, "-o", ws.out, "-c", "name"),
                 r"exists and is read-only; pass --overwrite to replace it$")
    assert_ok(invoke("normalize", ws.src, "-o", ws.out, "-c", "name", "-q", "--overwrite"))


def test_dev_stdout_is_a_stream_not_a_file(tmp_path):
    if not os.path.exists("/dev/stdout"):
        pytest.skip("no /dev/stdout")
    src = tmp_path / "in.csv"
    src.write_bytes(make_sample_bytes(20))
    for target in ("/dev/stdout", "/dev/fd/1"):
        with open(tmp_path / "captured.csv", "wb") as sink:
            proc = subprocess.run([sys.executable, "-m", "mojinorm", "normalize", str(src),
                                   "-o", target, "-c", "name", "-q"], stdout=sink,
                                  stderr=subprocess.PIPE, timeout=60)
        assert proc.returncode == 0, proc.stderr
        got = (tmp_path / "captured.csv").read_bytes()
        assert got.startswith(b"id,name,kana,name_normalized,name_changes\n")
    assert os.path.islink("/dev/stdout")  # still the link it was


def test_closed_standard_streams_are_one_line_errors(tmp_path):
    src = tmp_path / "in.csv"
    src.write_bytes(make_sample_bytes(5))
    scan = subprocess.run(f"{sys.executable} -m mojinorm scan - <&-", shell=True,
                          capture_output=True, text=True, timeout=60)
    assert scan.returncode == 2 and scan.stderr.strip() == \
        "mojinorm: error: <stdin>: standard input is closed: give a file, or pipe one in"
    norm = subprocess.run(f"{sys.executable} -m mojinorm normalize {src} -o - -c name >&-",
                          shell=True, capture_output=True, text=True, timeout=60)
    assert norm.returncode == 2 and "standard output is closed" in norm.stderr
    assert "Traceback" not in norm.stderr + scan.stderr


def test_sigterm_cleans_up_like_ctrl_c(tmp_path):
    import signal
    import time

    src = tmp_path / "big.csv"
    src.write_bytes(make_sample_bytes(400_000))
    out = tmp_path / "out.csv"
    proc = subprocess.Popen([sys.executable, "-m", "mojinorm", "normalize", str(src), "-o",
                             str(out), "-c", "name", "-q"], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not any(p.name.endswith(".tmp") for p in tmp_path.iterdir()):
        if proc.poll() is not None or time.monotonic() > deadline:
            pytest.skip("finished before it could be interrupted")
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert err.decode().strip() == "mojinorm: error: terminated by SIGTERM"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.csv"]  # no temp, no output


def test_a_file_that_changes_while_read_is_refused(tmp_path, monkeypatch):
    import mojinorm.scan as scan_mod

    monkeypatch.setattr(csvio, "CHUNK_SIZE", 4096)
    src = tmp_path / "in.csv"
    src.write_bytes(make_sample_bytes(2000))

    grown = []

    def grow(done, total):
        if not grown:  # once: a file appended to while it is read
            grown.append(True)
            with open(src, "ab") as fh:
                fh.write(b"9999999,\xe9\xab\x99,x\n")

    with pytest.raises(scan_mod.csvio.InputError, match="changed while being read"):
        scan_mod.scan_file(src, progress=grow)
    grown.clear()
    src.write_bytes(make_sample_bytes(2000))
    with pytest.raises(scan_mod.csvio.InputError, match="nothing was written"):
        scan_mod.normalize_file(src, tmp_path / "out.csv", progress=grow)
    assert not (tmp_path / "out.csv").exists()
