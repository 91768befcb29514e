"""Late fusion of per-modality estimates into one window: a pure function.

``fuse_window`` takes the window's estimates and the previous smoothing state and returns the
fused window and the next state; it does no I/O and reads no clock, so replaying a session gives
the same windows every time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping, Optional, Sequence

from .config import FusionConfig, WindowConfig, ZoneConfig
from ..core.types import LABELS, FusedWindow, ModalityContribution, ModalityEstimate
from .personal import head_arousal
from .zones import zone_for
from ..perception.baseline import PersonalHead


@dataclass(frozen=True)
class SmoothedValue:
    t: float  # end of the last window that updated it
    value: tuple[float, ...]


@dataclass(frozen=True)
class FusionState:
    """Exponentially smoothed fields carried from window to window (probabilities, valence, arousal)."""

    fields: Mapping[str, SmoothedValue] = field(default_factory=dict)


def _weighted_mean(pairs: list[tuple[float, tuple[float, ...]]]) -> Optional[tuple[float, ...]]:
    total = sum(w for w, _ in pairs)
    if total <= 0:
        return None
    n = len(pairs[0][1])
    return tuple(sum(w * v[i] for w, v in pairs) / total for i in range(n))


def _smooth(name: str, inst: Optional[tuple[float, ...]], end: float, state: Mapping[str, SmoothedValue],
            window: WindowConfig) -> tuple[Optional[tuple[float, ...]], Optional[SmoothedValue]]:
    prev = state.get(name)
    if prev is not None and end - prev.t > window.reset_after_s:
        prev = None  # stale: a state from before a long gap would drag the new data back
    if inst is None:
        return None, prev  # nothing new: report absent, but keep state across short gaps
    if prev is None or window.smoothing_tau_s == 0:
        out = inst
    else:
        alpha = 1.0 - math.exp(-(end - prev.t) / window.smoothing_tau_s)
        out = tuple(p + alpha * (x - p) for p, x in zip(prev.value, inst))
    return out, SmoothedValue(end, out)


def fuse_window(seq: int, start: float, end: float, estimates: Sequence[ModalityEstimate], state: FusionState,
                fusion: FusionConfig, window: WindowConfig, zones: ZoneConfig,
                head: Optional[PersonalHead] = None) -> tuple[FusedWindow, FusionState]:
    """Fuse one window's estimates.

    Each estimate counts with (configured modality weight x its quality); modalities that gave no
    estimate, or a field they could not estimate, are left out and the remaining weights
    renormalise per field. With a person's ``head`` (their profile's, from `affectedge
    personalise`) its arousal stands in for the weighted one wherever the window has its inputs.
    Confidence is the weighted quality summed over the configured
    modalities, divided by their total weight, so a missing or poor modality lowers it.
    """
    by_modality: dict[str, ModalityEstimate] = {}
    for est in estimates:
        if fusion.weights.get(est.modality, 0.0) > 0 and est.quality > 0:
            by_modality[est.modality] = est  # one per modality per window; the last wins

    contributions = {m: ModalityContribution(quality=e.quality, weight=fusion.weights[m] * e.quality)
                     for m, e in sorted(by_modality.items())}

    def collect(attr: str) -> Optional[tuple[float, ...]]:
        pairs = []
        for m, e in by_modality.items():
            v = getattr(e, attr)
            if v is not None:
                pairs.append((contributions[m].weight, tuple(v) if attr == "probabilities" else (v,)))
        return _weighted_mean(pairs) if pairs else None

    new_state: dict[str, SmoothedValue] = {}
    out: dict[str, Optional[tuple[float, ...]]] = {}
    personal = None
    if head is not None:
        a = head_arousal(head, list(by_modality.values()))
        personal = None if a is None else (a,)
    for name in ("probabilities", "valence", "arousal"):
        inst = personal if name == "arousal" and personal is not None else collect(name)
        value, kept = _smooth(name, inst, end, state.fields, window)
        out[name] = value
        if kept is not None:
            new_state[name] = kept

    total_weight = sum(w for w in fusion.weights.values() if w > 0)
    confidence = sum(c.weight for c in contributions.values()) / total_weight if contributions else 0.0

    probs = out["probabilities"]
    if probs is not None:
        s = sum(probs)
        probs = tuple(p / s for p in probs)
        assert len(probs) == len(LABELS)
    valence = _clip(out["valence"])
    arousal = _clip(out["arousal"])
    status = "ok" if contributions else "no_data"
    confidence = min(1.0, confidence)
    heard = _vocal_events(by_modality.values())
    zone, withheld = _zone(status, valence, arousal, confidence, zones, heard)
    fused = FusedWindow(
        seq=seq, start=start, end=end, status=status,
        probabilities=probs, valence=valence, arousal=arousal,
        zone=zone, confidence=confidence, modalities=contributions,
        faces_in_view=_faces_in_view(estimates), zone_withheld=withheld, vocal_events=heard,
    )
    return fused, FusionState(new_state)


def _zone(status: str, valence: Optional[float], arousal: Optional[float], confidence: float,
          zones: ZoneConfig, heard: Mapping[str, float]) -> tuple[Optional[str], Optional[str]]:
    """The zone, or None and why: no data, no arousal estimate, or too little confidence."""
    if status != "ok":
        return None, "no_data"
    if arousal is None:
        return None, "no_arousal"
    if confidence < zones.min_confidence:
        return None, "low_confidence"
    return zone_for(valence, arousal, zones, distress="distress" in heard), None


def _vocal_events(estimates) -> dict[str, float]:
    """Events heard by the fused modalities, with their peak scores."""
    out: dict[str, float] = {}
    for e in estimates:
        for name, score in e.events.items():
            out[name] = max(out.get(name, 0.0), score)
    return dict(sorted(out.items()))


def _faces_in_view(estimates: Sequence[ModalityEstimate]) -> Optional[int]:
    counts = [int(e.features["faces_in_view"]) for e in estimates if e.modality == "face" and "faces_in_view" in e.features]
    return max(counts) if counts else None


def _clip(v: Optional[tuple[float, ...]]) -> Optional[float]:
    return None if v is None else max(-1.0, min(1.0, v[0]))
