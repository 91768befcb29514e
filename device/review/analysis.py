"""What the report says about a set of windows: time in zones, episodes, coverage, days.

Pure functions over rows read by log_reader; the report and the tests both use them, and the
tests check them against figures computed independently from the raw SQLite rows.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from typing import Iterable, Optional, Sequence

from ..core.types import MODALITIES, ZONES
from .log_reader import SessionLogData, WindowRow

ELEVATED = ("yellow", "red")
NO_ZONE = "no zone"  # data, but no arousal estimate (the zones are defined on arousal)
NO_DATA = "no data"


def zone_of(w: WindowRow) -> str:
    if w.status == "no_data":
        return NO_DATA
    return w.zone if w.zone in ZONES else NO_ZONE


def time_in_zones(windows: Iterable[WindowRow]) -> dict[str, float]:
    """Seconds per zone, plus NO_ZONE and NO_DATA, in a fixed order."""
    out = {z: 0.0 for z in (*ZONES, NO_ZONE, NO_DATA)}
    for w in windows:
        out[zone_of(w)] += w.end - w.start
    return out


@dataclass(frozen=True)
class Episode:
    """A run of consecutive windows in yellow or red."""

    log: str
    run_id: int
    start: float
    end: float
    peak: str  # "red" if any window was red, else "yellow"
    red_s: float
    started_at: Optional[datetime]

    @property
    def duration_s(self) -> float:
        return self.end - self.start


def episodes(data: SessionLogData) -> list[Episode]:
    """Elevated episodes: maximal runs of consecutive windows (seq + 1) whose zone is yellow or red.

    Any other window, including no-data, ends an episode: a gap in the data is not evidence that
    the person stayed elevated.
    """
    out: list[Episode] = []
    for run_id in data.runs:
        current: list[WindowRow] = []

        def close() -> None:
            if current:
                red = sum(w.end - w.start for w in current if w.zone == "red")
                out.append(Episode(data.path.name, run_id, current[0].start, current[-1].end,
                                   "red" if red > 0 else "yellow", red, data.clock(run_id, current[0].start)))
                current.clear()

        for w in data.run_windows(run_id):
            if w.zone in ELEVATED and (not current or w.seq == current[-1].seq + 1):
                current.append(w)
            else:
                close()
                if w.zone in ELEVATED:
                    current.append(w)
        close()
    return out


def longest(eps: Sequence[Episode], n: int = 5) -> list[Episode]:
    return sorted(eps, key=lambda e: (-e.duration_s, e.log, e.run_id, e.start))[:n]


def coverage_segments(windows: Sequence[WindowRow], modality: str) -> list[tuple[float, float]]:
    """Spans where ``modality`` contributed to consecutive windows (quality > 0)."""
    segs: list[tuple[float, float]] = []
    prev: Optional[WindowRow] = None
    for w in windows:
        live = (w.modalities.get(modality) or {}).get("quality") or 0.0
        if live > 0:
            if segs and prev is not None and prev.seq == w.seq - 1 and segs[-1][1] == prev.end:
                segs[-1] = (segs[-1][0], w.end)
            else:
                segs.append((w.start, w.end))
        prev = w
    return segs


def coverage_share(windows: Sequence[WindowRow]) -> dict[str, float]:
    """Fraction of the windows' time each modality contributed to."""
    total = sum(w.end - w.start for w in windows)
    out = {}
    for m in MODALITIES:
        live = sum(e - s for s, e in coverage_segments(windows, m))
        out[m] = live / total if total else 0.0
    return out


def event_counts(data: SessionLogData) -> list[tuple[str, str, int, float, float, int]]:
    """(kind, source, count, first t, last t, run) per kind and source and run, in time order."""
    agg: dict[tuple[int, str, str], list] = {}
    for e in data.events:
        n = int(e.detail.get("count", 1)) if e.kind == "artefact_rejected" else 1
        key = (e.run_id, e.kind, e.source)
        if key not in agg:
            agg[key] = [0, e.t, e.t]
        a = agg[key]
        a[0] += n
        a[1] = min(a[1], e.t)
        a[2] = max(a[2], e.t)
    rows = [(k[1], k[2], v[0], v[1], v[2], k[0]) for k, v in agg.items()]
    return sorted(rows, key=lambda r: (r[5], r[3], r[0], r[1]))


@dataclass
class DaySummary:
    day: date
    runs: int
    windows: int
    zone_s: dict[str, float]
    episodes: int
    longest_s: float


def by_day(logs: Sequence[SessionLogData], tz: tzinfo) -> list[DaySummary]:
    """One summary per calendar day (in ``tz``) of the runs' start times."""
    runs: dict[date, set] = defaultdict(set)
    wins: dict[date, list[WindowRow]] = defaultdict(list)
    eps: Counter = Counter()
    longest_s: dict[date, float] = defaultdict(float)
    for data in logs:
        day_of = {rid: r.started_utc.astimezone(tz).date() for rid, r in data.runs.items()}
        for w in data.windows:
            d = day_of[w.run_id]
            wins[d].append(w)
            runs[d].add((str(data.path), w.run_id))
        for e in episodes(data):
            d = day_of[e.run_id]
            eps[d] += 1
            longest_s[d] = max(longest_s[d], e.duration_s)
    return [DaySummary(d, len(runs[d]), len(wins[d]), time_in_zones(wins[d]), eps[d], longest_s[d]) for d in sorted(wins)]
