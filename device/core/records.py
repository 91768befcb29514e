"""The one serialisation of windows, estimates and events, shared by every sink.

Floats are rounded to 6 decimals and keys sorted, so the same session gives byte-identical
records, and x86-64 and arm64 runs compare within float tolerance.
"""

from __future__ import annotations

import json
from typing import Any, Optional

from .types import LABELS, Event, FusedWindow, ModalityEstimate

DIGITS = 6


def _r(x: Optional[float]) -> Optional[float]:
    return None if x is None else round(float(x), DIGITS)


def _probs(p) -> Optional[dict[str, float]]:
    return None if p is None else {label: _r(v) for label, v in zip(LABELS, p)}


def window_record(w: FusedWindow) -> dict[str, Any]:
    top = w.top_label()
    return {
        "seq": w.seq,
        "start": _r(w.start),
        "end": _r(w.end),
        "status": w.status,
        "probabilities": _probs(w.probabilities),
        "top": None if top is None else top[0],
        "valence": _r(w.valence),
        "arousal": _r(w.arousal),
        "zone": w.zone,
        "confidence": _r(w.confidence),
        "modalities": {m: {"quality": _r(c.quality), "weight": _r(c.weight)} for m, c in sorted(w.modalities.items())},
        "faces_in_view": w.faces_in_view,
        "zone_withheld": w.zone_withheld,
        "vocal_events": {k: _r(v) for k, v in sorted(w.vocal_events.items())},
    }


def estimate_record(e: ModalityEstimate) -> dict[str, Any]:
    return {
        "modality": e.modality,
        "start": _r(e.start),
        "end": _r(e.end),
        "quality": _r(e.quality),
        "probabilities": _probs(e.probabilities),
        "valence": _r(e.valence),
        "arousal": _r(e.arousal),
        "basis": e.basis,
        "features": {k: _r(v) for k, v in sorted(e.features.items())},
        "events": {k: _r(v) for k, v in sorted(e.events.items())},
    }


def event_record(e: Event) -> dict[str, Any]:
    return {"t": _r(e.t), "kind": e.kind, "source": e.source, "detail": dict(e.detail)}


def dumps(record: dict[str, Any]) -> str:
    """Canonical JSON: sorted keys, no spaces, NaN refused."""
    return json.dumps(record, sort_keys=True, separators=(",", ":"), allow_nan=False, default=str)
