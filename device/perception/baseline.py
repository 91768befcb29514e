"""The per-person baseline profile: resting means and spreads that estimates are relative to.

`affectedge calibrate` writes one YAML file per person from a calm recording; the analysers read
it through :func:`load_baseline`. Without a profile the physiology analyser falls back to
:data:`POPULATION_PHYSIOLOGY` (coarse, cited in docs/physiology.md) and says so in its ``basis``.
"""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path
from typing import Literal, Optional

from pydantic import Field, field_validator, model_validator

from ..core.config_base import StrictModel
from ..core.config_yaml import load_model_file
from ..core.types import LABELS

SCHEMA_VERSION = 1  # the profile format this build reads (and the calibration tool writes)


class MeanSd(StrictModel):
    """A resting mean and its standard deviation (the unit of a z-score)."""

    mean: float = Field(description="Mean over the calm calibration recording.")
    sd: float = Field(gt=0, description="Standard deviation over the calibration recording (> 0; it divides).")

    @field_validator("mean", "sd")
    @classmethod
    def _finite(cls, v: float) -> float:
        if not math.isfinite(v):
            raise ValueError("must be a finite number")
        return v


class PhysiologyBaseline(StrictModel):
    """Resting physiology. An entry left out (no such sensor at calibration) uses the population default."""

    hr_bpm: Optional[MeanSd] = Field(None, description="Heart rate, beats per minute.")
    rmssd_ms: Optional[MeanSd] = Field(None, description="RMSSD of RR intervals over the analyser's RMSSD span, milliseconds.")
    eda_tonic_us: Optional[MeanSd] = Field(None, description="Tonic skin conductance level, microsiemens.")
    scr_per_min: Optional[MeanSd] = Field(None, description="Skin conductance responses per minute.")


class VoiceBaseline(StrictModel):
    """Voice while speaking at rest: the voice analyser's per-window figures (docs/calibration.md)."""

    f0_hz: MeanSd = Field(description="Median fundamental frequency of the voiced speech in the analyser's context span, over the windows of speech, Hz.")
    loudness_db: MeanSd = Field(description="Mean frame level of the speech in the analyser's context span, over the windows of speech, dB re full scale.")


class FaceBaseline(StrictModel):
    """The face model's output on this person's neutral face (it is rarely exactly 'neutral')."""

    neutral_probabilities: tuple[float, ...] = Field(
        description=f"Mean class probabilities over a neutral recording, in the order {', '.join(LABELS)}."
    )

    @field_validator("neutral_probabilities")
    @classmethod
    def _distribution(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if len(v) != len(LABELS):
            raise ValueError(f"needs {len(LABELS)} entries ({', '.join(LABELS)}), got {len(v)}")
        if any(not math.isfinite(p) or p < 0 for p in v) or abs(sum(v) - 1.0) > 1e-3:
            raise ValueError("must be non-negative and sum to 1")
        return v


# What a personal head reads from a window's estimates (fusion/personal.py computes them).
HEAD_INPUTS: tuple[str, ...] = ("z_hr", "z_rmssd", "z_eda", "z_scr", "eda_rise", "physiology_arousal", "voice_arousal",
                                "face_arousal", "face_valence", "distress", "laughter")


class PersonalHead(StrictModel):
    """A per-person model learned from caregivers' labels (`affectedge personalise`): logistic
    regression from the window's inputs to P(heightened), applied by fusion as arousal = 2p - 1."""

    target: Literal["state", "zone"] = Field(description="What it was trained on: state labels (stress against rest) or zone labels (yellow/red against blue/green).")
    inputs: tuple[str, ...] = Field(description=f"Input names, in the order of the weights; any of {', '.join(HEAD_INPUTS)}.")
    centre: tuple[float, ...] = Field(description="Per input, the training mean subtracted before the weights.")
    scale: tuple[float, ...] = Field(description="Per input, the training SD divided by before the weights (> 0).")
    weights: tuple[float, ...] = Field(description="Logistic-regression weights, one per input.")
    bias: float = Field(description="Logistic-regression intercept.")
    physiology: PhysiologyBaseline = Field(default_factory=PhysiologyBaseline, description="The resting physiology the z inputs were computed against when it was trained (a copy, so the head stays what it was when the baseline is re-recorded).")
    trained: str = Field(description="When and on what it was trained: logs, labelled windows, and its cross-validated figures against the generic output.")

    @field_validator("inputs")
    @classmethod
    def _known(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [x for x in v if x not in HEAD_INPUTS]
        if unknown:
            raise ValueError(f"unknown input(s) {', '.join(unknown)}; known: {', '.join(HEAD_INPUTS)}")
        return v

    @field_validator("centre", "scale", "weights")
    @classmethod
    def _finite_all(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if not all(math.isfinite(x) for x in v):
            raise ValueError("every number must be finite")
        return v

    @model_validator(mode="after")
    def _shapes(self) -> "PersonalHead":
        n = len(self.inputs)
        if not (len(self.centre) == len(self.scale) == len(self.weights) == n):
            raise ValueError(f"centre, scale and weights need one number per input ({n})")
        if any(x <= 0 for x in self.scale):
            raise ValueError("scale must be > 0 (it divides)")
        return self


class PersonBaseline(StrictModel):
    """One person's baseline profile (the file `affectedge calibrate` writes)."""

    schema_version: Literal[1] = Field(description="Profile format version; this build reads version 1.")
    subject: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$",
        description="The subject's pseudonym (never their name); estimates cite it as basis 'person:<subject>'.",
    )
    created: datetime = Field(description="When the profile was made (ISO 8601).")
    physiology: PhysiologyBaseline = Field(default_factory=PhysiologyBaseline, description="Resting heart rate, HRV and EDA.")
    voice: Optional[VoiceBaseline] = Field(None, description="Resting voice (pitch and loudness while speaking); absent when the calibration had too little speech or no microphone: the voice path then uses population defaults.")
    face: Optional[FaceBaseline] = Field(None, description="No longer written: the model's output during a rest is not a neutral face to divide out (docs/calibration.md has the measurement). A profile from before that holds it is read and the section ignored.")
    personal_head: Optional[PersonalHead] = Field(None, description="A per-person arousal model learned from caregivers' labels by `affectedge personalise`, written only when it beat the generic output beyond the interval (docs/personalise.md); fusion applies it.")


# Coarse population norms, used per feature when a person's profile lacks it; one set per age
# group (perception.physiology.population). Sources and caveats are in docs/physiology.md
# ("Population defaults"): they describe groups, not this child.
POPULATION_NORMS: dict[str, PhysiologyBaseline] = {
    "child_6_12": PhysiologyBaseline(
        hr_bpm=MeanSd(mean=88.0, sd=12.0),  # resting HR, children 6-12 y (Fleming et al. 2011)
        rmssd_ms=MeanSd(mean=42.0, sd=15.0),  # short-term RMSSD, healthy adults (Nunan et al. 2010)
        eda_tonic_us=MeanSd(mean=5.0, sd=4.0),  # skin conductance level (Boucsein 2012; wrist reads lower)
        scr_per_min=MeanSd(mean=2.0, sd=1.5),  # non-specific SCRs at rest, 1-3/min (Dawson et al. 2017)
    ),
    "adult": PhysiologyBaseline(
        hr_bpm=MeanSd(mean=65.5, sd=7.7),  # daily resting HR of 92,457 adults (Quer et al. 2020)
        rmssd_ms=MeanSd(mean=42.0, sd=15.0),  # short-term RMSSD, healthy adults (Nunan et al. 2010)
        eda_tonic_us=MeanSd(mean=5.0, sd=4.0),
        scr_per_min=MeanSd(mean=2.0, sd=1.5),
    ),
}
POPULATION_PHYSIOLOGY = POPULATION_NORMS["child_6_12"]  # the product's first users: children


def load_baseline(path: Path | str) -> PersonBaseline:
    """Read and validate a baseline profile.

    Raises ConfigError whose problems read ``FILE:LINE: key.path: message``, one per mistake.
    """
    return load_model_file(path, PersonBaseline, "baseline profile")


def describe_profile(path: Optional[Path | str]) -> str:
    """Which baseline the service compares against: the profile with its subject and date, or none.

    Reads the profile, so a broken one stops the start-up here with its line number.
    """
    if not path:
        return "none (population defaults)"
    profile = load_baseline(path)
    return f"{path} (subject {profile.subject}, calibrated {profile.created.isoformat()})"
