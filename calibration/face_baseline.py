"""The face model's neutral-state output: the face analyser's own per-window probabilities at rest.

The recorder wraps the service's FaceAnalyser (built by ``build_analysers``: the same detector,
expression model, crop and quality gate) and keeps the class probabilities of every window of the
span in which it saw a face of adequate quality (``perception.face.min_quality``). The profile's
``face.neutral_probabilities`` is their mean: what the model says about this person's face when
they are calm (FER models often read a resting face as partly sad or angry). The face analyser
does not apply it yet: docs/calibration.md says why and what the follow-up is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from affectedge.perception.baseline import FaceBaseline
from affectedge.core.types import ModalityEstimate, Sample

from ..config.calibration import BaselineRecordingConfig
from .phase import PhaseSpan, SpanRecorder


@dataclass
class FaceBaselineResult:
    probabilities: list[tuple[float, ...]] = field(default_factory=list)  # one per window with a face
    frames: int = 0  # frames in the span
    face_frames: int = 0  # frames with a face of adequate quality
    problem: Optional[str] = None
    baseline: Optional[FaceBaseline] = None


class FaceBaselineRecorder(SpanRecorder):
    """Feeds the product's face analyser with the frames of the phase span and keeps its output."""

    def __init__(self, analyser, span: PhaseSpan):
        super().__init__(analyser, span)
        self.result = FaceBaselineResult()

    def admitted(self, sample: Sample) -> None:
        self.result.frames += 1

    def keep(self, estimate: ModalityEstimate, start: float, end: float) -> None:
        self.result.probabilities.append(tuple(estimate.probabilities))
        self.result.face_frames += int(estimate.features["face_frames"])

    def finish(self, config: BaselineRecordingConfig) -> FaceBaselineResult:
        res = self.result
        if res.face_frames < config.min_face_frames:
            res.problem = (f"too few frames with a face: a face of adequate quality in {res.face_frames} of {res.frames} frames, "
                           f"needs at least {config.min_face_frames} (calibration.baseline.min_face_frames); point the camera "
                           "at the person's face, at eye level, in good light")
            return res
        mean = np.mean(np.asarray(res.probabilities, dtype=np.float64), axis=0)
        res.baseline = FaceBaseline(neutral_probabilities=tuple(float(p) for p in mean / mean.sum()))
        return res
