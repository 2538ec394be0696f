"""Labelled cases (ftfy style): tests/cases/*.yaml, one pytest per case, id = the case label.

A case file is a mapping with a ``cases`` list (other YAML files in tests/cases, such as the
gaiji table ``gaiji-cases.yaml`` or a target profile, are data used by cases).  Case keys:

``label``     unique test id
``kind``      ``normalize`` (default), ``kana`` (``normalize_kana``), ``match``
              (``names_match``; ``input`` is a pair and ``expected`` a bool) or ``kana-match``
              (``compare_kana``; ``input`` is a pair and ``expected`` the grade)
``input``     the text (write non-printing characters as YAML escapes: "\\u200B")
``target``    target name or a profile path relative to tests/cases (default ``jisx0208``)
``options``   normalize: ``fallback``, ``rules``, ``gaiji`` (path relative to tests/cases),
              ``reading``; kana: ``hiragana``
``expected``  the output text (or the bool for ``match``)
``rule``      ``Change.rule`` of the first change, a list with one rule per change,
              ``null`` when nothing may change, or ``"*"`` for any rule (a case documenting a
              wanted behaviour whose rule name does not exist yet)
``steps``     optional: the rules of every step of the first change, in order; match and
              kana-match: the ``rule`` of each step at a position, in order
``alternatives`` optional: the first change's alternatives
``review``    optional: the first change's ``review`` flag
``keys``      optional (match): the two match keys
``grade``     optional (match): ``compare(a, b).grade`` (checked both ways)
``masked``    optional (match): ``compare(a, b).masked``
``raises``    optional: exception class name (``UnmappableCharacter``, ``ValueError``)
``error_index`` optional: ``UnmappableCharacter.index``
``why``       the reason: rule and data source
``xfail``     optional: reason this case documents a library behaviour believed wrong

For every normalize case the test also checks that ``explain`` and ``normalize`` agree, that
replaying ``Result.changes`` on the input gives ``Result.text``, that the output is inside the
target for every fallback except ``keep``, and that normalizing twice changes nothing.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import mojinorm
from mojinorm import (
    UnmappableCharacter,
    explain,
    match_key,
    names_match,
    normalize,
    normalize_kana,
)
from mojinorm.matching import compare, compare_kana

CASES_DIR = Path(__file__).parent / "cases"
MIN_CASES = 160

_CASE_KEYS = {
    "label", "kind", "input", "target", "options", "expected", "rule", "steps",
    "alternatives", "keys", "raises", "error_index", "why", "xfail", "review", "grade", "masked",
}
_OPTION_KEYS = {
    "normalize": {"fallback", "rules", "gaiji", "reading", "ambiguity"},
    "kana": {"hiragana"},
    "match": set(),
    "kana-match": set(),
}
_EXCEPTIONS = {"UnmappableCharacter": UnmappableCharacter, "ValueError": ValueError}


def _load_cases() -> list[dict]:
    cases = []
    for path in sorted(CASES_DIR.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or "cases" not in data:
            continue  # a data file used by cases (gaiji table, target profile)
        for case in data["cases"]:
            case = dict(case)
            case["_file"] = path.name
            cases.append(case)
    return cases


CASES = _load_cases()


def _params():
    for case in CASES:
        marks = []
        if case.get("xfail"):
            marks.append(pytest.mark.xfail(reason=str(case["xfail"]), strict=True))
        yield pytest.param(case, id=str(case.get("label")), marks=marks)


# --------------------------------------------------------------------------- the case files


def test_case_files_are_well_formed():
    labels = [c.get("label") for c in CASES]
    dupes = sorted({lb for lb in labels if labels.count(lb) > 1})
    assert not dupes, f"duplicate labels: {dupes}"
    assert len(CASES) >= MIN_CASES, f"only {len(CASES)} cases"
    for case in CASES:
        where = f"{case['_file']}: {case.get('label')!r}"
        unknown = set(case) - _CASE_KEYS - {"_file"}
        assert not unknown, f"{where}: unknown keys {sorted(unknown)}"
        kind = case.get("kind", "normalize")
        assert kind in _OPTION_KEYS, f"{where}: unknown kind {kind!r}"
        for key in ("label", "input", "why"):
            assert case.get(key) not in (None, ""), f"{where}: missing {key}"
        assert "expected" in case or "raises" in case, f"{where}: no expected / raises"
        if kind == "normalize" and "raises" not in case:
            assert "rule" in case, f"{where}: a normalize case needs 'rule' (null for no change)"
        bad = set(case.get("options") or {}) - _OPTION_KEYS[kind]
        assert not bad, f"{where}: unknown options {sorted(bad)}"
        if "raises" in case:
            assert case["raises"] in _EXCEPTIONS, f"{where}: unknown exception {case['raises']}"


def test_profile_loaded_first_does_not_deadlock():
    # Regression: get_target(profile) loads the base target while holding the cache lock.
    code = (
        "import mojinorm, sys; "
        "t = mojinorm.get_target(sys.argv[1]); "
        "assert '髙' in t"
    )
    profile = str(CASES_DIR / "profile-jisx0208-plus.yaml")
    try:
        subprocess.run([sys.executable, "-c", code, profile], check=True, timeout=20)
    except subprocess.TimeoutExpired:
        pytest.fail("loading a target profile as the first target of a process hangs")


# --------------------------------------------------------------------------- one test per case


def _target(case: dict) -> str:
    target = str(case.get("target", "jisx0208"))
    if target.endswith((".yaml", ".yml")):
        # Load the built-in bases first: a profile loaded before its base deadlocks (see
        # test_profile_loaded_first_does_not_deadlock); without this, running one profile case
        # alone (-k profile) would hang instead of testing the case.
        for name in mojinorm.targets():
            mojinorm.get_target(name)
        return str(CASES_DIR / target)
    return target


def _normalize_options(case: dict) -> tuple[dict, str | None]:
    options = dict(case.get("options") or {})
    reading = options.pop("reading", None)
    if "gaiji" in options:
        gaiji = options["gaiji"]
        paths = gaiji if isinstance(gaiji, list) else [gaiji]
        options["gaiji"] = [str(CASES_DIR / p) for p in paths]
    return options, reading


def _check_rules(case: dict, result: mojinorm.Result) -> None:
    expected_rule = case["rule"]
    rules = [c.rule for c in result.changes]
    if expected_rule == "*":
        assert rules, "expected a change, got none"  # which rule is not fixed yet (xfail cases)
    elif expected_rule is None:
        assert rules == [], f"expected no change, got {[str(c) for c in result.changes]}"
    elif isinstance(expected_rule, list):
        assert rules == expected_rule
    else:
        assert rules, "expected a change, got none"
        assert rules[0] == expected_rule, [str(c) for c in result.changes]
    if "steps" in case:
        assert [s.rule for s in result.changes[0].steps] == case["steps"]
    if "alternatives" in case:
        assert list(result.changes[0].alternatives) == case["alternatives"]
    if "review" in case:
        assert result.changes[0].review is case["review"]


def _run_normalize(case: dict) -> None:
    text = case["input"]
    target = _target(case)
    options, reading = _normalize_options(case)
    if "raises" in case:
        exc = _EXCEPTIONS[case["raises"]]
        with pytest.raises(exc) as info:
            explain(text, target, reading=reading, **options)
        with pytest.raises(exc):
            normalize(text, target, reading=reading, **options)
        if "error_index" in case:
            assert info.value.index == case["error_index"]
        return
    result = explain(text, target, reading=reading, **options)
    assert result.text == case["expected"]
    _check_rules(case, result)
    # normalize() and explain() agree
    out = normalize(text, target, reading=reading, **options)
    assert out == result.text
    # the changes explain the output exactly
    assert result.replay(text) == result.text
    # every fallback except keep guarantees the target
    if options.get("fallback", "geta") != "keep":
        assert mojinorm.is_safe(out, target), mojinorm.unsafe_chars(out, target)
    # idempotent
    assert normalize(out, target, reading=reading, **options) == out


def _run_kana(case: dict) -> None:
    hiragana = bool((case.get("options") or {}).get("hiragana", False))
    out = normalize_kana(case["input"], hiragana=hiragana)
    assert out == case["expected"]
    assert normalize_kana(out, hiragana=hiragana) == out  # idempotent


def _run_match(case: dict) -> None:
    a, b = case["input"]
    assert names_match(a, b) is case["expected"]
    assert names_match(b, a) is case["expected"]  # symmetric
    if "keys" in case:
        assert [match_key(a), match_key(b)] == case["keys"]
    m = compare(a, b)
    assert m.matched is case["expected"]
    if "grade" in case:
        assert (m.grade, compare(b, a).grade) == (case["grade"], case["grade"]), m
    if "masked" in case:
        assert m.masked == case["masked"]
    if "steps" in case:
        assert [s.rule for s in m.steps if s.position is not None] == case["steps"], m.steps


def _run_kana_match(case: dict) -> None:
    a, b = case["input"]
    m = compare_kana(a, b)
    assert (m.grade, compare_kana(b, a).grade) == (case["expected"], case["expected"]), m
    if "steps" in case:
        assert [s.rule for s in m.steps] == case["steps"], m.steps


_RUNNERS = {"normalize": _run_normalize, "kana": _run_kana, "match": _run_match,
            "kana-match": _run_kana_match}


@pytest.mark.parametrize("case", list(_params()))
def test_case(case: dict) -> None:
    _RUNNERS[case.get("kind", "normalize")](case)
