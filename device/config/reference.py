"""Generate the config reference (docs/config-reference.md) from the models' field descriptions."""

from __future__ import annotations

import types
import typing
from typing import Any, get_args, get_origin

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from .app import AppConfig


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The BaseModel classes inside an annotation (Optional, list, Union, Annotated unwrapped)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    out: list[type[BaseModel]] = []
    for arg in get_args(annotation):
        out.extend(_models_in(arg))
    return out


def _type_name(annotation: Any) -> str:
    origin = get_origin(annotation)
    if origin is typing.Annotated:
        return _type_name(get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in get_args(annotation))
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in get_args(annotation))
    if origin in (list, dict):
        return f"{origin.__name__}[{', '.join(_type_name(a) for a in get_args(annotation))}]"
    if annotation is type(None):
        return "null"
    return getattr(annotation, "__name__", str(annotation))


def _default(field) -> str:
    if field.default is not PydanticUndefined:
        return f"`{field.default!r}`" if not isinstance(field.default, BaseModel) else "(section)"
    if field.default_factory is not None:
        value = field.default_factory()
        return "(section)" if isinstance(value, BaseModel) else f"`{value!r}`"
    return "**required**"


def _backend(model: type[BaseModel]) -> str | None:
    """The key of a registered backend's config (a single-value Literal), else None."""
    field = model.model_fields.get("backend")
    args = () if field is None or get_origin(field.annotation) is not typing.Literal else get_args(field.annotation)
    return args[0] if len(args) == 1 else None


def _section(model: type[BaseModel], path: str, lines: list[str], seen: set, backend: str | None = None) -> None:
    title = f"`{path}`" + (f", backend `{backend}`" if backend else "") + f" ({model.__name__})" if path else "Top level"
    lines.append(f"\n## {title}")
    if model.__doc__ and model.__doc__.strip() and not model.__doc__.startswith(model.__name__ + "("):
        lines.append(f"\n{model.__doc__.strip().splitlines()[0]}")
    lines.append("\n| key | type | default | description |\n|---|---|---|---|")
    nested: list[tuple[str, type[BaseModel]]] = []
    for name, field in model.model_fields.items():
        desc = (field.description or "").replace("|", "\\|")
        lines.append(f"| `{name}` | {_type_name(field.annotation).replace('|', chr(92) + '|')} | {_default(field)} | {desc} |")
        for sub in _models_in(field.annotation):
            nested.append((f"{path}.{name}" if path else name, sub))
    for sub_path, sub in nested:
        key = (sub_path, sub)
        if key not in seen:
            seen.add(key)
            _section(sub, sub_path, lines, seen, _backend(sub) or backend)


def config_reference() -> str:
    lines = [
        "# Configuration reference",
        "",
        "Generated from the config models' field descriptions by `affectedge config-reference`; do not edit by hand.",
        "Unknown keys are errors. Relative paths are relative to the config file's folder.",
    ]
    _section(AppConfig, "", lines, set())
    return "\n".join(lines) + "\n"
