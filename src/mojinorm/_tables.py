"""Lazy loaders for the compiled tables in ``mojinorm/_data`` (written by tools/build_tables.py).

Nothing is read at import time.  Each table is read once, on first use; its bytes are checked
against the SHA-256 recorded in ``MANIFEST.json`` and its header line against the columns in
``mojinorm._schema`` (which tools/build_tables.py writes with), so a damaged or hand-edited
install, or tables from another build, say so instead of giving wrong answers.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator, Mapping
from functools import cache, lru_cache
from typing import Any, NamedTuple, cast

from . import _schema as schema
from .errors import DataIntegrityError

__all__ = [
    "DataIntegrityError", "MJRecord", "ShrinkEntry", "manifest", "source_version", "target_data",
    "mj_records", "mj_by_char", "mj_by_ivs", "mj_by_juki", "mj_by_koseki", "shrink_map",
    "nta_map", "nta_for", "same_jisyu", "same_jisyu_for", "svs_map", "overrides", "Resolved",
    "resolved", "resolved_frame",
]

_lock = threading.Lock()


class MJRecord(NamedTuple):
    """One row of the MJ文字情報一覧表 (fields as named in mj.tsv, ``_schema.MJ.columns``)."""

    mj: str
    ucs: str
    corresponding_ucs: str
    ivs: str
    svs: str
    compat: str
    koseki: str
    juki: str
    nyukan_seiji: str
    nyukan_gaiji: str
    touki: str
    x0213: str
    x0213_inclusion: str
    x0212: str


class ShrinkEntry(NamedTuple):
    """One row of the MJ縮退マップ: ``mj`` may be replaced by ``target`` under ``rule``
    (fields as named in shrink.tsv, ``_schema.SHRINK.columns``)."""

    mj: str
    rule: str
    target: str
    target_x0213: str
    rank: int | None
    hops: int | None
    in_jisx0208: bool
    in_jisx0213: bool


#: The compiled tables, installed beside this module (``importlib.resources`` would import
#: tempfile, shutil and random at start-up for a plain directory).
_DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_data")


def _raw(name: str) -> bytes:
    with open(os.path.join(_DATA_DIR, name), "rb") as f:
        return f.read()


@cache
def manifest() -> dict[str, Any]:
    return cast(dict[str, Any], json.loads(_raw(schema.MANIFEST_FILE)))


def source_version(source: str, dataset: str | None = None) -> str:
    """The version MANIFEST.json records for a source (``_schema.SOURCE_*``), or for one dataset
    it carries (``_schema.DATASET_*``): ``source_version(SOURCE_MOJIDATA, DATASET_MJSM)``."""
    for entry in manifest()["sources"]:
        if entry["name"] == source:
            if dataset is None:
                return str(entry["version"])
            try:
                return str(entry["datasets"][dataset])
            except KeyError:
                break
    what = f"{source} {dataset}" if dataset else source
    raise DataIntegrityError(f"MANIFEST.json records no version of {what}; rebuild the tables "
                             f"with tools/build_tables.py")


def _read(name: str) -> str:
    return _verified(name).decode("utf-8")


def _verified(name: str) -> bytes:
    data = _raw(name)  # verified on every first read; the hash of all tables costs ~10 ms
    expected = manifest()["files"].get(name)
    import hashlib  # loaded with the first table, not at import

    actual = hashlib.sha256(data).hexdigest()
    if expected != actual:
        raise DataIntegrityError(
            f"mojinorm table {name} does not match its manifest hash "
            f"(expected {expected}, found {actual}); reinstall mojinorm or rebuild the tables "
            f"with tools/build_tables.py"
        )
    table = schema.TSV_TABLES.get(name)
    if table is not None:
        found = data.split(b"\n", 1)[0].decode("utf-8", "replace")
        if found != table.header:
            raise DataIntegrityError(
                f"mojinorm table {name} has header {found!r}, expected {table.header!r}: the "
                f"tables come from another build than this code; reinstall mojinorm or rebuild "
                f"the tables with tools/build_tables.py"
            )
    return data


def _rows(name: str) -> list[list[str]]:
    lines = _text(name).splitlines()
    return [line.split("\t") for line in lines[1:]]


@cache
def target_data(name: str) -> dict[str, list[Any]]:
    """A built-in target's ``ranges`` and ``sequences``: its line of the targets file (see
    ``_schema.TARGETS_FILE``), the others left undecoded (the file is half a megabyte)."""
    start = ('{"name":' + json.dumps(name, ensure_ascii=False) + ",").encode("utf-8")
    data = b"\n" + _bytes(schema.TARGETS_FILE)
    at = data.find(b"\n" + start)
    if at >= 0:
        end = data.find(b"\n", at + 1)
        return cast(dict[str, list[Any]], json.loads(data[at + 1:end if end >= 0 else None]))
    raise DataIntegrityError(f"mojinorm's targets file has no target {name!r}; rebuild the "
                             f"tables with tools/build_tables.py")


@cache
def mj_records() -> dict[str, MJRecord]:
    with _lock:
        return {row[0]: MJRecord(*row) for row in _rows(schema.MJ.file)}


@cache
def _indexes() -> tuple[dict[str, tuple[str, ...]], dict[str, str], dict[str, str], dict[str, str]]:
    by_char: dict[str, list[str]] = {}
    secondary: dict[str, list[str]] = {}
    by_juki: dict[str, str] = {}
    by_koseki: dict[str, str] = {}
    for rec in mj_records().values():
        if rec.ucs:
            by_char.setdefault(rec.ucs, []).append(rec.mj)
        if rec.corresponding_ucs and rec.corresponding_ucs != rec.ucs:
            secondary.setdefault(rec.corresponding_ucs, []).append(rec.mj)
        if rec.juki:
            by_juki[rec.juki.upper()] = rec.mj
        if rec.koseki:
            by_koseki[rec.koseki] = rec.mj
    # A bare code point names the glyph implemented at that code point first, then the glyphs
    # that correspond to it but are reached only through an IVS (so 德 is ambiguous).
    merged = {ch: tuple(ids + [i for i in secondary.get(ch, []) if i not in ids])
              for ch, ids in by_char.items()}
    for ch, ids in secondary.items():
        merged.setdefault(ch, tuple(ids))
    by_ivs = {row[0]: row[1] for row in _rows(schema.MJ_IVS.file)}
    return merged, by_ivs, by_juki, by_koseki


def mj_by_char() -> dict[str, tuple[str, ...]]:
    """Bare code point -> MJ ids it may denote (implemented glyph first).  Loads everything."""
    return _indexes()[0]


def mj_by_ivs() -> dict[str, str]:
    """Moji_Joho IVS sequence -> MJ id."""
    return _indexes()[1]


def mj_by_juki() -> dict[str, str]:
    """住基ネット統一文字コード (``J+xxxx``, upper case) -> MJ id."""
    return _indexes()[2]


def mj_by_koseki() -> dict[str, str]:
    """戸籍統一文字番号 -> MJ id."""
    return _indexes()[3]


@cache
def shrink_map() -> dict[str, tuple[ShrinkEntry, ...]]:
    """MJ id -> every MJ縮退マップ row starting from it.  Loads everything."""
    out: dict[str, list[ShrinkEntry]] = {}
    for row in _rows(schema.SHRINK.file):
        entry = _shrink_entry(row)
        out.setdefault(entry.mj, []).append(entry)
    return {k: tuple(v) for k, v in out.items()}


def _shrink_entry(row: list[str]) -> ShrinkEntry:
    mj, rule, target, x0213, rank, hops, in0208, in0213 = row
    return ShrinkEntry(mj, rule, target, x0213, int(rank) if rank else None,
                       int(hops) if hops else None, in0208 == "1", in0213 == "1")


# --------------------------------------------------------------------------- point queries
#
# Normalizing a name touches a handful of characters; parsing 120,000 table rows for them would
# make the first call slow.  The tables a point query reads are sorted by their first field
# (UTF-8 byte order), so a query is a binary search over the table's bytes that decodes only
# the matching lines.  Bulk users (lookup by 住基/戸籍 code, validation) load full indexes.


@cache
def _text(name: str) -> str:
    return _bytes(name).decode("utf-8")


@cache
def _bytes(name: str) -> bytes:
    return _verified(name)


#: Point queries a table answers by binary search before it builds a full index: a few names
#: need a few look-ups; a file of names needs thousands, and then one pass over the table
#: (tens of milliseconds) is cheaper than thousands of searches.
_POINT_QUERIES = 256
_queries: dict[str, int] = {}
_full: dict[str, dict[str, list[str]]] = {}


def _lines_for(name: str, key: str) -> list[list[str]]:
    """The rows of a sorted table whose first field is ``key``."""
    index = _full.get(name)
    if index is None:
        count = _queries.get(name, 0) + 1
        _queries[name] = count
        if count <= _POINT_QUERIES:
            return _search(name, key)
        index = _index(name)
    return [line.split("\t") for line in index.get(key, ())]


def _index(name: str) -> dict[str, list[str]]:
    """First field -> the table's lines with it (split only when asked for)."""
    with _lock:
        index = _full.get(name)
        if index is None:
            index = {}
            lines = _text(name).split("\n")
            for line in lines[1:]:
                if line:
                    index.setdefault(line[:line.find("\t")], []).append(line)
            _full[name] = index
    return index


def first_line_at_or_after(data: bytes, want: bytes) -> int:
    """The start of the first line of the sorted table ``data`` (a header line, then lines
    ``key\t…``) whose key is ``>= want`` (``len(data)`` when none is): a binary search over
    the bytes, which finds each probe's line by the newline before it.  The compiled guard
    finds the same row of the compiled decisions through a hash index of their lines
    (``_speedups.c``, ``row_at``)."""
    lo = data.find(b"\n") + 1  # skip the header
    hi = len(data)
    while lo < hi:
        mid = (lo + hi) // 2
        start = data.rfind(b"\n", lo, mid) + 1 or lo
        end = data.find(b"\n", start)
        if end < 0:
            end = hi
        if data[start:data.find(b"\t", start, end)] < want:
            lo = end + 1
        else:
            hi = start
    return min(lo, len(data))


def _search(name: str, key: str) -> list[list[str]]:
    data = _bytes(name)
    want = key.encode("utf-8", "surrogatepass")  # a lone surrogate just finds nothing
    out = []
    pos = first_line_at_or_after(data, want)
    prefix = want + b"\t"
    while data.startswith(prefix, pos):
        end = data.find(b"\n", pos)
        if end < 0:
            end = len(data)
        out.append(data[pos:end].decode("utf-8").split("\t"))
        pos = end + 1
    return out


@lru_cache(maxsize=8192)
def mj_ids_for_char(ch: str) -> tuple[str, ...]:
    """MJ ids a bare code point may denote: implemented glyph first, then IVS-only glyphs."""
    for _, primary, ivs_only in _lines_for(schema.MJ_CHARS.file, ch):
        return tuple(i for i in (primary.split(",") + ivs_only.split(",")) if i)
    return ()


@lru_cache(maxsize=8192)
def mj_glyphs_for_char(ch: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(own, siblings) for a bare code point: the MJ glyphs implemented at exactly that code point,
    and the glyphs that share it only through an IVS (what ``mj_ids_for_char`` pools)."""
    for _, primary, ivs_only in _lines_for(schema.MJ_CHARS.file, ch):
        return (tuple(i for i in primary.split(",") if i),
                tuple(i for i in ivs_only.split(",") if i))
    return (), ()


@lru_cache(maxsize=8192)
def mj_id_for_ivs(ivs: str) -> str | None:
    """The MJ id of a Moji_Joho IVS, or None."""
    for _, mj in _lines_for(schema.MJ_IVS.file, ivs):
        return mj
    return None


@lru_cache(maxsize=8192)
def shrink_for_mj(mj: str) -> tuple[ShrinkEntry, ...]:
    """MJ縮退マップ rows starting from one MJ id, in table order."""
    return tuple(_shrink_entry(row) for row in _lines_for(schema.SHRINK.file, mj))


@cache
def nta_map() -> dict[str, str]:
    """国税庁 JIS縮退マップ, every row whose replacement lies entirely in JIS X 0208: character
    -> replacement.  Sources are single code points (JIS X 0213 level 3/4 kanji such as 﨑 﨔,
    kana such as ゕ ㇷ, symbols such as · ① Ⅻ); a replacement may be several characters
    (① -> "１", ⑩ -> "１０", № -> "Ｎｏ．", Ⅻ -> "ＸＩＩ")."""
    return {src: dst for src, dst in _rows(schema.NTA.file)}


@lru_cache(maxsize=8192)
def nta_for(ch: str) -> str | None:
    """The 国税庁 JIS縮退マップ replacement of one character (see ``nta_map``), or None."""
    for _, dst in _lines_for(schema.NTA.file, ch):
        return dst
    return None


@cache
def same_jisyu() -> dict[str, tuple[tuple[str, str], ...]]:
    """Official same-字種 lists: character -> ((other form, list id), ...), in both directions
    (麺 -> (("麵", "hyogai-itaiji"), ("麵", "joyo-kangxi")), and 麵 -> 麺 back).  List ids and
    their sources are ``_schema.SAME_JISYU_LISTS``.  Loads everything."""
    out: dict[str, list[tuple[str, str]]] = {}
    for char, other, list_id in _rows(schema.SAME_JISYU.file):
        out.setdefault(char, []).append((other, list_id))
    return {k: tuple(v) for k, v in out.items()}


@lru_cache(maxsize=8192)
def same_jisyu_for(ch: str) -> tuple[tuple[str, str], ...]:
    """``same_jisyu().get(ch, ())`` by binary search over the sorted table."""
    return tuple((other, list_id)
                 for _, other, list_id in _lines_for(schema.SAME_JISYU.file, ch))


@cache
def jis_equivalents() -> dict[str, tuple[tuple[str, str], ...]]:
    """Code point -> the other code points codecs give for its JIS X 0208 code, with the code."""
    out: dict[str, list[tuple[str, str]]] = {}
    for char, equivalent, code in _rows(schema.JIS_EQUIVALENTS.file):
        out.setdefault(char, []).append((equivalent, code))
    return {k: tuple(v) for k, v in out.items()}


@cache
def svs_map() -> dict[str, str]:
    """Standardized variation sequence -> the CJK compatibility ideograph it stands for."""
    return {svs: compat for svs, compat in _rows(schema.SVS.file)}


@cache
def overrides() -> dict[str, tuple[str, str]]:
    """Reviewed exceptions compiled from data/mappings/overrides.yaml: char -> (target, reason)."""
    data = json.loads(_read(schema.OVERRIDES_FILE))
    return {e["char"]: (e["replacement"], e["reason"]) for e in data["overrides"]}


#: Columns of the compiled decisions of a target (``_schema.RESOLVED``).
RESOLVED_COLUMNS: tuple[str, ...] = schema.RESOLVED[schema.RESOLVED_TARGETS[0]].columns


class Resolved(Mapping[str, str]):
    """A built-in target's compiled decisions: unit -> the rest of its row, tab-separated
    (replacement, rules, flags, mj, alternatives, as ``_schema.RESOLVED`` describes them; the
    caller splits the few rows it reads).

    Found by a binary search over the table's bytes (:func:`first_line_at_or_after`), its
    lines sorted by unit: decoding and cutting the table's 59,000 lines would take 20 ms, a
    dict of them ten times as long, and a file of names asks for a few thousand units.
    (Code point order is UTF-8 byte order, the table's order; the keys are compared whole, so
    a unit's line is found before the lines of the longer units it begins.)
    """

    def __init__(self, data: bytes) -> None:
        #: the table as verified, header line included (the compiled guard of a Normalizer
        #: searches it)
        self.data = data

    def get(self, unit: str, default: Any = None) -> Any:
        data = self.data
        want = unit.encode("utf-8", "surrogatepass")  # a lone surrogate just finds nothing
        at = first_line_at_or_after(data, want)
        if not data.startswith(want + b"\t", at):
            return default
        end = data.find(b"\n", at)
        return data[at + len(want) + 1:end if end >= 0 else len(data)].decode("utf-8")

    def __getitem__(self, unit: str) -> str:
        row: str | None = self.get(unit)
        if row is None:
            raise KeyError(unit)
        return row

    def __contains__(self, unit: object) -> bool:
        return isinstance(unit, str) and self.get(unit) is not None

    def __iter__(self) -> Iterator[str]:
        for line in self.data.split(b"\n")[1:]:
            if line:
                yield line[:line.index(b"\t")].decode("utf-8")

    def __len__(self) -> int:
        return sum(1 for line in self.data.split(b"\n")[1:] if line)


@cache
def resolved(target: str) -> Resolved:
    """A built-in target's compiled decisions (:class:`Resolved`)."""
    return Resolved(_bytes(schema.RESOLVED[target].file))


def resolved_frame(target: str) -> Any:
    """``resolved(target)`` as a polars DataFrame (the column kernel joins with it); read by
    polars from the verified bytes.  Imports polars."""
    import polars as pl

    return pl.read_csv(_bytes(schema.RESOLVED[target].file), separator="\t", quote_char=None,
                       infer_schema=False)
