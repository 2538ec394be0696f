#!/usr/bin/env python3
"""The polars column kernel against jntajis, cold, one fresh process per measurement.

    python benchmarks/bench_column.py                       # 1,000,000 names, best of 3
    python benchmarks/bench_column.py --rows 200000 --repeat 1
    python benchmarks/bench_column.py --jntajis-python ~/.cache/mojinorm/jntajis-venv/bin/python

The names have a member file's cardinality: ~2,000 surnames x ~1,000 given names drawn from
JIS X 0208 kanji (most names distinct), 4% of them carrying one character outside JIS X 0208:
an extended kanji of CP932, JIS X 0213 or MJ, a Moji_Joho IVS, or a private-use code spread
over several thousand values in U+E000..U+F8FF.

Each measurement runs in a new interpreter and times, after the imports:
  (a) ours: reading the names file with polars and the expression
      ``pl.col("name").mojinorm.normalize("jisx0208")`` over it -- the first call in the
      process, so the tables load and every distinct unit is resolved cold;
  (b) peer: reading the same file and a ``jntajis.jnta_shrink_translit`` loop over the names
      (run with an interpreter that has jntajis-python, by default the one build_tables.py
      keeps in ~/.cache/mojinorm/jntajis-venv).
The goal is (a) <= 0.3 x (b).  Not a test: nothing here runs under pytest.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import unicodedata
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_PEER = Path.home() / ".cache" / "mojinorm" / "jntajis-venv" / "bin" / "python"

OURS = r"""
import json, sys, time
t_import = time.perf_counter()
import polars as pl
import mojinorm
import mojinorm.polars
t0 = time.perf_counter()
df = pl.read_csv(sys.argv[1], has_header=False, new_columns=["name"], separator="\t",
                 quote_char=None, schema={"name": pl.String})
t1 = time.perf_counter()
out = df.select(pl.col("name").mojinorm.normalize("jisx0208"))
t2 = time.perf_counter()
changed = int((out["name"] != df["name"]).sum())
from mojinorm import column
plan = column.column_plan("jisx0208")
t3 = time.perf_counter()
df.select(pl.col("name").mojinorm.normalize("jisx0208"))
t4 = time.perf_counter()
print(json.dumps({"import": t0 - t_import, "read": t1 - t0, "normalize": t2 - t1,
                  "total": t2 - t0, "warm_normalize": t4 - t3, "rows": df.height,
                  "changed": changed, "units_resolved": plan.units_resolved,
                  "resolve": plan.resolve_seconds,
                  "rows_per_name": plan.rows_per_name}))
"""

PEER = r"""
import json, sys, time
import jntajis
t0 = time.perf_counter()
with open(sys.argv[1], encoding="utf-8") as fh:
    names = fh.read().splitlines()
t1 = time.perf_counter()
f = jntajis.jnta_shrink_translit
out = [f(n, "\u3013", True) for n in names]
t2 = time.perf_counter()
print(json.dumps({"read": t1 - t0, "loop": t2 - t1, "total": t2 - t0, "rows": len(out)}))
"""


# --------------------------------------------------------------------------- the names


def _encodes(ch: str, codec: str) -> bool:
    try:
        ch.encode(codec)
    except UnicodeEncodeError:
        return False
    return True


def _is_kanji(ch: str) -> bool:
    return unicodedata.name(ch, "").startswith("CJK")


def _kanji(codec: str) -> list[str]:
    return [chr(cp) for cp in range(0x3400, 0x2FFFF)
            if not 0xD800 <= cp <= 0xF8FF and _is_kanji(chr(cp)) and _encodes(chr(cp), codec)]


def make_names(rows: int, seed: int = 11) -> tuple[list[str], dict[str, int]]:
    """``rows`` synthetic names and the size of each pool of outside characters."""
    import mojinorm

    rng = random.Random(seed)
    base = [c for c in _kanji("shift_jis") if "\u4e00" <= c <= "\u9fff"]
    base_set = set(base)
    cp932 = [c for c in _kanji("cp932") if c not in base_set]
    x0213 = [c for c in _kanji("shift_jis_2004") if c not in base_set]
    known = base_set | set(x0213) | set(cp932)
    mj_target = mojinorm.get_target("mj")
    mj = sorted(c for c in mj_target.chars if c not in known and _is_kanji(c))
    ivs = sorted(s for s in mj_target.sequences if 0xE0100 <= ord(s[-1]) <= 0xE01EF)
    pools = {
        "cp932": cp932,
        "jisx0213": rng.sample(x0213, min(1500, len(x0213))),
        "mj": rng.sample(mj, 1500),
        "ivs": rng.sample(ivs, 800),
        "private-use": [chr(cp) for cp in rng.sample(range(0xE000, 0xF900), 3000)],
    }
    weights = {"cp932": 3, "jisx0213": 2, "mj": 2, "ivs": 1, "private-use": 2}
    kinds = [k for k, w in weights.items() for _ in range(w)]

    def word(lo: int, hi: int) -> str:
        return "".join(rng.choice(base) for _ in range(rng.randint(lo, hi)))

    surnames = list(dict.fromkeys(word(1, 3) for _ in range(2100)))[:2000]
    given = list(dict.fromkeys(word(1, 3) for _ in range(1100)))[:1000]
    names = []
    for _ in range(rows):
        name = rng.choice(surnames) + rng.choice(" \u3000") + rng.choice(given)
        if rng.random() < 0.04:
            odd = rng.choice(pools[rng.choice(kinds)])
            i = rng.randrange(len(name))
            if name[i] in " \u3000":
                i = 0
            name = name[:i] + odd + name[i + 1:]
        names.append(name)
    return names, {k: len(v) for k, v in pools.items()}


# --------------------------------------------------------------------------- running


def _fresh(python: str, code: str, path: Path) -> dict[str, float]:
    env = dict(os.environ, POLARS_MAX_THREADS=os.environ.get("POLARS_MAX_THREADS", ""))
    if not env["POLARS_MAX_THREADS"]:
        del env["POLARS_MAX_THREADS"]
    out = subprocess.run([python, "-c", code, str(path)], check=True, capture_output=True,
                         text=True, env=env, timeout=600)
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _best(runs: list[dict[str, float]]) -> dict[str, float]:
    return min(runs, key=lambda r: r["total"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--jntajis-python", default=str(DEFAULT_PEER))
    ap.add_argument("--keep", help="write the names file here and keep it")
    args = ap.parse_args()

    names, pools = make_names(args.rows)
    distinct = len(set(names))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.keep) if args.keep else Path(tmp) / "names.txt"
        path.write_text("\n".join(names) + "\n", encoding="utf-8")
        print(f"{args.rows:,} names ({distinct:,} distinct, {path.stat().st_size / 1e6:.1f} MB); "
              f"outside-0208 pools: {pools}")
        ours = _best([_fresh(sys.executable, OURS, path) for _ in range(args.repeat)])
        print(f"(a) polars .mojinorm.normalize, fresh process: read {ours['read']:.3f} s + "
              f"normalize {ours['normalize']:.3f} s = {ours['total']:.3f} s "
              f"(imports {ours['import']:.3f} s, not counted; warm normalize "
              f"{ours['warm_normalize']:.3f} s; {ours['changed']:,} names changed; "
              f"{ours['units_resolved']:,} units resolved in Python by the polars engine in "
              f"{ours['resolve']:.3f} s; "
              f"{ours['rows_per_name']:,} rows per name)")
        peer_python = args.jntajis_python
        if not Path(peer_python).exists():
            print(f"(b) skipped: no interpreter with jntajis at {peer_python}")
            return 0
        peer = _best([_fresh(peer_python, PEER, path) for _ in range(args.repeat)])
        print(f"(b) jntajis loop, fresh process: read {peer['read']:.3f} s + loop "
              f"{peer['loop']:.3f} s = {peer['total']:.3f} s")
    ratio = ours["total"] / peer["total"]
    print(f"ratio (a)/(b) = {ratio:.2f}  (goal <= 0.30: {'met' if ratio <= 0.3 else 'not met'})")
    cold = ours["normalize"] - ours["resolve"]
    warm = ours["read"] + ours["warm_normalize"]
    print(f"  of (a): the polars engine's per-unit Python work {ours['resolve']:.3f} s "
          f"({ours['resolve'] / max(ours['units_resolved'], 1) * 1e6:.0f} us per unit), "
          f"the rest {cold:.3f} s")
    print(f"  warm (units already resolved in the process): read + normalize {warm:.3f} s, "
          f"ratio {warm / peer['total']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
