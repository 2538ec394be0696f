#!/usr/bin/env python3
"""Wide and long inputs: a CSV with 5,000 columns, and one field of 15 MB.

    python benchmarks/wide_long.py                 # every built-in target for the wide file
    python benchmarks/wide_long.py --target jisx0208 --only wide

The files (written to benchmarks/out/wide_long): ``wide-5000.csv``, a header and one row of
5,000 short values, 1 in 50 outside JIS X 0208 (39 KB); ``long-mixed.csv``, one field of 5M
code points (15 MB) with 1 in 997 outside JIS X 0208; ``long-unsafe.csv``, the same size with
every code point outside; ``long-quoted.csv``, the mixed field quoted, with line breaks,
doubled quotes and commas inside.

Each command runs in a fresh process under ``/usr/bin/time -v`` (wall time and maximum
resident set size); ``+time`` and ``+RSS`` are against the same command on a two-row,
three-column file.  The ``api`` rows run one call of the per-name API in a fresh process on a
10M-code-point string: its time and the growth of the peak RSS (VmHWM) during the call.  Pure
standard library plus the installed package.
"""

from __future__ import annotations

import argparse
import random
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out" / "wide_long"
TARGETS = ("jisx0208", "jisx0208-1983", "cp932", "jisx0213", "mj")

#: Units outside JIS X 0208 that a member file holds: CP932/JIS X 0213 extended kanji, a
#: Moji_Joho IVS, a private-use code, an MJ-only kanji, a zero-width space.
UNSAFE = ("髙", "﨑", "德", "濵", "葛\U000E0102", "\ue000", "𠮷", "\u200b")
SAFE = "山田太郎花子鈴木一郎佐藤高橋渡辺伊藤中村小林加藤吉田あいうえおアイウエオ"

API = r"""
import random, sys, time
import mojinorm

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1])
    return 0

what, target = sys.argv[1], sys.argv[2]
rnd = random.Random(10)
if what == "is_safe":
    # 10M code points: an IVS first (kept by mj, unsafe elsewhere), one unsafe in the middle
    text = "\u845b\U000E0102" + "\u5c71" * 5_000_000 + "\ue000" + "\u5c71" * 5_000_000
else:
    # 10M code points, mostly safe, 1 in 997 outside JIS X 0208 (or every one: all-unsafe)
    safe = "\u5c71\u7530\u592a\u90ce\u82b1\u5b50\u3042\u30a2"
    chars = [rnd.choice(safe) for _ in range(10_000_000)]
    step = 1 if what.endswith("all") else 997
    for i in range(0, len(chars), step):
        chars[i] = rnd.choice("\u9ad9\ufa11\u5fb7\u6ff5")
    text = "".join(chars)
    del chars
mojinorm.normalize("\u9ad9", target)
mojinorm.explain("\u9ad9", target)
open("/proc/self/clear_refs", "w").write("5")  # reset the peak to the current RSS
before = status("VmRSS:")
t = time.perf_counter()
if what == "is_safe":
    mojinorm.is_safe(text, target)
elif what.startswith("normalize"):
    mojinorm.normalize(text, target)
else:
    mojinorm.explain(text, target)
sys.stderr.write("API %f %d\n" % (time.perf_counter() - t, status("VmHWM:") - before))
"""

#: (function, text, target) measured in-process on a 10M-code-point string.
API_CASES = [("is_safe", "jisx0208"), ("is_safe", "jisx0213"), ("is_safe", "mj"),
             ("normalize", "jisx0208"), ("normalize-all", "jisx0208"),
             ("explain", "jisx0208"), ("explain-all", "jisx0208")]


def make_files(d: Path) -> dict[str, Path]:
    d.mkdir(parents=True, exist_ok=True)
    rnd = random.Random(15)
    files = {}
    tiny = d / "tiny.csv"
    tiny.write_text("id,name,kana\n1,髙橋 太郎,タカハシ\n2,山田 花子,ヤマダ\n", encoding="utf-8")
    files["tiny"] = tiny
    # 5,000 columns, a header and one data row: short values, 1 in 50 with an unsafe unit
    ncols = 5000
    header = ",".join(f"c{i}" for i in range(1, ncols + 1))
    row = ",".join(rnd.choice(UNSAFE) if i % 50 == 7 else str(i % 10) for i in range(ncols))
    wide = d / "wide-5000.csv"
    wide.write_text(header + "\n" + row + "\n", encoding="utf-8")
    files["wide"] = wide
    # one 15 MB field (5M code points of 3 UTF-8 bytes): mostly safe, and all unsafe
    n = 5_000_000
    chars = [rnd.choice(SAFE) for _ in range(n)]
    for i in range(0, n, 997):
        chars[i] = rnd.choice(UNSAFE[:4])
    long_mixed = d / "long-mixed.csv"
    long_mixed.write_text("id,name\n1," + "".join(chars) + "\n", encoding="utf-8")
    files["long-mixed"] = long_mixed
    long_unsafe = d / "long-unsafe.csv"
    long_unsafe.write_text("id,name\n1," + "".join(rnd.choice(UNSAFE[:4]) for _ in range(n))
                           + "\n", encoding="utf-8")
    files["long-unsafe"] = long_unsafe
    # the mostly-safe field quoted, with line breaks, doubled quotes and commas inside
    for i in range(500, n, 100_003):
        chars[i] = "\n"
    for i in range(700, n, 50_021):
        chars[i] = '""'
    for i in range(900, n, 70_001):
        chars[i] = ","
    long_quoted = d / "long-quoted.csv"
    long_quoted.write_text('id,name\n1,"' + "".join(chars) + '"\n', encoding="utf-8")
    files["long-quoted"] = long_quoted
    return files


def timed(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and max RSS (MB) of one fresh process."""
    proc = subprocess.run(["/usr/bin/time", "-v", *cmd], stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", proc.stderr)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    assert wall and rss
    h, m, s = wall.groups()
    return int(h or 0) * 3600 + int(m) * 60 + float(s), int(rss.group(1)) / 1024


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "mojinorm.cli", *args]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=OUT)
    ap.add_argument("--target", action="append", help="targets (default: every built-in one)")
    ap.add_argument("--only", choices=("wide", "long", "api"), action="append")
    args = ap.parse_args(argv)
    files = make_files(args.data)
    out = args.data / "out.csv"
    only = set(args.only or ("wide", "long", "api"))
    print(f"{'file':12s} {'target':14s} {'command':14s} {'time s':>8s} {'RSS MB':>8s} "
          f"{'+time':>7s} {'+RSS':>7s}", flush=True)

    def row(name: str, target: str, command: str) -> None:
        args_ = ["scan", "-q", "-f", "json"] if command == "scan" else \
            ["normalize", "-q", "-o", str(out)]
        base = timed(cli(*args_, "--target", target, str(files["tiny"])))
        t, rss = timed(cli(*args_, "--target", target, str(files[name])))
        print(f"{name:12s} {target:14s} {command:14s} {t:8.2f} {rss:8.0f} {t - base[0]:7.2f} "
              f"{rss - base[1]:7.0f}", flush=True)

    targets = args.target or list(TARGETS)
    if "wide" in only:
        for target in targets:
            for command in ("scan", "normalize"):
                row("wide", target, command)
    if "long" in only:
        for target in (args.target or ["jisx0208", "mj"]):
            for name in ("long-mixed", "long-unsafe", "long-quoted"):
                for command in ("scan", "normalize"):
                    row(name, target, command)
    if "api" in only:
        for what, target in API_CASES:
            proc = subprocess.run([sys.executable, "-c", API, what, target],
                                  capture_output=True, text=True, check=True)
            t, extra = proc.stderr.split("API ")[1].split()[:2]
            print(f"{'api 10M':12s} {target:14s} {what:14s} {float(t):8.2f} {'':8s} {'':7s} "
                  f"{int(extra) / 1024:7.0f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
