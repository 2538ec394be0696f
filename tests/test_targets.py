"""Target membership, the public check API and custom profiles (foundation issue)."""

from __future__ import annotations

from pathlib import Path

import pytest

import mojinorm
from mojinorm import _tables
from mojinorm.targets import TargetError, get_target

PUA = [(0xE000, 0xF8FF), (0xF0000, 0x10FFFF)]


def _codec_ok(cp: int, encoding: str) -> bool:
    try:
        chr(cp).encode(encoding)
    except UnicodeEncodeError:
        return False
    return True


@pytest.mark.parametrize(
    ("target", "encoding", "drop_pua"),
    [("jisx0208", "shift_jis", False), ("cp932", "cp932", True),
     ("jisx0213", "shift_jis_2004", False)],
)
def test_membership_equals_codec_for_every_code_point(target, encoding, drop_pua):
    # DOMAIN: membership is defined by the CPython codec (cp932 minus private use).
    chars = get_target(target).chars
    mismatches = []
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            assert chr(cp) not in chars
            continue
        expected = _codec_ok(cp, encoding)
        if drop_pua and any(lo <= cp <= hi for lo, hi in PUA):
            expected = False
        if (chr(cp) in chars) != expected:
            mismatches.append(hex(cp))
    assert mismatches == []


def test_target_sizes_match_domain_measurements():
    # DOMAIN table: 7,072 (shift_jis), 9,408 - 1,884 PUA = 7,524 (cp932), 11,399 (shift_jis_2004).
    assert len(get_target("jisx0208").chars) == 7072
    assert len(get_target("cp932").chars) == 9408 - 1884
    assert len(get_target("jisx0213").chars) == 11399
    # JIS X 0213's two-code-point characters (か゚ ...) are units of the target.
    assert "\u304b\u309a" in get_target("jisx0213")
    assert len(get_target("jisx0213").sequences) == 25


def test_mj_id_count():
    assert len(_tables.mj_records()) == 58862  # MJ文字情報一覧表 006.02


def test_mj_target_contains_every_mj_code_point_and_ivs():
    mj = get_target("mj")
    for rec in _tables.mj_records().values():
        if rec.ucs:
            assert rec.ucs in mj, rec.mj
        if rec.ivs:
            assert rec.ivs in mj, rec.mj
    assert len(_tables.mj_by_ivs()) == 11384  # every registered Moji_Joho IVS
    # The non-kanji repertoire of JIS X 0213 is inside, so whole names and 〓 are.
    for ch in "\u3000 あア々〓ＡA1ー・":
        assert ch in mj, ch


@pytest.mark.parametrize(
    ("char", "inside"),
    [
        ("髙", {"cp932", "mj"}),  # IBM extended kanji: in CP932, not in JIS X 0208/0213
        ("﨑", {"cp932", "jisx0213", "mj"}),  # U+FA11: CP932 and JIS X 0213 1-47-82
        ("𠮷", {"mj"}),  # U+20BB7: only MJ (JIS X 0213 unifies it with 吉)
        # 凜 and 熙: JIS X 0208 84-05/84-06, added in 1990, so not in JIS X 0208-1983
        ("凜", {"jisx0208", "cp932", "jisx0213", "mj"}),
        ("熙", {"jisx0208", "cp932", "jisx0213", "mj"}),
        ("齋", {"jisx0208", "jisx0208-1983", "cp932", "jisx0213", "mj"}),  # JIS X 0208 1-80-58
        ("邊", {"jisx0208", "jisx0208-1983", "cp932", "jisx0213", "mj"}),  # JIS X 0208 1-78-20
        ("邉", {"jisx0208", "jisx0208-1983", "cp932", "jisx0213", "mj"}),  # JIS X 0208 1-78-21
    ],
)
def test_character_facts(char, inside):
    for target in mojinorm.targets():
        assert mojinorm.is_safe(char, target) == (target in inside), target
    assert set(mojinorm.lookup(char).targets) == inside


def test_moji_joho_ivs_is_one_unit():
    # 葛 + U+E0102 is MJ022335's Moji_Joho IVS: one unit, safe only in mj.
    name = "葛\U000E0102城"
    assert mojinorm.is_safe(name, "mj")
    for target in ("jisx0208", "cp932", "jisx0213"):
        assert not mojinorm.is_safe(name, target)
        assert mojinorm.unsafe_chars(name, target) == [(0, "葛\U000E0102")]
    assert mojinorm.lookup("葛\U000E0102").mj == ("MJ022335",)


def test_adobe_japan1_ivs_is_not_mj():
    # 葛 + U+E0100 is registered in the Adobe-Japan1 collection, not Moji_Joho.
    assert mojinorm.unsafe_chars("葛\U000E0100", "mj") == [(0, "葛\U000E0100")]
    assert mojinorm.lookup("葛\U000E0100").mj == ()


def test_unsafe_chars_reports_index_and_unit():
    assert mojinorm.unsafe_chars("髙橋 太郎") == [(0, "髙")]
    assert mojinorm.unsafe_chars("山﨑𠮷") == [(1, "﨑"), (2, "𠮷")]
    assert mojinorm.unsafe_chars("高橋 太郎") == []
    assert mojinorm.unsafe_chars("") == []
    # a lone variation selector is its own unit
    assert mojinorm.unsafe_chars("\ufe00a") == [(0, "\ufe00")]


def test_unknown_target_lists_valid_ones():
    with pytest.raises(ValueError, match="jisx0208, jisx0208-1983, cp932, jisx0213, mj"):
        mojinorm.is_safe("a", "latin1")


def test_custom_profile(tmp_path):
    profile = tmp_path / "server.yaml"
    profile.write_text(
        "name: server-2026\nbase: jisx0208\nadd: [髙, 'U+FA11', 'U+E000..U+E002']\n"
        "remove: ['〓']\n", encoding="utf-8")
    assert mojinorm.is_safe("髙橋", str(profile))
    assert mojinorm.is_safe("山﨑\ue001", str(profile))
    assert not mojinorm.is_safe("〓", str(profile))
    assert not mojinorm.is_safe("德", str(profile))
    target = get_target(str(profile))
    assert target.name == "server-2026" and target.base == "jisx0208"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("base: jisx0208\ncolour: red\n", r"server\.yaml:2: unknown key 'colour'"),
        ("base: latin1\n", r"server\.yaml:1: unknown base 'latin1'"),
        ("name: x\n", "'base' is required"),
        ("base: jisx0208\nadd:\n  - ab\n", r"server\.yaml:3: 'ab' is not one character"),
        ("base: jisx0208\nadd: [': [\n", "not valid YAML"),
    ],
)
def test_bad_profile_names_file_and_line(tmp_path, body, message):
    profile = tmp_path / "server.yaml"
    profile.write_text(body, encoding="utf-8")
    with pytest.raises(TargetError, match=message):
        get_target(str(profile))


@pytest.mark.parametrize(("written", "name"), [
    ("CP932", "cp932"), ("ms932", "cp932"), ("Windows-31J", "cp932"), ("sjis", "jisx0208"),
    ("Shift_JIS", "jisx0208"), ("shift-jis", "jisx0208"), ("JISX0213", "jisx0213"),
    ("Shift_JIS-2004", "jisx0213"), ("MJ", "mj"), ("JIS X 0208-1983", "jisx0208-1983"),
])
def test_target_names_as_people_write_them(written, name):
    # The codec names (Python's, WHATWG's, Microsoft's) of each character set, any case.
    assert mojinorm.get_target(written).name == name
    assert mojinorm.normalize("髙橋", written) == mojinorm.normalize("髙橋", name)


def test_profile_names_its_fallback(tmp_path):
    # README's profile example: a profile may name the fallback the receiving system shows.
    profile = tmp_path / "server.yaml"
    profile.write_text("name: server\nbase: jisx0208\nfallback: black-circle\n",
                       encoding="utf-8")
    assert mojinorm.normalize("彅", str(profile)) == "●"
    assert mojinorm.normalize("彅", str(profile), fallback="geta") == "〓"  # the caller wins
    bad = tmp_path / "bad.yaml"
    bad.write_text("base: jisx0208\nfallback: nonsense\n", encoding="utf-8")
    with pytest.raises(mojinorm.TargetError, match=r"bad.yaml:2: unknown fallback"):
        mojinorm.get_target(str(bad))


def test_lookup_of_several_characters_says_so_in_words():
    with pytest.raises(mojinorm.InputError, match=r"one character at a time; '髙橋' has 2"):
        mojinorm.lookup("髙橋")


def test_readme_profile_example_works_as_written(tmp_path):
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    start = readme.index("```yaml\nname: server-2026")
    example = readme[start + len("```yaml\n"):readme.index("```", start + 7)]
    profile = tmp_path / "server.yaml"
    profile.write_text(example, encoding="utf-8")
    # 髙 and U+E000 are added, 〓 removed; 彅 maps nowhere, so the profile's ● stands in.
    assert mojinorm.normalize("髙橋\ue000彅", str(profile)) == "髙橋\ue000●"


def test_a_full_width_only_profile_folds_width(tmp_path):
    """レセ電 name fields take full-width characters only: a profile that removes ASCII and
    half-width katakana gets the same characters in full width (rule width-folded, lossless),
    not the fallback."""
    profile = tmp_path / "rece.yaml"
    profile.write_text('name: rece-name\nbase: jisx0208\n'
                       'remove: ["U+0020..U+007E", "U+FF61..U+FF9F"]\n', encoding="utf-8")
    # ﾀ→タ, ｶ→カ, ﾊ→ハ, ｼ→シ (NFKC <narrow>); A→Ａ (<wide>); the space → U+3000
    assert mojinorm.normalize("ﾀｶﾊｼ AB", target=str(profile)) == "タカハシ\u3000ＡＢ"
    change = mojinorm.explain("A", target=str(profile)).changes[0]
    assert (change.replacement, change.rule, change.lossless) == ("Ａ", "width-folded", True)
    # the half-width voiced mark becomes the standalone full-width ゛ (JIS X 0208 1-11)
    assert mojinorm.normalize("ﾞ", target=str(profile)) == "゛"


def test_a_half_width_only_profile_folds_the_other_way(tmp_path):
    profile = tmp_path / "narrow.yaml"
    profile.write_text('name: narrow\nbase: jisx0208\nremove: ["U+FF01..U+FF5E"]\n',
                       encoding="utf-8")
    assert mojinorm.normalize("ＡＢ１", target=str(profile)) == "AB1"


def test_width_folding_comes_after_the_same_jis_code():
    # － (U+FF0D) is CP932's form of JIS X 0208 1-29 MINUS SIGN: the same JIS code in the same
    # width (−) is nearer than the ASCII hyphen-minus
    assert mojinorm.explain("－").changes[0].replacement == "−"
    # ＂ (U+FF02) has no JIS X 0208 code: only the width differs from JIS X 0201's "
    assert mojinorm.explain("＂").changes[0].rule == "width-folded"


def test_invisible_among_equals_classify_over_all_of_unicode() -> None:
    # invisible_among skips classify for printable code points it does not name: it must
    # find exactly what classify finds, over every code point (surrogates included).
    from mojinorm.invisible import invisible_among, is_invisible

    everything = [chr(cp) for cp in range(0x110000)]
    assert invisible_among(everything) == {c for c in everything if is_invisible(c)}
