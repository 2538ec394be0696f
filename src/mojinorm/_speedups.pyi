# The compiled reader and writer of plain batches (src/mojinorm/_speedups.c); optional.

def plain_hits(data: bytes, delimiter: int, ncols: int, selected: tuple[int, ...],
               safe: bytes, max_line: int, trailing: bool, threads: int, /
               ) -> tuple[int, bool, bool, bool, list[int], tuple[list[str], ...]] | None: ...

def append_fields(data: bytes, delimiter: int, ncols: int, columns: tuple[int, ...], tail: bool,
                  rows: list[int], new: tuple[tuple[list[str], list[str]], ...], /) -> bytes: ...
