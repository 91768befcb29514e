"""The source protocol and the backend registry.

A source is opened, yields samples (and events, such as a lost connection) in timestamp order
until it ends or is closed, and is closed. Live backends import their heavy module inside
``open()`` (through ``affectedge.core.extras.require_module``) so that the core imports without it;
a missing module raises BackendUnavailableError naming the extra to install.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator, Protocol

from pydantic import BaseModel

from ..core.types import Event, Sample


# Where a replayed file may start on the session clock: a week at most, and finite. An offset of
# 1e9 s (a Unix time typed as an offset) would otherwise be a billion seconds of empty windows.
MAX_START_S = 7 * 86400.0


class Source(Protocol):
    name: str

    def open(self) -> None: ...

    def samples(self) -> Iterator[Sample | Event]: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class SourceBackend:
    """One registered implementation: its config key, the family it serves, and its factory."""

    key: str
    family: str  # "camera" | "microphone" | "physiology"
    config_type: type[BaseModel]
    factory: Callable[..., Source]


