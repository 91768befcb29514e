"""Session clocks: what a live run stamps samples with and closes windows on."""

from __future__ import annotations

import threading
import time


class ScaledClock:
    """Session seconds: 0 until ``start()``, then (monotonic - start) x ``speed``.

    The demo with a simulated BLE sensor shares one of these between the pipeline (windows, replay
    pacing), the BLE source (arrival stamps) and the simulator (when to send each packet), so a
    recording can play faster than real time while every stage agrees on the time."""

    def __init__(self, speed: float = 1.0):
        if not speed > 0:
            raise ValueError(f"speed must be > 0, got {speed}")
        self.speed = speed
        self._t0: float | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        with self._lock:
            if self._t0 is None:
                self._t0 = time.monotonic()

    @property
    def started(self) -> bool:
        return self._t0 is not None

    def __call__(self) -> float:
        t0 = self._t0
        return 0.0 if t0 is None else (time.monotonic() - t0) * self.speed
