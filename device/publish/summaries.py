"""Aggregate fused windows into one summary per period of the source clock.

A summary covers the windows whose start lies in [k*P, (k+1)*P). It is pure bookkeeping: the
privacy gate (privacy.py) decides which of these numbers may leave the device.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from ..core.types import LABELS, MODALITIES, ZONES, Event, FusedWindow

# A zone has to hold this long before it counts as the current zone (and a change is reported):
# a 200 ms flicker across a threshold is not something to tell a caregiver about.
ZONE_DWELL_S = 1.0

# Pipeline event kinds that mean a sensor stopped or came back.
SENSOR_LOST_KINDS = frozenset({"source_down", "source_failed", "disconnected", "sensor_lost", "stage_down"})
SENSOR_UP_KINDS = frozenset({"source_up", "connected", "stage_up"})
# A replayed recording reached its end: not a sensor failing, and said as such.
RECORDING_ENDED_KINDS = frozenset({"recording_ended"})
# A local sink (session log, disk) failing or recovering: published so a caregiver knows the
# device's own record has a gap. The source is the sink's class name, published in snake case.
SINK_KINDS = frozenset({"sink_failed", "sink_recovered"})


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


@dataclass(frozen=True)
class SummaryEvent:
    kind: str  # zone_change | sensor_lost | sensor_up | recording_ended | sink_failed | sink_recovered | outbox_dropped
    t: float
    source: Optional[str] = None
    from_zone: Optional[str] = None
    to_zone: Optional[str] = None
    count: Optional[int] = None


@dataclass(frozen=True)
class Summary:
    period_start: float
    period_end: float
    windows: int
    windows_with_data: int
    zone: Optional[str]
    zone_shares: dict[str, float]
    valence_mean: Optional[float]
    valence_trend: Optional[float]  # per minute
    arousal_mean: Optional[float]
    arousal_trend: Optional[float]
    top_label: Optional[str]
    top_probability: Optional[float]
    confidence: float
    coverage: dict[str, float]
    sensors_live: tuple[str, ...]
    events: tuple[SummaryEvent, ...] = ()
    faces_in_view: Optional[int] = None  # most faces seen in one frame during the period
    vocal_events: dict[str, tuple[float, float]] = field(default_factory=dict)  # event -> (peak score, seconds heard)
    labels: int = 0  # caregiver labels the device holds for this run (a count only)


def _slope_per_minute(ts: list[float], xs: list[float]) -> Optional[float]:
    if len(xs) < 2 or max(ts) - min(ts) <= 0:
        return None
    slope = float(np.polyfit(np.asarray(ts), np.asarray(xs), 1)[0]) * 60.0
    return slope if math.isfinite(slope) else None


def _mean(xs: list[float]) -> Optional[float]:
    return float(np.mean(xs)) if xs else None


@dataclass
class _Period:
    start: float
    end: float
    windows: list[FusedWindow] = field(default_factory=list)
    events: list[SummaryEvent] = field(default_factory=list)


class SummaryAggregator:
    """Feed windows and events in source-clock order; completed summaries come back from ``add_window``."""

    def __init__(self, period_s: float):
        self.period_s = float(period_s)
        self._pending_period: Optional[float] = None
        self._period: Optional[_Period] = None
        self._stable_zone: Optional[str] = None
        self._candidate: Optional[tuple[str, float]] = None  # zone and when it started
        self._sensors: set[str] = set()
        self._early_events: list[SummaryEvent] = []
        self._anchor = 0.0  # periods tile the clock from here (moves when the period changes)
        self.labels = 0  # caregiver labels stored this run

    def set_period(self, period_s: float) -> None:
        """Takes effect at the next period boundary (a summary never mixes two periods)."""
        self._pending_period = float(period_s)

    @property
    def pending_period_s(self) -> float:
        """The period in force from the next boundary on."""
        return self._pending_period if self._pending_period is not None else self.period_s

    def discard_period(self) -> None:
        """Forget the open period's windows (used on pause)."""
        if self._period is not None:
            self._early_events = self._period.events
            self._anchor = self._period.end
            self._period = None

    def add_event(self, event: Event) -> None:
        if event.kind in SENSOR_LOST_KINDS:
            self._sensors.discard(event.source)
            self._note(SummaryEvent("sensor_lost", event.t, source=event.source))
        elif event.kind in RECORDING_ENDED_KINDS:
            self._sensors.discard(event.source)
            self._note(SummaryEvent("recording_ended", event.t, source=event.source))
        elif event.kind in SENSOR_UP_KINDS:
            self._sensors.add(event.source)
            self._note(SummaryEvent("sensor_up", event.t, source=event.source))
        elif event.kind in SINK_KINDS:
            self._note(SummaryEvent(event.kind, event.t, source=_snake(event.source)))

    def note_dropped(self, count: int, t: float) -> None:
        """The outbox dropped ``count`` old summaries; say so in the next one."""
        self._note(SummaryEvent("outbox_dropped", t, count=count))

    def _note(self, ev: SummaryEvent) -> None:
        (self._period.events if self._period is not None else self._early_events).append(ev)

    def add_window(self, w: FusedWindow) -> list[Summary]:
        done: list[Summary] = []
        if self._period is not None and w.start >= self._period.end - 1e-9:
            done.append(self._close())
        if self._period is None:
            if self._pending_period is not None:
                self.period_s, self._pending_period = self._pending_period, None
            k = math.floor((w.start - self._anchor) / self.period_s + 1e-9)
            start = self._anchor + k * self.period_s
            self._period = _Period(start, start + self.period_s, events=self._early_events)
            self._early_events = []
        self._period.windows.append(w)
        self._track_zone(w)
        if w.end >= self._period.end - 1e-9:
            # Close as soon as the period's last window closes: waiting for the next window would
            # add a window length to every summary's latency.
            done.append(self._close())
        return done

    def flush(self) -> Optional[Summary]:
        """The partial period at the end of a run (None if it holds no window)."""
        return self._close() if self._period is not None and self._period.windows else None

    def _track_zone(self, w: FusedWindow) -> None:
        if w.zone is None:
            return
        if self._candidate is None or self._candidate[0] != w.zone:
            self._candidate = (w.zone, w.start)
        zone, since = self._candidate
        if zone != self._stable_zone and w.end - since >= ZONE_DWELL_S - 1e-9:
            if self._stable_zone is not None:
                self._period.events.append(SummaryEvent("zone_change", since, from_zone=self._stable_zone, to_zone=zone))
            self._stable_zone = zone

    def _close(self) -> Summary:
        p, self._period = self._period, None
        self._anchor = p.end
        ws = p.windows
        data = [w for w in ws if w.status == "ok"]
        zoned = [w.zone for w in data if w.zone is not None]
        shares = {z: (zoned.count(z) / len(zoned) if zoned else 0.0) for z in ZONES}
        val = [(0.5 * (w.start + w.end), w.valence) for w in data if w.valence is not None]
        aro = [(0.5 * (w.start + w.end), w.arousal) for w in data if w.arousal is not None]
        probs = [w.probabilities for w in data if w.probabilities is not None]
        top_label = top_p = None
        if probs:
            mean_p = np.mean(np.asarray(probs), axis=0)
            i = int(np.argmax(mean_p))
            top_label, top_p = LABELS[i], float(mean_p[i])
        n = len(ws)
        faces = [w.faces_in_view for w in ws if w.faces_in_view is not None]
        heard: dict[str, tuple[float, float]] = {}
        for w in ws:
            for name, score in w.vocal_events.items():
                peak, seconds = heard.get(name, (0.0, 0.0))
                heard[name] = (max(peak, score), seconds + (w.end - w.start))
        return Summary(
            period_start=p.start,
            period_end=p.end,
            windows=n,
            windows_with_data=len(data),
            zone=self._stable_zone,
            zone_shares=shares,
            valence_mean=_mean([v for _, v in val]),
            valence_trend=_slope_per_minute([t for t, _ in val], [v for _, v in val]),
            arousal_mean=_mean([a for _, a in aro]),
            arousal_trend=_slope_per_minute([t for t, _ in aro], [a for _, a in aro]),
            top_label=top_label,
            top_probability=top_p,
            confidence=float(np.mean([w.confidence for w in ws])) if ws else 0.0,
            coverage={m: sum(1 for w in ws if m in w.modalities) / n for m in MODALITIES},
            sensors_live=tuple(sorted(self._sensors)),
            events=tuple(p.events),
            faces_in_view=max(faces) if faces else None,
            vocal_events=dict(sorted(heard.items())),
            labels=self.labels,
        )
