"""User and reviewed YAML tables are validated with file and line (reliability issue)."""

from __future__ import annotations

import pytest

import mojinorm
from mojinorm import TableError, load_gaiji

GAIJI_ERRORS = [
    ("gaiji:\n  - code: U+E000\n    char: 吉\n    colour: red\n",
     r"g\.yaml:4: unknown key 'colour'"),
    ("gaiji:\n  - code: U+E000\n    char: 吉\n  - code: U+E000\n    char: 高\n",
     r"g\.yaml:4: U\+E000 is already defined at .*g\.yaml:2"),
    ("gaiji:\n  - code: U+4E00\n    char: 吉\n", r"g\.yaml:2: code U\+4E00 is not a private-use"),
    ("gaiji:\n  - code: U+E000\n", r"g\.yaml:2: give exactly one of char, mj, juki, koseki"),
    ("gaiji:\n  - code: U+E000\n    char: 吉\n    mj: MJ032129\n", "exactly one of"),
    ("gaiji:\n  - code: U+E000\n    mj: MJ999999\n", r"g\.yaml:2: no MJ glyph 'MJ999999'"),
    ("gaiji:\n  - code: U+E000\n    juki: J+0000\n", "住基ネット統一文字コード"),
    ("gaiji:\n  - code: U+E000\n    koseki: '999999'\n", "戸籍統一文字番号"),
    ("gaiji:\n  - code: U+E000\n    char: \"\\uE001\"\n", "one non-private-use character"),
    ("gaiji:\n  - code: U+E000\n    char: \"\\u0378\"\n", "outside every target"),
    ("gaiji:\n  - code: U+E000\n    char: 吉吉\n", "one non-private-use character"),
    ("gaiji: {a: 1}\n", r"g\.yaml:1: 'gaiji' must be a list"),
    ("gaiji:\n  - [1, 2]\n", r"g\.yaml:2: each entry must be a mapping"),
    ("gaiji:\n  - code: U+E000\n   char: x\n", "not valid YAML"),
    ("tables: []\n", "unknown top-level key 'tables'"),
]


@pytest.mark.parametrize(("body", "message"), GAIJI_ERRORS)
def test_bad_gaiji_table_names_file_and_line(tmp_path, body, message):
    path = tmp_path / "g.yaml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(TableError, match=message):
        load_gaiji(path)


def test_gaiji_duplicate_across_two_files(tmp_path):
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text("gaiji:\n  - code: U+E000\n    char: 吉\n", encoding="utf-8")
    b.write_text("gaiji:\n  - code: U+E000\n    char: 高\n", encoding="utf-8")
    with pytest.raises(TableError, match=r"b\.yaml:2: .*already defined at .*a\.yaml:2"):
        load_gaiji([a, b])


def test_missing_gaiji_file_is_a_clear_error(tmp_path):
    with pytest.raises(TableError, match="no such file"):
        mojinorm.Normalizer(gaiji=tmp_path / "nope.yaml")


OVERRIDE_ERRORS = [
    ("overrides:\n  - char: 濵\n    replacement: 濱\n", r"o\.yaml:2: missing reason"),
    ("overrides:\n  - char: 濵\n    replacement: 濱\n    reason: x\n    by: me\n",
     r"o\.yaml:5: unknown key 'by'"),
    ("overrides:\n  - {char: 濵, replacement: 濱, reason: r}\n"
     "  - {char: 濵, replacement: 浜, reason: r}\n", r"o\.yaml:3: 濵 is already overridden"),
    ("overrides:\n  - {char: 濵, replacement: 濵, reason: r}\n", "mapped to itself"),
    ("overrides:\n  - {char: 濵, replacement: \"\\uE000\", reason: r}\n", "outside every target"),
    ("overrides:\n  - {char: 濵, replacement: 濱, reason: r}\n"
     "  - {char: 濱, replacement: 濵, reason: r}\n", "cycle: 濵 -> 濱 -> 濵"),
    ("overrides:\n  - {char: 濵濵, replacement: 濱, reason: r}\n", "exactly one character"),
]


@pytest.mark.parametrize(("body", "message"), OVERRIDE_ERRORS)
def test_bad_override_file_names_file_and_line(tmp_path, body, message, build_tables):
    path = tmp_path / "o.yaml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(TableError, match=message):
        build_tables.compile_overrides(path)
