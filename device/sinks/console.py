"""A concise live line on stdout, about once per second of session time."""

from __future__ import annotations

import sys
from typing import Sequence, TextIO

from ..types import MODALITIES, Event, FusedWindow, ModalityEstimate

_SHORT = {"face": "face", "voice": "voice", "physiology": "phys"}
# Why a window with data has no zone, in words.
_WITHHELD = {"no_arousal": "no zone (no arousal estimate)", "low_confidence": "no zone (confidence too low)"}


def format_window(w: FusedWindow) -> str:
    """``t=  12.4s green  v=+0.12 a=-0.05 conf=0.41 happy 0.52 | face - voice - phys 0.82``."""
    if w.status == "no_data":
        head = f"t={w.end:7.1f}s {'no data':<7}"
    else:
        v = "   -  " if w.valence is None else f"{w.valence:+.2f}"
        a = "   -  " if w.arousal is None else f"{w.arousal:+.2f}"
        top = w.top_label()
        label = f" {top[0]} {top[1]:.2f}" if top else ""
        zone = w.zone or _WITHHELD.get(w.zone_withheld, "no zone")
        head = f"t={w.end:7.1f}s {zone:<7} v={v} a={a} conf={w.confidence:.2f}{label}"
    mods = " ".join(
        f"{_SHORT[m]} {w.modalities[m].quality:.2f}" if m in w.modalities else f"{_SHORT[m]} -" for m in MODALITIES
    )
    return f"{head} | {mods}"


class ConsoleSink:
    def __init__(self, every_s: float = 1.0, stream: TextIO | None = None):
        self.every_s = every_s
        self.stream = stream or sys.stdout
        self._next = None

    def write_window(self, window: FusedWindow, estimates: Sequence[ModalityEstimate]) -> None:
        if self._next is None or window.end >= self._next:
            self.stream.write(format_window(window) + "\n")
            self.stream.flush()
            self._next = window.end + self.every_s

    def write_event(self, event: Event) -> None:
        if event.kind not in ("source_up", "source_down"):
            return
        self.stream.write(f"t={event.t:7.1f}s event {event.kind} {event.source}\n")

    def close(self) -> None:
        self.stream.flush()
