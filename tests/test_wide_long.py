"""Wide and long inputs ("files" issue, points 15 and 16).

* A file with thousands of columns: both readers agree (scan and normalize), plain batches stay
  on the fast path, and the patterns built for a layout do not grow with its columns.
* One very long field: the readers agree, the fast path leaves such a batch to the exact
  reader, and the long-value code paths (counting, rewriting) equal the per-name API.
* ``is_safe`` and the unit walks stop at the first unit that decides, and find exactly the
  units ``iter_units`` cuts.

Times are never asserted; the measured figures are in ``benchmarks/README.md``.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import io
import random
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mojinorm
from mojinorm import counting, records, rewrite
from mojinorm import scan as scan_mod
from mojinorm.records import Layout, skip_patterns
from mojinorm.targets import Target, get_target
from mojinorm.units import iter_units

UNSAFE = ["髙", "﨑", "德", "濵", "葛\U000e0102", "\ue000", "𠮷", "\u200b", "\t", "ｶ\u3099"]
SAFE = ["山", "田", "太郎", "", "a", "1", "佐藤", "タ\u3099"]


def _csv(rows: list[list[str]], crlf: bool = False, quote_all: bool = False) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n" if crlf else "\n",
               quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL).writerows(rows)
    return buf.getvalue().encode("utf-8")


def _wide(ncols: int, nrows: int, seed: int, quoted: bool = False) -> bytes:
    rnd = random.Random(seed)
    header = [f"c{i}" for i in range(1, ncols + 1)]
    rows = [[rnd.choice(UNSAFE) if rnd.random() < 0.05 else rnd.choice(SAFE)
             for _ in range(ncols)] for _ in range(nrows)]
    if quoted:
        rows[0][3] = 'say "hi", 髙'
    return _csv([header, *rows], quote_all=quoted)


def _scan_both(path: Path, monkeypatch: pytest.MonkeyPatch,
               **options: object) -> tuple[dict[str, object], dict[str, object]]:
    fast = scan_mod.scan_file(path, **options).to_dict()
    with monkeypatch.context() as m:
        m.setattr(records, "FAST_PATH", False)
        exact = scan_mod.scan_file(path, **options).to_dict()
    return fast, exact


def _normalize_both(path: Path, tmp: Path, monkeypatch: pytest.MonkeyPatch,
                    **options: object) -> tuple[object, object]:
    out: list[object] = []
    for fast in (True, False):
        with monkeypatch.context() as m:
            m.setattr(records, "FAST_PATH", fast)
            dest = tmp / f"out-{fast}.csv"
            summary = vars(scan_mod.normalize_file(path, dest, **options))
            summary.pop("output")
            out.append((dest.read_bytes(), summary))
    return out[0], out[1]


def _no_exact_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    def exact(*args: object, **kwargs: object) -> None:
        raise AssertionError("a plain batch went to the exact reader")

    monkeypatch.setattr(records.ExactReader, "read", exact)


# ---------------------------------------------------------------------------- wide files


@pytest.mark.parametrize("target", ["jisx0208", "cp932", "jisx0213", "mj"])
@pytest.mark.parametrize("quoted", [False, True])
def test_wide_file_readers_agree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: str,
                                 quoted: bool) -> None:
    path = tmp_path / "wide.csv"
    path.write_bytes(_wide(1500, 6, seed=len(target), quoted=quoted))
    fast, exact = _scan_both(path, monkeypatch, target=target)
    assert fast == exact
    assert fast["rows"] == 6 and fast["unsafe_rows"] > 0
    fast_out, exact_out = _normalize_both(path, tmp_path, monkeypatch, target=target)
    assert fast_out == exact_out


def test_wide_file_with_a_ragged_row_and_a_selection(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    data = _wide(900, 5, seed=3) + b",".join([b"x"] * 899) + b"\n" + _csv([["髙"] * 900])
    path = tmp_path / "ragged.csv"
    path.write_bytes(data)
    # a selection in many pieces (every third column) and one in a few runs
    for columns in ([str(i) for i in range(1, 901, 3)], ["c1", "c2", "c3", "c700", "c900"]):
        fast, exact = _scan_both(path, monkeypatch, columns=columns)
        assert fast == exact
        assert fast["ragged_rows"] == 1
        fast_out, exact_out = _normalize_both(path, tmp_path, monkeypatch, columns=columns)
        assert fast_out == exact_out


@pytest.mark.parametrize("quoted", [False, True])
def test_a_plain_wide_file_stays_on_the_fast_path(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  quoted: bool) -> None:
    path = tmp_path / "wide.csv"
    path.write_bytes(_wide(2000, 3, seed=7, quoted=quoted))
    _no_exact_reader(monkeypatch)
    report = scan_mod.scan_file(path, target="mj")
    assert report.rows == 3 and report.fields == 2000
    summary = scan_mod.normalize_file(path, tmp_path / "out.csv")
    assert summary.rows == 3 and summary.values_changed > 0


def test_a_wrong_field_count_is_not_plain() -> None:
    # the field count is checked outside quoted fields: a delimiter inside quotes is data
    assert records.plain_batch(b'a,"b,c"\n', ",", 2, (0, 1)) is not None
    assert records.plain_batch(b'a,"b,c"\n', ",", 3, (0, 1)) is None
    assert records.plain_batch(b'a,b,c\nd,e\n', ",", 3, (0,)) is None
    assert records.plain_batch(b'"a""",b\n', ",", 2, (0,)) is not None


@pytest.mark.parametrize("quoted", [False, True])
def test_skip_pattern_does_not_grow_with_the_columns(quoted: bool) -> None:
    allowed = get_target("mj").visible_chars

    def size(ncols: int, selected: tuple[int, ...]) -> int:
        layout = Layout(",", True, tuple(f"c{i}" for i in range(ncols)), selected, 0, 1)
        good, flag = skip_patterns(layout, allowed, quoted)
        return len(good.pattern) + len(flag.pattern)

    every = size(10, tuple(range(10)))
    assert size(5000, tuple(range(5000))) <= every + 20
    # any selection: at most MAX_SKIP_RUNS copies of the class, whatever the columns
    assert size(5000, tuple(range(0, 5000, 2))) <= every + 20
    assert size(5000, (0, 10, 20)) <= 4 * every


def test_skip_pattern_still_skips_and_flags_on_a_wide_layout() -> None:
    allowed = get_target("jisx0208").visible_chars
    names = tuple(f"c{i}" for i in range(3000))
    for selected in (tuple(range(3000)), tuple(range(0, 3000, 2)), (5, 2999)):
        layout = Layout(",", True, names, selected, 0, 1)
        good, flag = skip_patterns(layout, allowed, False)
        plain = ",".join(["山"] * 3000) + "\n"
        assert good.match(plain)
        unsafe = ",".join(["山"] * 2999 + ["髙"]) + "\n"
        # column 2999 is selected, or held to the class with every column (many pieces)
        assert good.match(unsafe) is None
        ragged = ",".join(["山"] * 2999) + "\n"
        assert good.match(ragged) is None
        text = plain + plain + unsafe + plain
        # the LF before the unsafe line, and the last one (no line after it)
        assert [m.end() for m in flag.finditer(text)] == [2 * len(plain), len(text)]


# ---------------------------------------------------------------------------- long fields


def _long_value(n: int, seed: int, unsafe_every: int) -> str:
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        out.append(rnd.choice(UNSAFE) if i % unsafe_every == 0 else rnd.choice("山田太郎花子"))
    return "".join(out)


@pytest.mark.parametrize("unsafe_every", [1, 37])
@pytest.mark.parametrize("target", ["jisx0208", "jisx0213", "mj"])
def test_long_values_readers_agree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   unsafe_every: int, target: str) -> None:
    # values far above the cache bound (256): the exact reader counts and rewrites them with
    # its long-value code, the fast path on the kernel
    rows = [["id", "name", "kana"]] + [
        [str(i), _long_value(3000, i, unsafe_every), "カナ"] for i in range(4)]
    path = tmp_path / "long.csv"
    path.write_bytes(_csv(rows))
    fast, exact = _scan_both(path, monkeypatch, target=target)
    assert fast == exact
    fast_out, exact_out = _normalize_both(path, tmp_path, monkeypatch, target=target)
    assert fast_out == exact_out
    # the piecewise writer of a long record writes the same bytes
    monkeypatch.setattr(rewrite, "_LONG_OUTPUT", 100)
    _, piecewise = _normalize_both(path, tmp_path, monkeypatch, target=target)
    assert piecewise == exact_out


def test_a_batch_with_a_very_long_line_goes_to_the_exact_reader(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(records, "MAX_FAST_LINE", 2000)
    short = b"1,abc\n" * 400
    assert records.plain_batch(short, ",", 2, (1,)) is not None
    long = short + b"2," + "髙山".encode() * 400 + b"\n"
    assert records.plain_batch(long, ",", 2, (1,)) is None
    path = tmp_path / "long.csv"
    path.write_bytes(b"id,name\n" + long)
    fast, exact = _scan_both(path, monkeypatch)
    assert fast == exact and fast["unsafe_rows"] == 1


@pytest.mark.parametrize("fallback", ["geta", "keep", "kana", "error"])
def test_long_value_fallbacks_equal_the_per_name_api(tmp_path: Path, fallback: str) -> None:
    # a unit only the fallback maps (a private-use code), in a long value
    value = _long_value(1000, 1, 5) + "\ue000"
    path = tmp_path / "in.csv"
    path.write_bytes(_csv([["name", "kana"], [value, "やまだ"]]))
    n = mojinorm.Normalizer("jisx0208", fallback=fallback)
    try:
        expected = n.explain(value, reading="やまだ")
    except mojinorm.UnmappableCharacter:
        with pytest.raises(mojinorm.InputError):
            scan_mod.normalize_file(path, tmp_path / "out.csv", columns=["name"],
                                    kana_column="kana", fallback=fallback)
        return
    with pytest.MonkeyPatch.context() as m:
        m.setattr(records, "FAST_PATH", False)
        scan_mod.normalize_file(path, tmp_path / "out.csv", columns=["name"],
                                kana_column="kana", fallback=fallback)
    row = list(csv.reader(io.StringIO((tmp_path / "out.csv").read_text("utf-8"))))[1]
    # then the reading's own pair of columns (kana_normalized, kana_changes)
    assert row[2:4] == [expected.text, "; ".join(str(c) for c in expected.changes)]
    assert row[4] == "ヤマダ"


def test_long_value_counts_equal_explain() -> None:
    n = mojinorm.Normalizer("mj")
    value = _long_value(5000, 2, 3)
    res = n.explain(value)
    layout = Layout(",", True, ("name",), (0,), 0, 1)
    scanner = counting._Scanner(n, layout)
    c = counting.Counts(1)
    info = scanner.analyse(value, c)
    assert info[1] == counting.value_flags(res, n.target)
    assert dict(c.chars) == dict(Counter(ch.original for ch in res.changes))


# ---------------------------------------------------------------------------- unit walks


_ODD = ["山", "髙", "a", "\ue000", "\ufe00", "\U000e0100", "\u3099", "\u309a", "か", "æ",
        "\u0300", "\u02e5", "\u02e9", "\u200b", "\t", "葛", "德", "\U0002000b"]


@functools.cache
def _odd_target() -> Target:
    # sequences the sequences rule alone pairs: a selector before a voiced mark, two tone
    # letters, a pair that starts with a code point outside the target
    base = get_target("jisx0213")
    return Target("odd", "", base.chars, base.sequences | {"\ufe00\u3099", "\u02e9\u02e5",
                                                           "髙\u0300"})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.lists(st.sampled_from(_ODD), max_size=12).map("".join),
       name=st.sampled_from(["jisx0208", "jisx0213", "mj", "odd"]))
def test_unit_pattern_finds_the_units_of_iter_units(text: str, name: str) -> None:
    t = _odd_target() if name == "odd" else get_target(name)
    expected = [(i, u) for i, u in iter_units(text, t.sequences)
                if not (len(u) == 1 and u in t.visible_chars)]
    assert [(m.start(), m.group()) for m in t.unit_pattern.finditer(text)] == expected
    reference = [(i, u) for i, u in iter_units(text, t.sequences)
                 if u not in t.visible_chars and u not in t.sequences]
    assert list(t.iter_unclean(text)) == reference
    assert t.is_clean(text) == (not reference)
    assert t.is_safe(text) == all(u in t for _, u in iter_units(text, t.sequences))
    assert t.unsafe_units(text) == [(i, u) for i, u in iter_units(text, t.sequences)
                                    if u not in t]


class _Counting:
    """A pattern that counts the matches its ``finditer`` hands out."""

    def __init__(self, pattern: re.Pattern[str]) -> None:
        self.pattern = pattern
        self.handed = 0

    def finditer(self, text: str) -> Iterator[re.Match[str]]:
        for m in self.pattern.finditer(text):
            self.handed += 1
            yield m


@pytest.mark.parametrize("name", ["jisx0208", "jisx0213", "mj"])
def test_is_safe_stops_at_the_first_unsafe_unit(name: str) -> None:
    t = dataclasses.replace(get_target(name))  # a fresh object: its own cached pattern
    counting_pattern = _Counting(t.unit_pattern)
    t.__dict__["unit_pattern"] = counting_pattern
    text = "山" * 1000 + "\ue000" * 10_000
    assert mojinorm.is_safe(text, t) is False
    assert counting_pattern.handed <= 1
    assert t.is_safe(text) is False
    assert counting_pattern.handed <= 2
    assert mojinorm.is_safe("山" * 1000, t) is True
    assert counting_pattern.handed <= 2  # a text the guard passes is never walked


def test_explain_builds_the_text_from_slices() -> None:
    # equal to a unit-by-unit rebuild on a long text with changes spread over it
    n = mojinorm.Normalizer("jisx0213")
    text = _long_value(20_000, 4, 101) + "か\u309a" + "\u02e5\u02e9"
    res = n.explain(text)
    rebuilt = []
    changes = {c.index: c for c in res.changes}
    for i, u in iter_units(text, n.target.sequences):
        rebuilt.append(changes[i].replacement if i in changes else u)
    assert res.text == "".join(rebuilt) == res.replay(text) == n.normalize(text)
