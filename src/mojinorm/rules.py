"""The mapping rules mojinorm may apply, their ranking, and where each comes from.

Variant rules are tried in ``RANKING`` order; within one rule, lower 順位 (rank) and fewer hops
come first.  The order is an inference from what each table guarantees (DOMAIN: strongest
identity guarantee first): a reviewed override, then "the same character by JIS/UCS unification",
then the family-register parent form, then the Ministry of Justice notice and circulars, then the
国税庁 map for JIS X 0213 -> 0208, then inference by reading/shape.  Dictionary relations link
*different* characters and are opt-in.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from . import _schema as schema
from . import _tables
from .errors import OptionError

__all__ = [
    "LOSSLESS_RULES", "RANKING", "DEFAULT_RULES", "VARIANT_RULES", "STEP_RULES", "RULE_SOURCES",
    "resolve_rules",
]

#: Variant rules, best first.
RANKING: tuple[str, ...] = (
    "override",
    "jis-unification",
    "same-jis-code",
    "koseki-parent",
    "moj582-table4-1",
    "moj582-table4-2",
    "minji2842-zokuji",
    "minji2842-betsuji",
    "minji2842-unmarked",
    "minji5202",
    "nta-jis-shrink",
    "same-jisyu-list",
    "reading-shape-analogy",
    "dictionary-related",
)
VARIANT_RULES = frozenset(RANKING)

#: Used when ``rules=None``: every variant rule except dictionary relations (different characters).
DEFAULT_RULES: tuple[str, ...] = tuple(r for r in RANKING if r != "dictionary-related")

#: Structural steps of the pipeline (always on) and the fallback outcomes.
STEP_RULES: dict[str, str] = {
    "invisible-removed": "an invisible or control character was removed",
    "space-normalized": "an unusual space was replaced by an ideographic space",
    "gaiji-table": "a private-use gaiji was resolved through a user gaiji table",
    "svs-to-compat": "a standardized variation sequence became the compatibility ideograph",
    "variation-selector-stripped": "a variation selector the target cannot carry was dropped",
    "compat-to-unified": "a CJK compatibility ideograph became its unified ideograph",
    "kana-composed": "a kana and its combining voiced mark became the precomposed kana",
    "width-folded": "a character the target has only in the other width took that width "
                    "(ｱ→ア, A→Ａ, space→U+3000)",
    "kana-mark-separated": "a voiced kana the target lacks became kana + standalone ゛/゜",
    "unmapped-gaiji": "a private-use character with no gaiji table entry went to the fallback",
    "no-mapping": "no allowed rule reaches the target, so the fallback was used",
    "ambiguous": "different characters tie at the deciding rule and no independent source "
                 "supports one; the fallback was used",
    "fallback-kana": "the whole name was replaced by its reading (fallback 'kana')",
    "formula-guarded": "a rewritten CSV value that would start a spreadsheet formula got a "
                       "leading ' (normalize, CSV output)",
}

#: Rules that keep the character itself: a design difference under JIS/UCS unification, an
#: encoding form (compatibility ideograph, variation selector), a gaiji table lookup, or an
#: invisible character.  Every other rule substitutes a different (variant) character.
LOSSLESS_RULES = frozenset({
    "jis-unification", "same-jis-code", "compat-to-unified", "svs-to-compat",
    "variation-selector-stripped", "kana-composed", "kana-mark-separated", "gaiji-table",
    "invisible-removed", "space-normalized", "width-folded",
})


def _build_rule_sources() -> dict[str, str]:
    """Where each rule comes from; every version is the one MANIFEST.json records."""
    def version(source: str, dataset: str | None = None) -> str:
        return _tables.source_version(source, dataset)

    mojidata = f"mojidata {version(schema.SOURCE_MOJIDATA)}"
    mjsm = (f"{schema.DATASET_MJSM} {version(schema.SOURCE_MOJIDATA, schema.DATASET_MJSM)} "
            f"({schema.DATASET_MJI} {version(schema.SOURCE_MOJIDATA, schema.DATASET_MJI)}, "
            f"{mojidata})")
    ucd = version(schema.SOURCE_MOJIDATA, schema.DATASET_UCD)
    codecs = f"{schema.SOURCE_CODECS} {version(schema.SOURCE_CODECS)}"
    lists = ", ".join(schema.SAME_JISYU_LISTS.values())
    out = {
        "override": "data/mappings/overrides.yaml",
        "same-jis-code": f"{codecs}: the same JIS X 0208 code decoded by shift_jis/cp932/2004",
        "nta-jis-shrink": f"国税庁 JIS縮退マップ ({schema.SOURCE_JNTAJIS} "
                          f"{version(schema.SOURCE_JNTAJIS)})",
        "same-jisyu-list": f"official same-字種 lists ({lists}; {mojidata})",
        "svs-to-compat": f"Unicode {ucd} StandardizedVariants (CJK compatibility ideographs, "
                         f"{mojidata})",
        "variation-selector-stripped": "mojinorm pipeline (the base character renders)",
        "compat-to-unified": "Unicode canonical decomposition of the compatibility ideograph",
        "kana-composed": "Unicode canonical composition (NFC) of the kana pair",
        "kana-mark-separated": "Unicode canonical decomposition; standalone marks U+309B/U+309C",
        "width-folded": "Unicode compatibility decomposition <wide>/<narrow> (NFKC); "
                        "half-width ﾞﾟ as ゛゜",
        "invisible-removed": "mojinorm invisible-character policy",
        "space-normalized": "mojinorm invisible-character policy",
        "ambiguous": "mojinorm pipeline: no source decides between the tied characters",
        "formula-guarded": "mojinorm CSV output policy: never turn text into a formula",
    }
    for category in schema.SHRINK_RULES:
        out[category.rule] = f"{mjsm}: {category.name}"
    return out


class _RuleSources(Mapping[str, str]):
    """Rule id -> its source with versions, read from MANIFEST.json on first use (so importing
    this module reads no table).  A read-only mapping: ``RULE_SOURCES[rule]``, ``.get``, ``in``."""

    def __init__(self) -> None:
        self._built: dict[str, str] | None = None

    def _data(self) -> dict[str, str]:
        if self._built is None:
            self._built = _build_rule_sources()  # idempotent: a race builds it twice, no harm
        return self._built

    def __getitem__(self, rule: str) -> str:
        return self._data()[rule]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data())

    def __len__(self) -> int:
        return len(self._data())

    def __repr__(self) -> str:
        return f"RULE_SOURCES({self._data()!r})" if self._built else "RULE_SOURCES(<not loaded>)"


#: Rule id -> where it comes from (table and version); built lazily from MANIFEST.json.
RULE_SOURCES: Mapping[str, str] = _RuleSources()


def resolve_rules(rules: Iterable[str] | str | None) -> tuple[str, ...]:
    """Validate a rule selection and return it in ranking order."""
    if rules is None:
        return DEFAULT_RULES
    if isinstance(rules, str):
        if rules == "all":
            return RANKING
        if rules == "default":
            return DEFAULT_RULES
        rules = [r.strip() for r in rules.split(",") if r.strip()]
    chosen = set(rules)
    unknown = chosen - VARIANT_RULES
    if unknown:
        raise OptionError(
            f"unknown rule(s) {', '.join(sorted(unknown))}; valid: {', '.join(RANKING)} "
            f"(or 'default', 'all')"
        )
    return tuple(r for r in RANKING if r in chosen)


def rule_source(rule: str) -> str:
    """Where ``rule`` comes from (table and version), for a Step's ``source``."""
    return RULE_SOURCES.get(rule, rule)
