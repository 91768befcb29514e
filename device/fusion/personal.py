"""A person's own arousal model, applied inside fusion: a pure function of the window's estimates.

`affectedge personalise` learns a ``PersonalHead`` (perception/baseline.py) from caregivers'
labels and writes it into the person's profile only where it beat the generic output beyond the
interval (docs/personalise.md). Here it is applied: the window's inputs (physiology features as
z-scores against the resting baseline the head was trained with, each modality's arousal, the face's
valence, vocal events) -> P(heightened) by logistic regression -> arousal 2p - 1, which stands in
for the fused arousal before smoothing. An input a window lacks counts as its training mean (its
standardised value 0), so a missing sensor neither raises nor lowers the estimate.
"""

from __future__ import annotations

import math
from typing import Mapping, Optional, Sequence

from ..core.types import ModalityEstimate
from ..perception.baseline import PersonalHead, PhysiologyBaseline

_Z = {"z_hr": "hr_bpm", "z_rmssd": "rmssd_ms", "z_eda": "eda_tonic_us", "z_scr": "scr_per_min"}


def head_inputs(estimates: Sequence[ModalityEstimate], physiology: PhysiologyBaseline) -> dict[str, float]:
    """The inputs a head can read from one window's estimates (absent ones are left out)."""
    by = {e.modality: e for e in estimates}
    out: dict[str, float] = {}
    phys = by.get("physiology")
    if phys is not None:
        for name, feature in _Z.items():
            norm = getattr(physiology, feature)
            value = phys.features.get(feature)
            if norm is not None and value is not None and math.isfinite(value):
                out[name] = (value - norm.mean) / norm.sd
        rise = phys.features.get("eda_rise_us")
        if rise is not None and math.isfinite(rise):
            # Relative to the person's resting level, so one head fits a wrist and a palm.
            level = physiology.eda_tonic_us.mean if physiology.eda_tonic_us is not None else 1.0
            out["eda_rise"] = rise / max(abs(level), 0.01)
        if phys.arousal is not None:
            out["physiology_arousal"] = phys.arousal
    for modality in ("voice", "face"):
        e = by.get(modality)
        if e is not None and e.arousal is not None:
            out[f"{modality}_arousal"] = e.arousal
    face = by.get("face")
    if face is not None and face.valence is not None:
        out["face_valence"] = face.valence
    for e in estimates:
        for name in ("distress", "laughter"):
            if name in e.events:
                out[name] = max(out.get(name, 0.0), e.events[name])
    return out


def head_probability(head: PersonalHead, inputs: Mapping[str, float]) -> Optional[float]:
    """P(heightened) for one window, or None when the window has none of the head's inputs."""
    if not any(name in inputs for name in head.inputs):
        return None
    z = head.bias
    for name, c, s, w in zip(head.inputs, head.centre, head.scale, head.weights):
        if name in inputs:
            z += w * (inputs[name] - c) / s
    z = max(-40.0, min(40.0, z))
    return 1.0 / (1.0 + math.exp(-z))


def head_arousal(head: PersonalHead, estimates: Sequence[ModalityEstimate]) -> Optional[float]:
    p = head_probability(head, head_inputs(estimates, head.physiology))
    return None if p is None else 2.0 * p - 1.0
