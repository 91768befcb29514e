"""One calibration phase: a span of source time during which the collectors take samples.

A replay phase has a fixed start (``--start``); a live phase starts at the first sample that
arrives. The collectors ask :meth:`PhaseSpan.admits` before using a sample, and
:class:`PhaseEndSink` stops the pipeline once a window closes at the span's end.
"""

from __future__ import annotations

import threading
from typing import Optional, Sequence

from affectedge.core.types import Event, FusedWindow, ModalityEstimate, Sample


class PhaseSpan:
    """The span [start, start + length) on the sources' clock."""

    def __init__(self, length_s: float, start: Optional[float] = None):
        self.length_s = length_s
        self.start = start
        self.first_t: Optional[float] = None  # first admitted sample
        self.last_t: Optional[float] = None  # last admitted sample

    @property
    def end(self) -> Optional[float]:
        return None if self.start is None else self.start + self.length_s

    def admits(self, t: float) -> bool:
        if self.start is None:
            self.start = t
        if not (self.start <= t < self.start + self.length_s):
            return False
        if self.first_t is None:
            self.first_t = t
        self.last_t = t if self.last_t is None else max(self.last_t, t)
        return True

    def elapsed(self, t: float) -> float:
        return 0.0 if self.start is None else min(max(t - self.start, 0.0), self.length_s)


class PhaseEndSink:
    """Stops the pipeline when a window ends at or after the span's end; collects events."""

    def __init__(self, span: PhaseSpan, stop: threading.Event, progress=None):
        self.span = span
        self.stop = stop
        self.progress = progress
        self.events: list[Event] = []

    def write_window(self, window: FusedWindow, estimates: Sequence[ModalityEstimate]) -> None:
        if self.progress is not None:
            self.progress.update(self.span.elapsed(window.end))
        end = self.span.end
        if end is not None and window.end >= end:
            self.stop.set()

    def write_event(self, event: Event) -> None:
        if self.span.start is None or self.span.start <= event.t < (self.span.end or float("inf")) or event.kind == "battery":
            self.events.append(event)

    def close(self) -> None:
        pass


class SpanRecorder:
    """Wraps one of the service's analysers: feeds it the samples of the span and hands each of
    its estimates for a window inside the span to :meth:`keep` (a subclass decides what to keep).

    It is itself an analyser (the pipeline drives it) that estimates nothing: calibration
    measures, it does not fuse.
    """

    def __init__(self, analyser, span: PhaseSpan):
        self.analyser = analyser
        self.modality = analyser.modality
        self.span = span

    def accepts(self, sample: Sample) -> bool:
        return self.analyser.accepts(sample)

    def push(self, sample: Sample) -> None:
        if self.span.admits(sample.t):
            self.admitted(sample)
            self.analyser.push(sample)

    def estimate(self, start: float, end: float) -> None:
        est = self.analyser.estimate(start, end)
        span_end = self.span.end
        if est is not None and self.span.start is not None and start >= self.span.start - 1e-9 and end <= span_end + 1e-9:
            self.keep(est, start, end)
        return None

    def take_events(self) -> list[Event]:
        return self.analyser.take_events()

    def admitted(self, sample: Sample) -> None:
        """A sample of the span, before the analyser sees it."""

    def keep(self, estimate: ModalityEstimate, start: float, end: float) -> None:
        raise NotImplementedError
