"""A concise live line on stdout, about once per second of session time, and one line per change
of a source's state (down and why, back, ended) in words a person can act on."""

from __future__ import annotations

import sys
import time
from typing import Callable, Optional, Sequence, TextIO

from ..core.source_status import SourceStatus
from ..core.types import MODALITIES, Event, FusedWindow, ModalityEstimate
from ..perception.vocal_events import ENDED_KINDS, HEARD_KINDS

_SHORT = {"face": "face", "voice": "voice", "physiology": "phys"}
# Why a window with data has no zone, in words.
_WITHHELD = {"no_arousal": "no zone (no arousal estimate)", "low_confidence": "no zone (confidence too low)"}


def format_window(w: FusedWindow, origin: float = 0.0) -> str:
    """``t=  12.4s green  v=+0.12 a=-0.05 conf=0.41 happy 0.52 | face - voice - phys 0.82``;
    ``t`` counts from ``origin`` (the run's first window), not from the source clock's zero."""
    t = w.end - origin
    if w.status == "no_data":
        head = f"t={t:7.1f}s {'no data':<7}"
    else:
        v = "   -  " if w.valence is None else f"{w.valence:+.2f}"
        a = "   -  " if w.arousal is None else f"{w.arousal:+.2f}"
        top = w.top_label()
        label = f" {top[0]} {top[1]:.2f}" if top else ""
        zone = w.zone or _WITHHELD.get(w.zone_withheld, "no zone")
        head = f"t={t:7.1f}s {zone:<7} v={v} a={a} conf={w.confidence:.2f}{label}"
    mods = " ".join(
        f"{_SHORT[m]} {w.modalities[m].quality:.2f}" if m in w.modalities else f"{_SHORT[m]} -" for m in MODALITIES
    )
    heard = "".join(f" | heard {name} {score:.2f}" for name, score in w.vocal_events.items())
    return f"{head} | {mods}{heard}"


def _heard_line(event: Event) -> Optional[str]:
    """A vocal event starting or ending, in words: ``distress heard, score 0.98``."""
    d = event.detail
    if event.kind in HEARD_KINDS:
        return f"{d.get('event')} heard, score {float(d.get('confidence', 0.0)):.2f}"
    if event.kind == "caregiver_label":
        return f"caregiver label: {d.get('label')} for the last {float(d.get('end', 0)) - float(d.get('start', 0)):.0f} s (stored)"
    if event.kind == "label_refused":
        return f"caregiver label refused: {d.get('reason')}"
    if event.kind in ENDED_KINDS:
        return f"{d.get('event')} over after {float(d.get('duration_s', 0.0)):.1f} s (peak score {float(d.get('confidence', 0.0)):.2f})"
    return None


class ConsoleSink:
    """``wall_clock``: prefix each line with the local time (live runs, where the source clock is
    the machine's monotonic clock and means nothing to a reader)."""

    def __init__(self, every_s: float = 1.0, stream: TextIO | None = None, wall_clock: Optional[Callable[[], float]] = None):
        self.every_s = every_s
        self.stream = stream or sys.stdout
        self.wall_clock = wall_clock
        self._next = None
        self._origin: Optional[float] = None
        self._status = SourceStatus()

    def _write(self, line: str) -> None:
        prefix = time.strftime("%H:%M:%S ", time.localtime(self.wall_clock())) if self.wall_clock else ""
        self.stream.write(prefix + line + "\n")
        self.stream.flush()

    def write_window(self, window: FusedWindow, estimates: Sequence[ModalityEstimate]) -> None:
        if self._origin is None:
            self._origin = window.start
        if self._next is None or window.end >= self._next:
            self._write(format_window(window, self._origin))
            self._next = window.end + self.every_s

    def write_event(self, event: Event) -> None:
        line = _heard_line(event) or self._status.line(event)
        if line is not None:
            since = "" if self._origin is None else f"t={event.t - self._origin:7.1f}s "
            self._write(f"{since}{line}")

    def close(self) -> None:
        self.stream.flush()
