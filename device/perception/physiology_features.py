"""Feature arithmetic for the physiology analyser: small, pure and cheap.

Everything here works one sample at a time (the analyser runs on a Raspberry Pi and is asked for
an estimate every 200 ms), takes plain numbers rather than config objects, and does no I/O, so each
rule can be tested and documented on its own. docs/physiology.md explains the choices.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Iterable, Optional, Sequence


def in_range(value: float, bounds: tuple[float, float]) -> bool:
    """Whether ``value`` is finite and within the closed interval ``bounds``."""
    return math.isfinite(value) and bounds[0] <= value <= bounds[1]


def median(values: Sequence[float]) -> float:
    """Median of a short sequence (a handful of beats: sorting beats numpy's call overhead)."""
    s = sorted(values)
    n = len(s)
    mid = n // 2
    return s[mid] if n % 2 else 0.5 * (s[mid - 1] + s[mid])


def rr_is_outlier(rr_s: float, recent_rr_s: Sequence[float], max_change: float, min_reference: int = 3) -> bool:
    """Successive-difference artefact rule for one inter-beat interval.

    The interval is an outlier when it differs from the median of the recent *plausible* intervals
    by more than ``max_change`` (a fraction, e.g. 0.25). The reference is a median so one missed or
    extra beat cannot drag it, and it includes intervals this rule rejected so that a genuine,
    sustained change of rate is accepted again after a few beats instead of being rejected forever.
    With fewer than ``min_reference`` intervals to compare with, nothing is called an outlier.
    """
    if len(recent_rr_s) < min_reference:
        return False
    ref = median(recent_rr_s)
    return abs(rr_s - ref) > max_change * ref


def covered_time(dt_s: float, expected_rate_hz: float, jitter: float = 1.5) -> float:
    """How much of the timeline a sample covers, given the time ``dt_s`` since the previous one.

    A sample covers the interval back to its predecessor, but never more than ``jitter`` nominal
    sample periods: across a gap only the edge is covered, so summing this over a span and dividing
    by the span gives its coverage whatever the sensor's actual rate is.
    """
    return max(0.0, min(dt_s, jitter / expected_rate_hz))


def one_pole_alpha(dt_s: float, cutoff_hz: float) -> float:
    """Smoothing factor of a first-order low-pass for a step of ``dt_s`` seconds.

    Exact for irregular sampling (the discretised RC filter), so a dropped packet does not shift
    the filter's time constant: y += alpha * (x - y), alpha = 1 - exp(-2 pi fc dt).
    """
    return 1.0 - math.exp(-2.0 * math.pi * cutoff_hz * max(dt_s, 0.0))


class LowPass:
    """Causal first-order low-pass on an irregularly sampled signal; starts at the first value."""

    __slots__ = ("cutoff_hz", "value", "_t")

    def __init__(self, cutoff_hz: float):
        self.cutoff_hz = cutoff_hz
        self.value: Optional[float] = None
        self._t = 0.0

    def step(self, t: float, x: float) -> float:
        if self.value is None:
            self.value = x
        else:
            self.value += one_pole_alpha(t - self._t, self.cutoff_hz) * (x - self.value)
        self._t = t
        return self.value


class ScrDetector:
    """Causal skin-conductance-response detector on the phasic EDA component.

    An SCR is counted when the phasic signal has risen by at least ``threshold_us`` from the lowest
    point since the previous response peaked (trough-to-peak amplitude, the usual SCR criterion).
    After a count the detector follows the rise to its peak; once the signal has fallen from that
    peak by more than ``hysteresis`` x threshold it looks for the next trough. The hysteresis keeps
    a wobble on one rising flank from being counted twice while still separating responses that
    overlap (a second SCR riding on the recovery of the first).
    """

    __slots__ = ("threshold_us", "drop_us", "_trough", "_peak", "_rising")

    def __init__(self, threshold_us: float, hysteresis: float = 0.5):
        self.threshold_us = threshold_us
        self.drop_us = hysteresis * threshold_us
        self._trough = math.inf
        self._peak = -math.inf
        self._rising = False

    def step(self, phasic_us: float) -> bool:
        """Feed one phasic value; True when this value completes a response's threshold rise."""
        if self._rising:
            if phasic_us > self._peak:
                self._peak = phasic_us
            elif phasic_us < self._peak - self.drop_us:
                self._rising = False
                self._trough = phasic_us
            return False
        if phasic_us < self._trough:
            self._trough = phasic_us
        if phasic_us - self._trough >= self.threshold_us:
            self._rising = True
            self._peak = phasic_us
            return True
        return False

    def reset(self) -> None:
        """Forget the current trough/peak (after a gap the old trough means nothing)."""
        self._trough = math.inf
        self._peak = -math.inf
        self._rising = False


class RollingSums:
    """Entries ``(t, v1, v2, ...)`` over a trailing span, with running sums of the values.

    ``add`` and ``evict`` are O(1) amortised, so a feature over a 60 s span costs the same at every
    200 ms window however many samples the span holds. Sums restart from exact zero whenever the
    span empties, so floating-point drift cannot accumulate over a long session.
    """

    __slots__ = ("span_s", "entries", "sums")

    def __init__(self, span_s: float, width: int):
        self.span_s = span_s
        self.entries: deque[tuple[float, ...]] = deque()
        self.sums = [0.0] * width

    def add(self, t: float, *values: float) -> None:
        self.entries.append((t, *values))
        for i, v in enumerate(values):
            self.sums[i] += v

    def evict(self, end: float) -> None:
        """Drop entries older than ``end - span_s`` (the span is [end - span, end))."""
        start = end - self.span_s
        entries = self.entries
        while entries and entries[0][0] < start:
            old = entries.popleft()
            for i in range(len(self.sums)):
                self.sums[i] -= old[i + 1]
        if not entries:
            self.sums = [0.0] * len(self.sums)

    def pop_latest(self) -> None:
        """Withdraw the newest entry (a later sample showed it was corrupt)."""
        old = self.entries.pop()
        for i in range(len(self.sums)):
            self.sums[i] -= old[i + 1]
        if not self.entries:
            self.sums = [0.0] * len(self.sums)

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def latest_t(self) -> Optional[float]:
        return self.entries[-1][0] if self.entries else None


def rmssd_ms(sum_squared_diff_s2: float, n_diffs: int) -> float:
    """Root mean square of successive RR differences, in ms, from their running sum of squares."""
    return 1000.0 * math.sqrt(max(sum_squared_diff_s2, 0.0) / n_diffs)


def clipped_z(value: float, mean: float, sd: float, clip: float) -> float:
    """z-score of ``value`` against a baseline, clipped to +-``clip`` so that one wild feature
    cannot outvote the others."""
    z = (value - mean) / sd
    return max(-clip, min(clip, z))


def combine_arousal(terms: Iterable[tuple[float, float]], scale: float) -> Optional[float]:
    """Arousal in (-1, 1) from ``(signed z, weight)`` pairs: tanh(weighted mean z / scale).

    The weighted mean keeps arousal on the scale of one z-score however many features are present;
    tanh(z / 2) maps +1 SD to 0.46, +2 SD to 0.76 and saturates smoothly. None without weight.
    """
    total_w = 0.0
    total = 0.0
    for z, w in terms:
        total += w * z
        total_w += w
    if total_w <= 0.0:
        return None
    return math.tanh(total / total_w / scale)
