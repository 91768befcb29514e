"""The analyser protocol: one per modality, fed samples, asked for one estimate per window."""

from __future__ import annotations

from typing import Optional, Protocol

from ..core.types import Event, ModalityEstimate, Sample


class Analyser(Protocol):
    modality: str

    def accepts(self, sample: Sample) -> bool:
        """Whether this analyser consumes ``sample`` (by type and source)."""
        ...

    def push(self, sample: Sample) -> None:
        """Take one sample (in timestamp order). Expensive work (inference) may happen here."""
        ...

    def estimate(self, start: float, end: float) -> Optional[ModalityEstimate]:
        """The estimate for window [start, end), or None when the modality has nothing to say.

        Called once per window, in order; the analyser may forget data older than it needs.
        """
        ...

    def take_events(self) -> list[Event]:
        """Events noticed since the last call (artefacts rejected, model warnings)."""
        ...
