"""The polars column kernel (mojinorm.column, mojinorm.polars) against the per-name API.

The kernel decides per distinct unit and runs everything per row in polars; these tests prove
it differentially: over arbitrary Unicode in every built-in target (and a profile) with several
fallbacks, and over every input of the labelled cases in tests/cases/*.yaml.
"""

from __future__ import annotations

import inspect
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mojinorm
from mojinorm import Normalizer, UnmappableCharacter
from mojinorm.counting import outcome_flags
from mojinorm.normalizer import UnitOutcome

pl = pytest.importorskip("polars")

import mojinorm.polars  # noqa: E402, F401  (registers the namespace)
from mojinorm import _compiled, column  # noqa: E402

CASES_DIR = Path(__file__).parent / "cases"
PROFILE = str(CASES_DIR / "profile-jisx0208-plus.yaml")
GAIJI = str(CASES_DIR / "gaiji-cases.yaml")
TARGETS = [*mojinorm.targets(), PROFILE]
FALLBACKS = ["geta", "keep", "kana", "error", "●"]

# Code points that exercise every stage and every segmentation rule: extended and astral
# kanji, IVS bases and selectors, gaiji (mapped by GAIJI and not), invisibles and odd spaces,
# combining and standalone voiced marks, JIS X 0213's two-code-point characters (æ + U+0300,
# ˥˩), compatibility ideographs, characters polars' regex syntax treats specially.
_interesting = st.sampled_from(
    list("髙﨑德栁濵𠮷齋邊邉眞塚\ufa10\ufa11\u585a葛辻增﨔槑凜熙高橋田山")
    + ["\ue000", "\ue001", "\ue002", "\ue004", "\ue006", "\ue0ff", "\uf8ff", "\U000f0000",
       "\U00100001", "\ufe00", "\ufe0f", "\U000e0100", "\U000e0101", "\U000e0102",
       "\U000e01ef", "\x00", "\t", "\n", "\r", "\u200b", "\u200d", "\u202e", "\ufeff",
       "\u00ad", "\u00a0", "\u2003", "\u3000", " ", "\u3099", "\u309a", "\u309b", "\u0300",
       "\u0301", "æ", "ɔ", "ə", "ʌ", "\u02e5", "\u02e9", "か", "カ", "タ", "う", "ゔ", "ㇷ",
       "ｶ", "ﾞ", "●", "〓", "&", "-", "~", "^", "]", "[", "\\", "\u2014", "\uff5e", "\u301c"]
)
names = st.lists(st.one_of(_interesting, _interesting, st.characters(codec="utf-8")),
                 max_size=10).map("".join)
column_values = st.lists(st.one_of(names, st.none(), st.sampled_from(["髙橋", "\ue000田"])),
                         min_size=1, max_size=8)
readings = st.one_of(st.none(), st.sampled_from(["タカハシ", "ﾀｶﾊｼ ﾀﾛｳ", "", " ", "たかはし",
                                                 "髙", "\ue000"]))
PROP = settings(max_examples=25, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _has_option(name: str) -> bool:
    return name in inspect.signature(Normalizer.__init__).parameters


# --------------------------------------------------------------------------- the oracle


def _per_name(values: Sequence[str | None], options: dict[str, Any],
              reading: Sequence[str | None] | None) -> tuple[list[Any], list[Any], list[Any]]:
    """What a loop over the per-name API gives (raises what the loop raises)."""
    target = options.get("target", "jisx0208")
    kwargs = {k: v for k, v in options.items() if k != "target"}
    normalizer = mojinorm.get_normalizer(target, **kwargs)
    texts: list[Any] = []
    changes: list[Any] = []
    review: list[Any] = []
    for i, value in enumerate(values):
        if value is None:
            texts.append(None)
            changes.append(None)
            review.append(None)
            continue
        read = reading[i] if reading is not None else None
        texts.append(normalizer.normalize(value, reading=read))
        result = normalizer.explain(value, reading=read)
        changes.append("; ".join(str(c) for c in result.changes))
        review.append(any(c.review for c in result.changes))
    return texts, changes, review


def _check_column(values: Sequence[str | None], options: dict[str, Any],
                  reading: Sequence[str | None] | None = None) -> None:
    """The column functions against the per-name API, on both engines: the compiled guard's
    (where it is built) and polars' alone."""
    for compiled in {_compiled.SPEEDUPS, False}:
        saved = _compiled.SPEEDUPS
        _compiled.SPEEDUPS = compiled
        try:
            _check_column_once(values, options, reading)
        finally:
            _compiled.SPEEDUPS = saved


def _check_column_once(values: Sequence[str | None], options: dict[str, Any],
                       reading: Sequence[str | None] | None) -> None:
    target = options.get("target", "jisx0208")
    kwargs = {k: v for k, v in options.items() if k != "target"}
    s = pl.Series("name", list(values), dtype=pl.String)
    r = pl.Series("kana", list(reading), dtype=pl.String) if reading is not None else None

    # target only: is_safe (Normalizer.is_safe is the target's is_clean) and unsafe_chars
    tgt = mojinorm.get_target(target)
    assert column.is_safe(s, target).to_list() == [
        None if v is None else tgt.is_clean(v) for v in values]
    assert column.unsafe_chars(s, target).to_list() == [
        None if v is None else [u for _, u in mojinorm.unsafe_chars(v, tgt)] for v in values]

    # normalizing: value, change text and review flag, or the same exception
    try:
        expected = _per_name(values, options, reading)
    except ValueError as exc:  # UnmappableCharacter, OptionError …
        # the kernel, and normalize alone (the compiled guard's path where it is built)
        for run in (column.explain, column.normalize):
            with pytest.raises(type(exc)) as info:
                run(s, target, reading=r, **kwargs)
            assert str(info.value) == str(exc)
            if isinstance(exc, UnmappableCharacter):
                assert isinstance(info.value, UnmappableCharacter)
                assert (info.value.char, info.value.index, info.value.text) == (
                    exc.char, exc.index, exc.text)
        return
    assert column.normalize(s, target, reading=r, **kwargs).to_list() == expected[0]
    frame = column.explain(s, target, reading=r, outputs=column.OUTPUTS + ("fallback",),
                           **kwargs)
    assert frame["normalized"].to_list() == expected[0]
    assert frame["changes"].to_list() == expected[1]
    assert frame["review"].to_list() == expected[2]
    # fallback: a unit of the value has no mapping (what normalize counts as a fallback
    # value), whatever the fallback does with it (kana, error: the units of a geta run)
    units_of = mojinorm.get_normalizer(target, **{**kwargs, "fallback": "geta"})
    assert frame["fallback"].to_list() == [
        None if v is None else any(units_of.outcome(c.original).fallback
                                   for c in units_of.explain(v).changes)
        for v in values]

    # scan's counting (unit_flags): per value the OR of its changes' flags, and how many
    # times each changed unit occurs; the same again from the memo of the first call
    def flags_of(out: UnitOutcome) -> int:
        return outcome_flags(out, units_of.target)

    expected_flags: list[int | None] = []
    expected_counts: Counter[str] = Counter()
    for v in values:
        if v is None:
            expected_flags.append(None)
            continue
        found = 0
        for c in units_of.explain(v).changes:
            found |= flags_of(units_of.outcome(c.original))
            expected_counts[c.original] += 1
        expected_flags.append(found)
    plan = column.column_plan(units_of)
    memo: dict[str, int] = {}
    for _ in range(2):
        flags, counts = column.unit_flags(s, plan, flags_of, memo)
        assert flags.to_list() == expected_flags
        assert counts == expected_counts
    # counts given are added to (a scan's running tally)
    running = Counter(expected_counts)
    assert column.unit_flags(s, plan, flags_of, memo, running)[1] is running
    assert running == expected_counts + expected_counts


# --------------------------------------------------------------------------- differential


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: Path(t).stem)
@pytest.mark.parametrize("fallback", FALLBACKS)
@PROP
@given(values=column_values, data=st.data())
def test_kernel_equals_per_name(target: str, fallback: str, values: list[str | None],
                                data: st.DataObject) -> None:
    if fallback == "●" and "●" not in mojinorm.get_target(target):
        fallback = "geta"
    reading = None
    if fallback == "kana":
        reading = data.draw(st.lists(readings, min_size=len(values), max_size=len(values)))
    _check_column(values, {"target": target, "fallback": fallback}, reading)


@pytest.mark.parametrize("target", ["jisx0208", "jisx0213", "mj"])
@PROP
@given(values=column_values)
def test_kernel_equals_per_name_with_gaiji_and_all_rules(target: str,
                                                         values: list[str | None]) -> None:
    _check_column(values, {"target": target, "gaiji": [GAIJI], "rules": "all"})


@pytest.mark.skipif(not _has_option("ambiguity"), reason="Normalizer has no ambiguity option")
@pytest.mark.parametrize("target", ["jisx0208", "cp932", "mj"])
@PROP
@given(values=column_values, data=st.data())
def test_kernel_equals_per_name_with_ambiguity(target: str, values: list[str | None],
                                               data: st.DataObject) -> None:
    default = inspect.signature(Normalizer.__init__).parameters["ambiguity"].default
    modes = [default] + [m for m in ("review", "error", "keep", "first") if m != default]
    mode = data.draw(st.sampled_from(modes))
    try:
        mojinorm.get_normalizer(target, ambiguity=mode)
    except ValueError:
        return  # not a mode of this normalizer
    _check_column(values, {"target": target, "ambiguity": mode})


def _labelled_cases() -> list[dict[str, Any]]:
    import yaml  # type: ignore[import-untyped, unused-ignore]

    cases = []
    for path in sorted(CASES_DIR.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and "cases" in data:
            cases.extend(data["cases"])
    return cases


def _case_options(case: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    options = dict(case.get("options") or {})
    reading = options.pop("reading", None)
    if "gaiji" in options:
        gaiji = options["gaiji"]
        options["gaiji"] = [str(CASES_DIR / p) for p in (gaiji if isinstance(gaiji, list)
                                                           else [gaiji])]
    target = str(case.get("target", "jisx0208"))
    if target.endswith((".yaml", ".yml")):
        for name in mojinorm.targets():  # a profile loads its base first
            mojinorm.get_target(name)
        target = str(CASES_DIR / target)
    options["target"] = target
    return options, reading


def test_labelled_case_inputs() -> None:
    """Every input of tests/cases/*.yaml, one column per option set, and one value alone."""
    groups: dict[str, tuple[dict[str, Any], list[str], list[str | None]]] = {}
    kana_inputs: list[str] = []
    match_inputs: list[str] = []
    checked = 0
    for case in _labelled_cases():
        kind = case.get("kind", "normalize")
        text = case.get("input")
        if kind == "kana" and isinstance(text, str):
            kana_inputs.append(text)
            continue
        if kind in ("match", "kana-match") and isinstance(text, list):
            match_inputs.extend(x for x in text if isinstance(x, str))
            if kind == "kana-match":
                kana_inputs.extend(x for x in text if isinstance(x, str))
            continue
        if kind != "normalize" or not isinstance(text, str):
            continue  # a kind the column functions have no counterpart for
        options, reading = _case_options(case)
        if "raises" in case:
            _check_column([case["input"]], options, [reading])
            checked += 1
            continue
        key = repr(sorted(options.items()))
        group = groups.setdefault(key, (options, [], []))
        group[1].append(case["input"])
        group[2].append(reading)
    for options, values, reads in groups.values():
        _check_column(values, options, reads)
        _check_column([*values, None, *values], options, [*reads, None, *reads])
        checked += len(values)
    assert checked >= 150
    s = pl.Series(kana_inputs)
    assert column.normalize_kana(s).to_list() == [mojinorm.normalize_kana(x) for x in kana_inputs]
    assert column.normalize_kana(s, hiragana=True).to_list() == [
        mojinorm.normalize_kana(x, hiragana=True) for x in kana_inputs]
    m = pl.Series(match_inputs)
    assert column.match_key(m).to_list() == [mojinorm.match_key(x) for x in match_inputs]


# --------------------------------------------------------------------------- special rows


def test_error_raises_for_the_first_offending_row() -> None:
    values = ["髙橋", "山田", "\ue005x", "\ue000田", "\ue001"]
    with pytest.raises(UnmappableCharacter) as info:
        column.normalize(pl.Series(values), "jisx0208", fallback="error")
    with pytest.raises(UnmappableCharacter) as direct:
        [mojinorm.normalize(v, "jisx0208", fallback="error") for v in values]
    assert str(info.value) == str(direct.value)
    assert info.value.text == "\ue005x"
    assert info.value.index == 0


def test_error_through_an_expression_keeps_the_exception() -> None:
    df = pl.DataFrame({"name": ["山田", "田\ue000"]})
    with pytest.raises(UnmappableCharacter) as direct:
        mojinorm.normalize("田\ue000", "cp932", fallback="error")
    # Older polars releases wrap an exception raised in a Python function in ComputeError.
    with pytest.raises((UnmappableCharacter, pl.exceptions.ComputeError)) as info:
        df.select(pl.col("name").mojinorm.normalize("cp932", fallback="error"))
    assert str(direct.value) in str(info.value)
    if isinstance(info.value, UnmappableCharacter):
        assert str(info.value) == str(direct.value)
        assert (info.value.char, info.value.index) == ("\ue000", 1)


def test_kana_fallback_replaces_only_the_rows_that_fall_back() -> None:
    df = pl.DataFrame({"name": ["髙橋 太郎", "\ue000田", None, "\ue000田", "山田"],
                       "kana": ["ﾀｶﾊｼ ﾀﾛｳ", "ﾖｼﾀﾞ", "ｱ", None, "ﾔﾏﾀﾞ"]})
    out = df.select(pl.col("name").mojinorm.normalize(fallback="kana", reading="kana"))
    assert out["name"].to_list() == ["高橋 太郎", "ヨシダ", None, "〓田", "山田"]
    plan = column.column_plan("jisx0208", fallback="kana")
    before = plan.rows_per_name
    column.normalize(df["name"], "jisx0208", fallback="kana", reading=df["kana"])
    assert plan.rows_per_name - before == 2  # the two rows with a fallback unit


def test_context_rows_of_jisx0213_go_per_name() -> None:
    # Only rows a normalizer has to look at (a guard hit) and with such a pair go per name.
    values = ["髙æ\u0300", "\u200bæ\u0300\u0300", "\u02e5\u02e9\u02e5\ue000", "æ\u0300",
              "か\u309a髙", "髙æ", "a\u0300髙"]
    _check_column(values, {"target": "jisx0213"})
    plan = column.column_plan("jisx0213")
    before = plan.rows_per_name
    column.changes(pl.Series(values), "jisx0213")  # the kernel (normalize alone: see below)
    assert plan.rows_per_name - before == 3


def test_unit_with_selector_wins_over_the_bare_unit() -> None:
    # 葛 + IVS is kept in mj, the lone selector elsewhere is removed: the longer unit must win.
    values = ["葛\U000e0102", "\U000e0102", "葛\U000e0102\U000e0102", "髙\ufe00髙"]
    for target in ("jisx0208", "mj"):
        _check_column(values, {"target": target})


def test_nulls_and_dtypes() -> None:
    s = pl.Series("name", [None, None], dtype=pl.Null)
    assert column.normalize(s).to_list() == [None, None]
    assert column.is_safe(s).to_list() == [None, None]
    assert column.unsafe_chars(s).to_list() == [None, None]
    cat = pl.Series("name", ["髙橋", "髙橋", None], dtype=pl.Categorical)
    assert column.normalize(cat).to_list() == ["高橋", "高橋", None]
    with pytest.raises(TypeError, match="string columns"):
        column.normalize(pl.Series([1, 2]))
    empty = pl.Series("name", [], dtype=pl.String)
    assert column.explain(empty).shape == (0, 3)


def test_options_are_checked_when_the_expression_is_built() -> None:
    with pytest.raises(mojinorm.OptionError):
        pl.col("name").mojinorm.normalize(fallback="nonsense")
    with pytest.raises(mojinorm.TargetError):
        pl.col("name").mojinorm.is_safe("no-such-target")
    with pytest.raises(TypeError, match="Normalizer instance"):
        column.column_plan(Normalizer("cp932"), fallback="keep")


# --------------------------------------------------------------------------- the namespace


def test_expression_namespace_matches_the_kernel() -> None:
    names = ["髙橋 太郎", "山田", None, "葛\U000e0102城", "\ue000田", "ﾔﾏﾀﾞ", "髙橋 太郎", "德"]
    df = pl.DataFrame({"name": names, "kana": ["ﾀｶﾊｼ"] * 8})
    col = pl.col("name").mojinorm
    out = df.lazy().select(
        col.is_safe("cp932").alias("safe"),
        col.is_safe("mj").alias("safe_mj"),
        col.unsafe_chars("cp932").alias("units"),
        col.normalize("cp932", gaiji=[GAIJI]).alias("normalized"),
        col.changes("cp932", gaiji=[GAIJI]).alias("changes"),
        col.review("cp932", gaiji=[GAIJI]).alias("review"),
        col.explain("jisx0208", fallback="kana", reading="kana").alias("kana"),
        col.match_key().alias("key"),
        col.normalize_kana().alias("kana_form"),
        col.normalize_kana(hiragana=True).alias("hiragana"),
    ).collect()
    s = df["name"]
    assert out["safe"].to_list() == column.is_safe(s, "cp932").to_list()
    assert out["safe_mj"].to_list() == column.is_safe(s, "mj").to_list()
    assert out["units"].to_list() == column.unsafe_chars(s, "cp932").to_list()
    frame = column.explain(s, "cp932", gaiji=[GAIJI])
    assert out["normalized"].to_list() == frame["normalized"].to_list()
    assert out["changes"].to_list() == frame["changes"].to_list()
    assert out["review"].to_list() == frame["review"].to_list()
    kana = column.explain(s, "jisx0208", fallback="kana", reading=df["kana"])
    assert out["kana"].struct.unnest().rows() == kana.rows()
    assert out["key"].to_list() == [None if v is None else mojinorm.match_key(v) for v in names]
    assert out["kana_form"].to_list() == [
        None if v is None else mojinorm.normalize_kana(v) for v in names]
    assert out["hiragana"].to_list() == [
        None if v is None else mojinorm.normalize_kana(v, hiragana=True) for v in names]
    # the Series namespace
    assert s.mojinorm.normalize("cp932", gaiji=[GAIJI]).to_list() == out["normalized"].to_list()
    assert s.mojinorm.is_safe("cp932").to_list() == out["safe"].to_list()
    assert s.mojinorm.match_key().to_list() == out["key"].to_list()


def test_expressions_in_group_by_and_streaming() -> None:
    df = pl.DataFrame({"g": [1, 1, 2, 2], "name": ["髙橋", "山田", "\ue000", "德"]})
    query = df.lazy().with_columns(pl.col("name").mojinorm.normalize().alias("n"))
    try:
        out = query.collect(engine="streaming")
    except ValueError:  # a polars release without the streaming engine option
        out = query.collect()
    assert out["n"].to_list() == ["高橋", "山田", "〓", "徳"]
    counts = (df.group_by("g", maintain_order=True)
              .agg(pl.col("name").mojinorm.is_safe().not_().sum().alias("unsafe")))
    assert counts["unsafe"].to_list() == [1, 2]


# --------------------------------------------------------------------------- cost and imports


@pytest.mark.parametrize("rules", [None, "all"])
def test_python_work_is_bounded_by_distinct_units(monkeypatch: pytest.MonkeyPatch,
                                                  rules: str | None) -> None:
    monkeypatch.setattr(_compiled, "SPEEDUPS", False)  # polars' engine (the guard's: below)
    # A fresh plan: nothing resolved yet.  With the default options the built-in target's
    # compiled decisions answer by a join, so only the private-use unit reaches Python; with
    # other options every distinct unit is decided once in Python.
    normalizer = Normalizer("jisx0208", rules=rules)
    calls: list[str] = []
    outcome = normalizer.outcome

    def counting(unit: str) -> mojinorm.normalizer.UnitOutcome:
        calls.append(unit)
        return outcome(unit)

    monkeypatch.setattr(normalizer, "outcome", counting)
    surnames = ["髙橋", "山﨑", "\ue000田", "德永", "佐藤", "鈴木", "葛\U000e0102城"]
    values = [f"{surnames[i % 7]} {'太郎花子一郎'[i % 3 * 2:i % 3 * 2 + 2]}{i}"
              for i in range(20_000)]
    out = column.explain(pl.Series(values), normalizer, outputs=("normalized", "changes"))
    expected = ["\ue000"] if rules is None else ["髙", "﨑", "\ue000", "德", "葛\U000e0102"]
    assert sorted(calls) == sorted(expected)
    assert out["normalized"][0] == "高橋 太郎0"
    plan = column.column_plan(normalizer)
    assert plan.units_resolved == len(expected) and plan.rows_per_name == 0
    column.changes(pl.Series(values[:100]), normalizer)
    assert len(calls) == len(expected)  # remembered across batches


@pytest.mark.skipif(not _compiled.SPEEDUPS, reason="the compiled module is not used")
@pytest.mark.parametrize("rules", [None, "all"])
def test_the_guard_explains_each_distinct_unit_once(monkeypatch: pytest.MonkeyPatch,
                                                    rules: str | None) -> None:
    # The compiled guard's engine: a compiled decision and a private-use code are written in
    # C; Python (_explain_unit) sees each other distinct unit once, across batches.  With the
    # default options only the one private-use code whose outcome stands for all of them
    # reaches outcome; with other options every distinct unit does, once.
    normalizer = Normalizer("jisx0208", rules=rules)
    calls: list[str] = []
    asked: list[str] = []
    outcome, explain_unit = normalizer.outcome, normalizer._explain_unit

    def counting(unit: str) -> mojinorm.normalizer.UnitOutcome:
        calls.append(unit)
        return outcome(unit)

    def asking(unit: str) -> tuple[str, str, int]:
        asked.append(unit)
        return explain_unit(unit)

    monkeypatch.setattr(normalizer, "outcome", counting)
    monkeypatch.setattr(normalizer, "_explain_unit", asking)
    surnames = ["髙橋", "山﨑", "\ue000田", "德永", "佐藤", "鈴木", "葛\U000e0102城",
                "\ue123"]
    values = [f"{surnames[i % 8]} {'太郎花子一郎'[i % 3 * 2:i % 3 * 2 + 2]}{i}"
              for i in range(20_000)]
    out = column.explain(pl.Series(values), normalizer, outputs=("normalized", "changes"))
    changed = [] if rules is None else ["髙", "﨑", "德", "葛\U000e0102"]
    assert sorted(asked) == sorted(changed)
    assert sorted(set(calls)) == sorted([*changed, "\U000f0000"])
    assert out["normalized"][:3].to_list() == ["高橋 太郎0", "山崎 花子1", "〓田 一郎2"]
    per_name = Normalizer("jisx0208", rules=rules).explain(values[2])
    assert out["changes"][2] == "; ".join(str(c) for c in per_name.changes) \
        == "<U+E000>→〓 unmapped-gaiji"
    plan = column.column_plan(normalizer)
    assert plan.rows_per_name == 0
    column.changes(pl.Series(values[:100]), normalizer)
    assert len(asked) == len(changed)  # remembered across batches


@pytest.mark.skipif(not _compiled.SPEEDUPS, reason="the compiled module is not used")
@pytest.mark.parametrize("replacement", ["", "〓", "●", "\u3164", "\ufe00", "\U000f0001",
                                         "\u200b", "a\u0301", "\u3000", "\u00a0"])
def test_the_guard_writes_change_texts_as_show_does(monkeypatch: pytest.MonkeyPatch,
                                                     replacement: str) -> None:
    # The C writer of str(Change), given what a private-use unit becomes: private-use,
    # selector and filler code points as <U+XXXX>, printable ones as they are, "(removed)" for
    # nothing; a text holding any other code point (U+200B, NBSP, U+3000) it leaves to Python.
    from mojinorm.normalizer import show

    normalizer = Normalizer("jisx0208")
    asked: list[str] = []
    monkeypatch.setattr(normalizer, "_explain_unit",
                        lambda unit: asked.append(unit) or (unit, "by Python", 0))
    texts, changes, flags = normalizer._explain_list(["田\ue000"], {},
                                                     (replacement, "a-rule", 3))
    writable = all(c.isprintable() or c == "\U000f0001" for c in replacement)
    if writable:
        assert asked == [] and texts == [f"田{replacement}"] and bytes(flags) == b"\x03"
        assert changes == [f"<U+E000>→{show(replacement or '(removed)')} a-rule"]
    else:
        assert asked == ["\ue000"] and changes == ["by Python"] and bytes(flags) == b"\x00"


def test_import_mojinorm_does_not_import_polars() -> None:
    # nor what normalize never needs: the readings' tables, the comparison of names, pathlib
    # (a file read brings it); each loads when first asked for
    code = ("import sys, mojinorm; mojinorm.normalize('髙橋 太郎'); mojinorm.is_safe('髙橋'); "
            "loaded = {'polars', 'pathlib', 'mojinorm.kana', 'mojinorm.matching'} & "
            "set(sys.modules); assert not loaded, loaded; "
            "assert mojinorm.normalize_kana('ﾀｶﾊｼ') == 'タカハシ'; "
            "assert mojinorm.names_match('●橋 太郎', '髙橋 太郎'); "
            "from mojinorm import GRADES, compare; assert compare('a', 'a').grade in GRADES")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_rust_class_escapes_every_code_point() -> None:
    chars = set("&&--~~[]^\\a-z") | {"\x00", "\U0010ffff", "\ue000"}
    body = column.rust_class(chars)
    s = pl.Series(["&", "-", "~", "[", "]", "^", "\\", "a", "z", "b", "\x00", "\U0010ffff",
                   "\ue000", "y"])
    assert s.str.contains(f"^[{body}]$").to_list() == [
        True, True, True, True, True, True, True, True, True, False, True, True, True, False]


def test_unit_pattern_agrees_with_iter_units() -> None:
    # Sanity check of the translated constants: polars cuts a text like iter_units does.
    from mojinorm.units import iter_units

    text = "葛\U000e0102\ufe00\u3099か\u309a\u3099髙\ufe0fa\u200b"
    patterns = column.target_patterns(mojinorm.get_target("jisx0208"))
    got = pl.Series([text]).str.extract_all(patterns.units).to_list()[0]
    visible = mojinorm.get_target("jisx0208").visible_chars
    assert got == [u for _, u in iter_units(text) if u not in visible]


def test_every_code_point_show_writes_as_a_code_is_in_the_polars_class() -> None:
    # The kernel writes change texts in polars: shown_codes finds the code points that
    # normalizer.show writes as <U+XXXX> with a polars class.  That class must hold every one
    # of them, in this Python's Unicode and the regex engine's, or a change text would show
    # an invisible character as itself.
    from mojinorm.invisible import invisible_among
    from mojinorm.normalizer import show

    every = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    private = [chr(c) for c in [*range(0xE000, 0xF900), *range(0xF0000, 0x10FFFE)]]
    shown = sorted(invisible_among(every) | set(private))
    assert all(show(c) != c for c in shown[::97])
    series = pl.Series(shown, dtype=pl.String)
    missed = series.filter(~series.str.contains(f"^[{column._SHOWN_AS_CODES}]$"))
    assert missed.len() == 0, [f"U+{ord(c):04X}" for c in missed.head(10).to_list()]
    # and shown_codes writes each as show does
    expr = column.shown_codes(series)
    assert pl.select(expr(pl.lit(series))).to_series().to_list() == [show(c) for c in shown]


@pytest.mark.parametrize("fallback", [None, "keep", "●"])
def test_table_rows_are_the_outcomes_and_are_kept(fallback: str | None) -> None:
    # Each unit's row is worked out once, column by column, then looked up: the change text
    # is str(Change) of the unit (selectors and private use written as codes), the rule the
    # deciding one, and a unit the target takes is inside with no change.
    normalizer = Normalizer("mj", fallback=fallback)
    plan = column.ColumnPlan(normalizer)
    units = ["髙", "\ue000", "葛\U000e0102", "\u200b", "\U000f0001", "\ufa11", "山", "·"]
    textless = plan.table(units[1:4:2], changes=False)  # no change texts asked: none made
    assert textless["changes"].null_count() == 2
    first = plan.table(units[:3])
    table = plan.table(units)
    assert table.columns == list(column.ColumnPlan.TABLE)
    assert table.head(3).equals(first)
    assert plan.table(units[::-1], changes=False).drop("changes").equals(
        table.reverse().drop("changes"))  # kept rows, looked up in any order
    reference = Normalizer("mj", fallback=fallback)
    for unit, replacement, changes, rule, review, fb, raises, inside in table.iter_rows():
        if unit in reference.target:
            assert (replacement, changes, rule, inside) == (unit, "", "", True), unit
            continue
        res = reference.explain(unit)
        (change,) = res.changes
        assert (replacement, changes, rule, review, fb, raises, inside) == (
            res.text, str(change), change.rule, change.review, change.fallback, False,
            False), unit


def test_table_rows_made_without_change_texts_are_completed_when_asked() -> None:
    # ColumnPlan.table keeps its rows for the next batches; rows made for `normalize` alone
    # have no change text, and a later `changes` on the same plan must write them (and the
    # units met only then), never an empty text.
    normalizer = Normalizer("jisx0208")
    first = pl.Series(["髙橋", "\ue000田", "山田"])
    later = pl.Series(["髙橋", "德永", "\ue001", None])
    assert column.normalize(first, normalizer).to_list() == ["高橋", "〓田", "山田"]
    want = ["; ".join(str(c) for c in normalizer.explain(v).changes) if v is not None else None
            for v in later.to_list()]  # a null stays null
    assert column.changes(later, normalizer).to_list() == want
    assert all(want[:3])  # every change written
    assert column.normalize(later, normalizer).to_list() == \
        [normalizer.normalize(v) if v is not None else None for v in later.to_list()]


def test_table_rows_past_the_memo_limit_are_still_answered(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # When the kept table rows would pass the limit, the frame keeps only the new ones; the
    # batch that made it so must still get every unit's row (the ones known before as well).
    monkeypatch.setattr(column, "_UNIT_MEMO_LIMIT", 3)
    normalizer = Normalizer("jisx0208")
    plan = column.ColumnPlan(normalizer)
    batches = [["髙橋", "\ue000田"], ["髙橋", "德永", "栁", "\ue001"], ["﨑", "髙", "濵"]]
    for values in batches:
        out = column.explain(pl.Series(values), normalizer)
        assert out["normalized"].to_list() == [normalizer.normalize(v) for v in values]
        assert out["changes"].to_list() == ["; ".join(str(c) for c in normalizer.explain(v)
                                                      .changes) for v in values]
        assert plan.table(["髙", "德", "﨑"])["replacement"].to_list() == ["高", "徳", "崎"]
