"""Physiology analyser: heart rate, RMSSD, EDA tonic level and SCR rate -> arousal.

Samples are queued by ``push`` and processed in time order by ``estimate``, up to the window's end,
so a window never sees a sample from its future however the caller batches pushes. Every feature
is kept incrementally (running sums over trailing spans, causal filters), so one estimate costs
O(samples that arrived since the last one). The rules and numbers are in docs/physiology.md.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from dataclasses import dataclass
from typing import Literal, Optional

from pydantic import Field, model_validator

from ..core.config_base import StrictModel
from ..core.types import Event, ModalityEstimate, PhysioSample, Sample
from .baseline import POPULATION_NORMS, MeanSd, PersonBaseline
from .physiology_features import (
    LowPass,
    RollingSums,
    ScrDetector,
    clipped_z,
    combine_arousal,
    covered_time,
    in_range,
    rmssd_ms,
    rr_is_outlier,
)

FEATURES: tuple[str, ...] = ("hr_bpm", "rmssd_ms", "eda_tonic_us", "scr_per_min")
# Direction in which each feature moves with arousal (sympathetic up, vagal down).
_AROUSAL_SIGN = {"hr_bpm": 1.0, "rmssd_ms": -1.0, "eda_tonic_us": 1.0, "scr_per_min": 1.0}
_SCR_RESET_GAP_S = 5.0


class ArousalWeights(StrictModel):
    """Weight of each feature's z-score in the arousal estimate and in the combined quality."""

    hr_bpm: float = Field(1.0, ge=0, le=10, description="Weight of heart rate (up = more aroused).")
    rmssd_ms: float = Field(0.7, ge=0, le=10, description="Weight of RMSSD (down = more aroused); below HR's because it is noisier over 30 s and partly redundant with HR.")
    eda_tonic_us: float = Field(0.6, ge=0, le=10, description="Weight of the tonic skin conductance level (up = more aroused); low because the level drifts with temperature and electrode contact.")
    scr_per_min: float = Field(1.0, ge=0, le=10, description="Weight of the SCR rate (up = more aroused): the most specific electrodermal index of sympathetic arousal.")

    def get(self, feature: str) -> float:
        return float(getattr(self, feature))


class PhysiologyConfig(StrictModel):
    """Heart-rate, HRV and EDA analysis (see docs/physiology.md)."""

    population: Literal["child_6_12", "adult"] = Field("child_6_12", description="Whose population norms stand for a feature the person's baseline profile lacks: children 6-12 (resting HR 88 +- 12 bpm) or adults (65.5 +- 7.7 bpm). An adult read on a child's norms looks calm at rest; see docs/physiology.md.")
    hr_span_s: float = Field(5.0, gt=0, le=120, description="Heart rate is the mean over this trailing span, seconds.")
    rmssd_span_s: float = Field(30.0, ge=10, le=300, description="RMSSD is computed over this trailing span, seconds (30 s is the shortest span usually reported as 'ultra-short-term' HRV).")
    scr_span_s: float = Field(60.0, ge=10, le=600, description="SCRs per minute are counted over this trailing span, seconds.")
    eda_span_s: float = Field(10.0, gt=0, le=120, description="The tonic EDA level's quality is the sample coverage of this trailing span, seconds.")
    eda_rise_span_s: float = Field(120.0, gt=0, le=1800, description="`eda_rise_us`, logged beside the features: the tonic EDA level above its lowest value over this trailing span, microsiemens. Unlike the level it does not drift up over an hour of wear (the electrode-skin contact settling), so a personal model can learn from it (`affectedge personalise`, docs/personalise.md); it does not enter the generic arousal.")

    hr_range_bpm: tuple[float, float] = Field((30.0, 220.0), description="Plausible heart rate, bpm; HR notifications outside are rejected as artefacts.")
    rr_range_s: tuple[float, float] = Field((0.27, 2.0), description="Plausible RR interval, seconds (0.27-2.0 s is 30-222 bpm); intervals outside are rejected.")
    rr_max_change: float = Field(0.40, gt=0, le=1, description="An RR interval differing from the median of the recent plausible intervals by more than this fraction is rejected as an artefact: a missed beat is about +100 %, an extra beat splits an interval into parts of -40 to -70 %, while genuine intervals in the real test recordings stayed within 39 % of it (see docs/physiology.md).")
    rr_reference_beats: int = Field(9, ge=3, le=31, description="How many recent plausible RR intervals form the reference median of the outlier rule.")
    rr_pair_gap_s: float = Field(1.0, ge=0, le=5, description="Two accepted RR intervals form a successive difference only when the second was timed at most its own length plus this slack after the first (no beat lost between them).")
    rmssd_min_diffs: int = Field(10, ge=2, description="Fewest successive differences in the span for an RMSSD to be reported.")
    eda_range_us: tuple[float, float] = Field((0.01, 100.0), description="Plausible skin conductance, microsiemens; readings outside (electrode off, saturation) are rejected.")

    eda_flat_s: float = Field(5.0, gt=0, le=120, description="EDA readings that have not changed by more than eda_flat_tolerance_us for this many seconds are a stuck sensor (a flat line), not a calm person: they are rejected as artefacts and the EDA features withheld until the reading moves again. Real skin conductance at 4 Hz never held one value this long in the test recordings (docs/physiology.md).")
    eda_flat_tolerance_us: float = Field(0.0, ge=0, le=1, description="Largest change, microsiemens, that still counts as the same reading for the flat-line rule (0: the exact same value; raise it for a sensor that jitters by one quantisation step while stuck).")

    eda_tonic_cutoff_hz: float = Field(0.05, gt=0, le=1, description="Cut-off of the causal first-order low-pass that gives the tonic level (0.05 Hz as in Biopac AcqKnowledge and NeuroKit2's default); the phasic component is the signal minus it.")
    scr_smoothing_hz: float = Field(1.0, gt=0, le=10, description="Cut-off of a causal low-pass applied before SCR detection, so that sensor quantisation steps are not counted as responses.")
    scr_threshold_us: float = Field(0.03, gt=0, le=1, description="Minimum trough-to-peak rise of the phasic component that counts as an SCR, microsiemens (0.01-0.05 is the customary range).")

    hr_rate_hz: float = Field(1.0, gt=0, le=10, description="Expected rate of HR notifications (chest straps send about 1 Hz), for coverage.")
    eda_rate_hz: float = Field(4.0, gt=0, le=64, description="Expected EDA sampling rate (wristbands send 4-8 Hz), for coverage.")

    weights: ArousalWeights = Field(default_factory=ArousalWeights, description="Weights of the features in the arousal estimate.")
    z_clip: float = Field(4.0, gt=0, le=20, description="Each feature's z-score is clipped to +- this before combining.")
    arousal_scale: float = Field(2.0, gt=0, le=10, description="Arousal = tanh(weighted mean z / this): with 2, +1 SD gives 0.46 and +2 SD 0.76.")

    @model_validator(mode="after")
    def _ranges_ordered(self) -> "PhysiologyConfig":
        for name in ("hr_range_bpm", "rr_range_s", "eda_range_us"):
            low, high = getattr(self, name)
            if not (math.isfinite(low) and math.isfinite(high) and low < high):
                raise ValueError(f"{name} must be [low, high] with low < high, got [{low}, {high}]")
        if not any(self.weights.get(f) > 0 for f in FEATURES):
            raise ValueError("weights: at least one feature needs a weight above 0")
        return self


@dataclass(frozen=True, slots=True)
class FeatureValue:
    """One feature at a window's end and its quality in [0, 1]."""

    value: float
    quality: float


class PhysiologyAnalyser:
    """The physiology modality: fed hr/rr/eda/contact samples, one arousal estimate per window.

    ``baseline`` is the person's profile; features it lacks (or all of them, without one) are
    compared with the population defaults, and ``basis`` says which.
    """

    modality = "physiology"

    def __init__(self, config: PhysiologyConfig, baseline: Optional[PersonBaseline] = None):
        self.config = config
        self.baseline = baseline
        self._norms, self._person_norms = self._resolve_norms(baseline, config.population)
        self._inbox: deque[PhysioSample] = deque()
        self._events: list[Event] = []
        self._rejected: Counter[tuple[str, str, str]] = Counter()
        self._first_rejected: dict[tuple[str, str, str], tuple[float, float]] = {}

        c = config
        # Contact bit per source, and which source last fed each group: a lost contact silences
        # the features of that sensor only (a strap off the chest says nothing about the wristband).
        self._contact: dict[str, bool] = {}
        self._source_of: dict[str, str] = {}

        # RR: rejected intervals stay in the spans as counts, for the artefact fraction.
        self._rr_recent: deque[float] = deque(maxlen=c.rr_reference_beats)
        self._rr_prev: Optional[tuple[float, float]] = None  # (t, rr) of the last accepted interval
        self._rr_hr = RollingSums(c.hr_span_s, 3)  # (rr if accepted, accepted, rejected)
        self._rr_counts = RollingSums(c.rmssd_span_s, 2)  # (accepted, rejected)
        self._rr_diffs = RollingSums(c.rmssd_span_s, 2)  # (squared successive difference, rr)
        # HR notifications: (bpm if accepted, covered time, accepted, rejected)
        self._hr = RollingSums(c.hr_span_s, 4)
        self._hr_last_t: Optional[float] = None
        # EDA
        self._tonic = LowPass(c.eda_tonic_cutoff_hz)
        self._smooth = LowPass(c.scr_smoothing_hz)
        self._scr = ScrDetector(c.scr_threshold_us)
        self._eda = RollingSums(c.eda_span_s, 3)  # (covered time, accepted, rejected)
        self._eda_scr_cover = RollingSums(c.scr_span_s, 1)  # (covered time)
        self._scr_onsets = RollingSums(c.scr_span_s, 0)
        self._eda_last_t: Optional[float] = None
        self._eda_run: Optional[tuple[float, float]] = None  # (value, since when) of the current unchanged run
        self._eda_flat = False
        self._eda_lows: deque[tuple[float, float]] = deque()  # (t, tonic) with increasing tonic: the span's minimum first

    # ------------------------------------------------------------------ protocol

    def accepts(self, sample: Sample) -> bool:
        return isinstance(sample, PhysioSample) and sample.kind in ("hr", "rr", "eda", "contact")

    def push(self, sample: Sample) -> None:
        """Queue a sample; it is processed when a window reaching past its time is estimated."""
        if self.accepts(sample):
            self._inbox.append(sample)  # type: ignore[arg-type]

    def estimate(self, start: float, end: float) -> Optional[ModalityEstimate]:
        """Features at ``end`` over their trailing spans, and the arousal they imply; None when no
        feature can be computed (no data, contact lost, too few beats)."""
        self._process_until(end)
        self._flush_rejections(end)
        features = self._features(end)
        if not features:
            return None
        c = self.config
        terms = []
        person = False
        population = False
        for name, fv in features.items():
            w = c.weights.get(name) * fv.quality
            if w <= 0:
                continue
            norm = self._norms[name]
            z = _AROUSAL_SIGN[name] * clipped_z(fv.value, norm.mean, norm.sd, c.z_clip)
            terms.append((z, w))
            person |= name in self._person_norms
            population |= name not in self._person_norms
        arousal = combine_arousal(terms, c.arousal_scale)
        total_w = sum(c.weights.get(f) for f in FEATURES)
        quality = sum(c.weights.get(n) * fv.quality for n, fv in features.items()) / total_w
        if arousal is None or quality <= 0:
            return None
        # "person:" only when every feature behind this estimate was judged against the person.
        basis = f"person:{self.baseline.subject}" if person and not population else "population"
        logged = {n: fv.value for n, fv in features.items()}
        rise = self._eda_rise(end, features.get("eda_tonic_us"))
        if rise is not None:
            logged["eda_rise_us"] = rise
        return ModalityEstimate(
            modality=self.modality,
            start=start,
            end=end,
            quality=min(1.0, quality),
            arousal=arousal,
            basis=basis,
            features=logged,
        )

    def _eda_rise(self, end: float, tonic: Optional[FeatureValue]) -> Optional[float]:
        """The tonic level above its minimum over the trailing ``eda_rise_span_s`` (a monotonic
        deque keeps the minimum in O(1) per window)."""
        lows = self._eda_lows
        while lows and lows[0][0] < end - self.config.eda_rise_span_s:
            lows.popleft()
        if tonic is None:
            return None
        while lows and lows[-1][1] >= tonic.value:
            lows.pop()
        lows.append((end, tonic.value))
        return tonic.value - lows[0][1]

    def take_events(self) -> list[Event]:
        events, self._events = self._events, []
        return events

    # ------------------------------------------------------------------ ingestion

    def _process_until(self, end: float) -> None:
        inbox = self._inbox
        while inbox and inbox[0].t < end:
            s = inbox.popleft()
            if s.kind == "contact":
                self._on_contact(s)
                continue
            if not self._contact.get(s.source, True):
                self._reject(s, "no_contact")
                continue
            if s.kind == "rr":
                self._on_rr(s)
            elif s.kind == "hr":
                self._on_hr(s)
            else:
                self._on_eda(s)

    def _on_contact(self, s: PhysioSample) -> None:
        had = self._contact.get(s.source, True)
        has = s.value >= 0.5
        self._contact[s.source] = has
        if had and not has:
            # Nothing before the loss may pair with anything after it.
            self._rr_prev = None
            self._scr.reset()

    def _on_rr(self, s: PhysioSample) -> None:
        c = self.config
        self._source_of["cardiac"] = s.source
        rr = s.value
        if not in_range(rr, c.rr_range_s):
            self._reject(s, "out_of_range")
            self._rr_hr.add(s.t, 0.0, 0.0, 1.0)
            self._rr_counts.add(s.t, 0.0, 1.0)
            self._rr_prev = None
            return
        outlier = rr_is_outlier(rr, self._rr_recent, c.rr_max_change)
        self._rr_recent.append(rr)
        if outlier:
            self._reject(s, "successive_difference")
            self._rr_hr.add(s.t, 0.0, 0.0, 1.0)
            self._rr_counts.add(s.t, 0.0, 1.0)
            prev = self._rr_prev
            if prev is not None and self._rr_diffs.latest_t == prev[0]:
                # A misplaced beat corrupts both intervals that share it; the one before often
                # passes the rule (an extra beat leaves a shortened interval ahead of the one that
                # fails), so its difference goes too.
                self._rr_diffs.pop_latest()
            self._rr_prev = None
            return
        self._rr_hr.add(s.t, rr, 1.0, 0.0)
        self._rr_counts.add(s.t, 1.0, 0.0)
        prev = self._rr_prev
        if prev is not None and s.t - prev[0] <= rr + c.rr_pair_gap_s:
            self._rr_diffs.add(s.t, (rr - prev[1]) ** 2, rr)
        self._rr_prev = (s.t, rr)

    def _on_hr(self, s: PhysioSample) -> None:
        c = self.config
        self._source_of["cardiac"] = s.source
        dt = s.t - self._hr_last_t if self._hr_last_t is not None else 1.0 / c.hr_rate_hz
        self._hr_last_t = s.t
        if not in_range(s.value, c.hr_range_bpm):
            self._reject(s, "out_of_range")
            self._hr.add(s.t, 0.0, 0.0, 0.0, 1.0)
            return
        self._hr.add(s.t, s.value, covered_time(dt, c.hr_rate_hz), 1.0, 0.0)

    def _on_eda(self, s: PhysioSample) -> None:
        c = self.config
        self._source_of["eda"] = s.source
        dt = s.t - self._eda_last_t if self._eda_last_t is not None else 1.0 / c.eda_rate_hz
        self._eda_last_t = s.t
        if not in_range(s.value, c.eda_range_us):
            self._reject(s, "out_of_range")
            self._eda.add(s.t, 0.0, 0.0, 1.0)
            return
        run = self._eda_run
        if run is None or abs(s.value - run[0]) > c.eda_flat_tolerance_us:
            self._eda_run, self._eda_flat = (s.value, s.t), False
        elif s.t - run[1] >= c.eda_flat_s:
            self._eda_flat = True
            self._reject(s, "flat_line")
            self._eda.add(s.t, 0.0, 0.0, 1.0)
            return
        cover = covered_time(dt, c.eda_rate_hz)
        if dt > _SCR_RESET_GAP_S:
            # After a gap of seconds the last trough is stale: a rise measured from it is not a response.
            self._scr.reset()
        tonic = self._tonic.step(s.t, s.value)
        smoothed = self._smooth.step(s.t, s.value)
        if self._scr.step(smoothed - tonic):
            self._scr_onsets.add(s.t)
        self._eda.add(s.t, cover, 1.0, 0.0)
        self._eda_scr_cover.add(s.t, cover)

    def _reject(self, s: PhysioSample, reason: str) -> None:
        key = (s.source, s.kind, reason)
        self._rejected[key] += 1
        self._first_rejected.setdefault(key, (s.t, s.value))

    def _flush_rejections(self, end: float) -> None:
        # One event per (source, kind, reason) per window: a wristband off the skin would otherwise
        # raise eight events a second.
        for (source, kind, reason), n in self._rejected.items():
            t, value = self._first_rejected[(source, kind, reason)]
            self._events.append(Event(t, "artefact_rejected", source,
                                      {"kind": kind, "reason": reason, "count": n, "first_value": value, "window_end": end}))
        self._rejected.clear()
        self._first_rejected.clear()

    # ------------------------------------------------------------------ features

    def _has_contact(self, group: str) -> bool:
        source = self._source_of.get(group)
        return source is None or self._contact.get(source, True)

    def _features(self, end: float) -> dict[str, FeatureValue]:
        for rolling in (self._rr_hr, self._rr_counts, self._rr_diffs, self._hr, self._eda, self._eda_scr_cover, self._scr_onsets):
            rolling.evict(end)
        out: dict[str, FeatureValue] = {}
        if self._has_contact("cardiac"):
            hr = self._heart_rate()
            if hr is not None:
                out["hr_bpm"] = hr
            rmssd = self._rmssd()
            if rmssd is not None:
                out["rmssd_ms"] = rmssd
        if self._has_contact("eda"):
            tonic = self._eda_tonic()
            if tonic is not None:
                out["eda_tonic_us"] = tonic
                scr = self._scr_rate()
                if scr is not None:
                    out["scr_per_min"] = scr
        return {k: v for k, v in out.items() if v.quality > 0}

    def _heart_rate(self) -> Optional[FeatureValue]:
        c = self.config
        rr_sum, n_acc, n_rej = self._rr_hr.sums
        if n_acc >= 1:
            # Mean HR over the span = beats / time they took (60 / mean RR), as NeuroKit2's MeanNN.
            coverage = min(1.0, rr_sum / c.hr_span_s)
            return FeatureValue(60.0 * n_acc / rr_sum, coverage * n_acc / (n_acc + n_rej))
        bpm_sum, covered, n_acc, n_rej = self._hr.sums
        if n_acc >= 1:
            coverage = min(1.0, covered / c.hr_span_s)
            return FeatureValue(bpm_sum / n_acc, coverage * n_acc / (n_acc + n_rej))
        return None

    def _rmssd(self) -> Optional[FeatureValue]:
        c = self.config
        n = len(self._rr_diffs)
        if n < c.rmssd_min_diffs:
            return None
        sq_sum, rr_sum = self._rr_diffs.sums
        n_acc, n_rej = self._rr_counts.sums
        coverage = min(1.0, rr_sum / c.rmssd_span_s)
        return FeatureValue(rmssd_ms(sq_sum, n), coverage * n_acc / max(n_acc + n_rej, 1.0))

    def _eda_tonic(self) -> Optional[FeatureValue]:
        covered, n_acc, n_rej = self._eda.sums
        if n_acc < 1 or self._tonic.value is None or self._eda_flat:
            return None
        coverage = min(1.0, covered / self.config.eda_span_s)
        return FeatureValue(self._tonic.value, coverage * n_acc / (n_acc + n_rej))

    def _scr_rate(self) -> Optional[FeatureValue]:
        (covered,) = self._eda_scr_cover.sums
        if covered < 0.25 * self.config.scr_span_s:
            return None  # a rate from a few seconds of signal is mostly chance
        # Per minute of EDA actually observed in the span, so a partly covered span is not biased
        # low; its quality says how much was covered.
        rate = len(self._scr_onsets) * 60.0 / max(covered, 1e-9)
        n_acc, n_rej = self._eda.sums[1:]
        return FeatureValue(rate, min(1.0, covered / self.config.scr_span_s) * n_acc / max(n_acc + n_rej, 1.0))

    # ------------------------------------------------------------------ norms

    @staticmethod
    def _resolve_norms(baseline: Optional[PersonBaseline], population: str = "child_6_12") -> tuple[dict[str, MeanSd], set[str]]:
        norms: dict[str, MeanSd] = {}
        person: set[str] = set()
        for name in FEATURES:
            own = getattr(baseline.physiology, name) if baseline is not None else None
            if own is not None:
                norms[name] = own
                person.add(name)
            else:
                norms[name] = getattr(POPULATION_NORMS[population], name)
        return norms, person
