"""Target profiles: which characters render in a receiving system.

A target is a set of single code points plus a set of multi-code-point units (IVS, JIS X 0213's
composed kana).  Built-in targets come from the compiled tables; custom ones from a YAML profile::

    name: server-2026
    description: JIS X 0208 plus the extended kanji our eligibility server accepts
    base: jisx0208
    add: [髙, 﨑, "U+5FB7", "U+E000..U+E00F"]
    remove: ["〓"]

Each target compiles one ``re`` negated character class (the guard) so a clean name is checked in
a single C-level scan; only names that hit the guard are walked unit by unit.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from itertools import chain
from typing import TYPE_CHECKING

from . import _tables
from .errors import TargetError
from .units import iter_units, unit_pattern

if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "Target", "TargetError", "UnsafeUnit", "get_target", "load_profile", "targets",
    "BUILTIN_TARGETS",
]

#: Built-in targets and what they model.
BUILTIN_TARGETS: dict[str, str] = {
    "jisx0208": "JIS X 0201 + JIS X 0208 (Shift_JIS): ORCA on-premises, insurers' JIS level 1/2 "
                "policy",
    "jisx0208-1983": "JIS X 0201 + JIS X 0208-1983: electronic claims (レセ電, 記録条件仕様); "
                     "JIS X 0208 without 凜 and 熙 (added in 1990)",
    "cp932": "Windows-31J / CP932 minus private use: 0208 plus IBM/NEC extended kanji (髙 﨑)",
    "jisx0213": "JIS X 0213:2004 (Shift_JIS-2004) incl. its composed kana: ORCA cloud name field",
    "mj": "MJ文字情報基盤 (stand-in for 行政事務標準文字): every MJ code point and Moji_Joho IVS",
}

_PROFILE_KEYS = {"name", "description", "base", "add", "remove", "fallback"}

#: Names people write for the built-in targets (compared case-insensitively, with "_" and
#: spaces read as "-"): the codec names of the character sets.
TARGET_ALIASES: dict[str, str] = {
    "sjis": "jisx0208", "shift-jis": "jisx0208", "shiftjis": "jisx0208", "jis-x-0208": "jisx0208",
    "jisx-0208": "jisx0208", "jis-x-0208-1983": "jisx0208-1983",
    "ms932": "cp932", "windows-31j": "cp932", "sjis-win": "cp932", "cp-932": "cp932",
    "shift-jis-2004": "jisx0213", "shiftjis2004": "jisx0213", "sjis-2004": "jisx0213",
    "jis-x-0213": "jisx0213", "jisx-0213": "jisx0213",
}


@dataclass(frozen=True, eq=False)
class Target:
    """A character set that renders: single code points and multi-code-point units."""

    name: str
    description: str
    chars: frozenset[str]
    sequences: frozenset[str] = field(default_factory=frozenset)
    base: str | None = None
    source: str = "built-in"
    #: the fallback a profile names (used when a caller gives none); None for built-ins
    fallback: str | None = None

    def __contains__(self, unit: object) -> bool:
        return unit in self.chars or unit in self.sequences

    def __len__(self) -> int:
        return len(self.chars) + len(self.sequences)

    def __repr__(self) -> str:
        return f"<Target {self.name}: {len(self.chars)} code points, {len(self.sequences)} seq>"

    @cached_property
    def char_class(self) -> str:
        """``re`` character-class body (without brackets) of the single code points."""
        return char_class(self.chars)

    @cached_property
    def guard(self) -> re.Pattern[str]:
        """Finds the first code point outside the target's single code points."""
        return re.compile(f"[^{self.char_class}]")

    @cached_property
    def visible_chars(self) -> frozenset[str]:
        """The target's code points minus the invisible ones (TAB, NUL …) a name never keeps."""
        from .invisible import invisible_among

        return self.chars - invisible_among(self.chars)

    @cached_property
    def visible_runs(self) -> list[tuple[int, int]]:
        """:attr:`visible_chars` as runs of code points (:func:`code_point_runs`): the ``re``
        and the polars patterns are both written from them."""
        return code_point_runs(self.visible_chars)

    @cached_property
    def visible_class(self) -> str:
        """``re`` character-class body of :attr:`visible_chars`."""
        return runs_class(self.visible_runs)

    @cached_property
    def visible_guard(self) -> re.Pattern[str]:
        """Finds the first code point a normalizer must look at (outside, or invisible)."""
        return re.compile(f"[^{self.visible_class}]")

    @cached_property
    def unit_pattern(self) -> re.Pattern[str]:
        """Finds the units of a text a normalizer looks at: every unit of ``iter_units`` but a
        lone visible code point, at its index (:func:`mojinorm.units.unit_pattern`)."""
        return unit_pattern(self.visible_class, self.sequences)

    def is_safe(self, text: str) -> bool:
        """True when every unit of ``text`` is in the target (renders; invisibles included).

        Stops at the first unit outside: a long text costs no more than the scan up to it."""
        if self.guard.search(text) is None:
            return True
        # the units the pattern passes over are visible code points, all in the target
        return all(m.group() in self for m in self.unit_pattern.finditer(text))

    def unsafe_units(self, text: str) -> list[tuple[int, str]]:
        """``(index, unit)`` of every unit outside the target (membership only)."""
        if self.guard.search(text) is None:
            return []
        return [(m.start(), m.group()) for m in self.unit_pattern.finditer(text)
                if m.group() not in self]

    def iter_unclean(self, text: str) -> Iterator[tuple[int, str]]:
        """``(index, unit)`` of each unit a normalizer would change, lazily, left to right."""
        if self.visible_guard.search(text) is None:
            return
        visible = self.visible_chars
        seqs = self.sequences
        for m in self.unit_pattern.finditer(text):
            u = m.group()
            if u not in visible and u not in seqs:
                yield m.start(), u

    def is_clean(self, text: str) -> bool:
        """True when a normalizer leaves ``text`` as it is: every unit renders and is visible.

        Stops at the first unit that needs a change, so a long text costs no more than the scan
        up to it.
        """
        if self.visible_guard.search(text) is None:  # most names: one search, no generator
            return True
        return next(self.iter_unclean(text), None) is None

    def unclean_units(self, text: str) -> list[UnsafeUnit]:
        """Every unit a normalizer would change, with its category (see :class:`UnsafeUnit`)."""
        return [UnsafeUnit(i, u, _category(u)) for i, u in self.iter_unclean(text)]


class UnsafeUnit(tuple[int, str]):
    """``(index, unit)`` with the reason a normalizer changes it in :attr:`category`:
    ``"invisible"`` (removed), ``"space"`` (an odd space), ``"private-use"`` (gaiji) or
    ``"outside"`` (not in the target).  Compares equal to the plain pair."""

    category: str

    def __new__(cls, index: int, unit: str, category: str) -> UnsafeUnit:
        self = super().__new__(cls, (index, unit))
        self.category = category
        return self

    def __repr__(self) -> str:
        return f"UnsafeUnit({self[0]!r}, {self[1]!r}, {self.category!r})"


def _category(unit: str) -> str:
    from .invisible import REMOVE, classify

    kind = classify(unit[0])
    if kind is not None:
        return "invisible" if kind == REMOVE else "space"
    cp = ord(unit[0])
    if 0xE000 <= cp <= 0xF8FF or cp >= 0xF0000:
        return "private-use"
    return "outside"


def char_class(chars: frozenset[str] | set[str]) -> str:
    """Render a set of single code points as a compact ``re`` character-class body.

    Characters are written literally (only backslash, brackets, caret and hyphen are escaped):
    the pattern parser reads a literal about three times faster than a long escape, and a scan
    compiles classes of ~7,000 code points several times per file layout.
    """
    return runs_class(code_point_runs(chars))


def runs_class(runs: Iterable[tuple[int, int]]) -> str:
    """:func:`char_class` of code points given as runs ``(first, last)``."""
    parts = []
    for lo, hi in runs:
        if lo == hi:
            parts.append(_literal(lo))
        elif hi == lo + 1:
            parts.append(_literal(lo) + _literal(hi))
        else:
            parts.append(f"{_literal(lo)}-{_literal(hi)}")
    return "".join(parts)


def code_point_runs(chars: Iterable[str]) -> list[tuple[int, int]]:
    """The code points of ``chars`` as sorted runs ``(first, last)`` of consecutive ones."""
    runs: list[tuple[int, int]] = []
    for cp in sorted({ord(c) for c in chars}):
        if runs and runs[-1][1] == cp - 1:
            runs[-1] = (runs[-1][0], cp)
        else:
            runs.append((cp, cp))
    return runs


def _literal(cp: int) -> str:
    ch = chr(cp)
    return "\\" + ch if ch in "\\]^-[" else ch


_cache: dict[str, Target] = {}
_cache_lock = threading.RLock()  # a profile loads its base target while holding it


def targets() -> list[str]:
    """Names of the built-in targets."""
    return list(BUILTIN_TARGETS)


def _builtin(name: str) -> Target:
    data = _tables.target_data(name)
    chars = frozenset(map(chr, chain.from_iterable(range(lo, hi + 1)
                                                  for lo, hi in data["ranges"])))
    return Target(name, BUILTIN_TARGETS[name], chars, frozenset(data["sequences"]))


def get_target(target: str | Path | Target) -> Target:
    """Resolve a target name, a YAML profile path, or a :class:`Target` (returned as is)."""
    if isinstance(target, Target):
        return target
    key = str(target)
    found = _cache.get(key)
    if found is not None:
        return found
    with _cache_lock:
        found = _cache.get(key)
        if found is None:
            name = builtin_name(key)
            if name is not None:
                found = _cache.get(name) or _builtin(name)
                _cache[name] = found
            elif key.endswith((".yaml", ".yml")) or os.path.isfile(key):
                found = load_profile(key)
            else:
                raise TargetError(
                    f"unknown target {key!r}; valid targets: {', '.join(BUILTIN_TARGETS)} "
                    f"(or the path of a YAML profile)"
                )
            _cache[key] = found
    return found


def builtin_name(name: str) -> str | None:
    """The built-in target ``name`` denotes, as people write it (``CP932``, ``ms932``,
    ``Windows-31J``, ``sjis``, ``Shift_JIS``), or None."""
    key = "-".join(name.strip().lower().replace("_", "-").split())
    if key in BUILTIN_TARGETS:
        return key
    return TARGET_ALIASES.get(key)


def _parse_item(item: str, where: str) -> list[str]:
    """One ``add``/``remove`` entry as written: a character or unit, ``U+XXXX`` or
    ``U+XXXX..U+YYYY``."""
    if not item:
        raise TargetError(f"{where}: entry must be a character, U+XXXX or U+XXXX..U+YYYY")
    text = item.strip()
    m = re.fullmatch(r"[Uu]\+([0-9A-Fa-f]{4,6})(?:\s*\.\.\s*[Uu]\+([0-9A-Fa-f]{4,6}))?", text)
    if m:
        lo = int(m.group(1), 16)
        hi = int(m.group(2), 16) if m.group(2) else lo
        if hi < lo or hi > 0x10FFFF:
            raise TargetError(f"{where}: bad code point range {text!r}")
        return [chr(cp) for cp in range(lo, hi + 1) if not 0xD800 <= cp <= 0xDFFF]
    units = [u for _, u in iter_units(item)]
    if len(units) != 1:
        raise TargetError(f"{where}: {item!r} is not one character; list characters one by one")
    return units


def load_profile(path: str | Path) -> Target:
    """Load a custom target from a YAML profile ``{name, base, add, remove, description}``.

    The file is read by the safe table reader (:mod:`mojinorm._yamlfile`): every value is the
    text written, and an ``add``/``remove`` item that YAML 1.1 would read as a number, a
    boolean, null or a date (``1``, ``yes``, ``~``) is refused: quote it.
    """
    from pathlib import Path

    from ._yamlfile import Mapping, Scalar, Sequence, describe, read_yaml

    p = Path(path)
    root = read_yaml(p, TargetError)
    if not isinstance(root, Mapping):
        line = 1 if root is None else root.line
        raise TargetError(f"{p}:{line}: a target profile is a mapping with name, base, add, "
                          f"remove")
    profile: Mapping = root
    for key, (key_node, _) in profile.items.items():
        if key not in _PROFILE_KEYS:
            raise TargetError(
                f"{p}:{key_node.line}: unknown key {key!r} "
                f"(allowed: {', '.join(sorted(_PROFILE_KEYS))})"
            )

    def text(key: str) -> str:
        """The text of a single-value key, "" when absent."""
        if key not in profile.items:
            return ""
        value = profile.items[key][1]
        if not isinstance(value, Scalar):
            raise TargetError(f"{p}:{value.line}: '{key}' must be a single value, "
                              f"not {describe(value)}")
        return value.text

    name = text("name") or p.stem
    base_name = text("base")
    if not base_name:
        raise TargetError(
            f"{p}:{profile.line}: 'base' is required (one of {', '.join(BUILTIN_TARGETS)})"
        )
    if base_name not in BUILTIN_TARGETS:
        line = profile.items["base"][1].line
        raise TargetError(
            f"{p}:{line}: unknown base {base_name!r}; valid: {', '.join(BUILTIN_TARGETS)}"
        )
    base = get_target(base_name)
    chars = set(base.chars)
    seqs = set(base.sequences)
    for key in ("add", "remove"):
        if key not in profile.items:
            continue
        items = profile.items[key][1]
        if isinstance(items, Scalar) and items.text == "" and items.yaml_type is not None:
            continue  # "add:" with nothing after it
        if not isinstance(items, Sequence):
            raise TargetError(f"{p}:{items.line}: '{key}' must be a list")
        for item in items.items:
            where = f"{p}:{item.line}"
            if not isinstance(item, Scalar):
                raise TargetError(f"{where}: entry must be a character, U+XXXX or "
                                  f"U+XXXX..U+YYYY, not {describe(item)}")
            if item.yaml_type is not None and item.text:
                raise TargetError(f"{where}: {item.text!r} is read by YAML as {item.yaml_type}, "
                                  f"not as text; write the character in quotes")
            for unit in _parse_item(item.text, where):
                bucket = chars if len(unit) == 1 else seqs
                if key == "add":
                    bucket.add(unit)
                else:
                    bucket.discard(unit)
    description = text("description") or f"{base.name} with local additions ({p.name})"
    fallback = text("fallback") or None
    if fallback is not None:
        from .normalizer import FALLBACKS

        units = [u for _, u in iter_units(fallback)]
        if fallback not in FALLBACKS and len(units) != 1:
            line = profile.items["fallback"][1].line
            raise TargetError(f"{p}:{line}: unknown fallback {fallback!r}; use one of "
                              f"{', '.join(FALLBACKS)} or one character")
    return Target(name, description, frozenset(chars), frozenset(seqs),
                  base=base.name, source=str(p), fallback=fallback)
