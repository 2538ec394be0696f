"""Tests for mojinorm.kana.normalize_kana (reading / フリガナ normalization)."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mojinorm import kana as kana_module
from mojinorm.kana import normalize_kana

IDSP = "\u3000"  # ideographic space, the family/given separator

# (input, expected, hiragana) -- every case says why the expected answer is right.
CASES = [
    # --- rule 1: half-width katakana -> full-width -------------------------------------
    # Plain JIS X 0201 kana map one-to-one onto their full-width forms.
    pytest.param("ﾔﾏﾀﾞ", "ヤマダ", False, id="hw-basic"),
    # JIS X 0201 ｶ + dakuten ﾞ composes to ガ (U+30AC), not ガ + ゛.
    pytest.param("ｶﾞ", "\u30ac", False, id="hw-ka-dakuten"),
    # ﾊ + handakuten ﾟ composes to パ (U+30D1).
    pytest.param("ﾊﾟ", "\u30d1", False, id="hw-ha-handakuten"),
    # ｳ + ﾞ composes to ヴ (U+30F4), the precomposed katakana vu.
    pytest.param("ｳﾞ", "\u30f4", False, id="hw-vu"),
    # ﾜ + ﾞ: NFC has no composition, but ヷ U+30F7 exists and is chosen.
    pytest.param("ﾜﾞ", "\u30f7", False, id="hw-va"),
    # ｦ + ﾞ likewise gives ヺ U+30FA.
    pytest.param("ｦﾞ", "\u30fa", False, id="hw-vo"),
    # A leading ﾞ has nothing to compose with: it becomes the full-width ゛ U+309B.
    pytest.param("ﾞｱ", "\u309bア", False, id="hw-lone-dakuten-start"),
    # ｱ takes no voiced mark, so ﾞ stays a separate (full-width) ゛.
    pytest.param("ｱﾞ", "ア\u309b", False, id="hw-dakuten-on-vowel"),
    # ｶ takes ﾞ but not ﾟ: the semi-voiced mark stays as ゜ U+309C.
    pytest.param("ｶﾟ", "カ\u309c", False, id="hw-handakuten-on-ka"),
    # A lone ﾟ with no kana before it becomes ゜ U+309C.
    pytest.param("ﾟ", "\u309c", False, id="hw-lone-handakuten"),
    # Small kana stay small: ｧ->ァ, ｯ->ッ, ｬ->ャ.
    pytest.param("ｧｯｬｭｮ", "ァッャュョ", False, id="hw-small-kana"),
    # ｰ U+FF70 is the half-width prolonged sound mark; its full-width form is ー U+30FC.
    pytest.param("ｺｰﾋｰ", "コーヒー", False, id="hw-choon"),
    # ｰ is a half-width kana character, so it is widened even with nothing before it.
    pytest.param("ｰｱ", "ーア", False, id="hw-choon-leading"),
    # Half-width punctuation of the JIS X 0201 block: ｡､｢｣･ -> 。、「」・.
    pytest.param("｡､｢｣･", "。、「」・", False, id="hw-punctuation"),
    # A typical half-width member-file reading; the ASCII space becomes one U+3000.
    pytest.param("ﾔﾏﾀﾞ ﾀﾛｳ", "ヤマダ" + IDSP + "タロウ", False, id="hw-full-name"),
    # Several dakuten/handakuten in one name all compose.
    pytest.param("ｼﾞｪｰﾑｽﾞ ﾎﾟｰﾙ", "ジェームズ" + IDSP + "ポール", False, id="hw-many-marks"),
    # --- rule 2: combining / standalone voiced marks --------------------------------------
    # カ + combining U+3099 is canonically ガ (NFC of the pair).
    pytest.param("カ\u3099", "\u30ac", False, id="combining-ka"),
    # Hiragana は + combining U+309A is ぱ; default mode then turns it into パ.
    pytest.param("は\u309a", "\u30d1", False, id="combining-hira-default"),
    # Same pair with hiragana=True stays hiragana: ぱ U+3071.
    pytest.param("は\u309a", "\u3071", True, id="combining-hira-hiramode"),
    # Standalone full-width ゛ U+309B after カ is composed too (legacy typing habit).
    pytest.param("カ\u309b", "\u30ac", False, id="standalone-dakuten"),
    # Standalone ゜ U+309C after ホ gives ポ.
    pytest.param("ホ\u309c", "\u30dd", False, id="standalone-handakuten"),
    # ヽ + ゛ composes canonically to the voiced iteration mark ヾ U+30FE.
    pytest.param("ヽ\u309b", "\u30fe", False, id="iteration-mark-voiced"),
    # ア + combining U+3099 cannot compose; the mark becomes the CP932-safe ゛ U+309B.
    pytest.param("ア\u3099", "ア\u309b", False, id="combining-uncomposable"),
    # Only the first of two marks composes; ガ takes no further mark, so ゛ stays.
    pytest.param("カ\u309b\u309b", "\u30ac\u309b", False, id="double-dakuten"),
    # The whole string is not NFC-normalized: compatibility ideograph U+FA10 survives.
    pytest.param("\ufa10" + IDSP + "ﾀﾛｳ", "\ufa10" + IDSP + "タロウ", False, id="compat-ideograph"),
    # --- rule 3: one script -------------------------------------------------------------
    # Default mode converts hiragana to katakana.
    pytest.param("すずき　はなこ", "スズキ" + IDSP + "ハナコ", False, id="hira-to-kata"),
    # ゔ U+3094 maps to ヴ U+30F4.
    pytest.param("\u3094", "\u30f4", False, id="hira-vu-to-kata"),
    # Small ゕゖ map to ヵヶ in default mode (they are in the ぁ-ゖ range).
    pytest.param("\u3095\u3096", "\u30f5\u30f6", False, id="hira-small-ka-ke"),
    # hiragana=True converts half-width katakana straight to hiragana, composing marks.
    pytest.param("ｽｽﾞｷ ﾊﾅｺ", "すずき" + IDSP + "はなこ", True, id="hw-to-hira"),
    # ヴ stays katakana in hiragana mode: ゔ U+3094 is not in JIS X 0208 / CP932.
    pytest.param("ｳﾞｧ", "\u30f4ぁ", True, id="vu-stays-kata-in-hira"),
    # An input ゔ becomes ヴ in hiragana mode for the same reason.
    pytest.param("\u3094", "\u30f4", True, id="hira-vu-to-kata-in-hira"),
    # ヷ has no hiragana code point: it stays katakana in hiragana mode.
    pytest.param("ﾜﾞ", "\u30f7", True, id="va-stays-kata-in-hira"),
    # ヵヶ stay katakana in hiragana mode (ゕゖ are not in JIS X 0208 / CP932).
    pytest.param("\u30f5\u30f6", "\u30f5\u30f6", True, id="small-ka-ke-stay-kata"),
    # ー stays ー in hiragana mode.
    pytest.param("ｶｰﾄﾞ", "かーど", True, id="choon-in-hira"),
    # --- rule 4: long-vowel look-alikes -------------------------------------------------
    # ASCII hyphen-minus after a kana is a mistyped ー.
    pytest.param("ラ-メン", "ラーメン", False, id="dash-hyphen-after-kana"),
    # A run of look-alikes after kana becomes a run of ー (idempotent, not just the first).
    pytest.param("ア--", "アーー", False, id="dash-run"),
    # U+2010 HYPHEN, U+2015 HORIZONTAL BAR, U+2212 MINUS, U+FF0D, U+2500 all fold after kana.
    pytest.param(
        "ア\u2010イ\u2015ウ\u2212エ\uff0dオ\u2500",
        "アーイーウーエーオー",
        False,
        id="dash-variants",
    ),
    # U+2011-U+2014, U+FE63 and U+2501 are in the list too.
    pytest.param(
        "カ\u2011キ\u2012ク\u2013ケ\u2014コ\ufe63サ\u2501",
        "カーキークーケーコーサー",
        False,
        id="dash-variants-2",
    ),
    # A dash at the start of the text is kept as is.
    pytest.param("-アイ", "-アイ", False, id="dash-leading-kept"),
    # A dash after a Latin letter or digit is not a long vowel.
    pytest.param("A-1", "A-1", False, id="dash-after-ascii-kept"),
    # A dash after a kanji is kept.
    pytest.param("山-ア", "山-ア", False, id="dash-after-kanji-kept"),
    # After a space the dash is not attached to a kana: kept (space still collapses).
    pytest.param("ア -", "ア" + IDSP + "-", False, id="dash-after-space-kept"),
    # Wave dash U+301C and fullwidth tilde U+FF5E are never folded.
    pytest.param("ア\u301cイ\uff5e", "ア\u301cイ\uff5e", False, id="wave-dash-kept"),
    # A dash after hiragana folds as well (hiragana is kana).
    pytest.param("ら-めん", "らーめん", True, id="dash-after-hiragana"),
    # ｰ after ﾞ-composed kana plus an ASCII dash: both end up ー.
    pytest.param("ﾃﾞ-ﾀｰ", "データー", False, id="dash-after-composed"),
    # --- rule 5: whitespace ---------------------------------------------------------------
    # Leading/trailing whitespace is stripped.
    pytest.param("  ヤマダ  ", "ヤマダ", False, id="space-strip"),
    # A run of mixed whitespace (ASCII, U+3000, tab, NBSP) becomes one U+3000.
    pytest.param(
        "ヤマダ \u3000\t\u00a0タロウ", "ヤマダ" + IDSP + "タロウ", False, id="space-run-collapse"
    ),
    # Other Zs spaces (EN SPACE U+2002, NARROW NBSP U+202F) are whitespace too.
    pytest.param("ア\u2002イ\u202fウ", "ア" + IDSP + "イ" + IDSP + "ウ", False, id="space-zs"),
    # Whitespace only collapses to the empty string.
    pytest.param(" \u3000 ", "", False, id="space-only"),
    # --- everything else unchanged -------------------------------------------------------
    # Empty string stays empty.
    pytest.param("", "", False, id="empty"),
    # Half-width ASCII letters and digits are NOT widened.
    pytest.param("ABC123", "ABC123", False, id="ascii-unchanged"),
    # Already-normal full-width katakana is unchanged.
    pytest.param(
        "ヤマダ" + IDSP + "タロウ", "ヤマダ" + IDSP + "タロウ", False, id="already-normal"
    ),
    # Kanji, astral characters and full-width Latin pass through; ｱ next to them converts.
    pytest.param("𠮷田ｱＡ", "𠮷田アＡ", False, id="astral-kanji"),
    # A lone surrogate must not raise and passes through.
    pytest.param("\ud800ｱ", "\ud800ア", False, id="lone-surrogate"),
    # Katakana middle dot ・ is not a kana for the dash rule, so the dash after it stays.
    pytest.param("ｱ･-", "ア・-", False, id="nakaguro-dash-kept"),
]


@pytest.mark.parametrize(("text", "expected", "hiragana"), CASES)
def test_cases(text: str, expected: str, hiragana: bool) -> None:
    assert normalize_kana(text, hiragana=hiragana) == expected


def test_case_count() -> None:
    assert len(CASES) >= 40


def test_already_normal_returns_same_object() -> None:
    # Documented fast path: nothing to do -> the input object itself comes back.
    text = "ヤマダ" + IDSP + "タロウ"
    assert normalize_kana(text) is text
    hira = "やまだ" + IDSP + "たろう"
    assert normalize_kana(hira, hiragana=True) is hira


def test_half_width_block_fully_converted() -> None:
    # Every code point of U+FF61-U+FF9F, standing alone, maps out of the half-width block
    # and (except the two marks) to its NFKC full-width form.
    for cp in range(0xFF61, 0xFFA0):
        ch = chr(cp)
        out = normalize_kana(ch)
        if cp == 0xFF9E:
            assert out == "\u309b"
        elif cp == 0xFF9F:
            assert out == "\u309c"
        else:
            assert out == unicodedata.normalize("NFKC", ch), hex(cp)


def test_compat_ideographs_untouched() -> None:
    # NFC would map every CJK compatibility ideograph with a singleton decomposition;
    # normalize_kana must not touch any of them, even next to kana that do change.
    for cp in range(0xF900, 0xFB00):
        ch = chr(cp)
        if unicodedata.category(ch) != "Lo":
            continue
        assert normalize_kana(ch + "ｶﾞ") == ch + "ガ"


# --- property tests --------------------------------------------------------------------

_INTERESTING = (
    [chr(cp) for cp in range(0xFF61, 0xFFA0)]  # half-width kana block
    + [chr(cp) for cp in range(0x3041, 0x3100)]  # hiragana + katakana blocks
    + list("\u3099\u309a\u309b\u309c")
    + list("-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\uff0d\ufe63\u2500\u2501\u301c\uff5e")
    + list(" \t\n\u3000\u00a0\u2002\u202f")
    + list("山田𠮷Aa1・\ufa10\ufa11")
)
_kana_text = st.text(
    alphabet=st.one_of(
        st.sampled_from(_INTERESTING),
        st.characters(),
        st.characters(categories=["Cs"]),
    ),
    max_size=24,
)

_KATA_FULL = {cp: chr(cp + 0x60) for cp in range(0x3041, 0x3097)}
_KATA_FULL.update({0x309D: "\u30fd", 0x309E: "\u30fe"})


@settings(max_examples=300)
@given(_kana_text, st.booleans())
def test_idempotent(text: str, hiragana: bool) -> None:
    once = normalize_kana(text, hiragana=hiragana)
    assert normalize_kana(once, hiragana=hiragana) == once


@settings(max_examples=300)
@given(
    st.text(alphabet=st.one_of(st.characters(), st.characters(categories=["Cs"]))), st.booleans()
)
def test_never_raises_and_returns_str(text: str, hiragana: bool) -> None:
    assert isinstance(normalize_kana(text, hiragana=hiragana), str)


@settings(max_examples=300)
@given(_kana_text, st.booleans())
def test_output_shape(text: str, hiragana: bool) -> None:
    out = normalize_kana(text, hiragana=hiragana)
    # No half-width katakana and no combining voiced marks survive.
    assert not any("\uff61" <= ch <= "\uff9f" for ch in out)
    assert "\u3099" not in out and "\u309a" not in out
    # Whitespace: none at the ends, only single U+3000 inside.
    assert out == out.strip()
    assert all(ch == IDSP for ch in out if ch.isspace())
    assert IDSP * 2 not in out


@settings(max_examples=300)
@given(_kana_text)
def test_hiragana_mode_has_no_convertible_katakana(text: str) -> None:
    # Decision: in hiragana mode only ヴ ヵ ヶ (U+30F4-6) and ヷ-ヺ (U+30F7-U+30FA) remain
    # from the ァ-ヺ range; ァ-ン (U+30A1-U+30F3) are all converted, and no ゔ is produced.
    out = normalize_kana(text, hiragana=True)
    assert not any("\u30a1" <= ch <= "\u30f3" or ch == "\u3094" for ch in out)


@settings(max_examples=300)
@given(_kana_text)
def test_default_mode_has_no_hiragana(text: str) -> None:
    # ぁ-ゖ (incl. ゔ) and ゝゞ have katakana forms, so none survive in default mode.
    out = normalize_kana(text)
    assert not any("\u3041" <= ch <= "\u3096" or ch in "\u309d\u309e" for ch in out)


@settings(max_examples=300)
@given(_kana_text)
def test_modes_agree_up_to_script(text: str) -> None:
    # Hiragana-mode output converted back to katakana equals the default output.
    assert normalize_kana(text, hiragana=True).translate(_KATA_FULL) == normalize_kana(text)


@settings(max_examples=300)
@given(_kana_text, st.booleans())
def test_fast_path_agrees_with_full_pipeline(text: str, hiragana: bool) -> None:
    table = kana_module._TABLE_HIRA if hiragana else kana_module._TABLE_KATA
    assert normalize_kana(text, hiragana=hiragana) == kana_module._normalize(text, table)


_CHANGEABLE = "".join(
    [chr(cp) for cp in range(0xFF61, 0xFFA0)]  # half-width kana block
    + [chr(cp) for cp in range(0x3041, 0x3100)]  # hiragana + katakana blocks (incl. marks)
    + list("-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\uff0d\ufe63\u2500\u2501")
)
# Anything but kana, voiced marks, look-alike dashes and whitespace (Zs/Zl/Zp and the
# whitespace controls are all in the excluded categories); 〜 ～ kanji etc. are allowed.
_NON_KANA = st.text(
    alphabet=st.characters(
        exclude_categories=["Zs", "Zl", "Zp", "Cc"], exclude_characters=_CHANGEABLE
    ),
    max_size=20,
)


@settings(max_examples=300)
@given(_NON_KANA, st.booleans())
def test_non_kana_unchanged(text: str, hiragana: bool) -> None:
    # No kana, voiced marks, whitespace or look-alike dashes: nothing may change.
    assert normalize_kana(text, hiragana=hiragana) == text


# --- agreement with jaconv on half-width input ----------------------------------------

_HW_SINGLES = [chr(cp) for cp in range(0xFF61, 0xFF9E)]  # ｡ .. ﾝ (no lone ﾞ/ﾟ)
_HW_PAIRS = [b + "ﾞ" for b in "ｶｷｸｹｺｻｼｽｾｿﾀﾁﾂﾃﾄﾊﾋﾌﾍﾎｳ"] + [b + "ﾟ" for b in "ﾊﾋﾌﾍﾎ"]


def _jaconv_reference(text: str) -> str:
    jaconv = pytest.importorskip("jaconv")
    widened = jaconv.h2z(text, kana=True, ascii=False, digit=False)
    return IDSP.join(widened.split())  # the documented whitespace rule


@pytest.mark.parametrize(
    "text", ["ﾔﾏﾀﾞ ﾀﾛｳ", "ｽｽﾞｷ  ﾊﾅｺ", " ｻﾄｳ ｲﾁﾛｳ ", "ﾎﾟｰﾙ ｼﾞｮｰﾝｽﾞ", "ｳﾞｨｸﾄﾙ", "ｷｬｯﾁ｡ｰ"]
)
def test_matches_jaconv_examples(text: str) -> None:
    assert normalize_kana(text) == _jaconv_reference(text)


@settings(max_examples=300)
@given(st.lists(st.sampled_from([*_HW_SINGLES, *_HW_PAIRS, " ", "  "]), max_size=16))
def test_matches_jaconv_on_half_width(tokens: list[str]) -> None:
    text = "".join(tokens)
    assert normalize_kana(text) == _jaconv_reference(text)


def test_every_space_is_below_the_scan_limit() -> None:
    # kana scans code points up to _SPACE_LIMIT at import for the spaces it folds; a Python
    # (Unicode) version with a space above it must fail here, not miss that space.
    from mojinorm import kana

    spaces = [cp for cp in range(0x110000) if chr(cp).isspace()]
    assert max(spaces) <= kana._SPACE_LIMIT
    assert set(kana._OTHER_SPACES) == {chr(cp) for cp in spaces} - {"\u3000"}
