"""``scan --format html``: one self-contained page, parsed back with the stdlib's html.parser.

The structure (one document, the characters table, the chart's numbers equal the report's),
nothing fetched from outside, every input-controlled text escaped, characters nobody can see
written <U+XXXX>, the code point beside every character, the rows to review, the suggested
command, and ``-o`` written through a temp file.  A real browser renders it when chromium is
installed (skipped otherwise).
"""

from __future__ import annotations

import errno
import os
import shlex
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

from mojinorm import csvio
from mojinorm.cli import cli
from mojinorm.report_html import ALL_ROWS, OUTCOMES, next_command, outcome_counts, render
from mojinorm.scan import scan_file

SAMPLES = Path(__file__).parent.parent / "data" / "samples"
SAMPLE = SAMPLES / "names.csv"
GAIJI = SAMPLES / "gaiji.yaml"

HOSTILE_HEADER = "<script>alert(1)</script>"
HOSTILE_NAME = 'a&b"c'


class Page(HTMLParser):
    """The parts of a page the tests look at."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attrs: list[tuple[str, dict[str, str | None]]] = []
        self.bars: list[dict[str, str | None]] = []
        self.tables: dict[str, list[list[str]]] = {}
        self.text: list[str] = []
        self._table: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._in_body = False
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        d = dict(attrs)
        self.attrs.append((tag, d))
        if tag == "rect":
            self.bars.append(d)
        elif tag == "table":
            self._table = d.get("id") or f"table{len(self.tables)}"
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        elif tag == "body":
            self._in_body = True

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None and self._table is not None:
            self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._in_body:
            self.text.append(data)

    def body_rows(self, table: str) -> list[list[str]]:
        return self.tables[table][1:]  # without the header row


@pytest.fixture(scope="module")
def sample() -> tuple[object, str]:
    report = scan_file(SAMPLE, gaiji=GAIJI)
    return report, render(report, gaiji=[str(GAIJI)])


def _hostile_file(tmp_path: Path) -> Path:
    rows = [
        f"id,{HOSTILE_HEADER},{HOSTILE_NAME}",
        "1,髙橋\u200b太郎,x",  # ZWSP: outside the target and invisible
        "2,草彅\u3000剛,y",  # no mapping: the fallback, a row to review
        "3,\ue000田,z",  # private use, no gaiji table: the fallback
        "4,𠮷田,髙",
        "5,渡辺\x07,w",  # BEL: a control character
    ]
    path = tmp_path / 'm&"<b>.csv'
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_one_document_with_the_sections(sample: tuple) -> None:
    _, text = sample
    page = Page(text)
    assert page.tags.count("html") == 1 and page.tags.count("body") == 1
    assert text.startswith("<!DOCTYPE html>")
    ids = {d.get("id") for _, d in page.attrs}
    assert {"totals", "outcomes", "characters", "review", "next", "chars",
            "review-rows"} <= ids


def test_characters_table_lists_every_character(sample: tuple) -> None:
    report, text = sample
    rows = Page(text).body_rows("chars")
    assert len(rows) == len(report.chars)
    for row, c in zip(rows, report.chars, strict=True):
        count, char, mark, category, mj, replacement, rule, _alternatives = row
        assert int(count.replace(",", "")) == c.count
        assert c.codepoint in char  # the code point beside the glyph, always
        assert mark == ("" if c.in_target else "●")
        assert category == c.category and mj == (c.mj or "-")
        assert rule.startswith(c.steps or c.rule)
        if c.replacement:
            assert " ".join(f"U+{ord(x):04X}" for x in c.replacement) in replacement
    by_cp = {row[1].split()[-1]: row for row in rows}
    assert by_cp["U+20BB7"][1].startswith("𠮷") and "U+5409" in by_cp["U+20BB7"][5]
    # hidden characters are written <U+XXXX>, never themselves
    assert by_cp["U+200B"][1] == "<U+200B> U+200B"
    assert by_cp["U+E000"][1] == "<U+E000> U+E000"
    assert "\u200b" not in text and "\ue000" not in text and "\u00a0" not in text


def test_the_bars_carry_the_report_numbers(sample: tuple) -> None:
    report, text = sample
    bars = Page(text).bars
    got = {(b["data-group"], b["data-outcome"]): int(b["data-count"] or "") for b in bars}
    groups = [ALL_ROWS, *report.columns]
    # columns where every value is safe get no bars (listed in a sentence instead)
    charted = [ALL_ROWS, *(n for n, c in report.columns.items() if c["unsafe"])]
    assert charted == [ALL_ROWS, "name"]
    assert len(bars) == len(charted) * len(OUTCOMES)
    assert "Every value renders as it is in: id, kana." in "".join(Page(text).text)
    assert got[(ALL_ROWS, "safe")] == report.rows - report.unsafe_rows
    assert got[(ALL_ROWS, "lossless")] == report.lossless_rows
    assert got[(ALL_ROWS, "substituted")] == report.substituted_rows
    assert got[(ALL_ROWS, "fallback")] == report.fallback_rows
    assert got[(ALL_ROWS, "review")] == report.review_rows
    for name in charted[1:]:
        c = report.columns[name]
        assert got[(name, "safe")] + got[(name, "lossless")] + got[(name, "substituted")] + \
            got[(name, "fallback")] == c["values"]
        assert got[(name, "fallback")] == c["fallback"]
        assert got[(name, "review")] == c["review"]
        assert got[(name, "lossless")] == c["lossless"]
    assert got[("name", "lossless")] == 62 and got[("name", "review")] == 12
    # wider bar, larger count (within a group)
    for group in charted:
        widths = {b["data-outcome"]: float(b["width"] or 0) for b in bars
                  if b["data-group"] == group}
        counts = {o: got[(group, o)] for o, _ in OUTCOMES}
        for a in counts:
            for b in counts:
                if counts[a] > counts[b]:
                    assert widths[a] >= widths[b]
                if counts[a] == 0:
                    assert widths[a] == 0
    # the table under the chart says the same
    table = Page(text).body_rows("outcome-table")
    assert [r[0] for r in table] == groups
    for r in table:
        assert [int(x.replace(",", "")) for x in r[2:]] == \
            [outcome_counts(report)[r[0]][o] for o, _ in OUTCOMES]


def test_nothing_comes_from_outside(sample: tuple) -> None:
    _, text = sample
    low = text.lower()
    for needle in ("http://", "https://", "src=", "href=", "url(", "@import", "<script",
                   "<link", "<iframe", "<img", "<object", "<embed", "@font-face"):
        assert needle not in low, needle
    page = Page(text)
    assert not {"script", "link", "img", "iframe", "object", "embed"} & set(page.tags)


def test_rows_to_review(sample: tuple) -> None:
    report, text = sample
    rows = Page(text).body_rows("review-rows")
    assert report.review_rows == 12 == len(rows)
    assert [int(r[0]) for r in rows] == [e.line for e in report.review_examples]
    assert rows[0][:2] == ["51", "name"] and rows[0][2].startswith("彅 U+5F45 → 〓 U+3013")
    lines = SAMPLE.read_text(encoding="utf-8").split("\n")
    for e in report.review_examples:
        assert all(u in lines[e.line - 1] for u in e.chars)


def test_the_next_command(sample: tuple) -> None:
    report, text = sample
    command = next_command(report, ["--gaiji", str(GAIJI)])
    assert command is not None
    assert shlex.split(command) == [
        "mojinorm", "normalize", str(SAMPLE), "-o", str(SAMPLES / "names.normalized.csv"),
        "--column", "name", "--gaiji", str(GAIJI)]
    assert "mojinorm normalize" in "".join(Page(text).text)


def test_hostile_names_are_escaped(tmp_path: Path) -> None:
    path = _hostile_file(tmp_path)
    report = scan_file(path)
    text = render(report)
    page = Page(text)
    assert "script" not in page.tags
    assert "<script" not in text.lower() and "<b>.csv" not in text
    body = "".join(page.text)
    assert HOSTILE_HEADER in body and HOSTILE_NAME in body and str(path) in body
    assert {b["data-group"] for b in page.bars} == {ALL_ROWS, HOSTILE_HEADER, HOSTILE_NAME}
    title = text[text.index("<title>") + 7:text.index("</title>")]
    assert "<" not in title and "&lt;b&gt;" in title
    # control and invisible characters never reach the page as themselves
    assert "\x07" not in text and "\u200b" not in text and "\ue000" not in text
    assert "<U+0007>" in body and "<U+200B>" in body
    # the command reads back, through the shell's quoting, as the real names
    command = next_command(report)
    assert command is not None
    words = shlex.split(command)
    assert words[2] == str(path) and words[words.index("--column") + 1] == HOSTILE_HEADER
    assert shlex.split(html_unescape_code(text)) == words


def html_unescape_code(text: str) -> str:
    import html

    start = text.index("<pre><code>") + len("<pre><code>")
    return html.unescape(text[start:text.index("</code></pre>")])


def test_hidden_characters_in_names(tmp_path: Path) -> None:
    # A column name and a file name with invisible characters: shown as <U+XXXX>.
    path = tmp_path / "a\u200bb.csv"
    path.write_text("id,na\u200bme\n1,髙\n", encoding="utf-8")
    report = scan_file(path)
    text = render(report)
    assert "\u200b" not in text
    assert "a<U+200B>b.csv" in "".join(Page(text).text)
    assert "na<U+200B>me" in "".join(Page(text).text)


def test_a_clean_file(tmp_path: Path) -> None:
    path = tmp_path / "ok.csv"
    path.write_text("id,name\n1,佐藤\n", encoding="utf-8")
    report = scan_file(path)
    assert next_command(report) is None
    text = render(report)
    page = Page(text)
    assert "chars" not in page.tables and "review-rows" not in page.tables
    body = "".join(page.text)
    assert "Nothing to normalize" in body and "No row needs a person's look" in body


def test_review_rows_of_parquet_are_row_numbers(tmp_path: Path) -> None:
    pl = pytest.importorskip("polars")
    path = tmp_path / "m.parquet"
    pl.DataFrame({"name": ["佐藤", "草彅", None, "髙橋", "\ue000"]}).write_parquet(path)
    report = scan_file(path)
    assert [e.line for e in report.review_examples] == [2, 5]
    page = Page(render(report))
    assert page.tables["review-rows"][0][0] == "row"


# ---------------------------------------------------------------------------- command line


def _run(*args: object) -> object:
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_cli_writes_the_page_to_a_file(tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    r = _run("scan", SAMPLE, "--gaiji", GAIJI, "--format", "html", "-o", out)
    assert r.exit_code == 0 and r.stdout == ""
    text = out.read_text(encoding="utf-8")
    assert Page(text).tags.count("html") == 1
    assert f"--gaiji {GAIJI}" in text  # the scan's options are repeated in the command
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]  # no temp file left
    # without -o, the page goes to stdout
    r = _run("scan", SAMPLE, "--gaiji", GAIJI, "-f", "html")
    assert r.exit_code == 0 and r.stdout == text


def test_cli_repeats_the_scan_options(tmp_path: Path) -> None:
    r = _run("scan", SAMPLE, "-f", "html", "--target", "cp932", "--rules", "all",
             "--ambiguity", "first", "--encoding", "utf-8", "--delimiter", ",", "--header",
             "-c", "name", "-c", "kana")
    words = shlex.split(html_unescape_code(r.stdout))
    assert words[words.index("--target") + 1] == "cp932"
    assert words[words.index("--rules") + 1] == "all"
    assert words[words.index("--ambiguity") + 1] == "first"
    assert words[words.index("--encoding") + 1] == "utf-8"
    assert "--header" in words and words.count("--column") == 1  # kana has nothing to fix


@pytest.mark.parametrize("fmt", ["json", "csv", "table"])
def test_cli_output_for_the_other_formats(tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"report.{fmt}"
    r = _run("scan", SAMPLE, "-f", fmt, "-o", out)
    assert r.exit_code == 0 and r.stdout == ""
    assert out.read_text(encoding="utf-8") == _run("scan", SAMPLE, "-f", fmt).stdout


def test_cli_never_writes_over_its_input(tmp_path: Path) -> None:
    src = tmp_path / "m.csv"
    data = SAMPLE.read_bytes()
    src.write_bytes(data)
    r = CliRunner().invoke(cli, ["scan", str(src), "-f", "html", "-o", str(src)])
    assert r.exit_code == 2 and "is the input file" in r.stderr
    assert src.read_bytes() == data


def test_cli_a_failed_write_leaves_nothing(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    class Full:
        def __init__(self, fd: int) -> None:
            self.f = os.fdopen(fd, "wb")

        def write(self, data: bytes) -> int:
            self.f.write(data[:100])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        def flush(self) -> None:
            self.f.flush()

        def fileno(self) -> int:
            return self.f.fileno()

        def close(self) -> None:
            self.f.close()

    monkeypatch.setattr(csvio.atomic_output, "_open_temp", staticmethod(Full))
    out = tmp_path / "report.html"
    r = CliRunner().invoke(cli, ["scan", str(SAMPLE), "-f", "html", "-o", str(out)])
    assert r.exit_code == 2 and "No space left on device" in r.stderr
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------- a browser


def _browser() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.mark.skipif(_browser() is None, reason="no chromium to render the page")
def test_a_browser_renders_the_page(tmp_path: Path, sample: tuple) -> None:
    _, text = sample
    page = tmp_path / "report.html"
    page.write_text(text, encoding="utf-8")
    png = tmp_path / "report.png"
    browser = _browser()
    assert browser is not None
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu",
                    "--window-size=1100,2000", f"--screenshot={png}", page.as_uri()],
                   capture_output=True, timeout=120, check=False)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 20_000  # more than a blank page


def test_staged_targets_have_their_own_section() -> None:
    # the staged case: rows per target from one pass, and those that pass one system
    # and fail the next
    report = scan_file(SAMPLE, target=["jisx0213", "jisx0208-1983"], gaiji=str(GAIJI))
    page = Page(render(report))
    rows = page.body_rows("stage-table")
    assert [(r[1], r[2], r[6]) for r in rows] == [
        (s["target"], f"{s['unsafe_rows']:,}",
         "-" if s["newly_unsafe_rows"] is None else f"{s['newly_unsafe_rows']:,}")
        for s in report.stages]
    bars = {b["data-target"]: int(b["data-count"] or 0) for b in page.bars if b.get("data-target")}
    assert bars == {s["target"]: s["unsafe_rows"] for s in report.stages}
    assert "stage-table" not in Page(render(scan_file(SAMPLE))).tables
