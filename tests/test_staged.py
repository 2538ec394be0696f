"""Staged targets: ``scan --target A --target B`` counts each target in one pass, and the rows
that render in one and not in the next (德 passes an eligibility check in JIS X 0213 and a
claim in JIS X 0208-1983 rejects it)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mojinorm
from mojinorm import records
from mojinorm.cli import cli
from mojinorm.scan import scan_file

TARGETS = ["jisx0213", "jisx0208-1983", "jisx0208", "cp932", "mj"]


def _both(path: Path, monkeypatch: pytest.MonkeyPatch, targets: list[str]) -> dict:
    got = []
    for fast in (True, False):
        with monkeypatch.context() as m:
            m.setattr(records, "FAST_PATH", fast)
            got.append(scan_file(path, target=targets).to_dict())
    assert got[0] == got[1]
    return got[0]


def test_each_stage_counts_as_its_own_scan(tmp_path, monkeypatch):
    src = Path(__file__).parent.parent / "data" / "samples" / "names.csv"
    chain = ["jisx0213", "cp932", "jisx0208-1983"]
    d = _both(src, monkeypatch, chain)
    # the report itself is the last target's
    alone = scan_file(src, target="jisx0208-1983").to_dict()
    assert {k: v for k, v in d.items() if k != "stages"} == \
        {k: v for k, v in alone.items() if k != "stages"}
    assert d["target"] == "jisx0208-1983"
    for stage, target in zip(d["stages"], chain, strict=True):
        one = scan_file(src, target=target)
        assert (stage["target"], stage["unsafe_rows"], stage["fixable_rows"],
                stage["fallback_rows"], stage["review_rows"]) == (
            target, one.unsafe_rows, one.fixable_rows, one.fallback_rows, one.review_rows)
    assert d["stages"][0]["newly_unsafe_rows"] is None


_NAMES = st.sampled_from(["山田", "德山", "髙橋", "凜", "﨑田", "𠮷田", "\ue000", "葛\U000e0102城",
                          "佐藤", "剝", "熙"])


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(names=st.lists(_NAMES, min_size=1, max_size=30),
       chain=st.lists(st.sampled_from(TARGETS), min_size=2, max_size=3, unique=True))
def test_rows_that_pass_one_stage_and_fail_the_next(tmp_path_factory, monkeypatch, names,
                                                    chain):
    path = tmp_path_factory.mktemp("staged") / "in.csv"
    path.write_text("id,name\n" + "".join(f"{i},{n}\n" for i, n in enumerate(names)),
                    encoding="utf-8")
    d = _both(path, monkeypatch, chain)
    # row by row with the per-name API
    unsafe = [{i for i, n in enumerate(names) if not mojinorm.is_safe(n, t)} for t in chain]
    assert [s["unsafe_rows"] for s in d["stages"]] == [len(u) for u in unsafe]
    assert [s["newly_unsafe_rows"] for s in d["stages"]] == \
        [None] + [len(unsafe[k] - unsafe[k - 1]) for k in range(1, len(chain))]


def test_cli_stages(tmp_path):
    src = tmp_path / "in.csv"
    # 德 is in JIS X 0213, not in JIS X 0208 (1983 or 1990); 凜 is in JIS X 0208 since 1990
    src.write_text("id,name\n1,德山\n2,凜\n3,山田\n", encoding="utf-8")
    runner = CliRunner()
    res = runner.invoke(cli, ["scan", str(src), "-t", "jisx0213", "-t", "jisx0208-1983",
                              "-f", "json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    assert d["target"] == "jisx0208-1983"
    assert [(s["target"], s["unsafe_rows"], s["newly_unsafe_rows"]) for s in d["stages"]] == [
        ("jisx0213", 0, None), ("jisx0208-1983", 2, 2)]
    table = runner.invoke(cli, ["scan", str(src), "-t", "jisx0213", "-t", "jisx0208-1983"])
    assert "    2  jisx0208-1983       2" in table.output
    one = json.loads(runner.invoke(cli, ["scan", str(src), "-f", "json"]).output)
    assert one["stages"] == []
