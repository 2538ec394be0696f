"""Reading small hand-written YAML tables with line numbers, for error messages that say where."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["TableError", "Entry", "load_entries"]

from .errors import TableError


@dataclass(frozen=True)
class Entry:
    data: dict[str, Any]
    line: int  #: 1-based line of the entry in the file
    where: str  #: "file:line"


def load_entries(path: str | Path, list_key: str, allowed: set[str]) -> list[Entry]:
    """Read ``{list_key: [ {key: value, ...}, ... ]}`` and check every key is allowed."""
    import yaml

    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TableError(f"{p}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TableError(f"{p}: cannot read: {exc}") from exc
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise TableError(f"{p}{line}: not valid YAML: {problem}") from exc
    if root is None:
        return []
    if not isinstance(root, yaml.MappingNode):
        raise TableError(f"{p}:1: expected a mapping with a '{list_key}' list")
    items_node = None
    for key_node, value_node in root.value:
        if key_node.value == list_key:
            items_node = value_node
        elif key_node.value not in ("description", "version"):
            raise TableError(
                f"{p}:{key_node.start_mark.line + 1}: unknown top-level key {key_node.value!r}"
                f" (expected '{list_key}', 'description', 'version')"
            )
    if items_node is None:
        return []
    if not isinstance(items_node, yaml.SequenceNode):
        raise TableError(f"{p}:{items_node.start_mark.line + 1}: '{list_key}' must be a list")
    loader_cls = yaml.SafeLoader
    out = []
    for node in items_node.value:
        line = node.start_mark.line + 1
        where = f"{p}:{line}"
        if not isinstance(node, yaml.MappingNode):
            raise TableError(f"{where}: each entry must be a mapping of keys to values")
        for key_node, _ in node.value:
            if key_node.value not in allowed:
                raise TableError(
                    f"{p}:{key_node.start_mark.line + 1}: unknown key {key_node.value!r} "
                    f"(allowed: {', '.join(sorted(allowed))})"
                )
        loader = loader_cls("")
        try:
            data = loader.construct_mapping(node, deep=True)
        finally:
            loader.dispose()
        out.append(Entry(data=data, line=line, where=where))
    return out
