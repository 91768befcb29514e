"""YAML loading that remembers where each key was, so config errors can name the line."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from .errors import ConfigError
from .text import NotTextError, decode_utf8

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


# Limits on what a config-sized YAML file may be. Generous for any real config (the largest shipped
# file is a few hundred values), and they bound the time and memory of reading a hostile one: an
# alias bomb composes into a small graph but expands exponentially when walked.
MAX_BYTES = 1 << 20
MAX_DEPTH = 64
MAX_VALUES = 20_000


class _Walk:
    """One pass over the composed node graph: each key's line, duplicate keys, depth and expansion."""

    def __init__(self, path: Path):
        self.path = path
        self.lines: dict[tuple, int] = {}
        self.values = 0

    def fail(self, node: yaml.Node, message: str) -> None:
        raise ValueError(f"{self.path}:{node.start_mark.line + 1}: {message}")

    def walk(self, node: yaml.Node, prefix: tuple, depth: int = 0) -> None:
        self.values += 1
        if self.values > MAX_VALUES:
            self.fail(node, f"more than {MAX_VALUES} values once aliases are expanded (an alias bomb?); "
                            "a config needs far fewer")
        if depth > MAX_DEPTH:
            self.fail(node, f"nested more than {MAX_DEPTH} levels deep")
        self.lines.setdefault(prefix, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            seen: dict = {}
            for key_node, value_node in node.value:
                key = key_node.value
                if not isinstance(key_node, yaml.ScalarNode):
                    self.fail(key_node, "a key must be a plain value, not a list or mapping")
                if key == "<<":  # a merge key: its keys are checked where they are written
                    self.walk(value_node, prefix, depth + 1)
                    continue
                if key in seen:
                    self.fail(key_node, f"duplicate key {key!r} (first at line {seen[key]}); "
                                        "the second would silently win: keep one")
                seen[key] = key_node.start_mark.line + 1
                self.walk(value_node, prefix + (key,), depth + 1)
                # pydantic reports a wrong value at the key's path: name the key's line.
                self.lines[prefix + (key,)] = key_node.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self.walk(item, prefix + (i,), depth + 1)


def load_located_yaml(path: Path) -> LocatedYaml:
    """Parse ``path``; any problem becomes a ValueError whose text is ``FILE:LINE: message``: a syntax
    error, a file that is not UTF-8 text, larger than MAX_BYTES, nested deeper than MAX_DEPTH, a
    duplicate key, or aliases that expand past MAX_VALUES."""
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise ValueError(f"{path}:1: {size} bytes; a config file is at most {MAX_BYTES} bytes")
        text = decode_utf8(path, path.read_bytes())
    except NotTextError as exc:
        raise ValueError(f"{exc} (a config is a UTF-8 YAML file)") from None
    except OSError as exc:
        raise ValueError(f"{path}:1: cannot read: {exc.strerror or exc}") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        walk = _Walk(path)
        if node is not None:
            walk.walk(node, ())
        # Constructed from the checked graph, so the limits above bound this too.
        data = yaml.SafeLoader("").construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise ValueError(f"{path}:{line}: YAML syntax: {exc.problem or exc}") from None
    except yaml.reader.ReaderError as exc:  # a control character: its position is in characters
        line = text[: exc.position].count("\n") + 1
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        raise ValueError(f"{path}:{line}: control character U+{code:04X} is not allowed in a YAML file") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}:1: YAML: {' '.join(str(exc).split())}") from None
    except RecursionError:
        raise ValueError(f"{path}:1: nested too deeply to read (more than {MAX_DEPTH} levels is refused)") from None
    return LocatedYaml(path, data if data is not None else {}, walk.lines if node is not None else {})


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
