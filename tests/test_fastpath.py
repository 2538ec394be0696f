"""The fast paths against their references.

* File scans: the polars record reader and the column kernel (``records.FAST_PATH``) against the
  exact Python reader with the per-name API, on the hostile corpus and on generated files
  (quotes, doubled quotes, CRLF, ragged rows, blank lines, records spanning lines, invisible
  and private-use characters).  The reports must be identical, key by key.
* A plain member file never falls to the exact reader.
* The compiled decisions of the built-in targets (``_data/resolved_*.tsv``) equal what the
  pipeline decides now: a change to the pipeline without a rebuild fails here.
"""

from __future__ import annotations

import csv
import io
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mojinorm
from mojinorm import _schema, _tables, records, rewrite
from mojinorm import scan as scan_mod
from mojinorm.normalizer import compile_resolved

HOSTILE = Path(__file__).parent / "hostile"
DATA = Path(mojinorm.__file__).parent / "_data"
SAMPLE = Path(__file__).parent.parent / "data" / "samples" / "names.csv"


def _both(path: Path, monkeypatch: pytest.MonkeyPatch, **options: object) -> tuple[dict, dict]:
    """The reports of the fast path and the exact reader; the fast path's is the same with
    and without the compiled reader of plain batches (``records.SPEEDUPS``), and with the
    compiled reader's rows counted where they are read from the first batch on (as in a
    small file), after the rows held were counted (as in a large one on one thread), or never
    (held and counted on the column kernel: ``_FastScan.tallied`` off), reading ahead of the
    decisions of new units (``--jobs 2``; three batches or 4 KiB of their rows ahead at
    most) or not."""
    from mojinorm import counting

    fast = scan_mod.scan_file(path, **options).to_dict()
    with monkeypatch.context() as m:
        for ahead in (False, True):
            m.setattr(counting._FastScan, "READ_AHEAD", ahead)
            m.setattr(counting._FastScan, "AHEAD", 3)
            m.setattr(counting._FastScan, "AHEAD_BYTES", 4096)
            m.setattr(counting, "WARM_FROM", 0)  # no file is small: held, then tallied
            assert scan_mod.scan_file(path, **options).to_dict() == fast
            m.setattr(counting._FastScan, "TALLY_AFTER_FLUSH", False)
            assert scan_mod.scan_file(path, **options).to_dict() == fast
            m.undo()
        m.undo()
        m.setattr(counting._FastScan, "tallied", lambda *args: None)
        assert scan_mod.scan_file(path, **options).to_dict() == fast
        m.undo()
        m.setattr(records, "SPEEDUPS", not records.SPEEDUPS)
        assert scan_mod.scan_file(path, **options).to_dict() == fast
        m.setattr(records, "FAST_PATH", False)
        exact = scan_mod.scan_file(path, **options).to_dict()
    return fast, exact


#: the corpus files that read (the others are refused: see test_hostile.ERROR_CASES)
READABLE = sorted(p.name for p in HOSTILE.glob("*.[ct]sv")
                  if p.name not in {"invalid_in_both.csv", "mixed_encodings.csv",
                                    "unbalanced_quote.csv", "unbalanced_quote_header.csv",
                                    "utf16le_no_bom.csv", "utf16le_lone_surrogate.csv",
                                    "line_ends_conflict.csv", "both_encodings_weak.csv"})


@pytest.mark.parametrize("name", READABLE)
@pytest.mark.parametrize("target", ["jisx0208", "cp932", "jisx0213", "mj"])
def test_fast_and_exact_readers_agree_on_the_corpus(name: str, target: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    fast, exact = _both(HOSTILE / name, monkeypatch, target=target)
    assert fast == exact


_CELLS = st.one_of(
    st.sampled_from(["髙橋", "山﨑", "\ue000田", "德永", "佐藤", "葛\U000e0102", "𠮷田", "",
                     "a,b", 'say "hi"', "x\ny", "\u200b", "\t", "〓", "●", "ｶﾀｶﾅ", " ",
                     "\r", "＝", "德\U000e0101", "\u00a0花子",
                     # a record starting with U+FEFF: polars takes it for a byte-order mark
                     "\ufeff", "\ufeff山田"]),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=4),
)


def _write(rows: list[list[str]], crlf: bool, quote_all: bool) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n" if crlf else "\n",
                        quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL)
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.lists(_CELLS, min_size=1, max_size=4), min_size=1, max_size=12),
       crlf=st.booleans(), quote_all=st.booleans(), blank=st.booleans(),
       target=st.sampled_from(["jisx0208", "cp932", "jisx0213", "mj"]))
def test_fast_and_exact_readers_agree_on_generated_files(
        tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch,
        rows: list[list[str]], crlf: bool, quote_all: bool, blank: bool, target: str) -> None:
    header = ["id", "name", "kana", "x"][:max(len(r) for r in rows)]
    data = _write([header, *rows], crlf, quote_all)
    if blank:
        data += b"\n" + _write(rows[:1], crlf, quote_all)
    path = tmp_path_factory.mktemp("gen") / "f.csv"
    path.write_bytes(data)
    try:
        fast, exact = _both(path, monkeypatch, target=target)
    except mojinorm.InputError as exc:  # refused: both readers must refuse it the same way
        with monkeypatch.context() as m:
            m.setattr(records, "FAST_PATH", False)
            with pytest.raises(mojinorm.InputError) as again:
                scan_mod.scan_file(path, target=target)
        assert str(again.value) == str(exc)
        return
    assert fast == exact


@pytest.mark.parametrize("hold", [1, 1000, 200_000, "values"])
def test_a_large_generated_file_agrees(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       hold: int | str) -> None:
    # Many chunks, quoted and unquoted lines, a ragged row and a multi-line record in the middle.
    # The fast path holds the rows the guard stops in and counts them together: every few
    # rows (hold=1), every few batches, at the end only, or every 1,500 values (500 rows of
    # the three columns).
    from mojinorm import counting

    if hold == "values":
        monkeypatch.setattr(counting._FastScan, "HOLD_VALUES", 1500)
    else:
        monkeypatch.setattr(counting._FastScan, "HOLD_ROWS", hold)
    rnd = random.Random(5)
    names = ["髙橋", "山﨑", "\ue000田", "德永", "佐藤", "葛\U000e0102城", "渡邉", "𠮷田", "ﾀﾛｳ"]
    rows = [[str(i), rnd.choice(names) + "\u3000" + rnd.choice(names), "カナ"]
            for i in range(30_000)]
    rows[12_000] = ["x", "ragged"]
    rows[20_000] = ["y", "two\nlines", "髙"]
    path = tmp_path / "big.csv"
    path.write_bytes(_write([["id", "name", "kana"], *rows], True, False))
    monkeypatch.setattr(mojinorm.csvio, "CHUNK_SIZE", 64 * 1024)
    fast, exact = _both(path, monkeypatch)
    assert fast == exact
    assert fast["ragged_rows"] == 1 and fast["multiline_records"] == 1


@pytest.mark.parametrize("hold", [1, 200_000])
@pytest.mark.parametrize("limit", [5, 15])
def test_both_readers_keep_the_same_review_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 limit: int, hold: int) -> None:
    # Rows to review spread over many chunks, some read by polars and some by the exact
    # reader (a blank line, a record over two lines, a ragged row): the same lines, and each
    # the line where its record starts.
    from mojinorm import counting

    records = ["id,name,kana"]
    review = []
    for i in range(20_000):
        if i == 7_000:
            records.append("")
        if i == 9_000:
            records.append('x,"two\nlines 彅",y')
        elif i == 13_000:
            records.append("r,彅")  # ragged
        else:
            records.append(f"{i},{'草彅' if i % 997 == 0 else '佐藤'}\u3000一,カナ")
        # a ragged row is copied as it is by normalize, so it is not a row to review
        if "彅" in records[-1] and i != 13_000:
            review.append(len(records) - 1)
    starts = [1]
    for rec in records[:-1]:
        starts.append(starts[-1] + rec.count("\n") + 1)
    expected = [starts[k] for k in review]
    path = tmp_path / "m.csv"
    path.write_text("\n".join(records) + "\n", encoding="utf-8")
    monkeypatch.setattr(mojinorm.csvio, "CHUNK_SIZE", 16 * 1024)
    monkeypatch.setattr(counting, "REVIEW_EXAMPLES", limit)
    monkeypatch.setattr(counting._FastScan, "HOLD_ROWS", hold)
    fast, exact = _both(path, monkeypatch)
    assert fast == exact
    assert fast["review_rows"] == len(expected) > limit
    assert [e["line"] for e in fast["review_examples"]] == expected[:limit]
    assert all(e["chars"] == ["彅"] and e["columns"] == ["name"]
               for e in fast["review_examples"])


@pytest.mark.parametrize("ahead", [False, True])
def test_the_compiled_reader_counts_once_rows_held_were_counted(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ahead: bool) -> None:
    # On one thread, the first batches are read by the compiled reader and held (their many
    # new units decided together when they are counted); once they are, the compiled reader
    # counts each batch as it reads it.  Both kinds of batch in one scan, and the report the
    # exact reader's.  Reading ahead (--jobs 2), every batch is counted as it is read, its
    # new units decided on another thread meanwhile: the same report.  A small file is
    # counted as it is read from its first batch either way.
    from mojinorm import counting

    if not records.SPEEDUPS:
        pytest.skip("the compiled module is not built")
    rnd = random.Random(11)
    names = ["髙橋", "山﨑", "\ue000田", "德永", "佐藤", "葛\U000e0102城", "𠮷田", "鈴木"]
    rows = [[str(i), rnd.choice(names) + chr(0xE000 + i % 3000)] for i in range(30_000)]
    path = tmp_path / "m.csv"
    path.write_bytes(_write([["id", "name"], *rows], False, False))
    monkeypatch.setattr(mojinorm.csvio, "CHUNK_SIZE", 8 * 1024)  # batches of 16-32 KiB
    monkeypatch.setattr(counting._FastScan, "HOLD_ROWS", 2_000)
    monkeypatch.setattr(counting._FastScan, "READ_AHEAD", ahead)
    monkeypatch.setattr(counting._FastScan, "AHEAD", 3)
    kinds: list[str] = []
    hits, tally = records.compiled_hits, records.compiled_tally

    def held(*args: object) -> object:
        kinds.append("held")
        return hits(*args)  # type: ignore[arg-type]

    def tallied(*args: object) -> object:
        got = tally(*args)  # type: ignore[arg-type]
        kinds.append("tallied")
        return got

    monkeypatch.setattr(records, "compiled_hits", held)
    monkeypatch.setattr(records, "compiled_tally", tallied)
    monkeypatch.setattr(counting, "WARM_FROM", 0)  # a large file (a small one: below)
    report = scan_mod.scan_file(path).to_dict()
    first = kinds.index("tallied")
    assert (0 < first and set(kinds[:first]) == {"held"}) if not ahead else first == 0
    assert set(kinds[first:]) == {"tallied"} and len(kinds) - first > 10
    # a small file (a few batches) is counted as it is read from its first batch, on one
    # thread too: its units decided a batch at a time
    kinds.clear()
    monkeypatch.setattr(counting, "WARM_FROM", path.stat().st_size + 1)
    assert scan_mod.scan_file(path).to_dict() == report
    assert kinds and set(kinds) == {"tallied"}
    monkeypatch.undo()
    monkeypatch.setattr(records, "FAST_PATH", False)
    assert report == scan_mod.scan_file(path).to_dict()


def test_a_wide_selection_agrees(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # 70 selected columns: more than the compiled reader counts on its threads (64), so its
    # rows are counted after the batch; a value with a doubled quote likewise
    rnd = random.Random(8)
    names = ["髙橋", "山﨑", "\ue000田", "佐藤", "葛\U000e0102城", 'say "髙"', "𠮷田", "鈴木"]
    rows = [[rnd.choice(names) for _ in range(70)] for _ in range(3_000)]
    path = tmp_path / "wide.csv"
    path.write_bytes(_write([[f"c{j}" for j in range(70)], *rows], False, False))
    monkeypatch.setattr(mojinorm.csvio, "CHUNK_SIZE", 64 * 1024)
    fast, exact = _both(path, monkeypatch)
    assert fast == exact and fast["unsafe_rows"] == 3_000


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp932"])
@pytest.mark.parametrize("crlf", [False, True])
def test_a_plain_member_file_never_falls_to_the_exact_reader(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, encoding: str, crlf: bool) -> None:
    text = SAMPLE.read_text(encoding="utf-8")
    if encoding == "cp932":  # what CP932 can carry
        text = "".join(line for line in text.splitlines(keepends=True)
                       if _encodes(line, "cp932"))
    if crlf:
        text = text.replace("\n", "\r\n")
    path = tmp_path / "members.csv"
    path.write_bytes(text.encode(encoding))
    monkeypatch.setattr(mojinorm.csvio, "CHUNK_SIZE", 4096)  # many batches

    def exact(*args: object, **kwargs: object) -> int:
        raise AssertionError("a plain member file went to the exact reader")

    monkeypatch.setattr(records.ExactReader, "read", exact)
    report = scan_mod.scan_file(path, columns=["name"])
    assert report.rows == text.count("\n") - 1
    if records.SPEEDUPS:
        # and the compiled reader takes every batch of it (polars reads none)
        def polars(*args: object, **kwargs: object) -> None:
            raise AssertionError("the compiled reader declined a plain member file")

        monkeypatch.setattr(records, "plain_batch", polars)
        assert scan_mod.scan_file(path, columns=["name"]).rows == report.rows


def _encodes(text: str, codec: str) -> bool:
    try:
        text.encode(codec)
    except UnicodeEncodeError:
        return False
    return True


@pytest.mark.parametrize("target", _schema.RESOLVED_TARGETS)
def test_compiled_decisions_equal_the_pipeline(target: str) -> None:
    # The table is what the pipeline decides now, unit for unit.  After a change to the steps
    # or the ranking, run tools/build_tables.py (its second stage rewrites these tables).
    committed = (DATA / _schema.RESOLVED[target].file).read_text(encoding="utf-8")
    assert compile_resolved(target) == committed


@pytest.mark.parametrize("fallback", ["geta", "keep", "black-circle"])
def test_outcome_from_the_compiled_table_equals_the_live_one(fallback: str) -> None:
    live = mojinorm.Normalizer("jisx0208", fallback=fallback)
    compiled = mojinorm.Normalizer("jisx0208", fallback=fallback)
    compiled._live = 10**9  # read the table from the first unit on
    table = _tables.resolved("jisx0208")
    sample = random.Random(1).sample(sorted(table), 3000) + ["髙", "\U0002d91f", "①", "Ⅱ"]
    for unit in sample:
        got = compiled.outcome(unit)
        res = live._resolve(unit)
        assert (got.replacement, got.rules, got.fallback, got.review, got.mj,
                got.alternatives) == (res.replacement, tuple(s.rule for s in res.steps),
                                      res.fallback, res.review, res.mj, res.alternatives), unit
        change = live.explain(unit).changes[0]
        assert got.change_text == str(change)


def _normalize_both(path: Path, tmp: Path, monkeypatch: pytest.MonkeyPatch,
                    **options: object) -> tuple[object, object]:
    """(output bytes, summary) of each reader; a refusal is its message, so that both
    readers must refuse the same input with the same words.  The fast path's is the same
    with and without the compiled reader and writer (``records.SPEEDUPS``), and with the
    compiled reader's values normalized one by one (a few, ``FEW_VALUES``) or all on the
    column kernel."""
    out: list[object] = []
    for fast, speedups, few in ((True, records.SPEEDUPS, rewrite._FastWrite.FEW_VALUES),
                                (True, records.SPEEDUPS, 0),
                                (True, not records.SPEEDUPS, rewrite._FastWrite.FEW_VALUES),
                                (False, False, 0)):
        with monkeypatch.context() as m:
            m.setattr(records, "FAST_PATH", fast)
            m.setattr(records, "SPEEDUPS", speedups)
            m.setattr(rewrite._FastWrite, "FEW_VALUES", few)
            dest = tmp / f"out-{fast}-{speedups}-{few}.csv"
            try:
                summary = vars(scan_mod.normalize_file(path, dest, **options))
            except mojinorm.InputError as exc:
                out.append(("refused", str(exc).replace(dest.name, "OUT")))
                continue
            summary.pop("output")
            out.append((dest.read_bytes(), summary))
    assert out[0] == out[1] == out[2]
    return out[0], out[3]


@pytest.mark.parametrize("name", [n for n in READABLE if n not in {"empty.csv"}])
@pytest.mark.parametrize("options", [{}, {"target": "cp932", "fallback": "black-circle"},
                                     {"columns": ["name"], "kana_column": "kana",
                                      "fallback": "kana"}])
def test_fast_and_exact_rewrites_are_byte_identical(name: str, options: dict,
                                                    tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    path = HOSTILE / name
    fast, exact = _normalize_both(path, tmp_path, monkeypatch, **options)
    assert fast == exact


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.lists(_CELLS, min_size=3, max_size=3), min_size=1, max_size=10),
       crlf=st.booleans(), quote_all=st.booleans(),
       encoding=st.sampled_from(["utf-8", "utf-8-sig", "cp932"]),
       fallback=st.sampled_from(["geta", "keep", "kana"]))
def test_fast_and_exact_rewrites_agree_on_generated_files(
        tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch,
        rows: list[list[str]], crlf: bool, quote_all: bool, encoding: str,
        fallback: str) -> None:
    text = _write([["id", "name", "kana"], *rows], crlf, quote_all).decode("utf-8")
    try:
        data = text.encode(encoding)
    except UnicodeEncodeError:
        data = text.encode(encoding, "replace")
    tmp = tmp_path_factory.mktemp("rw")
    path = tmp / "in.csv"
    path.write_bytes(data)
    options = {"columns": ["name"], "kana_column": "kana", "fallback": fallback,
               "target": "cp932" if encoding == "cp932" else "jisx0208"}
    fast, exact = _normalize_both(path, tmp, monkeypatch, **options)
    assert fast == exact


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp932"])
def test_a_plain_member_file_is_rewritten_on_the_fast_path(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, encoding: str) -> None:
    text = "".join(line for line in SAMPLE.read_text(encoding="utf-8").splitlines(keepends=True)
                   if _encodes(line, "cp932")).replace("\n", "\r\n")
    path = tmp_path / "members.csv"
    path.write_bytes(text.encode(encoding))
    monkeypatch.setattr(mojinorm.csvio, "CHUNK_SIZE", 4096)

    def exact(*args: object, **kwargs: object) -> None:
        raise AssertionError("a plain member file went to the exact reader")

    monkeypatch.setattr(records.ExactReader, "read", exact)
    summary = scan_mod.normalize_file(path, tmp_path / "out.csv", columns=["name"],
                                      target="cp932")
    assert summary.rows == text.count("\n") - 1 and summary.values_changed > 0


@pytest.mark.parametrize("encoding", ["utf-8", "cp932"])
@pytest.mark.parametrize("fallback", ["geta", "error"])
@pytest.mark.parametrize("hold", ["all", "bytes", "values"])
def test_held_batches_come_before_the_exact_readers_records(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, encoding: str, fallback: str,
        hold: str) -> None:
    # Plain batches are held and rewritten together; a batch polars reads (a tab in a
    # field) and a chunk the exact reader takes (a record over two lines, a blank line) must
    # come after them, and the end must write the last ones: byte-identical to the exact
    # reader's output, with many small batches.
    lines = [line for line in SAMPLE.read_text(encoding="utf-8").splitlines()
             if _encodes(line, encoding) and "彅" not in line]  # 彅: no answer in cp932
    body = lines[1:] * 3
    for at in (700, 2500, 4000):
        body[at] = body[at].split(",")[0] + ',"高橋\n太郎",タカハシ'
    body[3000] = ""
    # a tab in a field: the compiled reader declines that batch, polars reads it
    body[1500] = body[1500].split(",")[0] + ",高\t橋,タカハシ"
    text = "\r\n".join([lines[0], *body]) + "\r\n"
    path = tmp_path / "members.csv"
    path.write_bytes(text.encode(encoding))
    monkeypatch.setattr(mojinorm.csvio, "CHUNK_SIZE", 4096)
    # held until a flush is due: never (the exact reader's chunks and the end flush), after
    # three small batches' bytes, or after 40 values to look at
    writer = rewrite._FastWrite
    monkeypatch.setattr(writer, "HOLD_BYTES", 3 * 4096 * records.FAST_CHUNKS
                        if hold == "bytes" else 1 << 40)
    monkeypatch.setattr(writer, "HOLD_VALUES", 40 if hold == "values" else 1 << 40)
    fast, exact = _normalize_both(path, tmp_path, monkeypatch, columns=["name"],
                                  target="cp932", fallback=fallback)
    assert fast == exact
    # fallback "error" refuses the sample's private-use code (the same line either way)
    assert isinstance(fast, tuple) and (fast[0] == "refused") == (fallback == "error")


@pytest.mark.parametrize("target", _schema.RESOLVED_TARGETS)
def test_kernel_over_every_compiled_unit_equals_explain(target: str) -> None:
    # The kernel answers these units by joining the compiled table and writes the change text
    # in polars; the per-name API works each one out.  Every unit, every field.
    from mojinorm import column
    pl = pytest.importorskip("polars")

    units = sorted(_tables.resolved(target))
    n = mojinorm.Normalizer(target)
    out = column.explain(pl.Series(units, dtype=pl.String), n)
    live = mojinorm.Normalizer(target)  # explain never reads the compiled table
    for unit, text, changes, review in out.select(
            pl.Series(units), "normalized", "changes", "review").iter_rows():
        res = live.explain(unit)
        assert (text, changes, review) == (
            res.text, "; ".join(str(c) for c in res.changes),
            any(c.review for c in res.changes)), unit


@pytest.mark.parametrize("fallback", [None, "keep", "black-circle"])
@pytest.mark.parametrize("target", ["jisx0208", "jisx0213", "mj"])
def test_report_characters_from_compiled_rows_equal_the_outcomes(
        monkeypatch: pytest.MonkeyPatch, target: str, fallback: str | None) -> None:
    # fill_report reads a built-in target's compiled rows directly; without them every unit
    # goes through Normalizer.outcome: the same characters table either way
    from mojinorm.normalizer import Normalizer

    fast = scan_mod.scan_file(SAMPLE, target=target, fallback=fallback).to_dict()["chars"]
    with monkeypatch.context() as m:
        m.setattr(Normalizer, "compiled_target", property(lambda self: None))
        live = scan_mod.scan_file(SAMPLE, target=target, fallback=fallback).to_dict()["chars"]
    assert fast == live
    assert len(fast) >= 5  # the sample has that many offending units even in mj


def test_a_last_record_of_a_lone_feff_is_counted(tmp_path: Path) -> None:
    # "name\n" + U+FEFF: the data batch is U+FEFF alone, which polars reads as an empty file
    # (it was an internal error); the exact reader counts it as an invisible character.
    path = tmp_path / "f.csv"
    path.write_bytes(b"name\n\xef\xbb\xbf")
    report = scan_mod.scan_file(path)
    assert (report.rows, report.invisible_rows) == (2, 1)


@pytest.mark.parametrize("target", ["jisx0208", "cp932", "mj"])
def test_unit_flags_in_one_frame_equal_those_one_by_one(monkeypatch: pytest.MonkeyPatch,
                                                        target: str) -> None:
    # A scan decides a batch's new units in one frame when they are many, one by one through
    # Normalizer.outcome when they are few: the same flags either way (units of every kind:
    # compiled, private use, selectors, invisible, kept).
    from mojinorm import column, counting

    normalizer = mojinorm.Normalizer(target)
    plan = column.ColumnPlan(normalizer)
    units = sorted(_tables.resolved("jisx0208"))[::41] + [
        "\ue000", "髙", "葛\U000e0102", "\U000f0000", "\u200b", "\t", "山", "\u00a0",
        "辻\U000e0100"]

    def flags_of(out: mojinorm.normalizer.UnitOutcome) -> int:
        return counting.outcome_flags(out, normalizer.target)

    monkeypatch.setattr(column, "FEW_UNITS", 0)
    framed = column.flags_of_units(units, plan, flags_of)
    monkeypatch.setattr(column, "FEW_UNITS", len(units) + 1)
    one_by_one = column.flags_of_units(units, plan, flags_of)
    assert framed == one_by_one and len(framed) == len(set(units))
    assert len(set(framed.values())) > 3  # kinds of flags seen


@pytest.mark.parametrize("fallback", ["geta", "keep", "●"])
@pytest.mark.parametrize("compiled", [True, False])
def test_decisions_in_one_frame_equal_the_outcomes(monkeypatch: pytest.MonkeyPatch,
                                                   fallback: str, compiled: bool) -> None:
    # The scan reads its units' decisions as one frame (a join with the compiled table, the
    # other units through Normalizer.outcome): each row must be what outcome gives, in the
    # order asked, with and without a compiled table, alternatives and MJ ids included.
    from mojinorm import column
    from mojinorm.normalizer import Normalizer

    pl = pytest.importorskip("polars")
    if not compiled:
        monkeypatch.setattr(Normalizer, "compiled_target", property(lambda self: None))
    normalizer = mojinorm.Normalizer("jisx0208", fallback=fallback)
    plan = column.ColumnPlan(normalizer)
    resolved = sorted(_tables.resolved("jisx0208"))
    units = resolved[::97] + ["\ue000", "髙", "葛\U000e0102", "\U000f0000", "\u200b", "\t"]
    frame = plan.decisions(pl.Series(units, dtype=pl.String))
    assert frame.columns == list(column.ColumnPlan.DECISIONS)
    reference = mojinorm.Normalizer("jisx0208", fallback=fallback)
    rows = list(frame.iter_rows())
    assert [r[0] for r in rows] == units
    for unit, replacement, rules, fb, review, mj, alternatives in rows:
        o = reference.outcome(unit)
        assert (replacement, rules, fb, review, mj, tuple(alternatives)) == (
            o.replacement, ">".join(o.rules), o.fallback, o.review, o.mj, o.alternatives), unit
    assert any(r[6] for r in rows) and any(r[5] for r in rows)  # the test sees both filled
    assert plan.decisions(pl.Series([], dtype=pl.String)).columns == frame.columns
    # read back (a scan's report): the same rows, in any order asked, with units never
    # decided before decided now
    again = units[::-1] + ["\ue001", "\U000f0002"]
    recalled = column.ColumnPlan(normalizer)
    assert recalled.recalled_decisions(pl.Series(units[::2])).equals(
        plan.decisions(pl.Series(units[::2])))  # nothing kept yet: decided afresh
    fresh = column.ColumnPlan(normalizer).decisions(pl.Series(again, dtype=pl.String))
    assert recalled.recalled_decisions(pl.Series(again, dtype=pl.String)).equals(fresh)
    assert plan.recalled_decisions(pl.Series(again, dtype=pl.String)).equals(fresh)
    # a scan's own mix: units decided twice (batches read while their units were decided),
    # units decided one by one (outcomes remembered, no frame), and units neither (decided
    # now): the same rows as a fresh plan gives
    counted = mojinorm.Normalizer("jisx0208", fallback=fallback)
    mixed = column.ColumnPlan(counted)
    mixed.decisions(pl.Series(units[:40], dtype=pl.String))
    mixed.decisions(pl.Series(units[20:60], dtype=pl.String))
    for unit in units[60:]:
        counted.outcome(unit)
    asked = pl.Series(units[::-1], dtype=pl.String)
    expected = column.ColumnPlan(reference).decisions(asked)
    assert mixed.recalled_decisions(asked).equals(expected)
    unseen = pl.Series([*units[::-1], "\ue001", "\U000f0002"], dtype=pl.String)
    assert mixed.recalled_decisions(unseen).equals(
        column.ColumnPlan(reference).decisions(unseen))


def test_lines_after_plain_batches_are_counted_right(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # A plain batch tells the stream how many lines it held (no second pass over its bytes):
    # an undecodable byte after many plain batches is still named at its line, and an
    # unterminated last line counts.
    monkeypatch.setattr(mojinorm.csvio, "CHUNK_SIZE", 4096)
    body = "".join(f"{i},髙橋{i}\r\n" for i in range(5_000)).encode()
    path = tmp_path / "bad.csv"
    path.write_bytes(b"id,name\r\n" + body + b"5000,ab\xff\r\n5001,x")
    with pytest.raises(mojinorm.InputError, match="line 5002,"):
        scan_mod.scan_file(path)
    with pytest.raises(mojinorm.InputError, match="line 5002,"):
        scan_mod.normalize_file(path, tmp_path / "out.csv", columns=["name"])
    # a private-use code nothing maps is a row to review: on the last, unterminated line
    path.write_bytes(b"id,name\r\n" + body + "5000,髙\r\n5001,\ue000".encode())
    report = scan_mod.scan_file(path)
    assert report.rows == 5_002
    assert [r.line for r in report.review_examples] == [5_003]


def test_the_decisions_load_while_the_line_ends_are_read(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # On several threads, scan loads what deciding units reads (column.warm) on another
    # thread during its pass over the line ends of a large file (not of a small one): the
    # same report as without; a file refused in that pass raises its own error once the
    # warming is over.
    from mojinorm import column, counting

    warmed: list[str] = []
    warm = column.warm

    def spy(plan: column.ColumnPlan) -> None:
        warm(plan)
        warmed.append(plan.normalizer.target.name)

    monkeypatch.setattr(column, "warm", spy)
    monkeypatch.setattr(scan_mod, "set_threads", lambda jobs: 2)
    monkeypatch.setattr(counting, "WARM_FROM", 10)  # any file but an empty one
    path = tmp_path / "m.csv"
    path.write_text("id,name\n1,髙橋\n2,\ue000田\n3,佐藤\n", encoding="utf-8")
    report = scan_mod.scan_file(path, target=["cp932", "jisx0208"]).to_dict()
    assert warmed == ["cp932", "jisx0208"]
    with monkeypatch.context() as m:
        m.setattr(counting, "WARM_FROM", 10**9)  # a small file is not warmed
        assert scan_mod.scan_file(path, target=["cp932", "jisx0208"]).to_dict() == report
        assert warmed == ["cp932", "jisx0208"]
        m.setattr(counting, "warm_meanwhile", lambda normalizers, threads, size: None)
        assert scan_mod.scan_file(path, target=["cp932", "jisx0208"]).to_dict() == report
    assert report["unsafe_rows"] == 2
    utf16 = tmp_path / "u16.csv"  # UTF-16 without a byte-order mark: refused when prepared
    utf16.write_bytes("id,name\n1,髙橋\n".encode("utf-16-le"))
    warmed.clear()
    with pytest.raises(mojinorm.InputError, match="UTF-16"):
        scan_mod.scan_file(utf16)
    assert warmed == ["jisx0208"]


def test_no_unit_is_decided_before_the_warming_is_over(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The warming is not waited for before counting: the compiled reader tallies the first
    # batches meanwhile, but every decision (the deciding thread's, the batches' and the
    # exact reader's) waits for it; the report is the one without warming, and the
    # warming's own error stops the scan.
    import threading
    import time

    from mojinorm import column, counting

    rnd = random.Random(5)
    rows = [[str(i), rnd.choice(["髙橋", "佐藤", "\ue000田", "葛\U000e0102西", "鈴木"])]
            for i in range(40_000)]
    # ragged rows: the exact reader's, the first one before any batch is tallied
    rows.insert(0, ["x", "髙,3"])
    rows.insert(20_000, ["y", "﨑,4"])
    path = tmp_path / "m.csv"
    path.write_text("id,name\n" + "".join(f"{a},{b}\n" for a, b in rows), encoding="utf-8")
    monkeypatch.setattr(mojinorm.csvio, "CHUNK_SIZE", 64 * 1024)  # many batches
    expected = scan_mod.scan_file(path, columns=["name"], jobs=1).to_dict()

    events: list[str] = []
    lock = threading.Lock()
    warm, decide, alone = column.warm, column.flags_of_units, counting.flags_one_by_one

    def slow_warm(plan: column.ColumnPlan) -> None:
        time.sleep(0.3)
        warm(plan)
        with lock:
            events.append("warmed")

    def spy_decide(units, plan, flags_of):  # type: ignore[no-untyped-def]
        with lock:
            events.append("decided")
        return decide(units, plan, flags_of)

    def spy_alone(*args, **kwargs):  # type: ignore[no-untyped-def]
        with lock:  # a few units, decided one by one
            events.append("decided")
        return alone(*args, **kwargs)

    explain = mojinorm.Normalizer.explain

    def spy_explain(self, text, *args, **kwargs):  # type: ignore[no-untyped-def]
        if not threading.current_thread().name.startswith("mojinorm-warm"):
            with lock:
                events.append("explained")  # the exact reader's record
        return explain(self, text, *args, **kwargs)

    monkeypatch.setattr(column, "warm", slow_warm)
    monkeypatch.setattr(column, "flags_of_units", spy_decide)
    monkeypatch.setattr(counting, "flags_one_by_one", spy_alone)
    monkeypatch.setattr(mojinorm.Normalizer, "explain", spy_explain)
    monkeypatch.setattr(scan_mod, "set_threads", lambda jobs: 2)
    monkeypatch.setattr(counting, "WARM_FROM", 10)
    monkeypatch.setattr(counting._FastScan, "READ_AHEAD", True)
    assert scan_mod.scan_file(path, columns=["name"]).to_dict() == expected
    assert events[0] == "warmed" and {"decided", "explained"} <= set(events)
    # CR line ends: every record through the exact reader, none of it before the warming
    cr = tmp_path / "cr.csv"
    cr.write_bytes(path.read_bytes().replace(b"\n", b"\r"))
    events.clear()
    assert scan_mod.scan_file(cr, columns=["name"]).unsafe_rows == expected["unsafe_rows"]
    assert events[0] == "warmed" and "explained" in events

    def failing_warm(plan: column.ColumnPlan) -> None:
        raise mojinorm.DataIntegrityError("a table does not match its manifest")

    monkeypatch.setattr(column, "warm", failing_warm)
    with pytest.raises(mojinorm.DataIntegrityError, match="manifest"):
        scan_mod.scan_file(path, columns=["name"])


#: Run in a fresh interpreter (polars not imported yet): records which thread first imports
#: polars, scans argv[1] (with the large-file warming for any file when argv[2] is "warm"),
#: prints both as JSON.
_FRESH_SCAN = """
import builtins, json, sys, threading
importers = []
_import = builtins.__import__
def spy(name, *args, **kwargs):
    if name == "polars" and "polars" not in sys.modules:
        importers.append(threading.current_thread().name)
    return _import(name, *args, **kwargs)
builtins.__import__ = spy
from mojinorm import counting, scan
from mojinorm.errors import MojinormError
if sys.argv[2] == "warm":
    counting.WARM_FROM = 10
try:
    report = scan.scan_file(sys.argv[1], columns=sys.argv[3:] or None).to_dict()
except MojinormError as exc:
    report = {"error": type(exc).__name__, "message": str(exc)}
print(json.dumps({"importers": importers, "polars": "polars" in sys.modules,
                  "report": report}, ensure_ascii=False))
"""


def _fresh_scan(path: Path, threads: int, warm: bool = True,
                columns: tuple[str, ...] = ("name",)) -> dict:
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "POLARS_MAX_THREADS": str(threads)}
    out = subprocess.run([sys.executable, "-c", _FRESH_SCAN, str(path), "warm" if warm else "-",
                          *columns],
                         env=env, capture_output=True, text=True, encoding="utf-8", check=True)
    result: dict = json.loads(out.stdout)
    return result


def test_a_fresh_scan_imports_polars_on_the_warming_thread_and_only_when_needed(
        tmp_path: Path) -> None:
    # A scan in a fresh process does not import polars (0.2-0.3 s) up front: on several
    # threads the warming thread imports it while the compiled reader tallies the batches,
    # and a small file (not warmed, tallied from its first batch) with few units to decide
    # never needs it.  The reports are the same as in this
    # process (polars imported long ago).
    rnd = random.Random(11)
    rows = [[str(i), rnd.choice(["髙橋", "佐藤", "\ue000田", "葛\U000e0102西", "鈴木"])]
            for i in range(30_000)]
    path = tmp_path / "m.csv"
    path.write_bytes(_write([["id", "name"], *rows], False, False))
    expected = scan_mod.scan_file(path, columns=["name"], jobs=1).to_dict()
    two = _fresh_scan(path, 2)
    assert two["importers"] == ["mojinorm-warm_0"] and two["report"] == expected
    one = _fresh_scan(path, 1)  # no warming thread: imported where a unit is first decided
    assert one["importers"] == ["MainThread"] and one["report"] == expected
    safe = tmp_path / "safe.csv"
    safe.write_bytes(_write([["id", "name"], *([str(i), "佐藤"] for i in range(5_000))],
                            False, False))
    # nor does one whose few units outside the target are decided one by one (fewer than
    # FEW_UNITS), with its review examples
    small = tmp_path / "small.csv"
    small.write_bytes(_write([["id", "name"], *rows[:2_000]], False, False))
    for threads in (1, 2):
        fresh = _fresh_scan(safe, threads, warm=False)
        assert not fresh["polars"] and fresh["importers"] == []
        assert fresh["report"] == scan_mod.scan_file(safe, columns=["name"]).to_dict()
        assert fresh["report"]["rows"] == 5_000
        fresh = _fresh_scan(small, threads, warm=False)
        assert not fresh["polars"] and fresh["importers"] == []
        assert fresh["report"] == scan_mod.scan_file(small, columns=["name"]).to_dict()
        assert fresh["report"]["review_examples"] and fresh["report"]["chars"]


_FRESH_NORMALIZE = r"""
import json, sys
from mojinorm import scan
options = json.loads(sys.argv[3])
summary = vars(scan.normalize_file(sys.argv[1], sys.argv[2], **options))
summary.pop("output")
print(json.dumps({"polars": "polars" in sys.modules, "summary": summary}, ensure_ascii=False))
"""


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("options", [{}, {"columns": ["name"], "target": "cp932"}])
@pytest.mark.parametrize("clean", [False, True])
def test_a_small_files_normalize_needs_no_polars(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 threads: int, options: dict,
                                                 clean: bool) -> None:
    # The sample's 2,000 rows bring 137 values outside the target, fewer than FEW_VALUES:
    # normalized one by one, in a fresh process that never imports polars (0.2-0.3 s of a
    # 0.4 s run); the same bytes and summary as the column kernel's in this process
    # (FEW_VALUES 0).  Without columns, the scan that finds the columns to change needs
    # no polars either, nor does the copy of a file it finds clean (no column to change).
    import json
    import os
    import subprocess
    import sys

    assert records.SPEEDUPS or pytest.skip("the compiled reader is not built")
    path = SAMPLE
    if clean:
        path = tmp_path / "clean.csv"
        path.write_bytes(_write([["id", "name"], *([str(i), "佐藤　花子"] for i in range(500))],
                                True, False))
    monkeypatch.setattr(rewrite._FastWrite, "FEW_VALUES", 0)
    expected = vars(scan_mod.normalize_file(path, tmp_path / "kernel.csv", **options))
    expected.pop("output")
    fresh_out = tmp_path / "fresh.csv"
    env = {**os.environ, "POLARS_MAX_THREADS": str(threads)}
    run = subprocess.run([sys.executable, "-c", _FRESH_NORMALIZE, str(path), str(fresh_out),
                          json.dumps(options)], env=env, capture_output=True, text=True,
                         encoding="utf-8", check=True)
    fresh = json.loads(run.stdout)
    assert not fresh["polars"]
    assert fresh["summary"] == expected and (expected["values_changed"] > 0) != clean
    assert fresh_out.read_bytes() == (tmp_path / "kernel.csv").read_bytes()
    if clean and not options:  # nothing to change: the file itself
        assert fresh_out.read_bytes() == path.read_bytes()


@pytest.mark.parametrize("name", ["cr_only.csv", "cr_only_lf_in_cell.csv", "nec_cp932.csv",
                                  "trailing_delimiter_ragged.csv", "stray_quote.csv",
                                  "utf16le_bom.tsv", "line_ends_conflict.csv"])
def test_hostile_files_scan_alike_while_polars_is_imported(name: str) -> None:
    # The hostile files that go to the exact reader (CR line ends, NEC codes, ragged rows,
    # quotes, UTF-16) or are refused, scanned in a fresh process on two threads while the
    # warming thread imports polars: the same report, or the same error, as in this process.
    path = HOSTILE / name
    fresh = _fresh_scan(path, 2, columns=())
    assert fresh["importers"] == ["mojinorm-warm_0"]
    try:
        expected = scan_mod.scan_file(path).to_dict()
    except mojinorm.MojinormError as exc:
        expected = {"error": type(exc).__name__, "message": str(exc)}
    assert fresh["report"] == expected


@pytest.mark.parametrize("jobs", [None, 1, 2, 64])
def test_the_threads_found_before_polars_is_imported_are_polars_own(jobs: int | None) -> None:
    # set_threads does not import polars (a scan imports it on another thread): the count it
    # returns, by polars' rule (POLARS_MAX_THREADS, else the CPUs this process may use), is
    # the thread pool polars then takes.
    import json
    import os
    import subprocess
    import sys

    code = ("import json, sys; from mojinorm import records\n"
            f"n = records.set_threads({jobs}); imported = 'polars' in sys.modules\n"
            "import polars\n"
            "print(json.dumps([n, polars.thread_pool_size(), imported, records.threads()]))")
    env = {k: v for k, v in os.environ.items() if k != "POLARS_MAX_THREADS"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True)
    found, pool, imported, after = json.loads(out.stdout)
    assert found == pool == after and not imported
    if jobs is not None:
        assert found == min(jobs, os.cpu_count() or 1)


def test_an_error_while_deciding_ahead_stops_the_scan(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Reading ahead, a batch's new units are decided on the deciding thread: an error there
    # is raised by the scan (where the batch is finished), not lost and not waited for
    # forever, and the threads are let go.
    import threading

    from mojinorm import counting

    rnd = random.Random(3)
    rows = [[str(i), chr(0xE000 + rnd.randrange(3000)) + "田"] for i in range(20_000)]
    path = tmp_path / "m.csv"
    path.write_bytes(_write([["id", "name"], *rows], False, False))
    monkeypatch.setattr(mojinorm.csvio, "CHUNK_SIZE", 16 * 1024)
    monkeypatch.setattr(counting._FastScan, "READ_AHEAD", True)
    decide = counting.flags_one_by_one  # every decision's first step (a few units: all of it)
    calls: list[int] = []

    def failing(*args: object, **kwargs: object) -> dict[str, int] | None:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("a decision failed")
        return decide(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(counting, "flags_one_by_one", failing)
    with pytest.raises(RuntimeError, match="a decision failed"):
        scan_mod.scan_file(path)
    assert len(calls) >= 2  # the thread may have taken the next batches' units meanwhile
    assert not [t for t in threading.enumerate() if t.name.startswith("mojinorm-decide")]
