"""Core value types that flow through the pipeline.

Every sample carries ``t``: the source's monotonic timestamp in seconds. Replay sources use the
session timeline (seconds from the start of the recording), live sources ``time.monotonic()``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal, Mapping, Optional

import numpy as np

# The one label set every modality maps onto (order is part of the record format).
LABELS: tuple[str, ...] = ("neutral", "happy", "sad", "angry", "fearful", "surprised", "disgusted")

Modality = Literal["face", "voice", "physiology"]
MODALITIES: tuple[str, ...] = ("face", "voice", "physiology")

Zone = Literal["blue", "green", "yellow", "red"]
ZONES: tuple[str, ...] = ("blue", "green", "yellow", "red")


# ---------------------------------------------------------------- samples (sources -> perception)


@dataclass(frozen=True, slots=True)
class VideoFrame:
    """One decoded camera frame (BGR uint8, as OpenCV and picamera2's BGR888 deliver it)."""

    t: float
    image: np.ndarray
    source: str = "camera"
    index: int = 0


@dataclass(frozen=True, slots=True)
class AudioChunk:
    """A block of mono float32 audio in [-1, 1]; ``t`` is the time of its first sample."""

    t: float
    samples: np.ndarray
    sample_rate: int
    source: str = "microphone"

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate


PhysioKind = Literal["hr", "rr", "eda", "contact"]


@dataclass(frozen=True, slots=True)
class PhysioSample:
    """One physiological reading.

    kind: ``hr`` beats per minute, ``rr`` an inter-beat interval in seconds (``t`` is the time of
    the beat that ends it), ``eda`` skin conductance in microsiemens, ``contact`` 1.0/0.0 from a
    sensor-contact bit.
    """

    t: float
    kind: str
    value: float
    source: str = "physiology"


Sample = VideoFrame | AudioChunk | PhysioSample


@dataclass(frozen=True, slots=True)
class Event:
    """Something that happened to the pipeline rather than to the person (source lost, packet dropped)."""

    t: float
    kind: str
    source: str
    detail: Mapping[str, object] = field(default_factory=dict)


# ---------------------------------------------------------------- perception -> fusion


def _check_unit(name: str, value: Optional[float], low: float, high: float) -> None:
    if value is None:
        return
    if not (math.isfinite(value) and low <= value <= high):
        raise ValueError(f"{name} must be a finite number in [{low}, {high}], got {value!r}")


@dataclass(frozen=True, slots=True)
class ModalityEstimate:
    """What one modality says about one window.

    A field the modality cannot estimate is ``None``: it never fills in a guess. ``basis`` says
    what the estimate is relative to ("person:<pseudonym>" baseline or "population" defaults).
    ``features`` are the numbers behind the estimate (kept on the device, never published).
    ``events`` are the vocal events heard in the window (distress, laughter, shouting) with their
    peak scores; only the voice gives them.
    """

    modality: str
    start: float
    end: float
    quality: float
    probabilities: Optional[tuple[float, ...]] = None
    valence: Optional[float] = None
    arousal: Optional[float] = None
    basis: Optional[str] = None
    features: Mapping[str, float] = field(default_factory=dict)
    events: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.modality not in MODALITIES:
            raise ValueError(f"unknown modality {self.modality!r}; expected one of {MODALITIES}")
        if not self.end >= self.start:
            raise ValueError(f"estimate span ends ({self.end}) before it starts ({self.start})")
        _check_unit("quality", self.quality, 0.0, 1.0)
        _check_unit("valence", self.valence, -1.0, 1.0)
        _check_unit("arousal", self.arousal, -1.0, 1.0)
        for name, score in self.events.items():
            _check_unit(f"event {name}", score, 0.0, 1.0)
        if self.probabilities is not None:
            p = self.probabilities
            if len(p) != len(LABELS):
                raise ValueError(f"probabilities need {len(LABELS)} entries ({', '.join(LABELS)}), got {len(p)}")
            if any(not math.isfinite(x) or x < 0 for x in p) or abs(sum(p) - 1.0) > 1e-3:
                raise ValueError(f"probabilities must be non-negative and sum to 1, got {p}")


@dataclass(frozen=True, slots=True)
class ModalityContribution:
    """How much one modality counted in a fused window."""

    quality: float
    weight: float


@dataclass(frozen=True, slots=True)
class FusedWindow:
    """The fused estimate for one window [start, end).

    ``status`` is "ok" or "no_data"; a no-data window carries no probabilities, valence, arousal or
    zone (it is not "neutral"). ``zone`` may also be None with data present when no modality
    estimated arousal, since the zones are defined on arousal. ``faces_in_view`` > 1 says that
    several people were in view, so the face read may not be the subject's. ``vocal_events`` are the
    events heard in the window (a distress event keeps the zone out of green).
    """

    seq: int
    start: float
    end: float
    status: Literal["ok", "no_data"]
    probabilities: Optional[tuple[float, ...]]
    valence: Optional[float]
    arousal: Optional[float]
    zone: Optional[str]
    confidence: float
    modalities: Mapping[str, ModalityContribution]
    faces_in_view: Optional[int] = None  # most faces in one frame of the window; None without a face estimate
    zone_withheld: Optional[str] = None  # why zone is None: "no_data", "no_arousal" or "low_confidence"
    vocal_events: Mapping[str, float] = field(default_factory=dict)  # event -> peak score heard in the window

    def top_label(self) -> Optional[tuple[str, float]]:
        if self.probabilities is None:
            return None
        i = int(np.argmax(self.probabilities))
        return LABELS[i], self.probabilities[i]
