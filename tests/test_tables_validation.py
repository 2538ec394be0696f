"""User and reviewed YAML tables are validated with file and line (reliability issue).

Tables that cannot lie: gaiji tables, the overrides file and target profiles go through one safe
reader (``mojinorm._yamlfile``).  Every value is the text written; tags, anchors, aliases,
complex keys, duplicate keys, deep nesting and oversized files are one-line errors naming the
file and line.  The hostile files live in ``tests/tables/``, each with its expected error.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
import yaml

import mojinorm
from mojinorm import TableError, _yamlfile, load_gaiji
from mojinorm._yamlfile import Mapping, Scalar, Sequence, load_entries, read_yaml
from mojinorm.errors import TargetError
from mojinorm.targets import load_profile

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


# --------------------------------------------------------------------------------------------
# Tables that cannot lie: every value is the text written, and nothing YAML can do beyond plain
# mappings, lists and scalars gets through (mojinorm._yamlfile).

TABLES = Path(__file__).resolve().parent / "tables"
ROOT = Path(__file__).resolve().parent.parent

PARSERS = ["SafeLoader"] + (["CSafeLoader"] if getattr(yaml, "__with_libyaml__", False) else [])


@pytest.fixture(params=PARSERS)
def parser(request, monkeypatch):
    """Run a test with the pure-Python parser and with libyaml's: both must give the same."""
    cls = getattr(yaml, request.param)
    monkeypatch.setattr(_yamlfile, "_parser_class", lambda: cls)
    return request.param


def gaiji_file(tmp_path: Path, line: str) -> Path:
    """A one-entry gaiji table whose value line is line 3."""
    path = tmp_path / "g.yaml"
    path.write_text(f"gaiji:\n  - code: U+E000\n    {line}\n", encoding="utf-8")
    return path


def one_entry(path: Path) -> tuple[str, str | None]:
    table = load_gaiji(path)
    entry = table.get("\ue000")
    assert entry is not None and len(table) == 1
    return entry.char, entry.mj


# --- 1. code fields are the text written --------------------------------------------------

def test_unquoted_koseki_with_leading_zero_is_not_octal(tmp_path, parser):
    # 戸籍統一文字番号 006200 is 㑅 (MJ000051).  YAML 1.1 reads 006200 as octal 3200, and
    # 003200 is 亙 (MJ006450): the reader keeps the digits, so the table means what it shows.
    assert one_entry(gaiji_file(tmp_path, "koseki: 006200")) == ("㑅", "MJ000051")


def test_koseki_without_leading_zeros_is_the_same_number(tmp_path, parser):
    # The number is six digits; a spreadsheet export drops the leading zeros, so 6200 is read
    # as the digits 6200 and padded to 006200: again 㑅, never a conversion through YAML.
    assert one_entry(gaiji_file(tmp_path, "koseki: 6200")) == ("㑅", "MJ000051")


def test_koseki_with_underscore_is_refused_not_read_as_a_number(tmp_path, parser):
    # YAML 1.1 reads 038_140 as the integer 38140 (that is 𠮷's 038140 padded); the text has an
    # underscore, so it is no 戸籍統一文字番号 and the entry (line 2) is refused.
    with pytest.raises(TableError, match=r"g\.yaml:2: no MJ glyph has 戸籍統一文字番号 '038_140'"):
        load_gaiji(gaiji_file(tmp_path, "koseki: 038_140"))


def test_juki_code_unquoted(tmp_path, parser):
    # J+AEAC is 𠮷's 住基ネット統一文字コード (MJ032129); YAML reads it as text anyway, and the
    # reader keeps it as written.
    assert one_entry(gaiji_file(tmp_path, "juki: J+AEAC")) == ("𠮷", "MJ032129")


def test_code_unquoted(tmp_path, parser):
    # code: U+E000 is text in YAML; the entry is keyed by the private-use character U+E000.
    path = tmp_path / "g.yaml"
    path.write_text("gaiji:\n  - code: U+E000\n    char: 吉\n", encoding="utf-8")
    assert list(load_gaiji(path).entries) == ["\ue000"]


@pytest.mark.parametrize("code", ["57344", "0xE000", "0o160000", "E000"])
def test_code_as_a_number_is_refused(tmp_path, parser, code):
    # 57344 is 0xE000 in decimal and YAML 1.1 reads 0xE000 and 0o160000 as that number too;
    # the reader keeps the text, which is not the documented U+E000 form: refused at line 2.
    path = tmp_path / "g.yaml"
    path.write_text(f"gaiji:\n  - code: {code}\n    char: 吉\n", encoding="utf-8")
    with pytest.raises(TableError, match=r"g\.yaml:2: 'code' must be a private-use code point"):
        load_gaiji(path)


@pytest.mark.parametrize(("value", "kind"), [
    ("1", "an integer"),  # YAML 1.1: int 1
    ("yes", "a boolean"),  # YAML 1.1: True ("True" before this check)
    ("~", "null"),  # YAML 1.1: None
    ("1.5", "a number"),  # YAML 1.1: float
    ("2026-04-01", "a date"),  # YAML 1.1: datetime.date
])
def test_char_that_yaml_reads_as_another_type_is_refused(tmp_path, parser, value, kind):
    # A character field refuses what other YAML readers would see as a number, boolean, null or
    # date: the writer may have meant either, so the table names the line (3) and asks for quotes.
    with pytest.raises(TableError, match=rf"g\.yaml:3: char '{re.escape(value)}' is read by "
                                         rf"YAML as {kind}, not as text; write the character"):
        load_gaiji(gaiji_file(tmp_path, f"char: {value}"))


def test_quoted_digit_char_is_the_digit(tmp_path, parser):
    # Quoted, "1" is text for every YAML reader: the digit one (MJ has no glyph for it).
    assert one_entry(gaiji_file(tmp_path, "char: '1'")) == ("1", None)


def test_char_ideographic_space_escape_is_one_character(tmp_path, parser):
    # "\u3000" is one character, U+3000 IDEOGRAPHIC SPACE (JIS X 0208 1-01-01).  It used to be
    # stripped as white space, leaving nothing; it is now kept exactly as written.
    char, _ = one_entry(gaiji_file(tmp_path, 'char: "\\u3000"'))
    assert char == "\u3000"


def test_char_with_quoted_spaces_is_refused(tmp_path, parser):
    # " 吉" written in quotes is two characters; it used to be stripped to 吉.  Refused at the
    # entry line (2) like any other multi-character value.
    with pytest.raises(TableError, match=r"g\.yaml:2: 'char' must be one non-private-use"):
        load_gaiji(gaiji_file(tmp_path, "char: ' 吉'"))


def test_every_entry_value_is_text_as_written(tmp_path, parser):
    # The overrides file (tools/build_tables.py) and gaiji tables share load_entries: values
    # are strings exactly as written, never int/bool/date/None.
    path = tmp_path / "o.yaml"
    path.write_text("overrides:\n  - char: 濵\n    replacement: 濱\n    reason: yes\n"
                    "  - char: 0x41\n    replacement: 2026-04-01\n    reason:\n",
                    encoding="utf-8")
    entries = load_entries(path, "overrides", {"char", "replacement", "reason"})
    assert [e.data for e in entries] == [
        {"char": "濵", "replacement": "濱", "reason": "yes"},  # not True
        {"char": "0x41", "replacement": "2026-04-01", "reason": ""},  # not 65, a date, None
    ]
    assert [e.line for e in entries] == [2, 5]
    assert entries[1].fields["replacement"] == Scalar("2026-04-01", 6, "a date")
    assert entries[1].at("reason") == f"{path}:7"


def test_profile_items_that_yaml_reads_as_another_type_are_refused(tmp_path, parser):
    # Same rule as a gaiji char: add/remove items are characters, so 1 (int) and ~ (null) are
    # refused with the file and the item's line (3 and 4).
    profile = tmp_path / "server.yaml"
    profile.write_text("base: jisx0208\nadd:\n  - 1\n", encoding="utf-8")
    with pytest.raises(TargetError, match=r"server\.yaml:3: '1' is read by YAML as an integer"):
        load_profile(profile)
    profile.write_text("base: jisx0208\nadd: []\nremove:\n  - ~\n", encoding="utf-8")
    with pytest.raises(TargetError, match=r"server\.yaml:4: '~' is read by YAML as null"):
        load_profile(profile)


def test_profile_values_are_text_as_written(tmp_path, parser):
    # name 2026 stays "2026"; quoted "~" is the tilde (already in jisx0208); "U+E000" adds one
    # code point; an empty "remove:" removes nothing (it used to be read as null, too).
    profile = tmp_path / "server.yaml"
    profile.write_text("name: 2026\nbase: jisx0208\nadd: ['~', U+E000]\nremove:\n",
                       encoding="utf-8")
    target = load_profile(profile)
    assert target.name == "2026"
    assert "~" in target and "\ue000" in target
    assert len(target) == len(mojinorm.get_target("jisx0208")) + 1


def test_profile_nested_item_is_refused(tmp_path, parser):
    # An add item is one character or range, not a list: refused at the item's line (3).
    profile = tmp_path / "server.yaml"
    profile.write_text("base: jisx0208\nadd:\n  - [髙, 﨑]\n", encoding="utf-8")
    with pytest.raises(TargetError, match=r"server\.yaml:3: entry must be a character.*not a list"):
        load_profile(profile)


# --- 2. duplicate keys -------------------------------------------------------------------

@pytest.mark.parametrize(("body", "message"), [
    # the second 'char' of one entry (line 4) would silently win
    ("gaiji:\n  - code: U+E000\n    char: 吉\n    char: 高\n",
     r"g\.yaml:4: duplicate key 'char' \(first at line 3\)"),
    # the second top-level 'gaiji' (line 3) would silently replace the first list
    ("gaiji: []\ndescription: x\ngaiji: []\n",
     r"g\.yaml:3: duplicate key 'gaiji' \(first at line 1\)"),
    # keys are compared as written text: 1 (line 2) and "1" (line 3) are the same key
    ("gaiji: []\n1: a\n'1': b\n", r"g\.yaml:3: duplicate key '1' \(first at line 2\)"),
])
def test_duplicate_key_in_gaiji_table(tmp_path, parser, body, message):
    path = tmp_path / "g.yaml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(TableError, match=message):
        load_gaiji(path)


def test_duplicate_key_in_profile(tmp_path, parser):
    # 'base' twice: jisx0208 would silently become cp932.  A profile raises TargetError at the
    # second key (line 3).
    profile = tmp_path / "server.yaml"
    profile.write_text("base: jisx0208\nadd: [髙]\nbase: cp932\n", encoding="utf-8")
    with pytest.raises(TargetError,
                       match=r"server\.yaml:3: duplicate key 'base' \(first at line 1\)"):
        load_profile(profile)


def test_duplicate_key_in_overrides(tmp_path, parser):
    # load_entries is what tools/build_tables.py reads the overrides with: two 'reason' keys in
    # one entry are refused at the second (line 4).
    path = tmp_path / "o.yaml"
    path.write_text("overrides:\n  - char: 濵\n    reason: a\n    reason: b\n    replacement: 濱\n",
                    encoding="utf-8")
    with pytest.raises(TableError, match=r"o\.yaml:4: duplicate key 'reason'"):
        load_entries(path, "overrides", {"char", "replacement", "reason"})


# --- 3. hostile documents: the corpus in tests/tables/ ------------------------------------

CORPUS = sorted(TABLES.glob("*.yaml"))
_EXPECT = re.compile(r"# expect: (TableError|TargetError) line (\d+): (.+)")


@pytest.mark.parametrize("path", CORPUS, ids=[p.name for p in CORPUS])
def test_hostile_table_corpus(path, parser, tmp_path, monkeypatch):
    # Each file's first line says the error class, line and message it must give (and its
    # comments say why that is right).  It runs with tmp_path as the working directory so that
    # nothing a tag tried to execute could touch the repository.
    m = _EXPECT.fullmatch(path.read_text(encoding="utf-8").splitlines()[0])
    assert m, f"{path.name}: first line must be '# expect: <Error> line N: <regex>'"
    error = {"TableError": TableError, "TargetError": TargetError}[m.group(1)]
    monkeypatch.chdir(tmp_path)
    start = time.perf_counter()
    with pytest.raises(error) as info:
        if error is TargetError:
            load_profile(path)
        else:
            load_gaiji(path)
    assert time.perf_counter() - start < 1.0
    message = str(info.value)
    assert "\n" not in message
    assert re.match(rf"{re.escape(str(path))}:{m.group(2)}: {m.group(3)}", message), message
    assert not list(tmp_path.iterdir())  # no tables-pwned.marker: nothing was executed


def test_corpus_covers_the_hostile_cases():
    # The corpus must keep at least these cases; a file dropped by mistake fails here.
    names = {p.name for p in CORPUS}
    assert {"billion-laughs.yaml", "python-object-apply.yaml", "binary-tag.yaml",
            "complex-key.yaml", "deep-nesting.yaml", "duplicate-key-entry.yaml",
            "profile-alias.yaml", "profile-tag.yaml"} <= names


def test_billion_laughs_is_refused_fast_and_small(tmp_path, parser):
    # The bomb at full size (ten levels of ten aliases, 10^10 values if expanded): refused at
    # the first anchor (line 1) in well under a second, without building anything.
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 10)]
    path = tmp_path / "g.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    start = time.perf_counter()
    with pytest.raises(TableError, match=r"g\.yaml:1: anchor &a0 is not allowed"):
        load_gaiji(path)
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize("body", [
    "gaiji: " + "[" * 200_000,  # unclosed
    "gaiji: " + "[" * 100_000 + "]" * 100_000,
    "gaiji:\n" + "".join("  " * i + "- \n" for i in range(2_000)),
])
def test_very_deep_nesting_is_refused_without_recursion(tmp_path, parser, body):
    # Hundreds of thousands of levels would overflow a recursive composer (RecursionError, a
    # traceback).  The reader counts levels while parsing and stops at the ninth; the ninth '['
    # or '- ' is on line 1 or line 9.  libyaml's scanner reads ahead and may stop first at its
    # own limit of 1,000 flow levels, also on line 1.
    path = tmp_path / "g.yaml"
    path.write_text(body, encoding="utf-8")
    start = time.perf_counter()
    with pytest.raises(TableError, match=r"g\.yaml:(1|9): (nested deeper than 8 levels|not "
                                         r"valid YAML: exceeded maximum nesting depth)"):
        load_gaiji(path)
    assert time.perf_counter() - start < 2.0


def test_nesting_limit_is_exactly_eight(tmp_path, parser):
    # The mapping (1) holds a list nested seven deep (2 to 8): accepted; one more is level 9.
    path = tmp_path / "n.yaml"
    path.write_text("a: " + "[" * 7 + "x" + "]" * 7 + "\n", encoding="utf-8")
    node = read_yaml(path)
    for _ in range(7):
        assert isinstance(node, (Mapping, Sequence))
        node = next(iter(node.items.values()))[1] if isinstance(node, Mapping) else node.items[0]
    assert isinstance(node, Sequence) and node.items == [Scalar("x", 1)]
    path.write_text("a: " + "[" * 8 + "x" + "]" * 8 + "\n", encoding="utf-8")
    with pytest.raises(TableError, match=r"n\.yaml:1: nested deeper than 8 levels"):
        read_yaml(path)


@pytest.mark.parametrize(("body", "line"), [
    ("a: !!map {}\n", 1), ("a: !!set {x}\n", 1), ("a: !!omap [x: 1]\n", 1), ("a: !!int 5\n", 1),
    ("a: ! x\n", 1), ("!!map\na: 1\n", 1), ("%TAG !m! tag:example.com,2026:\n---\na: !m!x 1\n", 3),
])
def test_any_explicit_tag_is_refused(tmp_path, parser, body, line):
    # A table is plain data: every explicit tag, standard or not, is refused with the file and
    # the line where the tag is written.
    path = tmp_path / "g.yaml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(TableError, match=rf"g\.yaml:{line}: YAML tag \S+ is not allowed"):
        load_gaiji(path)


def test_complex_key_in_a_profile_is_refused(tmp_path, parser):
    # "? {a: 1}" makes a mapping a key; refused with TargetError at the key (line 2).
    profile = tmp_path / "server.yaml"
    profile.write_text("base: jisx0208\n? {a: 1}\n: x\n", encoding="utf-8")
    with pytest.raises(TargetError, match=r"server\.yaml:2: complex key \(a mapping\)"):
        load_profile(profile)


def test_file_over_the_size_limit_is_refused_before_parsing(tmp_path):
    # 16 MiB + 1 byte (a sparse file of NULs): refused by size at once, never parsed (NUL is
    # not valid YAML, so a parse would give another message).
    path = tmp_path / "g.yaml"
    with path.open("wb") as f:
        f.truncate(_yamlfile.MAX_BYTES + 1)
    assert _yamlfile.MAX_BYTES == 16 * 1024 * 1024
    with pytest.raises(TableError, match=r"g\.yaml: larger than 16 MiB; refused as a table$"):
        load_gaiji(path)


def test_size_limit_boundary(tmp_path, monkeypatch):
    # A file of exactly the limit is read; one byte more is refused (limit lowered to 40 bytes
    # so the test stays small).
    monkeypatch.setattr(_yamlfile, "MAX_BYTES", 40)
    path = tmp_path / "g.yaml"
    body = "gaiji:\n  - code: U+E000\n    char: 吉\n"  # 35 bytes (吉 is 3 bytes)
    path.write_bytes(body.encode() + b"#" * (40 - len(body.encode())))
    assert len(load_gaiji(path)) == 1
    path.write_bytes(path.read_bytes() + b"#")
    with pytest.raises(TableError, match="larger than"):
        load_gaiji(path)


def test_too_many_values_are_refused(tmp_path, parser, monkeypatch):
    # The value count bounds memory even below the byte limit: with the limit at 10, the
    # eleventh value (the 9th list item, line 2) is refused.
    monkeypatch.setattr(_yamlfile, "MAX_NODES", 10)
    path = tmp_path / "g.yaml"
    path.write_text("gaiji: []\ndescription: [" + ", ".join("x" * 20) + "]\n", encoding="utf-8")
    with pytest.raises(TableError, match=r"g\.yaml:2: more than 10 values"):
        load_gaiji(path)


def test_not_utf8_names_the_line(tmp_path, parser):
    # Byte 0xFF can start no UTF-8 sequence; it is on line 3.
    path = tmp_path / "g.yaml"
    path.write_bytes(b"gaiji:\n  - code: U+E000\n    char: \xff\n")
    with pytest.raises(TableError, match=r"g\.yaml:3: not UTF-8 \(byte 0xFF at offset 34\)"):
        load_gaiji(path)


def test_control_character_names_the_line(tmp_path, parser):
    # YAML allows no C0 control characters but TAB, LF and CR; the NUL is on line 3, after
    # multi-byte characters (one parser counts bytes, the other characters: the line is the same).
    path = tmp_path / "g.yaml"
    path.write_text("description: 外字表\ngaiji:\n  - code: U+E000\x00\n", encoding="utf-8")
    with pytest.raises(TableError, match=r"g\.yaml:3: not valid YAML: character U\+0000"):
        load_gaiji(path)


def test_syntax_error_is_one_line_with_line_number(tmp_path, parser):
    # "c: d: e" is a mapping value where none may start: both parsers point at line 2.
    path = tmp_path / "g.yaml"
    path.write_text("description: x\ngaiji: c: d: e\n", encoding="utf-8")
    with pytest.raises(TableError, match=r"g\.yaml:2: not valid YAML: mapping values are not "
                                         r"allowed") as info:
        load_gaiji(path)
    assert "\n" not in str(info.value)


def test_directory_is_a_clear_error(tmp_path):
    # A directory given as a table: one line, no traceback.
    with pytest.raises(TableError, match=r": cannot read: it is a directory"):
        load_gaiji(tmp_path)


def test_profile_missing_file(tmp_path):
    # A profile path that does not exist is a TargetError naming the file.
    with pytest.raises(TargetError, match=r"nope\.yaml: no such file"):
        load_profile(tmp_path / "nope.yaml")


@pytest.mark.parametrize("path", ["data/mappings/gaiji-example.yaml", "data/samples/gaiji.yaml",
                                  "tests/cases/gaiji-cases.yaml"])
def test_shipped_gaiji_tables_load(path, parser):
    # The shipped tables pass the strict reader; U+E000 to U+E003 of the example all stand for
    # 𠮷 or 髙 (char, 住基 J+AEAC, MJ028902, 戸籍 038140).
    table = load_gaiji(ROOT / path)
    assert len(table) >= 4
    if "cases" not in path:
        assert [table.entries[chr(0xE000 + i)].char for i in range(4)] == ["𠮷", "𠮷", "髙", "𠮷"]


def test_shipped_overrides_load(build_tables, parser):
    # The reviewed overrides still compile to the committed JSON through the strict reader.
    assert build_tables.compile_overrides() == (
        ROOT / "src" / "mojinorm" / "_data" / "overrides.json").read_text(encoding="utf-8")
