"""Frame-rate limiting for live cameras: frames beyond ``max_fps`` are dropped at the source.

Dropping at the source (before decode where the backend allows it) is what keeps a camera that
delivers 30 fps from costing 30 inferences a second on a board that needs fewer, and nothing is
queued on the way. Drops are counted and reported as a ``frames_skipped`` event at most every
``report_every_s`` seconds.
"""

from __future__ import annotations

from typing import Optional

from ..core.types import Event


class FrameRateLimiter:
    def __init__(self, max_fps: Optional[float], source: str, report_every_s: float = 5.0):
        # 10% slack: a 30 fps camera limited to 10 fps keeps every third frame despite jitter.
        self._min_gap = 0.9 / max_fps if max_fps else 0.0
        self._source = source
        self._report_every = report_every_s
        self._last_kept: Optional[float] = None
        self._last_report: Optional[float] = None
        self._pending = 0
        self.kept = 0
        self.skipped = 0

    def admit(self, t: float) -> bool:
        """Whether the frame captured at ``t`` is kept (otherwise it is counted as skipped)."""
        if self._last_kept is not None and t - self._last_kept < self._min_gap:
            self.skipped += 1
            self._pending += 1
            return False
        self._last_kept = t
        self.kept += 1
        return True

    def report(self, t: float, final: bool = False) -> Optional[Event]:
        """A ``frames_skipped`` event when drops are pending and the report interval has passed."""
        if self._last_report is None:
            self._last_report = t
        if self._pending and (final or t - self._last_report >= self._report_every):
            event = Event(t, "frames_skipped", self._source, {"count": self._pending, "reason": "max_fps"})
            self._pending = 0
            self._last_report = t
            return event
        return None
