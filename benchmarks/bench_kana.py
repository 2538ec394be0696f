"""Benchmark mojinorm.kana.normalize_kana against jaconv.h2z and mojimoji.han_to_zen.

Workload: deterministic synthetic readings (``random.Random(42)``): about 10% half-width
katakana containing at least one dakuten/handakuten with an ASCII space between family and
given name (as in old fixed-width files), the rest full-width katakana with one U+3000.

Each contender converts every reading once per round; the best of 3 rounds is reported.
jaconv and mojimoji are imported lazily and skipped with a message when missing.  Note that
jaconv/mojimoji only widen half-width kana: they do not fold dashes or collapse spaces, so
normalize_kana does strictly more work per reading.

Usage::

    python benchmarks/bench_kana.py [ROWS]      # default 200000

``run(rows)`` returns one dict per contender for a parent benchmark runner.
"""

from __future__ import annotations

import random
import sys
import time
import unicodedata
from collections.abc import Callable
from pathlib import Path

try:
    from mojinorm.kana import normalize_kana
except ImportError:  # running from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from mojinorm.kana import normalize_kana

SEED = 42
HALF_WIDTH_SHARE = 0.10
ROUNDS = 3

_PLAIN = list(
    "アイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワ"
)
_VOICED = list("ガギグゲゴザジズゼゾダデドバビブベボパピプペポ") + ["ヴ"]
_EXTRA = ["キョウ", "シュ", "ジュン", "リョウ", "チャ", "ッ", "ン", "ー", "イチ", "タロウ"]

# Full-width -> half-width (inverse of NFKC on U+FF61-U+FF9D), plus voiced kana -> 2 chars.
_TO_HALF = {unicodedata.normalize("NFKC", chr(cp)): chr(cp) for cp in range(0xFF61, 0xFF9E)}
for _kana in _VOICED:
    _base = unicodedata.normalize("NFD", _kana)
    _TO_HALF[_kana] = _TO_HALF[_base[0]] + ("ﾞ" if _base[1] == "\u3099" else "ﾟ")
_TO_HALF["\u3000"] = " "


def _word(rng: random.Random) -> str:
    parts = []
    for _ in range(rng.randint(2, 4)):
        roll = rng.random()
        pool = _PLAIN if roll < 0.6 else _VOICED if roll < 0.85 else _EXTRA
        parts.append(rng.choice(pool))
    return "".join(parts)


def make_readings(rows: int, seed: int = SEED) -> list[str]:
    """Deterministic synthetic readings (see module docstring)."""
    rng = random.Random(seed)
    readings = []
    for _ in range(rows):
        family, given = _word(rng), _word(rng)
        if rng.random() < HALF_WIDTH_SHARE:
            if not any(ch in _VOICED for ch in family + given):
                family += rng.choice(_VOICED)
            full = family + "\u3000" + given
            readings.append("".join(_TO_HALF.get(ch, ch) for ch in full))
        else:
            readings.append(family + "\u3000" + given)
    return readings


def _contenders() -> list[tuple[str, Callable[[str], str]]]:
    found: list[tuple[str, Callable[[str], str]]] = [("normalize_kana", normalize_kana)]
    try:
        import jaconv
    except ImportError:
        print("jaconv not installed: skipped", file=sys.stderr)
    else:

        def jaconv_h2z(s: str) -> str:
            return jaconv.h2z(s, kana=True, ascii=False, digit=False)

        found.append(("jaconv.h2z", jaconv_h2z))
    try:
        import mojimoji
    except ImportError:
        print("mojimoji not installed: skipped", file=sys.stderr)
    else:

        def mojimoji_han_to_zen(s: str) -> str:
            return mojimoji.han_to_zen(s, ascii=False, digit=False)

        found.append(("mojimoji.han_to_zen", mojimoji_han_to_zen))
    return found


def _best_time(func: Callable[[str], str], readings: list[str]) -> float:
    best = float("inf")
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for reading in readings:
            func(reading)
        best = min(best, time.perf_counter() - start)
    return best


def run(rows: int = 200_000) -> list[dict]:
    """Time every available contender on ``rows`` readings; one dict per contender.

    Keys: ``name``, ``rows``, ``seconds`` (best of 3), ``per_second`` (names/second),
    ``normalize_kana_speedup`` (this contender's time / normalize_kana's time; > 1 means
    normalize_kana is faster).
    """
    readings = make_readings(rows)
    results: list[dict] = []
    for name, func in _contenders():
        seconds = _best_time(func, readings)
        results.append(
            {"name": name, "rows": rows, "seconds": seconds, "per_second": rows / seconds}
        )
    ours = results[0]["seconds"]
    for result in results:
        result["normalize_kana_speedup"] = result["seconds"] / ours
    return results


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    rows = int(args[0]) if args else 200_000
    results = run(rows)
    half = sum(1 for s in make_readings(rows) if "ﾞ" in s or "ﾟ" in s)
    print(f"bench_kana: {rows} readings ({half} half-width), best of {ROUNDS}")
    print(f"{'implementation':<22}{'best s':>10}{'names/s':>14}{'nk speedup':>12}")
    for r in results:
        print(
            f"{r['name']:<22}{r['seconds']:>10.4f}{r['per_second']:>14,.0f}"
            f"{r['normalize_kana_speedup']:>11.2f}x"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
