"""A progress display that works on a terminal, over SSH and in a log file.

With `rich` installed and a terminal, a rich progress bar; on a plain terminal, a bar redrawn in
place with a carriage return; without a terminal (a pipe, a log, systemd), one line per 10 %.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from typing import TextIO

BAR_WIDTH = 30


class ProgressDisplay:
    def __init__(self, label: str, total_s: float, stream: TextIO | None = None):
        self.label = label
        self.total = max(total_s, 1e-9)
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty()
        self._last_decile = -1
        self._last_draw = 0.0
        self._rich = None
        if self.tty and importlib.util.find_spec("rich") is not None:
            from rich.progress import Progress

            self._rich = Progress(transient=False)
            self._rich.start()
            self._task = self._rich.add_task(label, total=self.total)

    def update(self, done_s: float) -> None:
        done = min(max(done_s, 0.0), self.total)
        if self._rich is not None:
            self._rich.update(self._task, completed=done)
            return
        frac = done / self.total
        if self.tty:
            now = time.monotonic()
            if now - self._last_draw < 0.1 and done < self.total:
                return
            self._last_draw = now
            filled = int(round(frac * BAR_WIDTH))
            self.stream.write(f"\r{self.label} [{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {done:5.0f}/{self.total:.0f} s")
            self.stream.flush()
            return
        decile = int(frac * 10 + 1e-9)
        if decile > self._last_decile:
            self._last_decile = decile
            self.stream.write(f"{self.label}: {decile * 10:3d} % ({done:.0f} of {self.total:.0f} s)\n")
            self.stream.flush()

    def close(self, done_s: float) -> None:
        """End the display, saying how much was actually recorded (a replay may end early)."""
        if self._rich is not None:
            self._rich.update(self._task, completed=min(done_s, self.total))
            self._rich.stop()
            return
        if self.tty:
            self.stream.write("\n")
        self.stream.write(f"{self.label}: done, {done_s:.1f} of {self.total:.0f} s recorded\n")
        self.stream.flush()
