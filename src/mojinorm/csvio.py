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
from typing import BinaryIO

__all__ = [
    "BOM", "CHUNK_SIZE", "ENCODINGS", "MAX_RECORD", "DecodedStream", "Input", "InputError",
    "RecordParser", "atomic_output", "choose_encoding", "count_newlines", "decode",
    "detect_encoding", "iter_byte_chunks", "open_input", "quote_field", "sniff_delimiter",
]

CHUNK_SIZE = 8 * 1024 * 1024
#: A record (a line, or a quoted field spanning lines) longer than this is an input error.
MAX_RECORD = 4 * 1024 * 1024
BOM = b"\xef\xbb\xbf"
ENCODINGS = ("auto", "utf-8", "utf-8-sig", "cp932")
QUOTE = '"'


class InputError(Exception):
    """Bad input: one readable line, no traceback.  ``line`` is relative to the stream start."""

    def __init__(self, message: str, *, name: str = "", line: int | None = None,
                 offset: int | None = None) -> None:
        self.message = " ".join(message.split("\n"))
        self.name = name
        self.line = line
        self.offset = offset
        super().__init__(self.message)

    def __str__(self) -> str:
        where = [self.name] if self.name else []
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.offset is not None:
            where.append(f"byte offset {self.offset}")
        return (", ".join(where) + ": " if where else "") + self.message

    def __reduce__(self):  # picklable across worker processes
        return (_rebuild_error, (self.message, self.name, self.line, self.offset))


def _rebuild_error(message, name, line, offset):
    return InputError(message, name=name, line=line, offset=offset)


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


def open_input(file: str) -> Input:
    if file == "-":
        return Input(sys.stdin.buffer, "<stdin>", None, None, owned=False)
    p = Path(file)
    try:
        f = open(p, "rb")  # noqa: SIM115 - closed by Input.close
    except IsADirectoryError:
        raise InputError("is a directory", name=file) from None
    except OSError as exc:
        raise InputError(exc.strerror or str(exc), name=file) from None
    try:
        st = os.fstat(f.fileno())
        regular = stat.S_ISREG(st.st_mode) and f.seekable()
    except OSError:
        regular = False
    if not regular:
        return Input(f, file, None, None)
    return Input(f, file, str(p), st.st_size)


def iter_byte_chunks(stream: BinaryIO, start: int, end: int | None, size: int,
                     name: str = "") -> Iterator[tuple[int, bytes, bool]]:
    """Yield ``(offset, data, final)``: chunks of ``[start, end)`` cut after a LF.

    ``stream`` is already positioned at ``start``.  Every chunk but the last ends with ``\\n``;
    the last one has ``final=True`` (it may be empty).
    """
    rest = b""
    offset = start
    pos = start
    while True:
        want = size if end is None else min(size, end - pos)
        data = stream.read(want) if want > 0 else b""
        if not data:
            yield offset, rest, True
            return
        pos += len(data)
        buf = rest + data if rest else data
        cut = buf.rfind(b"\n") + 1
        if cut == 0:
            if len(buf) > MAX_RECORD + size:
                raise InputError(f"a line longer than {MAX_RECORD + size} bytes (no line breaks?)",
                                 name=name, offset=offset)
            rest = buf
            continue
        if cut == len(buf):
            rest = b""
            yield offset, buf, False
        else:
            rest = buf[cut:]
            yield offset, buf[:cut], False
        offset += cut


def count_newlines(path: str, end: int) -> int:
    """Number of LF bytes in ``path`` before byte ``end`` (for line numbers in errors)."""
    n = 0
    with open(path, "rb") as f:
        left = end
        while left > 0:
            block = f.read(min(left, 1 << 20))
            if not block:
                break
            n += block.count(b"\n")
            left -= len(block)
    return n


# ---------------------------------------------------------------------------- encodings


def choose_encoding(window: bytes) -> str:
    """``utf-8`` when ``window`` decodes as UTF-8, else ``cp932``.

    When neither decodes it, the one that got further wins (a UTF-8 file with one bad byte is
    reported as UTF-8, at that byte).
    """
    try:
        window.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        utf8_at = exc.start
    try:
        window.decode("cp932")
        return "cp932"
    except UnicodeDecodeError as exc:
        return "utf-8" if utf8_at >= exc.start else "cp932"


def detect_encoding(stream: BinaryIO, size: int) -> tuple[str, bool]:
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
        for _, data, _final in iter_byte_chunks(stream, 0, None, size):
            enc = _decide(data)
            if enc is not None:
                return enc, False
        return "utf-8", False
    finally:
        stream.seek(0)


def _decide(data: bytes) -> str | None:
    """Encoding decided by this chunk, or None when it is all ASCII."""
    if data.isascii():
        return None
    first = _first_high(data)
    line_start = data.rfind(b"\n", 0, first) + 1
    return choose_encoding(data[line_start:])


_HIGH = re.compile(rb"[\x80-\xff]")


def _first_high(data: bytes) -> int:
    m = _HIGH.search(data)
    assert m is not None
    return m.start()


def decode(data: bytes, encoding: str, *, name: str, offset: int, lines_before: int) -> str:
    """Strictly decode one chunk; an undecodable byte is an :class:`InputError` with its place."""
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        bad = data[exc.start:exc.end]
        line = lines_before + data.count(b"\n", 0, exc.start) + 1
        shown = " ".join(f"0x{b:02X}" for b in bad[:4])
        hint = " (try --encoding cp932)" if encoding.startswith("utf") else \
            " (try --encoding utf-8)"
        raise InputError(f"cannot decode byte {shown} as {encoding}{hint}", name=name, line=line,
                         offset=offset + exc.start) from None


class DecodedStream:
    """Decoded, LF-aligned text chunks of one input, with the encoding resolved.

    ``encoding`` is ``auto`` / ``utf-8`` / ``utf-8-sig`` / ``cp932``.  With a UTF-8 codec a
    leading BOM is skipped and remembered (``has_bom``).  On a seekable file ``auto`` is decided
    up front by :func:`detect_encoding`; on stdin by the first chunk holding a non-ASCII byte
    (the same rule, applied while streaming).
    """

    def __init__(self, inp: Input, encoding: str = "auto", *, start: int = 0,
                 end: int | None = None, size: int | None = None, lines_before: int = 0,
                 codec: str | None = None, has_bom: bool = False) -> None:
        if encoding not in ENCODINGS:
            raise InputError(f"unknown encoding {encoding!r}; use one of {', '.join(ENCODINGS)}")
        self.inp = inp
        self.requested = encoding
        self.start = start
        self.end = end
        self.size = size or CHUNK_SIZE
        self.lines_before = lines_before
        self.codec = codec  #: 'utf-8' or 'cp932' once known
        self.has_bom = has_bom
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

    def prepare(self) -> None:
        """Resolve the BOM and, on a seekable file, the auto encoding; position the stream."""
        if self.inp.path is None:
            return  # stdin: decided on the first chunks
        stream = self.inp.stream
        if self.start == 0:
            stream.seek(0)
            head = stream.read(3)
            if head == BOM and self.codec != "cp932":
                self.has_bom = True
                self.codec = "utf-8"
                self.start = 3
            elif self.codec is None:
                self.codec, _ = detect_encoding(stream, self.size)
        stream.seek(self.start)

    def __iter__(self) -> Iterator[tuple[str, bytes, bool, int]]:
        """Yield ``(text, data, final, lines_before_text)``: decoded text and its raw bytes."""
        lines = self.lines_before
        first = True
        for offset, data, final in iter_byte_chunks(self.inp.stream, self.start, self.end,
                                                    self.size, self.inp.name):
            if first:
                first = False
                if (self.inp.path is None and self.start == 0 and self.codec != "cp932"
                        and data.startswith(BOM)):
                    self.has_bom = True
                    self.codec = "utf-8"
                    data = data[3:]
                    offset += 3
                    self.start = 3
            if self.codec is None:
                self.codec = _decide(data)
            text = decode(data, self.codec or "utf-8", name=self.inp.name, offset=offset,
                          lines_before=lines)
            before = lines
            lines += data.count(b"\n")
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
    is false (a quoted field continues past the end).  With ``delimiter=None`` (plain text) the
    whole line is one value and quotes are literal.
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
                    # unterminated quote at end of input: csv takes the rest as the field
                    value = text[p + 1:].replace('""', '"')
                    values.append(value)
                    spans.append((p, n))
                    return values, spans, n
                value = m.group(1)
                if '""' in value:
                    value = value.replace('""', '"')
                q = m.end()
                t = self._unquoted.match(text, q)
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
                m = self._unquoted.match(text, p)
                stop = m.end()
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


class atomic_output:
    """Write bytes to ``path`` through a temp file in the same directory, renamed when complete.

    ``path == "-"`` writes to stdout directly.  On any exception the temp file is removed and the
    destination is untouched.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.tmp: str | None = None
        self.f: BinaryIO | None = None

    def __enter__(self) -> BinaryIO:
        if self.path == "-":
            self.f = sys.stdout.buffer
            return self.f
        target = Path(self.path)
        directory = target.parent if str(target.parent) else Path(".")
        try:
            fd, self.tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp",
                                            dir=directory)
        except OSError as exc:
            raise InputError(f"cannot write into {directory}: {exc.strerror or exc}",
                             name=self.path) from None
        self.f = os.fdopen(fd, "wb")
        return self.f

    def __exit__(self, exc_type, exc, tb) -> bool:
        if self.path == "-":
            if exc_type is None:
                self.f.flush()
            return False
        assert self.f is not None and self.tmp is not None
        try:
            if exc_type is None:
                self.f.flush()
                os.fsync(self.f.fileno())
                self.f.close()
                mode = None
                try:
                    mode = os.stat(self.path).st_mode
                except OSError:
                    pass
                if mode is not None:
                    os.chmod(self.tmp, mode & 0o7777)
                else:
                    umask = os.umask(0)
                    os.umask(umask)
                    os.chmod(self.tmp, 0o666 & ~umask)
                os.replace(self.tmp, self.path)
                self.tmp = None
        finally:
            if self.tmp is not None:
                try:
                    self.f.close()
                except OSError:
                    pass
                try:
                    os.unlink(self.tmp)
                except OSError:
                    pass
                self.tmp = None
        return False
