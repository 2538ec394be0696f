#!/usr/bin/env python3
"""Compile mojinorm's character tables from their pinned upstream sources.

    python tools/build_tables.py            # (re)write src/mojinorm/_data/
    python tools/build_tables.py --check    # rebuild into a temp dir, fail on any difference

Sources (the only ones the project uses; see src/mojinorm/_data/NOTICE.md for licences):
  * npm   @mandel59/mojidata@1.8.1 -> dist/moji.db (MJ文字情報一覧表, MJ縮退マップ, IVD, SVS, the
                                       official same-字種 lists); the versions of the datasets it
                                       carries are read from its download.txt
  * PyPI  jntajis-python==0.1.0    -> the 国税庁 JIS縮退マップ (JIS X 0213 -> JIS X 0208), read
                                       through its public API in a throw-away virtual environment
  * CPython codecs                 -> shift_jis, cp932, shift_jis_2004 membership, and the code
                                       points they decode one JIS X 0208 code to

Downloads are cached outside the repository (``$MOJINORM_CACHE`` or ``~/.cache/mojinorm``) and
verified against pinned hashes.  Output is deterministic: same sources, same bytes.  File names,
header columns, rule ids and list ids come from ``mojinorm._schema``, which the loader shares.
"""

from __future__ import annotations

import argparse
import base64
import filecmp
import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tarfile
import tempfile
import unicodedata
import venv
from collections.abc import Iterable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from mojinorm import _schema as schema  # noqa: E402  (the layout shared with the loader)

OVERRIDES = REPO / "data" / "mappings" / "overrides.yaml"
OUT_DIR = REPO / "src" / "mojinorm" / "_data"
CACHE = Path(os.environ.get("MOJINORM_CACHE", Path.home() / ".cache" / "mojinorm"))

MOJIDATA_SPEC = "@mandel59/mojidata@1.8.1"
MOJIDATA_TARBALL = "mandel59-mojidata-1.8.1.tgz"
MOJIDATA_SHA512 = (
    "OLA5LEmPHuVbdI8lGXwV3pGVpSIFAqU5+oqhPzK7q662ziWYMqxTGXoxfFb9dQCJ31WzSCG1C5rsUb2uynQhIQ=="
)
JNTAJIS_SPEC = "jntajis-python==0.1.0"

# mji columns, in the order of the fields of mj.tsv (mojinorm._schema.MJ).
MJI_COLUMNS = (
    "MJ文字図形名", "実装したUCS", "対応するUCS", "実装したMoji_JohoコレクションIVS",
    "実装したSVS", "対応する互換漢字", "戸籍統一文字番号", "住基ネット統一文字コード",
    "入管正字コード", "入管外字コード", "登記統一文字番号", "X0213", "X0213_包摂区分", "X0212",
)
MJ_COLUMNS = list(zip(MJI_COLUMNS, schema.MJ.columns, strict=True))

# Official same-字種 lists in moji.db: list id -> (table, column of one form, column of the other).
SAME_JISYU_SOURCES: dict[str, tuple[tuple[str, str, str], ...]] = {
    "joyo-kangxi": (("joyo_kangxi", "漢字", "康熙字典体"),),
    "jinmei-itaiji": (("kdpv_jinmei1/variant", "subject", "object"),
                      ("kdpv_jinmei2/variant", "subject", "object")),
    "hyogai-itaiji": (("kdpv_hyogai/variant", "subject", "object"),),
}
assert set(SAME_JISYU_SOURCES) == set(schema.SAME_JISYU_LISTS)

# Dataset versions, read from the download list mojidata ships (package/download.txt): dataset
# -> pattern whose groups, joined by ".", are the version.  Each must give exactly one value.
MOJIDATA_DATASETS = {
    schema.DATASET_MJI: r"\bmji\.(\d{3})(\d{2})\.xlsx\s",
    schema.DATASET_MJSM: r"\bMJShrinkMapVer\.(\d+(?:\.\d+)*)\.zip\s",
    schema.DATASET_IVD: r"/ivd/data/(\d{4}-\d{2}-\d{2})/",
    schema.DATASET_UCD: r"unicode\.org/Public/(\d+\.\d+\.\d+)/ucd/",
    schema.DATASET_CJKVI_VARIANTS: r"/cjkvi/cjkvi-variants/([0-9a-f]{40})/",
}


def log(msg: str) -> None:
    print(msg, file=sys.stderr)


# --------------------------------------------------------------------------- sources


def sri_sha512(path: Path) -> str:
    digest = hashlib.sha512(path.read_bytes()).digest()
    return base64.b64encode(digest).decode()


def fetch_mojidata_tarball() -> Path:
    """Return the path of the npm tarball, downloading it when needed; always verified."""
    CACHE.mkdir(parents=True, exist_ok=True)
    tarball = CACHE / MOJIDATA_TARBALL
    if not tarball.exists():
        log(f"npm pack {MOJIDATA_SPEC} -> {CACHE}")
        subprocess.run(
            ["npm", "pack", MOJIDATA_SPEC, "--silent"], cwd=CACHE, check=True,
            stdout=subprocess.DEVNULL, timeout=600,
        )
    actual = sri_sha512(tarball)
    if actual != MOJIDATA_SHA512:
        tarball.unlink()
        raise SystemExit(f"integrity mismatch for {MOJIDATA_TARBALL}: sha512-{actual}")
    return tarball


def fetch_mojidata() -> tuple[Path, Path]:
    """Return the paths of the verified npm tarball and of moji.db, extracted when needed."""
    tarball = fetch_mojidata_tarball()
    db = CACHE / "mojidata-1.8.1" / "moji.db"
    if not db.exists():
        db.parent.mkdir(parents=True, exist_ok=True)
        with tarfile.open(tarball) as tar:
            member = tar.getmember("package/dist/moji.db")
            src = tar.extractfile(member)
            assert src is not None
            tmp = db.with_suffix(".part")
            with open(tmp, "wb") as fh:
                shutil.copyfileobj(src, fh)
            tmp.replace(db)
    return tarball, db


def mojidata_metadata(tarball: Path) -> tuple[str, dict[str, str]]:
    """The package version and the versions of the datasets moji.db was built from, read from
    package.json and download.txt in the verified tarball (never typed in here)."""
    with tarfile.open(tarball) as tar:
        def member(name: str) -> str:
            fh = tar.extractfile(f"package/{name}")
            if fh is None:
                raise SystemExit(f"{MOJIDATA_TARBALL}: package/{name} is missing")
            return fh.read().decode("utf-8")

        version = str(json.loads(member("package.json"))["version"])
        download = member("download.txt")
    if not MOJIDATA_SPEC.endswith(f"@{version}"):
        raise SystemExit(f"{MOJIDATA_TARBALL} carries version {version}, not {MOJIDATA_SPEC}")
    datasets = {}
    for dataset, pattern in MOJIDATA_DATASETS.items():
        found = {".".join(m.groups()) for m in re.finditer(pattern, download)}
        if len(found) != 1:
            raise SystemExit(f"download.txt of {MOJIDATA_SPEC}: expected one version of "
                             f"{dataset}, found {sorted(found) or 'none'}")
        datasets[dataset] = found.pop()
    return version, datasets


# Every code point is transliterated on its own, followed by U+3000: jntajis holds a character
# that may start a JIS X 0213 sequence (か, ㇷ, æ, ˥ ...) in a look-ahead buffer that only the
# next character flushes, so a lone "ㇷ" would come back empty instead of "フ".  U+3000 starts
# no sequence and maps to itself.  Multi-code-point sources (か゚ ...) are not read: jntajis 0.1.0
# emits them followed by their base character again (か゚ -> か゚か), which is not a mapping.
_NTA_DUMP = r"""
import json, sys
import jntajis
out = {}
for cp in range(0x110000):
    if 0xD800 <= cp < 0xE000:
        continue
    ch = chr(cp)
    got = jntajis.jnta_shrink_translit(ch + "\u3000", "\ufffd")
    if "\ufffd" in got:
        continue
    if not got.endswith("\u3000"):
        raise SystemExit(f"unexpected transliteration of U+{cp:04X}: {got!r}")
    got = got[:-1]
    if got != ch:
        out[ch] = got
json.dump({"version": jntajis.__version__, "map": out}, sys.stdout, ensure_ascii=False)
"""


def fetch_nta_map() -> tuple[str, dict[str, str]]:
    """Read the NTA JIS shrink map through jntajis' public API in a throw-away venv: every
    code point the map replaces, with its replacement (one or more characters)."""
    env_dir = CACHE / "jntajis-venv"
    python = env_dir / "bin" / "python"
    if not python.exists():
        log(f"creating throw-away venv for {JNTAJIS_SPEC}")
        venv.create(env_dir, with_pip=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
             JNTAJIS_SPEC],
            check=True, timeout=600,
        )
    proc = subprocess.run(
        [str(python), "-c", _NTA_DUMP], check=True, capture_output=True, text=True,
        encoding="utf-8",
    )
    data = json.loads(proc.stdout)
    return str(data["version"]), dict(data["map"])


# --------------------------------------------------------------------------- helpers


def codec_members(encoding: str) -> set[int]:
    out = set()
    for cp in range(0x110000):
        if 0xD800 <= cp < 0xE000:
            continue
        try:
            chr(cp).encode(encoding)
        except UnicodeEncodeError:
            continue
        out.add(cp)
    return out


def jisx0213_sequences() -> set[str]:
    """Multi-code-point characters of JIS X 0213 (か゚, ˥˩ ...), found by decoding every code."""
    seqs = set()
    leads = list(range(0x81, 0xA0)) + list(range(0xE0, 0xFD))
    for lead in leads:
        for trail in range(0x40, 0xFD):
            try:
                s = bytes([lead, trail]).decode("shift_jis_2004")
            except UnicodeDecodeError:
                continue
            if len(s) > 1:
                seqs.add(s)
    return seqs


def jis_equivalents() -> list[tuple[str, str, str]]:
    """Pairs of code points the codecs give for the same JIS X 0208 code (wave dash 0x8160 is
    U+301C in shift_jis, U+FF5E in cp932): ``(char, equivalent, Shift_JIS code)``, both ways."""
    pairs = set()
    leads = list(range(0x81, 0xA0)) + list(range(0xE0, 0xF0))
    for lead in leads:
        for trail in range(0x40, 0xFD):
            code = bytes([lead, trail])
            try:
                base = code.decode("shift_jis")
            except UnicodeDecodeError:
                continue
            for other in ("cp932", "shift_jis_2004"):
                alt = code.decode(other, "replace")
                if alt != base and len(alt) == 1 and alt != "\ufffd":
                    pairs.add((base, alt, code.hex().upper()))
                    pairs.add((alt, base, code.hex().upper()))
    return sorted(pairs)


def is_private_use(cp: int) -> bool:
    return 0xE000 <= cp <= 0xF8FF or 0xF0000 <= cp <= 0x10FFFF


def is_ideograph(ch: str) -> bool:
    return unicodedata.name(ch, "").startswith("CJK ")


def ranges(cps: Iterable[int]) -> list[list[int]]:
    out: list[list[int]] = []
    for cp in sorted(cps):
        if out and out[-1][1] == cp - 1:
            out[-1][1] = cp
        else:
            out.append([cp, cp])
    return out


def tsv_line(fields: Iterable[object]) -> str:
    cells = []
    for f in fields:
        s = "" if f is None else str(f)
        if "\t" in s or "\n" in s:
            raise ValueError(f"field contains a tab or newline: {s!r}")
        cells.append(s)
    return "\t".join(cells) + "\n"


def write_text(path: Path, text: str) -> None:
    path.write_bytes(text.encode("utf-8"))


# --------------------------------------------------------------------------- overrides


def compile_overrides(path: Path = OVERRIDES, targets_dir: Path = OUT_DIR) -> str:
    """Validate the reviewed override file and return its compiled JSON text.

    Each entry: ``char`` (one character to replace), ``replacement`` (one character) and
    ``reason`` (required: an override without a reason is not reviewed).  Rejected, with file
    and line: unknown keys, a character listed twice, a replacement equal to its character or
    outside every target, and cycles (A -> B -> ... -> A).
    """
    from mojinorm._yamlfile import TableError, load_entries
    from mojinorm.units import iter_units

    def fail(msg: str) -> None:
        raise TableError(msg)

    mj_target = next(
        json.loads(line) for line in
        (targets_dir / schema.TARGETS_FILE).read_text(encoding="utf-8").splitlines()
        if json.loads(line)["name"] == "mj")

    def known(ch: str) -> bool:
        return len(ch) == 1 and any(lo <= ord(ch) <= hi for lo, hi in mj_target["ranges"])

    seen: dict[str, str] = {}
    out = []
    for entry in load_entries(path, "overrides", {"char", "replacement", "reason"}):
        data, where = entry.data, entry.where
        missing = {"char", "replacement", "reason"} - set(data)
        if missing:
            fail(f"{where}: missing {', '.join(sorted(missing))}")
        char, repl = str(data["char"]), str(data["replacement"])
        reason = " ".join(str(data["reason"]).split())
        for label, value in (("char", char), ("replacement", repl)):
            if len(list(iter_units(value))) != 1:
                fail(f"{where}: {label} {value!r} must be exactly one character")
        if not reason:
            fail(f"{where}: {char} has an empty reason")
        if char in seen:
            fail(f"{where}: {char} is already overridden at {seen[char]}")
        if repl == char:
            fail(f"{where}: {char} is mapped to itself")
        if not known(repl):
            fail(f"{where}: replacement {repl!r} is outside every target (not an MJ character)")
        seen[char] = where
        out.append({"char": char, "replacement": repl, "reason": reason})
    mapping = {e["char"]: e["replacement"] for e in out}
    for start in mapping:
        chain = [start]
        while chain[-1] in mapping:
            nxt = mapping[chain[-1]]
            if nxt in chain:
                fail(f"{seen[start]}: overrides form a cycle: {' -> '.join(chain + [nxt])}")
            chain.append(nxt)
    out.sort(key=lambda e: e["char"])
    return json.dumps({"overrides": out}, ensure_ascii=False, indent=1, sort_keys=True) + "\n"


# --------------------------------------------------------------------------- build


def header(table: schema.TsvTable) -> str:
    return tsv_line(table.columns)


def utf8_key(s: str) -> bytes:
    return s.encode("utf-8")


def compile_nta(raw: dict[str, str], jisx0208: set[int]) -> tuple[list[str], dict[str, int]]:
    """Every row of the NTA map whose replacement lies entirely in JIS X 0208, sorted by the
    UTF-8 bytes of the source (so the package can binary-search it), and the row counts."""
    kept = {
        src: dst for src, dst in raw.items()
        if dst and all(ord(c) in jisx0208 for c in dst)
    }
    lines = [header(schema.NTA)] + [
        tsv_line([src, kept[src]]) for src in sorted(kept, key=utf8_key)
    ]
    kanji = sum(1 for src in kept if is_ideograph(src))
    counts = {
        "total": len(kept),
        "kanji": kanji,
        "non_kanji": len(kept) - kanji,
        "multi_character": sum(1 for dst in kept.values() if len(dst) > 1),
        "excluded_outside_jisx0208": len(raw) - len(kept),
    }
    return lines, counts


def compile_same_jisyu(con: sqlite3.Connection) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """The official same-字種 lists as one table: a row per (char, other, list id) in both
    directions, sorted by the UTF-8 bytes of char, other, list id; and the counts per list."""
    rows: set[tuple[str, str, str]] = set()
    counts: dict[str, dict[str, Any]] = {}
    for list_id, sources in SAME_JISYU_SOURCES.items():
        pairs: set[frozenset[str]] = set()
        tables: dict[str, int] = {}
        for table, col_a, col_b in sources:
            found = con.execute(f'SELECT "{col_a}", "{col_b}" FROM "{table}"').fetchall()
            tables[table] = len(found)
            for a, b in found:
                if not (isinstance(a, str) and isinstance(b, str) and len(a) == len(b) == 1
                        and a != b):
                    raise SystemExit(f"{table}: unexpected pair {a!r} / {b!r} "
                                     f"(expected two different single code points)")
                pairs.add(frozenset((a, b)))
                rows.add((a, b, list_id))
                rows.add((b, a, list_id))
        counts[list_id] = {
            "source_rows": tables,
            "pairs": len(pairs),
            "rows": 2 * len(pairs),
        }
    ordered = sorted(rows, key=lambda r: (utf8_key(r[0]), utf8_key(r[1]), r[2]))
    return [header(schema.SAME_JISYU)] + [tsv_line(r) for r in ordered], counts


def build(out_dir: Path) -> None:
    tarball, db_path = fetch_mojidata()
    mojidata_version, datasets = mojidata_metadata(tarball)
    nta_version, nta_raw = fetch_nta_map()
    con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)

    log("codec membership")
    jisx0208 = codec_members("shift_jis")
    cp932 = {cp for cp in codec_members("cp932") if not is_private_use(cp)}
    jisx0213 = codec_members("shift_jis_2004")
    seq0213 = jisx0213_sequences()

    log("MJ文字情報一覧表")
    cols = ", ".join(f'"{c}"' for c, _ in MJ_COLUMNS)
    mji_rows = con.execute(f'SELECT {cols} FROM mji ORDER BY "MJ文字図形名"').fetchall()
    mj_lines = [header(schema.MJ)]
    mj_cps: set[int] = set()
    mj_seqs: set[str] = set()
    for row in mji_rows:
        mj_lines.append(tsv_line(row))
        rec = dict(zip(schema.MJ.columns, row, strict=True))
        for key in ("ucs", "corresponding_ucs", "compat"):
            if rec[key]:
                mj_cps.add(ord(rec[key]))
        if rec["svs"]:
            mj_seqs.add(rec["svs"])
    # Bare code point -> MJ ids: the glyph implemented at that code point first, then glyphs
    # that correspond to it but are reached only through an IVS (so 德 is ambiguous).  Sorted
    # by the UTF-8 bytes of the character so the package can binary-search it.
    primary: dict[str, list[str]] = {}
    secondary: dict[str, list[str]] = {}
    for row in mji_rows:
        rec = dict(zip(schema.MJ.columns, row, strict=True))
        if rec["ucs"]:
            primary.setdefault(rec["ucs"], []).append(rec["mj"])
        corr = rec["corresponding_ucs"]
        if corr and corr != rec["ucs"]:
            secondary.setdefault(corr, []).append(rec["mj"])

    def ivs_only(ch: str) -> list[str]:
        return sorted(i for i in secondary.get(ch, []) if i not in primary.get(ch, []))

    char_lines = [header(schema.MJ_CHARS)] + [
        tsv_line([ch, ",".join(sorted(primary.get(ch, []))), ",".join(ivs_only(ch))])
        for ch in sorted(set(primary) | set(secondary), key=utf8_key)
    ]
    # Every registered Moji_Joho IVS, including the two duplicates registered for one MJ id.
    ivs_rows = con.execute('SELECT "IVS", "code" FROM "ivs_Moji_Joho" ORDER BY "IVS"').fetchall()
    mj_seqs.update(ivs for ivs, _ in ivs_rows)
    ivs_rows.sort(key=lambda r: utf8_key(r[0]))
    ivs_lines = [header(schema.MJ_IVS)] + [tsv_line(r) for r in ivs_rows]
    # The non-kanji repertoire of JIS X 0213 (kana, Latin, digits, symbols, U+3000, 〓) so that a
    # whole name written in MJ kanji is inside the `mj` target.
    mj_cps.update(cp for cp in jisx0213 if not is_ideograph(chr(cp)))
    mj_seqs.update(s for s in seq0213 if not is_ideograph(s[0]))

    log("SVS -> compatibility ideographs")
    svs_rows = con.execute('SELECT "SVS", "CJKCI" FROM "svs_cjkci" ORDER BY "SVS"').fetchall()
    svs_lines = [header(schema.SVS)] + [tsv_line(r) for r in svs_rows]

    log("MJ縮退マップ")
    shrink_lines = [header(schema.SHRINK)]
    shrink_counts: dict[str, int] = {}
    for category in schema.SHRINK_RULES:
        table, rule = category.table, category.rule
        info = {r[1] for r in con.execute(f'PRAGMA table_info("mjsm_{table}")')}
        if not info:
            raise SystemExit(f"moji.db has no table mjsm_{table}")
        rank = '"順位"' if "順位" in info else "NULL"
        hops = '"ホップ数"' if "ホップ数" in info else "NULL"
        rows = con.execute(
            f'SELECT "MJ文字図形名", "縮退UCS", "縮退X0213", {rank}, {hops} '
            f'FROM "mjsm_{table}"'
        ).fetchall()
        shrink_counts[rule] = len(rows)
        for mj, target, x0213, rnk, hop in rows:
            shrink_lines.append(tsv_line([
                mj, rule, target, x0213, rnk, hop,
                int(ord(target) in jisx0208), int(ord(target) in jisx0213),
            ]))
    # Stable order: by MJ id, then the category order of the schema, then rank/hops, then target.
    order = {rule: i for i, rule in enumerate(schema.SHRINK_RULE_IDS)}

    def shrink_key(line: str) -> tuple[str, int, int, int, str]:
        f = line.rstrip("\n").split("\t")
        return (f[0], order[f[1]], int(f[4] or 0), int(f[5] or 0), f[2])

    shrink_lines = shrink_lines[:1] + sorted(set(shrink_lines[1:]), key=shrink_key)

    log("NTA JIS縮退マップ")
    nta_lines, nta_counts = compile_nta(nta_raw, jisx0208)

    log("official same-字種 lists")
    same_lines, same_counts = compile_same_jisyu(con)

    equivalents = jis_equivalents()
    equiv_lines = [header(schema.JIS_EQUIVALENTS)] + [tsv_line(row) for row in equivalents]

    # JIS X 0208-1983 (the claim record spec): the 1990 edition without row 84 cells 5-6,
    # the two kanji added in 1990 (凜 and 熙), read from the codec itself.
    added_1990 = {ord(bytes.fromhex(code).decode("shift_jis")) for code in ("EAA3", "EAA4")}
    jisx0208_1983 = jisx0208 - added_1990
    targets = {
        "jisx0208": {"ranges": ranges(jisx0208), "sequences": []},
        "jisx0208-1983": {"ranges": ranges(jisx0208_1983), "sequences": []},
        "cp932": {"ranges": ranges(cp932), "sequences": []},
        "jisx0213": {"ranges": ranges(jisx0213), "sequences": sorted(seq0213)},
        "mj": {"ranges": ranges(mj_cps), "sequences": sorted(mj_seqs)},
    }
    sizes = {
        "jisx0208": {"code_points": len(jisx0208), "sequences": 0},
        "jisx0208-1983": {"code_points": len(jisx0208_1983), "sequences": 0},
        "cp932": {"code_points": len(cp932), "sequences": 0},
        "jisx0213": {"code_points": len(jisx0213), "sequences": len(seq0213)},
        "mj": {"code_points": len(mj_cps), "sequences": len(mj_seqs)},
    }

    out_dir.mkdir(parents=True, exist_ok=True)
    tsv = {
        schema.MJ.file: mj_lines,
        schema.MJ_IVS.file: ivs_lines,
        schema.MJ_CHARS.file: char_lines,
        schema.SVS.file: svs_lines,
        schema.SHRINK.file: shrink_lines,
        schema.NTA.file: nta_lines,
        schema.JIS_EQUIVALENTS.file: equiv_lines,
        schema.SAME_JISYU.file: same_lines,
    }
    if set(tsv) != set(schema.SOURCE_TABLES):
        raise SystemExit(f"the build writes {sorted(tsv)}, the schema names "
                         f"{sorted(schema.SOURCE_TABLES)}")
    files = {name: "".join(lines) for name, lines in tsv.items()}
    files[schema.TARGETS_FILE] = "".join(
        json.dumps({"name": name, **targets[name]}, ensure_ascii=False, sort_keys=True,
                   separators=(",", ":")) + "\n"
        for name in sorted(targets))
    write_text(out_dir / schema.TARGETS_FILE, files[schema.TARGETS_FILE])
    files[schema.OVERRIDES_FILE] = compile_overrides(targets_dir=out_dir)
    for name, text in files.items():
        write_text(out_dir / name, text)

    mojidata_contains = ", ".join(
        f"{name} {version[:7] if name == schema.DATASET_CJKVI_VARIANTS else version}"
        for name, version in datasets.items()
    )
    manifest = {
        "sources": [
            {
                "name": schema.SOURCE_MOJIDATA, "registry": "npm", "version": mojidata_version,
                "integrity": f"sha512-{MOJIDATA_SHA512}",
                "datasets": datasets,
                "contains": f"{mojidata_contains}; 常用漢字表 康熙字典体 (joyo_kangxi)",
            },
            {
                "name": schema.SOURCE_JNTAJIS, "registry": "PyPI", "version": nta_version,
                "contains": "国税庁 JIS縮退マップ (read through jnta_shrink_translit)",
            },
            {"name": schema.SOURCE_CODECS, "version": "{}.{}".format(*sys.version_info[:2]),
             "contains": "shift_jis, cp932, shift_jis_2004"},
        ],
        "rows": {
            "mj": len(mji_rows),
            "mj_ivs": len(ivs_rows),
            "mj_chars": len(char_lines) - 1,
            "svs": len(svs_rows),
            "shrink": len(shrink_lines) - 1,
            "shrink_by_rule": shrink_counts,
            "nta": nta_counts["total"],
            "nta_by_kind": nta_counts,
            "same_jisyu": len(same_lines) - 1,
            "same_jisyu_by_list": same_counts,
            "jis_equivalents": len(equivalents),
            "overrides": len(json.loads(files[schema.OVERRIDES_FILE])["overrides"]),
        },
        "targets": sizes,
        "files": {
            name: hashlib.sha256((out_dir / name).read_bytes()).hexdigest()
            for name in sorted(files)
        },
    }
    write_manifest(out_dir, manifest)
    # Second stage: the pipeline's own decisions over the tables just written.
    resolved = compile_resolved_tables(out_dir)
    for name, text in resolved.items():
        write_text(out_dir / name, text)
        manifest["files"][name] = hashlib.sha256(text.encode("utf-8")).hexdigest()
    manifest["rows"]["resolved"] = {
        target: resolved[schema.RESOLVED[target].file].count("\n") - 1
        for target in schema.RESOLVED_TARGETS
    }
    write_manifest(out_dir, manifest)
    log(f"wrote {len(files) + len(resolved) + 1} files to {out_dir}")


def write_manifest(out_dir: Path, manifest: dict) -> None:
    write_text(out_dir / schema.MANIFEST_FILE,
               json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True) + "\n")


def compile_resolved_tables(data_dir: Path) -> dict[str, str]:
    """Run mojinorm's pipeline over the tables in ``data_dir`` (a copy of the package whose
    ``_data`` is that directory, in a fresh interpreter) and return the resolved tables."""
    with tempfile.TemporaryDirectory() as tmp:
        package = Path(tmp) / "mojinorm"
        shutil.copytree(REPO / "src" / "mojinorm", package,
                        ignore=shutil.ignore_patterns("_data", "__pycache__"))
        (package / "_data").symlink_to(data_dir.resolve(), target_is_directory=True)
        code = (
            "import json, sys\n"
            "from mojinorm import _schema\n"
            "from mojinorm.normalizer import compile_resolved\n"
            "json.dump({_schema.RESOLVED[t].file: compile_resolved(t)\n"
            "           for t in _schema.RESOLVED_TARGETS}, sys.stdout, ensure_ascii=False)\n"
        )
        env = {**os.environ, "PYTHONPATH": tmp, "PYTHONDONTWRITEBYTECODE": "1"}
        log("resolved decisions per target (the pipeline over the new tables)")
        proc = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                              text=True, encoding="utf-8", env=env, timeout=600)
        return dict(json.loads(proc.stdout))


COMPILED = list(schema.COMPILED_FILES)


def check() -> int:
    """Rebuild into a temp dir and compare byte for byte with the committed tables."""
    with tempfile.TemporaryDirectory() as tmp:
        try:
            build(Path(tmp))
        except (OSError, subprocess.SubprocessError) as exc:
            print(f"SKIP: cannot reach the registries to rebuild the tables ({exc})")
            return 0
        differ = [
            name for name in COMPILED
            if not (OUT_DIR / name).exists()
            or not filecmp.cmp(Path(tmp) / name, OUT_DIR / name, shallow=False)
        ]
        if sys.version_info[:2] != (3, 11):
            # Codec tables and the Python version in the manifest may legitimately differ.
            print(f"note: tables are pinned with CPython 3.11; this is {sys.version.split()[0]}")
    if differ:
        print("tables differ from a fresh build: " + ", ".join(differ))
        return 1
    print(f"OK: {len(COMPILED)} compiled files match a fresh build")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="rebuild into a temp dir and fail on any difference")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="output directory")
    args = parser.parse_args(argv)
    from mojinorm._yamlfile import TableError

    try:
        if args.check:
            return check()
        build(args.out)
    except TableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
