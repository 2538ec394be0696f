"""mojinorm's exceptions: one family, so a caller (and the CLI) can tell a problem with the input,
a table, a target or an option from a bug.

``MojinormError`` is the base.  Each subclass also derives from the built-in exception a caller
would have caught before the family existed (``ValueError``, ``RuntimeError``), so existing
``except ValueError`` code keeps working.
"""

from __future__ import annotations

__all__ = [
    "MojinormError", "TableError", "TargetError", "OptionError", "UnmappableCharacter",
    "InputError", "OutputError", "DataIntegrityError",
]


class MojinormError(Exception):
    """Base of every error mojinorm raises on purpose; its message is one readable line."""


class TableError(MojinormError, ValueError):
    """A malformed user table (gaiji, overrides, profile); the message names file and line."""


class TargetError(MojinormError, ValueError):
    """An unknown target name or a malformed target profile."""


class OptionError(MojinormError, ValueError):
    """An option value mojinorm does not accept (unknown fallback, rule, ambiguity mode …)."""


class DataIntegrityError(MojinormError, RuntimeError):
    """A compiled table does not match the hash or schema recorded in MANIFEST.json."""


class UnmappableCharacter(MojinormError, ValueError):
    """Raised with ``fallback="error"`` for a unit no allowed rule can bring into the target."""

    def __init__(self, char: str, index: int, text: str, target: str, reason: str) -> None:
        self.char = char
        self.index = index
        self.text = text
        self.target = target
        self.reason = reason
        cps = " ".join(f"U+{ord(c):04X}" for c in char)
        super().__init__(
            f"{char!r} ({cps}) at index {index} of {text!r} cannot be brought into "
            f"target {target!r}: {reason}"
        )

    def __reduce__(self) -> tuple[object, ...]:
        return (UnmappableCharacter, (self.char, self.index, self.text, self.target, self.reason))


class InputError(MojinormError, ValueError):
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

    def __reduce__(self) -> tuple[object, ...]:  # picklable across worker processes
        return (_rebuild, (type(self), self.message, self.name, self.line, self.offset))


class OutputError(InputError):
    """The output cannot be written (no such directory, disk full, ...): exit 2 as well."""


def _rebuild(cls: type[InputError], message: str, name: str, line: int | None,
             offset: int | None) -> InputError:
    return cls(message, name=name, line=line, offset=offset)
