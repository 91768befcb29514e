"""The sink protocol: where fused windows, their estimates and events go."""

from __future__ import annotations

from typing import Protocol, Sequence

from ..core.types import Event, FusedWindow, ModalityEstimate


class Sink(Protocol):
    def write_window(self, window: FusedWindow, estimates: Sequence[ModalityEstimate]) -> None: ...

    def write_event(self, event: Event) -> None: ...

    def close(self) -> None: ...
