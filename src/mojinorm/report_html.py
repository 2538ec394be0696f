"""``scan --format html``: a :class:`~mojinorm.report.ScanReport` as one self-contained HTML page.

The page holds everything it shows: inline CSS, the chart as inline SVG, no script, no font
file, no link to anything outside it, so it can be mailed or archived and opened offline.
Characters are drawn with the fonts of the reader's system; a glyph the system lacks still
leaves its code point beside it (``U+20BB7``), and a character nobody can see (control,
format, odd space, private use) is written ``<U+XXXX>`` instead of itself.  Every text that
comes from the input (file and column names, characters, notes) is HTML-escaped.

Sections: totals, rows by outcome per column (SVG bars), the offending characters, the rows
to review (their lines) and the suggested ``normalize`` command.
"""

from __future__ import annotations

import html
import unicodedata
from collections.abc import Sequence

from .gaiji import is_private_use
from .invisible import classify
from .report import CharStat, ScanReport, next_command
from .units import is_variation_selector

__all__ = ["OUTCOMES", "next_command", "outcome_counts", "render"]

#: The outcomes of the chart: (key, label).  The first four split the values; ``review``
#: overlaps them (a row to review is also safe-with-a-change, substituted or fallback).
OUTCOMES = (
    ("safe", "safe"),
    ("lossless", "same character"),
    ("substituted", "substituted"),
    ("fallback", "fallback"),
    ("review", "review"),
)
#: The chart group of the whole rows (before the columns).
ALL_ROWS = "all rows"

_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Zl", "Zp"})


def _hidden(ch: str) -> bool:
    """A code point that shows nothing useful on its own: control, format, surrogate (an
    undecodable file name byte), private use, an odd space."""
    return (classify(ch) is not None or is_private_use(ch)
            or unicodedata.category(ch) in _HIDDEN_CATEGORIES)


def _pieces(s: str) -> list[tuple[str, bool]]:
    """``s`` as (text, hidden) pieces, each hidden code point alone, written ``<U+XXXX>``.  A
    variation selector right after a visible character is kept: it selects that character's
    glyph (葛 with U+E0102), and the code points are shown beside it."""
    out: list[tuple[str, bool]] = []
    after_visible = False
    for ch in s:
        if _hidden(ch) and not (after_visible and is_variation_selector(ch)):
            out.append((f"<U+{ord(ch):04X}>", True))
            after_visible = False
        else:
            if out and not out[-1][1]:
                out[-1] = (out[-1][0] + ch, False)
            else:
                out.append((ch, False))
            after_visible = True
    return out


def visible(s: str) -> str:
    """``s`` with each hidden code point written ``<U+XXXX>`` (not HTML-escaped)."""
    return "".join(text for text, _ in _pieces(s))


def _t(s: object) -> str:
    """Text from the input, for the content of an element: escaped, a hidden code point in a
    ``<span class="esc">``."""
    return "".join(f'<span class="esc">{html.escape(text)}</span>' if hidden
                   else html.escape(text, quote=True) for text, hidden in _pieces(str(s)))


def _a(s: object) -> str:
    """Text from the input, for an attribute value or a text-only element (``<title>``)."""
    return html.escape(visible(str(s)), quote=True)


def _n(n: int) -> str:
    return f"{n:,}"


def _pct(n: int, d: int) -> str:
    return f"{100.0 * n / d:.2f}%" if d else "0%"


def _cps(s: str) -> str:
    return " ".join(f"U+{ord(c):04X}" for c in s)


def _glyph(s: str) -> str:
    """A unit drawn with its code points beside it (the glyph may be missing on the system)."""
    if not s:
        return '<span class="removed">(removed)</span>'
    return (f'<span class="g" lang="ja">{_t(s)}</span> '
            f'<code class="cp">{_cps(s)}</code>')


def outcome_counts(report: ScanReport) -> dict[str, dict[str, int]]:
    """The chart's numbers: group (:data:`ALL_ROWS`, then each selected column) -> outcome key
    -> count, and ``total`` (rows of the group: the column's values)."""
    groups = {ALL_ROWS: {
        "total": report.rows,
        "safe": report.rows - report.unsafe_rows,
        "lossless": report.lossless_rows,
        "substituted": report.substituted_rows,
        "fallback": report.fallback_rows,
        "review": report.review_rows,
    }}
    for name, c in report.columns.items():
        groups[name] = {
            "total": c["values"],
            "safe": c["values"] - c["unsafe"],
            "lossless": c.get("lossless", 0),
            "substituted": c.get("substituted", 0),
            "fallback": c["fallback"],
            "review": c.get("review", 0),
        }
    return groups


# ---------------------------------------------------------------------------- page

_CSS = """
:root { --safe: #3d8b4f; --lossless: #3b78c2; --substituted: #d08a12; --fallback: #c23b32;
  --review: #7b4fb5; --line: #d6d6d6; --muted: #5f6368; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1080px; padding: 24px; color: #202124; background: #fff;
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", "Hiragino Sans", "Yu Gothic UI",
  Meiryo, "Noto Sans CJK JP", "IPAexGothic", sans-serif; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 32px 0 8px; padding-bottom: 4px; border-bottom: 2px solid #202124; }
p.sub { margin: 0; color: var(--muted); word-break: break-all; }
table { border-collapse: collapse; width: 100%; margin: 8px 0; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line);
  vertical-align: baseline; }
th { background: #f3f4f6; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 12px 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; word-break: break-all; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 12px 0; }
.card { border: 1px solid var(--line); border-left: 6px solid #9aa0a6; border-radius: 4px;
  padding: 8px 14px; min-width: 150px; }
.card b { display: block; font-size: 22px; font-variant-numeric: tabular-nums; }
.card.unsafe { border-left-color: #202124; } .card.lossless { border-left-color: var(--lossless); }
.card.substituted { border-left-color: var(--substituted); }
.card.fallback { border-left-color: var(--fallback); }
.card.review { border-left-color: var(--review); }
.g { font-size: 22px; font-family: "IPAmjMincho", "Noto Serif CJK JP", "Noto Sans CJK JP",
  "Hiragino Mincho ProN", "Yu Mincho", "MS Mincho", serif; }
code, pre { font-family: ui-monospace, "SFMono-Regular", Consolas, "DejaVu Sans Mono", monospace; }
.esc { font: 12px ui-monospace, "DejaVu Sans Mono", monospace; color: #8a1c13;
  background: #fbeae8; border-radius: 3px; padding: 0 2px; }
code.cp { font-size: 13px; color: var(--muted); white-space: nowrap; }
.removed { color: var(--muted); font-style: italic; }
.mark { color: var(--fallback); font-weight: 700; }
pre { background: #f3f4f6; border: 1px solid var(--line); border-radius: 4px; padding: 12px;
  white-space: pre-wrap; word-break: break-all; }
.note { color: var(--muted); font-size: 13px; }
.o-safe { fill: var(--safe); background: var(--safe); }
.o-lossless { fill: var(--lossless); background: var(--lossless); }
.o-substituted { fill: var(--substituted); background: var(--substituted); }
.o-fallback { fill: var(--fallback); background: var(--fallback); }
.o-review { fill: var(--review); background: var(--review); }
svg text { font-size: 12px; fill: #202124; }
svg .group { font-weight: 600; font-size: 13px; }
.legend span { display: inline-block; margin-right: 14px; }
.legend i { display: inline-block; width: 12px; height: 12px; margin-right: 4px;
  vertical-align: -1px; }
footer { margin-top: 32px; color: var(--muted); font-size: 12px; }
@media print { body { padding: 0; } h2 { break-after: avoid; } tr { break-inside: avoid; } }
"""

_OUTCOME_HELP = {
    "safe": "renders in the target as it is",
    "lossless": "renders after a change that keeps the character (JIS/UCS unification, "
                "variation selector, gaiji table, an invisible character removed)",
    "substituted": "renders after another character (a variant) replaces one",
    "fallback": "a character has no mapping into the target: the fallback (〓) replaces it",
    "review": "a person should look: a fallback, an ambiguous character or another glyph's "
              "mapping (these rows are also in one of the four outcomes above)",
}


def render(report: ScanReport, *, top: int | None = None, gaiji: Sequence[str] = (),
           target_description: str = "", options: Sequence[str] = (),
           version: str = "") -> str:
    """The HTML page of ``report``.  ``top``: characters to list (None: all);
    ``gaiji``: the gaiji tables the scan used; ``options``: the scan's options repeated in
    the suggested command (:func:`next_command`)."""
    title = f"mojinorm scan: {report.file}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_a(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        "<header>",
        "<h1>Characters that would render ● in the target</h1>",
        f'<p class="sub">{_t(report.file)}</p>',
        "</header>",
        _totals(report, gaiji, target_description),
        _outcomes(report),
        _stages(report),
        _characters(report, top),
        _review(report),
        _next(report, options),
        f"<footer>mojinorm {_t(version)} · scan report · characters are drawn with this "
        "system's fonts; a missing glyph still has its code point beside it, and characters "
        "nobody can see are written &lt;U+XXXX&gt;.</footer>",
        "</body>",
        "</html>",
    ]
    return "\n".join(parts) + "\n"


def _totals(r: ScanReport, gaiji: Sequence[str], target_description: str) -> str:
    if r.encoding == "parquet":
        layout = "Parquet"
    else:
        delim = {",": "comma", "\t": "tab", None: "plain text"}.get(r.delimiter,
                                                                   repr(r.delimiter))
        layout = (f"{delim}, {'header' if r.header else 'no header'}, {r.fields} fields, "
                  f"line ends {r.line_ends}")
    facts = [
        ("encoding", f"{r.encoding}{' (detected)' if r.encoding_detected else ''}"),
        ("target", r.target + (f": {target_description}" if target_description else "")),
        ("columns", ", ".join(r.columns_selected) or "-"),
        ("layout", layout),
    ]
    if gaiji:
        facts.append(("gaiji", ", ".join(gaiji)))
    facts += [("note", n) for n in r.notes]
    dl = "\n".join(f"<dt>{_t(k)}</dt><dd>{_t(v)}</dd>" for k, v in facts)
    cards = [
        ("rows", r.rows, "data records (no header, no blank lines)", ""),
        ("unsafe", r.unsafe_rows, f"{_pct(r.unsafe_rows, r.rows)} would render ● as they are",
         "unsafe"),
        ("lossless", r.lossless_rows, "become safe keeping the character", "lossless"),
        ("substituted", r.substituted_rows, "become safe with another character",
         "substituted"),
        ("fallback", r.fallback_rows, "need the fallback (no mapping)", "fallback"),
        ("review", r.review_rows, "need a person's look", "review"),
        ("invisible", r.invisible_rows, "hold invisible characters", ""),
    ]
    if r.ragged_rows:
        cards.append(("ragged", r.ragged_rows, f"have a field count other than {r.fields}", ""))
    if r.blank_lines:
        cards.append(("blank lines", r.blank_lines, "not counted as rows", ""))
    if r.multiline_records:
        cards.append(("multi-line", r.multiline_records, "records with a newline inside a "
                      "quoted field", ""))
    labels = dict(OUTCOMES)
    card_html = "\n".join(
        f'<div class="card {cls}" id="total-{key.replace(" ", "-")}">'
        f"{_t(labels.get(key, key))}<b>{_n(n)}</b>"
        f'<span class="note">{_t(text)}</span></div>'
        for key, n, text, cls in cards)
    return (f'<section id="totals">\n<h2>Totals</h2>\n<dl class="facts">\n{dl}\n</dl>\n'
            f'<div class="cards">\n{card_html}\n</div>\n</section>')


def _outcomes(r: ScanReport) -> str:
    groups = outcome_counts(r)
    label_w, bar_w, num_w = 190, 520, 150
    bar_h, gap, head_h, group_gap = 14, 3, 20, 14
    width = label_w + bar_w + num_w
    y = 0
    shapes = []
    # a column where every value renders as it is gets no bars (a member file has many such
    # columns: ids, dates); the table below still lists it
    charted = {g: c for g, c in groups.items() if g == ALL_ROWS or c["safe"] != c["total"]}
    plain = [g for g in groups if g not in charted]
    for group, counts in charted.items():
        total = counts["total"]
        name = group if group == ALL_ROWS else f"column {group}"
        shapes.append(f'<text class="group" x="0" y="{y + 14}">{_a(name)} '
                      f"({_n(total)} {'rows' if group == ALL_ROWS else 'values'})</text>")
        y += head_h
        for key, label in OUTCOMES:
            n = counts[key]
            w = bar_w * n / total if total else 0.0
            if n and w < 2:
                w = 2.0  # a handful among millions must still be seen; the number says how many
            shapes.append(
                f'<text x="{label_w - 8}" y="{y + bar_h - 3}" text-anchor="end">{label}</text>'
                f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h}" '
                f'class="bar o-{key}" data-group="{_a(group)}" data-outcome="{key}" '
                f'data-count="{n}"><title>{_a(group)}: {label} {_n(n)} '
                f"({_pct(n, total)})</title></rect>"
                f'<text x="{label_w + w + 6:.1f}" y="{y + bar_h - 3}">{_n(n)} '
                f"({_pct(n, total)})</text>")
            y += bar_h + gap
        y += group_gap
    svg = (f'<svg role="img" width="{width}" height="{y}" '
           f'viewBox="0 0 {width} {y}" aria-label="rows by outcome per column">\n'
           + "\n".join(shapes) + "\n</svg>")
    legend = "\n".join(f'<span><i class="o-{key}"></i>{label}: '
                       f"{_t(_OUTCOME_HELP[key])}</span><br>" for key, label in OUTCOMES)
    head = "".join(f'<th class="num">{label}</th>' for _, label in OUTCOMES)
    rows = "\n".join(
        f"<tr><td>{_t(group)}</td><td class=\"num\">{_n(c['total'])}</td>"
        + "".join(f'<td class="num">{_n(c[key])}</td>' for key, _ in OUTCOMES) + "</tr>"
        for group, c in groups.items())
    return (f'<section id="outcomes">\n<h2>Rows by outcome</h2>\n'
            '<p class="note">Per column, the values; for all rows, a row counts by its worst '
            "value.</p>\n"
            f"{svg}\n"
            + (f'<p class="note" id="all-safe">Every value renders as it is in: '
               f'{_t(", ".join(plain))}.</p>\n' if plain else "")
            + f"<p class=\"legend note\">{legend}</p>\n"
            f'<table id="outcome-table"><thead><tr><th></th><th class="num">total</th>{head}'
            f"</tr></thead>\n<tbody>\n{rows}\n</tbody></table>\n</section>")


def _stages(r: ScanReport) -> str:
    """Staged targets (``scan --target A --target B``): rows by outcome per target, and the
    rows that render in one and not in the next; empty for one target."""
    if not r.stages:
        return ""
    label_w, bar_w, num_w, bar_h, gap = 190, 520, 150, 14, 6
    width = label_w + bar_w + num_w
    shapes = []
    for k, st in enumerate(r.stages):
        y = k * (bar_h + gap)
        n, total = st["unsafe_rows"], r.rows
        w = bar_w * n / total if total else 0.0
        if n and w < 2:
            w = 2.0
        shapes.append(
            f'<text x="{label_w - 8}" y="{y + bar_h - 3}" text-anchor="end">'
            f"{_t(st['target'])}</text>"
            f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h}" class="bar o-fallback" '
            f'data-target="{_a(st["target"])}" data-count="{n}"><title>{_a(st["target"])}: '
            f"unsafe {_n(n)} ({_pct(n, total)})</title></rect>"
            f'<text x="{label_w + w + 6:.1f}" y="{y + bar_h - 3}">{_n(n)} '
            f"({_pct(n, total)})</text>")
    height = len(r.stages) * (bar_h + gap)
    svg = (f'<svg role="img" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
           f'aria-label="unsafe rows per target">\n' + "\n".join(shapes) + "\n</svg>")
    rows = "\n".join(
        f"<tr><td>{k + 1}</td><td>{_t(st['target'])}</td>"
        + "".join(f'<td class="num">{_n(st[key])}</td>'
                  for key in ("unsafe_rows", "fixable_rows", "fallback_rows", "review_rows"))
        + '<td class="num">'
        + ("-" if st["newly_unsafe_rows"] is None else _n(st["newly_unsafe_rows"]))
        + "</td></tr>"
        for k, st in enumerate(r.stages))
    return ('<section id="stages">\n<h2>Targets in turn</h2>\n'
            '<p class="note">Unsafe rows per target, read in one pass; the last column counts '
            "the rows that render in the previous target and not in this one.</p>\n"
            f"{svg}\n"
            '<table id="stage-table"><thead><tr><th>stage</th><th>target</th>'
            '<th class="num">unsafe</th><th class="num">fixable</th>'
            '<th class="num">fallback</th><th class="num">review</th>'
            '<th class="num">render in the previous, not here</th></tr></thead>\n'
            f"<tbody>\n{rows}\n</tbody></table>\n</section>")


def _characters(r: ScanReport, top: int | None) -> str:
    shown = r.chars if top is None else r.chars[:top]
    intro = (f"{_n(len(r.chars))} distinct characters the normalizer would change"
             + (f"; the first {_n(len(shown))} by count" if len(shown) < len(r.chars) else "")
             + ". ● marks a character outside the target.")
    if not shown:
        return (f'<section id="characters">\n<h2>Characters</h2>\n<p>{_t(intro)}</p>\n'
                "</section>")
    rows = "\n".join(_char_row(c) for c in shown)
    return (f'<section id="characters">\n<h2>Characters</h2>\n<p class="note">{_t(intro)}</p>\n'
            '<table id="chars"><thead><tr><th class="num">count</th><th>character</th>'
            "<th>●</th><th>category</th><th>MJ</th><th>replacement</th><th>rule</th>"
            f"<th>alternatives</th></tr></thead>\n<tbody>\n{rows}\n</tbody></table>\n</section>")


def _char_row(c: CharStat) -> str:
    alternatives = " ".join(_t(a) for a in c.alternatives) or "-"
    rule = c.steps or c.rule
    flag = " (fallback)" if c.fallback else ""
    return (f'<tr data-codepoint="{c.codepoint}"><td class="num">{_n(c.count)}</td>'
            f"<td>{_glyph(c.char)}</td>"
            f'<td class="mark">{"" if c.in_target else "●"}</td>'
            f"<td>{_t(c.category)}</td><td>{_t(c.mj or '-')}</td>"
            f"<td>{_glyph(c.replacement)}</td><td>{_t(rule)}{flag}</td>"
            f'<td lang="ja">{alternatives}</td></tr>')


def _review(r: ScanReport) -> str:
    where = "row" if r.encoding == "parquet" else "line"
    if not r.review_rows:
        return ('<section id="review">\n<h2>Rows to review</h2>\n'
                "<p>No row needs a person's look.</p>\n</section>")
    kept = r.review_examples
    intro = (f"{_n(r.review_rows)} rows need a person's look (a fallback, an ambiguous "
             "character or another glyph's mapping)"
             + (f"; the first {_n(len(kept))} are listed" if len(kept) < r.review_rows else "")
             + (". Line numbers count the header as line 1; a record over several lines is "
                "given by its first line." if where == "line" else
                ". Row numbers start at 1."))
    stats = {c.char: c for c in r.chars}
    rows = []
    for e in kept:
        what = "<br>".join(
            f"{_glyph(u)} → {_glyph(stats[u].replacement)} <span class=\"note\">"
            f"{_t(stats[u].steps or stats[u].rule)}</span>" if u in stats else _glyph(u)
            for u in e.chars) or "-"
        rows.append(f'<tr><td class="num">{e.line}</td><td>{_t(", ".join(e.columns))}</td>'
                    f"<td>{what}</td></tr>")
    return (f'<section id="review">\n<h2>Rows to review</h2>\n<p class="note">{_t(intro)}'
            f'</p>\n<table id="review-rows"><thead><tr><th class="num">{where}</th>'
            "<th>column</th><th>characters</th></tr></thead>\n<tbody>\n"
            + "\n".join(rows) + "\n</tbody></table>\n</section>")


def _next(r: ScanReport, options: Sequence[str]) -> str:
    command = next_command(r, options)
    if command is None:
        return ('<section id="next">\n<h2>Next step</h2>\n<p>Nothing to normalize: every '
                "value renders in the target.</p>\n</section>")
    return ('<section id="next">\n<h2>Next step</h2>\n<p>Write a copy with the columns '
            "brought into the target (each column C gets C_normalized and C_changes beside "
            "it; the input is left as it is):</p>\n"
            f"<pre><code>{_t(command)}</code></pre>\n</section>")
