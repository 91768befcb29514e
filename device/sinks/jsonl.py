"""One canonical JSON line per fused window."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ..core.records import dumps, window_record
from ..core.types import Event, FusedWindow, ModalityEstimate


class JsonlSink:
    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._f = self.path.open("w", encoding="utf-8")

    def write_window(self, window: FusedWindow, estimates: Sequence[ModalityEstimate]) -> None:
        self._f.write(dumps(window_record(window)) + "\n")
        self._f.flush()  # a reader tailing the file sees whole lines only

    def write_event(self, event: Event) -> None:
        pass  # events live in the session log

    def close(self) -> None:
        self._f.close()
