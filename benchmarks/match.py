#!/usr/bin/env python3
"""``mojinorm match`` benchmark: two files of N rows each, measured cold (a fresh process).

    python benchmarks/match.py                    # 1M x 1M rows, best of 3
    python benchmarks/match.py --rows 100000 --repeat 1

MASTER (the clinic's patient file) is CP932 with CRLF, as legacy exports are: id, 氏名, カナ,
生年月日.  Names are two-kanji family names and given names drawn from JIS level 1 (most names
distinct), a share of them families with a known variant (高橋/髙橋, 山崎/山﨑, 渡辺/渡邊 …);
readings in katakana with a full-width space.

RESULTS (the eligibility results) is UTF-8 with a BOM: 受給者番号, 氏名, カナ, 生年月日.  Of
its rows 97% are master rows (in another order) and 3% people not on file; a master row's
name comes back as it is (about 86%), with the other space (4%), with a variant kanji (5%:
高→髙, 崎→﨑, 辺→邊 …, or the reverse), or with one or two characters masked by ● (5%); its
reading as it is, or half-width (5%), or with large kana for small ones (3%).  A few master
rows are duplicated (same name and birth date), so some pairs are 1:n.

Printed: the wall time of ``mojinorm match`` (the best of ``--repeat`` fresh processes), its
peak RSS, and the counts of its summary line.  Files are written to benchmarks/out/.
"""

from __future__ import annotations

import argparse
import datetime
import os
import random
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"

# (plain form, variant form): the variant is what an insurer may hold, the plain form what a
# clinic may hold, or the reverse
VARIANTS = [("高", "髙"), ("崎", "﨑"), ("辺", "邊"), ("辺", "邉"), ("浜", "濱"), ("沢", "澤"),
            ("斎", "齋"), ("徳", "德"), ("柳", "栁"), ("吉", "𠮷"), ("桑", "桒"), ("清", "淸"),
            ("黒", "黑"), ("瀬", "瀨"), ("広", "廣"), ("国", "國"), ("島", "嶋"), ("富", "冨")]
VARIANT_FAMILIES = ["高橋", "高木", "高田", "山崎", "宮崎", "岩崎", "渡辺", "田辺", "浜田",
                    "長浜", "沢田", "中沢", "斎藤", "徳永", "徳田", "柳田", "吉田", "吉川",
                    "桑原", "清水", "黒田", "瀬戸", "広瀬", "国分", "島田", "富田"]
SMALL = {"ャ": "ヤ", "ュ": "ユ", "ョ": "ヨ", "ッ": "ツ"}
_HALF = str.maketrans(
    "アイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワン"
    "ャュョッー\u3000",
    "ｱｲｳｴｵｶｷｸｹｺｻｼｽｾｿﾀﾁﾂﾃﾄﾅﾆﾇﾈﾉﾊﾋﾌﾍﾎﾏﾐﾑﾒﾓﾔﾕﾖﾗﾘﾙﾚﾛﾜﾝｬｭｮｯｰ ")
KANA = [chr(c) for c in range(0x30A2, 0x30F3) if chr(c) not in "ヰヱヲヮヵヶ"]


def people(rows: int, rnd: random.Random) -> list[tuple[str, str, str]]:
    """``(name, reading, birth date)`` of ``rows`` people on file."""
    common = []
    for code in range(0x889F, 0x9873):
        try:
            ch = code.to_bytes(2, "big").decode("shift_jis")
        except UnicodeDecodeError:
            continue
        if "\u4e00" <= ch <= "\u9fff":
            common.append(ch)
    family = [rnd.choice(common) + rnd.choice(common) for _ in range(3000)] + VARIANT_FAMILIES * 60
    given = [rnd.choice(common) + rnd.choice(common) for _ in range(1500)] + \
        [rnd.choice(common) for _ in range(300)]
    start = datetime.date(1930, 1, 1).toordinal()
    span = datetime.date(2020, 12, 31).toordinal() - start
    out = []
    for _ in range(rows):
        fam = rnd.choice(family)
        if rnd.random() < 0.3:
            plain, variant = rnd.choice(VARIANTS)
            if plain in fam and variant.encode("cp932", "ignore"):
                fam = fam.replace(plain, variant)  # some clinics hold the variant (CP932)
        reading = "".join(rnd.choice(KANA) for _ in range(rnd.randint(2, 4))) + "\u3000" + \
            "".join(rnd.choice(KANA) for _ in range(rnd.randint(2, 4)))
        if rnd.random() < 0.1:
            reading = reading[:1] + rnd.choice(list(SMALL)) + reading[2:]
        born = datetime.date.fromordinal(start + rnd.randrange(span)).isoformat()
        out.append((fam + "\u3000" + rnd.choice(given), reading, born))
    return out


def as_returned(name: str, reading: str, rnd: random.Random) -> tuple[str, str]:
    """A master row's name and reading as the eligibility system may return them."""
    r = rnd.random()
    if r < 0.04:
        name = name.replace("\u3000", " ")
    elif r < 0.09:
        for plain, variant in VARIANTS:
            if variant in name:
                name = name.replace(variant, plain)
                break
            if plain in name:
                name = name.replace(plain, variant)
                break
    elif r < 0.14:
        chars = [i for i, c in enumerate(name) if c != "\u3000"]
        for i in rnd.sample(chars, 2 if rnd.random() < 0.2 and len(chars) >= 4 else 1):
            name = name[:i] + "●" + name[i + 1:]
    k = rnd.random()
    if k < 0.05:
        reading = reading.translate(_HALF)
    elif k < 0.08:
        reading = "".join(SMALL.get(c, c) for c in reading)
    return name, reading


def make(rows: int, seed: int = 20261201) -> tuple[Path, Path]:
    OUT.mkdir(exist_ok=True)
    master_path = OUT / f"match-master-{rows}.csv"
    results_path = OUT / f"match-results-{rows}.csv"
    if master_path.exists() and results_path.exists():
        return results_path, master_path
    rnd = random.Random(seed)
    master = people(rows, rnd)
    for i in rnd.sample(range(rows), rows // 1000):  # duplicates: 1:n pairs
        master[rnd.randrange(rows)] = master[i]
    with open(master_path, "w", encoding="cp932", newline="") as f:
        f.write("患者ID,氏名,カナ,生年月日\r\n")
        for i, (name, reading, born) in enumerate(master, 1):
            f.write(f"P{i:07d},{name},{reading},{born}\r\n")
    order = rnd.sample(range(rows), rows)
    strangers = people(rows // 30, rnd)
    with open(results_path, "w", encoding="utf-8-sig", newline="") as f:
        f.write("受給者番号,氏名,カナ,生年月日\n")
        for i, j in enumerate(order[:rows - len(strangers)], 1):
            name, reading, born = master[j]
            name, reading = as_returned(name, reading, rnd)
            f.write(f"{10000000 + i},{name},{reading},{born}\n")
        for i, (name, reading, born) in enumerate(strangers, rows - len(strangers) + 1):
            f.write(f"{10000000 + i},{name},{reading},{born}\n")
    return results_path, master_path


def peak_and_time(cmd: list[str]) -> tuple[float, float, float, str]:
    """Wall time, CPU time (user + system, all threads), peak RSS (MB) of one fresh process,
    and its stderr.  CPU time says more than wall time on a machine shared with other work."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    err = proc.stderr.read() if proc.stderr else ""
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - t
    if status:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{err}")
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, err


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    t = time.perf_counter()
    results, master = make(args.rows)
    print(f"files: {results.name}, {master.name} ({time.perf_counter() - t:.1f} s to make)")
    cmd = [sys.executable, "-m", "mojinorm.cli", "match", str(results), str(master),
           "--name", "氏名", "--kana", "カナ", "--key", "生年月日", "--id", "受給者番号=患者ID",
           "-o", str(OUT / f"match-pairs-{args.rows}.csv")]
    runs = [peak_and_time(cmd) for _ in range(args.repeat)]
    best = min(r[0] for r in runs)
    print(f"mojinorm match {args.rows:,} x {args.rows:,} rows: wall best {best:.2f} s of "
          f"{', '.join(f'{r[0]:.2f}' for r in runs)}; CPU (user + system) best "
          f"{min(r[1] for r in runs):.2f} s; peak RSS {max(r[2] for r in runs):.0f} MB; "
          f"1-minute load average after the runs {os.getloadavg()[0]:.1f}")
    print(runs[-1][3].strip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
