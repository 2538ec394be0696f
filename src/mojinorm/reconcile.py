"""Reconciling two files of names: ``mojinorm match`` (:func:`match_files`, :func:`match_frames`).

Clinic staff must decide whether ``●橋 太郎`` from the eligibility system is ``髙橋 太郎`` on
file.  :func:`match_frames` pairs the rows of two tables that agree exactly on the key columns
(date of birth, insurer number …) and whose names :func:`mojinorm.compare` does not grade
``different``, grades every pair (``compare``; ``compare_kana`` for readings) and lists the rows
of either side that found no pair.

Blocking: which rows meet
-------------------------
Comparing every row with every other is out of the question for files of a million rows, so
rows meet in a hash join on the key columns plus a *blocking key* of the name.
:func:`mojinorm.match_key` is not that key: it folds only the strong same-character rules, so
渡邉/渡邊-like pairs that ``compare`` grades ``variant`` through weaker rows (民一2842号,
人名用漢字表 異体字 …) would never meet, and it costs a Python call per name.  The blocking key
is built from ``compare``'s own relation instead:

* a name is folded the way ``compare`` folds it (spaces and invisible characters removed,
  NFKC per code point, voiced kana split, same JIS code), one character per compared position;
* every folded character is replaced by the representative of its class, where the classes are
  the connected components of "``compare`` relates these two characters" over the characters
  that occur in the two inputs: a character joins every character it reaches within the
  comparison's two rule hops, and its other script (さ/サ).  Two positions that ``compare``
  relates reach a common character, so they fall into one class: names that ``compare`` grades
  ``identical``, ``same-characters`` or ``variant`` have equal blocking keys (a test checks it
  against a brute-force cross product).  A class is a superset of the relation (it is
  transitive, the relation is not), so some pairs that meet are graded ``different`` and
  dropped;
* ● and 〓 stand for one character of any class: they stay ``●`` in the key.

A masked name cannot meet its partner on equality alone, since ``●`` hides the class.  For
each mask pattern (length, masked positions) that occurs on one side, the other side's keys of
that length are *projected*: their characters at those positions become ``●`` too, and the
masked rows join the projected rows.  A pattern that masks more than half of the positions is
never joined with unmasked rows (``compare`` grades such pairs ``different``).  Two masked
names meet when their keys agree outside the union of both patterns.  So the join finds
exactly the pairs that a cross product graded by ``compare`` would keep, and the cost grows
with the rows times the distinct mask patterns of one length (a few dozen in practice), never
with the product of the two sides.

Grading: Python decides once per distinct pair
----------------------------------------------
A pair of equal names without a mask is ``identical``, and a pair equal once spaces are removed
whose characters all fold on their own (kanji, kana, ●) is ``same-characters``: both are
decided in polars.  Every other distinct name pair, and every distinct pair of readings that
are not equal, goes through :func:`mojinorm.compare` / :func:`mojinorm.compare_kana` once.
The explanation (``why``) lists each compared position that is not plainly equal as
``a/b rule`` (``●/髙 mask``, ``髙/高 jis-unification``), and characters removed before
comparing other than spaces (``<U+200B>/∅ invisible-removed``); spaces never tell names apart
and are not listed.

Importing this module does not import polars; the functions do.
"""

from __future__ import annotations

import io
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from . import csvio, records
from .csvio import DecodedStream, InputError, atomic_output, open_input
from .errors import OptionError
from .invisible import classify
from .matching import (
    KATAKANA_OF,
    VOICED_FORMS,
    WILDCARDS,
    compare,
    compare_kana,
    expansion_link,
    explained_positions,
    fold_name,
    position_seeds,
    special_pattern,
    variant_paths,
)
from .records import BLANK, ExactReader, read_layout, resolve_columns
from .units import is_variation_selector

if TYPE_CHECKING:
    import polars as pl

__all__ = [
    "LINE", "STATUSES", "Column", "MatchSummary", "Table", "match_files", "match_frames",
    "read_table",
]

#: The column of the line numbers in a frame :func:`read_table` gives: a name no header can
#: have (a file may well have a column called "line").
LINE = "\x00line"

#: A column of both inputs: one name for both, or ``(left, right)``.
Column = str | tuple[str, str]

#: Values of the ``status`` column, in output order.
STATUSES: tuple[str, ...] = ("pair", "left-only", "right-only")

_MASK = "●"
_SPACES = "[ \u3000]"  # the spaces compare's plain path removes; any other goes through Python


# =========================================================================== reading


@dataclass
class Table:
    """The columns of one input file that a match reads."""

    frame: pl.DataFrame  #: :data:`LINE` (1-based line where the record starts) + the columns
    file: str
    encoding: str
    notes: list[str] = field(default_factory=list)
    #: requested column -> its label in ``frame`` (the header name, also for a column number)
    labels: dict[str, str] = field(default_factory=dict)


def read_table(path: str | Path, columns: Sequence[str], *, encoding: str = "auto",
               delimiter: str | None = None, header: bool | None = None) -> Table:
    """Read ``columns`` (header names or 1-based numbers) of a CSV/TSV file into a polars frame.

    The file is read by the scanner's readers (:mod:`mojinorm.records`): encoding detection
    (UTF-8 with or without BOM, CP932, UTF-16/32 with a BOM), CRLF, CR-only line ends, quoted
    fields spanning lines.  Blank lines are no rows; a ragged row lacks the fields it does not
    have (null).  Frame columns are named as requested; :data:`LINE` is the physical line where
    the record starts.  Bad input is an :class:`InputError` naming the file and line.
    """
    import polars as pl

    inp = open_input(str(path))
    try:
        size = csvio.CHUNK_SIZE * (records.FAST_CHUNKS if records.FAST_PATH else 1)
        stream = DecodedStream(inp, encoding, size=size)
        stream.prepare()
        wanted = list(dict.fromkeys(str(c) for c in columns))
        layout, resumed = read_layout(stream, delimiter, header, wanted)
        index = {c: resolve_columns([c], layout.names, layout.raw_names)[0] for c in wanted}
        sel = tuple(dict.fromkeys(index.values()))
        if layout.delimiter is None and sel not in ((), (0,)):
            raise InputError("plain text has one column", name=inp.name)
        inner = [f"c{i}" for i in sel]
        parts: list[pl.DataFrame] = []
        lines: list[int] = []
        values: list[list[str | None]] = [[] for _ in sel]
        reader = ExactReader(layout, stream.eol or b"\n", inp.name, raw=False)
        fast = records.FAST_PATH and not stream.cr
        pos = layout.data_pos
        for chunk in resumed:
            rest = records.has_records(chunk, pos)
            if fast and not reader.pending and rest:
                raw = records.utf8_from(chunk, pos, stream.codec)
                batch = records.plain_batch(raw, layout.delimiter, layout.ncols,
                                            sel if layout.delimiter is not None else (0,),
                                            layout.trailing)
                if batch is not None:
                    records.count_lines(chunk, pos, batch)
                    first = records.line_at(chunk, pos)
                    frame = batch.values
                    parts.append(frame.rename(dict(zip(frame.columns, inner, strict=True)))
                                 .with_columns(pl.int_range(first, first + frame.height,
                                                            dtype=pl.Int64).alias(LINE)))
                    rest = False
            if rest or reader.pending:
                for rec in reader.read(chunk, pos):
                    if rec.kind == BLANK:
                        continue
                    lines.append(rec.line)
                    nv = len(rec.values)
                    for j, ci in enumerate(sel):
                        values[j].append(rec.values[ci] if ci < nv else None)
            pos = 0
        reader.finish()
        inp.check_unchanged()
        if lines or not parts:
            parts.append(pl.DataFrame(
                {LINE: pl.Series(lines, dtype=pl.Int64),
                 **{lab: pl.Series(v, dtype=pl.String) for lab, v in zip(inner, values,
                                                                         strict=True)}}))
        frame = pl.concat([p.select(LINE, *inner) for p in parts], how="vertical")
        labels = {c: layout.names[index[c]] for c in wanted}
        frame = frame.sort(LINE).select(
            LINE, *(pl.col(f"c{i}").alias(layout.names[i]) for i in sel))
        notes = [n for n in records.file_notes(layout, resumed) if "appears" not in n]
        notes.extend(n for n in stream.notes if n not in notes)
        return Table(frame, inp.name, stream.encoding, notes, labels)
    finally:
        inp.close()


# =========================================================================== blocking keys


def _simple(c: str) -> bool:
    """True when ``c`` folds the same inside any name as on its own, so a name made of such
    characters can be keyed in polars, one character at a time: a printable, NFKC-stable
    starter that composes with no neighbour (no mark, no Hangul jamo, no selector), or a voiced
    kana (split into base and mark), or a mask.  Spaces are removed before."""
    if c in WILDCARDS or c in VOICED_FORMS:
        return True
    if not c.isprintable() or is_variation_selector(c) or classify(c) is not None:
        return False
    cp = ord(c)
    if 0x1100 <= cp <= 0x11FF or 0x3130 <= cp <= 0x318F or 0xA960 <= cp <= 0xA97F or \
            0xD7B0 <= cp <= 0xD7FF:
        return False  # jamo compose with their neighbours
    if unicodedata.category(c)[0] == "M" or not unicodedata.is_normalized("NFKC", c):
        return False
    return special_pattern().search(c) is None and expansion_link(c) is None


class _Classes:
    """Union-find over characters: a character joins every character ``compare`` may relate
    it to (see the module docstring); ``rep`` is the class's smallest single code point."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}
        self.seen: set[str] = set()
        self._rep: dict[str, str] | None = None

    def _find(self, x: str) -> str:
        parent = self.parent
        root = x
        while parent.get(root, root) != root:
            root = parent[root]
        while x != root:
            parent[x], x = root, parent[x]
        return root

    def _union(self, x: str, y: str) -> None:
        self.parent.setdefault(x, x)
        self.parent.setdefault(y, y)
        rx, ry = self._find(x), self._find(y)
        if rx != ry:
            self.parent[max(rx, ry)] = min(rx, ry)

    def add(self, seeds: Iterable[str]) -> None:
        """Seeds of one compared position (the character, and the unit as written)."""
        first = ""
        for s in seeds:
            if s in WILDCARDS:
                return
            if first:
                self._union(first, s)
            first = first or s
            if s in self.seen:
                continue
            self.seen.add(s)
            for t in variant_paths((s,)):
                self._union(s, t)
            other = KATAKANA_OF.get(s)
            if other is not None:
                self._union(s, other)

    def rep(self, x: str) -> str:
        if x in WILDCARDS:
            return _MASK
        if self._rep is None:
            best: dict[str, str] = {}
            for c in list(self.parent):
                root = self._find(c)
                if len(c) == 1 and c not in WILDCARDS and (root not in best or c < best[root]):
                    best[root] = c
            self._rep = {c: best.get(self._find(c), c) for c in self.parent}
        return self._rep.get(x, x)


def _block_keys(names: pl.Series) -> pl.DataFrame:
    """The blocking key (``key``) and compared length (``n``) of each name, in order."""
    import polars as pl

    from .column import rust_class

    stripped = names.str.replace_all(_SPACES, "")
    chars = stripped.str.split("").explode().drop_nulls().unique().to_list()
    simple = [c for c in chars if c and _simple(c)]
    others = [c for c in chars if c and not _simple(c)]
    classes = _Classes()
    folded = {c: fold_name(c).key for c in simple}
    for f in folded.values():
        for x in f:
            classes.add((x,))
    slow: dict[str, list[str]] = {}
    has_other = None
    if others:
        has_other = stripped.str.contains(f"[{rust_class(others)}]")
        for name in names.filter(has_other).unique().to_list():
            positions, _ = explained_positions(fold_name(name))
            for p in positions:
                classes.add(position_seeds(p))
            slow[name] = [p.char for p in positions]
    mapping = {c: "".join(classes.rep(x) for x in f) for c, f in folded.items()}
    mapping = {c: k for c, k in mapping.items() if k != c}
    keys = stripped.str.replace_many(list(mapping), list(mapping.values())) if mapping \
        else stripped
    if has_other is not None:
        slow_keys = {name: "".join(classes.rep(x) for x in pos) for name, pos in slow.items()}
        keys = pl.select(pl.when(has_other).then(
            names.replace_strict(slow_keys, default=None, return_dtype=pl.String))
            .otherwise(keys)).to_series()
    return pl.DataFrame({"key": keys}).with_columns(n=pl.col("key").str.len_chars())


def _pattern(key: str) -> str:
    """The masked positions of a key, as ``"0,3"``."""
    return ",".join(str(i) for i, c in enumerate(key) if c == _MASK)


def _positions(pattern: str) -> tuple[int, ...]:
    return tuple(int(p) for p in pattern.split(",")) if pattern else ()


def _project(positions: Iterable[int], column: str = "key") -> pl.Expr:
    """``column`` with the characters at ``positions`` replaced by ●."""
    import polars as pl

    parts: list[pl.Expr] = []
    prev = 0
    for i in sorted(set(positions)):
        parts += [pl.col(column).str.slice(prev, i - prev), pl.lit(_MASK)]
        prev = i + 1
    parts.append(pl.col(column).str.slice(prev))
    return pl.concat_str(parts)


def _project_text(key: str, positions: Iterable[int]) -> str:
    chars = list(key)
    for i in positions:
        chars[i] = _MASK
    return "".join(chars)


def _candidates(left: pl.DataFrame, right: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """``(l, r, a, b)``: row pairs that meet (equal exact keys and blocking keys, masks
    projected) and their names.

    ``left``/``right`` hold ``row``, ``name``, the exact key columns ``keys``, ``key``, ``n``,
    ``pattern``.
    """
    import polars as pl

    on = [*keys, "key"]
    lu, lm = left.filter(pl.col("pattern") == ""), left.filter(pl.col("pattern") != "")
    ru, rm = right.filter(pl.col("pattern") == ""), right.filter(pl.col("pattern") != "")
    found = [lu.select("row", "name", *on).join(ru.select("row", "name", *on), on=on,
                                                 suffix="_r")
             .select(l="row", r="row_r", a="name", b="name_r")]
    # a masked row against the unmasked rows of the other side, projected on its pattern
    for masked, plain, swap in ((lm, ru, False), (rm, lu, True)):
        if masked.is_empty() or plain.is_empty():
            continue
        by_n = {n: part for (n,), part in plain.partition_by("n", as_dict=True).items()}
        for (n, pattern), group in masked.partition_by(["n", "pattern"], as_dict=True).items():
            positions = _positions(str(pattern))
            other = by_n.get(n)
            if other is None or len(positions) * 2 > int(n):
                continue  # compare: masks for more than half of the characters never match
            projected = other.select("row", "name", *keys, key=_project(positions))
            pairs = group.select("row", "name", *on).join(projected, on=on, suffix="_o")
            found.append(pairs.select(l="row_o", r="row", a="name_o", b="name") if swap else
                         pairs.select(l="row", r="row_o", a="name", b="name_o"))
    # masked against masked: keys agree outside the union of both patterns
    if not lm.is_empty() and not rm.is_empty():
        found.append(_masked_pairs(lm, rm, keys))
    return pl.concat(found, how="vertical").unique(["l", "r"])


def _masked_pairs(lm: pl.DataFrame, rm: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    import polars as pl

    def expand(side: pl.DataFrame, other: pl.DataFrame) -> pl.DataFrame:
        """Each distinct (key, pattern) of ``side`` projected on the union with every pattern
        of the same length on ``other``."""
        patterns: dict[int, list[str]] = {}
        for n, pattern in other.select("n", "pattern").unique().iter_rows():
            patterns.setdefault(int(n), []).append(str(pattern))
        rows: list[tuple[str, str, str]] = []
        for key, n, pattern in side.select("key", "n", "pattern").unique().iter_rows():
            mine = _positions(str(pattern))
            for theirs in patterns.get(int(n), ()):
                rows.append((str(key), theirs,
                             _project_text(str(key), mine + _positions(theirs))))
        return pl.DataFrame(rows, schema={"key": pl.String, "theirs": pl.String,
                                          "proj": pl.String}, orient="row")

    le = expand(lm, rm).join(lm.select("row", "name", "key", "pattern", *keys), on="key")
    re_ = expand(rm, lm).join(rm.select("row", "name", "key", "pattern", *keys), on="key")
    # left's "theirs" is right's pattern and the reverse
    pairs = le.join(re_, left_on=["proj", "theirs", "pattern", *keys],
                    right_on=["proj", "pattern", "theirs", *keys], suffix="_r")
    return pairs.select(l="row", r="row_r", a="name", b="name_r")


# =========================================================================== grading


def _why(steps: Iterable[object]) -> str:
    from .matching import MatchStep

    out: list[str] = []
    for s in steps:
        assert isinstance(s, MatchStep)
        if s.position is None and s.rule == "space-removed":
            continue
        a = _shown(s.a) if s.a else "∅"
        b = _shown(s.b) if s.b else "∅"
        out.append(f"{a}/{b} {s.rule}")
    return "; ".join(out)


def _shown(text: str) -> str:
    return "".join(f"<U+{ord(c):04X}>" if classify(c) or not c.isprintable() else c
                   for c in text)


def _grade_names(pairs: pl.DataFrame) -> pl.DataFrame:
    """Distinct ``(a, b)`` name pairs -> ``grade``, ``why``, ``reason``."""
    import polars as pl

    rows = [_name_row(a, b) for a, b in pairs.iter_rows()]
    return pl.DataFrame(rows, schema={"a": pl.String, "b": pl.String, "grade": pl.String,
                                      "why": pl.String, "reason": pl.String}, orient="row")


def _name_row(a: str, b: str) -> tuple[str, str, str, str, str]:
    quick = _quick_masked(a, b)
    if quick is not None:
        return a, b, "masked", quick, ""
    m = compare(a, b)
    return a, b, m.grade, _why(m.steps) if m.grade != "different" else "", m.reason


#: Kanji of the unified blocks, the iteration marks and the masks: one compared position each,
#: as written (``_quick_masked`` also checks the fold's special characters).
_KANJI_MASKS = re.compile(
    "[\u3005-\u3007\u3400-\u4dbf\u4e00-\u9fff\U00020000-\U0002ebef\U00030000-\U0003134f"
    "\u25cf\u3013]*")


def _quick_masked(a: str, b: str) -> str | None:
    """``compare``'s explanation of two kanji names equal but for masks (the common ● pair),
    without building its steps; None when ``compare`` must decide."""
    sa = a.replace(" ", "").replace("\u3000", "")
    sb = b.replace(" ", "").replace("\u3000", "")
    n = len(sa)
    if n != len(sb) or not _KANJI_MASKS.fullmatch(sa) or not _KANJI_MASKS.fullmatch(sb) or \
            special_pattern().search(sa) or special_pattern().search(sb):
        return None
    steps = []
    for x, y in zip(sa, sb, strict=True):
        if x == y:
            continue
        if x not in WILDCARDS and y not in WILDCARDS:
            return None
        steps.append(f"{x}/{y} mask")
    if not steps or len(steps) * 2 > n:
        return None
    return "; ".join(steps)


def _grade_kana(pairs: pl.DataFrame) -> pl.DataFrame:
    import polars as pl

    rows = []
    for a, b in pairs.iter_rows():
        m = compare_kana(a, b)
        rows.append((a, b, m.grade, _why(m.steps)))
    return pl.DataFrame(rows, schema={"ka": pl.String, "kb": pl.String, "kana_grade": pl.String,
                                      "kana_why": pl.String}, orient="row")


# =========================================================================== match_frames


def _sides(spec: Column) -> tuple[str, str]:
    return (spec, spec) if isinstance(spec, str) else (str(spec[0]), str(spec[1]))


def _check_columns(frame: pl.DataFrame, wanted: Iterable[str], side: str) -> None:
    for c in wanted:
        if c not in frame.columns:
            have = ", ".join(repr(x) for x in frame.columns if x != LINE) or "none"
            raise OptionError(f"{side}: no column {c!r}; it has columns: {have}")


def match_frames(left: pl.DataFrame, right: pl.DataFrame, *, name: Column,
                 kana: Column | None = None, keys: Sequence[Column] = (),
                 ids: Sequence[Column] = ()) -> pl.DataFrame:
    """Pair the rows of ``left`` and ``right``; one output row per pair and per unpaired row.

    Column arguments name a column of both frames, or ``(left, right)``.  Rows pair when every
    ``keys`` column is equal (exactly; an empty or null key never pairs) and
    :func:`mojinorm.compare` grades the names anything but ``different`` (an empty name never
    pairs).  A row may pair with several rows of the other side (1:n).  A :data:`LINE` column
    (what :func:`read_table` gives), when present, numbers the rows (else 1, 2, 3 …).

    Output columns, in order: ``status`` (``pair``, ``left-only``, ``right-only``),
    ``left_line``, ``right_line``, ``left_<id>``/``right_<id>`` for each ``ids`` column, one
    column per key (named as on the left, the value of the side that has it),
    ``left_<name>``, ``right_<name>``, ``grade`` (:data:`mojinorm.GRADES` but ``different``),
    ``why`` (what made the names equal; for an unpaired row, the candidates graded
    ``different``), and with ``kana``: ``left_<kana>``, ``right_<kana>``, ``kana_grade``
    (:data:`mojinorm.KANA_GRADES`), ``kana_why``.  Pairs come first, by left then right line,
    then left-only rows, then right-only rows.
    """
    import polars as pl

    name_l, name_r = _sides(name)
    key_specs = [_sides(k) for k in keys]
    id_specs = [_sides(i) for i in ids]
    kana_lr = _sides(kana) if kana is not None else None
    want_l = [name_l, *(k[0] for k in key_specs), *(i[0] for i in id_specs),
              *([kana_lr[0]] if kana_lr else [])]
    want_r = [name_r, *(k[1] for k in key_specs), *(i[1] for i in id_specs),
              *([kana_lr[1]] if kana_lr else [])]
    _check_columns(left, want_l, "left")
    _check_columns(right, want_r, "right")
    key_cols = [f"k{i}" for i in range(len(key_specs))]

    def prepare(frame: pl.DataFrame, side: int) -> pl.DataFrame:
        cols = [pl.int_range(0, pl.len(), dtype=pl.Int64).alias("row"),
                pl.col(LINE).cast(pl.Int64).alias("line"),
                pl.col((name_l, name_r)[side]).cast(pl.String).fill_null("").alias("name"),
                *(pl.col(k[side]).cast(pl.String).alias(c) for k, c in zip(key_specs, key_cols,
                                                                             strict=True))]
        if kana_lr is not None:
            cols.append(pl.col(kana_lr[side]).cast(pl.String).alias("kana"))
        out = frame.select(cols)
        usable = pl.col("name").str.replace_all(_SPACES, "") != ""
        for c in key_cols:
            usable = usable & pl.col(c).is_not_null() & (pl.col(c) != "")
        return out.with_columns(usable=usable)

    # rows numbered from 1 when a frame has no line column
    left, right = (f if LINE in f.columns else
                   f.with_columns(pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias(LINE))
                   for f in (left, right))
    lf, rf = prepare(left, 0), prepare(right, 1)
    lu, ru = lf.filter("usable"), rf.filter("usable")
    blocks = _block_keys(pl.concat([lu["name"], ru["name"]]))
    masked = blocks.filter(pl.col("key").str.contains(_MASK, literal=True))["key"].unique()
    patterns = dict(zip(masked.to_list(), (_pattern(k) for k in masked.to_list()),
                        strict=True))
    blocks = blocks.with_columns(pattern=pl.col("key").replace_strict(
        patterns, default="", return_dtype=pl.String))
    lb = pl.concat([lu, blocks.slice(0, lu.height)], how="horizontal")
    rb = pl.concat([ru, blocks.slice(lu.height)], how="horizontal")
    cand = _candidates(lb, rb, key_cols)

    # grade: names equal without a mask, or equal without spaces and keyed in polars; the
    # string work runs on the pairs that are not equal only (a minority)
    masks = f"[{_MASK}〓]"
    equal = (pl.col("a") == pl.col("b")) & ~pl.col("a").str.contains(masks)
    same = cand.filter(equal).with_columns(grade=pl.lit("identical"), why=pl.lit(""))
    rest = cand.filter(~equal)
    strip_a = pl.col("a").str.replace_all(_SPACES, "")
    strip_b = pl.col("b").str.replace_all(_SPACES, "")
    spaces = (strip_a == strip_b) & ~pl.col("a").str.contains(masks) & _all_simple(strip_a)
    spaced = rest.filter(spaces).with_columns(grade=pl.lit("same-characters"), why=pl.lit(""))
    rest = rest.filter(~spaces)
    graded = _grade_names(rest.select("a", "b").unique())
    rest = rest.join(graded, on=["a", "b"], how="left").select(*same.columns, "reason")
    cand = pl.concat([same.with_columns(reason=pl.lit("")),
                      spaced.with_columns(reason=pl.lit("")), rest], how="vertical")
    rejected = cand.filter(pl.col("grade") == "different")
    pairs = cand.filter(pl.col("grade") != "different").select("l", "r", "grade", "why")

    if kana_lr is not None:
        pairs = pairs.join(lf.select(l="row", ka="kana"), on="l") \
            .join(rf.select(r="row", kb="kana"), on="r")
        # equal, or equal as full-width katakana without spaces (same-reading): decided in
        # polars, on the pairs whose readings differ only
        known = pl.col("ka").is_null() | pl.col("kb").is_null() | (pl.col("ka") == pl.col("kb"))
        done = pairs.filter(known).with_columns(
            kana_grade=pl.when(pl.col("ka") == pl.col("kb")).then(pl.lit("identical")),
            kana_why=pl.lit(""))
        rest = pairs.filter(~known)
        wide_a, wide_b = _full_katakana(pl.col("ka")), _full_katakana(pl.col("kb"))
        wide = (wide_a == wide_b) & wide_a.str.contains("^[\u30a1-\u30fa\u30fc]+$")
        widened = rest.filter(wide).with_columns(kana_grade=pl.lit("same-reading"),
                                                 kana_why=pl.lit(""))
        rest = rest.filter(~wide)
        kg = _grade_kana(rest.select("ka", "kb").unique())
        rest = rest.join(kg, on=["ka", "kb"], how="left")
        pairs = pl.concat([done, widened, rest.select(done.columns)], how="vertical") \
            .drop("ka", "kb")

    return _assemble(left, right, lf, rf, pairs, rejected, name_l, name_r, key_specs, key_cols,
                     id_specs, kana_lr)


def _build_half_width() -> tuple[dict[str, str], dict[str, str]]:
    """Half-width katakana -> full-width (NFKC): voiced pairs (ｶﾞ), then single characters."""
    pairs: dict[str, str] = {}
    singles: dict[str, str] = {}
    for cp in range(0xFF66, 0xFF9E):
        c = chr(cp)
        singles[c] = unicodedata.normalize("NFKC", c)
        for mark in "\uff9e\uff9f":
            composed = unicodedata.normalize("NFKC", c + mark)
            if len(composed) == 1:
                pairs[c + mark] = composed
    return pairs, singles


_HALF_PAIRS, _HALF_SINGLES = _build_half_width()


def _full_katakana(expr: pl.Expr) -> pl.Expr:
    """Readings with half-width katakana made full-width and spaces removed.  Two readings
    equal this way, made of katakana and ー only, are what ``compare_kana`` grades
    ``same-reading`` (its key is ``normalize_kana`` without spaces; a test checks it)."""
    # polars takes the first pattern that matches, not the longest: pairs in a pass of their own
    return expr.str.replace_many(list(_HALF_PAIRS), list(_HALF_PAIRS.values())) \
        .str.replace_many(list(_HALF_SINGLES), list(_HALF_SINGLES.values())) \
        .str.replace_all(_SPACES, "")


def _all_simple(expr: pl.Expr) -> pl.Expr:
    """True where every character is one :func:`_simple` is sure of without looking: kanji of
    the unified blocks, kana without voiced marks, the iteration marks, ●."""
    return expr.str.contains(
        "^[\u3005-\u3007\u3041-\u3096\u30a1-\u30fa\u30fc\u3400-\u4dbf\u4e00-\u9fff"
        "\U00020000-\U0002ebef\U00030000-\U0003134f]*$")


def _assemble(left: pl.DataFrame, right: pl.DataFrame, lf: pl.DataFrame, rf: pl.DataFrame,
              pairs: pl.DataFrame, rejected: pl.DataFrame, name_l: str, name_r: str,
              key_specs: list[tuple[str, str]], key_cols: list[str],
              id_specs: list[tuple[str, str]], kana_lr: tuple[str, str] | None,
              ) -> pl.DataFrame:
    import polars as pl

    kana_cols = ["kana_grade", "kana_why"] if kana_lr is not None else []
    paired_l = pairs.select(row=pl.col("l")).unique()
    paired_r = pairs.select(row=pl.col("r")).unique()

    def unpaired(frame: pl.DataFrame, paired: pl.DataFrame, side: str,
                 other: pl.DataFrame) -> pl.DataFrame:
        mine, theirs = ("l", "r") if side == "l" else ("r", "l")
        lines = rejected.join(other.select(pl.col("row").alias(theirs), "line"), on=theirs) \
            .sort("line").group_by(mine, maintain_order=True).agg(
                why=pl.format("line {}: {}", "line", "reason").head(3).str.join("; "))
        out = frame.join(paired, on="row", how="anti").join(
            lines.rename({mine: "row"}), on="row", how="left")
        out = out.with_columns(
            why=pl.when(~pl.col("usable"))
            .then(pl.lit("not paired: empty name or key"))
            .when(pl.col("why").is_not_null())
            .then(pl.concat_str(pl.lit("candidates graded different: "), pl.col("why")))
            .otherwise(pl.lit("")))
        return out.select(pl.col("row").alias(mine), "why")

    lo = unpaired(lf, paired_l, "l", rf).with_columns(
        status=pl.lit("left-only"), r=pl.lit(None, pl.Int64), grade=pl.lit(None, pl.String),
        **{c: pl.lit(None, pl.String) for c in kana_cols})
    ro = unpaired(rf, paired_r, "r", lf).with_columns(
        status=pl.lit("right-only"), l=pl.lit(None, pl.Int64), grade=pl.lit(None, pl.String),
        **{c: pl.lit(None, pl.String) for c in kana_cols})
    order = ["status", "l", "r", "grade", "why", *kana_cols]
    every = pl.concat([pairs.with_columns(status=pl.lit("pair")).select(order), lo.select(order),
                       ro.select(order)], how="vertical")

    lcols = [pl.col(LINE).alias("left_line")]
    rcols = [pl.col(LINE).alias("right_line")]
    names: list[str] = ["status", "left_line", "right_line"]

    def add(lname: str | None, rname: str | None, lsrc: str, rsrc: str) -> None:
        if lname is not None and lname not in names:
            lcols.append(pl.col(lsrc).cast(pl.String).alias(lname))
            names.append(lname)
        if rname is not None and rname not in names:
            rcols.append(pl.col(rsrc).cast(pl.String).alias(rname))
            names.append(rname)

    for il, ir in id_specs:
        add(f"left_{il}", f"right_{ir}", il, ir)
    key_out: list[str] = []
    for (kl, kr), c in zip(key_specs, key_cols, strict=True):
        out_name = kl if kl not in names else f"key_{kl}"
        lcols.append(pl.col(kl).cast(pl.String).alias(f"_l{c}"))
        rcols.append(pl.col(kr).cast(pl.String).alias(f"_r{c}"))
        key_out.append(out_name)
        names.append(out_name)
    add(f"left_{name_l}", f"right_{name_r}", name_l, name_r)
    name_cols = (f"left_{name_l}", f"right_{name_r}")
    if kana_lr is not None:
        add(f"left_{kana_lr[0]}", f"right_{kana_lr[1]}", kana_lr[0], kana_lr[1])
    # row numbers made inside select: a user column may be called "l" or "r"
    lsel = left.select(pl.int_range(0, pl.len(), dtype=pl.Int64).alias("l"), *lcols)
    rsel = right.select(pl.int_range(0, pl.len(), dtype=pl.Int64).alias("r"), *rcols)
    out = every.join(lsel, on="l", how="left").join(rsel, on="r", how="left")
    rank = pl.col("status").replace_strict(
        {s: i for i, s in enumerate(STATUSES)}, return_dtype=pl.Int8)
    out = out.with_columns(
        **{k: pl.coalesce(f"_l{c}", f"_r{c}") for k, c in zip(key_out, key_cols, strict=True)})
    out = out.sort([rank, "left_line", "right_line"], nulls_last=True)
    tail = ["grade", "why"]
    kana_out = [f"left_{kana_lr[0]}", f"right_{kana_lr[1]}", "kana_grade", "kana_why"] \
        if kana_lr is not None else []
    head = [n for n in names if n not in (*name_cols, *kana_out[:2])]
    return out.select(*head, *name_cols, *tail, *kana_out)



# =========================================================================== files


@dataclass
class MatchSummary:
    """What :func:`match_files` wrote."""

    output: str
    left: str
    right: str
    left_encoding: str
    right_encoding: str
    left_rows: int
    right_rows: int
    pairs: int
    grades: dict[str, int]  #: pairs per grade
    kana_grades: dict[str, int]  #: pairs per reading grade (with a reading column)
    left_only: int
    right_only: int
    notes: list[str] = field(default_factory=list)


def match_files(left: str | Path, right: str | Path, output: str, *, name: Column,
                kana: Column | None = None, keys: Sequence[Column] = (),
                ids: Sequence[Column] = (), encoding: str = "auto",
                delimiter: str | None = None, header: bool | None = None, bom: bool = False,
                overwrite: bool = False) -> MatchSummary:
    """Read two CSV/TSV files, pair their rows (:func:`match_frames`) and write the result as a
    UTF-8 CSV to ``output`` (``"-"``: stdout; ``bom``: with a byte-order mark, for Excel).

    The output is written to a temp file and renamed when complete; it may not be one of the
    inputs unless ``overwrite``.  Bad input (missing file or column, undecodable bytes, an
    unclosed quote) raises an :class:`InputError` or :class:`OptionError` before anything is
    written.
    """
    import polars as pl

    from .rewrite import same_file

    if str(left) == "-" and str(right) == "-":
        raise OptionError("only one input can be standard input")
    for src in (left, right):
        if str(src) != "-" and output != "-" and not overwrite and same_file(str(src), output):
            raise OptionError(f"{output}: is an input file; give another output or pass "
                              "--overwrite")
    tables = []
    for path, index in ((left, 0), (right, 1)):
        cols = [_sides(name)[index], *(_sides(k)[index] for k in keys),
                *(_sides(i)[index] for i in ids)]
        if kana is not None:
            cols.append(_sides(kana)[index])
        tables.append(read_table(path, cols, encoding=encoding, delimiter=delimiter,
                                 header=header))
    lt, rt = tables

    def label(spec: Column) -> tuple[str, str]:
        left_col, right_col = _sides(spec)
        return lt.labels[left_col], rt.labels[right_col]

    result = match_frames(lt.frame, rt.frame, name=label(name),
                          kana=label(kana) if kana is not None else None,
                          keys=[label(k) for k in keys], ids=[label(i) for i in ids])
    buf = io.BytesIO()
    if bom:
        buf.write(csvio.BOM)
    # an empty value is written as an empty field, not as "" (what polars writes for it)
    result.with_columns(pl.col(pl.String).replace("", None)).write_csv(buf)
    with atomic_output(output, overwrite=overwrite) as f:
        f.write(buf.getvalue())
    status = result["status"]
    pairs = result.filter(status == "pair")
    summary = MatchSummary(
        output=output, left=lt.file, right=rt.file, left_encoding=lt.encoding,
        right_encoding=rt.encoding, left_rows=lt.frame.height, right_rows=rt.frame.height,
        pairs=pairs.height, grades=_counts(pairs["grade"].to_list()),
        kana_grades=_counts(pairs["kana_grade"].to_list()) if kana is not None else {},
        left_only=int((status == "left-only").sum()),
        right_only=int((status == "right-only").sum()),
        notes=[f"{t.file}: {n}" for t in tables for n in t.notes],
    )
    return summary


def _counts(values: Iterable[str | None]) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        if v is not None:
            out[v] = out.get(v, 0) + 1
    return out
