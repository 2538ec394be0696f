"""The mapping rules mojinorm may apply, their ranking, and where each comes from.

Variant rules are tried in ``RANKING`` order; within one rule, lower 順位 (rank) and fewer hops
come first.  The order is an inference from what each table guarantees (DOMAIN: strongest
identity guarantee first): a reviewed override, then "the same character by JIS/UCS unification",
then the family-register parent form, then the Ministry of Justice notice and circulars, then the
国税庁 map for JIS X 0213 -> 0208, then inference by reading/shape.  Dictionary relations link
*different* characters and are opt-in.
"""

from __future__ import annotations

from collections.abc import Iterable

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
    "kana-mark-separated": "a voiced kana the target lacks became kana + standalone ゛/゜",
    "unmapped-gaiji": "a private-use character with no gaiji table entry went to the fallback",
    "no-mapping": "no allowed rule reaches the target, so the fallback was used",
    "fallback-kana": "the whole name was replaced by its reading (fallback 'kana')",
}

#: Rules that keep the character itself: a design difference under JIS/UCS unification, an
#: encoding form (compatibility ideograph, variation selector), a gaiji table lookup, or an
#: invisible character.  Every other rule substitutes a different (variant) character.
LOSSLESS_RULES = frozenset({
    "jis-unification", "same-jis-code", "compat-to-unified", "svs-to-compat",
    "variation-selector-stripped", "kana-composed", "kana-mark-separated", "gaiji-table",
    "invisible-removed", "space-normalized",
})

_MJSM = "MJ縮退マップ (mojidata 1.8.1)"
RULE_SOURCES: dict[str, str] = {
    "override": "data/mappings/overrides.yaml",
    "jis-unification": f"{_MJSM}: JIS包摂規準・UCS統合規則",
    "same-jis-code": "CPython codecs: the same JIS X 0208 code decoded by shift_jis/cp932/2004",
    "koseki-parent": f"{_MJSM}: 戸籍統一文字情報 親字・正字",
    "moj582-table4-1": f"{_MJSM}: 法務省告示582号別表第四 一",
    "moj582-table4-2": f"{_MJSM}: 法務省告示582号別表第四 二",
    "minji2842-zokuji": f"{_MJSM}: 民一2842号通達別表 誤字俗字正字一覧表 俗字",
    "minji2842-betsuji": f"{_MJSM}: 民一2842号通達別表 誤字俗字正字一覧表 別字",
    "minji2842-unmarked": f"{_MJSM}: 民一2842号通達別表 誤字俗字正字一覧表 無印",
    "minji5202": f"{_MJSM}: 民二5202号通知別表 正字俗字等対照表",
    "nta-jis-shrink": "国税庁 JIS縮退マップ (jntajis-python 0.1.0)",
    "reading-shape-analogy": f"{_MJSM}: 読み・字形による類推",
    "dictionary-related": f"{_MJSM}: 辞書類等による関連字",
    "svs-to-compat": "Unicode StandardizedVariants (CJK compatibility ideographs)",
    "variation-selector-stripped": "mojinorm pipeline (the base character renders)",
    "compat-to-unified": "Unicode canonical decomposition of the compatibility ideograph",
    "kana-composed": "Unicode canonical composition (NFC) of the kana pair",
    "kana-mark-separated": "Unicode canonical decomposition; standalone marks U+309B/U+309C",
    "invisible-removed": "mojinorm invisible-character policy",
    "space-normalized": "mojinorm invisible-character policy",
}


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
