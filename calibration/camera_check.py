"""Camera check: frames arriving, brightness, sharpness, and a face of usable size."""

from __future__ import annotations

import importlib
from typing import Callable, Optional

import numpy as np

from affectedge.core.types import Event, Sample, VideoFrame

from .checks import CheckResult, graded
from ..config.calibration import CameraCheckConfig
from .phase import PhaseSpan

SHARPNESS_WIDTH_PX = 320  # Laplacian variance depends on resolution; measure at one width

# (image BGR) -> heights in pixels of the faces found; None when this build has no face path.
FaceHeights = Callable[[np.ndarray], list[float]]


def project_face_detector() -> tuple[Optional[FaceHeights], str]:
    """The face detector of the face path (device/perception/face.py) when this build has it.

    The check never substitutes another detector: without the project's own, the face check is
    reported as unavailable.
    """
    try:
        face = importlib.import_module("affectedge.perception.face")
    except ImportError:
        return None, "no face detector in this build (the face path, affectedge.perception.face, is not installed)"
    factory = getattr(face, "face_heights_detector", None)
    if factory is None:
        return None, "the face path in this build does not offer face_heights_detector()"
    try:
        return factory(), ""
    except Exception as exc:  # a missing model file or runtime: say why, do not guess
        return None, f"the face detector cannot start ({exc})"


class CameraCheck:
    """Collects the camera's frames in the phase span (an analyser, so the pipeline feeds it)."""

    modality = "face"

    def __init__(self, config: CameraCheckConfig, span: PhaseSpan, detector: Optional[FaceHeights] = None,
                 detector_missing: str = ""):
        self.config = config
        self.span = span
        self.detector = detector
        self.detector_missing = detector_missing
        self.frames = 0
        self.first_t: Optional[float] = None
        self.last_t: Optional[float] = None
        self._next_t = -np.inf
        self.brightness: list[float] = []
        self.sharpness: list[float] = []
        self.face_heights: list[Optional[float]] = []  # per analysed frame: largest face or None
        self.size: Optional[tuple[int, int]] = None
        self._cv2 = importlib.import_module("cv2")

    def accepts(self, sample: Sample) -> bool:
        return isinstance(sample, VideoFrame)

    def push(self, sample: Sample) -> None:
        if not self.span.admits(sample.t):
            return
        self.frames += 1
        self.first_t = sample.t if self.first_t is None else self.first_t
        self.last_t = sample.t
        if sample.t < self._next_t:
            return
        self._next_t = sample.t + 1.0 / self.config.analysis_fps
        self._analyse(sample.image)

    def _analyse(self, image: np.ndarray) -> None:
        cv2 = self._cv2
        self.size = (image.shape[1], image.shape[0])
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
        self.brightness.append(float(grey.mean()))
        scale = SHARPNESS_WIDTH_PX / grey.shape[1]
        small = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        self.sharpness.append(float(cv2.Laplacian(small, cv2.CV_64F).var()))
        if self.detector is not None:
            heights = self.detector(image)
            self.face_heights.append(max(heights) if heights else None)

    def estimate(self, start: float, end: float):
        return None

    def take_events(self) -> list[Event]:
        return []

    # ------------------------------------------------------------------ verdicts

    def results(self, sensor: str = "camera") -> list[CheckResult]:
        c = self.config
        if self.frames == 0:
            return [CheckResult(sensor, "frames", "fail", "no frames in the check span",
                                "check that the camera is connected and enabled, and that no other program is using it")]
        span = (self.last_t - self.first_t) if self.frames > 1 else 0.0
        fps = (self.frames - 1) / span if span > 0 else 0.0
        w, h = self.size
        out = [CheckResult(sensor, "frames", "pass", f"{self.frames} frames in {span:.1f} s ({fps:.1f} fps, {w}x{h})")]

        b = float(np.median(self.brightness))
        fig = f"mean brightness {b:.0f}/255"
        if b < c.brightness_fail_below:
            out.append(CheckResult(sensor, "brightness", "fail", f"too dark: {fig}", f"add light in front of the person (needs >= {c.brightness_fail_below:.0f})"))
        elif b < c.brightness_warn_below:
            out.append(CheckResult(sensor, "brightness", "warn", f"dim: {fig}", f"more light in front of the person would help (good from {c.brightness_warn_below:.0f})"))
        elif b > c.brightness_fail_above:
            out.append(CheckResult(sensor, "brightness", "fail", f"too bright: {fig}", "the camera faces a window or lamp: turn it away from the light"))
        elif b > c.brightness_warn_above:
            out.append(CheckResult(sensor, "brightness", "warn", f"bright: {fig}", "avoid a window or lamp behind the person"))
        else:
            out.append(CheckResult(sensor, "brightness", "pass", fig))

        s = float(np.median(self.sharpness))
        if b < c.brightness_fail_below:
            out.append(CheckResult(sensor, "sharpness", "unavailable", f"sharpness {s:.0f}", "not judged: the picture is too dark to judge its sharpness"))
        else:
            status = graded(s, c.sharpness_fail_below, c.sharpness_warn_below)
            advice = "" if status == "pass" else f"blurred (needs >= {c.sharpness_fail_below:.0f}): clean the lens, check the focus, keep the camera still"
            out.append(CheckResult(sensor, "sharpness", status, f"sharpness {s:.0f} (Laplacian variance at {SHARPNESS_WIDTH_PX} px)", advice))

        out.extend(self._face_results(sensor))
        return out

    def _face_results(self, sensor: str) -> list[CheckResult]:
        c = self.config
        if self.detector is None:
            return [CheckResult(sensor, "face", "unavailable", "not measured", self.detector_missing)]
        n = len(self.face_heights)
        found = [h for h in self.face_heights if h is not None]
        frac = len(found) / n if n else 0.0
        fig = f"face in {len(found)} of {n} analysed frames ({frac:.0%})"
        status = graded(frac, c.face_fail_below_fraction, c.face_warn_below_fraction)
        advice = "" if status == "pass" else "point the camera at the person's face, at eye level, with nothing in between"
        out = [CheckResult(sensor, "face", status, fig, advice)]
        if found:
            px = float(np.median(found))
            status = graded(px, c.face_min_px, c.face_warn_px)
            advice = "" if status == "pass" else f"move the camera closer: the face needs >= {c.face_min_px:.0f} px"
            out.append(CheckResult(sensor, "face size", status, f"face {px:.0f} px tall", advice))
        return out
