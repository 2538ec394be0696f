#!/usr/bin/env python3
"""Write a synthetic health-insurance member file with realistic ● cases.

    python tools/make_sample.py                                   # data/samples/names.csv
    python tools/make_sample.py --rows 1000000 --out /tmp/1m.csv
    python tools/make_sample.py --rows 1000000 --out /tmp/1m-sjis.csv --encoding cp932 --crlf

Columns ``id,name,kana``; family and given names separated by an ideographic space U+3000.
Deterministic (``random.Random(seed)``).  What goes in, per row (approximate shares; every 97th
row cycles through the gaiji, IVS and no-mapping names so that a small file has each of them):

* ~4%  an extended kanji outside JIS X 0208 in the family name (髙 﨑 德 栁 濵 𠮷 淸 桒 曻 …:
  in CP932 and/or JIS X 0213, or only in MJ like 𠮷);
* ~1%  a private-use gaiji U+E000-U+E003 (meanings in data/samples/gaiji.yaml, a copy of
  data/mappings/gaiji-example.yaml: 𠮷 three ways and 髙);
* ~1%  a Moji_Joho IVS (葛 + U+E0102, 辻 + U+E0102);
* ~1%  a kanji no rule maps into JIS X 0208 (彅 in 草彅, 蓜 in 蓜島, 琇 in a given name);
* ~2%  an old form that *is* in JIS X 0208 (齋 邊 邉 濱 眞: must stay unchanged);
* ~0.2% an invisible character in the name (NBSP or zero-width space instead of U+3000);
* ~10% a half-width katakana reading (ﾔﾏﾀﾞ ﾀﾛｳ); the others full-width.

``--realistic`` writes a file shaped like a real member file instead (for benchmarks): most
names distinct (family and given names built from two kanji each, drawn from the JIS X 0208
kanji, so a million rows hold about 800,000 distinct names); 4% of rows carry one unit outside
JIS X 0208 drawn from thousands of values (CP932 and JIS X 0213 extended kanji, MJ-only kanji,
Moji_Joho IVS, and private-use codes spread over U+E000-U+F8FF).

The CP932 output writes what CP932 can carry; a name CP932 cannot encode (𠮷, IVS, 琇 …) is
replaced by a plain one, so such files have fewer ● cases (as real CP932 exports do).
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Iterator
from pathlib import Path

# (family name, reading) — common surnames
FAMILY = [
    ("佐藤", "サトウ"), ("鈴木", "スズキ"), ("高橋", "タカハシ"), ("田中", "タナカ"),
    ("伊藤", "イトウ"), ("渡辺", "ワタナベ"), ("山本", "ヤマモト"), ("中村", "ナカムラ"),
    ("小林", "コバヤシ"), ("加藤", "カトウ"), ("吉田", "ヨシダ"), ("山田", "ヤマダ"),
    ("佐々木", "ササキ"), ("山口", "ヤマグチ"), ("松本", "マツモト"), ("井上", "イノウエ"),
    ("木村", "キムラ"), ("林", "ハヤシ"), ("斎藤", "サイトウ"), ("清水", "シミズ"),
    ("山崎", "ヤマザキ"), ("森", "モリ"), ("池田", "イケダ"), ("橋本", "ハシモト"),
    ("阿部", "アベ"), ("石川", "イシカワ"), ("山下", "ヤマシタ"), ("中島", "ナカジマ"),
    ("石井", "イシイ"), ("小川", "オガワ"), ("前田", "マエダ"), ("岡田", "オカダ"),
    ("長谷川", "ハセガワ"), ("藤田", "フジタ"), ("後藤", "ゴトウ"), ("近藤", "コンドウ"),
    ("村上", "ムラカミ"), ("遠藤", "エンドウ"), ("青木", "アオキ"), ("坂本", "サカモト"),
    ("斉藤", "サイトウ"), ("福田", "フクダ"), ("太田", "オオタ"), ("西村", "ニシムラ"),
    ("藤井", "フジイ"), ("金子", "カネコ"), ("岡本", "オカモト"), ("藤原", "フジワラ"),
    ("中野", "ナカノ"), ("三浦", "ミウラ"), ("原田", "ハラダ"), ("中川", "ナカガワ"),
    ("松田", "マツダ"), ("竹内", "タケウチ"), ("小野", "オノ"), ("田村", "タムラ"),
    ("中山", "ナカヤマ"), ("和田", "ワダ"), ("石田", "イシダ"), ("森田", "モリタ"),
    ("上田", "ウエダ"), ("原", "ハラ"), ("内田", "ウチダ"), ("柴田", "シバタ"),
    ("酒井", "サカイ"), ("宮崎", "ミヤザキ"), ("横山", "ヨコヤマ"), ("高木", "タカギ"),
    ("安藤", "アンドウ"), ("宮本", "ミヤモト"), ("大野", "オオノ"), ("小島", "コジマ"),
    ("工藤", "クドウ"), ("谷口", "タニグチ"), ("今井", "イマイ"), ("高田", "タカダ"),
    ("丸山", "マルヤマ"), ("増田", "マスダ"), ("杉山", "スギヤマ"), ("村田", "ムラタ"),
    ("大塚", "オオツカ"), ("小山", "コヤマ"), ("平野", "ヒラノ"), ("藤本", "フジモト"),
    ("久保", "クボ"), ("松井", "マツイ"), ("千葉", "チバ"), ("岩崎", "イワサキ"),
    ("桜井", "サクライ"), ("野口", "ノグチ"), ("松尾", "マツオ"), ("菅原", "スガワラ"),
    ("野村", "ノムラ"), ("木下", "キノシタ"), ("佐野", "サノ"), ("大西", "オオニシ"),
    ("杉本", "スギモト"), ("新井", "アライ"), ("浜田", "ハマダ"), ("菊地", "キクチ"),
    ("市川", "イチカワ"), ("古川", "フルカワ"), ("水野", "ミズノ"), ("小松", "コマツ"),
    ("島田", "シマダ"), ("辻", "ツジ"), ("柳田", "ヤナギダ"), ("徳永", "トクナガ"),
]

# (given name, reading)
GIVEN = [
    ("太郎", "タロウ"), ("花子", "ハナコ"), ("一郎", "イチロウ"), ("健", "ケン"),
    ("誠", "マコト"), ("翔太", "ショウタ"), ("大輔", "ダイスケ"), ("拓也", "タクヤ"),
    ("直樹", "ナオキ"), ("和也", "カズヤ"), ("達也", "タツヤ"), ("健太", "ケンタ"),
    ("陽子", "ヨウコ"), ("恵子", "ケイコ"), ("裕子", "ユウコ"), ("美穂", "ミホ"),
    ("由美", "ユミ"), ("真由美", "マユミ"), ("直美", "ナオミ"), ("智子", "トモコ"),
    ("蓮", "レン"), ("陽翔", "ハルト"), ("湊", "ミナト"), ("悠真", "ユウマ"),
    ("結菜", "ユイナ"), ("陽葵", "ヒマリ"), ("凛", "リン"), ("葵", "アオイ"),
    ("浩", "ヒロシ"), ("清", "キヨシ"), ("勇", "イサム"), ("茂", "シゲル"),
    ("和子", "カズコ"), ("幸子", "サチコ"), ("節子", "セツコ"), ("久美子", "クミコ"),
    ("隆", "タカシ"), ("修", "オサム"), ("進", "ススム"), ("昇", "ノボル"),
    ("美咲", "ミサキ"), ("さくら", "サクラ"), ("ひかり", "ヒカリ"), ("あおい", "アオイ"),
]

# Extended kanji outside JIS X 0208, in a family name (name, reading).  In CP932 and/or
# JIS X 0213; 𠮷 and 髙 are not in JIS X 0213, 𠮷 is in neither (only MJ).
EXTENDED = [
    ("髙橋", "タカハシ"), ("髙木", "タカギ"), ("髙田", "タカダ"), ("山﨑", "ヤマサキ"),
    ("宮﨑", "ミヤザキ"), ("岩﨑", "イワサキ"), ("德永", "トクナガ"), ("德田", "トクダ"),
    ("栁田", "ヤナギダ"), ("栁沢", "ヤナギサワ"), ("濵田", "ハマダ"), ("濵口", "ハマグチ"),
    ("𠮷田", "ヨシダ"), ("𠮷川", "ヨシカワ"), ("淸水", "シミズ"), ("桒原", "クワバラ"),
    ("曻", "ノボリ"), ("黑田", "クロダ"), ("瀨戸", "セト"), ("﨔本", "ケヤキモト"),
]
# Old forms that are in JIS X 0208: must be left alone.
OLD_FORMS = [
    ("齋藤", "サイトウ"), ("渡邊", "ワタナベ"), ("渡邉", "ワタナベ"), ("濱田", "ハマダ"),
    ("眞鍋", "マナベ"), ("齋木", "サイキ"), ("田邊", "タナベ"),
]
# Private-use gaiji (see data/samples/gaiji.yaml): U+E000/E001/E003 = 𠮷, U+E002 = 髙.
GAIJI = [
    ("\ue000田", "ヨシダ"), ("\ue001川", "ヨシカワ"), ("\ue002橋", "タカハシ"),
    ("\ue003岡", "ヨシオカ"),
]
# Moji_Joho IVS (MJ022335 葛, MJ025760 辻).
IVS = [
    ("葛\U000e0102西", "カサイ"), ("葛\U000e0102城", "カツラギ"), ("辻\U000e0102", "ツジ"),
    ("辻\U000e0102本", "ツジモト"),
]
# Kanji no allowed rule maps into JIS X 0208 (rule no-mapping): family names ...
NO_MAPPING = [("草彅", "クサナギ"), ("蓜島", "ハイジマ")]
# ... and a given name.
NO_MAPPING_GIVEN = [("琇子", "シュウコ")]

_HALF = {
    "ア": "ｱ", "イ": "ｲ", "ウ": "ｳ", "エ": "ｴ", "オ": "ｵ", "カ": "ｶ", "キ": "ｷ", "ク": "ｸ",
    "ケ": "ｹ", "コ": "ｺ", "サ": "ｻ", "シ": "ｼ", "ス": "ｽ", "セ": "ｾ", "ソ": "ｿ", "タ": "ﾀ",
    "チ": "ﾁ", "ツ": "ﾂ", "テ": "ﾃ", "ト": "ﾄ", "ナ": "ﾅ", "ニ": "ﾆ", "ヌ": "ﾇ", "ネ": "ﾈ",
    "ノ": "ﾉ", "ハ": "ﾊ", "ヒ": "ﾋ", "フ": "ﾌ", "ヘ": "ﾍ", "ホ": "ﾎ", "マ": "ﾏ", "ミ": "ﾐ",
    "ム": "ﾑ", "メ": "ﾒ", "モ": "ﾓ", "ヤ": "ﾔ", "ユ": "ﾕ", "ヨ": "ﾖ", "ラ": "ﾗ", "リ": "ﾘ",
    "ル": "ﾙ", "レ": "ﾚ", "ロ": "ﾛ", "ワ": "ﾜ", "ヲ": "ｦ", "ン": "ﾝ", "ァ": "ｧ", "ィ": "ｨ",
    "ゥ": "ｩ", "ェ": "ｪ", "ォ": "ｫ", "ッ": "ｯ", "ャ": "ｬ", "ュ": "ｭ", "ョ": "ｮ", "ー": "ｰ",
    "ガ": "ｶﾞ", "ギ": "ｷﾞ", "グ": "ｸﾞ", "ゲ": "ｹﾞ", "ゴ": "ｺﾞ", "ザ": "ｻﾞ", "ジ": "ｼﾞ",
    "ズ": "ｽﾞ", "ゼ": "ｾﾞ", "ゾ": "ｿﾞ", "ダ": "ﾀﾞ", "ヂ": "ﾁﾞ", "ヅ": "ﾂﾞ", "デ": "ﾃﾞ",
    "ド": "ﾄﾞ", "バ": "ﾊﾞ", "ビ": "ﾋﾞ", "ブ": "ﾌﾞ", "ベ": "ﾍﾞ", "ボ": "ﾎﾞ", "パ": "ﾊﾟ",
    "ピ": "ﾋﾟ", "プ": "ﾌﾟ", "ペ": "ﾍﾟ", "ポ": "ﾎﾟ", "ヴ": "ｳﾞ",
}


def half_width(kana: str) -> str:
    """Full-width katakana -> half-width (JIS X 0201), ideographic space -> ASCII space."""
    return "".join(_HALF.get(c, " " if c == "\u3000" else c) for c in kana)


def generate(rows: int, seed: int = 20260401) -> Iterator[tuple[str, str, str]]:
    """Yield ``(id, name, kana)`` rows; the same ``rows`` and ``seed`` give the same rows."""
    rnd = random.Random(seed)
    showcase = GAIJI + IVS + NO_MAPPING
    for i in range(1, rows + 1):
        r = rnd.random()
        if i % 97 == 0:  # every rare case shows up even in a small file
            family = showcase[(i // 97) % len(showcase)]
        elif r < 0.040:
            family = rnd.choice(EXTENDED)
        elif r < 0.046:
            family = rnd.choice(GAIJI)
        elif r < 0.051:
            family = rnd.choice(IVS)
        elif r < 0.056:
            family = rnd.choice(NO_MAPPING)
        elif r < 0.076:
            family = rnd.choice(OLD_FORMS)
        else:
            family = rnd.choice(FAMILY)
        given = rnd.choice(NO_MAPPING_GIVEN) if rnd.random() < 0.002 else rnd.choice(GIVEN)
        r = rnd.random()
        if r < 0.001:
            sep = "\u00a0"  # NBSP: looks like a space, is not one of the allowed two
        elif r < 0.002:
            sep = "\u200b"  # zero-width space: invisible
        else:
            sep = "\u3000"
        name = family[0] + sep + given[0]
        kana = family[1] + "\u3000" + given[1]
        if rnd.random() < 0.10:
            kana = half_width(kana)
        yield f"{i:07d}", name, kana


_KANA = [chr(c) for c in range(0x30A2, 0x30F3) if chr(c) not in "ヰヱヲ"]


def _outside_pools(rnd: random.Random) -> list[list[str]]:
    """Units outside JIS X 0208, in four pools: extended kanji of CP932 or JIS X 0213, MJ-only
    kanji, Moji_Joho IVS, private-use code points.  Drawn from the compiled tables."""
    from mojinorm import _tables, get_target

    j0208 = get_target("jisx0208").chars
    ext = sorted(c for c in get_target("jisx0213").chars | get_target("cp932").chars
                 if c not in j0208 and "\u4e00" <= c <= "\u9fff")
    mj_only = sorted(c for c in _tables.mj_by_char() if len(c) == 1 and c not in j0208
                     and ord(c) >= 0x3400 and c not in ext)
    ivs = sorted(_tables.mj_by_ivs())
    pua = [chr(c) for c in range(0xE000, 0xF900)]
    return [ext, rnd.sample(mj_only, 8000), rnd.sample(ivs, 4000), pua]


def generate_realistic(rows: int, seed: int = 20260401) -> Iterator[tuple[str, str, str]]:
    """Yield ``(id, name, kana)`` rows with the cardinality of a real member file."""
    from mojinorm import get_target

    rnd = random.Random(seed)
    # JIS level 1 kanji (Shift_JIS 889F-9872): the common ones names are made of
    common = sorted(c for c in get_target("jisx0208").chars
                    if "\u4e00" <= c <= "\u9fff" and c.encode("shift_jis") < b"\x98\x73")
    pools = _outside_pools(rnd)

    def word() -> str:
        return rnd.choice(common) + rnd.choice(common)

    def reading(n: int) -> str:
        return "".join(rnd.choice(_KANA) for _ in range(n))

    family = [word() for _ in range(3000)]
    given = [word() for _ in range(1500)]
    for i in range(1, rows + 1):
        fam = rnd.choice(family)
        if rnd.random() < 0.04:
            unit = rnd.choice(rnd.choice(pools))
            fam = unit + fam[1:] if rnd.random() < 0.5 else fam[:1] + unit
        kana = reading(rnd.randint(2, 4)) + "\u3000" + reading(rnd.randint(2, 4))
        yield f"{i:07d}", fam + "\u3000" + rnd.choice(given), kana


_PLAIN = [("田中", "タナカ"), ("太郎", "タロウ")]


def _encodable(row: tuple[str, str, str], encoding: str) -> tuple[str, str, str]:
    try:
        "".join(row).encode(encoding)
        return row
    except UnicodeEncodeError:
        return row[0], _PLAIN[0][0] + "\u3000" + _PLAIN[1][0], \
            _PLAIN[0][1] + "\u3000" + _PLAIN[1][1]


def write(path: str | Path, rows: int, seed: int = 20260401, encoding: str = "utf-8",
          crlf: bool = False, realistic: bool = False) -> None:
    """Write ``rows`` rows (plus the header) to ``path``."""
    rows_of = generate_realistic if realistic else generate
    eol = "\r\n" if crlf else "\n"
    codec = "cp932" if encoding.lower() in ("cp932", "shift_jis", "sjis", "windows-31j") \
        else encoding
    with open(path, "w", encoding=codec, newline="") as f:
        f.write(f"id,name,kana{eol}")
        buf = []
        for row in rows_of(rows, seed):
            if codec == "cp932":
                row = _encodable(row, codec)
            buf.append(",".join(row) + eol)
            if len(buf) >= 10_000:
                f.write("".join(buf))
                buf.clear()
        f.write("".join(buf))


def main(argv: list[str] | None = None) -> int:
    root = Path(__file__).resolve().parent.parent
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=2000, help="data rows (default 2000)")
    ap.add_argument("--seed", type=int, default=20260401)
    ap.add_argument("--out", default=str(root / "data" / "samples" / "names.csv"),
                    help="output path (default data/samples/names.csv)")
    ap.add_argument("--encoding", default="utf-8", help="utf-8 (default), utf-8-sig or cp932")
    ap.add_argument("--crlf", action="store_true", help="CRLF line ends (default LF)")
    ap.add_argument("--realistic", action="store_true",
                    help="most names distinct, 4%% outside JIS X 0208 over thousands of values")
    args = ap.parse_args(argv)
    write(args.out, args.rows, args.seed, args.encoding, args.crlf, args.realistic)
    print(f"wrote {args.rows} rows to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
