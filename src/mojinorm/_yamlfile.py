"""One safe reader for the small hand-written YAML files mojinorm takes: gaiji tables, the
reviewed overrides and target profiles.

A table must say exactly what it means, so the reader accepts only plain data:

- mappings with scalar keys, sequences and scalars, nested at most :data:`MAX_DEPTH` deep;
- no YAML tags (``!!binary``, ``!!python/...``, ``!foo``, even ``!!str``), no anchors and no
  aliases (a name table never needs them, and they are how a tiny file expands to gigabytes);
- no key twice in one mapping (YAML libraries silently keep the last one);
- one document, at most :data:`MAX_BYTES` bytes and :data:`MAX_NODES` values.

Every scalar is kept as the text written in the file.  Nothing is converted: ``006200`` stays
``"006200"`` (YAML 1.1 would read the octal number 3200), ``yes`` stays ``"yes"``, ``~`` stays
``"~"``.  :attr:`Scalar.yaml_type` says when YAML 1.1 would have read an unquoted scalar as
something other than text, so a field holding a character can refuse it instead of guessing.

Any problem is one line ``file:line: message`` raised as :class:`~mojinorm.errors.TableError`
(or the error class the caller passes, e.g. ``TargetError`` for profiles).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any, TypeAlias

from .errors import MojinormError, TableError

if TYPE_CHECKING:
    from pathlib import Path  # loaded when a file is read

__all__ = [
    "TableError", "Entry", "load_entries", "read_yaml", "Scalar", "Sequence", "Mapping", "Node",
    "MAX_BYTES", "MAX_DEPTH", "MAX_NODES",
]

MAX_BYTES = 16 * 1024 * 1024  #: a larger file is refused before it is parsed
MAX_DEPTH = 8  #: nesting of mappings and sequences (a gaiji table needs 3)
MAX_NODES = 1_000_000  #: keys, values and collections together (bounds memory)

#: YAML 1.1 types an unquoted scalar can be read as, other than text, with a readable name.
_NOT_TEXT = {
    "tag:yaml.org,2002:int": "an integer",
    "tag:yaml.org,2002:float": "a number",
    "tag:yaml.org,2002:bool": "a boolean",
    "tag:yaml.org,2002:null": "null",
    "tag:yaml.org,2002:timestamp": "a date",
}


@dataclass(frozen=True, slots=True)
class Scalar:
    """A scalar exactly as written: quoted scalars with their escapes decoded, nothing else."""

    text: str
    line: int  #: 1-based
    #: for an unquoted scalar that YAML 1.1 reads as something other than text, what it reads
    #: it as ("an integer", "a boolean", "null" …); ``None`` for text and any quoted scalar
    yaml_type: str | None = None


@dataclass(frozen=True, slots=True)
class Sequence:
    items: list[Node]
    line: int


@dataclass(frozen=True, slots=True)
class Mapping:
    #: key text -> (key scalar, value), in file order; keys are unique
    items: dict[str, tuple[Scalar, Node]]
    line: int


Node: TypeAlias = "Scalar | Sequence | Mapping"


def describe(node: Node) -> str:
    """``'a list'``, ``'a mapping'`` or ``'a single value'``, for messages."""
    if isinstance(node, Sequence):
        return "a list"
    if isinstance(node, Mapping):
        return "a mapping"
    return "a single value"


@cache
def _parser_class() -> Any:
    """libyaml's parser when PyYAML has it (fast on a large file), else the pure-Python one.

    Only events are taken from the parser: both give the same events and marks.
    """
    import yaml

    return getattr(yaml, "CSafeLoader", None) or yaml.SafeLoader


@cache
def _resolver() -> Any:
    import yaml

    return yaml.resolver.Resolver()


def _yaml_type(text: str) -> str | None:
    import yaml

    tag = _resolver().resolve(yaml.ScalarNode, text, (True, False))
    return _NOT_TEXT.get(tag)


def _read_text(p: Path, error: type[MojinormError]) -> str:
    try:
        with p.open("rb") as f:
            data = f.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise error(f"{p}: no such file") from None
    except IsADirectoryError:
        raise error(f"{p}: cannot read: it is a directory") from None
    except OSError as exc:
        raise error(f"{p}: cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_BYTES:
        raise error(f"{p}: larger than {MAX_BYTES // (1024 * 1024)} MiB; refused as a table")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise error(
            f"{p}:{line}: not UTF-8 (byte 0x{data[exc.start]:02X} at offset {exc.start})"
        ) from None


@dataclass(slots=True)
class _Open:
    """A collection being filled, with the key whose value comes next (mappings)."""

    node: Sequence | Mapping
    key: Scalar | None = None


def read_yaml(path: str | Path, error: type[MojinormError] = TableError) -> Node | None:
    """Read one YAML document of plain data; ``None`` for a file without a document."""
    from pathlib import Path

    import yaml

    p = Path(path)
    text = _read_text(p, error)

    def fail(line: int, message: str) -> MojinormError:
        return error(f"{p}:{line}: {message}")

    root: Node | None = None
    stack: list[_Open] = []
    documents = 0
    nodes = 0
    parser = None
    try:
        parser = _parser_class()(text)
        while True:
            event = parser.get_event()
            line = event.start_mark.line + 1
            if isinstance(event, yaml.StreamEndEvent):
                break
            if isinstance(event, yaml.DocumentStartEvent):
                documents += 1
                if documents > 1:
                    raise fail(line, "more than one YAML document ('---'); give one")
                continue
            if isinstance(event, (yaml.StreamStartEvent, yaml.DocumentEndEvent)):
                continue
            if isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
                stack.pop()
                continue
            if isinstance(event, yaml.AliasEvent):
                raise fail(line, f"alias *{event.anchor} is not allowed (no anchors or "
                                 "aliases in a table); write the value out")
            if event.anchor is not None:
                raise fail(line, f"anchor &{event.anchor} is not allowed (no anchors or "
                                 "aliases in a table); write the values out")
            if event.tag is not None:
                tag = event.tag.replace("tag:yaml.org,2002:", "!!", 1)
                raise fail(line, f"YAML tag {tag} is not allowed; write plain values")
            nodes += 1
            if nodes > MAX_NODES:
                raise fail(line, f"more than {MAX_NODES:,} values; refused as a table")
            node: Node
            if isinstance(event, yaml.ScalarEvent):
                plain = event.implicit[0]
                node = Scalar(event.value, line, _yaml_type(event.value) if plain else None)
            elif isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
                if len(stack) >= MAX_DEPTH:
                    raise fail(line, f"nested deeper than {MAX_DEPTH} levels")
                if isinstance(event, yaml.SequenceStartEvent):
                    node = Sequence([], line)
                else:
                    node = Mapping({}, line)
            else:  # pragma: no cover - the parser emits no other event
                raise fail(line, f"unexpected YAML event {type(event).__name__}")
            if not stack:
                root = node
            else:
                parent = stack[-1]
                if isinstance(parent.node, Sequence):
                    parent.node.items.append(node)
                elif parent.key is None:
                    if not isinstance(node, Scalar):
                        raise fail(line, f"complex key ({describe(node)}) is not allowed; "
                                         "a key is a single value")
                    first = parent.node.items.get(node.text)
                    if first is not None:
                        raise fail(line, f"duplicate key {node.text!r} "
                                         f"(first at line {first[0].line})")
                    parent.key = node
                else:
                    parent.node.items[parent.key.text] = (parent.key, node)
                    parent.key = None
            if not isinstance(node, Scalar):
                stack.append(_Open(node))
    except yaml.YAMLError as exc:
        raise _syntax_error(exc, p, text, error) from None
    finally:
        if parser is not None:
            parser.dispose()
    return root


def _syntax_error(exc: Exception, p: Path, text: str, error: type[MojinormError]
                  ) -> MojinormError:
    import yaml

    if isinstance(exc, yaml.reader.ReaderError):
        # the first character the reader refuses is that character's first occurrence (its
        # ``position`` counts characters in one parser and bytes in the other)
        found = text.find(chr(exc.character))
        line = text.count("\n", 0, found) + 1 if found >= 0 else 1
        problem = f"character U+{exc.character:04X} is not allowed in YAML"
        return error(f"{p}:{line}: not valid YAML: {problem}")
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    where = f"{p}:{mark.line + 1}" if mark is not None else f"{p}"
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    if context:
        problem = f"{problem} ({context})"
    return error(f"{where}: not valid YAML: {' '.join(str(problem).split())}")


@dataclass(frozen=True)
class Entry:
    data: dict[str, str]  #: key -> the value's text as written
    line: int  #: 1-based line of the entry in the file
    where: str  #: "file:line"
    fields: dict[str, Scalar] = field(default_factory=dict)  #: key -> value with its line

    def at(self, key: str) -> str:
        """``"file:line"`` of the value of ``key`` (of the entry when it has no such key)."""
        scalar = self.fields.get(key)
        if scalar is None:
            return self.where
        return f"{self.where.rsplit(':', 1)[0]}:{scalar.line}"


def load_entries(path: str | Path, list_key: str, allowed: set[str]) -> list[Entry]:
    """Read ``{list_key: [ {key: value, ...}, ... ]}`` and check every key is allowed.

    Values are single scalars, kept as written (see :func:`read_yaml`).  The top level may also
    hold ``description`` and ``version``.
    """
    from pathlib import Path

    p = Path(path)
    root = read_yaml(p, TableError)
    if root is None:
        return []
    if not isinstance(root, Mapping):
        raise TableError(f"{p}:{root.line}: expected a mapping with a '{list_key}' list")
    items_node: Node | None = None
    for key, (key_node, value_node) in root.items.items():
        if key == list_key:
            items_node = value_node
        elif key not in ("description", "version"):
            raise TableError(
                f"{p}:{key_node.line}: unknown top-level key {key!r}"
                f" (expected '{list_key}', 'description', 'version')"
            )
    if items_node is None:
        return []
    if not isinstance(items_node, Sequence):
        raise TableError(f"{p}:{items_node.line}: '{list_key}' must be a list")
    out = []
    for node in items_node.items:
        where = f"{p}:{node.line}"
        if not isinstance(node, Mapping):
            raise TableError(f"{where}: each entry must be a mapping of keys to values")
        fields: dict[str, Scalar] = {}
        for key, (key_node, value) in node.items.items():
            if key not in allowed:
                raise TableError(
                    f"{p}:{key_node.line}: unknown key {key!r} "
                    f"(allowed: {', '.join(sorted(allowed))})"
                )
            if not isinstance(value, Scalar):
                raise TableError(f"{p}:{value.line}: {key!r} must be a single value, "
                                 f"not {describe(value)}")
            fields[key] = value
        data = {k: v.text for k, v in fields.items()}
        out.append(Entry(data=data, line=node.line, where=where, fields=fields))
    return out
