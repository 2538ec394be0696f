"""Byte-exact, streaming CSV/TSV/plain-text input and atomic output for ``scan`` and ``normalize``.

Why not ``csv.reader``: ``normalize`` must keep every original field byte for byte (quoting
included), and ``scan`` only parses the few lines that need a look.  Both need the *raw span*
of each field and the position where a record ends, so this module has a small record parser
that follows ``csv.reader``'s default dialect (``excel``: ``"`` quoting, doubled quotes, quoted
fields may hold delimiters and newlines, a quote inside an unquoted field is a literal
character, text after a closing quote is appended to the field) and is tested against it.  One
deliberate difference: a lone CR (not followed by LF) inside an unquoted field is data, where
``csv.reader`` raises; records end at LF or CRLF only.

Input is read in large byte chunks cut at a LF.  In UTF-8 and CP932 the byte 0x0A only ever
encodes U+000A (CP932 trail bytes are 0x40-0xFC), so every chunk decodes on its own and the number
of LF in the text equals the number of LF bytes (line numbers in errors are physical lines).

Hostile input (each is an :class:`InputError`, or a documented reading):

* A quoted field still open at the end of the input is an error naming the line of its
  opening quote (``csv.reader`` silently takes the rest of the file as the field); so is a
  record, or a line, longer than :data:`MAX_RECORD`.
* Classic Mac OS files, whose line ends are CR only: when the first :data:`EOL_WINDOW` bytes
  hold a CR and no LF, CR is the record separator (:func:`detect_eol`).  The bytes 0x0D and 0x0A
  are swapped before decoding (both bytes only ever encode themselves in UTF-8 and CP932), so
  the rest of the code sees LF-terminated text; raw bytes are copied unswapped.
* Undecodable bytes name the line and byte offset; with ``auto`` the message says whether the
  line reads in the other encoding (a file mixing UTF-8 and CP932 lines) or in neither.
* Output (:class:`atomic_output`) goes through a temp file renamed when complete; a write error
  (disk full) or an interrupt removes the temp file.  An existing output that is not a regular
  file (``/dev/null``, ``/dev/full``, a FIFO) is written directly, never replaced.
"""

from __future__ import annotations

import os
import re
import stat
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Literal, Protocol

from .errors import InputError, OutputError

__all__ = [
    "BOM", "CHUNK_SIZE", "ENCODINGS", "EOL_WINDOW", "MAX_RECORD", "Chunk", "DecodedStream",
    "Input", "InputError", "OutputError", "Readable", "RecordParser", "UnclosedQuote",
    "atomic_output", "choose_encoding", "count_newlines", "decode", "detect_encoding",
    "detect_eol", "format_size", "iter_byte_chunks", "open_input", "quote_field",
    "sniff_delimiter",
]

CHUNK_SIZE = 2 * 1024 * 1024
#: A record (a line, or a quoted field spanning lines) longer than this is an input error.
MAX_RECORD = 16 * 1024 * 1024
#: Bytes at the start of a file that decide its line ends (CR only, or LF / CRLF).
EOL_WINDOW = 64 * 1024
BOM = b"\xef\xbb\xbf"
#: Swaps CR and LF (bytes or str): CR-only input is read as LF-terminated text.
SWAP_EOL = bytes.maketrans(b"\r\n", b"\n\r")
SWAP_EOL_STR = str.maketrans("\r\n", "\n\r")
ENCODINGS = ("auto", "utf-8", "utf-8-sig", "cp932")
QUOTE = '"'

#: What :class:`DecodedStream` yields: ``(text, data, final, lines_before)``, the decoded text
#: of a chunk, its raw bytes, whether it is the last one and the LF count before it.
Chunk = tuple[str, bytes, bool, int]


class UnclosedQuote(InputError):
    """Raised by :meth:`RecordParser.parse` at the end of the input: the quoted field opened at
    index ``pos`` of the text never closes.  Callers turn it into a line number
    (:meth:`at`)."""

    def __init__(self, pos: int) -> None:
        super().__init__("quoted field opened here is never closed (unbalanced quote)")
        self.pos = pos

    def __reduce__(self) -> tuple[type[UnclosedQuote], tuple[int]]:
        return (UnclosedQuote, (self.pos,))

    def at(self, text: str, lines_before: int, name: str = "",
           message: str | None = None) -> InputError:
        """The user-facing error: the line of the opening quote in ``text``."""
        return InputError(message or self.message, name=name,
                          line=lines_before + text.count("\n", 0, self.pos) + 1)


# ---------------------------------------------------------------------------- input


@dataclass
class Input:
    """An opened input: binary stream, display name; ``path`` and ``size`` only for a regular
    (seekable) file — stdin, pipes and FIFOs are streamed once, from the start."""

    stream: BinaryIO
    name: str
    path: str | None
    size: int | None
    owned: bool = True

    def close(self) -> None:
        if self.owned:
            self.stream.close()

    @property
    def mode(self) -> int | None:
        """The permission bits of a regular input file (an output copies them), or None."""
        if self.path is None:
            return None
        try:
            return stat.S_IMODE(os.fstat(self.stream.fileno()).st_mode)
        except (OSError, ValueError):
            return None

    def check_unchanged(self) -> None:
        """Raise :class:`InputError` when the file's size changed since it was opened (it was
        truncated or appended to while being read: the result would describe neither)."""
        if self.path is None or self.size is None:
            return
        try:
            now = os.stat(self.path).st_size
        except OSError:
            return
        if now != self.size:
            raise InputError(f"the file changed while being read ({self.size:,} bytes when "
                             f"opened, {now:,} now); nothing was written: run again on a "
                             f"copy that is not being written", name=self.name)


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def _open_read(path: Path) -> BinaryIO:
    """Open ``path`` for reading (the one place input files are opened; tests patch it)."""
    return open(path, "rb")  # noqa: SIM115 - closed by Input.close


def open_input(file: str) -> Input:
    if file == "-":
        if sys.stdin is None:  # Python sets it so when fd 0 is closed (<&-)
            raise InputError("standard input is closed: give a file, or pipe one in",
                             name="<stdin>")
        return Input(sys.stdin.buffer, "<stdin>", None, None, owned=False)
    p = Path(file)
    if p.is_dir():
        raise InputError("is a directory, not a file", name=file)
    try:
        f = _open_read(p)
    except IsADirectoryError:
        raise InputError("is a directory, not a file", name=file) from None
    except FileNotFoundError:
        raise InputError("no such file", name=file) from None
    except PermissionError:
        raise InputError("permission denied (cannot read it)", name=file) from None
    except OSError as exc:
        raise InputError(f"cannot open: {exc.strerror or exc}", name=file) from None
    try:
        st = os.fstat(f.fileno())
        regular = stat.S_ISREG(st.st_mode) and f.seekable()
    except (OSError, ValueError):
        regular = False
    if not regular:
        return Input(f, file, None, None)
    return Input(f, file, str(p), st.st_size)


class Readable(Protocol):
    """What the chunk reader reads from: a binary file, or a stream whose head was read."""

    def read(self, n: int = -1, /) -> bytes: ...


def iter_byte_chunks(stream: Readable, start: int, end: int | None, size: int,
                     name: str = "", sep: bytes = b"\n") -> Iterator[tuple[int, bytes, bool]]:
    """Yield ``(offset, data, final)``: chunks of ``[start, end)`` cut after a ``sep`` byte.

    ``stream`` is already positioned at ``start``.  Every chunk but the last ends with ``sep``
    (LF, or CR for a CR-only file); the last one has ``final=True`` (it may be empty).  A line
    longer than :data:`MAX_RECORD` bytes is an :class:`InputError`.
    """
    rest = b""
    offset = start
    pos = start
    while True:
        want = size if end is None else min(size, end - pos)
        try:
            data = stream.read(want) if want > 0 else b""
        except OSError as exc:
            raise InputError(f"cannot read: {exc.strerror or exc}", name=name,
                             offset=pos) from None
        if not data:
            yield offset, rest, True
            return
        pos += len(data)
        buf = rest + data if rest else data
        cut = buf.rfind(sep) + 1
        if cut == 0:
            if len(buf) > MAX_RECORD:
                raise InputError(f"a line longer than {format_size(MAX_RECORD)} (no line "
                                 "breaks?)", name=name, offset=offset)
            rest = buf
            continue
        if cut == len(buf):
            rest = b""
            yield offset, buf, False
        else:
            rest = buf[cut:]
            yield offset, buf[:cut], False
        offset += cut


def format_size(n: int) -> str:
    """``n`` bytes for a message: ``16 MiB`` for whole MiB, else ``1,234 bytes``."""
    return f"{n // (1024 * 1024)} MiB" if n >= 1024 * 1024 and n % (1024 * 1024) == 0 \
        else f"{n:,} bytes"


def count_newlines(path: str, end: int, sep: bytes = b"\n") -> int:
    """Number of ``sep`` bytes in ``path`` before byte ``end`` (for line numbers in errors)."""
    n = 0
    with open(path, "rb") as f:
        left = end
        while left > 0:
            block = f.read(min(left, 1 << 20))
            if not block:
                break
            n += block.count(sep)
            left -= len(block)
    return n


def detect_eol(head: bytes, eof: bool = True) -> bytes:
    """The record separator of a file starting with ``head``: ``b"\\r"`` when ``head`` holds a
    CR and no LF (classic Mac OS line ends), else ``b"\\n"`` (LF or CRLF).

    ``eof``: ``head`` is the whole file.  Otherwise a CR that is the last byte of ``head`` may be
    the first half of a CRLF, so it does not count.
    """
    if b"\n" in head:
        return b"\n"
    cr = head.find(b"\r")
    if cr < 0 or (cr == len(head) - 1 and not eof):
        return b"\n"
    return b"\r"


# ---------------------------------------------------------------------------- encodings


def choose_encoding(window: bytes, sep: bytes = b"\n") -> str:
    """``utf-8`` when ``window`` decodes as UTF-8, else ``cp932``.

    When neither decodes it, the one that got further wins (a UTF-8 file with one bad byte is
    reported as UTF-8, at that byte).  When the lines before the first non-UTF-8 line hold
    non-ASCII text that is UTF-8 and not CP932, the file is UTF-8 and that line is the error (a
    file mixing encodings is refused, not read as CP932 mojibake).
    """
    try:
        window.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        utf8_at = exc.start
    line_start = window.rfind(sep, 0, utf8_at) + 1
    before = window[:line_start]
    if not before.isascii():
        try:
            before.decode("cp932")
        except UnicodeDecodeError:
            return "utf-8"
    try:
        window.decode("cp932")
        return "cp932"
    except UnicodeDecodeError as exc:
        return "utf-8" if utf8_at >= exc.start else "cp932"


def detect_encoding(stream: BinaryIO, size: int, sep: bytes = b"\n") -> tuple[str, bool]:
    """Decide ``--encoding auto`` for a seekable stream: ``(codec, has_bom)``; rewinds it.

    Rule (the same one the streaming reader applies on stdin): a UTF-8 BOM means UTF-8;
    otherwise the first chunk holding a non-ASCII byte, from the line of that byte on, decides
    (see :func:`choose_encoding`); an all-ASCII file is UTF-8.
    """
    stream.seek(0)
    head = stream.read(3)
    if head == BOM:
        stream.seek(0)
        return "utf-8", True
    stream.seek(0)
    try:
        for _, data, _final in iter_byte_chunks(stream, 0, None, size, sep=sep):
            enc = _decide(data, sep)
            if enc is not None:
                return enc, False
        return "utf-8", False
    finally:
        stream.seek(0)


def _decide(data: bytes, sep: bytes = b"\n") -> str | None:
    """Encoding decided by this chunk, or None when it is all ASCII."""
    if data.isascii():
        return None
    first = _first_high(data)
    line_start = data.rfind(sep, 0, first) + 1
    return choose_encoding(data[line_start:], sep)


_HIGH = re.compile(rb"[\x80-\xff]")


def _first_high(data: bytes) -> int:
    m = _HIGH.search(data)
    assert m is not None
    return m.start()


def _decodes(data: bytes, codec: str) -> bool:
    try:
        data.decode(codec)
        return True
    except UnicodeDecodeError:
        return False


def decode(data: bytes, encoding: str, *, name: str, offset: int, lines_before: int,
           auto: bool = False, seen_high: bool = False) -> str:
    """Strictly decode one chunk; an undecodable byte is an :class:`InputError` with its place.

    ``auto``: the encoding was detected, not given; ``seen_high``: earlier chunks held non-ASCII
    bytes (decoded with ``encoding``).  They only shape the message: a line that reads in the
    other encoding after non-ASCII lines that read in this one means the file mixes encodings.
    """
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        bad = data[exc.start:exc.end]
        line = lines_before + data.count(b"\n", 0, exc.start) + 1
        codec = "utf-8" if encoding.startswith("utf") else encoding
        if codec == "cp932" and len(bad) == 1 and (0x81 <= bad[0] <= 0x9F
                                                   or 0xE0 <= bad[0] <= 0xFC):
            bad = data[exc.start:exc.start + 2]  # a lead byte: show its bad trail byte too
        shown = ("byte " if len(bad) == 1 else "bytes ") + " ".join(f"0x{b:02X}" for b in bad[:4])
        other = "cp932" if codec == "utf-8" else "utf-8"
        ls = data.rfind(b"\n", 0, exc.start) + 1
        le = data.find(b"\n", exc.start)
        this_line = data[ls:] if le < 0 else data[ls:le]
        other_ok = _decodes(this_line, other)
        if auto:
            if not other_ok:
                msg = f"cannot decode {shown}: the line is neither UTF-8 nor CP932"
            elif seen_high or not data[:ls].isascii():
                msg = (f"cannot decode {shown} as {codec}, the encoding of the lines "
                       f"before it; this line reads as {other}: the file mixes encodings "
                       "(convert it to one)")
            else:
                msg = f"cannot decode {shown} as {codec} (try --encoding {other})"
        elif other_ok:
            msg = f"cannot decode {shown} as {codec} (try --encoding {other})"
        else:
            msg = f"cannot decode {shown} as {codec} (nor as {other})"
        raise InputError(msg, name=name, line=line, offset=offset + exc.start) from None


class _Prefixed:
    """A read-once stream whose first bytes were already read (to look at them)."""

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        self.head = head
        self.stream = stream

    def read(self, n: int = -1) -> bytes:
        if self.head:
            if n < 0 or n >= len(self.head):
                out, self.head = self.head, b""
                if n < 0:
                    return out + self.stream.read()
                return out
            out, self.head = self.head[:n], self.head[n:]
            return out
        return self.stream.read(n)


def _read_up_to(stream: BinaryIO, n: int) -> bytes:
    """Up to ``n`` bytes; fewer only at the end of the stream."""
    parts = []
    left = n
    while left > 0:
        block = stream.read(left)
        if not block:
            break
        parts.append(block)
        left -= len(block)
    return b"".join(parts)


class DecodedStream:
    """Decoded, line-aligned text chunks of one input, with the encoding and line ends resolved.

    ``encoding`` is ``auto`` / ``utf-8`` / ``utf-8-sig`` / ``cp932``.  With a UTF-8 codec a
    leading BOM is skipped and remembered (``has_bom``).  On a seekable file ``auto`` is decided
    up front by :func:`detect_encoding`; on stdin by the first chunk holding a non-ASCII byte
    (the same rule, applied while streaming).  ``eol`` is the record separator byte
    (:func:`detect_eol`); with CR (``cr``) the yielded text has CR and LF swapped, so records
    always end with ``"\\n"`` in the text, while the raw bytes are the file's.
    """

    def __init__(self, inp: Input, encoding: str = "auto", *, start: int = 0,
                 end: int | None = None, size: int | None = None, lines_before: int = 0,
                 codec: str | None = None, has_bom: bool = False,
                 eol: bytes | None = None) -> None:
        if encoding not in ENCODINGS:
            raise InputError(f"unknown encoding {encoding!r}; use one of {', '.join(ENCODINGS)}")
        self.inp = inp
        self.source: Readable = inp.stream
        self.requested = encoding
        self.start = start
        self.end = end
        self.size = size or CHUNK_SIZE
        self.lines_before = lines_before
        self.codec = codec  #: 'utf-8' or 'cp932' once known
        self.has_bom = has_bom
        self.eol = eol  #: b"\n" (LF or CRLF) or b"\r" (CR only); None until prepared
        self.bytes_done = 0
        if codec is None:
            if encoding == "cp932":
                self.codec = "cp932"
            elif encoding in ("utf-8", "utf-8-sig"):
                self.codec = "utf-8"

    @property
    def encoding(self) -> str:
        """The encoding to report (and to write output in)."""
        if self.codec == "cp932":
            return "cp932"
        return "utf-8-sig" if self.has_bom else "utf-8"

    @property
    def cr(self) -> bool:
        """Line ends are CR only (classic Mac OS)."""
        return self.eol == b"\r"

    def prepare(self) -> None:
        """Resolve the BOM, the line ends and, on a seekable file, the auto encoding; position
        the stream."""
        stream = self.inp.stream
        if self.inp.path is None:
            # stdin, a pipe: look at the first bytes, then read on from them
            if self.start != 0:
                return
            try:
                head = _read_up_to(stream, EOL_WINDOW)
            except OSError as exc:
                raise InputError(f"cannot read: {exc.strerror or exc}",
                                 name=self.inp.name) from None
            if head.startswith(BOM) and self.codec != "cp932":
                self.has_bom = True
                self.codec = "utf-8"
                head = head[3:]
                self.start = 3
            if self.eol is None:
                self.eol = detect_eol(head, eof=len(head) < EOL_WINDOW - self.start)
            self.source = _Prefixed(head, stream)
            return
        try:
            if self.start == 0:
                stream.seek(0)
                head = stream.read(3)
                if head == BOM and self.codec != "cp932":
                    self.has_bom = True
                    self.codec = "utf-8"
                    self.start = 3
                if self.eol is None:
                    stream.seek(self.start)
                    window = stream.read(EOL_WINDOW)
                    self.eol = detect_eol(window, eof=len(window) < EOL_WINDOW)
                if self.codec is None:
                    self.codec, _ = detect_encoding(stream, self.size, self.eol)
            stream.seek(self.start)
        except InputError as exc:
            exc.name = exc.name or self.inp.name
            raise
        except OSError as exc:
            raise InputError(f"cannot read: {exc.strerror or exc}", name=self.inp.name) from None

    def __iter__(self) -> Iterator[Chunk]:
        """Yield ``(text, data, final, lines_before_text)``: decoded text and its raw bytes."""
        if self.eol is None and self.inp.path is None and self.start == 0:
            self.prepare()  # a stream read once: the BOM and line ends come from its head
        lines = self.lines_before
        sep = self.eol or b"\n"
        swap = sep == b"\r"
        auto = self.requested == "auto"
        seen_high = False
        for offset, data, final in iter_byte_chunks(self.source, self.start, self.end,
                                                    self.size, self.inp.name, sep):
            if self.codec is None:
                self.codec = _decide(data, sep)
            view = data.translate(SWAP_EOL) if swap else data
            text = decode(view, self.codec or "utf-8", name=self.inp.name, offset=offset,
                          lines_before=lines, auto=auto, seen_high=seen_high)
            if auto and not seen_high:
                seen_high = not data.isascii()
            before = lines
            lines += view.count(b"\n")
            self.bytes_done = offset + len(data)
            yield text, data, final, before


# ---------------------------------------------------------------------------- delimiter


def sniff_delimiter(first_line: str) -> str | None:
    """TAB when the first line has one, else comma when it has one, else None (plain text)."""
    if "\t" in first_line:
        return "\t"
    if "," in first_line:
        return ","
    return None


# ---------------------------------------------------------------------------- records


class RecordParser:
    """Parse one record at a position of a text, csv ``excel`` dialect, keeping raw spans.

    ``parse(text, pos, final)`` returns ``(values, spans, end)`` where ``spans[i]`` is the
    ``(start, stop)`` of field ``i`` as written (quotes included) and ``end`` is the index after
    the record's line ending; or None when the record is not complete in ``text`` and ``final``
    is false (a quoted field continues past the end).  When ``final`` is true and a quoted field
    is still open at the end of ``text``, it raises :class:`UnclosedQuote` (where
    ``csv.reader`` would take the rest of the input as the field).  With ``delimiter=None``
    (plain text) the whole line is one value and quotes are literal.
    """

    def __init__(self, delimiter: str | None) -> None:
        self.delimiter = delimiter
        if delimiter is not None:
            d = re.escape(delimiter)
            self._unquoted = re.compile(f"[^{d}\\n]*")
            # a closing quote is one not followed by another (csv's doubled-quote rule)
            self._quoted = re.compile('"([^"]*(?:""[^"]*)*)"(?!")')

    def parse(self, text: str, pos: int, final: bool = True
              ) -> tuple[list[str], list[tuple[int, int]], int] | None:
        n = len(text)
        if self.delimiter is None:
            e = text.find("\n", pos)
            stop = n if e < 0 else e
            end = n if e < 0 else e + 1
            if stop > pos and text[stop - 1] == "\r" and e >= 0:
                stop -= 1
            return [text[pos:stop]], [(pos, stop)], end
        delim = self.delimiter
        values: list[str] = []
        spans: list[tuple[int, int]] = []
        p = pos
        while True:
            if p < n and text[p] == QUOTE:
                m = self._quoted.match(text, p)
                if m is None:
                    if not final:
                        return None
                    # the quote is still open at the end of the input: csv.reader would take
                    # the rest of the file as this field and hide every record in it
                    raise UnclosedQuote(p)
                value = m.group(1)
                if '""' in value:
                    value = value.replace('""', '"')
                q = m.end()
                t = self._unquoted.match(text, q)
                assert t is not None  # the pattern matches the empty string
                stop = t.end()
                if stop > q:  # text after the closing quote: csv appends it (non-strict)
                    tail_stop = stop
                    if stop < n and text[stop] == "\n" and text[stop - 1] == "\r":
                        tail_stop -= 1
                    value += text[q:tail_stop]
                    stop_field = tail_stop
                else:
                    stop_field = q
                values.append(value)
                spans.append((p, stop_field))
                p = stop
            else:
                u = self._unquoted.match(text, p)
                assert u is not None  # the pattern matches the empty string
                stop = u.end()
                field_stop = stop
                if stop < n and text[stop] == "\n" and stop > p and text[stop - 1] == "\r":
                    field_stop -= 1
                values.append(text[p:field_stop])
                spans.append((p, field_stop))
                p = stop
            if p >= n:
                if not final and p == n and n > pos and text[n - 1] != "\n":
                    return None
                return values, spans, n
            c = text[p]
            if c == delim:
                p += 1
                continue
            # c is "\n" (the record ends) — the only other character that stops a field
            return values, spans, p + 1


def quote_field(value: str, delimiter: str | None, force: bool = False) -> str:
    """``value`` written as a csv field: quoted when needed (or when ``force``)."""
    if delimiter is None:
        return value
    if force or (value and (delimiter in value or QUOTE in value or "\n" in value
                            or "\r" in value)):
        return QUOTE + value.replace(QUOTE, QUOTE + QUOTE) + QUOTE
    return value


# ---------------------------------------------------------------------------- output


class _Sink:
    """The file object :class:`atomic_output` hands out: a write error (disk full) becomes an
    :class:`OutputError` naming the destination."""

    def __init__(self, f: BinaryIO, path: str) -> None:
        self.f = f
        self.path = path

    def write(self, data: bytes) -> int:
        try:
            return self.f.write(data)
        except BrokenPipeError:
            raise  # the reader went away (``| head``): the CLI exits quietly
        except OSError as exc:
            raise _output_error(self.path, exc) from None


def _output_error(path: str, exc: OSError, what: str = "cannot write") -> OutputError:
    return OutputError(f"{what}: {exc.strerror or exc}", name=path)


class atomic_output:
    """Write bytes to ``path`` through a temp file in the same directory, renamed when complete.

    ``path == "-"`` writes to stdout directly, and so does an existing ``path`` that is not a
    regular file (a device such as ``/dev/null``, a FIFO): those are never replaced.  On any
    exception, ``KeyboardInterrupt`` included, the temp file is removed and the destination is
    untouched.  Errors while writing, flushing or renaming are :class:`OutputError`.
    """

    def __init__(self, path: str, *, mode: int | None = None, overwrite: bool = False) -> None:
        self.path = path
        #: the permission bits the output gets (the input's); never more than 0666 & ~umask
        self.mode = mode
        self.overwrite = overwrite
        self.dest = path  # where the temp file is renamed to (a symlink's target)
        self.tmp: str | None = None
        self.f: BinaryIO | None = None
        self.direct = path == "-"

    @staticmethod
    def _open_temp(fd: int) -> BinaryIO:
        """The temp file's file object (tests patch it to simulate a full disk)."""
        return os.fdopen(fd, "wb")

    def __enter__(self) -> _Sink:
        if self.path == "-":
            if sys.stdout is None:  # fd 1 closed (>&-)
                raise OutputError("standard output is closed: give -o a file", name="<stdout>")
            self.f = sys.stdout.buffer
            return _Sink(self.f, "<stdout>")
        if self.path == "":
            raise OutputError("empty output path: give -o a file name, or - for stdout")
        if self.path.startswith(("/dev/", "/proc/")) and os.path.exists(self.path):
            # /dev/stdout, /dev/fd/N, /proc/self/fd/N: a stream, never a file to replace
            self.direct = True
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
            except OSError as exc:
                raise _output_error(self.path, exc, "cannot open") from None
            self.f = self._open_temp(fd)
            return _Sink(self.f, self.path)
        if os.path.islink(self.path):
            self.dest = os.path.realpath(self.path)  # write the file, keep the link
        target = Path(self.dest)
        try:
            st = os.stat(target)
        except OSError:
            st = None
        if st is not None and stat.S_ISDIR(st.st_mode):
            raise OutputError("is a directory; give a file name", name=self.path)
        if st is not None and stat.S_ISREG(st.st_mode) and not self.overwrite and \
                not st.st_mode & stat.S_IWUSR:
            raise OutputError("exists and is read-only; pass --overwrite to replace it",
                              name=self.path)
        if st is not None and not stat.S_ISREG(st.st_mode):
            # a device or a FIFO: write into it (renaming over it would replace the node)
            self.direct = True
            try:
                fd = os.open(self.path, os.O_WRONLY)
            except OSError as exc:
                raise _output_error(self.path, exc, "cannot open") from None
            self.f = self._open_temp(fd)
            return _Sink(self.f, self.path)
        directory = target.parent if str(target.parent) else Path(".")
        try:
            fd, self.tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp",
                                            dir=directory)
        except OSError as exc:
            raise OutputError(f"cannot write into {directory}: {exc.strerror or exc}",
                              name=self.path) from None
        try:
            self.f = self._open_temp(fd)
        except BaseException:
            os.close(fd)
            self._remove_tmp()
            raise
        return _Sink(self.f, self.path)

    def _remove_tmp(self) -> None:
        if self.tmp is not None:
            try:
                os.unlink(self.tmp)
            except OSError:
                pass
            self.tmp = None

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> Literal[False]:
        assert self.f is not None
        if self.path == "-":
            if exc_type is None:
                try:
                    self.f.flush()
                except BrokenPipeError:
                    raise
                except OSError as err:
                    raise _output_error("<stdout>", err) from None
            return False
        if self.direct:
            try:
                self.f.close()  # flushes
            except OSError as err:
                if exc_type is None:
                    raise _output_error(self.path, err) from None
            return False
        assert self.tmp is not None
        try:
            if exc_type is None:
                try:
                    self.f.flush()
                    os.fsync(self.f.fileno())
                    self.f.close()
                except OSError as err:
                    raise _output_error(self.path, err) from None
                try:
                    # the input's permission bits (health data stays 0600), never setuid,
                    # setgid or sticky, never more than a new file would get
                    bits = (0o666 if self.mode is None else self.mode) & 0o666 & ~_umask()
                    os.chmod(self.tmp, bits)
                    os.replace(self.tmp, self.dest)
                except OSError as err:
                    raise _output_error(self.path, err, "cannot replace it") from None
                self.tmp = None
        finally:
            if self.tmp is not None:
                try:
                    self.f.close()
                except OSError:
                    pass
                self._remove_tmp()
        return False
