"""Normalizer API and invariants (engine issue); property tests over arbitrary Unicode."""

from __future__ import annotations

import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mojinorm
from mojinorm import Normalizer, UnmappableCharacter
from mojinorm.invisible import classify
from mojinorm.units import iter_units

TARGETS = ["jisx0208", "cp932", "jisx0213", "mj"]
FALLBACKS = ["geta", "black-circle", "kana", "＊"]
GAIJI = "data/mappings/gaiji-example.yaml"

# Text that exercises every stage: astral kanji, PUA, lone and attached selectors, surrogates,
# controls, combining marks, compatibility ideographs, invisible characters.
_interesting = st.sampled_from(
    list("髙﨑德栁濵𠮷齋邊邉眞塚\ufa10\ufa11\u585a葛辻﨔槑")
    + ["\ue000", "\ue001", "\ue0ff", "\U000f0000", "\U00100001", "\ufe00", "\ufe0f",
       "\U000e0100", "\U000e0102", "\U000e01ef", "\ud800", "\udfff", "\x00", "\t", "\n",
       "\u200b", "\u200d", "\u202e", "\ufeff", "\u00a0", "\u3000", " ", "\u3099", "\u309a",
       "\u0301", "か", "ｶ", "ﾞ", "●", "〓"]
)
names = st.lists(st.one_of(_interesting, st.characters()), max_size=12).map("".join)
PROP = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _inside(text: str, target: str) -> bool:
    t = mojinorm.get_target(target)
    return all(u in t and classify(u[0]) is None for _, u in iter_units(text, t.sequences))


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("fallback", FALLBACKS)
@PROP
@given(text=names)
def test_output_inside_target_idempotent_and_replayable(target, fallback, text):
    n = mojinorm.get_normalizer(target, fallback=fallback, gaiji=GAIJI)
    result = n.explain(text, reading="ヤマダ")
    assert result.text == n.normalize(text, reading="ヤマダ")  # explain and normalize agree
    assert _inside(result.text, target)
    assert n.normalize(result.text) == result.text  # idempotent
    if fallback != "kana":
        assert result.replay(text) == result.text
    assert n.explain(text, reading="ヤマダ") == result  # deterministic


# joiners normalize_many may pick, so that a text holding one is also tried
_many_texts = st.lists(st.one_of(names, st.sampled_from(["\u00b6", "a\u2021b", "\u266a", "\n"])),
                       max_size=8)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("fallback", ["geta", "keep", "kana"])
@PROP
@given(texts=_many_texts, with_readings=st.booleans())
def test_normalize_many_equals_one_by_one(target, fallback, texts, with_readings):
    """The batch path (one guard search over the joined texts, one substitution over the
    unsafe ones) is an accelerator of normalize: the same answer for every list."""
    n = mojinorm.get_normalizer(target, fallback=fallback, gaiji=GAIJI)
    readings = ["ヤマダ" if i % 2 else None for i in range(len(texts))] if with_readings \
        else None
    want = [n.normalize(t, reading=None if readings is None else readings[i])
            for i, t in enumerate(texts)]
    assert n.normalize_many(texts, readings=readings) == want


def _answer(call, *args):
    try:
        return call(*args)
    except UnmappableCharacter as exc:
        return ("raises", exc.char, exc.index)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("fallback", ["geta", "keep", "kana", "error"])
@pytest.mark.parametrize("gaiji", [GAIJI, None])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts=_many_texts)
def test_the_compiled_guard_agrees_with_the_python_path_and_explain(target, fallback, gaiji,
                                                                    texts):
    """``Normalizer.normalize`` is the compiled guard where ``mojinorm._speedups`` is built
    (names whose every code point renders returned as they are, the others substituted unit
    by unit from ``_decide_unit``, a private-use code the fallback's without asking when no
    gaiji table is given): the same answers as the Python path and as ``explain``, the first
    time a unit is met and every time after."""
    n = Normalizer(target, fallback=fallback, gaiji=gaiji)
    for _ in range(2):  # cold, then every unit known
        for text in texts:
            got = _answer(n.normalize, text)
            assert got == _answer(n._normalize_python, text)
            assert got == _answer(lambda t: n.explain(t).text, text)
        assert _answer(n.normalize_many, texts) == _answer(n._normalize_list_python, texts)


def test_the_compiled_guard_takes_the_arguments_normalize_takes():
    n = Normalizer("jisx0208", fallback="kana")
    # an unmapped private-use code: fallback kana, the text decides (the Python path)
    assert n.normalize("\ue000田", reading="ヨシダ") == "ヨシダ"
    assert n.normalize("髙橋", reading=None) == n.normalize(text="髙橋") == "高橋"
    assert n.normalize("田中") == "田中"
    with pytest.raises(TypeError):
        n.normalize(3)
    with pytest.raises(TypeError):
        n.normalize("a", "b")  # reading is keyword-only
    with pytest.raises(TypeError):
        n.normalize("a", spelling="b")
    assert n.normalize_many(("髙橋", "田中")) == ["高橋", "田中"]  # any iterable


def test_the_compiled_guard_returns_the_same_object_for_a_name_that_renders():
    n = Normalizer("jisx0208")
    name = "".join(["田中", " ", "太郎"])
    assert n.normalize(name) is name
    assert n.normalize_many([name])[0] is name


class _Refusing(Normalizer):
    def _decide_unit(self, unit):  # type: ignore[override]
        return 1 if unit == "髙" else super()._decide_unit(unit)


def test_a_bad_unit_decision_is_an_error_not_a_wrong_name():
    n = _Refusing("jisx0208")
    assert n.normalize("﨑") == "崎"
    with pytest.raises(TypeError):
        n.normalize("髙橋")

def test_normalize_many_with_a_text_opening_with_a_selector():
    # U+FE00 opening a text is a unit of its own; joined after another text it must not
    # attach to the joiner
    n = mojinorm.get_normalizer("jisx0208")
    texts = ["髙橋", "\ufe00山", "\u3099田", "山田"]
    assert n.normalize_many(texts) == [n.normalize(t) for t in texts]
    with pytest.raises(mojinorm.OptionError):
        n.normalize_many(["a"], readings=[])


@pytest.mark.parametrize("target", TARGETS)
@PROP
@given(text=names)
def test_units_inside_target_are_never_changed(target, text):
    n = mojinorm.get_normalizer(target)
    t = n.target
    result = n.explain(text)
    for change in result.changes:
        unit = change.original
        # Only units outside the target, or invisible ones (documented policy), change.
        assert unit not in t or classify(unit[0]) is not None, change


@PROP
@given(text=names)
def test_keep_fallback_never_raises_and_error_raises_only_unmappable(text):
    mojinorm.normalize(text, fallback="keep")
    try:
        out = mojinorm.normalize(text, fallback="error")
    except UnmappableCharacter as exc:
        assert text[exc.index:].startswith(exc.char)
    else:
        assert _inside(out, "jisx0208")


@pytest.mark.parametrize(
    "name", ["齋藤 太郎", "渡邉", "邊見", "眞鍋", "濱田", "高橋　花子", "ヤマダ タロウ", ""])
def test_minimal_change_keeps_names_already_inside(name):
    # Every character here is in JIS X 0208 (DOMAIN: 邊 邉 齋 濱 眞 are in it).
    result = mojinorm.explain(name)
    assert result.text == name and result.changes == ()


def test_change_fields():
    change = mojinorm.explain("髙橋").changes[0]
    assert (change.index, change.original, change.replacement) == (0, "髙", "高")
    assert change.rule == "jis-unification"
    assert "JIS包摂規準" in change.source
    assert change.mj == "MJ028902"
    assert str(change) == "髙→高 jis-unification"


def test_alternatives_are_other_allowed_replacements_best_first():
    # 濵: reviewed override 濱 first; the 戸籍 parent 浜 remains an alternative.
    change = mojinorm.explain("濵").changes[0]
    assert (change.replacement, change.rule, change.alternatives) == ("濱", "override", ("浜",))


def test_gaiji_chain_is_explained_step_by_step():
    result = mojinorm.explain("\ue000田", gaiji=GAIJI)
    assert result.text == "吉田"
    (change,) = result.changes
    assert [s.rule for s in change.steps] == ["gaiji-table", "jis-unification"]
    assert change.steps[0].source.endswith("gaiji-example.yaml:13")  # the "- code: U+E000" line
    assert mojinorm.normalize("\ue000田", target="mj", gaiji=GAIJI) == "𠮷田"


def test_a_gaiji_char_written_as_an_escape_is_one_character(tmp_path):
    """YAML double-quoted escapes are the character: ``char: "\\u3000"`` is U+3000 (the
    ideographic space, inside JIS X 0208), not the six characters of the escape."""
    table = tmp_path / "g.yaml"
    table.write_text('gaiji:\n  - code: U+E000\n    char: "\\u3000"\n', encoding="utf-8")
    assert mojinorm.normalize("山\ue000田", gaiji=str(table)) == "山\u3000田"
    change = mojinorm.explain("\ue000", gaiji=str(table)).changes[0]
    assert change.replacement == "\u3000" and change.steps[0].rule == "gaiji-table"


def test_unmapped_gaiji_is_reported_not_passed_through():
    for fallback, expected in [("geta", "〓田"), ("black-circle", "●田"), ("keep", "\ue005田")]:
        result = mojinorm.explain("\ue005田", fallback=fallback)
        assert result.text == expected
        assert result.changes[0].rule == "unmapped-gaiji" and result.changes[0].fallback


def test_error_fallback_names_character_and_position():
    with pytest.raises(UnmappableCharacter, match=r"U\+E005.*index 1") as info:
        mojinorm.normalize("山\ue005", fallback="error")
    assert (info.value.char, info.value.index) == ("\ue005", 1)


def test_kana_fallback_replaces_whole_name_with_reading():
    result = mojinorm.explain("\ue005田 太郎", fallback="kana", reading="ﾖｼﾀﾞ ﾀﾛｳ")
    assert result.text == "ヨシダ　タロウ"
    assert [c.rule for c in result.changes] == ["fallback-kana"]
    # A name that maps without the fallback keeps its kanji.
    assert mojinorm.normalize("髙橋", fallback="kana", reading="ﾀｶﾊｼ") == "高橋"
    # No reading given: the unit gets 〓 and the change says the fallback was used.
    assert mojinorm.normalize("\ue005", fallback="kana") == "〓"


def test_bad_options_are_clear_errors():
    with pytest.raises(ValueError, match="unknown fallback"):
        Normalizer(fallback="nothing")
    with pytest.raises(ValueError, match="not inside target"):
        Normalizer("jisx0208", fallback="髙")
    with pytest.raises(ValueError, match="unknown rule"):
        Normalizer(rules=["nonsense"])
    with pytest.raises(ValueError, match="valid targets"):
        Normalizer("latin1")


def test_rules_selection_changes_the_outcome():
    # 﨔 has no MJ縮退マップ row reaching JIS X 0208; only the NTA map does (﨔 -> 欅).
    assert mojinorm.normalize("﨔") == "欅"
    assert mojinorm.normalize("﨔", rules=["jis-unification", "koseki-parent"]) == "〓"


def test_module_level_calls_reuse_one_normalizer():
    a = mojinorm.get_normalizer("cp932", fallback="geta")
    b = mojinorm.get_normalizer("cp932", fallback="geta")
    assert a is b


def test_shared_between_threads():
    n = Normalizer("jisx0208")
    names = ["髙橋", "山﨑", "𠮷田", "德川", "栁田", "齋藤"] * 200
    expected = [n.normalize(x) for x in names]
    results: list[list[str]] = []

    def work() -> None:
        results.append([n.normalize(x) for x in names])

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r == expected for r in results)


@settings(max_examples=200, deadline=None)
@given(a=names, b=names)
def test_names_match_symmetric_and_match_key_idempotent(a, b):
    assert mojinorm.names_match(a, b) == mojinorm.names_match(b, a)
    assert mojinorm.match_key(mojinorm.match_key(a)) == mojinorm.match_key(a)


def test_match_key_folds_invisible_characters():
    assert mojinorm.match_key("高\u200b橋\u202e") == mojinorm.match_key("高橋")
    assert mojinorm.names_match("髙橋 太郎", "高橋　太郎")
    assert mojinorm.names_match("●橋 太郎", "髙橋 太郎")
    assert not mojinorm.names_match("高橋", "髙田")


@pytest.mark.parametrize(
    ("target", "text"),
    [
        # A selector after JIS X 0213's か + U+309A is a unit of its own, not part of ゚.
        ("jisx0213", "カ\u309a\U000e0102"),
        # SVS after a base that renders: the compatibility ideograph it stands for (CP932 has it).
        ("cp932", "塚\ufe00"),
        ("jisx0208", "葛\U000e0102\ufe00髙\ufe00\ufe01"),
        ("mj", "葛\U000e0102\U000e0102"),
    ],
)
def test_fast_substitution_cuts_units_like_explain(target, text):
    n = Normalizer(target, fallback="keep")
    assert n.normalize(text) == n.explain(text).text


def test_every_rule_a_change_can_carry_is_documented():
    # Each rule name that explain() can put in a Change is listed with a description or a rank.
    from mojinorm.rules import RANKING, STEP_RULES

    seen = set()
    for target in TARGETS:
        for text in ["髙", "﨑", "﨔", "濵", "\ue000", "\ue009", "\u200b", "\u00a0", "塚\ufe00",
                     "葛\U000e0100", "\ufa10", "タ\u3099", "\uff5e", "㐁", "\u3000"]:
            for change in mojinorm.explain(text, target, gaiji=GAIJI).changes:
                seen.update(s.rule for s in change.steps)
    assert seen <= set(RANKING) | set(STEP_RULES), seen - set(RANKING) - set(STEP_RULES)


# --------------------------------------------------------------------------- evidence and review

_FALLBACKS_NOT_KEEP = ["geta", "black-circle", "error", "kana", "＊"]


@pytest.mark.parametrize("target", TARGETS)
@PROP
@given(text=names, fallback=st.sampled_from(_FALLBACKS_NOT_KEEP))
def test_is_safe_agrees_with_normalize(target, text, fallback):
    # is_safe(x) <=> normalize(x) == x, for every fallback but keep (which may keep a unit).
    n = mojinorm.get_normalizer(target, fallback=fallback, gaiji=GAIJI)
    try:
        unchanged = n.normalize(text, reading="ヤマダ") == text
    except UnmappableCharacter:
        unchanged = False
    assert mojinorm.is_safe(text, target) is unchanged
    assert n.is_safe(text) is unchanged  # the compiled guard where it is built
    assert n._is_safe_python(text) is unchanged  # the Python path
    assert (mojinorm.unsafe_chars(text, target) == []) is unchanged


@pytest.mark.parametrize("target", TARGETS)
@PROP
@given(text=names)
def test_every_fallback_and_ambiguity_is_marked_for_review(target, text):
    for change in mojinorm.explain(text, target, gaiji=GAIJI).changes:
        if change.fallback or change.rule == "ambiguous":
            assert change.review, change


@pytest.mark.parametrize(
    ("text", "category"),
    [("\t", "invisible"), ("\u200b", "invisible"), ("\u00a0", "space"), ("\ue000", "private-use"),
     ("髙", "outside"), ("\x7f", "invisible")],
)
def test_unsafe_chars_names_the_category(text, category):
    # Control, zero-width, odd spaces and private use are changed by normalize, so they are unsafe
    # even where the codec encodes them (Shift_JIS encodes TAB and DEL).
    [unit] = mojinorm.unsafe_chars("山" + text)
    assert unit == (1, text) and unit.category == category


@pytest.mark.parametrize("target", TARGETS)
def test_is_safe_stops_at_the_first_unsafe_unit(target):
    # A 10 MB text with an unsafe unit at the start is answered without walking the rest.
    import time

    text = "髙\t" + "山" * 10_000_000
    start = time.perf_counter()
    assert not mojinorm.is_safe(text, target)
    assert time.perf_counter() - start < 5  # generous: this is not a timing test, a hang guard


def test_ambiguity_option_is_validated_and_changes_only_ties():
    with pytest.raises(mojinorm.OptionError, match="unknown ambiguity"):
        Normalizer(ambiguity="random")
    # Same answers for every unit that is not an ambiguous tie.
    for text in ["髙橋", "壳", "实", "兀\U000e0103", "\ue000", "﨔"]:
        assert mojinorm.normalize(text, ambiguity="first") == mojinorm.normalize(text)
    assert mojinorm.normalize("\U0002d91f") == "〓"
    assert mojinorm.normalize("\U0002d91f", ambiguity="first") == "斥"


def test_fallback_character_only_needed_when_written():
    # keep and error never write the fallback character: a profile without 〓 accepts them.
    import pathlib
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        profile = pathlib.Path(tmp, "no-geta.yaml")
        profile.write_text("name: no-geta\nbase: jisx0208\nremove: ['〓']\n", encoding="utf-8")
        assert Normalizer(str(profile), fallback="keep").normalize("髙") == "高"
        assert Normalizer(str(profile), fallback="error").normalize("髙") == "高"
        with pytest.raises(mojinorm.OptionError, match="not inside target"):
            Normalizer(str(profile), fallback="geta")


@pytest.mark.parametrize("target", ["jisx0208", "cp932"])
@pytest.mark.parametrize("fallback", ["geta", "keep", "kana", "black-circle"])
def test_units_decided_from_the_compiled_table_are_the_live_decisions(target, fallback):
    """After a few units a normalizer reads its target's compiled decisions (where the
    compiled guard is built, the guard reads them itself): every answer equals what the
    pipeline works out, which ``explain`` always runs."""
    from mojinorm import _tables

    n = Normalizer(target, fallback=fallback)
    live = Normalizer(target, fallback=fallback)
    rows = _tables.resolved(target)
    units = list(rows)[::23]
    fallback_rows = [u for u in list(rows)[::5] if "F" in rows[u].split("\t")[2]][:200]
    assert fallback_rows  # the table has rows the fallback decides
    for unit in [*units[:16], *units, *fallback_rows]:
        name = f"田{unit}子"
        assert n.normalize(name, reading="タコ") == live.explain(name, reading="タコ").text
    assert n._live <= 16  # the rest came from the table
    assert n.normalize_many(units) == [live.explain(u).text for u in units]


@pytest.mark.parametrize("target", ["jisx0208", "cp932", "jisx0213", "mj"])
def test_a_units_compiled_row_read_through_the_guard_is_the_tables(target: str) -> None:
    """``compiled_row`` reads a unit's line through the compiled guard's hash index once the
    guard reads the table, else by bisection (``_tables.Resolved.get``): both give every
    row of the table, and nothing for a unit that only begins a longer one, a lone
    surrogate, the empty string or a code point past the last line."""
    from mojinorm import _compiled, _tables

    if not _compiled.SPEEDUPS:
        pytest.skip("the compiled guard is not built")
    table = _tables.resolved(target)
    n = Normalizer(target, fallback="geta")
    n._read_compiled_decisions()
    assert n._guard_reads_compiled
    units = list(table)
    starts = sorted({u[0] for u in units if len(u) > 1} - set(units))[:200]
    for unit in [*units, *starts, "\ud800", "a\ud800", "", "\U0010ffff", "\x00"]:
        assert n._compiled_line(unit) == table.get(unit), unit
    bisected = Normalizer(target, fallback="geta")
    bisected._live = 10**9  # the table from the first unit on, by bisection
    assert not bisected._guard_reads_compiled
    for unit in units[::7]:
        assert n.compiled_row(unit) == bisected.compiled_row(unit), unit


def test_the_compiled_guard_finds_the_first_and_last_rows_and_nothing_else() -> None:
    """The compiled guard bisects the compiled decisions' bytes: the table's first and last
    rows are found, and a unit that only begins a longer unit (葛 of 葛+U+E0102 in no table
    of its own), sorts before the first or after the last line is decided by the pipeline,
    as ``explain`` decides it."""
    from mojinorm import _tables

    rows = _tables.resolved("jisx0208")
    units = list(rows)
    edges = [*units[:40], *units[-40:]]
    n = Normalizer("jisx0208", fallback="geta")
    n._live = 10**9  # the table from the first unit on (the guard reads it from its next)
    live = Normalizer("jisx0208", fallback="geta")
    starts = sorted({u[0] for u in units if len(u) > 1} - set(units))[:20]
    others = ["\u0080", "\U0010fffd", *starts]
    for unit in [*edges, *others, *edges]:
        assert n.normalize(f"田{unit}") == live.explain(f"田{unit}").text, unit
    from mojinorm import _compiled

    if not _compiled.SPEEDUPS:
        return
    assert n._guard_reads_compiled
    # Every row of the table is the guard's own answer: none goes to Python, neither the
    # edges nor a unit with a selector whose base has a row of its own (the base's key is a
    # prefix of the unit's).  A fresh normalizer: the first's dict of units would answer.
    fresh = Normalizer("jisx0208", fallback="geta")
    fresh._live = 10**9
    first = units[len(units) // 2]
    fresh.normalize(f"田{first}")  # the guard reads the table from now on
    assert fresh._guard_reads_compiled
    asked: list[str] = []
    decide = fresh._decide_unit

    def counting(unit: str) -> str | None:
        asked.append(unit)
        return decide(unit)

    fresh._decide_unit = counting  # type: ignore[method-assign]
    with_base = [u for u in units if len(u) > 1 and u[0] in rows][:40]
    assert with_base
    sample = [u for u in [*edges, *with_base, *units[::97]] if u != first]
    assert fresh.normalize_many([f"田{u}" for u in sample]) == [
        live.explain(f"田{u}").text for u in sample]
    assert asked == []
