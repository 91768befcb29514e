"""The resting physiology baseline: the project's own features, once a second, over the recording.

The recorder runs the service's PhysiologyAnalyser (the same feature code the service compares
against the profile later) and keeps each feature's value at every whole second after that
feature's warm-up (its trailing span). The profile's mean and SD are taken over those values, so
a z-score at run time compares like with like: a 30 s RMSSD against resting 30 s RMSSDs.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from affectedge.perception.baseline import POPULATION_NORMS, MeanSd, PhysiologyBaseline
from affectedge.perception.physiology import FEATURES, PhysiologyAnalyser, PhysiologyConfig
from affectedge.core.types import Event, PhysioSample, Sample

from ..config.calibration import BaselineRecordingConfig
from .phase import PhaseSpan

# The sample kind each feature is computed from (heart rate from RR when a strap sends RR).
FEATURE_KINDS = {"hr_bpm": ("rr", "hr"), "rmssd_ms": ("rr",), "eda_tonic_us": ("eda",), "scr_per_min": ("eda",)}
FEATURE_NAMES = {"hr_bpm": "heart rate", "rmssd_ms": "RMSSD", "eda_tonic_us": "EDA tonic level", "scr_per_min": "SCR rate"}
FEATURE_UNITS = {"hr_bpm": "bpm", "rmssd_ms": "ms", "eda_tonic_us": "uS", "scr_per_min": "/min"}


def warm_up_s(config: PhysiologyConfig) -> dict[str, float]:
    """Seconds after the start before each feature's trailing span is full."""
    return {"hr_bpm": config.hr_span_s, "rmssd_ms": config.rmssd_span_s,
            "eda_tonic_us": config.eda_span_s, "scr_per_min": config.scr_span_s}


@dataclass
class FeatureSummary:
    """One feature over the baseline: its per-second values and what was wrong with them."""

    feature: str
    values: list[float]
    eligible_s: int
    artefact_fraction: float
    kind: str
    problem: Optional[str] = None
    sd_floored: bool = False
    norm: Optional[MeanSd] = None


@dataclass
class PhysiologyBaselineResult:
    features: dict[str, FeatureSummary] = field(default_factory=dict)
    recorded_s: float = 0.0
    problems: list[str] = field(default_factory=list)   # any of these rejects the physiology baseline
    absent: list[str] = field(default_factory=list)
    # Features whose own data fell short (patchy or too few values): left out, so the population
    # norm stands for them, while the features that are there make the baseline. A wristband's beat
    # intervals have gaps by design (the E4 drops every beat it is unsure of): refusing the whole
    # person for it threw away the EDA and heart rate that were there.
    left_out: list[str] = field(default_factory=list)

    def baseline(self) -> Optional[PhysiologyBaseline]:
        norms = {f: s.norm for f, s in self.features.items() if s.norm is not None}
        return PhysiologyBaseline(**norms) if norms and not self.problems else None


class PhysiologyBaselineRecorder:
    """Feeds the physiology analyser with the samples of the phase span and keeps its features."""

    modality = "physiology"

    def __init__(self, physiology: PhysiologyConfig, span: PhaseSpan):
        self.config = physiology
        self.span = span
        self.analyser = PhysiologyAnalyser(physiology, baseline=None)
        self.values: dict[str, list[float]] = {f: [] for f in FEATURES}
        self.eligible: Counter[str] = Counter()
        self.samples: Counter[str] = Counter()
        self.rejected: Counter[str] = Counter()
        self._warm = warm_up_s(physiology)
        self._last_second: Optional[int] = None
        # Its own first and last sample: the span is shared with the camera and microphone.
        self.first_t: Optional[float] = None
        self.last_t: Optional[float] = None

    def accepts(self, sample: Sample) -> bool:
        return isinstance(sample, PhysioSample)

    def push(self, sample: Sample) -> None:
        if self.span.admits(sample.t):
            self.first_t = sample.t if self.first_t is None else self.first_t
            self.last_t = sample.t if self.last_t is None else max(self.last_t, sample.t)
            if sample.kind != "contact":
                self.samples[sample.kind] += 1
            self.analyser.push(sample)

    def estimate(self, start: float, end: float):
        if self.span.start is None:
            return None
        est = self.analyser.estimate(start, end)
        elapsed = end - self.span.start
        second = math.floor(elapsed + 1e-6)
        # One value per whole second of the span (windows are shorter than a second).
        if elapsed > 0 and end <= self.span.end + 1e-9 and abs(elapsed - second) < 1e-6 and second != self._last_second:
            self._last_second = second
            features = est.features if est is not None else {}
            for f in FEATURES:
                if elapsed >= self._warm[f]:
                    self.eligible[f] += 1
                    if f in features:
                        self.values[f].append(float(features[f]))
        return None

    def take_events(self) -> list[Event]:
        events = self.analyser.take_events()
        for ev in events:
            if ev.kind == "artefact_rejected":
                self.rejected[str(ev.detail.get("kind"))] += int(ev.detail.get("count", 1))
        return events

    # ------------------------------------------------------------------ verdict

    def result(self, config: BaselineRecordingConfig) -> PhysiologyBaselineResult:
        res = PhysiologyBaselineResult()
        if self.first_t is None:
            return res
        res.recorded_s = self.last_t - self.first_t
        if res.recorded_s < config.min_duration_s:
            res.problems.append(f"too short: {res.recorded_s:.0f} s of physiology recorded, needs at least "
                                f"{config.min_duration_s:.0f} s (calibration.baseline.min_duration_s)")
        for f in FEATURES:
            kind = next((k for k in FEATURE_KINDS[f] if self.samples[k]), None)
            if kind is None:
                res.absent.append(f)
                continue
            total = self.samples[kind]
            summary = FeatureSummary(f, self.values[f], self.eligible[f], self.rejected[kind] / total, kind)
            res.features[f] = summary
            name = FEATURE_NAMES[f]
            if summary.artefact_fraction > config.max_artefact_fraction:
                summary.problem = (f"too noisy: {summary.artefact_fraction:.0%} of the {kind} readings behind the {name} were "
                                   f"rejected (artefacts or no sensor contact), limit {config.max_artefact_fraction:.0%}")
            elif summary.eligible_s == 0:
                summary.problem = f"too short: the {name} needs {self._warm[f]:.0f} s before its first value"
            elif len(summary.values) / summary.eligible_s < config.min_coverage:
                summary.problem = (f"too patchy: the {name} was available for {len(summary.values) / summary.eligible_s:.0%} of the "
                                   f"{summary.eligible_s} s after its warm-up, needs {config.min_coverage:.0%}")
            elif len(summary.values) < 2:
                summary.problem = f"too short: only {len(summary.values)} value of the {name}"
            if summary.problem:
                if summary.problem.startswith("too noisy"):
                    res.problems.append(summary.problem)  # a sensor off the skin: fix it, record again
                else:
                    res.left_out.append(f"{summary.problem}; left out (the population norm stands for the {name})")
                continue
            v = np.asarray(summary.values)
            sd = float(v.std(ddof=1))
            if f == "eda_tonic_us":
                floor = config.eda_sd_floor_fraction * max(abs(float(v.mean())), 0.01)
            else:
                floor = config.sd_floor_fraction * getattr(POPULATION_NORMS[self.analyser.config.population], f).sd
            if sd < floor or sd <= 0.0:
                sd, summary.sd_floored = max(floor, 1e-6), True
            summary.norm = MeanSd(mean=float(v.mean()), sd=sd)
        if res.features and not res.problems and not any(s.norm is not None for s in res.features.values()):
            res.problems.append("no physiological feature had enough data: " + "; ".join(res.left_out))
        return res
