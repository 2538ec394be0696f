"""The compiled reader of plain batches (``mojinorm._speedups``) against polars.

Wherever the compiled reader answers, it must give what ``records.plain_batch`` reads with
the guard applied: the same height, line ends and trailing field, the same rows, the same
values.  Where it declines, polars (and then the exact reader) decides.  The scans of the
hostile corpus and of generated files are also compared with and without it in
``tests/test_fastpath.py``.
"""

from __future__ import annotations

import csv
import functools
import gc
import itertools
import random
import re
import shutil
import sysconfig
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import mojinorm
from mojinorm import records


def _can_build() -> bool:
    """A C compiler and Python's headers are here: the install must have built the reader."""
    headers = Path(sysconfig.get_paths()["include"], "Python.h")
    return headers.exists() and any(shutil.which(cc) for cc in ("cc", "gcc", "clang"))


if records._COMPILED is None:
    if _can_build():
        raise AssertionError("mojinorm._speedups was not built although a C compiler and "
                             "Python's headers are here: see the install's output")
    pytest.skip("mojinorm._speedups is not built (no C compiler)", allow_module_level=True)

TARGET = mojinorm.get_target("jisx0208")
PASSING = TARGET.visible_chars
GUARD = re.compile(f"[^{TARGET.visible_class}]")


def _compiled(data: bytes, delimiter: str | None, ncols: int, selected: tuple[int, ...],
              trailing: bool, threads: int = 1) -> tuple[int, bool, bool, bool, list[int],
                                       tuple[list[str], ...]] | None:
    assert records._COMPILED is not None
    return records._COMPILED.plain_hits(data, -1 if delimiter is None else ord(delimiter),
                                        ncols, selected, records.code_point_bitmap(PASSING),
                                        records.MAX_FAST_LINE, trailing, threads)


def _reference(data: bytes, delimiter: str | None, ncols: int, selected: tuple[int, ...],
               trailing: bool) -> tuple[int, bool, bool, bool, list[int],
                                        tuple[list[str], ...]] | None:
    """What polars reads, with the guard applied row by row in Python."""
    batch = records.plain_batch(data, delimiter, ncols, selected, trailing)
    if batch is None:
        return None
    columns = [batch.values.to_series(k).to_list() for k in range(len(selected))]
    rows = [i for i in range(batch.height) if any(GUARD.search(c[i]) for c in columns)]
    return (batch.height, batch.crlf, batch.terminated, batch.tail, rows,
            tuple([c[i] for i in rows] for c in columns))


def _agree(data: bytes, delimiter: str | None, ncols: int, selected: tuple[int, ...],
           trailing: bool) -> bool:
    """Assert the two agree where the compiled reader answers; True when it answered."""
    got = _compiled(data, delimiter, ncols, selected, trailing)
    if got is None:
        return False
    assert got == _reference(data, delimiter, ncols, selected, trailing), data
    return True


# Fields of plain batches (quoted, doubled quotes, delimiters inside quotes, characters inside
# and outside JIS X 0208: an extended kanji, private use, a selector, a non-BMP kanji,
# invisible ones), and now and then one that makes a batch not plain (a stray or unclosed
# quote, a control, a CR, a byte-order mark) or any text at all.
_PLAIN = st.one_of(
    st.sampled_from(["髙橋", "山田", "\ue000田", "葛\U000e0102", "𠮷田", "", "花子", "ｶﾀｶﾅ",
                     '"a,b"', '"say ""hi"""', '""', '"山﨑"', '"a\tb"', "〓", " ", "\u00a0",
                     "\u200b", "x"]),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"),
                                   exclude_characters='",|'), max_size=3),
)
_ODD = st.one_of(
    st.sampled_from(['"open', 'x"y', '"x"y', "\t", "\r", "\x01", "\x7f", "\ufeff", "a,b"]),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=3),
)
answered: list[bool] = []


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), delimiter=st.sampled_from([",", "\t", "|", None]),
       ncols=st.integers(1, 4), crlf=st.booleans(), terminated=st.booleans(),
       trailing=st.booleans(), pick=st.integers(0, 15), spoil=st.integers(0, 5))
def test_the_compiled_reader_agrees_with_polars(
        data: st.DataObject, delimiter: str | None, ncols: int, crlf: bool,
        terminated: bool, trailing: bool, pick: int, spoil: int) -> None:
    width = 1 if delimiter is None else ncols
    rows = data.draw(st.lists(st.lists(_PLAIN, min_size=width, max_size=width),
                              min_size=1, max_size=8))
    # one batch in six keeps its plain fields; the others get one odd thing somewhere
    row = data.draw(st.integers(0, len(rows) - 1))
    if spoil == 1:  # an odd field
        rows[row][data.draw(st.integers(0, width - 1))] = data.draw(_ODD)
    elif spoil == 2:  # one field more (a trailing delimiter when it is empty)
        rows = [r + [""] for r in rows] if data.draw(st.booleans()) else \
            [r + [data.draw(_PLAIN)] if i == row else r for i, r in enumerate(rows)]
    elif spoil == 3 and width > 1:  # one field less
        rows[row] = rows[row][:-1]
    sep = delimiter or ","
    end = "\r\n" if crlf else "\n"
    text = end.join(sep.join(r) for r in rows) + (end if terminated else "")
    raw = text.encode("utf-8")
    if spoil == 4:  # a byte that is not UTF-8, or a blank line
        at = data.draw(st.integers(0, len(raw)))
        raw = raw[:at] + data.draw(st.sampled_from([b"\xff", b"\xe9", end.encode()])) + \
            raw[at:]
    selected = tuple(j for j in range(width) if pick >> j & 1) or (width - 1,)
    answered.append(_agree(raw, delimiter, width, selected, trailing))


def test_the_property_test_checked_something() -> None:
    # runs after the property test (file order): many generated batches must have been
    # answered, or the agreement would have been checked on nothing (about a third are, from
    # 24% to 40% in the runs seen: the draws are random)
    if answered:
        assert sum(answered) >= len(answered) // 10, (sum(answered), len(answered))


def test_the_compiled_reader_takes_plain_batches() -> None:
    # Each of these is plain (polars reads it too): the compiled reader must answer, or the
    # agreement above would be checked on nothing.
    cases: list[tuple[bytes, str | None, int, tuple[int, ...], bool]] = [
        ("1,髙橋,タカハシ\n2,山田,ヤマダ\n".encode(), ",", 3, (1,), False),
        ("1,髙橋,タカハシ\r\n2,山田,ヤマダ\r\n".encode(), ",", 3, (1, 2), False),
        ('"1","髙橋 ""Jr""","a,b"\n"2","\ue000田",""\n'.encode(), ",", 3, (1, 2), False),
        ("1\t山﨑\n2\t山田".encode(), "\t", 2, (1,), False),
        ("1,髙橋,\n2,山田,\n".encode(), ",", 2, (1,), True),
        ('髙橋 "太郎"\n山田\n'.encode(), None, 1, (0,), False),
    ]
    for data, delimiter, ncols, selected, trailing in cases:
        assert _agree(data, delimiter, ncols, selected, trailing), data


def test_the_compiled_reader_finds_the_rows() -> None:
    # The rows are those whose *selected* value holds a code point outside JIS X 0208
    # (髙 U+9AD9 and private use are outside; the unselected 﨑 does not count).
    got = _compiled('1,髙橋,山﨑\n2,山田,山﨑\n3,"\ue000""",x\n'.encode(), ",", 3, (1,), False)
    assert got == (3, False, True, False, [0, 2], (["髙橋", '\ue000"'],))


@pytest.mark.parametrize("data", [
    b"",
    "\ufeff1,a\n".encode(),           # a byte-order mark at the start: polars drops it
    b"1,a\n\n2,b\n",                  # a blank line
    b"1,a\r\n2,b\n",                  # mixed line ends
    b"1,a\r\n2,b",                    # CRLF without a last line end
    b"1,a\r2,b\n",                    # a lone CR
    b'1,"a\n2",b\n',                  # a record over two lines
    b'1,a"b\n',                       # a stray quote
    b'1,"a"b\n',                      # text after a closing quote
    b'"a"bx\n',                       # the same, where a misreading would count 2 fields
    b"1,a,b\n",                       # a ragged row
    b"1,\xff\n",                      # not UTF-8
    b"1,\xed\xa0\x80\n",              # an encoded surrogate
    b"1,\x01\n",                      # a control character
])
def test_the_compiled_reader_declines_what_is_not_plain(data: bytes) -> None:
    assert _compiled(data, ",", 2, (1,), False) is None


def test_a_long_line_is_declined() -> None:
    line = b"1," + b"a" * records.MAX_FAST_LINE + b"\n"
    assert _compiled(line, ",", 2, (1,), False) is None
    assert _compiled(b"1,a\n", ",", 2, (1,), False) is not None


def test_bad_arguments_raise() -> None:
    assert records._COMPILED is not None
    bitmap = records.code_point_bitmap(PASSING)
    with pytest.raises(ValueError):
        # column 2 of 2
        records._COMPILED.plain_hits(b"a\n", ord(","), 2, (2,), bitmap, 10, False, 1)
    with pytest.raises(ValueError):
        records._COMPILED.plain_hits(b"a\n", ord(","), 2, (0,), b"short", 10, False, 1)
    with pytest.raises(ValueError):
        records._COMPILED.plain_hits(b"a\n", ord('"'), 2, (0,), bitmap, 10, False, 1)


#: the compiled reader's parts on several threads (``PART_BYTES`` in ``_speedups.c``)
PART_BYTES = 512 * 1024


@pytest.mark.parametrize("threads", [1, 2, 5])
def test_crlf_line_ends_in_every_part_or_in_none(threads: int) -> None:
    # A batch of 4 MiB is read in parts of 512 KiB, each looking for a CR in its own lines:
    # CRLF line ends all through, or LF all through, are read (the same rows on any number
    # of threads); CRLF in some parts and LF in others, or a CR inside a value of a later
    # part, decline the batch as on one thread
    lines = _big_batch(100_000, 3)
    lf = ("\n".join(lines) + "\n").encode()
    crlf = ("\r\n".join(lines) + "\r\n").encode()
    assert len(lf) > 3 * 1024 * 1024
    read_lf, read_crlf = (_compiled(d, ",", 3, (1, 2), False, threads) for d in (lf, crlf))
    assert read_lf is not None and read_crlf is not None
    assert read_lf[:2] == (100_000, False) and read_crlf[:2] == (100_000, True)
    assert read_lf[4:] == read_crlf[4:] == _compiled(lf, ",", 3, (1, 2), False, 1)[4:]
    # LF lines, then CRLF lines from where the second part starts (the first line end past a
    # sixth of the batch): each part reads its own lines, the parts disagree
    sizes = [len(line.encode()) for line in lines]
    total = sum(sizes) + 2 * len(lines)
    lf_part = 0
    for h, size in enumerate(sizes, 1):
        lf_part += size + 1
        at = (total - h) // ((total - h) // PART_BYTES)  # where the reader cuts its first part
        if lf_part - size - 1 <= at < lf_part:
            break
    mixed = ("\n".join(lines[:h]) + "\n" + "\r\n".join(lines[h:]) + "\r\n").encode()
    assert len(mixed) == total - h and mixed.find(b"\n", at) == lf_part - 1
    # a CR inside a value of the last part
    late_cr = lf[:len(lf) - 100] + lf[len(lf) - 100:].replace(b" ", b"\r", 1)
    for data in (mixed, late_cr):
        assert _compiled(data, ",", 3, (1, 2), False, threads) is None


@pytest.mark.parametrize("threads", [1, 2, 3, 8])
def test_find_byte_searches_a_file_window_by_window(tmp_path: Path, threads: int) -> None:
    # the line-end check's CR search over a mapped file, in parts on threads: the first CR
    # at or after start, in any window (one page each here) and any part, a CR before start
    # not seen, a later part's CR not taken for an earlier one's, none found: -1
    import mmap
    import os

    from mojinorm import _compiled

    find = getattr(_compiled.MODULE, "find_byte", None)
    if find is None:
        pytest.skip("not built here (Windows, or no compiler)")
    page = mmap.PAGESIZE
    data = bytearray(b"a" * (5 * page + 123))
    path = tmp_path / "f.csv"
    for at in (0, 1, page - 1, page, 3 * page + 7, len(data) - 1):
        data[at] = 13
        data[-1] = 13  # a second CR in the last part
        path.write_bytes(data)
        fd = os.open(path, os.O_RDONLY)
        try:
            assert find(fd, 0, 13, page, threads) == at == bytes(data).find(b"\r")
            assert find(fd, at, 13, 2 * page, threads) == at  # a start inside a page
            assert find(fd, at + 1, 13, page, threads) == (
                len(data) - 1 if at < len(data) - 1 else -1)  # the first CR is before start
            assert find(fd, 0, ord("b"), page, threads) == -1
            with pytest.raises(ValueError, match="whole pages"):
                find(fd, 0, 13, page + 1, threads)
        finally:
            os.close(fd)
        data[at] = data[-1] = ord("a")
    path.write_bytes(b"")
    fd = os.open(path, os.O_RDONLY)
    try:
        assert find(fd, 0, 13, page, threads) == -1  # an empty file maps nothing
    finally:
        os.close(fd)


def _big_batch(rows: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    names = ["髙橋", "山田", "\ue000田", "葛\U000e0102", "𠮷田", "花子", "佐藤", "鈴木", "田中",
             "伊藤", "渡辺", "山本", "中村", "小林", "加藤"]
    quoted = ['"a,b"', '"x ""y"""', '"髙橋,花子"']

    def field() -> str:
        return rng.choice(quoted) if rng.random() < 0.05 else \
            f"{rng.choice(names)} {rng.choice(names)}"

    return [f"{i},{field()},{field()}" for i in range(rows)]


@pytest.mark.parametrize("threads", [2, 3, 8])
def test_a_large_batch_read_on_threads_agrees(threads: int) -> None:
    # 3-4 MiB: parts of 512 KiB, taken one by one by the threads
    lines = _big_batch(140_000, 1)
    data = ("\n".join(lines) + "\n").encode()
    assert len(data) > 3 << 20
    one = _compiled(data, ",", 3, (1, 2), False)
    assert one is not None and one[0] == 140_000 and 10_000 < len(one[4]) < 140_000
    assert _compiled(data, ",", 3, (1, 2), False, threads) == one
    assert one == _reference(data, ",", 3, (1, 2), False)


@pytest.mark.parametrize("where", [0.1, 0.5, 0.9])
def test_a_line_that_is_not_plain_in_any_part_declines_the_batch(where: float) -> None:
    lines = _big_batch(100_000, 2)
    at = int(len(lines) * where)
    for odd in ["", f"{at},a,b,c", f'{at},"open,x']:  # blank, ragged, a record over lines
        spoiled = lines[:at] + [odd] + lines[at + 1:]
        data = ("\n".join(spoiled) + "\n").encode()
        for threads in (1, 2, 3):
            assert _compiled(data, ",", 3, (1,), False, threads) is None


def _widths_change_between_parts(lines: list[str]) -> bytes:
    """``lines`` with a trailing delimiter on the first k of them, k chosen so that the first
    of two parts (cut after the line end at the middle byte) holds exactly those."""
    # bytes before each line, with the line ends
    starts = list(itertools.accumulate((len(x.encode()) + 1 for x in lines), initial=0))
    total = starts[-1]
    for k in range(1, len(lines)):
        size = total + k  # one more byte (the delimiter) on each of the first k lines
        end_of_line_k = starts[k] + k  # just past the line end of line k - 1
        # the first part ends after the first line end at or after the middle byte
        if end_of_line_k - 1 >= size // 2:
            data = ("\n".join([x + "," for x in lines[:k]] + lines[k:]) + "\n").encode()
            assert data[:end_of_line_k].count(b"\n") == k and len(data) == size
            return data
    raise AssertionError("no such k")


def test_parts_of_both_widths_decline_the_batch() -> None:
    # the first part with a trailing delimiter on every line, the second without: each part
    # reads alone, the batch must not (mixed widths)
    lines = _big_batch(100_000, 3)
    data = _widths_change_between_parts(lines)
    for threads in (1, 2):
        assert _compiled(data, ",", 3, (1,), True, threads) is None
    tailed = ("\n".join(x + "," for x in lines) + "\n").encode()
    got = _compiled(tailed, ",", 3, (1,), True, 2)
    assert got is not None and got[3] is True  # every line with the trailing field
    assert got == _reference(tailed, ",", 3, (1,), True)


def test_append_fields_writes_as_the_writer_quotes() -> None:
    # csvio.quote_field: a value is quoted when it holds the delimiter, a quote, CR or LF
    # (quotes doubled), and every new field of a line that ends with a quote is quoted
    data = '1,"a,b",x\n2,"say ""hi""",y\n3,plain,"q"\n4,髙,z'.encode()
    hits = records.compiled_hit_lists(data, ",", 3, (1,), False, PASSING)
    assert hits is not None and hits.rows == [3]
    out = records.append_fields(data, ",", 3, (1,), hits, [(["高"], ["髙→高 jis"])])
    assert out == ('1,"a,b",x,"a,b",\n'
                   '2,"say ""hi""",y,"say ""hi""",\n'
                   '3,plain,"q","plain",""\n'
                   '4,髙,z,高,髙→高 jis').encode()  # no line end added to the last line


def test_append_fields_goes_before_a_trailing_field() -> None:
    data = b'1,ab,\r\n2,cd,""\r\n'
    hits = records.compiled_hit_lists(data, ",", 2, (1,), True, PASSING)
    assert hits is not None and hits.tail and hits.crlf
    out = records.append_fields(data, ",", 2, (1,), hits, [([], [])])
    assert out == b'1,ab,ab,,\r\n2,cd,cd,,""\r\n'


def test_normalizer_is_built_on_the_compiled_guard_and_agrees_without_it() -> None:
    """With the compiled module, ``Normalizer.normalize`` is ``_speedups.NameGuard``'s; with
    ``MOJINORM_NO_SPEEDUPS=1`` it is the Python path; the answers are the same."""
    import json
    import os
    import subprocess
    import sys

    from mojinorm import _compiled, _speedups

    assert issubclass(mojinorm.Normalizer, _speedups.NameGuard) == _compiled.SPEEDUPS
    names = ["髙橋 太郎", "田中", "\ue000山", "葛\U000e0102城", "\ufe00x", "か\u3099", "𠮷田",
             "﨑", "\ud800", "", "ｱｲ"]
    script = ("import json, sys, mojinorm\n"
              "from mojinorm import _speedups\n"
              "n = mojinorm.Normalizer('jisx0208')\n"
              "names = json.loads(sys.stdin.read())\n"
              "print(json.dumps([issubclass(mojinorm.Normalizer, _speedups.NameGuard),"
              " [n.normalize(x) for x in names], n.normalize_many(names)]))\n")
    done = subprocess.run([sys.executable, "-c", script], input=json.dumps(names),
                          capture_output=True, text=True, check=True,
                          env={**os.environ, "MOJINORM_NO_SPEEDUPS": "1"})
    compiled, one_by_one, many = json.loads(done.stdout)
    n = mojinorm.Normalizer("jisx0208")
    assert not compiled
    assert one_by_one == many == [n.normalize(x) for x in names] == n.normalize_many(names)


# --------------------------------------------------------------------------- Arrow columns

#: strings around the view layout's 12-byte inline limit, nulls, the guard's hits (髙: JIS
#: X 0213 only; \ue000: private use; \U00020bb7 𠮷: outside the BMP; \t: invisible) and
#: characters JIS X 0208 shows
_ARROW_TEXT = st.text(alphabet=st.sampled_from(
    ["a", "高", "橋", " ", "ア", "髙", "\ue000", "\U00020bb7", "\t", "\u00e9", "Ａ"]),
    max_size=20)


def _arrow_hits(stream: object, bitmap: bytes, threads: int) -> list[int] | None:
    from mojinorm import _compiled

    assert _compiled.MODULE is not None
    found: list[int] | None = _compiled.MODULE.arrow_hits(stream, bitmap, threads, False)
    return found


def _arrow_hit_values(stream: object, bitmap: bytes, threads: int
                      ) -> tuple[list[int], list[str]] | None:
    from mojinorm import _compiled

    assert _compiled.MODULE is not None
    found: tuple[list[int], list[str]] | None = _compiled.MODULE.arrow_hits(
        stream, bitmap, threads, True)
    return found


def _arrow_reference(values: list[str | None]) -> list[int]:
    return [i for i, v in enumerate(values) if v is not None and GUARD.search(v)]


@settings(max_examples=300, deadline=None)
@given(values=st.lists(st.none() | _ARROW_TEXT, max_size=60),
       cuts=st.lists(st.integers(0, 60), max_size=3), start=st.integers(0, 10),
       threads=st.integers(1, 3))
def test_arrow_hits_agrees_with_the_guard(values: list[str | None], cuts: list[int],
                                          start: int, threads: int) -> None:
    # A chunked series (one chunk per cut), sliced so the arrays carry an offset: the rows
    # the compiled reader finds are the rows the re guard finds, numbered across chunks.
    import polars as pl

    from mojinorm import column

    bounds = sorted({0, len(values), *(c for c in cuts if c < len(values))})
    parts = [pl.Series("v", values[a:b], dtype=pl.String)
             for a, b in zip(bounds, bounds[1:], strict=False)]
    series = pl.concat(parts, rechunk=False) if parts else pl.Series("v", [], dtype=pl.String)
    series = series.slice(min(start, len(values)))
    expected = _arrow_reference(values[min(start, len(values)):])
    found = _arrow_hits(series.__arrow_c_stream__(),
                                         records.code_point_bitmap(PASSING), threads)
    assert found == expected
    hits = column.guard_hits(series, TARGET)
    assert hits is not None and hits.to_list() == expected
    with_values = column.guard_hit_values(series, TARGET)
    assert with_values is not None
    assert with_values[0].to_list() == expected
    assert with_values[1] == [values[min(start, len(values)) + i] for i in expected]


@pytest.mark.parametrize("arrow_type", ["string", "large_string", "string_view"])
def test_arrow_hits_reads_every_string_layout(arrow_type: str) -> None:
    pa = pytest.importorskip("pyarrow")
    values = ["髙橋", None, "山田", "a" * 20 + "\ue000", "b" * 30, "", "\U00020bb7野"]
    array = pa.chunked_array([values[:3], values[3:]], type=getattr(pa, arrow_type)())
    found = _arrow_hits(array.__arrow_c_stream__(),
                                         records.code_point_bitmap(PASSING), 2)
    assert found == [0, 3, 6]
    assert _arrow_hit_values(array.__arrow_c_stream__(), records.code_point_bitmap(PASSING),
                             2) == ([0, 3, 6], ["髙橋", "a" * 20 + "\ue000", "\U00020bb7野"])


def test_arrow_hits_declines_other_types_and_takes_a_stream_once() -> None:
    import polars as pl

    bitmap = records.code_point_bitmap(PASSING)
    assert _arrow_hits(pl.Series([1, 2]).__arrow_c_stream__(), bitmap,
                                        1) is None
    assert _arrow_hits(pl.Series([["髙"]]).__arrow_c_stream__(), bitmap,
                                        1) is None
    stream = pl.Series(["髙"]).__arrow_c_stream__()
    assert _arrow_hits(stream, bitmap, 1) == [0]
    with pytest.raises(ValueError, match="already consumed"):
        _arrow_hits(stream, bitmap, 1)
    with pytest.raises(ValueError, match="0x110000 bits"):
        _arrow_hits(pl.Series(["a"]).__arrow_c_stream__(), b"\0", 1)


def test_arrow_hits_on_threads_agrees_on_a_large_column() -> None:
    import polars as pl

    rng = random.Random(7)
    pool = ["高橋 太郎", "髙橋 花子", "山田", None, "\ue000田 一郎", "佐藤" * 8, "𠮷野"]
    values = [rng.choice(pool) for _ in range(300_000)]
    series = pl.Series(values, dtype=pl.String)
    bitmap = records.code_point_bitmap(PASSING)
    one = _arrow_hits(series.__arrow_c_stream__(), bitmap, 1)
    assert one == _arrow_reference(values)
    for threads in (2, 3, 8):
        assert _arrow_hits(series.__arrow_c_stream__(), bitmap,
                                            threads) == one
        assert _arrow_hit_values(series.__arrow_c_stream__(), bitmap, threads) == (
            one, [values[i] for i in one])


def test_arrow_hits_skips_a_null_slot_that_holds_bytes() -> None:
    # Arrow leaves a null slot's bytes undefined: here the null row 1 spans "髙", which the
    # guard would find; only the validity bitmap says it is null.
    pa = pytest.importorskip("pyarrow")
    data = "山髙田".encode()
    offsets = pa.array([0, 3, 6, 9], type=pa.int32()).buffers()[1]
    validity = pa.array([True, False, True]).buffers()[1]
    array = pa.Array.from_buffers(pa.string(), 3, [validity, offsets, pa.py_buffer(data)],
                                  null_count=1)
    assert array.to_pylist() == ["山", None, "田"]
    assert _arrow_hits(pa.chunked_array([array]).__arrow_c_stream__(),
                       records.code_point_bitmap(PASSING), 1) == []


def test_the_compiled_bitmap_is_the_python_one() -> None:
    # _compiled.code_point_bitmap makes the bitmap in C where the module is built; the Python
    # loop it replaces is the reference, over every built-in target and a set of edge cases.
    from mojinorm import _compiled

    def python_bitmap(chars: frozenset[str]) -> bytes:
        bits = bytearray(0x110000 // 8)
        for ch in chars:
            if len(ch) == 1:
                bits[ord(ch) >> 3] |= 1 << (ord(ch) & 7)
        return bytes(bits)

    assert _compiled.MODULE is not None
    edges = frozenset(["\x00", "\x7f", "\x80", "\uffff", "\U00010000", "\U0010ffff", "\ud800",
                       "ab", "", "葛\U000e0102"])
    for chars in [edges, *(mojinorm.get_target(t).visible_chars
                           for t in ("jisx0208", "cp932", "jisx0213", "mj"))]:
        assert _compiled.MODULE.bitmap(chars) == python_bitmap(chars)
    with pytest.raises(TypeError):
        _compiled.MODULE.bitmap([1])


@settings(max_examples=200, deadline=None)
@given(units=st.lists(st.text(max_size=4), max_size=30))
def test_code_points_are_written_as_python_writes_them(units: list[str]) -> None:
    # A report's codepoint column: the compiled writer against the f-string it replaces
    # (four hex digits at least, upper case, astral code points with five or six).
    from mojinorm import _compiled

    assert _compiled.MODULE is not None
    expected = [" ".join(f"U+{ord(x):04X}" for x in u) for u in units]
    assert _compiled.MODULE.code_points(units) == expected
    assert _compiled.MODULE.code_points(["\U0010ffff", "\x00", "\U000f0000"]) == [
        "U+10FFFF", "U+0000", "U+F0000"]


# code points and the pieces a unit is cut from: a base with a selector or a combining voiced
# mark (visible or not), lone selectors and marks
_COUNT_TEXT = st.lists(st.sampled_from([
    *"山田髙﨑𠮷a \u3000\t\ue000\uf8ff\U000f0001\u200b\u00a0か葛辻",
    "か\u3099", "は\u309a", "\u3099", "\u309a", "葛\U000e0102", "髙\U000e0100", "a\ufe00",
    "\ufe0f", "\U000e0100", "\ue000\ufe00"]) | st.characters(codec="utf-8"),
    max_size=8).map("".join)


def _counted_in_python(values: list[str | None], target: mojinorm.Target,
                       flags: dict[str, int]) -> object:
    """What ``count_arrow`` must give, from the target's unit pattern (the units the guard
    cuts: a base with its selector or voiced mark, a lone selector, a code point the target
    does not show) over the values holding a code point it does not show."""
    rows, found, counts, missing = [], bytearray(), {}, {}
    for i, v in enumerate(values):
        if v is None or all(ch in target.visible_chars for ch in v):
            continue
        rows.append(i)
        value = 0
        for m in target.unit_pattern.finditer(v):
            unit = m.group()
            if unit not in flags:
                missing[unit] = None
            elif flags[unit] >= 0:
                value |= flags[unit]
                counts[unit] = counts.get(unit, 0) + 1
        found.append(value & 0xFF)
    return list(missing) if missing else (rows, bytes(found), counts)


@pytest.mark.parametrize("arrow_type", ["string", "large_string", "string_view"])
@settings(max_examples=120, deadline=None)
@given(values=st.lists(st.none() | _COUNT_TEXT, max_size=40),
       cut=st.integers(0, 40), threads=st.integers(1, 3), target=st.sampled_from(
           ["jisx0208", "cp932", "mj"]))
def test_count_arrow_agrees_with_the_unit_pattern(arrow_type: str, values: list[str | None],
                                                  cut: int, threads: int, target: str) -> None:
    # The column's units counted in its Arrow memory (UTF-8, every string layout, two
    # chunks) against the target's unit pattern over Python strings: the same units asked
    # for when the flags lack some, then the same rows, flags and counts, and the counts
    # added to a running tally when one is given.
    pa = pytest.importorskip("pyarrow")
    from mojinorm import _compiled

    assert _compiled.MODULE is not None
    tgt = mojinorm.get_target(target)
    if tgt.sequences:  # the guard cuts only for targets without multi-code-point units
        return
    bitmap = _compiled.code_point_bitmap(tgt.visible_chars)
    array = pa.chunked_array([values[:cut], values[cut:]], type=getattr(pa, arrow_type)())
    asked = _compiled.MODULE.count_arrow(array.__arrow_c_stream__(), bitmap, threads, {})
    assert asked == _counted_in_python(values, tgt, {})
    # every unit known: flags made up from the unit itself, -1 (kept) for some
    units = asked if isinstance(asked, list) else []
    flags = {u: -1 if k % 5 == 4 else (ord(u[0]) + k) % 32 for k, u in enumerate(units)}
    expected = _counted_in_python(values, tgt, flags)
    assert not isinstance(expected, list)
    assert _compiled.MODULE.count_arrow(array.__arrow_c_stream__(), bitmap, threads,
                                        flags) == expected
    running = {u: 10 for u in units[:3]}
    counted = _compiled.MODULE.count_arrow(array.__arrow_c_stream__(), bitmap, threads, flags,
                                           running)
    assert counted is not None and not isinstance(counted, list) and counted[2] is running
    assert running == {u: n + (10 if u in units[:3] else 0)
                       for u, n in {**{u: 0 for u in units[:3]}, **expected[2]}.items()}


class _Stream:
    """An Arrow C stream capsule as polars imports one."""

    def __init__(self, capsule: object) -> None:
        self.capsule = capsule

    def __arrow_c_stream__(self, requested_schema: object = None) -> object:
        return self.capsule


@pytest.mark.parametrize("arrow_type", ["string", "large_string", "string_view"])
@settings(max_examples=100, deadline=None)
@given(values=st.lists(st.none() | _COUNT_TEXT, max_size=40), cut=st.integers(0, 40),
       skip=st.integers(0, 3), threads=st.integers(1, 3),
       target=st.sampled_from(["jisx0208", "cp932", "mj"]),
       fallback=st.sampled_from([None, "keep", "error", "●"]), compiled=st.booleans())
def test_normalize_arrow_agrees_with_normalize(arrow_type: str, values: list[str | None],
                                               cut: int, skip: int, threads: int, target: str,
                                               fallback: str | None, compiled: bool) -> None:
    # A column normalized in its Arrow memory (every string layout, two chunks, the second a
    # slice that starts ``skip`` values in; with and without the compiled decisions read)
    # against normalize per value: the whole column equal, the values the guard stopped at
    # counted, or the exception the first raising value raises.
    pa = pytest.importorskip("pyarrow")
    if fallback == "●" and "●" not in mojinorm.get_target(target):
        fallback = None
    normalizer = mojinorm.Normalizer(target, fallback=fallback)
    if compiled:
        normalizer._read_compiled_decisions()
    kind = getattr(pa, arrow_type)()
    tail = values[cut:]
    second = pa.array([None] * skip + tail, type=kind).slice(skip)
    array = pa.chunked_array([pa.array(values[:cut], type=kind), second], type=kind)
    stopped = [v is not None and not all(ch in normalizer.target.visible_chars for ch in v)
               for v in values]
    try:
        expected = [mojinorm.Normalizer(target, fallback=fallback).normalize(v) if hit else v
                    for v, hit in zip(values, stopped, strict=True)]
    except ValueError as exc:
        with pytest.raises(type(exc), match=None) as info:
            normalizer._normalize_arrow(array.__arrow_c_stream__(), threads)
        assert str(info.value) == str(exc)
        return
    read = normalizer._normalize_arrow(array.__arrow_c_stream__(), threads)
    assert read is not None
    stream, changed = read
    assert changed == sum(stopped)
    if stream is None:
        assert changed == 0
        return
    column = pl.Series("normalized", _Stream(stream))
    assert column.n_chunks() == len(array.chunks)
    assert column.to_list() == expected


@pytest.mark.parametrize("arrow_type", ["string", "large_string", "string_view"])
def test_normalized_column_read_in_parts(arrow_type: str) -> None:
    # A column long enough to be read in parts (65,536 rows at least each): the views of an
    # array cut between two threads, and of a sliced array, written by both, agree with
    # normalize per value on one thread and on three.
    pa = pytest.importorskip("pyarrow")
    rng = random.Random(7)
    pool = ["髙橋 太郎", "山田 花子", None, "\U000F0001\u3000次郎", "斎藤 一二三四五六七八九",
            "𠮷田", "渡邊 健", "佐藤", "a" * 13, "﨑本 長い名前の人と長い名前の人"]
    values = [rng.choice(pool) for _ in range(150_000)]
    kind = getattr(pa, arrow_type)()
    array = pa.chunked_array([pa.array(values[:90_000], type=kind),
                              pa.array([None] * 5 + values[90_000:], type=kind).slice(5)],
                             type=kind)
    normalizer = mojinorm.Normalizer("jisx0208")
    normalizer._read_compiled_decisions()
    expected = [None if v is None else normalizer.normalize(v) for v in values]
    for threads in (1, 3):
        read = normalizer._normalize_arrow(array.__arrow_c_stream__(), threads)
        assert read is not None
        column = pl.Series("normalized", _Stream(read[0]))
        assert read[1] == sum(v is not None and not all(
            ch in normalizer.target.visible_chars for ch in v) for v in values)
        assert column.to_list() == expected


def test_normalized_column_outlives_its_input() -> None:
    # The views of the values left as they are point into the input's buffers: the column
    # holds the input's arrays, so it reads the same once every other reference is gone.
    pa = pytest.importorskip("pyarrow")
    values = ["髙橋 太郎", None, "高橋 花子と長い名前の人です", "\U000F0001 次郎",
              "斎藤 一二三四五六七八"]
    normalizer = mojinorm.Normalizer("jisx0208")
    array = pa.chunked_array([pa.array(values * 50, type=pa.string())])
    read = normalizer._normalize_arrow(array.__arrow_c_stream__(), 2)
    assert read is not None and read[1] == 100
    del array
    gc.collect()
    column = pl.Series("normalized", _Stream(read[0]))
    del read
    gc.collect()
    expected = [None if v is None else normalizer.normalize(v) for v in values] * 50
    assert column.to_list() == expected


# ------------------------------------------------------------------- PlainTally (scan's counts)

#: counting's flag bits, as scan gives them to PlainTally
_BITS = {"unsafe": 1, "invisible": 2, "fallback": 4, "lossy": 8, "review": 16}


def _tallied_in_python(rows: list[list[str]], target: mojinorm.Target, flags: dict[str, int],
                       room: int) -> tuple[tuple[int, ...], list[tuple[int, ...]],
                                           dict[str, int], list[tuple[int, tuple[str, ...]]]]:
    """The counting rules of ``mojinorm.counting`` (its module docstring) written out row by
    row over Python strings, the units cut by the target's unit pattern: what PlainTally must
    add up for a batch whose selected values are ``rows``."""
    u, inv, fb, lossy, rv = (_BITS[k] for k in ("unsafe", "invisible", "fallback", "lossy",
                                               "review"))
    totals = [0] * 6  # review, invisible, unsafe, fallback, fixable, lossless
    columns = [[0] * 6 for _ in rows[0]] if rows else []
    units: dict[str, int] = {}
    review: list[tuple[int, tuple[str, ...]]] = []
    for i, values in enumerate(rows):
        if all(ch in target.visible_chars for v in values for ch in v):
            continue  # a row the guard passes adds only itself
        row_flags = 0
        for j, v in enumerate(values):
            f = 0
            for m in target.unit_pattern.finditer(v):
                if flags[m.group()] >= 0:
                    f |= flags[m.group()]
                    units[m.group()] = units.get(m.group(), 0) + 1
            col = columns[j]
            col[0] += bool(f & u)
            col[1] += bool(f & inv)
            col[2] += f & (u | fb) == u | fb
            col[3] += f != 0
            col[4] += f & (u | fb | lossy) == u
            col[5] += f & (u | rv) == u | rv
            row_flags |= f if f & u else f & inv
        if row_flags & rv:
            totals[0] += 1
            if len(review) < room:
                review.append((i, tuple(values)))
        totals[1] += bool(row_flags & inv)
        if row_flags & u:
            totals[2] += 1
            totals[3 if row_flags & fb else 4] += 1
            totals[5] += not row_flags & (fb | lossy)
    return tuple(totals), [tuple(c) for c in columns], units, review


def _made_up_flags(unit: str) -> int:
    """Flags for a unit, made up from the unit (any bits; -1, kept, for some; REVIEW for an
    odd first code point, so that a batch has rows to review)."""
    if len(unit) % 3 == 2:
        return -1
    return (sum(map(ord, unit)) * 7) % 32 | (_BITS["review"] if ord(unit[0]) % 2 else 0)


def _tally_batch(rows: list[list[str]], threads: int, flags: dict[str, int], room: int,
                 target: mojinorm.Target, quote_all: bool = False, crlf: bool = False,
                 tally: object = None) -> tuple[object, list[str], object] | None:
    """``rows`` written as a CSV batch (an id column first, then the selected columns), read
    and counted by ``tally`` (a new PlainTally by default): its rows to review, the units it
    asked for, and its totals so far."""
    import csv
    import io

    from mojinorm import _compiled

    assert _compiled.MODULE is not None
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n" if crlf else "\n",
               quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL).writerows(
        [str(i), *values] for i, values in enumerate(rows))
    width = len(rows[0])
    if tally is None:
        tally = _compiled.MODULE.PlainTally(width, *_BITS.values())
    bitmap = _compiled.code_point_bitmap(target.visible_chars)
    read = tally.read(buf.getvalue().encode(), ord(","), width + 1,
                      tuple(range(1, width + 1)), bitmap, records.MAX_FAST_LINE, False,
                      threads, flags, room)
    if read is None:
        return None
    height, crlf_read, terminated, tail, missing = read
    assert (height, crlf_read, terminated, tail) == (len(rows), crlf, True, False)
    for unit in missing:  # decided between read and finish, as scan does (made-up flags)
        flags[unit] = _made_up_flags(unit)
    return tally.finish(flags), missing, tally.totals()


tallied: list[bool] = []  #: batches the property test below saw counted (True) or declined
_TALLY_CELLS = st.one_of(_COUNT_TEXT, st.sampled_from(['a,"b"', '"', '髙"橋', '""', "山田"]))


@settings(max_examples=150, deadline=None)
@given(rows=st.lists(st.lists(_TALLY_CELLS, min_size=1, max_size=3).map(lambda r: r + [""] * 3),
                     min_size=1, max_size=12),
       width=st.integers(1, 3), known=st.booleans(), room=st.integers(0, 4),
       quote_all=st.booleans(), crlf=st.booleans(),
       target=st.sampled_from(["jisx0208", "cp932", "mj", "no-quote"]))
def test_plain_tally_counts_as_the_counting_rules_say(
        rows: list[list[str]], width: int, known: bool, room: int, quote_all: bool,
        crlf: bool, target: str) -> None:
    # A batch counted where it is read (values quoted, with doubled quotes, or not; units
    # known before the batch or met in it) against the counting rules written out in
    # Python: the same totals, per-column counts, unit occurrences and rows to review, and
    # the units asked for are those the flags lack.  A batch the reader declines (a control
    # character) is declined by plain_hits too.  "no-quote": a profile without '"', where a
    # value written with "" holds two units as read and one as meant.
    tgt = mojinorm.get_target(target) if target != "no-quote" else mojinorm.Target(
        "no-quote", "JIS X 0208 without the quote", TARGET.chars - {'"'})
    if tgt.sequences:
        return
    rows = [r[:width] for r in rows]
    # csv.writer quotes a CR only when its line terminator holds one: a last value ending in
    # CR, written unquoted before an LF, is a CRLF line end in the bytes (as any reader reads)
    assume(quote_all or crlf or not any(r[-1].endswith("\r") for r in rows))
    every = {m.group() for r in rows for v in r for m in tgt.unit_pattern.finditer(v)}
    flags = {u: _made_up_flags(u) for u in every} if known else {}
    tally = _compiled_module().PlainTally(width, *_BITS.values())
    got = _tally_batch(rows, 1, flags, room, tgt, quote_all, crlf, tally)
    if got is None:
        import csv
        import io

        buf = io.StringIO()
        csv.writer(buf, lineterminator="\r\n" if crlf else "\n",
                   quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL).writerows(
            [str(i), *values] for i, values in enumerate(rows))
        assert _compiled(buf.getvalue().encode(), ",", width + 1,
                         tuple(range(1, width + 1)), False) is None
        tallied.append(False)
        return
    review, missing, totals = got
    tallied.append(True)
    found = [r for r in rows if not all(ch in tgt.visible_chars for v in r for ch in v)]
    assert sorted(missing) == ([] if known else sorted(
        {m.group() for r in found for v in r for m in tgt.unit_pattern.finditer(v)}))
    t_rows, t_columns, t_units, t_review = _tallied_in_python(rows, tgt, flags, room)
    assert totals == (t_rows, t_columns, t_units)
    assert review == t_review
    # the same batch again: its units in the table now, its rows counted as they are read
    # (a value written with "" still waits), the same added once more
    assert _tally_batch(rows, 1, flags, room, tgt, quote_all, crlf, tally) == (
        t_review, [], (tuple(2 * x for x in t_rows), [tuple(2 * x for x in c) for c in t_columns],
                       {u: 2 * k for u, k in t_units.items()}))


def test_the_tally_property_test_counted_something() -> None:
    # runs after it (file order): most generated batches must have been counted, not
    # declined, or the agreement would have been checked on nothing
    if tallied:
        assert sum(tallied) >= len(tallied) // 4, (sum(tallied), len(tallied))


@functools.lru_cache(maxsize=1)
def _big_batch_counted() -> tuple[list[list[str]], list[tuple[int, dict[str, int], Any, Any]]]:
    """The rows of a 3-4 MiB batch and, for each room of rows to review (the first part's
    rows to review are enough, or not), its units decided and its counts on one thread, as
    the tally gives them and as Python counts them (the same; worked out once for every
    thread count)."""
    lines = _big_batch(140_000, 4)
    rows = [next(iter(csv.reader([line])))[1:] for line in lines]
    counted = []
    for room in (50, len(rows)):
        flags: dict[str, int] = {}
        waited = _tally_batch(rows, 1, flags, room, TARGET)
        assert waited is not None and waited[1]
        reference = _tallied_in_python(rows, TARGET, flags, room)
        counted.append((room, flags, waited, reference))
    return rows, counted


@pytest.mark.parametrize("threads", [1, 2, 3, 8])
def test_plain_tally_on_threads_counts_as_on_one(threads: int) -> None:
    # 3-4 MiB: parts of 512 KiB, taken by the threads one by one.  Its units all new, the
    # batch's rows wait and are counted once they are decided; its units known, its rows are
    # counted on the reading threads, the parts put together: the same counts and rows to
    # review either way, on one thread or several
    rows, counted = _big_batch_counted()
    for room, flags, waited, (t_rows, t_columns, t_units, t_review) in counted:
        assert waited[2] == (t_rows, t_columns, t_units) and waited[0] == t_review
        assert t_rows[2] > 10_000 and t_rows[0] > 1_000  # unsafe rows, rows to review
        # the units in the table, from a first batch: the second is counted as it is read
        tally = _compiled_module().PlainTally(2, *_BITS.values())
        again = dict(flags)
        assert _tally_batch(rows, threads, again, room, TARGET, tally=tally) == \
            (waited[0], [], waited[2])  # the flags known, the table empty: rows wait
        twice = _tally_batch(rows, threads, again, room, TARGET, tally=tally)
        assert twice == (waited[0], [], (tuple(2 * x for x in t_rows),
                                         [tuple(2 * x for x in c) for c in t_columns],
                                         {u: 2 * k for u, k in t_units.items()}))


def _compiled_module():  # type: ignore[no-untyped-def]
    from mojinorm import _compiled

    assert _compiled.MODULE is not None
    return _compiled.MODULE


def test_plain_tally_finishes_batches_read_ahead_in_order() -> None:
    # scan with --jobs 2 reads the next batches while a batch's new units are decided: the
    # batches are finished oldest first, each with the units it brought; a unit a batch
    # still waiting brought is not asked for again
    from mojinorm import _compiled

    assert _compiled.MODULE is not None
    tally = _compiled.MODULE.PlainTally(1, *_BITS.values())
    bitmap = _compiled.code_point_bitmap(TARGET.visible_chars)
    flags: dict[str, int] = {}

    def read(text: str) -> list[str]:
        got = tally.read(text.encode(), ord(","), 2, (1,), bitmap, 100, False, 1, flags, 10)
        assert got is not None
        return got[4]

    assert read("1,髙橋\n2,山田\n") == ["髙"]
    assert read("3,髙木\n4,\ue000田\n") == ["\ue000"]  # 髙 waits with the first batch
    flags["髙"] = 1 | 16  # unsafe, to review: decided, the first batch can be finished
    assert tally.finish(flags) == [(0, ("髙橋",))]
    with pytest.raises(ValueError, match="undecided"):
        tally.finish(flags)  # the second batch's own unit is not decided
    # a failed finish lets every batch waiting go, its units with it: asked for again
    assert read("3,髙木\n4,\ue000田\n") == ["\ue000"]
    flags["\ue000"] = 1 | 4  # unsafe, fallback
    assert tally.finish(flags) == [(0, ("髙木",))]
    rows, columns, units = tally.totals()
    # review, invisible, unsafe, fallback, fixable, lossless: 髙橋, 髙木 and \ue000田
    assert rows == (2, 0, 3, 1, 2, 2) and units == {"髙": 2, "\ue000": 1}
    with pytest.raises(ValueError, match="no batch"):
        tally.finish(flags)
    # a batch waiting holds a copy of its rows that wait or are to review, not the batch
    assert tally.waiting == tally.held == 0
    assert read("5,髙\n6,山田\n7,\U0002000b\n") == ["\U0002000b"]
    assert tally.waiting == 1 and tally.held == len("髙\U0002000b".encode())
    for _ in range(255):
        assert read("5,髙\n") == []
    with pytest.raises(ValueError, match="256 batches read and not finished"):
        read("5,髙\n")
    flags["\U0002000b"] = -1  # kept: counted as nothing
    assert tally.finish(flags) == [(0, ("髙",))]
    assert tally.held == 255 * len("髙".encode())  # the rows to review found when read
    for _ in range(255):
        assert tally.finish(flags) == [(0, ("髙",))]
    assert tally.totals()[0][0] == 2 + 256 and tally.waiting == tally.held == 0


def test_plain_tally_keeps_its_units_across_batches() -> None:
    from mojinorm import _compiled

    assert _compiled.MODULE is not None
    tally = _compiled.MODULE.PlainTally(1, *_BITS.values())
    bitmap = _compiled.code_point_bitmap(TARGET.visible_chars)
    data = "1,髙橋\n2,山田\n3,\ue000田\n".encode()
    flags: dict[str, int] = {}

    def read() -> list[str]:
        got = tally.read(data, ord(","), 2, (1,), bitmap, 100, False, 1, flags, 10)
        assert got is not None
        return got[4]

    assert sorted(read()) == ["髙", "\ue000"]
    with pytest.raises(ValueError, match="undecided"):
        tally.finish(flags)  # the new units must be decided first
    assert sorted(read()) == ["髙", "\ue000"]  # the batch read again: still new
    flags.update({"髙": 1 | 16, "\ue000": 1 | 4})
    assert tally.finish(flags) == [(0, ("髙橋",))]
    assert read() == []  # known now: counted on the reading side
    assert tally.finish(flags) == [(0, ("髙橋",))]
    rows, columns, units = tally.totals()
    # two batches of two unsafe rows: one to review (fixable), one needing the fallback
    assert rows == (2, 0, 4, 2, 2, 2) and columns == [(4, 0, 2, 4, 2, 2)]
    assert units == {"髙": 2, "\ue000": 2}
    with pytest.raises(ValueError, match="no batch"):
        tally.finish(flags)
    bare = _compiled.MODULE.PlainTally.__new__(_compiled.MODULE.PlainTally)
    for call in (lambda: bare.totals(), lambda: bare.finish({}),
                 lambda: bare.read(data, ord(","), 2, (1,), bitmap, 100, False, 1, {}, 10)):
        with pytest.raises(ValueError, match="not initialized"):
            call()
    with pytest.raises(ValueError, match="invalid"):
        tally.read(data, ord(","), 2, (1, 0), bitmap, 100, False, 1, flags, 10)
    with pytest.raises(ValueError, match="repeated"):
        _compiled.MODULE.PlainTally(2, *_BITS.values()).read(
            data, ord(","), 2, (1, 1), bitmap, 100, False, 1, flags, 10)
