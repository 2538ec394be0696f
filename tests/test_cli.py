"""The ``mojinorm`` command line, run with click's CliRunner and as a real subprocess."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import mojinorm
from mojinorm import csvio, records
from mojinorm.cli import cli

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "samples" / "names.csv"
SAMPLE_GAIJI = ROOT / "data" / "samples" / "gaiji.yaml"
sys.path.insert(0, str(ROOT / "tools"))
import make_sample  # noqa: E402

# Handmade file (target jisx0208):
#   1 髙橋 -> unsafe, lossless (髙→高 jis-unification)
#   2 山田 -> safe
#   3 山﨑 -> unsafe, substitution (﨑→崎 koseki-parent)
#   4 草彅 -> unsafe, fallback (彅: no mapping)
#   5 齋藤 -> safe (old form inside JIS X 0208)
#   6 "田中, 一" (quoted, comma inside) -> safe
# => rows 6, unsafe 3, fixable 2 (lossless 1, substituted 1), fallback 1
ROWS = [
    ("1", "髙橋\u3000太郎", "ﾀｶﾊｼ ﾀﾛｳ"),
    ("2", "山田\u3000花子", "ヤマダ\u3000ハナコ"),
    ("3", "山﨑\u3000次郎", "ヤマサキ\u3000ジロウ"),
    ("4", "草彅\u3000剛", "クサナギ\u3000ツヨシ"),
    ("5", "齋藤\u3000一", "サイトウ\u3000ハジメ"),
    ("6", '"田中, 一"', "タナカ\u3000ハジメ"),
]
REQUIRED_KEYS = {"file", "target", "encoding", "rows", "unsafe_rows", "fixable_rows",
                 "fallback_rows", "columns", "chars"}


def members(eol: str = "\n") -> str:
    return eol.join(["id,name,kana", *(",".join(r) for r in ROWS)]) + eol


def write(path: Path, text: str, encoding: str = "utf-8", bom: bool = False) -> Path:
    path.write_bytes((csvio.BOM if bom else b"") + text.encode(encoding))
    return path


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def run(runner: CliRunner, *args: str, input: bytes | str | None = None):
    return runner.invoke(cli, [str(a) for a in args], input=input, catch_exceptions=False)


def no_traceback(result) -> None:
    assert "Traceback" not in result.output and "Traceback" not in result.stderr


# ---------------------------------------------------------------------------- basics


def test_version(runner):
    r = run(runner, "--version")
    assert r.exit_code == 0 and mojinorm.__version__ in r.output


def test_help_lists_commands(runner):
    r = run(runner, "--help")
    for cmd in ("scan", "normalize", "explain", "lookup", "targets"):
        assert cmd in r.output


# ---------------------------------------------------------------------------- scan


def test_scan_table(runner, tmp_path):
    p = write(tmp_path / "m.csv", members())
    r = run(runner, "scan", p)
    assert r.exit_code == 0, r.output
    out = r.stdout
    assert "encoding    utf-8 (detected)" in out
    assert "target      jisx0208" in out
    assert "rows        6" in out
    assert "unsafe      3 rows (50.00%)" in out
    assert "2 become safe without the fallback: 1 same character, 1 by substitution" in out
    assert "1 need the fallback" in out
    assert "U+9AD9" in out and "jis-unification" in out and "MJ028902" in out
    assert r.stderr == ""  # no progress bar: not a terminal, small file


def test_scan_json_keys_and_order(runner, tmp_path):
    p = write(tmp_path / "m.csv", members())
    r = run(runner, "scan", p, "--format", "json")
    assert r.exit_code == 0
    d = json.loads(r.stdout)
    assert REQUIRED_KEYS <= set(d)
    assert (d["rows"], d["unsafe_rows"], d["fixable_rows"], d["fallback_rows"]) == (6, 3, 2, 1)
    assert (d["lossless_rows"], d["substituted_rows"]) == (1, 1)
    # changed: the 3 unsafe values (the fallback too) are what normalize rewrites
    assert d["columns"]["name"] == {"values": 6, "unsafe": 3, "fallback": 1, "invisible": 0,
                                    "changed": 3, "lossless": 1, "substituted": 1,
                                    "review": 1}
    assert set(d["columns"]) == {"id", "name", "kana"}
    for c in d["chars"]:
        assert {"char", "codepoint", "count", "replacement", "rule"} <= set(c)
    keys = [(-c["count"], c["codepoint"]) for c in d["chars"]]
    assert keys == sorted(keys)
    assert {c["char"]: c["replacement"] for c in d["chars"]} == {"髙": "高", "﨑": "崎",
                                                                 "彅": "〓"}


def test_scan_csv_format_and_top(runner, tmp_path):
    p = write(tmp_path / "m.csv", members())
    r = run(runner, "scan", p, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert {row["char"] for row in rows} == {"髙", "﨑", "彅"}
    assert rows[0]["codepoint"].startswith("U+")
    r = run(runner, "scan", p, "--format", "json", "--top", "1")
    assert len(json.loads(r.stdout)["chars"]) == 1


def test_fail_on_unsafe(runner, tmp_path):
    p = write(tmp_path / "m.csv", members())
    assert run(runner, "scan", p, "--fail-on-unsafe").exit_code == 1
    assert run(runner, "scan", p).exit_code == 0
    clean = write(tmp_path / "clean.csv", "id,name\n1,山田\n")
    assert run(runner, "scan", clean, "--fail-on-unsafe").exit_code == 0
    # a wider target: nothing in CP932 but 彅? 彅 is an IBM extension kanji: all render
    assert run(runner, "scan", p, "--fail-on-unsafe", "--target", "cp932").exit_code == 0


def test_column_by_name_and_index(runner, tmp_path):
    p = write(tmp_path / "m.csv", members())
    a = json.loads(run(runner, "scan", p, "-f", "json", "--column", "name").stdout)
    b = json.loads(run(runner, "scan", p, "-f", "json", "--column", "2").stdout)
    assert a == b and list(a["columns"]) == ["name"] and a["unsafe_rows"] == 3
    c = json.loads(run(runner, "scan", p, "-f", "json", "-c", "1", "-c", "kana").stdout)
    assert list(c["columns"]) == ["id", "kana"] and c["unsafe_rows"] == 0


def test_missing_column_exit_2(runner, tmp_path):
    p = write(tmp_path / "m.csv", members())
    r = run(runner, "scan", p, "--column", "nmae")
    assert r.exit_code == 2
    assert "nmae" in r.stderr and "'id'" in r.stderr and "'name'" in r.stderr \
        and "'kana'" in r.stderr
    assert r.stderr.count("\n") == 1 and r.stdout == ""
    no_traceback(r)


def test_undecodable_byte_exit_2(runner, tmp_path):
    p = tmp_path / "bad.csv"
    p.write_bytes(b"id,name\n1,abc\n2,\x85\x40\n")
    for enc in ("auto", "utf-8", "cp932"):
        r = run(runner, "scan", p, "--encoding", enc)
        assert r.exit_code == 2
        assert "line 3" in r.stderr and "byte offset 16" in r.stderr and "bad.csv" in r.stderr
        assert r.stderr.count("\n") == 1
        no_traceback(r)


def test_auto_encoding_cp932_reported(runner, tmp_path):
    p = write(tmp_path / "sj.csv", members("\r\n"), "cp932")
    r = run(runner, "scan", p)
    assert "encoding    cp932 (detected)" in r.stdout
    d = json.loads(run(runner, "scan", p, "-f", "json").stdout)
    assert d["encoding"] == "cp932" and d["unsafe_rows"] == 3 and d["rows"] == 6
    bom = write(tmp_path / "bom.csv", members(), bom=True)
    d = json.loads(run(runner, "scan", bom, "-f", "json").stdout)
    assert d["encoding"] == "utf-8-sig" and list(d["columns"])[0] == "id"


def test_quoted_newlines_scanned(runner, tmp_path):
    p = write(tmp_path / "q.csv", 'id,name\n1,"髙橋\n太郎"\n2,"山田\r\n花子"\n3,﨑\n')
    d = json.loads(run(runner, "scan", p, "-f", "json").stdout)
    assert d["rows"] == 3 and d["unsafe_rows"] == 2 and d["multiline_records"] == 2


def test_stdin(runner):
    data = members("\r\n").encode("cp932")
    r = run(runner, "scan", "-", "-f", "json", "--jobs", "2", input=data)
    d = json.loads(r.stdout)
    assert d["file"] == "<stdin>" and d["encoding"] == "cp932" and d["unsafe_rows"] == 3


def test_plain_text(runner, tmp_path):
    p = write(tmp_path / "names.txt", "髙橋　太郎\n山田　花子\n草彅　剛\n")
    d = json.loads(run(runner, "scan", p, "-f", "json").stdout)
    assert d["rows"] == 3 and d["unsafe_rows"] == 2 and d["delimiter"] is None
    assert list(d["columns"]) == ["1"]


def test_ragged_rows_reported(runner, tmp_path):
    p = write(tmp_path / "r.csv", "id,name\n1,髙橋\n2\n3,山田,x\n")
    r = run(runner, "scan", p)
    assert "ragged      2 rows" in r.stdout


def test_bad_options_exit_2(runner, tmp_path):
    p = write(tmp_path / "m.csv", members())
    for args in (["--target", "nope"], ["--encoding", "latin-1"], ["--delimiter", ";"],
                 ["--jobs", "0"], ["--gaiji", str(tmp_path / "missing.yaml")]):
        r = run(runner, "scan", p, *args)
        assert r.exit_code == 2, args
        no_traceback(r)
    r = run(runner, "scan", tmp_path / "missing.csv")
    assert r.exit_code == 2 and "no such file" in r.stderr


def test_jobs_2_equals_jobs_1(runner, tmp_path):
    p = tmp_path / "20k.csv"
    make_sample.write(p, 20_000, seed=11)
    one = json.loads(run(runner, "scan", p, "-f", "json").stdout)
    two = json.loads(run(runner, "scan", p, "-f", "json", "--jobs", "2").stdout)
    assert one == two and one["rows"] == 20_000


def test_scan_sample_with_gaiji(runner):
    r = run(runner, "scan", SAMPLE, "--gaiji", SAMPLE_GAIJI, "-f", "json")
    d = json.loads(r.stdout)
    assert d["rows"] == 2000 and d["unsafe_rows"] > 80
    gaiji = [c for c in d["chars"] if c["category"] == "gaiji"]
    assert gaiji and all(c["replacement"] in "吉高" for c in gaiji)


# ---------------------------------------------------------------------------- normalize


@pytest.mark.parametrize("encoding,eol,bom", [
    ("utf-8", "\n", False), ("utf-8", "\r\n", True), ("cp932", "\r\n", False),
])
def test_normalize_round_trip(runner, tmp_path, encoding, eol, bom):
    src = write(tmp_path / "in.csv", members(eol), encoding, bom)
    out = tmp_path / "out.csv"
    r = run(runner, "normalize", src, "-o", out, "--column", "name")
    assert r.exit_code == 0, r.output
    assert "6 rows" in r.stderr
    raw_in, raw_out = src.read_bytes(), out.read_bytes()
    assert raw_out.startswith(csvio.BOM) == bom
    if bom:
        assert not raw_out[3:].startswith(csvio.BOM)
    in_lines = raw_in.split(eol.encode())
    out_lines = raw_out.split(eol.encode())
    assert len(in_lines) == len(out_lines)
    for a, b in zip(in_lines, out_lines, strict=True):
        if a:
            assert b.startswith(a + b","), (a, b)  # every original byte kept, then new fields
    if eol == "\r\n":
        assert raw_out.count(b"\r\n") == raw_out.count(b"\n")
    else:
        assert b"\r" not in raw_out
    text = raw_out.decode("utf-8-sig" if bom else encoding)
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] == ["id", "name", "kana", "name_normalized", "name_changes"]
    by_id = {row[0]: row for row in rows[1:]}
    assert by_id["1"][3:] == ["高橋\u3000太郎", "髙→高 jis-unification"]
    assert by_id["2"][3:] == ["山田\u3000花子", ""]
    assert by_id["3"][3:] == ["山崎\u3000次郎", "﨑→崎 koseki-parent"]
    assert by_id["4"][3:] == ["草〓\u3000剛", "彅→〓 no-mapping"]
    assert by_id["5"][3:] == ["齋藤\u3000一", ""]
    assert by_id["6"][1] == "田中, 一" and by_id["6"][3] == "田中, 一"


def test_normalize_cp932_bytes_kept_exactly(runner, tmp_path):
    # 0xED40 is a NEC-selected IBM extension code: it decodes to U+7E8A 纊, which Python's
    # cp932 encodes back as 0xFA5C.  The output must still carry 0xED40.
    src = tmp_path / "sj.csv"
    src.write_bytes(b"id,name,note\r\n1,\xfb\xfc\x8b\xb4,\xed\x40\r\n"
                    b"2,\xed\x40\x93\x63,x\r\n3,\"\xfb\xfc\",\"\xed\x40\"\r\n")
    out = tmp_path / "o.csv"
    assert run(runner, "normalize", src, "-o", out, "-c", "name").exit_code == 0
    lines = out.read_bytes().split(b"\r\n")
    assert lines[1].startswith(b"1,\xfb\xfc\x8b\xb4,\xed\x40,")
    assert lines[2].startswith(b"2,\xed\x40\x93\x63,x,")
    assert lines[3].startswith(b'3,"\xfb\xfc","\xed\x40",')
    # in place: only the name field changes, byte for byte
    out2 = tmp_path / "o2.csv"
    assert run(runner, "normalize", src, "-o", out2, "-c", "name", "--replace").exit_code == 0
    lines = out2.read_bytes().split(b"\r\n")
    assert lines[0] == b"id,name,note"
    assert lines[1] == b"1," + "高橋".encode("cp932") + b",\xed\x40"
    assert lines[3] == b'3,"' + "高".encode("cp932") + b'","\xed\x40"'


def test_normalize_replace(runner, tmp_path):
    src = write(tmp_path / "in.csv", members())
    out = tmp_path / "out.csv"
    assert run(runner, "normalize", src, "-o", out, "-c", "name", "--replace").exit_code == 0
    rows = list(csv.reader(io.StringIO(out.read_text("utf-8"), newline="")))
    assert rows[0] == ["id", "name", "kana"]
    assert [r[1] for r in rows[1:]] == ["高橋\u3000太郎", "山田\u3000花子", "山崎\u3000次郎",
                                        "草〓\u3000剛", "齋藤\u3000一", "田中, 一"]
    assert [r[2] for r in rows[1:]] == [r[2] for r in ROWS[:5]] + ["タナカ\u3000ハジメ"]


def test_normalize_ragged_and_blank_kept(runner, tmp_path):
    src = write(tmp_path / "in.csv", "id,name\n1,髙橋\n\n2,﨑,extra\n3\n")
    out = tmp_path / "out.csv"
    r = run(runner, "normalize", src, "-o", out, "-c", "name")
    assert r.exit_code == 0 and "2 ragged rows kept as they are" in r.stderr
    assert out.read_text("utf-8") == ("id,name,name_normalized,name_changes\n"
                                      "1,髙橋,高橋,髙→高 jis-unification\n\n2,﨑,extra\n3\n")


def test_normalize_fallback_kana(runner, tmp_path):
    src = write(tmp_path / "in.csv", members())
    out = tmp_path / "out.csv"
    r = run(runner, "normalize", src, "-o", out, "-c", "name", "--kana-column", "kana",
            "--fallback", "kana")
    assert r.exit_code == 0
    rows = {r[0]: r for r in csv.reader(io.StringIO(out.read_text("utf-8"), newline=""))}
    assert rows["4"][3] == "クサナギ\u3000ツヨシ"
    assert rows["1"][3] == "高橋\u3000太郎"


def test_normalize_default_columns_skip_kana(runner, tmp_path):
    src = write(tmp_path / "in.csv", members())
    out = tmp_path / "out.csv"
    assert run(runner, "normalize", src, "-o", out, "-k", "kana", "-c", "all").exit_code == 0
    header = out.read_text("utf-8").split("\n", 1)[0]
    # the reading column is no name column; it is normalized as a reading, last
    assert header == ("id,name,kana,id_normalized,id_changes,name_normalized,name_changes,"
                      "kana_normalized,kana_changes")
    # by default: the columns with something to change (the ID has nothing), said so
    r = run(runner, "normalize", src, "-o", out, "-k", "kana")
    assert r.exit_code == 0
    assert out.read_text("utf-8").split("\n", 1)[0] == (
        "id,name,kana,name_normalized,name_changes,kana_normalized,kana_changes")
    assert "columns with something to change: name (--column all for every column)" in r.output


def test_normalize_refuses_to_overwrite_input(runner, tmp_path):
    src = write(tmp_path / "in.csv", members())
    before = src.read_bytes()
    r = run(runner, "normalize", src, "-o", src, "-c", "name")
    assert r.exit_code == 2 and "--overwrite" in r.stderr
    assert src.read_bytes() == before
    # another path to the same file
    r = run(runner, "normalize", src, "-o", tmp_path / "." / "in.csv", "-c", "name")
    assert r.exit_code == 2
    assert sorted(os.listdir(tmp_path)) == ["in.csv"]
    r = run(runner, "normalize", src, "-o", src, "-c", "name", "--overwrite")
    assert r.exit_code == 0 and src.read_bytes() != before
    assert src.read_text("utf-8").startswith("id,name,kana,name_normalized,name_changes\n")
    assert sorted(os.listdir(tmp_path)) == ["in.csv"]


def test_normalize_atomic_on_failure(runner, tmp_path, monkeypatch):
    from mojinorm import records, rewrite

    monkeypatch.setattr(csvio, "CHUNK_SIZE", 16)  # many chunks: part is written before failing
    monkeypatch.setattr(records, "FAST_PATH", False)  # the failure is injected in that writer
    src = write(tmp_path / "in.csv", members() * 20)
    out = tmp_path / "out.csv"
    out.write_bytes(b"old")
    real = rewrite._Writer._encode
    calls = {"n": 0}

    def failing(self, s, codec, line):
        calls["n"] += 1
        if calls["n"] == 30:
            raise OSError(28, "No space left on device")
        return real(self, s, codec, line)

    monkeypatch.setattr(rewrite._Writer, "_encode", failing)
    r = run(runner, "normalize", src, "-o", out, "-c", "name")
    assert r.exit_code == 2 and "No space left on device" in r.stderr
    no_traceback(r)
    assert out.read_bytes() == b"old"  # untouched
    assert sorted(os.listdir(tmp_path)) == ["in.csv", "out.csv"]  # no temp file left
    out.unlink()
    calls["n"] = 0
    r = run(runner, "normalize", src, "-o", out, "-c", "name")
    assert r.exit_code == 2 and not out.exists()
    assert sorted(os.listdir(tmp_path)) == ["in.csv"]


def test_normalize_errors_leave_nothing(runner, tmp_path):
    src = tmp_path / "bad.csv"
    src.write_bytes(b"id,name\n1,\xe9\xab\x99\n2,\x85\x40\n")
    out = tmp_path / "out.csv"
    r = run(runner, "normalize", src, "-o", out, "-c", "name")
    assert r.exit_code == 2 and "line 3" in r.stderr and not out.exists()
    assert sorted(os.listdir(tmp_path)) == ["bad.csv"]
    src2 = write(tmp_path / "in.csv", members())
    r = run(runner, "normalize", src2, "-o", out, "-c", "name", "--fallback", "error")
    assert r.exit_code == 2 and "彅" in r.stderr and "line 5" in r.stderr
    assert not out.exists()


def test_normalize_to_stdout_and_stdin(runner, tmp_path):
    data = members("\r\n").encode("cp932")
    r = run(runner, "normalize", "-", "-o", "-", "-c", "name", input=data)
    assert r.exit_code == 0
    out = r.stdout_bytes
    assert out.split(b"\r\n")[1].startswith(data.split(b"\r\n")[1] + b",")
    assert "高橋" in out.decode("cp932")


def test_normalize_plain_text(runner, tmp_path):
    src = write(tmp_path / "n.txt", "髙橋　太郎\r\n山田\r\n")
    out = tmp_path / "o.txt"
    r = run(runner, "normalize", src, "-o", out)
    assert r.exit_code == 2 and "--replace" in r.stderr and not out.exists()
    assert run(runner, "normalize", src, "-o", out, "--replace").exit_code == 0
    assert out.read_bytes() == "高橋　太郎\r\n山田\r\n".encode()


def test_normalize_target_that_file_cannot_carry(runner, tmp_path):
    # CP932 file, gaiji mapped to 𠮷 which target mj keeps but CP932 cannot encode
    src = write(tmp_path / "sj.csv", "id,name\r\n1,\ue000田\r\n", "cp932")
    out = tmp_path / "o.csv"
    r = run(runner, "normalize", src, "-o", out, "--target", "mj", "--gaiji", SAMPLE_GAIJI)
    assert r.exit_code == 2 and "cp932" in r.stderr and not out.exists()
    no_traceback(r)


# ---------------------------------------------------------------------------- explain, lookup


def test_explain_table_and_json(runner):
    r = run(runner, "explain", "髙橋\u3000𠮷郎")
    assert r.exit_code == 0
    assert "U+9AD9" in r.stdout and "U+20BB7" in r.stdout and "jis-unification" in r.stdout
    assert "result: 高橋\u3000吉郎" in r.stdout
    d = json.loads(run(runner, "explain", "山﨑", "-f", "json").stdout)
    assert d["result"] == "山崎" and d["changes"][0]["position"] == 1
    assert d["changes"][0]["mj"] == "MJ030196" and d["changes"][0]["rule"] == "koseki-parent"
    r = run(runner, "explain", "山田")
    assert "no changes" in r.stdout and "result: 山田" in r.stdout
    r = run(runner, "explain", "草彅", "--fallback", "black-circle")
    assert "result: 草●" in r.stdout
    r = run(runner, "explain", "髙", "--target", "nope")
    assert r.exit_code == 2 and "unknown target" in r.stderr


def test_lookup(runner):
    r = run(runner, "lookup", "髙")
    assert r.exit_code == 0
    for s in ("U+9AD9", "MJ028902", "J+9AD9", "jis-unification", "cp932 yes", "jisx0208 no"):
        assert s in r.stdout, s
    d = json.loads(run(runner, "lookup", "J+AEAC", "-f", "json").stdout)
    assert d["char"] == "𠮷" and d["mj"] == ["MJ032129"] and d["ambiguous"] is False
    assert any(s["char"] == "吉" for s in d["shrink"])
    assert "in_jisx0208" in d["shrink"][0]
    d = json.loads(run(runner, "lookup", "德", "-f", "json").stdout)
    assert d["ambiguous"] is (len(d["mj"]) > 1)
    r = run(runner, "lookup", "MJ999999")
    assert r.exit_code == 2 and "MJ999999" in r.stderr
    no_traceback(r)


def test_targets(runner):
    r = run(runner, "targets")
    assert r.exit_code == 0
    for name in mojinorm.targets():
        t = mojinorm.get_target(name)
        assert name in r.stdout and f"{len(t.chars):,}" in r.stdout
    d = json.loads(run(runner, "targets", "-f", "json").stdout)
    assert [x["name"] for x in d] == mojinorm.targets()
    jisx0213 = next(x for x in d if x["name"] == "jisx0213")
    assert jisx0213["sequences"] == len(mojinorm.get_target("jisx0213").sequences)


# ---------------------------------------------------------------------------- subprocess


def _mojinorm(*args: str, input: bytes | None = None,
              env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mojinorm.cli", *map(str, args)],
                          input=input, capture_output=True, timeout=120,
                          env=None if env is None else {**os.environ, **env})


def test_subprocess_scan_and_errors(tmp_path):
    p = write(tmp_path / "m.csv", members())
    done = _mojinorm("scan", p, "-f", "json", "--fail-on-unsafe")
    assert done.returncode == 1 and json.loads(done.stdout)["unsafe_rows"] == 3
    assert done.stderr == b""
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"id,name\n1,\x85\x40\n")
    done = _mojinorm("scan", bad)
    assert done.returncode == 2 and b"Traceback" not in done.stderr
    assert b"line 2" in done.stderr and b"byte offset" in done.stderr
    done = _mojinorm("scan", "-", "-f", "json", input=members().encode())
    assert done.returncode == 0 and json.loads(done.stdout)["rows"] == 6
    done = _mojinorm("--version")
    assert done.returncode == 0 and mojinorm.__version__.encode() in done.stdout
    # the version says whether the compiled module (reader, writer, name guard) is used
    state = records.speedups_state().encode()
    assert b"(mojinorm._speedups): " + state in done.stdout
    done = _mojinorm("--version", env={"MOJINORM_NO_SPEEDUPS": "1"})
    assert (b"not built" if state.startswith(b"not built") else b"turned off") in done.stdout


def test_a_cp932_console_gets_escapes_not_a_crash():
    # Japanese Windows consoles are CP932: 𠮷 (U+20BB7) cannot be printed there.
    env = {**os.environ, "PYTHONIOENCODING": "cp932"}
    proc = subprocess.run([sys.executable, "-m", "mojinorm", "explain", "𠮷田 髙橋"],
                          capture_output=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.decode("cp932")
    assert "<U+20BB7>" in out and "吉" in out


# ---------------------------------------------------------------------------- small things


@pytest.mark.parametrize("name", ["sjis", "SJIS", "shift_jis", "Shift-JIS", "MS932", "ms932",
                                  "Windows-31J", "cp932", "CP932"])
def test_shift_jis_names_as_people_write_them(runner, tmp_path, name):
    # one CP932 table for every Shift_JIS name: Windows and Java write CP932 when asked for
    # "Shift_JIS", and 﨑 (0xFAB1) exists only there
    src = tmp_path / "in.csv"
    src.write_bytes("id,name\n1,﨑田\n".encode("cp932"))
    res = runner.invoke(cli, ["scan", str(src), "-e", name, "-f", "json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    assert d["encoding"] == "cp932" and d["encoding_detected"] is False and d["unsafe_rows"] == 1


@pytest.mark.parametrize("name", ["utf8", "UTF-8", "Utf_8"])
def test_utf8_names(runner, tmp_path, name):
    src = tmp_path / "in.csv"
    src.write_bytes("id,name\n1,髙橋\n".encode())
    res = runner.invoke(cli, ["scan", str(src), "-e", name, "-f", "json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["encoding"] == "utf-8"


def test_an_unknown_encoding_lists_the_known_ones(runner, tmp_path):
    src = tmp_path / "in.csv"
    src.write_bytes(b"id,name\n")
    res = runner.invoke(cli, ["scan", str(src), "-e", "latin-1"])
    assert res.exit_code == 2
    assert "unknown encoding 'latin-1'; use one of auto, utf-8" in res.output


@pytest.mark.parametrize("data,want", [
    (b"id,name\r\n1,a\r\n", "CRLF"),
    (b"id,name\n1,a\n", "LF"),
    (b"id,name\r\n1,a\n", "LF and CRLF"),
    (b"id,name\r1,a\r", "CR"),
    (b'id,name\r\n1,"a\nb"\r\n', "CRLF"),  # the LF inside quotes is data, not a line end
])
def test_line_ends_are_reported_as_written(runner, tmp_path, data, want):
    src = tmp_path / "in.csv"
    src.write_bytes(data)
    d = json.loads(runner.invoke(cli, ["scan", str(src), "-f", "json"]).output)
    assert d["line_ends"] == want


def test_a_tiny_share_is_not_shown_as_zero(runner, tmp_path):
    # one unsafe row in 20,000 is 0.005%: "0.00%" would read as none
    src = tmp_path / "in.csv"
    src.write_text("id,name\n" + "".join(f"{i},山田\n" for i in range(19_999)) + "0,髙橋\n",
                   encoding="utf-8")
    res = runner.invoke(cli, ["scan", str(src)])
    assert "unsafe      1 rows (<0.01%) would render ●" in res.output


def test_explain_several_arguments_are_one_name(runner):
    res = runner.invoke(cli, ["explain", "髙橋", "太郎"])
    assert res.exit_code == 0, res.output
    assert "text: 髙橋 太郎" in res.output and res.output.endswith("result: 高橋 太郎\n")


def test_explain_dash_reads_names_from_stdin(runner):
    res = runner.invoke(cli, ["explain", "-", "-f", "json"], input="髙橋\n\n山田\r\n𠮷田\n")
    assert res.exit_code == 0, res.output
    got = [json.loads(line) for line in res.output.splitlines()]
    assert [(d["text"], d["result"]) for d in got] == [("髙橋", "高橋"), ("山田", "山田"),
                                                       ("𠮷田", "吉田")]


def test_scan_says_what_to_do_next(runner, tmp_path):
    """The table names the fix per character (same character, substitute, fallback), the
    Shift_JIS code of a CP932 file's private-use character (gaiji lists use it), the rows to
    review and the normalize command to run."""
    src = tmp_path / "pua.csv"
    src.write_bytes("被保険者番号,氏名\r\n1,\ue000田\r\n2,髙橋\r\n3,彅子\r\n".encode("cp932"))
    res = runner.invoke(cli, ["scan", str(src)])
    assert res.exit_code == 0, res.output
    rows = {line.split()[1]: line for line in res.output.splitlines()
            if line.startswith("    1  ")}
    # 髙 → 高: JIS X 0208 unifies them (the same character); 彅 has no mapping
    assert " same " in rows["髙"] and " fallback " in rows["彅"]
    # U+E000 is CP932 F040, the first user-defined code
    assert "U+E000 (SJIS F040)" in rows["<U+E000>"]
    assert "review at   line 2 (<U+E000>), line 4 (彅)" in res.output
    assert f"next        mojinorm normalize {src} -o {tmp_path / 'pua.normalized.csv'} " \
           "--column '氏名'" in res.output
    d = json.loads(runner.invoke(cli, ["scan", str(src), "-f", "json"]).output)
    by_char = {c["char"]: c for c in d["chars"]}
    assert by_char["\ue000"]["sjis"] == "F040" and by_char["髙"]["fix"] == "same"
    assert "sjis" not in by_char["髙"]


def test_scan_takes_the_profile_fallback_and_fallback_option(runner, tmp_path):
    """README's profile example as written: its fallback (black-circle) is what scan shows
    for a character no rule maps; --fallback overrides it; error and kana act on whole names
    when normalizing, so scan shows 〓 for them and still counts the fallback rows."""
    profile = tmp_path / "server.yaml"
    profile.write_text('name: server-2026\nbase: jisx0208\n'
                       'add: [髙, 﨑, "U+5FB7", "U+E000..U+E00F"]\nremove: ["〓"]\n'
                       'fallback: black-circle\n', encoding="utf-8")
    src = tmp_path / "in.csv"
    src.write_text("id,name\n1,彅子\n2,髙橋\n", encoding="utf-8")

    def replacement(*args: str) -> tuple[str, int]:
        res = runner.invoke(cli, ["scan", str(src), "-t", str(profile), "-f", "json", *args])
        assert res.exit_code == 0, res.output
        d = json.loads(res.output)
        return {c["char"]: c["replacement"] for c in d["chars"]}["彅"], d["fallback_rows"]

    assert replacement() == ("●", 1)  # 髙 is in the profile: only 彅 needs the fallback
    assert replacement("--fallback", "＊") == ("＊", 1)
    assert replacement("--fallback", "keep") == ("彅", 1)
    res = runner.invoke(cli, ["scan", str(src), "--fallback", "error", "-f", "json"])
    assert res.exit_code == 0 and json.loads(res.output)["fallback_rows"] == 1


def test_large_inputs_keep_freed_blocks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # scan and normalize of a large file (or stdin) ask glibc to keep freed blocks of up to
    # 32 MiB for the next batch (a 1M-row normalize faulted 14,000 pages in again without);
    # a small file does not load ctypes for it; elsewhere than Linux nothing is asked.
    import ctypes

    from mojinorm import cli as cli_mod

    asked: list[tuple[int, int]] = []

    class Libc:
        class mallopt:  # noqa: N801 - the C function's name
            argtypes: list[object] = []

            def __new__(cls, param: int, value: int) -> int:  # type: ignore[misc]
                asked.append((param, value))
                return 1

    real = ctypes.CDLL

    def cdll(name: str | None, *args: object, **kwargs: object) -> object:
        return Libc if name is None else real(name, *args, **kwargs)  # polars' own: real

    monkeypatch.setattr(ctypes, "CDLL", cdll)
    monkeypatch.setattr(sys, "platform", "linux")
    src = tmp_path / "m.csv"
    src.write_text("id,name\n1,髙橋\n", encoding="utf-8")
    out = tmp_path / "o.csv"
    runner = CliRunner()
    assert runner.invoke(cli, ["scan", str(src), "-q"]).exit_code == 0
    assert asked == []  # a small file
    monkeypatch.setattr(cli_mod, "KEEP_FREED_FROM", 1)
    for args in (["scan", str(src), "-q"], ["normalize", str(src), "-o", str(out), "-q"]):
        asked.clear()
        assert runner.invoke(cli, args).exit_code == 0
        assert asked == [(-3, 32 * 1024 * 1024), (-1, 128 * 1024 * 1024)]
    asked.clear()
    assert runner.invoke(cli, ["scan", "-", "-q"], input="id,name\n1,髙橋\n").exit_code == 0
    assert len(asked) == 2  # stdin: its size is not known
    asked.clear()
    monkeypatch.setattr(sys, "platform", "darwin")
    assert runner.invoke(cli, ["scan", str(src), "-q"]).exit_code == 0
    assert asked == []
    # the real call on this machine leaves the command working
    monkeypatch.undo()
    monkeypatch.setattr(cli_mod, "KEEP_FREED_FROM", 1)
    assert runner.invoke(cli, ["normalize", str(src), "-o", str(out), "-q"]).exit_code == 0
    assert "高橋" in out.read_text(encoding="utf-8")


def test_the_summary_of_many_characters_is_written_without_the_whole_table(
        tmp_path: Path, runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    # The summary shows the 20 characters counted most of the thousands a member file holds:
    # they are worked out alone, and the report's whole table (every character's decision,
    # category and code point) is built only for what prints it all (JSON).  The summary is
    # the one the whole table gives.
    from mojinorm import _tables, report

    units = sorted(_tables.resolved("jisx0208"))[:report.COLUMNAR_CHARS + 200]
    src = tmp_path / "m.csv"
    # counts 1-4 (ties broken by code point) so that the top 20 is a real selection
    src.write_text("name\n" + "".join(f"{u}山\n" * (1 + k % 4) for k, u in enumerate(units)),
                   encoding="utf-8")
    built: list[int] = []
    frame_of = report._char_frame

    def spy(*args: object) -> object:
        built.append(1)
        return frame_of(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(report, "_char_frame", spy)
    summary = run(runner, "scan", str(src))
    assert summary.exit_code == 0 and f"(of {len(units)})" in summary.output
    assert built == []
    whole = run(runner, "scan", str(src), "-f", "json")
    assert built == [1]
    chars = json.loads(whole.output)["chars"]
    assert len(chars) == len(units)
    shown = [line.split()[1] for line in summary.output.splitlines()
             if line[:1] == " " and line.split()[0].isdigit() and len(line.split()) > 4]
    assert shown == [c["char"] for c in chars[:20]]
