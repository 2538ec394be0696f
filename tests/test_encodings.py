"""Encodings and line ends decided on evidence (csvio): UTF-16/UTF-32, bytes valid in two
encodings, CR-only files with line feeds inside quoted fields.

The corpus files and their exact outcomes are in test_hostile (CORPUS_CASES, ERROR_CASES);
this file checks the rules underneath them and the stream (stdin) paths.
"""

from __future__ import annotations

import io
import json
import mmap
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mojinorm import csvio
from mojinorm.csvio import LineEndEvidence, choose_encoding

HOSTILE = Path(__file__).resolve().parent / "hostile"


def _run(*args: str, data: bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "mojinorm", *args], input=data,
                          capture_output=True, timeout=120)


# ---------------------------------------------------------------------------- line ends


def _decide(data: bytes) -> bytes:
    return csvio.detect_eol(data)


def test_line_ends_outside_quotes_decide():
    # an LF inside a quoted field is data, not a line end: CR-only file
    assert _decide(b'a,"x\ny"\rb,c\r') == b"\r"
    # a CR inside a quoted field of an LF file is data
    assert _decide(b'a,"x\ry"\nb,c\n') == b"\n"
    assert _decide(b"a,b\r\nc,d\r\n") == b"\n"  # CRLF is LF-terminated
    assert _decide(b"a,b") == b"\n"  # one record, no line end: nothing to decide
    # a lone CR in an unquoted field of an LF file is data (no more CRs than LFs)
    assert _decide(b"a,x\ry\nb,c\n") == b"\n"
    with pytest.raises(csvio.InputError, match="line ends conflict: 3 records end with CR only "
                                               "and 1 with LF"):
        _decide(b"a\rb\rc\nd\r")


_PIECES = st.sampled_from([b"a", b",", b'"', b'""', b"\r", b"\n", b"\r\n", b"\xe9\xab\x99"])


@settings(max_examples=300, deadline=None)
@given(data=st.lists(_PIECES, max_size=40).map(b"".join),
       cuts=st.lists(st.integers(min_value=0, max_value=200), max_size=6))
def test_line_end_evidence_does_not_depend_on_block_boundaries(data: bytes, cuts: list[int]):
    """The whole file is read in blocks: a CRLF or a quoted field split between two blocks
    counts as if the file were one block."""
    whole = LineEndEvidence()
    whole.feed(data, final=True)
    split = LineEndEvidence()
    prev = 0
    for c in sorted({min(c, len(data)) for c in cuts}):
        split.feed(data[prev:c])
        prev = c
    split.feed(data[prev:], final=True)
    assert (split.lf, split.cr, split.inside) == (whole.lf, whole.cr, whole.inside)


@settings(max_examples=300, deadline=None)
@given(data=st.lists(st.sampled_from([b"\r", b"\n", b"\r\n", b'"', b"a", b","]), max_size=60)
       .map(b"".join), block=st.integers(1, 9))
def test_whole_file_scan_agrees_with_one_quote_aware_count(data: bytes, block: int) -> None:
    """scan_line_ends skips the quote-aware count for files without a CR and for files whose
    every CR and LF is a CRLF: its answer (line ends, or the conflict) is still the one the
    quote-aware count of the whole file gives, whatever the block size."""
    whole = LineEndEvidence()
    whole.feed(data, final=True)
    try:
        expected: object = (whole.decide(), whole.line_ends)
    except csvio.InputError:
        expected = csvio.InputError
    saved = csvio.EOL_BLOCK
    csvio.EOL_BLOCK = block
    try:
        found = csvio.scan_line_ends(io.BytesIO(b"xy" + data), 2)
        got: object = (found.decide(), found.line_ends)
    except csvio.InputError:
        got = csvio.InputError
    finally:
        csvio.EOL_BLOCK = saved
    pairs = data.count(b"\r\n")
    if whole.lf == whole.cr == 0 and pairs and data.count(b"\r") == pairs == data.count(b"\n"):
        # every line end of the file is a CRLF inside one quoted field that never closes: no
        # record ends, and the quote-free count calls the file CRLF (the record separator,
        # LF, is the same)
        expected = (b"\n", "CRLF")
    assert got == expected


@pytest.mark.parametrize("data, start", [
    (b"", 0), (b"a,b\n", 0), (b"a\r\n", 0), (b"\rab\n", 1), (b"\rab\n", 0),
    (b"x" * 9000 + b"\r", 5), (b"\r", 1), (b"\r" + b"x" * 70000, 66000),
    (b"x" * 70000 + b"\r" + b"y" * 70000, 1), (b"x" * 200000 + b"\r", 140000)])
@pytest.mark.parametrize("window", [mmap.ALLOCATIONGRANULARITY, 16 * 1024 * 1024])
@pytest.mark.parametrize("threads", [1, 3])
def test_a_mapped_file_and_its_blocks_find_the_same_cr(tmp_path, monkeypatch, data: bytes,
                                                      start: int, window: int, threads: int):
    # a regular file is searched mapped (mmap, window by window; in parts on threads),
    # anything else block by block: the same answer from the same start, an empty file
    # included (it cannot be mapped), a CR in a later window or before the start's window
    monkeypatch.setattr(csvio, "MAP_WINDOW", window)
    path = tmp_path / "f.csv"
    path.write_bytes(data)
    with open(path, "rb") as f:
        mapped = csvio._holds_cr(f, start, threads)
    assert mapped == csvio._holds_cr(io.BytesIO(data), start) == (b"\r" in data[start:])


def test_whole_file_decides_not_its_head(tmp_path, monkeypatch):
    """A regular file's line ends come from all of it: a CR-only file whose first window holds
    only an open quoted field with line feeds is still CR-only."""
    monkeypatch.setattr(csvio, "EOL_BLOCK", 64)
    body = b'id,note\r1,"' + b"x\n" * 200 + b'"\r2,y\r'
    path = tmp_path / "f.csv"
    path.write_bytes(body)
    with open(path, "rb") as f:
        assert csvio.scan_line_ends(f, 0).line_ends == "CR"
        assert f.tell() == 0


# ---------------------------------------------------------------------------- two encodings


def test_nec_selected_cp932_is_japanese_not_hangul():
    data = "id,name\n1,德田\n2,﨑山\n".encode("cp932")
    data.decode("utf-8")  # the trap: every byte sequence is valid UTF-8 too
    codec, note = choose_encoding(data)
    assert codec == "cp932" and note is not None and "Hangul" in note


def test_utf8_japanese_that_also_decodes_as_cp932_stays_utf8():
    # UTF-8 kana often decodes as CP932 mojibake (あい: E3 81 82 E3 81 84 → three CP932
    # characters); with no Hangul in the UTF-8 reading, UTF-8 is the answer, with no note
    data = "id,name\n1,あい\n".encode()
    data.decode("cp932")
    assert choose_encoding(data) == ("utf-8", None)


def test_korean_utf8_is_utf8():
    # 김 is EA B9 80: 0xEA 0xB9 is no CP932 character, so there is no second reading
    assert choose_encoding("id,name\n1,김민준\n".encode()) == ("utf-8", None)


def test_nec_cp932_on_stdin_is_read_the_same():
    data = (HOSTILE / "nec_cp932.csv").read_bytes()
    done = _run("scan", "-", "-f", "json", data=data)
    assert done.returncode == 0, done.stderr
    d = json.loads(done.stdout)
    assert d["encoding"] == "cp932" and d["rows"] == 5 and d["fallback_rows"] == 0
    assert any("Hangul" in n for n in d["notes"])


# ---------------------------------------------------------------------------- UTF-16, UTF-32


def test_utf16_on_stdin_round_trips_to_stdout():
    data = (HOSTILE / "utf16le_bom.tsv").read_bytes()
    done = _run("normalize", "-", "-o", "-", "-c", "2", "-q", data=data)
    assert done.returncode == 0, done.stderr
    text = done.stdout.decode("utf-16")  # a BOM, then UTF-16LE
    assert done.stdout.startswith(b"\xff\xfe")
    assert text.splitlines()[1] == "1\t髙橋\tﾀｶﾊｼ\t高橋\t髙→高 jis-unification"
    # every original field comes back byte for byte: drop the two added columns
    kept = "\r\n".join("\t".join(line.split("\t")[:3]) for line in text.split("\r\n")[:-1])
    assert ("\ufeff" + kept + "\r\n").encode("utf-16-le") == data


def test_utf16_without_bom_when_named():
    data = "id,name\r\n1,髙橋\r\n".encode("utf-16-le")
    refused = _run("scan", "-", data=data)
    assert refused.returncode == 2 and b"looks like UTF-16LE" in refused.stderr
    done = _run("scan", "-", "-f", "json", "--encoding", "utf-16le", data=data)
    assert done.returncode == 0, done.stderr
    d = json.loads(done.stdout)
    assert d["encoding"] == "utf-16le" and d["unsafe_rows"] == 1
    out = _run("normalize", "-", "-o", "-", "--encoding", "utf-16le", "-c", "name", "-q",
               data=data)
    # no BOM in, no BOM out
    assert out.stdout == ("id,name,name_normalized,name_changes\r\n"
                          "1,髙橋,高橋,髙→高 jis-unification\r\n").encode("utf-16-le")


def test_wide_sink_writes_back_what_the_transcoder_read():
    text = "\ufeffid,name\n1,𠮷田\n"
    for codec in csvio.WIDE:
        raw = text.encode(codec)
        out = io.BytesIO()
        sink = csvio.RecodingSink(out, "utf-8", codec, bom=True)
        reader = csvio.WideReader(io.BytesIO(raw[len("\ufeff".encode(codec)):]), codec, "x", 0)
        while block := reader.read(3):  # odd sizes: a character split between reads
            sink.write(block)
        assert out.getvalue() == raw


# ---------------------------------------------------------------------------- paths


def test_symlink_loops_are_named(tmp_path):
    loop = tmp_path / "loop.csv"
    loop.symlink_to(loop)
    done = _run("scan", str(loop), data=b"")
    assert done.returncode == 2 and b"a symbolic link loop" in done.stderr
    assert b"Traceback" not in done.stderr
    out = tmp_path / "out.csv"
    out.symlink_to(out)
    done = _run("normalize", str(HOSTILE / "cp932.csv"), "-o", str(out), data=b"")
    assert done.returncode == 2, done.stderr
    assert done.stderr.decode().strip() == (f"mojinorm: error: {out}: a symbolic link loop "
                                            "(following its links never reaches a file)")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["loop.csv", "out.csv"]


def test_dangling_symlink_input_is_named(tmp_path):
    link = tmp_path / "in.csv"
    link.symlink_to(tmp_path / "gone.csv")
    done = _run("scan", str(link), data=b"")
    assert done.returncode == 2
    assert f"a symbolic link to '{tmp_path / 'gone.csv'}', which does not exist" in \
        done.stderr.decode()


def test_a_directory_that_cannot_be_entered_is_named(tmp_path, monkeypatch):
    """Simulated (root enters every directory): stat fails with EACCES and the first directory
    without search permission is the one named."""
    closed = tmp_path / "closed"
    target = closed / "sub" / "f.csv"
    real_stat, real_access = csvio.os.stat, csvio.os.access

    def stat(path, *args, **kwargs):
        if str(path).startswith(str(closed) + "/"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_stat(path, *args, **kwargs)

    def access(path, mode, *args, **kwargs):
        return str(path) != str(closed) and real_access(path, mode, *args, **kwargs)

    closed.mkdir()
    monkeypatch.setattr(csvio.os, "stat", stat)
    monkeypatch.setattr(csvio.os, "access", access)
    assert csvio.path_problem(str(target)) == \
        f"permission denied: cannot enter the directory {closed}"


# ---------------------------------------------------------------------------- messages


def test_a_stray_latin1_byte_is_named_at_its_offset():
    # b"id,name\n" is 8 bytes and b"1,Jos" 5 more: the é (0xE9) is at offset 13
    data = "id,name\n1,José\n".encode("latin-1")
    done = _run("scan", "-", data=data)
    assert done.returncode == 2
    assert done.stderr.decode() == ("mojinorm: error: <stdin>, line 2, byte offset 13: cannot "
                                    "decode byte 0xE9: the line is neither UTF-8 nor CP932\n")


def test_control_characters_in_headers_are_escaped_on_the_terminal():
    """An ESC in a header would drive the terminal (colours, cursor moves): the table shows it
    as <U+001B>, and the JSON keeps the name as it is."""
    data = "id,na\x1bme\n1,髙橋\n".encode()
    done = _run("scan", "-", data=data)
    assert done.returncode == 0, done.stderr
    assert b"\x1b" not in done.stdout
    assert "columns     id, na<U+001B>me  (comma" in done.stdout.decode()
    assert "\nna<U+001B>me " in done.stdout.decode()
    d = json.loads(_run("scan", "-", "-f", "json", data=data).stdout)
    assert d["columns_selected"] == ["id", "na\x1bme"]


# ---------------------------------------------------------------------------- --output-encoding


def _normalize(tmp_path, data: bytes, *args: str) -> subprocess.CompletedProcess[bytes]:
    src = tmp_path / "in.csv"
    src.write_bytes(data)
    return subprocess.run([sys.executable, "-m", "mojinorm", "normalize", str(src), "-o",
                           str(tmp_path / "out.csv"), *args], capture_output=True, timeout=120)


def test_output_encoding_cp932_with_replace(tmp_path):
    done = _normalize(tmp_path, "id,name\r\n1,髙橋\r\n2,𠮷田\r\n".encode(), "-c", "name",
                      "--replace", "--output-encoding", "sjis", "-q")
    assert done.returncode == 0, done.stderr
    # 髙 → 高 and 𠮷 → 吉 (JIS X 0208 unification): every value fits CP932, CRLF kept
    assert (tmp_path / "out.csv").read_bytes() == "id,name\r\n1,高橋\r\n2,吉田\r\n".encode("cp932")


def test_output_encoding_refuses_an_original_it_cannot_hold(tmp_path):
    done = _normalize(tmp_path, "id,name\n1,髙橋\n2,𠮷田\n".encode(), "-c", "name",
                      "--output-encoding", "cp932")
    assert done.returncode == 2
    assert done.stderr.decode().endswith(
        "in.csv, line 3: cannot write '𠮷' (U+20BB7) in cp932: column 'name' holds it; "
        "pass --replace to write the normalized values instead, or keep the input's "
        "encoding\n")
    assert not (tmp_path / "out.csv").exists()


def test_output_encoding_utf8_sig_from_cp932_keeps_every_field(tmp_path):
    text = "被保険者番号,氏名\r\n1,﨑山\r\n2,山田\r\n"
    done = _normalize(tmp_path, text.encode("cp932"), "-c", "氏名", "--output-encoding",
                      "UTF-8-SIG", "-q")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out.csv").read_bytes() == (
        "\ufeff被保険者番号,氏名,氏名_normalized,氏名_changes\r\n"
        "1,﨑山,崎山,﨑→崎 koseki-parent\r\n2,山田,山田,\r\n").encode()


def test_output_encoding_from_utf16_to_utf8(tmp_path):
    done = _normalize(tmp_path, "\ufeffid\tname\r\n1\t髙橋\r\n".encode("utf-16-le"), "-c",
                      "name", "--output-encoding", "utf-8", "-q")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out.csv").read_bytes() == \
        "id\tname\tname_normalized\tname_changes\r\n1\t髙橋\t高橋\t髙→高 jis-unification\r\n" \
        .encode()


def test_output_encoding_auto_is_refused(tmp_path):
    done = _normalize(tmp_path, b"id,name\n", "--output-encoding", "auto")
    assert done.returncode == 2 and b"not auto" in done.stderr


def test_encoding_is_decided_by_a_window_of_whole_lines(monkeypatch):
    # --encoding auto looks at DETECT_WINDOW bytes of whole lines from the first non-ASCII
    # line: a window never ends inside a character, whatever the chunk (here 4 windows of
    # three-byte kanji), and what lies past it does not decide (a CP932 line there is read,
    # and refused, as the UTF-8 file it is in).
    monkeypatch.setattr(csvio, "DETECT_WINDOW", 64)
    utf8 = "山田 太郎,髙橋\n".encode() * 20
    assert csvio._decide(b"id\n" + utf8) == ("utf-8", None)
    assert csvio._decide(b"id\n" + utf8 + "髙橋\n".encode("cp932")) == ("utf-8", None)
    # the whole chunk decides the same where the CP932 line comes first
    assert csvio._decide("髙橋\n".encode("cp932") + utf8)[0] == "cp932"
    # a first line longer than the window is taken whole
    long_line = "山" * 100 + "\n"
    assert csvio._decide(long_line.encode()) == ("utf-8", None)
    assert csvio._decide(long_line.encode("cp932"))[0] == "cp932"


_DETECT_PIECES = st.sampled_from([
    b"id,name\n", b"1,yamada\n", b"x" * 40 + b"\n", "山田 太郎\n".encode(),
    "髙橋\n".encode("cp932"), "德永\n".encode("cp932"), "한국\n".encode(), b"\xff\n",
    ("山" * 30 + "\n").encode(), b"\r\n", b"\n"])


@settings(max_examples=400, deadline=None)
@given(st.integers(min_value=0, max_value=30), st.lists(_DETECT_PIECES, max_size=60),
       st.sampled_from([b"\n", b"\r"]), st.integers(min_value=161, max_value=400))
def test_encoding_decided_from_the_files_head_is_the_first_chunks(
        ascii_lines: int, pieces: list[bytes], sep: bytes, size: int) -> None:
    # detect_encoding decides from the first DETECT_FIRST bytes when the window is whole in
    # them; anywhere the first non-ASCII line lies (before, across, after the head's end), it
    # gives what the first chunks give, refusals included (windows of 40 bytes, a head of
    # 160, chunks of 161-400)
    data = b"1,ab\n" * ascii_lines + b"".join(pieces)  # the first non-ASCII line anywhere
    if sep == b"\r":
        data = data.translate(csvio.SWAP_EOL)

    def detect(first: int) -> object:
        with pytest.MonkeyPatch.context() as m:
            m.setattr(csvio, "DETECT_WINDOW", 40)
            m.setattr(csvio, "DETECT_FIRST", first)
            try:
                return csvio.detect_encoding(io.BytesIO(data), 0, size, sep)
            except csvio.InputError as exc:
                return str(exc)

    assert detect(160) == detect(10**9)


def test_a_member_files_encoding_is_decided_by_its_head(monkeypatch) -> None:
    # the first kanji on line 2: the head (4 MiB) holds the window; the rest of the first
    # chunk (16 MiB) is not read to decide
    data = b"id,name\n" + "1,髙橋\n".encode("cp932") * 2_000_000
    head = data[:csvio.DETECT_FIRST]
    assert csvio._decided_by_head(head, b"\n", "") == ("cp932", None)
    reads: list[int] = []

    class Counted(io.BytesIO):
        def read(self, n: int | None = -1) -> bytes:
            reads.append(-1 if n is None else n)
            return super().read(n)

    assert csvio.detect_encoding(Counted(data), 0, 16 * 1024 * 1024) == ("cp932", None)
    assert reads == [csvio.DETECT_FIRST]
    # the window not whole in the head (the first kanji past it): the chunks decide
    late = b"x" * csvio.DETECT_FIRST + b"\n" + "髙橋\n".encode() * 10
    assert csvio._decided_by_head(late[:csvio.DETECT_FIRST], b"\n", "") is None
    assert csvio.detect_encoding(io.BytesIO(late), 0, 16 * 1024 * 1024) == ("utf-8", None)


def test_read_ahead_gives_the_items_and_the_error_in_order() -> None:
    # the next item taken on another thread when asked: the same items in the same order,
    # and an error raised where its item would have come, not earlier
    from mojinorm.csvio import ReadAhead

    def items():  # type: ignore[no-untyped-def]
        yield 1
        yield 2
        raise ValueError("third")

    ahead = ReadAhead(items())
    got = []
    with pytest.raises(ValueError, match="third"):
        for item in ahead:
            got.append(item)
            ahead.prefetch()
            ahead.prefetch()  # asked twice: still one item ahead
    ahead.close()
    assert got == [1, 2]


@pytest.mark.parametrize("prefetch", [False, True])
def test_chunks_read_ahead_equal_chunks_read_in_turn(tmp_path: Path, prefetch: bool) -> None:
    # a CP932 file with CRLF read in small chunks on one thread, then with the next chunk's
    # bytes read on another thread (asked for after each chunk, or never): the same chunks,
    # lines and text
    from mojinorm import csvio

    path = tmp_path / "m.csv"
    path.write_bytes("".join(f"{i},髙橋 {i}\r\n" for i in range(5_000)).encode("cp932"))

    def chunks(threads: int) -> list[tuple[bytes, int, str]]:
        inp = csvio.open_input(str(path))
        try:
            stream = csvio.DecodedStream(inp, "auto", size=4096, threads=threads)
            out = []
            for chunk in stream:
                out.append((chunk.data, chunk.lines_before, chunk.text))
                if prefetch:
                    stream.prefetch()
            return out
        finally:
            inp.close()

    one = chunks(1)
    assert len(one) > 10 and chunks(2) == one


@settings(max_examples=60, deadline=None)
@given(lines=st.lists(st.integers(0, 300), max_size=60), size=st.integers(1, 700),
       peek=st.integers(1, 200), sep=st.sampled_from([b"\n", b"\r"]),
       terminated=st.booleans())
def test_chunks_cut_by_a_look_at_the_tail_are_whole_lines(
        tmp_path_factory: pytest.TempPathFactory, lines: list[int], size: int, peek: int,
        sep: bytes, terminated: bool) -> None:
    # Reading a regular file, the chunk reader looks at the tail of each read's span for its
    # last separator and reads just through it; without the file's descriptor it joins the
    # line left over from one read to the next.  The chunks may be cut elsewhere, but either
    # way they are the file's bytes in order, at their offsets, each but the last ending with
    # a separator, the last one final, none longer than a read and a line (lines longer than
    # the look, or than a read, included).
    from mojinorm import csvio

    data = sep.join(b"x" * n for n in lines) + (sep if terminated else b"")
    path = tmp_path_factory.mktemp("peek") / "f.csv"
    path.write_bytes(data)
    start = min(1, len(data))

    def chunks(fd: bool) -> list[tuple[int, bytes, bool]]:
        with open(path, "rb") as f:
            f.seek(start)
            return list(csvio.iter_byte_chunks(f, start, None, size, sep=sep,
                                               fd=f.fileno() if fd else None))

    orig = csvio.PEEK
    try:
        csvio.PEEK = peek
        for fd in (True, False):
            got = chunks(fd)
            assert b"".join(c for _, c, _ in got) == data[start:]
            assert [o for o, _, _ in got] == [start + sum(len(c) for _, c, _ in got[:k])
                                              for k in range(len(got))]
            assert all(c.endswith(sep) for _, c, final in got if not final)
            assert [final for _, _, final in got] == [False] * (len(got) - 1) + [True]
            longest = max(lines, default=0) + 1
            assert all(len(c) <= size + longest for _, c, _ in got)
            if fd and size > peek >= longest:  # every read looked at: no line left over
                assert all(len(c) <= size for _, c, _ in got)
    finally:
        csvio.PEEK = orig


def test_a_regular_file_is_read_in_whole_lines(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    # 10-byte lines read 995 bytes at a time: each read, its tail looked at, stops after its
    # span's last line end, so that every chunk is 99 whole lines read as they are (no line
    # carried over and joined to the next read)
    from mojinorm import csvio

    path = tmp_path / "f.csv"
    path.write_bytes(b"123456789\n" * 500)
    monkeypatch.setattr(csvio, "PEEK", 100)
    with open(path, "rb") as f:
        got = list(csvio.iter_byte_chunks(f, 0, None, 995, fd=f.fileno()))
    assert [len(c) for _, c, _ in got] == [990] * 5 + [50, 0]
