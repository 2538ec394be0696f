#!/usr/bin/env python3
"""mojinorm benchmarks: every figure is a ratio measured in the same run.

    pip install -e '.[test]' -r benchmarks/requirements.txt
    python benchmarks/run.py --rows 1000000            # the published figures
    python benchmarks/run.py --rows 200000 --quick     # a faster look

Measured (best of --repeat runs, wall time):
  1. `mojinorm scan` (one process) vs iterating the same file with bare csv.reader;
  2. `scan --jobs 2` vs `--jobs 1`, as (t1 - t0) / (t2 - t0), t0 = the same command on 10 rows;
  3. Normalizer.normalize over the names vs a per-character dict.get loop and vs
     jntajis.jnta_shrink_translit;
  4. normalize_kana vs jaconv.h2z and mojimoji.han_to_zen on the readings;
  5. import + first normalize in a fresh interpreter; peak RSS of a --rss-rows scan.
Results go to stdout as a table, and to benchmarks/out/results.json.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_sample = _load("make_sample", REPO / "tools" / "make_sample.py")


def best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def write_file(path: Path, rows: int, seed: int = 7) -> None:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["id", "name", "kana"])
        w.writerows(make_sample.generate(rows, seed))


def bare_csv(path: Path) -> int:
    n = 0
    with open(path, encoding="utf-8", newline="") as fh:
        for _ in csv.reader(fh):
            n += 1
    return n


def cli(args: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "mojinorm.cli", *args], check=True,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def bench_scan(path: Path, tiny: Path, repeat: int) -> list[dict]:
    from mojinorm.scan import scan_file

    rows = []
    t_csv = best(lambda: bare_csv(path), repeat)
    t_scan = best(lambda: scan_file(path, target="jisx0208", jobs=1), repeat)
    rows.append({"measure": "scan (1 process) / bare csv.reader", "ours": t_scan,
                 "peer": t_csv, "ratio": t_scan / t_csv, "goal": "<= 1.5"})
    rows.append(jobs_ratio(path, tiny, repeat))
    return rows


def jobs_ratio(path: Path, tiny: Path, repeat: int) -> dict:
    """(t(jobs 1) - t0) / (t(jobs 2) - t0), t0 = the same command on a 10-row file."""
    base = ["scan", "--format", "json", "--quiet"]
    t0 = min(cli([*base, str(tiny)]) for _ in range(repeat))
    t1 = min(cli([*base, "--jobs", "1", str(path)]) for _ in range(repeat))
    t2 = min(cli([*base, "--jobs", "2", str(path)]) for _ in range(repeat))
    rows = sum(1 for _ in open(path, "rb")) - 1
    return {"measure": f"scan --jobs 2 speed-up beyond start-up ({rows:,} rows)", "ours": t2,
            "peer": t1, "ratio": (t1 - t0) / (t2 - t0), "goal": ">= 1.7", "t0": t0}


def bench_normalize(names: list[str], repeat: int) -> list[dict]:
    from mojinorm import Normalizer

    n = Normalizer("jisx0208")
    # The peer: the simplest correct-looking approach, a per-character dict of replacements
    # (built from our own answers, so it does the same work).
    table: dict[str, str] = {}
    for name in names:
        for ch in name:
            if ch not in table:
                table[ch] = n.normalize(ch)
    get = table.get

    def per_char() -> None:
        for name in names:
            "".join([get(c, c) for c in name])

    def ours() -> None:
        f = n.normalize
        for name in names:
            f(name)

    ours()  # warm the unit cache, as a long run would
    t_ours = best(ours, repeat)
    t_dict = best(per_char, repeat)
    rows = [{"measure": "Normalizer.normalize / per-char dict.get loop", "ours": t_ours,
             "peer": t_dict, "ratio": t_ours / t_dict, "goal": "<= 0.5",
             "names_per_s": len(names) / t_ours}]
    try:
        import jntajis
    except ImportError:
        rows.append({"measure": "Normalizer.normalize / jntajis", "skipped": "jntajis missing"})
    else:
        def jnta() -> None:
            f = jntajis.jnta_shrink_translit
            for name in names:
                f(name, "\u3013")

        t_j = best(jnta, repeat)
        rows.append({"measure": "Normalizer.normalize / jntajis.jnta_shrink_translit",
                     "ours": t_ours, "peer": t_j, "ratio": t_ours / t_j, "goal": "< 1"})
        # The same with every name distinct (a number appended), so no name repeats: the
        # normalizer's name cache cannot help, every unsafe name is substituted afresh.
        distinct = [f"{name}{i}" for i, name in enumerate(names)]
        fresh = Normalizer("jisx0208")

        def ours_distinct() -> None:
            f = fresh.normalize
            for name in distinct:
                f(name)

        def jnta_distinct() -> None:
            f = jntajis.jnta_shrink_translit
            for name in distinct:
                f(name, "\u3013")

        t_od = best(ours_distinct, repeat)
        t_jd = best(jnta_distinct, repeat)
        rows.append({"measure": "  same, every name distinct / jntajis", "ours": t_od,
                     "peer": t_jd, "ratio": t_od / t_jd, "goal": "< 1"})
    return rows


def bench_kana(readings: list[str], repeat: int) -> list[dict]:
    from mojinorm import normalize_kana

    def ours() -> None:
        for r in readings:
            normalize_kana(r)

    t_ours = best(ours, repeat)
    rows = []
    try:
        import jaconv

        def jc() -> None:
            for r in readings:
                jaconv.h2z(r, kana=True, ascii=False, digit=False)

        t = best(jc, repeat)
        rows.append({"measure": "jaconv.h2z / normalize_kana (speed-up)", "ours": t_ours,
                     "peer": t, "ratio": t / t_ours, "goal": ">= 3"})
    except ImportError:
        rows.append({"measure": "normalize_kana vs jaconv", "skipped": "jaconv missing"})
    try:
        import mojimoji

        def mm() -> None:
            for r in readings:
                mojimoji.han_to_zen(r, ascii=False, digit=False)

        t = best(mm, repeat)
        rows.append({"measure": "mojimoji.han_to_zen / normalize_kana (speed-up)",
                     "ours": t_ours, "peer": t, "ratio": t / t_ours, "goal": "(info)"})
    except ImportError:
        rows.append({"measure": "normalize_kana vs mojimoji", "skipped": "mojimoji missing"})
    return rows


def bench_startup(repeat: int) -> list[dict]:
    code = ("import time; t=time.perf_counter(); import mojinorm; "
            "mojinorm.normalize('髙橋 太郎'); print(time.perf_counter()-t)")
    times = []
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True)
        times.append(float(out.stdout))
    bare = []
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        bare.append(time.perf_counter() - t)
    return [{"measure": "import + first normalize (fresh interpreter)", "ours": min(times),
             "peer": min(bare), "ratio": min(times) / min(bare), "goal": "< 0.150 s",
             "note": "peer = starting an empty interpreter"}]


def bench_rss(path: Path) -> list[dict]:
    # VmHWM of the child's own address space: ru_maxrss would carry over the parent's peak
    # across fork + exec on Linux.
    code = ("from mojinorm.scan import scan_file; "
            f"scan_file({str(path)!r}, target='jisx0208'); "
            "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    kib = int(out.stdout.split()[-1])
    size = path.stat().st_size
    return [{"measure": "peak RSS of a scan (MB)", "ours": kib / 1024, "peer": size / 2**20,
             "ratio": (kib * 1024) / size, "goal": "<= 150 MB",
             "note": "peer = file size in MB"}]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--rss-rows", type=int, default=10_000_000,
                    help="rows of the file whose scan's peak RSS is measured (0: skip)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="repeat 1, no RSS run")
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args()
    if args.quick:
        args.repeat, args.rss_rows = 1, 0
    work = args.workdir or Path(tempfile.mkdtemp(prefix="mojinorm-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    path, tiny = work / f"members-{args.rows}.csv", work / "members-10.csv"
    if not path.exists():
        write_file(path, args.rows)
    write_file(tiny, 10)
    records = list(make_sample.generate(args.rows, 7))
    names = [r[1] for r in records]
    readings = [r[2] for r in records]
    del records

    results = []
    results += bench_scan(path, tiny, args.repeat)
    results += bench_normalize(names, args.repeat)
    results += bench_kana(readings, args.repeat)
    results += bench_startup(max(args.repeat, 3))
    if args.rss_rows:
        big = work / f"members-{args.rss_rows}.csv"
        if not big.exists():
            write_file(big, args.rss_rows)
        results += bench_rss(big)
        results.append(jobs_ratio(big, tiny, min(args.repeat, 2)))

    machine = {"python": platform.python_version(), "machine": platform.machine(),
               "cpus": os.cpu_count(), "system": platform.platform(), "rows": args.rows}
    print(f"mojinorm benchmarks: {args.rows:,} rows; Python {machine['python']}, "
          f"{machine['cpus']} CPUs, {machine['system']}")
    print(f"{'measure':62} {'ours':>9} {'peer':>9} {'ratio':>7}  goal")
    for r in results:
        if "skipped" in r:
            print(f"{r['measure']:62} skipped: {r['skipped']}")
            continue
        print(f"{r['measure']:62} {r['ours']:9.3f} {r['peer']:9.3f} {r['ratio']:7.2f}  "
              f"{r['goal']}")
    out = HERE / "out"
    out.mkdir(exist_ok=True)
    (out / "results.json").write_text(json.dumps({"machine": machine, "results": results},
                                                 indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
