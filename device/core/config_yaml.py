"""YAML loading that remembers where each key was, so config errors can name the line."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from .errors import ConfigError

M = TypeVar("M", bound=BaseModel)


class LocatedYaml:
    """A parsed YAML document plus the line of every key path in it."""

    def __init__(self, path: Path, data: Any, lines: dict[tuple, int]):
        self.path = path
        self.data = data
        self._lines = lines

    def depth_of(self, key_path: tuple) -> int:
        """How many leading keys of ``key_path`` this document has (0: none)."""
        for n in range(len(key_path), -1, -1):
            if tuple(key_path[:n]) in self._lines:
                return n
        return 0

    def line_of(self, key_path: tuple) -> int:
        """The 1-based line of the deepest existing prefix of ``key_path`` (1 if none)."""
        return self._lines.get(tuple(key_path[: self.depth_of(key_path)]), 1)

    def where(self, key_path: tuple) -> str:
        """``FILE:LINE`` of ``key_path`` (of its deepest existing prefix) for error messages."""
        return f"{self.path}:{self.line_of(key_path)}"


def _walk(node: yaml.Node, prefix: tuple, lines: dict[tuple, int]) -> None:
    lines.setdefault(prefix, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            lines[prefix + (key,)] = key_node.start_mark.line + 1
            _walk(value_node, prefix + (key,), lines)
            # pydantic reports a wrong value at the key's path; the value's own line is more precise
            # only for multi-line values, so keep the key's line.
            lines[prefix + (key,)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, prefix + (i,), lines)


def load_located_yaml(path: Path) -> LocatedYaml:
    """Parse ``path``; a syntax error becomes a ValueError whose text is ``FILE:LINE: message``."""
    text = path.read_text(encoding="utf-8")
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise ValueError(f"{path}:{line}: YAML syntax: {exc.problem or exc}") from None
    lines: dict[tuple, int] = {}
    if node is not None:
        _walk(node, (), lines)
    return LocatedYaml(path, data if data is not None else {}, lines)


def format_key_path(loc: tuple) -> str:
    """``('sources', 'physiology', 0, 'path')`` -> ``sources.physiology[0].path``."""
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts) or "(top level)"


def read_mapping(path: Path | str, what: str) -> LocatedYaml:
    """Read a YAML file whose top level is a mapping; any problem is a ConfigError naming file and line."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError([f"{path}:1: (file): no such {what}"])
    try:
        doc = load_located_yaml(path)
    except ValueError as exc:
        raise ConfigError([str(exc)]) from None
    if not isinstance(doc.data, dict):
        raise ConfigError([f"{path}:1: (top level): expected a mapping, got {type(doc.data).__name__}"])
    return doc


def validate_located(doc, model: type[M], context: dict | None = None,
                     yaml_loc: Callable[[tuple, Any], tuple] = lambda loc, data: loc) -> M:
    """Validate ``doc.data`` into ``model``; every problem becomes a ``FILE:LINE: key.path: message`` line.

    ``doc`` is anything with ``data`` and ``where(key_path) -> "FILE:LINE"`` (a LocatedYaml, or
    several layered files); ``yaml_loc`` maps pydantic's error location to the key path in the
    YAML (e.g. dropping union tags).
    """
    try:
        return model.model_validate(doc.data, context=context)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = yaml_loc(tuple(err["loc"]), doc.data)
            msg = "unknown key (not allowed here)" if err["type"] == "extra_forbidden" else err["msg"]
            problems.append(f"{doc.where(loc)}: {format_key_path(loc)}: {msg.removeprefix('Value error, ')}")
        raise ConfigError(problems) from None


def load_model_file(path: Path | str, model: type[M], what: str, context: dict | None = None,
                    yaml_loc: Callable[[tuple, Any], tuple] = lambda loc, data: loc) -> M:
    """Read a YAML file into ``model``; ``what`` names the kind of file in the "no such file" message."""
    return validate_located(read_mapping(path, what), model, context, yaml_loc)
