"""The layout of mojinorm's compiled tables, shared by the generator and the loader.

``tools/build_tables.py`` writes every table below with exactly these file names and header
columns; ``mojinorm._tables`` checks each header line against them when it first reads a table,
so code and data from different builds fail loudly instead of giving wrong answers.

Also defined here, once: the rule ids of the MJ縮退マップ categories, the ids of the official
same-字種 lists, and the names under which MANIFEST.json records sources and dataset versions.

This module holds constants only and reads nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = [
    "TsvTable", "MJ", "MJ_IVS", "MJ_CHARS", "SVS", "SHRINK", "NTA", "JIS_EQUIVALENTS",
    "SAME_JISYU", "RESOLVED", "RESOLVED_TARGETS", "SOURCE_TABLES", "TSV_TABLES",
    "MANIFEST_FILE", "TARGETS_FILE", "OVERRIDES_FILE", "COMPILED_FILES", "ShrinkRule",
    "SHRINK_RULES", "SHRINK_RULE_IDS", "SAME_JISYU_LISTS", "SOURCE_MOJIDATA", "SOURCE_JNTAJIS",
    "SOURCE_CODECS", "DATASET_MJI", "DATASET_MJSM", "DATASET_IVD", "DATASET_UCD",
    "DATASET_CJKVI_VARIANTS",
]


@dataclass(frozen=True)
class TsvTable:
    """A compiled tab-separated table: UTF-8, one header line, then one row per line."""

    file: str
    columns: tuple[str, ...]

    @property
    def header(self) -> str:
        """The header line as written, without its newline."""
        return "\t".join(self.columns)


#: MJ文字情報一覧表, one row per MJ id (the fields of ``mojinorm._tables.MJRecord``).
MJ: Final = TsvTable("mj.tsv", (
    "mj", "ucs", "corresponding_ucs", "ivs", "svs", "compat", "koseki", "juki", "nyukan_seiji",
    "nyukan_gaiji", "touki", "x0213", "x0213_inclusion", "x0212",
))
#: Moji_Joho IVS -> MJ id, sorted by the UTF-8 bytes of ``ivs``.
MJ_IVS: Final = TsvTable("mj_ivs.tsv", ("ivs", "mj"))
#: Bare code point -> MJ ids (comma-separated), sorted by the UTF-8 bytes of ``char``.
MJ_CHARS: Final = TsvTable("mj_chars.tsv", ("char", "mj", "ivs_only"))
#: Standardized variation sequence -> CJK compatibility ideograph.
SVS: Final = TsvTable("svs.tsv", ("svs", "compat"))
#: MJ縮退マップ rows (the fields of ``mojinorm._tables.ShrinkEntry``), sorted by ``mj``.
SHRINK: Final = TsvTable("shrink.tsv", (
    "mj", "rule", "target", "target_x0213", "rank", "hops", "in_jisx0208", "in_jisx0213",
))
#: 国税庁 JIS縮退マップ: character -> replacement (one or more JIS X 0208 characters), sorted
#: by the UTF-8 bytes of ``source``.
NTA: Final = TsvTable("nta.tsv", ("source", "target"))
#: Code points the codecs give for one JIS X 0208 code, both directions.
JIS_EQUIVALENTS: Final = TsvTable("jis_equivalents.tsv", ("char", "equivalent", "sjis"))
#: Official same-字種 lists: one row per (char, other, list_id), both directions, sorted by the
#: UTF-8 bytes of ``char``, then ``other``, then ``list_id``.
SAME_JISYU: Final = TsvTable("same_jisyu.tsv", ("char", "other", "list_id"))

#: The built-in targets whose decisions are compiled (``mojinorm.targets.BUILTIN_TARGETS``).
RESOLVED_TARGETS: Final[tuple[str, ...]] = ("jisx0208", "jisx0208-1983", "cp932", "jisx0213",
                                             "mj")
#: Per built-in target, what the pipeline decides with the default options for every unit the
#: tables know that the target cannot take (written by running mojinorm's own pipeline over the
#: tables above): ``rules`` are the steps' rules joined by ">", ``flags`` holds ``F`` (the
#: fallback decides; ``replacement`` is then empty) and ``R`` (review), ``alternatives`` are
#: joined by "|".  Sorted by the UTF-8 bytes of ``unit``.
RESOLVED: Final[dict[str, TsvTable]] = {
    name: TsvTable(f"resolved_{name}.tsv",
                   ("unit", "replacement", "rules", "flags", "mj", "alternatives"))
    for name in RESOLVED_TARGETS
}

#: Every TSV table by file name.
TSV_TABLES: Final[dict[str, TsvTable]] = {
    t.file: t for t in (MJ, MJ_IVS, MJ_CHARS, SVS, SHRINK, NTA, JIS_EQUIVALENTS, SAME_JISYU,
                        *RESOLVED.values())
}
#: The tables compiled from the registry packages (the resolved ones are compiled from these).
SOURCE_TABLES: Final[tuple[str, ...]] = (
    MJ.file, MJ_IVS.file, MJ_CHARS.file, SVS.file, SHRINK.file, NTA.file, JIS_EQUIVALENTS.file,
    SAME_JISYU.file,
)

MANIFEST_FILE: Final = "MANIFEST.json"
#: One JSON object per line and target, sorted by name, its first key the name
#: (``{"name":"cp932","ranges":[[lo,hi],...],"sequences":[...]}``): a program that uses one
#: target parses that line only (``mj``'s sequences are four fifths of the file).
TARGETS_FILE: Final = "targets.jsonl"
OVERRIDES_FILE: Final = "overrides.json"

#: Every file tools/build_tables.py writes into ``mojinorm/_data``.
COMPILED_FILES: Final[tuple[str, ...]] = (
    MANIFEST_FILE, TARGETS_FILE, *TSV_TABLES, OVERRIDES_FILE,
)


@dataclass(frozen=True)
class ShrinkRule:
    """One category of the MJ縮退マップ."""

    rule: str  #: the rule id used throughout mojinorm
    table: str  #: the mojidata table holding it, without the ``mjsm_`` prefix
    name: str  #: the category as the MJ縮退マップ names it


#: MJ縮退マップ categories in file order (the normalization ranking lives in mojinorm.rules).
SHRINK_RULES: Final[tuple[ShrinkRule, ...]] = (
    ShrinkRule("jis-unification", "JIS包摂規準UCS統合規則", "JIS包摂規準・UCS統合規則"),
    ShrinkRule("koseki-parent", "戸籍統一文字情報_親字正字", "戸籍統一文字情報 親字・正字"),
    ShrinkRule("moj582-table4-1", "法務省告示582号別表第四_一", "法務省告示582号別表第四 一"),
    ShrinkRule("moj582-table4-2", "法務省告示582号別表第四_二", "法務省告示582号別表第四 二"),
    ShrinkRule("minji2842-zokuji", "民一2842号通達別表_誤字俗字正字一覧表_俗字",
               "民一2842号通達別表 誤字俗字正字一覧表 俗字"),
    ShrinkRule("minji2842-betsuji", "民一2842号通達別表_誤字俗字正字一覧表_別字",
               "民一2842号通達別表 誤字俗字正字一覧表 別字"),
    ShrinkRule("minji2842-unmarked", "民一2842号通達別表_誤字俗字正字一覧表_無印",
               "民一2842号通達別表 誤字俗字正字一覧表 無印"),
    ShrinkRule("minji5202", "民二5202号通知別表_正字俗字等対照表",
               "民二5202号通知別表 正字俗字等対照表"),
    ShrinkRule("reading-shape-analogy", "読み字形による類推", "読み・字形による類推"),
    ShrinkRule("dictionary-related", "辞書類等による関連字", "辞書類等による関連字"),
)
#: The MJ縮退マップ rule ids, in file order.
SHRINK_RULE_IDS: Final[tuple[str, ...]] = tuple(r.rule for r in SHRINK_RULES)

#: Official lists that give two forms as the same character (字種): list id -> its source name.
SAME_JISYU_LISTS: Final[dict[str, str]] = {
    "joyo-kangxi": "常用漢字表 康熙字典体",
    "jinmei-itaiji": "人名用漢字表 異体字",
    "hyogai-itaiji": "表外漢字字体表",
}

# Names under which MANIFEST.json's ``sources`` records a source (``name``) and the datasets it
# carries with their versions (``datasets``).
SOURCE_MOJIDATA: Final = "@mandel59/mojidata"
SOURCE_JNTAJIS: Final = "jntajis-python"
SOURCE_CODECS: Final = "CPython codecs"
DATASET_MJI: Final = "MJ文字情報一覧表"
DATASET_MJSM: Final = "MJ縮退マップ"
DATASET_IVD: Final = "IVD"
DATASET_UCD: Final = "Unicode Character Database"
DATASET_CJKVI_VARIANTS: Final = "cjkvi-variants"
