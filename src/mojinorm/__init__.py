"""mojinorm: find and fix Japanese names that would render as ● in a target character set.

Flat API::

    import mojinorm
    mojinorm.is_safe("髙橋 太郎", target="jisx0208")      # False: 髙 is not in JIS X 0208
    mojinorm.unsafe_chars("髙橋 太郎")                    # [(0, '髙')]
    mojinorm.normalize("髙橋 太郎")                       # '高橋 太郎'
    mojinorm.explain("髙橋 太郎").changes                 # why, rule by rule
    mojinorm.lookup("𠮷").mj                              # ('MJ032129',)
    mojinorm.names_match("●橋 太郎", "髙橋 太郎")          # True
    mojinorm.compare("●橋 太郎", "髙橋 太郎").grade        # 'masked'

Data flows one way: tools/build_tables.py -> mojinorm/_data (compiled tables) -> targets (what
renders) -> normalizer (what to change and why) -> this API, the CLI and scan.  Nothing large is
read at import; tables load on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from .errors import (
    DataIntegrityError,
    InputError,
    MojinormError,
    OptionError,
    OutputError,
    TableError,
    TargetError,
    UnmappableCharacter,
)
from .gaiji import GaijiTable, load_gaiji
from .lookup import CharInfo, lookup
from .normalizer import (
    FALLBACKS,
    Change,
    Normalizer,
    Result,
    Step,
    explain,
    get_normalizer,
    is_safe,
    normalize,
    normalize_many,
)
from .rules import DEFAULT_RULES, LOSSLESS_RULES, RANKING
from .targets import Target, UnsafeUnit, get_target, load_profile, targets

__version__ = "0.1.0"

#: Loaded on first use: file scanning (its readers bring polars in once a file is read),
#: and what ``normalize`` never needs: the readings (tables built at their import) and the
#: comparison of names.
_LAZY = {"ScanReport": "report", "normalize_file": "rewrite", "scan_file": "scan",
         "match_files": "reconcile", "match_frames": "reconcile",
         "normalize_kana": "kana",
         **dict.fromkeys(("GRADES", "KANA_GRADES", "KanaMatch", "Match", "MatchLink",
                          "MatchStep", "compare", "compare_kana", "match_key", "names_match"),
                         "matching")}

if TYPE_CHECKING:
    from .kana import normalize_kana
    from .matching import (
        GRADES,
        KANA_GRADES,
        KanaMatch,
        Match,
        MatchLink,
        MatchStep,
        compare,
        compare_kana,
        match_key,
        names_match,
    )
    from .reconcile import match_files, match_frames
    from .report import ScanReport
    from .rewrite import normalize_file
    from .scan import scan_file


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is not None:
        return getattr(importlib.import_module(f".{module}", __name__), name)
    raise AttributeError(f"module 'mojinorm' has no attribute {name!r}")


__all__ = [
    "Change", "CharInfo", "DEFAULT_RULES", "DataIntegrityError", "FALLBACKS", "GRADES",
    "GaijiTable", "InputError", "KANA_GRADES", "KanaMatch", "LOSSLESS_RULES", "Match",
    "MatchLink", "MatchStep", "MojinormError", "Normalizer", "OptionError", "OutputError",
    "RANKING", "Result", "ScanReport", "Step", "TableError", "Target", "TargetError",
    "UnmappableCharacter", "UnsafeUnit", "compare", "compare_kana", "explain",
    "get_normalizer", "get_target", "is_safe", "load_gaiji", "load_profile", "lookup",
    "match_files", "match_frames", "match_key", "names_match", "normalize", "normalize_file",
    "normalize_kana", "normalize_many", "scan_file", "targets", "unsafe_chars",
]


def unsafe_chars(text: str, target: str | Target = "jisx0208") -> list[UnsafeUnit]:
    """``(index, unit)`` for every unit of ``text`` that ``normalize`` would change.

    Each pair also carries ``.category``: ``invisible``, ``space``, ``private-use`` or
    ``outside`` (not in the target).
    A base character and the variation selector that follows it are one unit, reported at the
    index of the base.
    """
    return get_target(target).unclean_units(text)
