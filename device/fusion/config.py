"""The fusion step's settings: window length and smoothing, modality weights, zone thresholds.

They live beside the pure functions that read them, so that fusion imports nothing above it;
``affectedge.config.app`` assembles them into the service configuration.
"""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from ..core.config_base import StrictModel
from ..core.types import MODALITIES


class WindowConfig(StrictModel):
    length_s: float = Field(0.2, ge=0.05, le=10.0, description="Fusion window length in seconds (CALMED labels every 200 ms).")
    smoothing_tau_s: float = Field(1.0, ge=0.0, le=60.0, description="Time constant of the exponential smoothing across windows, in seconds; 0 disables smoothing.")
    reset_after_s: float = Field(5.0, gt=0.0, description="After this long without data the smoothing starts afresh instead of resuming from stale state.")
    allowed_lateness_s: float = Field(0.5, ge=0.0, le=10.0, description="Live runs: how long a window stays open for late samples after its end. Later samples are counted and dropped.")


class FusionConfig(StrictModel):
    weights: dict[str, float] = Field(
        default_factory=lambda: {"face": 1.0, "voice": 0.6, "physiology": 0.8},
        description="Per-modality weight; each estimate counts with weight x quality. A modality left out here is not fused.",
    )

    @field_validator("weights")
    @classmethod
    def _known_modalities(cls, v: dict[str, float]) -> dict[str, float]:
        for k, w in v.items():
            if k not in MODALITIES:
                raise ValueError(f"unknown modality {k!r}; expected one of {', '.join(MODALITIES)}")
            if not (0.0 <= w <= 10.0):
                raise ValueError(f"weight of {k} must be in [0, 10], got {w}")
        if not any(w > 0 for w in v.values()):
            raise ValueError("at least one modality needs a weight above 0")
        return v


class ZoneConfig(StrictModel):
    """Zones of Regulation from fused valence and arousal, as the curriculum sorts its examples. See docs/zones.md."""

    blue_max_arousal: float = Field(-0.35, ge=-1, le=1, description="At or below this arousal the zone is blue (low alertness: tired, bored), whatever the valence.")
    blue_max_valence: float = Field(-0.35, ge=-1, le=1, description="At or below this valence, with arousal under distress_min_arousal, the zone is blue even at neutral arousal: sad, tired and unwell read low in valence before they read low in arousal (the curriculum puts them in blue, not green).")
    distress_min_arousal: float = Field(0.1, ge=-1, le=1, description="With valence at or below blue_max_valence, arousal at or above this is yellow (distressed, worried, frustrated: negative and stirred up) rather than blue.")
    yellow_min_arousal: float = Field(0.3, ge=-1, le=1, description="At or above this arousal the zone is yellow (heightened: worried, excited, frustrated, silly).")
    red_min_arousal: float = Field(0.65, ge=-1, le=1, description="At or above this arousal, with valence at or below red_max_valence, the zone is red (extreme: rage, terror).")
    red_max_valence: float = Field(-0.1, ge=-1, le=1, description="Red needs valence at or below this (or valence unknown); high arousal with positive valence stays yellow.")
    min_confidence: float = Field(0.05, ge=0, le=1, description="A window whose fused confidence is below this gets no zone (`zone_withheld: low_confidence`): a zone at confidence 0.00, from a first window with little data, is not something to show a caregiver. 0 shows a zone whenever arousal is known.")

    @model_validator(mode="after")
    def _ordered(self) -> "ZoneConfig":
        if not (self.blue_max_arousal < self.yellow_min_arousal <= self.red_min_arousal):
            raise ValueError("thresholds must satisfy blue_max_arousal < yellow_min_arousal <= red_min_arousal")
        if not (self.blue_max_arousal < self.distress_min_arousal <= self.yellow_min_arousal):
            raise ValueError("thresholds must satisfy blue_max_arousal < distress_min_arousal <= yellow_min_arousal")
        return self
