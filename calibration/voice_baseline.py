"""The resting voice baseline: the voice analyser's own pitch and loudness, per window of speech.

The recorder wraps the service's VoiceAnalyser (built by ``build_analysers``, so the VAD, the
prosody code and every setting are the service's) and keeps, for each window of the span that the
analyser calls speech, the ``f0_median_hz`` and ``loudness_db`` it reports. At run time the
analyser z-scores exactly those per-window figures against ``voice.f0_hz`` and
``voice.loudness_db`` (device/perception/voice.py), so the profile's mean and SD are taken over
them: like is compared with like, as for the physiology baseline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from affectedge.perception.baseline import MeanSd, VoiceBaseline
from affectedge.perception.voice import POPULATION_F0_HZ, POPULATION_LOUDNESS_DB
from affectedge.core.types import ModalityEstimate, Sample

from ..config.calibration import BaselineRecordingConfig
from .phase import PhaseSpan, SpanRecorder


@dataclass
class VoiceBaselineResult:
    """Per-window figures of the speech in the span, and the verdict on them."""

    f0_hz: list[float] = field(default_factory=list)  # windows of speech with a pitch
    event_s: float = 0.0  # windows left out because a vocal event was heard in them
    loudness_db: list[float] = field(default_factory=list)  # every window of speech
    voiced_s: float = 0.0  # length of the windows with a pitch
    speech_s: float = 0.0  # length of all windows of speech
    audio_s: float = 0.0
    problem: Optional[str] = None
    sd_floored: list[str] = field(default_factory=list)
    baseline: Optional[VoiceBaseline] = None


def _norm(values: list[float], population_sd: float, floor_fraction: float) -> tuple[MeanSd, bool]:
    v = np.asarray(values, dtype=np.float64)
    sd = float(v.std(ddof=1)) if len(v) > 1 else 0.0
    floor = floor_fraction * population_sd
    floored = sd < floor or sd <= 0.0
    return MeanSd(mean=float(v.mean()), sd=max(floor, 1e-6) if floored else sd), floored


class VoiceBaselineRecorder(SpanRecorder):
    """Feeds the product's voice analyser with the audio of the phase span and keeps its figures."""

    def __init__(self, analyser, span: PhaseSpan):
        if getattr(analyser, "basis", "population") != "population":
            raise ValueError("the voice baseline is recorded with an analyser that has no baseline")
        super().__init__(analyser, span)
        self.result = VoiceBaselineResult()

    def admitted(self, sample: Sample) -> None:
        self.result.audio_s += len(sample.samples) / sample.sample_rate

    def keep(self, estimate: ModalityEstimate, start: float, end: float) -> None:
        res = self.result
        if estimate.events:
            # Crying, screaming or laughter is not the person's calm voice (docs/voice.md).
            res.event_s += end - start
            return
        loudness = estimate.features.get("loudness_db")
        if loudness is not None:
            res.loudness_db.append(float(loudness))
            res.speech_s += end - start
        f0 = estimate.features.get("f0_median_hz")
        if f0 is not None:
            res.f0_hz.append(float(f0))
            res.voiced_s += end - start

    def finish(self, config: BaselineRecordingConfig) -> VoiceBaselineResult:
        """Judge the recording: enough voiced speech, then the mean and SD (SD floored as for physiology)."""
        res = self.result
        if res.voiced_s < config.min_voiced_speech_s:
            res.problem = (f"too little voiced speech: {res.voiced_s:.1f} s in {res.audio_s:.0f} s of audio, needs at least "
                           f"{config.min_voiced_speech_s:g} s (calibration.baseline.min_voiced_speech_s); ask the person "
                           "to talk calmly during the recording and check the microphone")
            return res
        f0, f0_floored = _norm(res.f0_hz, POPULATION_F0_HZ[1], config.sd_floor_fraction)
        loud, loud_floored = _norm(res.loudness_db, POPULATION_LOUDNESS_DB[1], config.sd_floor_fraction)
        res.sd_floored = [name for name, floored in (("f0", f0_floored), ("loudness", loud_floored)) if floored]
        res.baseline = VoiceBaseline(f0_hz=f0, loudness_db=loud)
        return res
