"""User gaiji tables: private-use code points -> the characters they stand for.

Insurers' systems store some name characters as user-defined gaiji in the private-use area. A
gaiji table says what each one means, by character or by an official code that resolves
through the MJ index::

    description: gaiji of the member system, exported 2026-04
    gaiji:
      - code: U+E000
        char: 𠮷              # the character itself
      - code: U+E001
        mj: MJ000123          # an MJ文字図形名
      - code: U+E002
        juki: J+AEAC          # a 住基ネット統一文字コード
      - code: U+E003
        koseki: 038140        # a 戸籍統一文字番号
        note: free text, kept for the reader

Exactly one of ``char``, ``mj``, ``juki``, ``koseki`` per entry.  Every value is read as the text
written in the file (see :mod:`mojinorm._yamlfile`): ``koseki: 006200`` is 戸籍統一文字番号 006200,
never the octal number YAML 1.1 would read.  A ``char`` that YAML 1.1 would read as a number, a
boolean, null or a date (``char: 1``, ``char: yes``, ``char: ~``) is refused: quote it.  A
malformed table fails with ``file:line: message``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import _tables
from ._yamlfile import Entry, TableError, load_entries
from .targets import BUILTIN_TARGETS, get_target
from .units import iter_units

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["GaijiEntry", "GaijiTable", "load_gaiji", "is_private_use", "TableError"]

_KEYS = {"code", "char", "mj", "juki", "koseki", "note"}
_VALUE_KEYS = ("char", "mj", "juki", "koseki")


def is_private_use(ch: str) -> bool:
    cp = ord(ch)
    return 0xE000 <= cp <= 0xF8FF or 0xF0000 <= cp <= 0x10FFFD


#: The code points of :func:`is_private_use`, as a regex class body (``re`` and polars).
PRIVATE_USE_CLASS = "\ue000-\uf8ff\U000f0000-\U0010fffd"


@dataclass(frozen=True)
class GaijiEntry:
    code: str  #: the private-use character
    char: str  #: what it stands for
    mj: str | None  #: MJ id when known
    source: str  #: "file:line"


class GaijiTable:
    """Several gaiji files merged; a code defined twice is an error naming both places."""

    def __init__(self, entries: Iterable[GaijiEntry] = ()) -> None:
        self.entries: dict[str, GaijiEntry] = {}
        for e in entries:
            self.add(e)

    def add(self, entry: GaijiEntry) -> None:
        old = self.entries.get(entry.code)
        if old is not None:
            raise TableError(
                f"{entry.source}: U+{ord(entry.code):04X} is already defined at {old.source}"
            )
        self.entries[entry.code] = entry

    def get(self, ch: str) -> GaijiEntry | None:
        return self.entries.get(ch)

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(sorted({e.source.rsplit(":", 1)[0] for e in self.entries.values()}))


def _known(unit: str) -> bool:
    """A character some built-in target renders (a gaiji must stand for a real character)."""
    return any(unit in get_target(name) for name in BUILTIN_TARGETS)


def _code(value: str, where: str) -> str:
    m = re.fullmatch(r"\s*[Uu]\+([0-9A-Fa-f]{4,6})\s*", value)
    if m:
        cp = int(m.group(1), 16)
        if cp <= 0x10FFFF:
            ch = chr(cp)
            if is_private_use(ch):
                return ch
            raise TableError(f"{where}: code {value} is not a private-use code point")
    if len(value) == 1 and is_private_use(value):
        return value
    raise TableError(f"{where}: 'code' must be a private-use code point written U+E000")


def _resolve(entry: Entry) -> tuple[str, str | None]:
    data, where = entry.data, entry.where
    given = [k for k in _VALUE_KEYS if k in data]
    if len(given) != 1:
        raise TableError(f"{where}: give exactly one of char, mj, juki, koseki (got {given})")
    key = given[0]
    records = _tables.mj_records()
    mj: str | None
    if key == "char":
        # the character exactly as written: no stripping (U+3000 is a character), and nothing
        # YAML 1.1 would read as another type (char: 1, char: yes, char: ~): quote it
        value = data[key]
        scalar = entry.fields.get(key)
        if scalar is not None and scalar.yaml_type is not None and value:
            raise TableError(
                f"{entry.at(key)}: char {value!r} is read by YAML as "
                f"{scalar.yaml_type}, not as text; write the character in quotes"
            )
        units = [u for _, u in iter_units(value)]
        if len(units) != 1 or any(is_private_use(c) for c in value):
            raise TableError(f"{where}: 'char' must be one non-private-use character")
        if not _known(value):
            raise TableError(f"{where}: char {value!r} is outside every target "
                             f"({', '.join(BUILTIN_TARGETS)})")
        ids = _tables.mj_id_for_ivs(value) if len(value) > 1 else None
        if ids:
            return value, ids
        found = _tables.mj_ids_for_char(value)
        return value, found[0] if len(found) == 1 else None
    value = data[key].strip()  # a code: surrounding spaces inside quotes are not part of it
    if key == "mj":
        mj = value.upper()
        if mj not in records:
            raise TableError(f"{where}: no MJ glyph {value!r} in MJ文字情報一覧表")
    elif key == "juki":
        found_mj = _tables.mj_by_juki().get(value.upper())
        if found_mj is None:
            raise TableError(f"{where}: no MJ glyph has 住基ネット統一文字コード {value!r}")
        mj = found_mj
    else:
        # 戸籍統一文字番号 are six digits; a spreadsheet export drops the leading zeros
        if re.fullmatch(r"[0-9]{1,6}", value):
            value = value.zfill(6)
        found_mj = _tables.mj_by_koseki().get(value)
        if found_mj is None:
            raise TableError(f"{where}: no MJ glyph has 戸籍統一文字番号 {value!r}")
        mj = found_mj
    rec = records[mj]
    char = rec.ucs or rec.ivs or rec.svs or rec.corresponding_ucs
    return char, mj


def load_gaiji(paths: str | Path | Iterable[str | Path] | None) -> GaijiTable:
    """Load and merge one or more gaiji tables."""
    table = GaijiTable()
    if paths is None:
        return table
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    for path in paths:
        for entry in load_entries(path, "gaiji", _KEYS):
            if "code" not in entry.data:
                raise TableError(f"{entry.where}: missing 'code'")
            code = _code(entry.data["code"], entry.where)
            char, mj = _resolve(entry)
            table.add(GaijiEntry(code, char, mj, entry.where))
    return table
