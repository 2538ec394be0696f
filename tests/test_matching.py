"""compare / names_match / compare_kana (src/mojinorm/matching.py).

The labelled cases are in tests/cases/matching.yaml and tests/cases/kana-compare.yaml; this file
holds the properties: normalize never produces a name that ``names_match`` rejects, the variant
relation stays tight, grades are symmetric, and the fast path agrees with the full fold.
"""

from __future__ import annotations

import collections
import unicodedata
from functools import cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mojinorm
from mojinorm import _tables
from mojinorm.kana import KATAKANA_VOWELS, SMALL_KATAKANA
from mojinorm.matching import (
    GRADES,
    KANA_GRADES,
    Match,
    _compare,
    _fold_slow,
    compare,
    compare_kana,
    fold_name,
    names_match,
    variant_paths,
)

TARGETS = mojinorm.targets()


# --------------------------------------------------------------------------- the API


def test_grades_in_order():
    assert GRADES == ("identical", "same-characters", "variant", "masked", "different")
    assert KANA_GRADES == ("identical", "same-reading", "loose", "different")


def test_match_fields():
    m = compare("●橋 太郎", "髙橋\u3000太郎")
    assert isinstance(m, Match)
    assert (m.grade, m.masked, m.length, m.matched) == ("masked", 1, 4, True)
    by_position = {s.position: s for s in m.steps if s.position is not None}
    mask = by_position[0]
    assert (mask.a, mask.b, mask.index_a, mask.index_b) == ("●", "髙", 0, 0)
    assert mask.grade == "masked" and mask.rule == "mask" and mask.source
    removed = [s for s in m.steps if s.position is None]
    assert {(s.index_a, s.index_b, s.rule) for s in removed} == {
        (2, None, "space-removed"), (None, 2, "space-removed")}


def test_steps_name_rule_and_source_of_each_position():
    m = compare("髙橋 渡邉", "高橋 渡邊")
    assert m.grade == "variant"
    steps = {s.position: s for s in m.steps if s.position is not None}
    assert steps[0].rule == "jis-unification" and steps[0].grade == "same-characters"
    assert "JIS包摂規準" in steps[0].source
    assert steps[3].grade == "variant" and steps[3].rule == "koseki-parent"
    assert (steps[3].a, steps[3].b, steps[3].index_a, steps[3].index_b) == ("邉", "邊", 4, 4)
    assert "戸籍統一文字情報" in steps[3].source
    assert all(link.source for s in m.steps for link in s.links)


def test_step_positions_map_back_to_the_original_text():
    a, b = "ﾀﾞｲ\u200bｽｹ", "ダイスケ"
    m = compare(a, b)
    assert m.grade == "same-characters"
    # A voiced kana is its base and mark: ﾀ+ﾞ and ダ are two positions each, both from ダ.
    first, second = (next(s for s in m.steps if s.position == i) for i in (0, 1))
    assert (first.a, first.b, second.a, second.b) == ("ﾀ", "ダ", "ﾞ", "ダ")
    assert [link.rule for link in first.links] == ["width", "voiced-mark"]
    assert [link.rule for link in second.links] == ["width"]
    assert any(s.rule == "invisible-removed" and s.a == "\u200b" and s.index_a == 3
               for s in m.steps)


def test_identical_needs_equal_strings_without_masks():
    assert compare("山田 太郎", "山田 太郎").grade == "identical"
    assert compare("", "").grade == "identical"
    assert compare("●田 太郎", "●田 太郎").grade == "same-characters"  # the same text, not a char
    assert compare("山田 太郎", "山田太郎").grade == "same-characters"


def test_masks_over_half_are_different():
    assert compare("〓〓", "田中").grade == "different"
    assert not names_match("〓〓", "田中")
    assert compare("●", "田").grade == "different"
    assert compare("●中", "田中").grade == "masked"  # exactly half
    assert compare("●●一", "田中一").grade == "different"
    assert compare("●●一郎", "田中一郎").grade == "masked"
    assert "more than half" in compare("●●●", "髙橋太").reason


def test_different_says_why():
    m = compare("高橋", "髙田")
    assert m.grade == "different" and "1" in m.reason
    assert [s.grade for s in m.steps if s.position == 1] == ["different"]
    assert "after folding" in compare("山田", "山田太").reason


def test_ambiguous_bare_code_point_is_a_variant_through_its_sibling_glyph():
    # 增 U+589E is its own glyph MJ009289; MJ009290 shares the code point only through an IVS
    # and is 増 by JIS包摂規準.  The IVS names that glyph, the bare code point does not.
    assert compare("增", "増").grade == "variant"
    assert compare("增\U000e0102", "増").grade == "same-characters"


def test_dictionary_rows_never_count():
    # Pairs linked only by 辞書類等による関連字 rows: no other edge links them within the hops.
    seen = 0
    for mj, rows in list(_tables.shrink_map().items())[:4000]:
        for e in rows:
            if e.rule != "dictionary-related":
                continue
            rec = _tables.mj_records()[mj]
            if not rec.ucs or len(rec.ucs) != 1 or e.target == rec.ucs:
                continue
            f = variant_paths((rec.ucs,))
            g = variant_paths((e.target,))
            if not set(f) & set(g):
                seen += 1
                assert compare(rec.ucs, e.target).grade == "different", (rec.ucs, e.target)
    assert seen > 50


def test_names_match_agrees_with_compare_on_examples():
    for a, b in [("髙橋", "高橋"), ("〓〓", "田中"), ("渡邉", "渡邊"), ("高橋", "髙田"),
                 ("さくら", "サクラ"), ("●橋", "髙橋"), ("", "")]:
        assert names_match(a, b) is compare(a, b).matched


# --------------------------------------------------------------------------- properties

KANA = [chr(c) for c in (*range(0x3041, 0x3097), *range(0x30A1, 0x30FB))] + list("ーゝゞヽヾ")
HALF_WIDTH = [chr(c) for c in range(0xFF61, 0xFFA0)]
MARKS = ["\u3099", "\u309a", "\u309b", "\u309c", "\u0301"]
SYMBOLS = ["●", "〓", "～", "〜", "~", "－", "−", "-", "∥", "‖", "¢", "￠", "£", "￡", "¬", "￢",
           "\\", "＼", "—", "―", "・", "Ａ", "a", "1", "㈱", "ヷ", "か゚"]
SPACES = [" ", "\u3000", "\u00a0", "\u2003"]
INVISIBLES = ["\u200b", "\u200d", "\ufeff", "\u00ad", "\u3164", "\ufe00", "\U000e0100", "\x00",
              "\ue000"]


@cache
def _kanji() -> list[str]:
    """Characters of the MJ tables, their shrink targets, IVS and SVS sequences and the
    compatibility ideographs, in a fixed order (Hypothesis needs a stable list)."""
    chars = set(_tables.mj_by_char())
    chars.update(e.target for rows in _tables.shrink_map().values() for e in rows)
    chars.update(_tables.nta_map())
    chars.update(_tables.same_jisyu())
    return sorted(chars)


@cache
def _sequences() -> list[str]:
    return sorted(_tables.mj_by_ivs())[::7] + sorted(_tables.svs_map())[::3]


def _tokens() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(_kanji()),
        st.sampled_from(_kanji()),
        st.sampled_from(_sequences()),
        st.sampled_from(KANA),
        st.sampled_from(HALF_WIDTH),
        st.sampled_from(MARKS),
        st.sampled_from(SYMBOLS),
        st.sampled_from(SPACES),
        st.sampled_from(INVISIBLES),
        st.sampled_from([chr(c) for c in range(0xF900, 0xFB00)]),
    )


names = st.lists(st.deferred(_tokens), max_size=8).map("".join)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(x=names)
def test_names_match_what_normalize_produced(x):
    """``names_match(x, normalize(x, t))`` whenever normalize used no fallback, in every target."""
    for target in TARGETS:
        result = mojinorm.explain(x, target)
        if result.used_fallback:
            continue
        assert names_match(x, result.text), (target, x, result.text, compare(x, result.text),
                                             [str(c) for c in result.changes])


def _mj_characters() -> list[str]:
    """Every character and Moji_Joho IVS that has an MJ縮退マップ row."""
    records = _tables.mj_records()
    out = set()
    for mj in _tables.shrink_map():
        rec = records.get(mj)
        if rec is not None:
            out.update(u for u in (rec.ucs, rec.ivs) if u)
    return sorted(out)


@pytest.mark.parametrize("target", TARGETS)
def test_names_match_every_mj_character_normalized_alone(target):
    """Exhaustive: each character with an MJ縮退マップ row, normalized alone; where no fallback
    was used (``fallback="error"`` raises exactly then), the two names match."""
    normalizer = mojinorm.Normalizer(target, fallback="error")
    checked = 0
    failures = []
    for ch in _mj_characters():
        if normalizer.is_safe(ch):
            continue  # unchanged: compare(ch, ch) is identical
        try:
            out = normalizer.normalize(ch)
        except mojinorm.UnmappableCharacter:
            continue
        checked += 1
        if not names_match(ch, out):
            failures.append((ch, out))
    assert not failures, failures[:20]
    assert checked > 0 or target == "mj"


def test_variant_relation_is_tight():
    """No character is related to more than a few dozen others (no giant components): the
    largest family is 殺's, with 31 forms."""
    chars = list(_tables.mj_by_char())
    reached: dict[str, set[str]] = collections.defaultdict(set)
    forward = {}
    for c in chars:
        forward[c] = variant_paths((c,))
        for t in forward[c]:
            reached[t].add(c)
    sizes = {c: len(set().union(*(reached[t] for t in forward[c]))) for c in chars}
    largest = max(sizes, key=sizes.__getitem__)
    assert sizes[largest] <= 40, (largest, sizes[largest])
    assert max(len(f) for f in forward.values()) <= 12


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(a=names, b=names)
def test_grades_are_symmetric_and_names_match_agrees(a, b):
    m = compare(a, b)
    assert m.grade in GRADES
    assert compare(b, a).grade == m.grade
    assert names_match(a, b) is m.matched
    assert _compare(a, b, False).grade == m.grade  # the fast path grades like the explained one
    assert compare(a, a).grade in ("identical", "same-characters")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(x=names)
def test_fast_path_agrees_with_the_full_fold(x):
    assert fold_name(x).key == _fold_slow(x).key


@settings(max_examples=200, deadline=None)
@given(x=names)
def test_variant_substitution_of_a_normalized_name(x):
    """A name and the jisx0208 normalization of the same name with its cp932 normalization."""
    a = mojinorm.explain(x, "cp932")
    b = mojinorm.explain(x, "jisx0208")
    if a.used_fallback or b.used_fallback:
        return
    assert names_match(x, a.text) and names_match(x, b.text)


def test_kana_script_is_a_variant_not_the_same_characters():
    m = compare("さくら", "サクラ")
    assert m.grade == "variant"
    assert {s.rule for s in m.steps} == {"kana-script"}


# --------------------------------------------------------------------------- compare_kana


def test_small_katakana_and_vowels_come_from_unicode_names():
    assert SMALL_KATAKANA["ョ"] == "ヨ" and SMALL_KATAKANA["ッ"] == "ツ"
    assert SMALL_KATAKANA["ヶ"] == "ケ" and SMALL_KATAKANA["ㇰ"] == "ク"
    assert all(unicodedata.name(s).replace("SMALL ", "") == unicodedata.name(b)
               for s, b in SMALL_KATAKANA.items())
    assert KATAKANA_VOWELS["カ"] == "a" and KATAKANA_VOWELS["ョ"] == "o"
    assert "ン" not in KATAKANA_VOWELS and "ー" not in KATAKANA_VOWELS


def test_compare_kana_fields():
    m = compare_kana("ｷｮｳｺ", "キヨウコ")
    assert m.grade == "loose" and m.matched
    assert (m.key_a, m.key_b) == ("キョウコ", "キヨウコ")
    (step,) = m.steps
    assert (step.position, step.a, step.b, step.rule) == (1, "ョ", "ヨ", "small-kana")
    assert step.source


readings = st.lists(st.sampled_from(KANA + HALF_WIDTH + [" ", "\u3000", "ー", "-", "・"]),
                    max_size=8).map("".join)


@settings(max_examples=300, deadline=None)
@given(a=readings, b=readings)
def test_compare_kana_symmetric(a, b):
    m = compare_kana(a, b)
    assert m.grade in KANA_GRADES
    assert compare_kana(b, a).grade == m.grade


@settings(max_examples=300, deadline=None)
@given(a=readings)
def test_compare_kana_of_a_normalized_reading_is_at_least_same_reading(a):
    assert compare_kana(a, mojinorm.normalize_kana(a)).grade in ("identical", "same-reading")
    assert compare_kana(a, mojinorm.normalize_kana(a, hiragana=True)).grade in (
        "identical", "same-reading")
