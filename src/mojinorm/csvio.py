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
of LF in the text equals the number of LF bytes (line numbers in errors are physical lines).  A
UTF-8 chunk is decoded only when its text is asked for (:class:`Chunk`): the column kernel reads
a plain one from its bytes, and polars validates them.  A regular file is read in whole lines
(each read stops after the last line end of its span, found by a look at the span's tail), so
that a chunk is one read's bytes; a stream joins the line left over to the next read.  With
more than one thread, the next chunk's bytes can be read on a thread of their own
(:class:`ReadAhead`).

Hostile input (each is an :class:`InputError`, or a documented reading):

* A quoted field still open at the end of the input is an error naming the line of its
  opening quote (``csv.reader`` silently takes the rest of the file as the field); so is a
  record, or a line, longer than :data:`MAX_RECORD`.
* Classic Mac OS files, whose line ends are CR only: when records end with a lone CR and none
  with LF, counted outside quoted fields over the whole file (a stream: its first
  :data:`EOL_WINDOW` bytes), CR is the record separator (:class:`LineEndEvidence`); more lone
  CRs than LFs is refused as conflicting.  The bytes 0x0D and 0x0A are swapped before decoding
  (both bytes only ever encode themselves in UTF-8 and CP932), so the rest of the code sees
  LF-terminated text; raw bytes are copied unswapped.
* Undecodable bytes name the line and byte offset; with ``auto`` the message says whether the
  line reads in the other encoding (a file mixing UTF-8 and CP932 lines) or in neither.  Bytes
  valid in both are decided by which reading is Japanese, or refused (:func:`choose_encoding`).
* UTF-16 and UTF-32 with a byte-order mark (or named by ``--encoding``) are transcoded to
  UTF-8 at the edge and written back in their own encoding; without a mark, ASCII text with
  NUL bytes between the characters is refused as probably UTF-16/UTF-32.
* Output (:class:`atomic_output`) goes through a temp file renamed when complete; a write error
  (disk full) or an interrupt removes the temp file.  An existing output that is not a regular
  file (``/dev/null``, ``/dev/full``, a FIFO) is written directly, never replaced.
"""

from __future__ import annotations

import codecs
import errno
import mmap
import os
import re
import stat
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, BinaryIO, Generic, Literal, Protocol, TypeVar

from . import _compiled
from .errors import InputError, OutputError

if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor

__all__ = [
    "BOM", "CHUNK_SIZE", "ENCODINGS", "ENCODING_ALIASES", "EOL_WINDOW", "MAX_RECORD", "WIDE",
    "Chunk", "DecodedStream", "Input", "InputError", "LineEndEvidence", "OutputError",
    "Readable", "RecordParser", "UnclosedQuote", "WideDecodeError", "WideReader", "RecodingSink",
    "Writable", "WriteBehind", "atomic_output", "canonical_encoding", "choose_encoding", "decode",
    "detect_encoding", "detect_eol", "format_size", "iter_byte_chunks", "open_input", "ReadAhead",
    "path_problem", "quote_field", "scan_line_ends", "sniff_delimiter",
]

CHUNK_SIZE = 2 * 1024 * 1024
#: A record (a line, or a quoted field spanning lines) longer than this is an input error.
MAX_RECORD = 16 * 1024 * 1024
#: Bytes at the start of a stream (stdin, a pipe) that decide its line ends (CR only, or LF /
#: CRLF); a regular file is looked at whole (:func:`scan_line_ends`).
EOL_WINDOW = 1024 * 1024
EOL_BLOCK = 4 * 1024 * 1024
#: Bytes of the first chunk a stream yields (see :meth:`DecodedStream._chunks`).
FIRST_CHUNK = 256 * 1024
#: Bytes of lines, from the first line with a non-ASCII byte, that decide ``--encoding auto``
#: (:func:`choose_encoding`): the same for scan and normalize whatever their chunk sizes, and
#: a decode of a megabyte rather than of a whole chunk.
DETECT_WINDOW = 1024 * 1024
#: What :func:`detect_encoding` reads first: it decides when it holds a whole window.
DETECT_FIRST = 4 * DETECT_WINDOW
BOM = b"\xef\xbb\xbf"
#: Swaps CR and LF (bytes or str): CR-only input is read as LF-terminated text.
SWAP_EOL = bytes.maketrans(b"\r\n", b"\n\r")
SWAP_EOL_STR = str.maketrans("\r\n", "\n\r")
QUOTE = '"'

class Chunk:
    """What :class:`DecodedStream` yields: whole lines of the input as raw bytes (``data``),
    whether they are the last ones (``final``), the LF count before them (``lines_before``)
    and their ``text``, decoded when first asked for: a UTF-8 batch the column kernel reads
    whole is validated by polars and never decoded in Python (a byte it refuses sends the
    batch to the exact reader, which asks for the text, and the decoding error names the
    byte)."""

    __slots__ = ("data", "final", "lines_before", "newlines", "_text", "_decode")

    def __init__(self, data: bytes, final: bool, lines_before: int, text: str | None = None,
                 decode: Callable[[], str] | None = None) -> None:
        assert (text is None) != (decode is None)
        self.data = data
        self.final = final
        self.lines_before = lines_before
        #: the LF count of the chunk, when its reader knows it (a plain batch read whole: its
        #: records, less an unterminated last one); else the stream counts the bytes
        self.newlines: int | None = None
        self._text = text
        self._decode = decode

    @property
    def text(self) -> str:
        if self._text is None:
            assert self._decode is not None
            self._text = self._decode()
            self._decode = None
        return self._text

    def joined(self, more: Chunk) -> Chunk:
        """This chunk followed by ``more`` (the first record continues there)."""
        return Chunk(self.data + more.data, more.final, self.lines_before,
                     text=self.text + more.text)


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


def path_problem(path: str) -> str | None:
    """Why ``path`` cannot be reached, in words (None when it can): a missing file, a symbolic
    link loop, a link to nothing, a directory on the way that cannot be entered."""
    try:
        os.stat(path)
        return None
    except FileNotFoundError:
        if os.path.lexists(path):
            return f"a symbolic link to {os.readlink(path)!r}, which does not exist"
        return "no such file"
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "a symbolic link loop (following its links never reaches a file)"
        if exc.errno == errno.ENOTDIR:
            return "a part of the path is a file, not a directory"
        if exc.errno == errno.EACCES:
            blocked = _first_closed_directory(path)
            if blocked is not None:
                return f"permission denied: cannot enter the directory {blocked}"
            return "permission denied"
        return exc.strerror or str(exc)


def _first_closed_directory(path: str) -> str | None:
    """The first directory on the way to ``path`` that cannot be searched (entered)."""
    parent = os.path.dirname(os.path.abspath(path))
    chain = []
    while True:
        chain.append(parent)
        up = os.path.dirname(parent)
        if up == parent:
            break
        parent = up
    for d in reversed(chain):
        if not os.access(d, os.X_OK):
            return d
    return None


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
        raise InputError(path_problem(file) or "no such file", name=file) from None
    except PermissionError:
        problem = path_problem(file)
        raise InputError(problem or "permission denied (cannot read it)", name=file) from None
    except OSError as exc:
        problem = path_problem(file)
        raise InputError(problem or f"cannot open: {exc.strerror or exc}", name=file) from None
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
                     name: str = "", sep: bytes = b"\n", first: int | None = None,
                     fd: int | None = None) -> Iterator[tuple[int, bytes, bool]]:
    """Yield ``(offset, data, final)``: chunks of ``[start, end)`` cut after a ``sep`` byte.

    ``stream`` is already positioned at ``start``.  Every chunk but the last ends with ``sep``
    (LF, or CR for a CR-only file); the last one has ``final=True`` (it may be empty).  A line
    longer than :data:`MAX_RECORD` bytes is an :class:`InputError`.  ``first``: the size of
    the first read (default ``size``).  ``fd``: the descriptor of the regular file ``stream``
    reads (``start`` a file offset): the tail of each read's span is looked at first
    (:data:`PEEK` bytes, ``os.pread``) and the read ends just after its last ``sep``, so
    that the chunk is the read's own bytes, not a copy joined from two reads.
    """
    rest = b""
    offset = start
    pos = start
    read_size = size if first is None else first
    while True:
        want = read_size if end is None else min(read_size, end - pos)
        read_size = size
        if fd is not None and not rest and want > PEEK:
            try:
                tail = os.pread(fd, PEEK, pos + want - PEEK)
            except OSError:
                tail = b""
            cut = tail.rfind(sep)
            if cut >= 0:
                want = want - PEEK + cut + 1  # through the span's last separator
        try:
            data = stream.read(want) if want > 0 else b""
        except OSError as exc:
            raise InputError(f"cannot read: {exc.strerror or exc}", name=name,
                             offset=pos) from None
        if not data:
            yield offset, rest, True
            return
        pos += len(data)
        # the chunk is copied once: the line left over from the last read, then this read
        # up to its last separator
        last = data.rfind(sep) + 1
        if last == 0:
            rest += data
            if len(rest) > MAX_RECORD:
                # the caller, who counts the lines it was given, sets the line number
                raise InputError(f"a line longer than {format_size(MAX_RECORD)} (no line "
                                 "breaks?)", name=name, offset=offset)
            continue
        if last == len(data):
            chunk = rest + data if rest else data
        else:
            chunk = b"".join((rest, memoryview(data)[:last]))
        rest = data[last:]
        yield offset, chunk, False
        offset += len(chunk)


T = TypeVar("T")


class ReadAhead(Generic[T]):
    """The items of an iterator, the next one taken on another thread when asked
    (:meth:`prefetch`), else when iterated; in order either way, an error raised where its
    item would have come.  A file's ``read`` lets go of the GIL."""

    def __init__(self, items: Iterator[T]) -> None:
        self.items = items
        self._pool: ThreadPoolExecutor | None = None  # made when first asked
        self._next: Future[T | None] | None = None

    def prefetch(self) -> None:
        if self._next is None:
            if self._pool is None:
                from concurrent.futures import ThreadPoolExecutor

                self._pool = ThreadPoolExecutor(1, thread_name_prefix="mojinorm-read-ahead")
            self._next = self._pool.submit(next, self.items, None)

    def __iter__(self) -> Iterator[T]:
        while True:
            if self._next is not None:
                item, self._next = self._next.result(), None
            else:
                item = next(self.items, None)
            if item is None:
                return
            yield item

    def close(self) -> None:
        """Wait for a read under way, and let the thread go."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        self._next = None


#: Bytes at the end of a read's span :func:`iter_byte_chunks` looks at for its last separator.
PEEK = 64 * 1024


def format_size(n: int) -> str:
    """``n`` bytes for a message: ``16 MiB`` for whole MiB, else ``1,234 bytes``."""
    return f"{n // (1024 * 1024)} MiB" if n >= 1024 * 1024 and n % (1024 * 1024) == 0 \
        else f"{n:,} bytes"


_QUOTED_BYTES = re.compile(rb'"[^"]*"')


@dataclass
class LineEndEvidence:
    """Line ends found outside quoted fields (a quoted field may hold CR and LF as data).

    Fed block by block (:meth:`feed`); the quote state and a CR at the end of a block (the
    first half of a CRLF?) carry over to the next block.
    """

    lf: int = 0  #: records ending in LF or CRLF
    crlf: int = 0  #: of those, the ones ending in CRLF
    cr: int = 0  #: records ending in a CR not followed by LF
    inside: bool = False  #: a quoted field is open at the end of what was fed
    held: bytes = b""

    def feed(self, data: bytes, final: bool = False) -> None:
        data = self.held + data
        self.held = b""
        if not final and data.endswith(b"\r"):
            data, self.held = data[:-1], b"\r"
        if self.inside:
            q = data.find(b'"')
            if q < 0:
                return
            data = b"q" + data[q + 1:]
            self.inside = False
        # a quoted field becomes one ordinary byte: a CR and an LF on either side of it stay
        # two line ends, never one CRLF
        outside = _QUOTED_BYTES.sub(b"q", data) if b'"' in data else data
        q = outside.find(b'"')
        if q >= 0:  # a quote opened in this block closes in a later one
            outside = outside[:q]
            self.inside = True
        self.lf += outside.count(b"\n")
        cr = outside.count(b"\r")
        if cr:
            crlf = outside.count(b"\r\n")
            self.crlf += crlf
            self.cr += cr - crlf

    def decide(self, name: str = "") -> bytes:
        """``b"\\r"`` (CR only, classic Mac OS) or ``b"\\n"`` (LF or CRLF).

        CR-only when records end with a lone CR and none with LF.  A lone CR in an LF file is
        data (an unquoted field may hold one), so LF wins while LF ends are at least as many;
        more lone CRs than LFs is a file whose line ends conflict: an :class:`InputError`.
        """
        if self.cr and not self.lf:
            return b"\r"
        if self.cr > self.lf:
            raise InputError(f"the line ends conflict: {self.cr:,} records end with CR only and "
                             f"{self.lf:,} with LF (outside quoted fields); convert the file to "
                             "one kind of line end", name=name)
        return b"\n"

    @property
    def line_ends(self) -> str:
        """What the report says: ``CR``, ``CRLF`` (every LF record end is a CRLF), ``LF`` or
        ``LF and CRLF``; call after :meth:`decide`."""
        if self.cr and not self.lf:
            return "CR"
        if self.crlf and self.crlf == self.lf:
            return "CRLF"
        return "LF and CRLF" if self.crlf else "LF"


def detect_eol(head: bytes, eof: bool = True, name: str = "") -> bytes:
    """The record separator of a file starting with ``head`` (see :class:`LineEndEvidence`):
    ``b"\\r"`` for CR-only line ends, else ``b"\\n"`` (LF or CRLF).

    ``eof``: ``head`` is the whole file.  Otherwise a CR that is the last byte of ``head`` may be
    the first half of a CRLF, so it does not count.
    """
    evidence = LineEndEvidence()
    evidence.feed(head, final=eof)
    return evidence.decide(name)


def scan_line_ends(stream: BinaryIO, start: int, name: str = "",
                   threads: int = 1) -> LineEndEvidence:
    """The line ends of the whole of a seekable ``stream`` from ``start`` (the structure of the
    whole input decides, not its head), checked by :meth:`LineEndEvidence.decide`; leaves the
    stream at ``start``.

    Most files need no quote-aware count: one without a CR has LF line ends (a pass at
    ``memchr`` speed; ``lf`` is then left at 0), and one whose every CR and every LF is part
    of a CRLF has CRLF line ends, inside quoted fields or not.  The others are counted outside
    quoted fields by :meth:`LineEndEvidence.feed`.  ``threads``: the search for a CR runs
    on up to this many.
    """
    evidence = LineEndEvidence()
    if not _holds_cr(stream, start, threads) or _all_crlf(stream, start, evidence):
        stream.seek(start)
        evidence.decide(name)
        return evidence
    evidence = LineEndEvidence()
    stream.seek(start)
    while True:
        block = stream.read(EOL_BLOCK)
        if not block:
            break
        evidence.feed(block)
    evidence.feed(b"", final=True)
    stream.seek(start)
    evidence.decide(name)
    return evidence


def _holds_cr(stream: BinaryIO, start: int, threads: int = 1) -> bool:
    try:
        return _mapped_holds_cr(stream.fileno(), start, threads)
    except (OSError, ValueError):  # not a file (io.UnsupportedOperation), empty, unmappable
        pass
    stream.seek(start)
    while True:
        block = stream.read(EOL_BLOCK)
        if not block:
            return False
        if b"\r" in block:
            return True


#: Bytes of a file mapped at a time by :func:`_mapped_holds_cr` (the pages it touches count
#: in the process's resident memory while they are mapped).
MAP_WINDOW = 16 * 1024 * 1024


def _mapped_holds_cr(fd: int, start: int, threads: int = 1) -> bool:
    """A file holds a CR from ``start`` on, searched where it lies, window by window (a third
    of the time of reading it into memory); by the compiled module when it is built, in one
    call without the GIL, in parts on up to ``threads`` threads (a scan on several threads
    loads its tables meanwhile)."""
    find_byte = getattr(_compiled.MODULE, "find_byte", None)  # not built on Windows
    if find_byte is not None:
        return bool(find_byte(fd, start, 13, MAP_WINDOW, threads) >= 0)
    size = os.fstat(fd).st_size
    offset = start - start % mmap.ALLOCATIONGRANULARITY
    while offset < size:
        length = min(MAP_WINDOW, size - offset)
        with mmap.mmap(fd, length, offset=offset, access=mmap.ACCESS_READ) as view:
            if view.find(b"\r", max(start - offset, 0)) >= 0:
                return True
        offset += length
    return False


def _all_crlf(stream: BinaryIO, start: int, evidence: LineEndEvidence) -> bool:
    """True when every CR and every LF from ``start`` is part of a CRLF; then ``evidence``
    holds the counts (no lone CR: quoting cannot change the answer)."""
    stream.seek(start)
    cr = lf = crlf = 0
    last = b""
    while True:
        block = stream.read(EOL_BLOCK)
        if not block:
            break
        cr += block.count(b"\r")
        lf += block.count(b"\n")
        crlf += block.count(b"\r\n") + (last == b"\r" and block.startswith(b"\n"))
        if cr != crlf + block.endswith(b"\r") or lf != crlf:
            return False
        last = block[-1:]
    if cr != crlf:
        return False
    evidence.lf = evidence.crlf = crlf
    return True


# ---------------------------------------------------------------------------- encodings


#: Hangul (jamo, compatibility jamo, syllables): CP932 bytes with the NEC-selected IBM lead
#: bytes 0xED/0xEE can also be valid UTF-8, where they read as Hangul syllables.
_HANGUL = re.compile("[\u1100-\u11ff\u3130-\u318f\uac00-\ud7af]")
#: What Japanese member files hold beyond ASCII: CJK symbols, kana, kanji (compatibility
#: ideographs such as 﨑 included), full-width forms and half-width katakana.
_JAPANESE = re.compile("[\u3000-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
                       "\uf900-\ufaff\uff01-\uff9f]")


def _non_ascii(text: str) -> int:
    return len(text) - len(text.encode("ascii", "ignore"))


def choose_encoding(window: bytes, sep: bytes = b"\n", name: str = "") -> tuple[str, str | None]:
    """``(codec, note)``: ``utf-8`` when ``window`` decodes as UTF-8, else ``cp932``; ``note``
    says why when the choice needed evidence.

    When neither decodes it, the one that got further wins (a UTF-8 file with one bad byte is
    reported as UTF-8, at that byte).  When the lines before the first non-UTF-8 line hold
    non-ASCII text that is UTF-8 and not CP932, the file is UTF-8 and that line is the error (a
    file mixing encodings is refused, not read as CP932 mojibake).

    Bytes valid in both (CP932 written with NEC-selected IBM codes: 德, 﨑) are decided by what
    each reading yields: UTF-8 that reads as Hangul with no Japanese, where CP932 reads as
    Japanese only, is CP932; Hangul in a UTF-8 reading otherwise is weak evidence either way,
    so the file is refused with a request for ``--encoding``.
    """
    try:
        as_utf8 = window.decode("utf-8")
    except UnicodeDecodeError as exc:
        utf8_at = exc.start
    else:
        hangul = _HANGUL.findall(as_utf8)
        if not hangul:
            return "utf-8", None
        try:
            as_cp932 = window.decode("cp932")
        except UnicodeDecodeError:
            return "utf-8", None  # Korean text: CP932 has no reading of it
        japanese_in_utf8 = len(_JAPANESE.findall(as_utf8))
        if not japanese_in_utf8 and \
                len(_JAPANESE.findall(as_cp932)) == _non_ascii(as_cp932):
            return "cp932", ("read as CP932: the bytes are also valid UTF-8, where they read "
                             f"as Hangul ({''.join(hangul[:3])}), not Japanese (CP932 with "
                             "NEC-selected IBM codes, as Python and Java write it)")
        raise InputError("the bytes read both as UTF-8 (with Hangul: "
                         f"{''.join(hangul[:3])}) and as CP932, and neither reading is clearly "
                         "Japanese: give --encoding utf-8 or --encoding cp932", name=name)
    line_start = window.rfind(sep, 0, utf8_at) + 1
    before = window[:line_start]
    if not before.isascii():
        try:
            before.decode("cp932")
        except UnicodeDecodeError:
            return "utf-8", None
    try:
        window.decode("cp932")
        return "cp932", None
    except UnicodeDecodeError as exc:
        return ("utf-8" if utf8_at >= exc.start else "cp932"), None


def detect_encoding(stream: BinaryIO, start: int, size: int, sep: bytes = b"\n",
                    name: str = "") -> tuple[str, str | None]:
    """Decide ``--encoding auto`` for a seekable stream without a BOM: ``(codec, note)``; leaves
    the stream at ``start``.

    Rule (the same one the streaming reader applies on stdin): the first chunk holding a
    non-ASCII byte, from the line of that byte on and for at most :data:`DETECT_WINDOW` bytes
    of whole lines, decides (see :func:`choose_encoding`); an all-ASCII file is UTF-8.
    """
    stream.seek(start)
    lines = 0
    try:
        if size > DETECT_FIRST:
            # a member file's first non-ASCII line is near its start: what decides is read
            # without the rest of the first chunk (16 MiB read, copied and thrown away)
            decided = _decided_by_head(stream.read(DETECT_FIRST), sep, name)
            if decided is not None:
                return decided
            stream.seek(start)
        for _, data, _final in iter_byte_chunks(stream, start, None, size, name, sep=sep):
            decided = _decide(data, sep, name)
            if decided is not None:
                return decided
            lines += data.count(sep)
        return "utf-8", None
    except InputError as exc:
        if exc.line is None and exc.offset is not None:
            exc.line = lines + 1  # a line too long: it starts after those read
        raise
    finally:
        stream.seek(start)


def _decided_by_head(head: bytes, sep: bytes, name: str) -> tuple[str, str | None] | None:
    """:func:`_decide` of the first chunk, from ``head`` (the first :data:`DETECT_FIRST`
    bytes of the file, a chunk's start) when that is certain: the first non-ASCII line and
    the whole window after its start are in it, the window's last separator too (the chunk,
    cut after a separator, holds the same window); else None (the chunks are read)."""
    if len(head) < DETECT_FIRST or head.isascii():
        return None
    first = _first_high(head)
    line_start = head.rfind(sep, 0, first) + 1
    window_end = line_start + DETECT_WINDOW
    if window_end >= len(head) or head.rfind(sep, first, window_end) < 0:
        return None
    return _decide(head, sep, name)


def _decide(data: bytes, sep: bytes = b"\n", name: str = "") -> tuple[str, str | None] | None:
    """Encoding decided by this chunk (see :func:`choose_encoding`), or None when it is all
    ASCII: by its lines from the first non-ASCII byte's on, up to :data:`DETECT_WINDOW` bytes
    (whole lines; a longer first line whole), whatever the size of the caller's chunks."""
    if data.isascii():
        return None
    first = _first_high(data)
    line_start = data.rfind(sep, 0, first) + 1
    end = len(data)
    if end - line_start > DETECT_WINDOW:
        cut = data.rfind(sep, first, line_start + DETECT_WINDOW)
        if cut >= 0:
            end = cut + 1
    return choose_encoding(data[line_start:end], sep, name)


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

    def __init__(self, head: bytes, stream: Readable) -> None:
        self.head = head
        self.stream = stream

    def read(self, n: int = -1, /) -> bytes:
        if self.head:
            if n < 0 or n >= len(self.head):
                out, self.head = self.head, b""
                if n < 0:
                    return out + self.stream.read()
                return out
            out, self.head = self.head[:n], self.head[n:]
            return out
        return self.stream.read(n)


def _read_up_to(stream: Readable, n: int) -> bytes:
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


# ---------------------------------------------------------------------------- UTF-16 and UTF-32

#: Encodings read through a transcoder: they become UTF-8 at the edge (every other part of the
#: reader relies on 0x0A, 0x0D, 0x22 and the delimiter being one byte each) and the output is
#: written back in the same encoding, byte-order mark included (:class:`RecodingSink`).
WIDE = ("utf-16le", "utf-16be", "utf-32le", "utf-32be")
#: Byte-order marks, longest first (the UTF-32LE mark begins with the UTF-16LE one).
WIDE_BOMS = ((b"\xff\xfe\x00\x00", "utf-32le"), (b"\x00\x00\xfe\xff", "utf-32be"),
             (b"\xff\xfe", "utf-16le"), (b"\xfe\xff", "utf-16be"))
ENCODINGS = ("auto", "utf-8", "utf-8-sig", "cp932", *WIDE)
#: Encoding names as people write them (case, ``-``/``_`` and spaces ignored).  Shift_JIS as
#: Japanese Windows and Java write it is CP932 (Windows-31J, MS932): one table for all of them.
ENCODING_ALIASES = {
    "utf8": "utf-8", "utf8sig": "utf-8-sig", "utf8bom": "utf-8-sig",
    "cp932": "cp932", "ms932": "cp932", "windows31j": "cp932", "sjis": "cp932",
    "shiftjis": "cp932", "mskanji": "cp932", "cskanji": "cp932",
    "utf16le": "utf-16le", "utf16be": "utf-16be", "utf32le": "utf-32le", "utf32be": "utf-32be",
    "auto": "auto",
}


def canonical_encoding(name: str) -> str:
    """The :data:`ENCODINGS` entry ``name`` stands for (``SJIS``, ``Shift-JIS``, ``MS932``,
    ``Windows-31J`` → ``cp932``; ``UTF8`` → ``utf-8``); :class:`InputError` otherwise."""
    key = "".join(c for c in name.lower() if c.isalnum())
    found = ENCODING_ALIASES.get(key)
    if found is None:
        raise InputError(f"unknown encoding {name!r}; use one of {', '.join(ENCODINGS)} (or "
                         "sjis, shift_jis, ms932, windows-31j for cp932, utf8 for utf-8)")
    return found
_WIDE_BLOCK = 1024 * 1024


def _label(codec: str) -> str:
    return codec.upper()


class WideDecodeError(InputError):
    """Bytes that are not valid in the input's UTF-16/UTF-32 encoding (the offset is exact)."""


class WideReader:
    """A read-once stream of the UTF-8 bytes of a UTF-16/UTF-32 stream."""

    def __init__(self, stream: Readable, codec: str, name: str, start: int) -> None:
        self.stream = stream
        self.codec = codec
        self.name = name
        self.decoder = codecs.getincrementaldecoder(codec)("strict")
        self.consumed = start  #: input bytes read so far (for progress)
        self.pending = b""
        self.done = False

    def read(self, n: int = -1, /) -> bytes:
        while not self.done and (n < 0 or len(self.pending) < n):
            raw = self.stream.read(_WIDE_BLOCK)
            held = len(self.decoder.getstate()[0])
            try:
                text = self.decoder.decode(raw, final=not raw)
            except UnicodeDecodeError as exc:
                raise WideDecodeError(
                    f"cannot decode as {_label(self.codec)}: {exc.reason}", name=self.name,
                    offset=self.consumed - held + exc.start) from None
            self.consumed += len(raw)
            self.pending += text.encode("utf-8")
            self.done = not raw
        if n < 0 or n >= len(self.pending):
            out, self.pending = self.pending, b""
        else:
            out, self.pending = self.pending[:n], self.pending[n:]
        return out


class Writable(Protocol):
    """What output is written to: a binary file, or a sink that re-encodes."""

    def write(self, data: bytes, /) -> int: ...


class RecodingSink:
    """Writes the bytes it is given (in ``source``) in ``codec``: a UTF-16/UTF-32 input's output
    back in its own encoding (the reverse of :class:`WideReader`: an unchanged record comes back
    byte for byte), or the output in ``--output-encoding``.

    ``bom``: start with ``codec``'s byte-order mark; ``drop_bom``: the writer starts with the
    input's UTF-8 BOM, which is not text.  A character ``codec`` cannot hold is an
    :class:`InputError` naming the output line: never a silent replacement.
    """

    def __init__(self, f: Writable, source: str, codec: str, *, bom: bool = False,
                 drop_bom: bool = False, name: str = "") -> None:
        #: set by the writer once the layout is known: names the column of a refusal
        self.delimiter: str | None = None
        self.columns: Sequence[str] = ()
        self.f = f
        self.codec = codec
        self.name = name
        self.decoder = codecs.getincrementaldecoder(source)("strict")
        self.drop_bom = drop_bom
        self.lines = 0
        if bom:
            f.write("\ufeff".encode(codec))

    def write(self, data: bytes, /) -> int:
        text = self.decoder.decode(data)
        if self.drop_bom and text:
            text = text.removeprefix("\ufeff")
            self.drop_bom = False
        try:
            out = text.encode(self.codec)
        except UnicodeEncodeError as exc:
            bad = exc.object[exc.start]
            raise InputError(f"cannot write {bad!r} (U+{ord(bad):04X}) in {self.codec}: "
                             f"{self._where(text, exc.start)} holds it; pass --replace to "
                             "write the normalized values instead, or keep the input's "
                             "encoding", name=self.name,
                             line=self.lines + text.count("\n", 0, exc.start) + 1) from None
        self.lines += text.count("\n")
        self.f.write(out)
        return len(data)


    def _where(self, text: str, pos: int) -> str:
        """The column of ``text[pos]`` (its line parsed as a record), for the message."""
        start = text.rfind("\n", 0, pos) + 1
        if self.delimiter is not None:
            try:
                rec = RecordParser(self.delimiter).parse(text, start, final=True)
            except InputError:
                rec = None
            if rec is not None:
                for i, (a, b) in enumerate(rec[1]):
                    if a <= pos < b or a <= pos <= b and i == len(rec[1]) - 1:
                        name = self.columns[i] if i < len(self.columns) else str(i + 1)
                        return f"column {name!r}"
        return "a field of the input"


def _wide_without_bom(window: bytes) -> str | None:
    """The UTF-16/UTF-32 encoding that a BOM-less ``window`` looks like (ASCII text with NUL
    bytes between the characters), or None."""
    sample = window[:65536]
    n = len(sample) - len(sample) % 4
    if n < 8 or sample.count(0, 0, n) * 8 < n:
        return None
    zero = [sample[i:n:4].count(0) for i in range(4)]
    quarter = n // 4
    # UTF-32: the top byte of every code unit is zero, the next one too outside plane 0
    if zero[3] == quarter and zero[2] * 10 >= quarter * 9 and zero[0] < quarter:
        return "utf-32le"
    if zero[0] == quarter and zero[1] * 10 >= quarter * 9 and zero[3] < quarter:
        return "utf-32be"
    odd, even = zero[1] + zero[3], zero[0] + zero[2]
    if odd > 2 * even:
        return "utf-16le"
    if even > 2 * odd:
        return "utf-16be"
    return None


class DecodedStream:
    """Decoded, line-aligned text chunks of one input, with the encoding and line ends resolved.

    ``encoding`` is one of :data:`ENCODINGS`.  With a UTF-8 codec a leading BOM is skipped and
    remembered (``has_bom``).  A UTF-16/UTF-32 byte-order mark (or such an ``encoding``) puts a
    transcoder in front: the rest of the reader sees UTF-8 (``wide`` names the encoding, and
    :meth:`sink` writes output back in it).  On a seekable file ``auto`` is decided up front by
    :func:`detect_encoding`; on stdin by the first chunk holding a non-ASCII byte (the same
    rule, applied while streaming).  ``eol`` is the record separator byte: on a regular file
    decided by its whole structure (:func:`scan_line_ends`), on a stream by its first
    :data:`EOL_WINDOW` bytes.  With CR (``cr``) the yielded text has CR and LF swapped, so
    records always end with ``"\\n"`` in the text, while the raw bytes are the file's.
    """

    def __init__(self, inp: Input, encoding: str = "auto", *, size: int | None = None,
                 threads: int = 1) -> None:
        encoding = canonical_encoding(encoding)
        self.inp = inp
        #: above one, :meth:`prefetch` reads the next chunk's bytes on another thread
        self.threads = threads
        self._ahead: ReadAhead[tuple[int, bytes, bool]] | None = None
        self.source: Readable = inp.stream
        self.requested = encoding
        self.start = 0
        self.size = size or CHUNK_SIZE
        #: 'utf-8' or 'cp932' once known (a wide input is transcoded to UTF-8)
        self.codec = {"cp932": "cp932", "utf-8": "utf-8", "utf-8-sig": "utf-8"}.get(encoding)
        self.wide: str | None = encoding if encoding in WIDE else None
        self.has_bom = False
        self.eol: bytes | None = None  #: b"\n" (LF or CRLF) or b"\r" (CR only)
        self.line_end_evidence = LineEndEvidence()
        self.notes: list[str] = []  #: what the reader decided on evidence, for the report
        self._bytes_done = 0
        self._transcoder: WideReader | None = None

    @property
    def encoding(self) -> str:
        """The encoding to report (and to write output in)."""
        if self.wide is not None:
            return self.wide
        if self.codec == "cp932":
            return "cp932"
        return "utf-8-sig" if self.has_bom else "utf-8"

    @property
    def cr(self) -> bool:
        """Line ends are CR only (classic Mac OS)."""
        return self.eol == b"\r"

    @property
    def line_ends(self) -> str:
        """``CR``, ``CRLF``, ``LF`` or ``LF and CRLF`` (from the whole file, or a stream's
        head), for the report."""
        return self.line_end_evidence.line_ends

    @property
    def bytes_done(self) -> int:
        """Input bytes read so far (for progress)."""
        return self._transcoder.consumed if self._transcoder is not None else self._bytes_done

    def sink(self, f: Writable, output_encoding: str = "keep") -> Writable:
        """Where output bytes go (the writer writes UTF-8 for a wide input, else the input's
        codec): ``f``, or a re-encoding sink for a wide input or another ``output_encoding``
        (``keep`` or one of :data:`ENCODINGS` but ``auto``)."""
        source = self.codec or "utf-8"
        if output_encoding == "keep":
            if self.wide is None:
                return f
            return RecodingSink(f, source, self.wide, bom=self.has_bom, name=self.inp.name)
        codec = canonical_encoding(output_encoding)
        if codec == "auto":
            raise InputError("--output-encoding is keep or an encoding, not auto")
        bom = codec == "utf-8-sig" or codec in WIDE and self.has_bom
        target = "utf-8" if codec == "utf-8-sig" else codec
        if target == source and bom == self.utf8_bom and self.wide is None:
            return f
        return RecodingSink(f, source, target, bom=bom, drop_bom=self.utf8_bom,
                            name=self.inp.name)

    def output_encoding(self, output_encoding: str = "keep") -> str:
        """The encoding the output is written in, for the summary."""
        if output_encoding == "keep":
            return self.encoding
        return canonical_encoding(output_encoding)

    @property
    def utf8_bom(self) -> bool:
        """The input starts with a UTF-8 BOM, which the output repeats."""
        return self.has_bom and self.wide is None

    def prepare(self) -> None:
        """Resolve the BOM, the line ends and, on a seekable file, the auto encoding; position
        the stream."""
        try:
            self._prepare()
        except InputError as exc:
            exc.name = exc.name or self.inp.name
            raise
        except OSError as exc:
            raise InputError(f"cannot read: {exc.strerror or exc}", name=self.inp.name) from None

    def _prepare(self) -> None:
        stream = self.inp.stream
        name = self.inp.name
        seekable = self.inp.path is not None
        if seekable:
            stream.seek(0)
            head = stream.read(4)
        else:
            head = _read_up_to(stream, 4)
            self.source = _Prefixed(head, stream)
        bom = self._wide_bom(head)
        if self.wide is not None:
            if seekable:
                stream.seek(bom)
            else:
                self.source.read(bom)
            self._open_wide(bom > 0)
            return
        if head.startswith(BOM) and self.codec != "cp932":
            self.has_bom = True
            self.codec = "utf-8"
            self.start = 3
        if seekable:
            stream.seek(self.start)
            self._refuse_wide_without_bom(stream.read(EOL_WINDOW))
            self.line_end_evidence = scan_line_ends(stream, self.start, name, self.threads)
            self.eol = self.line_end_evidence.decide(name)
            if self.codec is None:
                self.codec, note = detect_encoding(stream, self.start, self.size, self.eol, name)
                if note:
                    self.notes.append(note)
            stream.seek(self.start)
            return
        window = _read_up_to(self.source, EOL_WINDOW)[self.start:]
        self._refuse_wide_without_bom(window)
        self.eol = self._head_line_ends(window, len(window) < EOL_WINDOW - self.start)
        self.source = _Prefixed(window, stream)

    def _head_line_ends(self, window: bytes, eof: bool) -> bytes:
        self.line_end_evidence.feed(window, final=eof)
        return self.line_end_evidence.decide(self.inp.name)

    def _wide_bom(self, head: bytes) -> int:
        """Length of the UTF-16/UTF-32 byte-order mark ``head`` starts with (0: none); sets
        ``wide`` from it under ``auto``.  A mark that contradicts ``--encoding`` is an error."""
        for mark, codec in WIDE_BOMS:
            if not head.startswith(mark):
                continue
            if self.wide is None and self.requested != "auto":
                raise InputError(f"the file starts with a {_label(codec)} byte-order mark, but "
                                 f"--encoding {self.requested} was given: pass --encoding "
                                 f"{codec} (or auto)")
            if self.wide is not None and codec != self.wide:
                if codec == "utf-32le" and self.wide == "utf-16le":
                    return 2  # FF FE then U+0000: the UTF-16LE mark and a NUL
                raise InputError(f"the file starts with a {_label(codec)} byte-order mark, not "
                                 f"{_label(self.wide)}: pass --encoding {codec} (or auto)")
            self.wide = codec
            return len(mark)
        return 0

    def _refuse_wide_without_bom(self, window: bytes) -> None:
        if self.requested != "auto":
            return  # the encoding was given: NUL is a character like any other
        guess = _wide_without_bom(window)
        if guess is not None:
            raise InputError(f"NUL bytes between the characters: this looks like "
                             f"{_label(guess)} without a byte-order mark; pass --encoding "
                             f"{guess}, or convert the file to UTF-8 "
                             f"(iconv -f {_label(guess)} -t UTF-8)")

    def _open_wide(self, bom: bool) -> None:
        assert self.wide is not None
        self.has_bom = bom
        self.codec = "utf-8"
        self._transcoder = WideReader(self.source, self.wide, self.inp.name,
                                       start=4 if self.wide.startswith("utf-32") and bom
                                       else 2 if bom else 0)
        window = _read_up_to(self._transcoder, EOL_WINDOW)
        self.eol = self._head_line_ends(window, len(window) < EOL_WINDOW)
        self.source = _Prefixed(window, self._transcoder)
        self.notes.append(f"{_label(self.wide)} text{' with a byte-order mark' if bom else ''}: "
                          f"read as text and written back as {_label(self.wide)}; byte offsets "
                          "in messages are not given for it")

    def __iter__(self) -> Iterator[Chunk]:
        """Yield each :class:`Chunk`: whole lines, their raw bytes and (decoded on demand) text."""
        if self.eol is None:
            self.prepare()
        try:
            yield from self._chunks()
        except WideDecodeError:
            raise
        except InputError as exc:
            if self.wide is not None:
                exc.offset = None  # an offset into the transcoded bytes would mislead
            raise
        finally:
            if self._ahead is not None:
                self._ahead.close()

    def prefetch(self) -> None:
        """Start reading the next chunk's bytes on another thread (with ``threads`` above
        one; else nothing): the caller calls this when its own work on the chunk it has
        leaves a core free (deciding new units), not while its compiled reader takes them
        all.  The chunks and errors come in the same order either way."""
        if self._ahead is not None:
            self._ahead.prefetch()

    def _chunks(self) -> Iterator[Chunk]:
        lines = 0
        sep = self.eol or b"\n"
        swap = sep == b"\r"
        auto = self.requested == "auto"
        seen_high = False
        name = self.inp.name
        # a small first chunk: the layout is read from its text, which is decoded whole (the
        # next chunks of a UTF-8 file are read as bytes, and decoded only when a batch must
        # be read record by record)
        regular = self.inp.path is not None and self.source is self.inp.stream
        chunks: Iterator[tuple[int, bytes, bool]] = iter_byte_chunks(
            self.source, self.start, None, self.size, name, sep,
            first=min(self.size, FIRST_CHUNK),
            fd=self.inp.stream.fileno() if regular else None)
        if self.threads > 1:
            self._ahead = ReadAhead(chunks)
            chunks = iter(self._ahead)
        while True:
            try:
                offset, data, final = next(chunks)
            except StopIteration:
                return
            except InputError as exc:
                if exc.line is None and exc.offset is not None:
                    exc.line = lines + 1  # a line too long: it starts after those read
                raise
            if self.codec is None:
                decided = _decide(data, sep, name)
                if decided is not None:
                    self.codec, note = decided
                    if note:
                        self.notes.append(note)
            view = data.translate(SWAP_EOL) if swap else data
            decoding = partial(decode, view, self.codec or "utf-8", name=name, offset=offset,
                               lines_before=lines, auto=auto, seen_high=seen_high)
            # a UTF-8 chunk is decoded when its text is asked for (see Chunk); CP932 now
            chunk = Chunk(data, final, lines, decode=decoding) \
                if self.codec in (None, "utf-8") and not swap else \
                Chunk(data, final, lines, text=decoding())
            if auto and not seen_high:
                seen_high = not data.isascii()
            self._bytes_done = offset + len(data)
            yield chunk
            # counted once the chunk is read: its reader may have said how many (a pass
            # over the bytes saved)
            lines += chunk.newlines if chunk.newlines is not None else view.count(b"\n")


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


#: Bytes written to a temp file of :class:`atomic_output` between two background syncs
#: (:class:`WriteBehind`).
WRITE_BEHIND = 8 * 1024 * 1024


class WriteBehind:
    """Sends what was written to a file to the disk while the writer goes on: every
    :data:`WRITE_BEHIND` bytes, a data sync of the file on a thread of its own (one at a time),
    so that the sync before the rename finds little left to write (a 50 MB output's final
    ``fsync`` took 0.10-0.13 s; 0.003-0.011 s after syncs behind)."""

    def __init__(self, f: BinaryIO, every: int | None = None) -> None:
        self.f = f
        self.every = WRITE_BEHIND if every is None else every
        self._since = 0
        self._syncing: threading.Thread | None = None
        self._error: OSError | None = None

    def wrote(self, n: int) -> None:
        """``n`` more bytes were written; a sync starts when enough came and none runs."""
        self._since += n
        if self._since < self.every or \
                (self._syncing is not None and self._syncing.is_alive()):
            return
        self.f.flush()  # the sync sees what the buffer holds
        self._since = 0
        self._syncing = threading.Thread(target=self._sync, args=(self.f.fileno(),),
                                         name="mojinorm-write-behind", daemon=True)
        self._syncing.start()

    def _sync(self, fd: int) -> None:
        try:
            getattr(os, "fdatasync", os.fsync)(fd)
        except OSError as exc:  # raised by wait(), in the writer's thread
            self._error = exc

    def wait(self) -> None:
        """Wait for the sync running, if any; its error raises here."""
        if self._syncing is not None:
            self._syncing.join()
            self._syncing = None
        if self._error is not None:
            error, self._error = self._error, None
            raise error


class _Sink:
    """The file object :class:`atomic_output` hands out: a write error (disk full) becomes an
    :class:`OutputError` naming the destination.  ``behind``: the temp file's syncs behind
    the writer (:class:`WriteBehind`)."""

    def __init__(self, f: BinaryIO, path: str, behind: WriteBehind | None = None) -> None:
        self.f = f
        self.path = path
        self.behind = behind

    def write(self, data: bytes) -> int:
        try:
            n = self.f.write(data)
            if self.behind is not None:
                self.behind.wrote(n)  # bytes, whatever buffer ``data`` is
            return n
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
        self.behind: WriteBehind | None = None  #: the temp file's syncs (a file replaced)
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
            problem = path_problem(self.path)
            if problem is not None and problem != "no such file" and \
                    not problem.startswith("a symbolic link to"):
                raise OutputError(problem, name=self.path)
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
            problem = path_problem(str(directory))
            if problem is not None and problem != "no such file":
                raise OutputError(f"cannot write into {directory}: {problem}",
                                  name=self.path) from None
            raise OutputError(f"cannot write into {directory}: {exc.strerror or exc}",
                              name=self.path) from None
        try:
            self.f = self._open_temp(fd)
        except BaseException:
            os.close(fd)
            self._remove_tmp()
            raise
        self.behind = WriteBehind(self.f)
        return _Sink(self.f, self.path, self.behind)

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
                    if self.behind is not None:
                        self.behind.wait()
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
                    if self.behind is not None:
                        self.behind.wait()  # no sync left running on a file removed
                except OSError:
                    pass
                try:
                    self.f.close()
                except OSError:
                    pass
                self._remove_tmp()
        return False
