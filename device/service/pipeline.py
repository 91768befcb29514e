"""The one-way pipeline: sources -> perception -> fusion -> sinks.

Windows are closed on the source clock: window k covers [k*L, (k+1)*L) seconds of the sources'
monotonic time. Replay runs merge the sources by timestamp, so a replay is deterministic whatever
the pace; live runs read each source on its own thread and close a window once the clock has
passed its end by the allowed lateness. Live sources are given the pipeline's clock (attribute
``clock``) before they open, and a recording played beside them is paced to that clock.
"""

from __future__ import annotations

import heapq
import math
import queue
import sqlite3
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Optional, Sequence

from ..config.app import AppConfig
from ..core.errors import AffectEdgeError
from ..fusion.fuse import FusionState, fuse_window
from ..perception.base import Analyser
from ..sinks.base import Sink
from ..sources.base import Source
from .supervisor import StageHealth, SupervisedSource, _Finished
from ..core.types import Event, FusedWindow, ModalityEstimate, Sample


@dataclass
class RunStats:
    """What a run produced, for the closing table and for tests."""

    windows: int = 0
    no_data: int = 0
    zone_windows: Counter = field(default_factory=Counter)
    modality_windows: Counter = field(default_factory=Counter)
    events: Counter = field(default_factory=Counter)
    samples: Counter = field(default_factory=Counter)
    sink_failures: Counter = field(default_factory=Counter)
    analyser_failures: Counter = field(default_factory=Counter)
    first_t: Optional[float] = None
    last_t: Optional[float] = None

    @property
    def span_s(self) -> float:
        return 0.0 if self.first_t is None else self.last_t - self.first_t


class Pipeline:
    def __init__(self, config: AppConfig, sources: Sequence[Source], analysers: Sequence[Analyser],
                 sinks: Sequence[Sink], clock: Callable[[], float] = time.monotonic, personal_head=None):
        self.config = config
        self.personal_head = personal_head  # the profile's, from `affectedge personalise`; fusion applies it
        self.sources = list(sources)
        self.analysers = list(analysers)
        self.sinks = list(sinks)
        self.clock = clock
        self.stats = RunStats()
        self._length = config.window.length_s
        self._k: Optional[int] = None  # index of the open window
        self._state = FusionState()
        self._failed_sinks: dict[str, str] = {}
        self._failed_stages: dict[str, str] = {}
        self.last_progress = time.monotonic()
        self._failing_now: set[str] = set()
        for sink in self.sinks:
            # A sink that receives input for the log (live caregiver labels) hands it back as events.
            if hasattr(sink, "attach_events"):
                sink.attach_events(self._emit_event)

    # ------------------------------------------------------------------ running

    def run(self, stop: Optional[threading.Event] = None) -> RunStats:
        """Open the sources, run to their end (or until ``stop`` is set), close everything."""
        stop = stop or threading.Event()
        opened: list[Source] = []
        try:
            if any(getattr(s, "live", False) for s in self.sources):
                self._run_threaded(stop)  # the supervisor opens and closes each source
            else:
                for s in self.sources:
                    s.open()
                    opened.append(s)
                self._run_merged(stop, realtime=self.config.run.pace == "realtime")
        finally:
            for s in opened:
                s.close()
            for sink in self.sinks:
                self._guarded(sink, sink.close)
        return self.stats

    def _run_merged(self, stop: threading.Event, realtime: bool) -> None:
        streams = [_tagged(s.samples(), i) for i, s in enumerate(self.sources)]
        merged: Iterable = heapq.merge(*streams, key=lambda pair: (pair[0].t, pair[1]))
        t0 = c0 = None
        for item, _ in merged:
            if stop.is_set():
                break
            if not isinstance(item, Event) and self._k is not None and item.t - (self._k + 1) * self._length > self.config.run.max_gap_s:
                self._skip_gap(item)
                t0 = None  # a realtime replay resumes its pacing after the gap, it never sleeps through it
            if realtime:
                if t0 is None:
                    t0, c0 = item.t, self.clock()
                delay = (item.t - t0) - (self.clock() - c0)
                if delay > 0 and stop.wait(delay):
                    break
            self._ingest(item)
        self._finish()

    def _skip_gap(self, item: Sample) -> None:
        """A replay whose every input is silent for longer than ``run.max_gap_s``: close the open
        window, say so once, and resume at the next sample's window instead of filling the gap."""
        if self.stats.samples:
            self._close_window()
        start = self._k * self._length
        self._k = math.floor(item.t / self._length)
        self._emit_event(Event(item.t, "gap_skipped", getattr(item, "source", "?"),
                               {"from_s": round(start, 3), "to_s": round(self._k * self._length, 3),
                                "seconds": round(self._k * self._length - start, 3)}))

    def _run_threaded(self, stop: threading.Event) -> None:
        inbox: queue.Queue = queue.Queue(maxsize=1024)
        for s in self.sources:
            if getattr(s, "live", False):
                s.clock = self.clock  # live sources stamp arrivals on the clock windows close on
        self.supervised = [SupervisedSource(s, inbox, self.config.supervisor, stop, self.clock) for s in self.sources]
        for sup in self.supervised:
            sup.start()
        running = len(self.supervised)
        lateness = self.config.window.allowed_lateness_s
        # Live windows sit on the clock from the start, not from the first sample: with every device
        # missing (a camera unplugged at boot) the service still closes no_data windows, publishes
        # the stages as down and feeds the watchdog, instead of looking hung and being killed.
        self._k = math.floor((self.clock() - lateness) / self._length)
        self.stats.first_t = self._k * self._length
        while running and not stop.is_set():
            try:
                item = inbox.get(timeout=self._length / 2)
            except queue.Empty:
                item = None
            if isinstance(item, _Finished):
                running -= 1
                if item.error is not None:
                    stop.set()
                    raise item.error  # a missing package: no retry can fix it
            elif item is not None:
                # Windows close on the clock only: a sample from a fast source must not close a
                # window that a slower source's sample (stamped earlier) is still on its way to.
                self._ingest(item, close_on_sample=False)
            for sup in self.supervised:
                sup.check_stall()
            self._close_through(self.clock() - lateness)
        self._finish()

    def health(self) -> list[StageHealth]:
        """The supervised sources' health (empty for replay runs)."""
        return [sup.health for sup in getattr(self, "supervised", [])]

    # ------------------------------------------------------------------ windows

    def _ingest(self, item: Sample | Event, close_on_sample: bool = True) -> None:
        if isinstance(item, Event):
            self._emit_event(item)
            return
        t = item.t
        if self._k is None:
            self._k = math.floor(t / self._length)
            self.stats.first_t = self._k * self._length
        if close_on_sample:
            self._close_through(t)
        if t < self._k * self._length:
            # A sample for a window already closed: counted and dropped, never reordered into history.
            self._emit_event(Event(t, "late_sample", getattr(item, "source", "?"), {"lateness_s": round(self._k * self._length - t, 6)}))
            return
        self.stats.samples[type(item).__name__] += 1
        for a in self.analysers:
            if a.accepts(item):
                self._analyse(a, t, a.push, item)

    def _close_through(self, t: float) -> None:
        """Close every open window whose end is at or before ``t``."""
        while self._k is not None and (self._k + 1) * self._length <= t:
            self._close_window()

    def _close_window(self) -> None:
        k = self._k
        start, end = k * self._length, (k + 1) * self._length
        estimates: list[ModalityEstimate] = []
        for a in self.analysers:
            est = self._analyse(a, end, a.estimate, start, end)
            if est is not None:
                estimates.append(est)
            for ev in a.take_events():
                self._emit_event(ev)
        self._note_recoveries(end)
        cfg = self.config
        window, self._state = fuse_window(k, start, end, estimates, self._state, cfg.fusion, cfg.window, cfg.zones,
                                          self.personal_head)
        self._account(window)
        for sink in self.sinks:
            if self._guarded(sink, sink.write_window, window, estimates) and type(sink).__name__ in self._failed_sinks:
                del self._failed_sinks[type(sink).__name__]
                self._emit_event(Event(end, "sink_recovered", type(sink).__name__, {}))
        self._k = k + 1
        self.stats.last_t = end
        self.last_progress = time.monotonic()  # the service's watchdog feeds on this

    def _finish(self) -> None:
        """Close the window holding the last sample, so a replay's tail is not lost."""
        if self._k is not None and self.stats.samples:
            self._close_window()

    def _account(self, w: FusedWindow) -> None:
        st = self.stats
        st.windows += 1
        if w.status == "no_data":
            st.no_data += 1
        elif w.zone is not None:
            st.zone_windows[w.zone] += 1
        for m in w.modalities:
            st.modality_windows[m] += 1

    def _emit_event(self, ev: Event) -> None:
        self.stats.events[ev.kind] += 1
        for sink in self.sinks:
            self._guarded(sink, sink.write_event, ev)

    def _analyse(self, analyser: Analyser, t: float, call, *args):
        """Run one analyser step; a failure (a runtime error in a model, a bad frame) drops that
        sample or window for that modality only, is reported once, and its recovery too."""
        name = f"inference:{analyser.modality}"
        try:
            return call(*args)
        except Exception as exc:  # noqa: BLE001 - whatever a model runtime raises, the other modalities go on
            self.stats.analyser_failures[analyser.modality] += 1
            self._failing_now.add(name)
            if name not in self._failed_stages:
                self._failed_stages[name] = str(exc)
                print(f"affectedge: {name} failed: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
                self._emit_event(Event(t, "analyser_failed", name, {"error": f"{type(exc).__name__}: {exc}"}))
            return None

    def _note_recoveries(self, t: float) -> None:
        """A failed analyser counts as recovered after a whole window without a failure."""
        for name in [n for n in self._failed_stages if n not in self._failing_now]:
            del self._failed_stages[name]
            self._emit_event(Event(t, "analyser_recovered", name, {}))
        self._failing_now.clear()

    def _guarded(self, sink: Sink, call, *args) -> bool:
        """A failing sink (disk full, log unwritable) must not stop the others or the windows:
        its failure is announced once to the other sinks (the published status). Recovery is
        judged by the next window it writes."""
        name = type(sink).__name__
        try:
            call(*args)
            return True
        except (AffectEdgeError, OSError, sqlite3.Error) as exc:
            self.stats.sink_failures[name] += 1
            if name not in self._failed_sinks:
                self._failed_sinks[name] = str(exc)
                print(f"affectedge: {name} failed: {exc}", file=sys.stderr, flush=True)
                self._emit_event(Event(self.stats.last_t or 0.0, "sink_failed", name, {"error": str(exc)}))
            return False


def _tagged(it: Iterator, i: int) -> Iterator[tuple]:
    # The source index breaks timestamp ties deterministically in heapq.merge.
    for item in it:
        yield item, i
