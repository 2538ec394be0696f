"""``scan`` and ``normalize`` agree on which values change, on generated files of every layout.

The property: the cells (record, column) that ``scan`` counts as values ``normalize`` changes
(``columns[C]["changed"]``) are exactly the cells whose ``C_changes`` ``normalize`` fills; a
ragged row is copied as it is and counts in neither.  The files vary the header's width, a
trailing delimiter on the header and on the records (on every line, on some, on none), field
widths (ragged rows), quoting (quote-all writes the trailing field as ``""``), the delimiter,
CRLF, and values with characters outside the target (髙 﨑, private-use U+E000, a zero-width
space), delimiters, quotes and line breaks inside fields.

The scan report counts per column, not per cell: the cells come from scanning each prefix of
the file (the header and the first k records; the layout is decided by the header and the
first record, so every prefix has the file's layout) and taking what each record adds.  Both
readers (``records.FAST_PATH``) must give the same reports and the same bytes; ``--replace``
must rewrite the same cells in place.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mojinorm import csvio, records
from mojinorm import scan as scan_mod

_VALUES = ["髙橋", "山﨑", "\ue000田", "山田", "", "佐藤\u200b", "a,b", 'x"y', "x\ny", "德", "田\t"]
_ROW = st.lists(st.sampled_from(_VALUES), min_size=1, max_size=4)


def _line(fields: list[str], delimiter: str, quote_all: bool, eol: str) -> str:
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter, lineterminator=eol,
               quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL).writerow(fields)
    return buf.getvalue()


def _read(data: bytes, delimiter: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline=""), delimiter=delimiter))


def _scan(path: Path, monkeypatch: pytest.MonkeyPatch, **options: object) -> dict:
    """The scan report; the exact reader's must be the same."""
    fast = scan_mod.scan_file(path, **options).to_dict()
    with monkeypatch.context() as m:
        m.setattr(records, "FAST_PATH", False)
        exact = scan_mod.scan_file(path, **options).to_dict()
    assert fast == exact
    return fast


def _normalize(path: Path, out: Path, monkeypatch: pytest.MonkeyPatch,
               **options: object) -> bytes:
    """The output of normalize; the exact reader's must be byte for byte the same."""
    got = []
    for fast in (True, False):
        with monkeypatch.context() as m:
            m.setattr(records, "FAST_PATH", fast)
            # every column, as scan reads them (by default normalize adds columns only for
            # those with something to change)
            scan_mod.normalize_file(path, out, overwrite=True,
                                    **{"columns": ["all"], **options})
        got.append(out.read_bytes())
    assert got[0] == got[1]
    return got[0]


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(width=st.integers(1, 3), header_trailing=st.booleans(),
       rows=st.lists(st.tuples(_ROW, st.booleans()), min_size=1, max_size=6),
       trailing=st.sampled_from(["every", "some", "none"]), quote_all=st.booleans(),
       delimiter=st.sampled_from([",", "\t"]), crlf=st.booleans(),
       target=st.sampled_from(["jisx0208", "cp932"]), size=st.sampled_from([7, 1 << 20]))
def test_scan_counts_the_cells_normalize_changes(
        tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch, width: int,
        header_trailing: bool, rows: list[tuple[list[str], bool]], trailing: str,
        quote_all: bool, delimiter: str, crlf: bool, target: str, size: int) -> None:
    monkeypatch.setattr(csvio, "CHUNK_SIZE", size)  # the first record may span chunks
    eol = "\r\n" if crlf else "\n"
    header = ["id", "name", "kana"][:width] + ([""] if header_trailing else [])
    lines = [_line(header, delimiter, quote_all, eol)]
    for fields, extra in rows:
        if trailing == "every" or (trailing == "some" and extra):
            fields = [*fields, ""]  # a trailing delimiter
        lines.append(_line(fields, delimiter, quote_all, eol))
    tmp = tmp_path_factory.mktemp("agree")
    options = {"target": target, "delimiter": delimiter}

    # scan: what each record adds to each column's "changed"
    scanned: set[tuple[int, str]] = set()
    before: dict[str, int] = {}
    report: dict = {}
    for k in range(1, len(lines)):
        prefix = tmp / f"prefix{k}.csv"
        prefix.write_bytes("".join(lines[:k + 1]).encode("utf-8"))
        report = _scan(prefix, monkeypatch, **options)
        for label, stats in report["columns"].items():
            added = stats["changed"] - before.get(label, 0)
            assert added in (0, 1)
            if added:
                scanned.add((k - 1, label))
            before[label] = stats["changed"]

    # normalize: the cells whose C_changes is filled, on the whole file
    src = tmp / "in.csv"
    src.write_bytes("".join(lines).encode("utf-8"))
    data_in = _read(src.read_bytes(), delimiter)[1:]
    data_out = _read(_normalize(src, tmp / "out.csv", monkeypatch, **options), delimiter)[1:]
    assert len(data_in) == len(data_out) == len(rows)
    n = report["fields"]
    labels = report["columns_selected"]
    changed: set[tuple[int, str]] = set()
    for i, (was, now) in enumerate(zip(data_in, data_out, strict=True)):
        if len(now) == len(was):  # a ragged row: copied as it is
            assert now == was
            continue
        added = len(labels) * 2
        # the columns, the new fields, then the trailing field (if any) as it was
        assert now[:n] == was[:n] and now[n + added:] == was[n:] and len(was) - n in (0, 1)
        changed |= {(i, label) for j, label in enumerate(labels) if now[n + 2 * j + 1]}
    assert scanned == changed

    # --replace rewrites the same cells in place (the exact reader's writer) and no other
    replaced = _read(_normalize(src, tmp / "out.csv", monkeypatch, replace=True, **options),
                     delimiter)[1:]
    assert len(replaced) == len(rows)
    rewritten = {(i, label) for i, (was, now) in enumerate(zip(data_in, replaced, strict=True))
                 for j, label in enumerate(labels) if j < len(was) and now[j] != was[j]}
    assert all(len(now) == len(was) for was, now in zip(data_in, replaced, strict=True))
    assert rewritten == changed
