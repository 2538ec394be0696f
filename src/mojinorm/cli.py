"""``mojinorm`` command line: scan, normalize, match, explain, lookup, targets.

Exit codes: 0 ok; 1 ``scan --fail-on-unsafe`` found unsafe rows; 2 usage or input error (one
line on stderr, no traceback, no partial output file).
"""

from __future__ import annotations

import codecs
import csv
import errno
import functools
import gc
import io
import json
import os
import signal
import sys
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NoReturn, ParamSpec, TypeVar

import click

from . import __version__
from .csvio import ENCODINGS, atomic_output, canonical_encoding, path_problem
from .errors import InputError, MojinormError
from .invisible import classify
from .lookup import lookup as _lookup
from .matching import GRADES, KANA_GRADES
from .normalizer import FALLBACKS, Normalizer
from .normalizer import show as show_code_points
from .records import Progress, speedups_state
from .report import NormalizeSummary, ScanReport, next_command
from .report_html import render as render_html
from .rewrite import normalize_file, same_file
from .scan import scan_file
from .targets import BUILTIN_TARGETS, get_target

__all__ = ["main", "cli"]

PROGRESS_MIN_BYTES = 5 * 1024 * 1024
EXIT_INTERNAL = 70  # EX_SOFTWARE: an internal error, never bad input

_P = ParamSpec("_P")
_R = TypeVar("_R")
_F = TypeVar("_F", bound=Callable[..., Any])


# ---------------------------------------------------------------------------- helpers


class _Fail(Exception):
    """An error to print as one line, with its exit code."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def _one_line(text: str) -> str:
    return " ".join(str(text).split("\n")).strip()


def _errors(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """Turn library and input errors into ``mojinorm: error: ...`` and exit 2."""

    @functools.wraps(fn)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return fn(*args, **kwargs)
        except click.exceptions.Exit:
            raise
        except click.ClickException:
            raise
        except _Fail as exc:
            _die(str(exc), exc.code)
        except MojinormError as exc:
            _die(str(exc))
        except FileNotFoundError as exc:
            _die(f"{exc.filename}: no such file")
        except PermissionError as exc:
            _die(f"{exc.filename}: permission denied")
        except BrokenPipeError:
            _quiet_broken_pipe()
        except OSError as exc:
            if exc.filename is None and exc.errno in (errno.ENOSPC, errno.EIO, errno.EFBIG):
                _die(f"<stdout>: cannot write: {exc.strerror or exc}")  # echo to a full disk
            _die(f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": "))
        except KeyboardInterrupt:
            _die("interrupted", 130)
        except _Terminated as exc:  # SIGTERM, SIGHUP: cleaned up like Ctrl-C
            _die(f"terminated by {signal.Signals(exc.signum).name}", 128 + exc.signum)
        except Exception as exc:  # a bug, not bad input: say so, with its own exit code
            _die(f"internal error ({type(exc).__name__}: {exc}); please report it with the "
                 f"command that caused it", EXIT_INTERNAL)

    return wrapper


def _die(message: str, code: int = 2) -> NoReturn:
    click.echo(f"mojinorm: error: {_one_line(message)}", err=True)
    sys.exit(code)


def _quiet_broken_pipe() -> NoReturn:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except OSError:
        pass
    sys.exit(0)


def _width(s: str) -> int:
    w = 0
    for c in s:
        if unicodedata.combining(c) or classify(c) == "remove":
            continue
        w += 2 if unicodedata.east_asian_width(c) in ("W", "F") else 1
    return w


def _pad(s: str, width: int, right: bool = False) -> str:
    fill = " " * max(0, width - _width(s))
    return fill + s if right else s + fill


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]],
           right: Sequence[int] = ()) -> str:
    rows = [list(r) for r in rows]
    widths = [_width(h) for h in headers]
    for r in rows:
        for i, cell in enumerate(r):
            widths[i] = max(widths[i], _width(cell))
    lines = []
    for r in [list(headers), *rows]:
        cells = [_pad(c, widths[i], i in right) for i, c in enumerate(r)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def show(s: str) -> str:
    """Printable form of a unit: invisible code points as <U+XXXX>, nothing as (removed)."""
    return show_code_points(s) if s else "(removed)"


def _cps(s: str) -> str:
    return " ".join(f"U+{ord(c):04X}" for c in s)


def _delimiter(value: str | None) -> str | None:
    if value is None:
        return None
    v = value.lower()
    if value == "\t" or v in ("\\t", "tab", "tsv"):
        return "\t"
    if value == "," or v in ("comma", "csv"):
        return ","
    if v in ("none", "plain"):
        return ""
    raise click.BadParameter(f"{value!r}: use ',' or '\\t' (or: comma, tab, none)",
                             param_hint="'--delimiter'")


def _progress_size(path: str, quiet: bool) -> int | None:
    """The size of a file that gets a progress bar (large, on a terminal), else None."""
    if quiet or path == "-" or not sys.stderr.isatty():
        return None
    try:
        size = os.path.getsize(path)
    except OSError:
        return None
    if size <= PROGRESS_MIN_BYTES:
        return None
    return size


class _Tick:
    """A ``progress(bytes_done, total)`` callback that moves a progress bar."""

    def __init__(self, update: Callable[[int], None]) -> None:
        self.update = update
        self.last = 0

    def __call__(self, done: int, total: int | None) -> None:
        step = done - self.last
        if step > 0:
            self.update(step)
            self.last = done


def _run_with_progress(path: str, quiet: bool, fn: Callable[[Progress | None], _R]) -> _R:
    """``fn(progress)``, with a click progress bar on stderr for a large file on a terminal."""
    size = _progress_size(path, quiet)
    if size is None:
        return fn(None)
    with click.progressbar(length=size, file=sys.stderr, label=os.path.basename(path),
                           show_eta=True, show_percent=True) as bar:
        return fn(_Tick(bar.update))


def _check_input(file: str) -> None:
    if file == "-":
        return
    problem = path_problem(file)
    if problem is not None:
        raise click.BadParameter(f"{file}: {problem}", param_hint="'FILE'")


#: From this input size on (and for stdin), ``scan`` and ``normalize`` keep freed blocks
#: for reuse (:func:`_keep_freed_blocks`).
KEEP_FREED_FROM = 16 * 1024 * 1024
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters


def _keep_freed_blocks(file: str) -> None:
    """Ask glibc to keep freed blocks of up to 32 MiB in the heap for the next batch.

    A member file is read, decoded and written in blocks of 4-8 MiB, batch after batch; glibc
    hands each freed block back to the kernel, and the next one is faulted in again page by
    page (about 5 µs a page on a virtual machine: 14,000 pages, 0.1 s of kernel time, in a
    1M-row ``normalize``).  The process ends with the command, so what the heap keeps is let
    go then.  Linux with glibc only (musl has no ``mallopt``); a small file has no batches
    to reuse blocks between."""
    if not sys.platform.startswith("linux"):
        return
    try:
        if file != "-" and os.stat(file).st_size < KEEP_FREED_FROM:
            return
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError, ImportError):
        return
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt(_M_MMAP_THRESHOLD, 32 * 1024 * 1024)  # glibc's largest: blocks from the heap
    mallopt(_M_TRIM_THRESHOLD, 128 * 1024 * 1024)  # and kept there once freed


_TARGET_HELP = (f"target character set: {', '.join(BUILTIN_TARGETS)}, or a YAML profile path "
                "(default jisx0208)")
_FALLBACK_HELP = (f"what replaces a character no rule can map: {', '.join(FALLBACKS)}, or one "
                  "character inside the target (default: the profile's fallback, else geta 〓)")


def _target_option(fn: _F) -> _F:
    return click.option("--target", "-t", default="jisx0208", show_default=False,
                        metavar="T", help=_TARGET_HELP)(fn)


def _gaiji_option(fn: _F) -> _F:
    return click.option("--gaiji", "-g", multiple=True, metavar="TABLE.yaml",
                        type=click.Path(exists=True, dir_okay=False),
                        help="gaiji table for private-use characters (repeatable)")(fn)


def _encoding(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    try:
        return canonical_encoding(value)
    except MojinormError as exc:
        raise click.BadParameter(str(exc)) from None


def _input_options(fn: _F) -> _F:
    fn = click.option("--encoding", "-e", default="auto", show_default=True,
                      metavar="|".join(ENCODINGS), callback=_encoding,
                      help="input encoding; auto follows a BOM (UTF-8, UTF-16, UTF-32), else "
                           "tries UTF-8, then CP932 (sjis, shift_jis, ms932 and windows-31j "
                           "name CP932; case does not matter)")(fn)
    fn = click.option("--delimiter", "-d", metavar=",|\\t|none", default=None,
                      help="field delimiter: ',' or '\\t' (or tab), none for plain text "
                           "(default: sniffed from the first line: TAB, else comma, else plain "
                           "text, one value per line)")(fn)
    fn = click.option("--header/--no-header", default=None,
                      help="first line is a header (default: yes for CSV/TSV, no for plain "
                           "text)")(fn)
    fn = click.option("--column", "-c", "columns", multiple=True, metavar="C",
                      help="column by header name, label or 1-based number (repeatable; "
                           "default: every column; a name the header repeats needs its label "
                           "or number)")(fn)
    return fn


# ---------------------------------------------------------------------------- group


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="mojinorm",
                      message="%(prog)s, version %(version)s\ncompiled module "
                      f"(mojinorm._speedups): {speedups_state()}")
def cli() -> None:
    """Find and fix Japanese names that would render as ● in a target character set."""


class _Terminated(BaseException):
    """SIGTERM or SIGHUP arrived: unwinds like KeyboardInterrupt, so no temp file is left."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _terminate(signum: int, _frame: object) -> None:
    raise _Terminated(signum)


def _code_point_escape(exc: UnicodeError) -> tuple[str, int]:
    """A character the console's encoding cannot hold, written as ``<U+20BB7>``."""
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    return "".join(f"<U+{ord(c):04X}>" for c in exc.object[exc.start:exc.end]), exc.end


codecs.register_error("mojinorm-code-point", _code_point_escape)


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point."""
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _terminate)
    # A Japanese Windows console is CP932: 𠮷 must not crash the report, it is escaped.
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="mojinorm-code-point")
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="mojinorm")
    finally:
        # The interpreter's last collections at exit walk every object left, polars' tens of
        # thousands among them (50-80 ms a command): the objects of a finished command are
        # moved out of their reach.  Exit handlers, flushes and finalizers all still run.
        gc.freeze()


_ambiguity_option = click.option(
    "--ambiguity", type=click.Choice(["fallback", "first"]), default="fallback",
    show_default=True,
    help="a tie between different characters that no other source decides: the fallback "
         "(listed for review), or the first in table order (a guess, marked for review)")


# ---------------------------------------------------------------------------- scan


@cli.command()
@click.argument("file", metavar="FILE")
@_input_options
@click.option("--target", "-t", "targets", multiple=True, metavar="T",
              help=_TARGET_HELP + "; repeat it for systems a name goes through in turn "
                   "(--target jisx0213 --target jisx0208-1983): one pass gives each one's "
                   "counts and the rows that pass one and fail the next; the report is the "
                   "last one's")
@_gaiji_option
@click.option("--fallback", default=None, metavar="P",
              help="the replacement the report shows for a character no rule maps, as for "
                   "normalize (default: the profile's fallback, else geta 〓)")
@click.option("--format", "-f", "fmt", type=click.Choice(["table", "json", "csv", "html"]),
              default="table", show_default=True,
              help="report format (csv: the characters table; html: one self-contained page "
                   "with a chart, the characters, the rows to review and the next command)")
@click.option("--output", "-o", default=None, metavar="OUT",
              help="write the report to OUT, through a temp file renamed when complete "
                   "(default: stdout)")
@click.option("--top", type=click.IntRange(min=0), default=None, metavar="N",
              help="characters to list (default: 20 in the table, all in json/csv/html)")
@click.option("--fail-on-unsafe", is_flag=True, help="exit 1 when a row would render ●")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None,
              help="threads of the column engine (default: every CPU; capped to the CPUs)")
@click.option("--rules", default=None, metavar="R",
              help="variant rules for the proposed replacements: default, all, or a "
                   "comma-separated list")
@_ambiguity_option
@click.option("--quiet", "-q", is_flag=True, help="no progress bar")
@_errors
def scan(file: str, columns: tuple[str, ...], header: bool | None, delimiter: str | None,
         encoding: str, targets: tuple[str, ...], gaiji: tuple[str, ...],
         fallback: str | None, fmt: str, output: str | None,
         top: int | None, fail_on_unsafe: bool, jobs: int | None, rules: str | None,
         ambiguity: str, quiet: bool) -> None:
    """Count the rows of FILE (CSV, TSV or plain text; - for stdin) that would render as ●.

    \b
    A value is unsafe when a character of it is outside the target (it would show as ●);
    a value whose only findings are invisible characters inside the target (TAB) counts as
    invisible, not unsafe.  Unsafe rows split into fixable (safe without the fallback:
    same character, or substitution by another one) and fallback (need 〓); an unsafe
    ragged row is neither (normalize copies it as it is).
    Rows are data records (no header, no blank lines).  Exit status: 0 ok, 1 with
    --fail-on-unsafe when a row is unsafe, 2 usage or input error.
    """
    _check_input(file)
    _keep_freed_blocks(file)
    delim = _delimiter(delimiter)
    if output is not None and output != "-" and file != "-" and same_file(file, output):
        raise _Fail(f"output {output} is the input file; choose another -o")
    target = targets[-1] if targets else "jisx0208"
    report = _run_with_progress(file, quiet, lambda progress: scan_file(
        file, columns=columns or None, target=list(targets) if len(targets) > 1 else target,
        gaiji=list(gaiji) or None,
        encoding=encoding, delimiter=delim, header=header, jobs=jobs, progress=progress,
        rules=rules, ambiguity=ambiguity, fallback=fallback))
    # what the scan was told, repeated in the suggested normalize command
    again = [*(["--target", target] if target != "jisx0208" else []),
             *(w for g in gaiji for w in ("--gaiji", g)),
             *(["--encoding", encoding] if encoding != "auto" else []),
             *(["--delimiter", {"\t": "tab", "": "none"}.get(delim, delim)]
               if delim is not None else []),
             *([] if header is None else ["--header" if header else "--no-header"]),
             *(["--rules", rules] if rules else []),
             *(["--ambiguity", ambiguity] if ambiguity != "fallback" else []),
             *(["--fallback", fallback] if fallback else [])]
    if fmt == "json":
        text = ""
        # megabytes of characters, written as polars wrote them where the output takes UTF-8
        data: bytes | None = report.to_json_utf8(top) + b"\n"
    else:
        data = None
        if fmt == "csv":
            text = _chars_csv(report, top)
        elif fmt == "html":
            text = render_html(report, top=top, gaiji=gaiji, options=again,
                               target_description=_target_description(report.target),
                               version=__version__)
        else:
            text = _scan_table(report, 20 if top is None else top, gaiji,
                               next_command(report, again)) + "\n"
    if output is None and (data is None or not _utf8_stdout()):
        click.echo(text if data is None else data.decode("utf-8"), nl=False)
    else:
        _write_bytes(output, text.encode("utf-8") if data is None else data)
    if fail_on_unsafe and report.unsafe_rows > 0:
        sys.exit(1)


def _utf8_stdout() -> bool:
    """Standard output writes UTF-8 (a Windows CP932 console does not: its text goes through
    the code-point escaping set up in :func:`main`)."""
    return codecs.lookup(getattr(sys.stdout, "encoding", None) or "ascii").name == "utf-8" \
        and hasattr(sys.stdout, "buffer")


def _write_bytes(output: str | None, data: bytes) -> None:
    """``data`` (UTF-8) to ``output`` (atomically), or to standard output's bytes."""
    if output is None:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    with atomic_output(output) as f:
        f.write(data)


def _pct(n: int, d: int) -> str:
    """A share for the table: never "0.00%" for a share that is not zero."""
    if not d:
        return "0%"
    if 0 < n and 100.0 * n / d < 0.01:
        return "<0.01%"
    return f"{100.0 * n / d:.2f}%"


def _target_description(name: str) -> str:
    target = get_target(name) if name in BUILTIN_TARGETS else None
    return target.description if target is not None else ""


def _scan_table(r: ScanReport, top: int, gaiji: Sequence[str],
                command: str | None = None) -> str:
    desc = _target_description(r.target)
    delim = "Parquet" if r.encoding == "parquet" else \
        {",": "comma", "\t": "tab", None: "plain text"}.get(r.delimiter, repr(r.delimiter))
    lines = [
        f"file        {r.file}",
        f"encoding    {r.encoding}{' (detected)' if r.encoding_detected else ''}",
        f"target      {r.target}{': ' + desc if desc else ''}",
    ]
    lines += [f"note        {n}" for n in r.notes]
    if gaiji:
        lines.append(f"gaiji       {', '.join(gaiji)}")
    lines += [
        f"columns     {', '.join(map(show, r.columns_selected)) or '-'}  ({delim}, "
        f"{'header' if r.header else 'no header'}, {r.fields} fields)",
        f"rows        {r.rows:,}",
        f"unsafe      {r.unsafe_rows:,} rows ({_pct(r.unsafe_rows, r.rows)}) would render ● "
        "as they are",
        f"  fixable   {r.fixable_rows:,} become safe without the fallback: "
        f"{r.lossless_rows:,} same character, {r.substituted_rows:,} by substitution",
        f"  fallback  {r.fallback_rows:,} need the fallback (no mapping into the target)",
        *([f"  ragged    {r.ragged_unsafe_rows:,} in ragged rows, which normalize copies as "
           "they are"] if r.ragged_unsafe_rows else []),
        f"review      {r.review_rows:,} rows need a person's look (a fallback, an ambiguous "
        f"character or another glyph's mapping)",
        f"invisible   {r.invisible_rows:,} rows with invisible characters",
        f"ragged      {r.ragged_rows:,} rows with a field count other than {r.fields}",
    ]
    if r.blank_lines:
        lines.append(f"blank       {r.blank_lines:,} blank lines (not counted as rows)")
    if r.multiline_records:
        lines.append(f"multi-line  {r.multiline_records:,} records with a newline inside "
                     "a quoted field")
    if r.columns:
        lines.append("")
        lines.append(_table(
            ["column", "values", "unsafe", "fallback", "invisible"],
            ([show(name), f"{c['values']:,}", f"{c['unsafe']:,}", f"{c['fallback']:,}",
              f"{c['invisible']:,}"] for name, c in r.columns.items()),
            right=(1, 2, 3, 4)))
    if r.chars and top:
        shown = r.chars[:top]
        lines.append("")
        more = f" (of {len(r.chars)})" if len(r.chars) > len(shown) else ""
        lines.append(f"top characters{more}")
        lines.append(_table(
            ["count", "char", "code point", "●", "MJ", "→", "fix", "rule", "category"],
            ([f"{c.count:,}", show(c.char),
              c.codepoint + (f" (SJIS {c.sjis})" if c.sjis else ""),
              "" if c.in_target else "●", c.mj or "-", show(c.replacement), c.fix,
              c.steps or c.rule, c.category]
             for c in shown),
            right=(0,)))
    if r.stages:
        lines.append("")
        lines.append(_table(
            ["stage", "target", "unsafe", "fixable", "fallback", "review",
             "render in the previous, not here"],
            ([str(k + 1), st["target"], f"{st['unsafe_rows']:,}", f"{st['fixable_rows']:,}",
              f"{st['fallback_rows']:,}", f"{st['review_rows']:,}",
              "-" if st["newly_unsafe_rows"] is None else f"{st['newly_unsafe_rows']:,}"]
             for k, st in enumerate(r.stages)),
            right=(0, 2, 3, 4, 5, 6)))
    if r.review_examples:
        lines.append("")
        first = r.review_examples[:10]
        rest = r.review_rows - len(first)
        lines.append("review at   " + ", ".join(
            f"line {e.line} ({' '.join(show(ch) for ch in e.chars)})" for e in first)
            + (f", and {rest:,} more rows" if rest > 0 else ""))
    if command is not None:
        lines.append("")
        lines.append(f"next        {show(command)}")  # a header may hold an ESC
    return "\n".join(lines)


def _chars_csv(r: ScanReport, top: int | None) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["char", "codepoint", "count", "replacement", "rule", "steps", "mj", "category",
                "in_target", "fallback", "alternatives"])
    for c in r.chars if top is None else r.chars[:top]:
        w.writerow([c.char, c.codepoint, c.count, c.replacement, c.rule, c.steps, c.mj or "",
                    c.category, int(c.in_target), int(c.fallback), " ".join(c.alternatives)])
    return buf.getvalue()


# ---------------------------------------------------------------------------- normalize


@cli.command()
@click.argument("file", metavar="FILE")
@click.option("--output", "-o", required=True, metavar="OUT", help="output file (- for stdout)")
@_input_options
@click.option("--kana-column", "-k", "kana_columns", metavar="K", multiple=True,
              help="a reading (フリガナ) column, chosen like --column (repeatable): it gets "
                   "K_normalized through normalize_kana; with one --column it is that "
                   "name's reading. Pair several names with their readings as -c 姓:セイ")
@click.option("--kana-script", type=click.Choice(["katakana", "hiragana"]),
              default="katakana", show_default=True,
              help="script of the normalized readings")
@_target_option
@click.option("--fallback", default=None, metavar="P", help=_FALLBACK_HELP)
@_gaiji_option
@click.option("--rules", default=None, metavar="R",
              help="variant rules: default, all, or a comma-separated list")
@_ambiguity_option
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None,
              help="threads of the column engine (default: every CPU; capped to the CPUs)")
@click.option("--replace", is_flag=True,
              help="rewrite the columns in place instead of adding C_normalized, C_changes")
@click.option("--overwrite", is_flag=True, help="allow OUT to be FILE itself")
@click.option("--output-encoding", default="keep", show_default=True,
              metavar="keep|cp932|utf-8|utf-8-sig",
              help="encoding of OUT: keep the input's, or re-encode (a character the encoding "
                   "cannot hold is refused with its line; with --replace the normalized values "
                   "are written)")
@click.option("--log", "log", metavar="LOG.csv", default=None,
              help="write one row per change (line, --id columns, column, original, "
                   "replacement, rule, source, MJ id, alternatives, review) to LOG.csv, UTF-8 "
                   "with a BOM; with --fallback error it lists every value that cannot be "
                   "mapped, then fails")
@click.option("--id", "log_ids", metavar="COL", multiple=True,
              help="key column(s) copied into each --log row (repeatable)")
@click.option("--review-only", is_flag=True,
              help="--log keeps only the rows a person must look at")
@click.option("--quiet", "-q", is_flag=True, help="no progress bar and no summary")
@_errors
def normalize(file: str, output: str, columns: tuple[str, ...], header: bool | None,
              delimiter: str | None, encoding: str, kana_columns: tuple[str, ...],
              kana_script: str, target: str, fallback: str | None, gaiji: tuple[str, ...],
              rules: str | None, ambiguity: str, jobs: int | None, replace: bool,
              overwrite: bool, output_encoding: str, log: str | None,
              log_ids: tuple[str, ...], review_only: bool, quiet: bool) -> None:
    """Write OUT: FILE with its name columns brought into the target.

    \b
    Every original field is kept byte for byte, with the input's delimiter, encoding (BOM
    included) and line endings.  For each column C (default: the columns in which a scan
    finds something to change, said in the summary; --column all: every column but the
    readings; a pipe: every column) two columns are appended after the last one, in order:
    C_normalized and C_changes (e.g. "髙→高 jis-unification; ...").  -c 姓:セイ pairs a
    name with its reading column: --fallback kana writes that row's own reading, and is
    refused for a name without one.  Reading columns get R_normalized and R_changes
    (half-width to full-width, voiced marks composed, one script).  --replace rewrites the
    columns in place instead.  Ragged rows and blank lines are copied as they are.  OUT is
    written to a temp file and renamed when complete; it may not be FILE unless --overwrite.
    """
    _check_input(file)
    _keep_freed_blocks(file)
    delim = _delimiter(delimiter)
    cols: list[str] | None = list(columns) or None
    summary = _run_with_progress(file, quiet, lambda progress: normalize_file(
        file, output, columns=cols, kana_column=list(kana_columns) or None,
        kana_script=kana_script, target=target, fallback=fallback,
        gaiji=list(gaiji) or None, rules=rules, ambiguity=ambiguity, replace=replace,
        encoding=encoding,
        delimiter=delim, header=header, overwrite=overwrite, progress=progress, jobs=jobs,
        log=log, log_ids=list(log_ids), review_only=review_only,
        output_encoding=output_encoding))
    if not quiet:
        click.echo(_summary(summary), err=True)
        if replace and log is None and summary.values_changed + summary.readings_changed:
            click.echo("mojinorm: warning: --replace without --log keeps the original values "
                       "nowhere; pass --log FILE to keep what each value was", err=True)


def _summary(s: NormalizeSummary) -> str:
    where = "stdout" if s.output == "-" else s.output
    parts = [f"wrote {where} ({s.encoding}): {s.rows:,} rows, {s.values_changed:,} values "
             f"changed in {s.rows_changed:,} rows, {s.fallback_values:,} with the fallback, "
             f"{s.review_values:,} to review"]
    if s.readings_changed:
        parts.append(f"{s.readings_changed:,} readings normalized")
    if s.log_rows:
        parts.append(f"{s.log_rows:,} rows in the change log")
    if s.ragged_rows:
        parts.append(f"{s.ragged_rows:,} ragged rows kept as they are")
    if s.blank_lines:
        parts.append(f"{s.blank_lines:,} blank lines kept")
    if s.line_ends == "CR":
        parts.append("CR-only line ends kept")
    parts.extend(n for n in s.notes if not n.startswith("line ends are CR"))
    return "; ".join(parts)


# ---------------------------------------------------------------------------- explain


@cli.command()
@click.argument("text", nargs=-1, required=True)
@_target_option
@click.option("--fallback", default=None, metavar="P", help=_FALLBACK_HELP)
@_gaiji_option
@click.option("--rules", default=None, metavar="R",
              help="variant rules: default, all, or a comma-separated list")
@_ambiguity_option
@click.option("--reading", default=None, help="the reading, for --fallback kana")
@click.option("--format", "-f", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
@_errors
def explain(text: tuple[str, ...], target: str, fallback: str | None, gaiji: tuple[str, ...],
            rules: str | None, ambiguity: str, reading: str | None, fmt: str) -> None:
    """Show every change that brings TEXT into the target, and why.

    Several arguments are one name written with spaces (explain 髙橋 太郎); - reads one name
    per line from standard input and explains each (JSON: one object per line)."""
    n = Normalizer(target, fallback=fallback, gaiji=list(gaiji) or None, rules=rules,
                   ambiguity=ambiguity)
    if text == ("-",):
        if sys.stdin is None:
            raise InputError("standard input is closed: give the name as an argument",
                             name="<stdin>")
        first = True
        for line in sys.stdin:
            name = line.rstrip("\r\n")
            if not name:
                continue
            if fmt == "table" and not first:
                click.echo("")
            first = False
            _explain_one(n, name, reading, fmt, indent=None)
        return
    _explain_one(n, " ".join(text), reading, fmt, indent=2)


def _explain_one(n: Normalizer, text: str, reading: str | None, fmt: str,
                 indent: int | None) -> None:
    res = n.explain(text, reading=reading)
    changes = [{
        "position": c.index,
        "char": c.original,
        "codepoint": _cps(c.original),
        "mj": c.mj,
        "replacement": c.replacement,
        "rule": c.rule,
        "steps": [{"rule": s.rule, "from": s.original, "to": s.replacement, "source": s.source}
                  for s in c.steps],
        "source": c.source,
        "fallback": c.fallback,
        "review": c.review,
        "alternatives": list(c.alternatives),
    } for c in res.changes]
    if fmt == "json":
        click.echo(json.dumps({"text": text, "target": n.target.name, "result": res.text,
                               "changed": res.changed, "used_fallback": res.used_fallback,
                               "changes": changes}, ensure_ascii=False, indent=indent))
        return
    if not res.changes:
        click.echo(f"no changes: {show(text)} renders in {n.target.name}")
        click.echo(f"result: {res.text}")
        return
    click.echo(f"text: {show(text)}")
    click.echo(_table(
        ["pos", "char", "code point", "MJ", "→", "rule", "alternatives", "review"],
        ([str(c.index), show(c.original), _cps(c.original), c.mj or "-", show(c.replacement),
          ">".join(s.rule for s in c.steps) or c.rule, " ".join(c.alternatives) or "-",
          "yes" if c.review else ""] for c in res.changes),
        right=(0,)))
    click.echo(f"result: {res.text}")


# ---------------------------------------------------------------------------- match


def _column_pair(value: str) -> str | tuple[str, str]:
    """``C`` (the same column on both sides) or ``LEFT=RIGHT``."""
    if "=" in value:
        left, _, right = value.partition("=")
        if not left or not right:
            raise click.BadParameter(f"{value!r}: give COLUMN or LEFT=RIGHT")
        return left, right
    return value


@cli.command()
@click.argument("left", metavar="RESULTS")
@click.argument("right", metavar="MASTER")
@click.option("--name", "-n", required=True, metavar="C|L=R",
              help="name column: one header name (or 1-based number) for both files, or "
                   "LEFT=RIGHT when they differ")
@click.option("--kana", "-k", default=None, metavar="C|L=R",
              help="reading column; adds kana_grade and kana_why")
@click.option("--key", "keys", multiple=True, metavar="C|L=R",
              help="column that must be equal on both sides, exactly (repeatable): date of "
                   "birth, insurer number …")
@click.option("--id", "ids", multiple=True, metavar="C|L=R",
              help="column copied to the output for each side (repeatable), beside the line "
                   "numbers")
@click.option("--output", "-o", required=True, metavar="OUT", help="output CSV (- for stdout)")
@click.option("--encoding", "-e", type=click.Choice(ENCODINGS), default="auto",
              show_default=True,
              help="input encoding of both files; auto follows a BOM, else tries UTF-8, then "
                   "CP932 (each file on its own)")
@click.option("--delimiter", "-d", metavar=",|\\t", default=None,
              help="field delimiter of both files (default: sniffed from each first line)")
@click.option("--header/--no-header", default=None,
              help="first line is a header (default: yes); without one, give column numbers")
@click.option("--bom", is_flag=True, help="start OUT with a UTF-8 byte-order mark (Excel)")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None,
              help="threads of the column engine (default: every CPU; capped to the CPUs)")
@click.option("--overwrite", is_flag=True, help="allow OUT to be one of the inputs")
@click.option("--quiet", "-q", is_flag=True, help="no summary")
@_errors
def match(left: str, right: str, name: str, kana: str | None, keys: tuple[str, ...],
          ids: tuple[str, ...], output: str, encoding: str, delimiter: str | None,
          header: bool | None, bom: bool, jobs: int | None, overwrite: bool,
          quiet: bool) -> None:
    """Pair the rows of RESULTS (e.g. eligibility results with ● names) with MASTER rows.

    \b
    Rows pair when every --key column is equal and the names are related: compare grades
    them identical, same-characters, variant or masked (● / 〓 standing for one character).
    A row may pair with several rows of the other side.  OUT is one UTF-8 CSV:
      status        pair, left-only (a RESULTS row with no pair) or right-only (MASTER)
      left_line, right_line   the line where each row starts in its file
      left_ID, right_ID       each --id column; then each --key column (one value)
      left_NAME, right_NAME, grade, why (what made the names equal, e.g. "●/髙 mask";
                    for an unpaired row, the candidates graded different)
      left_KANA, right_KANA, kana_grade, kana_why   with --kana
    Pairs come first (by RESULTS line), then left-only, then right-only rows.  A row with an
    empty name or key never pairs.  OUT is written to a temp file and renamed when complete.
    Exit status: 0 ok, 2 usage or input error.
    """
    from .reconcile import match_files
    from .records import set_threads

    for file in (left, right):
        problem = None if file == "-" else path_problem(file)
        if problem is not None:
            raise _Fail(f"{file}: {problem}")
    delim = _delimiter(delimiter)
    set_threads(jobs)
    summary = match_files(
        left, right, output, name=_column_pair(name),
        kana=_column_pair(kana) if kana is not None else None,
        keys=[_column_pair(k) for k in keys], ids=[_column_pair(i) for i in ids],
        encoding=encoding, delimiter=delim, header=header, bom=bom, overwrite=overwrite)
    if not quiet:
        where = "stdout" if output == "-" else output
        grades = ", ".join(f"{g} {summary.grades.get(g, 0):,}" for g in GRADES[:-1])
        lines = [f"wrote {where}: {summary.pairs:,} pairs ({grades}); "
                 f"{summary.left_only:,} of {summary.left_rows:,} RESULTS rows and "
                 f"{summary.right_only:,} of {summary.right_rows:,} MASTER rows unpaired"]
        if summary.kana_grades:
            lines.append("readings: " + ", ".join(
                f"{g} {summary.kana_grades.get(g, 0):,}" for g in KANA_GRADES))
        lines.extend(f"note: {n}" for n in summary.notes)
        click.echo("\n".join(lines), err=True)


# ---------------------------------------------------------------------------- lookup


@cli.command()
@click.argument("char")
@click.option("--format", "-f", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
@_errors
def lookup(char: str, fmt: str) -> None:
    """Everything known about CHAR: a character, U+XXXX, an MJ id, J+XXXX (住基) or a 戸籍
    統一文字番号."""
    info = _lookup(char)
    if fmt == "json":
        d = {
            "char": info.char,
            "code_points": list(info.code_points),
            "targets": list(info.targets),
            "mj": list(info.mj),
            "ambiguous": info.ambiguous,
            "koseki": list(info.koseki),
            "juki": list(info.juki),
            "glyphs": [_asdict(g) for g in info.glyphs],
            "shrink": [_asdict(s) for s in info.shrink],
        }
        click.echo(json.dumps(d, ensure_ascii=False, indent=2))
        return
    inside = set(info.targets)
    lines = [
        f"char         {show(info.char)}",
        f"code points  {' '.join(info.code_points)}",
        "targets      " + ", ".join(f"{t} {'yes' if t in inside else 'no (●)'}"
                                    for t in BUILTIN_TARGETS),
        f"MJ           {', '.join(info.mj) or '-'}"
        + ("  (ambiguous: several MJ glyphs)" if info.ambiguous else ""),
        f"戸籍         {', '.join(info.koseki) or '-'}",
        f"住基         {', '.join(info.juki) or '-'}",
    ]
    for g in info.glyphs:
        extra = [f"{label} {value}" for label, value in (
            ("ucs", _cps(g.ucs) if g.ucs else ""), ("ivs", _cps(g.ivs) if g.ivs else ""),
            ("svs", _cps(g.svs) if g.svs else ""), ("入管正字", g.nyukan_seiji),
            ("入管外字", g.nyukan_gaiji), ("登記", g.touki), ("X0213", g.x0213),
            ("X0212", g.x0212)) if value]
        lines.append(f"  {g.mj}  " + "  ".join(extra))
    if info.shrink:
        lines.append("")
        lines.append("shrink targets")
        lines.append(_table(
            ["char", "rule", "from MJ", "hops", "rank", "in 0208", "in 0213"],
            ([show(s.char), s.rule, s.mj or "-", "-" if s.hops is None else str(s.hops),
              "-" if s.rank is None else str(s.rank), "yes" if s.in_jisx0208 else "no",
              "yes" if s.in_jisx0213 else "no"] for s in info.shrink)))
    else:
        lines.append("shrink       -")
    click.echo("\n".join(lines))


def _asdict(obj: object) -> dict[str, Any]:
    from dataclasses import asdict, is_dataclass

    if is_dataclass(obj) and not isinstance(obj, type):
        return asdict(obj)
    return dict(vars(obj))


# ---------------------------------------------------------------------------- targets


@cli.command()
@click.option("--format", "-f", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
@_errors
def targets(fmt: str) -> None:
    """The built-in targets, their sizes and what they model."""
    rows = []
    for name, desc in BUILTIN_TARGETS.items():
        t = get_target(name)
        rows.append((name, len(t.chars), len(t.sequences), desc))
    if fmt == "json":
        click.echo(json.dumps([{"name": name, "chars": chars, "sequences": sequences,
                                "description": desc} for name, chars, sequences, desc in rows],
                              ensure_ascii=False, indent=2))
        return
    click.echo(_table(["target", "chars", "sequences", "description"],
                      ([name, f"{chars:,}", f"{sequences:,}", desc]
                       for name, chars, sequences, desc in rows), right=(1, 2)))


if __name__ == "__main__":  # pragma: no cover
    main()
