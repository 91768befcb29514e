"""The face stride's fidelity: a face setting against the every-frame path on the same real video.

``fidelity(a, b)`` compares two runs' face estimates window by window: top-label agreement on the
windows where both read a face, the 99th percentile of |valence| and |arousal| differences there,
and face coverage (windows with a face estimate) of each. ``face_windows(video, face)`` replays a
video through the device's face analyser (15 fps, 200 ms windows, as the camera is configured) and
returns its estimates. Used by tools/bench/bench_replay.py and tests/test_face_stride.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional

import numpy as np

# The every-frame path (FaceConfig's default) and the best stride measured (docs/vision.md, "Face
# stride"): the detector on every third frame, the expression model on every face frame, the box
# carried forward only while the face crop stays within 4 grey levels of the detected one.
# tools/bench/bench_replay.py measures both side by side.
EVERY_FRAME = {"detect_every": 1, "expression_frames": 0}
STRIDE = {"detect_every": 3, "expression_frames": 0, "track_max_change": 4.0}

# affectedge's own expression model (issue 25), on ONNX Runtime beside the LiteRT detector: on every
# face frame, and once per 200 ms window on the window's best-quality face frame.
TRAINED_EVERY_FRAME = {"expression_model": "affectedge_fer_vgg", "expression_backend": "onnx", "expression_frames": 0}
TRAINED_PER_WINDOW = {"expression_model": "affectedge_fer_vgg", "expression_backend": "onnx", "expression_frames": 1}

# The bound (issue 14): what "loses nothing" means here.
MIN_TOP_AGREEMENT = 0.98
MAX_P99_DIFF = 0.05
MAX_COVERAGE_POINTS = 1.0


@dataclass(frozen=True)
class Fidelity:
    windows: int
    both: int                   # windows where both runs read a face
    top_agreement: float
    valence_p99: float
    arousal_p99: float
    coverage_a: float
    coverage_b: float

    @property
    def coverage_points(self) -> float:
        return 100.0 * abs(self.coverage_a - self.coverage_b)

    def within_bound(self) -> bool:
        # A clip with no face in either run has nothing to disagree about but its coverage.
        return ((self.both == 0 or self.top_agreement >= MIN_TOP_AGREEMENT) and self.valence_p99 <= MAX_P99_DIFF
                and self.arousal_p99 <= MAX_P99_DIFF and self.coverage_points <= MAX_COVERAGE_POINTS)

    def line(self) -> str:
        return (f"top label {self.top_agreement:.1%} of {self.both} face windows, |dvalence| p99 {self.valence_p99:.3f}, "
                f"|darousal| p99 {self.arousal_p99:.3f}, coverage {self.coverage_a:.1%} vs {self.coverage_b:.1%}")


def fidelity(a: list, b: list) -> Fidelity:
    """``a`` and ``b``: per window, None (no face) or (probabilities, valence, arousal)."""
    assert len(a) == len(b), "the runs cover different windows"
    both = [(x, y) for x, y in zip(a, b) if x is not None and y is not None]
    agree = np.mean([np.argmax(x[0]) == np.argmax(y[0]) for x, y in both]) if both else float("nan")
    dv = np.abs([x[1] - y[1] for x, y in both]) if both else np.zeros(1)
    da = np.abs([x[2] - y[2] for x, y in both]) if both else np.zeros(1)
    return Fidelity(len(a), len(both), float(agree), float(np.percentile(dv, 99)), float(np.percentile(da, 99)),
                    float(np.mean([x is not None for x in a])), float(np.mean([y is not None for y in b])))


def video_frames_at(path: Path, fps: float = 15.0) -> Iterable[tuple[float, np.ndarray]]:
    """(t, BGR frame) of a video file at ``fps`` (frames between dropped, as the camera source does)."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    rate = cap.get(cv2.CAP_PROP_FPS) or fps
    step, next_t, i = 1.0 / fps, 0.0, 0
    try:
        while True:
            ok = cap.grab()
            if not ok:
                break
            t = i / rate
            i += 1
            if t + 1e-9 < next_t:
                continue
            ok, frame = cap.retrieve()
            if not ok:
                break
            next_t += step
            yield t, frame
    finally:
        cap.release()


def face_windows(frames: Iterable[tuple[float, np.ndarray]], face: Optional[dict] = None) -> list:
    """The face analyser's estimate per 200 ms window over ``frames``, with FaceConfig overrides."""
    from affectedge.perception.face import FaceAnalyser, FaceConfig
    from affectedge.core.types import VideoFrame

    config = FaceConfig(**(face or {}))
    analyser = FaceAnalyser(config)
    out, start = [], 0.0
    for t, image in frames:
        while t >= start + 0.2:
            out.append(_row(analyser.estimate(start, start + 0.2)))
            start += 0.2
        analyser.push(VideoFrame(t=t, source="camera", image=image))
    out.append(_row(analyser.estimate(start, start + 0.2)))
    return out


def _row(est) -> Optional[tuple]:
    return None if est is None else (np.array(est.probabilities), est.valence, est.arousal)
