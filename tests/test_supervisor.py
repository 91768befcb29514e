"""The supervisor keeps the pipeline running when a live source fails, stalls or is missing.

The live sources here are stand-ins for hardware that does not exist on this machine (a strap
that drops out, a camera that is unplugged): they replay the demo session's real physiology rows
at their real pace, stamped with the monotonic clock as a live backend would, and fail on cue.
"""

from __future__ import annotations

import threading
import time

import pytest

from affectedge.config.app import AppConfig
from affectedge.core.errors import BackendUnavailableError
from affectedge.service.assembly import build_analysers
from affectedge.service.pipeline import Pipeline
from affectedge.sources.replay_csv import ReplayCsvConfig, ReplayCsvSource
from affectedge.core.types import PhysioSample


class LiveReplay:
    """Replays real rows live; ``fail_opens`` opens fail first, then the stream breaks after ``break_after`` samples once."""

    live = True

    def __init__(self, path, name="strap", fail_opens=0, break_after=None, stall_after=None, speed=20.0):
        self.name = name
        self._rows = [s for s in ReplayCsvSource(ReplayCsvConfig(backend="replay_csv", path=path)).samples() if isinstance(s, PhysioSample)]
        self.fail_opens, self.break_after, self.stall_after, self.speed = fail_opens, break_after, stall_after, speed
        self.opens = 0
        self._pos = 0
        self._closed = threading.Event()

    def open(self):
        self.opens += 1
        if self.opens <= self.fail_opens:
            raise OSError("no such device")
        self._closed.clear()

    def samples(self):
        t0, c0 = self._rows[self._pos].t, time.monotonic()
        delivered = 0
        while self._pos < len(self._rows):
            row = self._rows[self._pos]
            wait = (row.t - t0) / self.speed - (time.monotonic() - c0)
            if wait > 0 and self._closed.wait(wait):
                raise OSError("device closed")
            if self.break_after is not None and delivered == self.break_after:
                self.break_after = None
                raise OSError("strap out of range")
            if self.stall_after is not None and delivered == self.stall_after:
                self.stall_after = None
                self._closed.wait()  # blocked in a read until someone closes the device
                raise OSError("device closed")
            self._pos += 1
            delivered += 1
            yield PhysioSample(time.monotonic(), row.kind, row.value, self.name)

    def close(self):
        self._closed.set()


def run_pipeline(sources, seconds, **supervisor):
    cfg = AppConfig.model_validate({
        "window": {"allowed_lateness_s": 0.1},
        "supervisor": {"backoff_initial_s": 0.1, "backoff_max_s": 0.2, "stall_after_s": 0.5, **supervisor},
        "log": {"console": False},
        "sources": {"physiology": [{"backend": "replay_csv", "path": "unused.csv"}]},
    })
    events = []

    class Collect:
        def write_window(self, w, e):
            pass

        def write_event(self, ev):
            events.append(ev)

        def close(self):
            pass

    pipeline = Pipeline(cfg, sources, build_analysers(cfg), [Collect()])
    stop = threading.Event()
    timer = threading.Timer(seconds, stop.set)
    timer.start()
    stats = pipeline.run(stop)
    timer.cancel()
    return pipeline, stats, events


def test_a_source_missing_at_start_is_degraded_then_comes_up(demo_session):
    strap = LiveReplay(demo_session.physiology.path, fail_opens=4)
    pipeline, stats, events = run_pipeline([strap], 3.0)
    kinds = [(e.kind, e.source) for e in events]
    assert ("stage_down", "strap") in kinds  # three failures in a row: reported down
    assert kinds.index(("stage_down", "strap")) < kinds.index(("stage_up", "strap"))
    assert strap.opens == 5
    assert stats.samples["PhysioSample"] > 20
    assert pipeline.health()[0].state == "up"


def test_a_source_that_breaks_is_restarted_and_the_others_keep_going(demo_session):
    flaky = LiveReplay(demo_session.physiology.path, name="strap", break_after=30)
    steady = LiveReplay(demo_session.physiology.path, name="band")
    pipeline, stats, events = run_pipeline([flaky, steady], 3.0)
    restarting = [e for e in events if e.kind == "stage_restarting"]
    assert [e.source for e in restarting] == ["strap"]
    assert "strap out of range" in restarting[0].detail["error"]
    assert flaky.opens == 2
    assert stats.windows > 5
    assert {h.name: h.state for h in pipeline.health()} == {"strap": "up", "band": "up"}


def test_a_stalled_source_is_closed_and_restarted(demo_session):
    stalling = LiveReplay(demo_session.physiology.path, stall_after=10)
    pipeline, stats, events = run_pipeline([stalling], 3.0)
    restarting = [e for e in events if e.kind == "stage_restarting"]
    assert restarting and "stalled" in restarting[0].detail["error"]
    assert stalling.opens == 2


def test_a_missing_package_stops_the_service_naming_the_extra(demo_session):
    class NeedsBleak(LiveReplay):
        def open(self):
            raise BackendUnavailableError("ble", "bleak", "ble")

    with pytest.raises(BackendUnavailableError, match=r"affectedge\[ble\]"):
        run_pipeline([NeedsBleak(demo_session.physiology.path)], 5.0)


def test_with_every_device_missing_windows_still_close_as_no_data(demo_session):
    """A camera unplugged at boot and no strap: degraded, not silent (the watchdog feeds on windows)."""
    absent = LiveReplay(demo_session.physiology.path, fail_opens=10**6)
    started = time.monotonic()
    pipeline, stats, events = run_pipeline([absent], 2.0)
    assert ("stage_down", "strap") in [(e.kind, e.source) for e in events]
    assert stats.windows >= 6  # 2 s of 200 ms windows, less start-up and lateness
    assert stats.no_data == stats.windows
    assert pipeline.last_progress > started + 1.0
