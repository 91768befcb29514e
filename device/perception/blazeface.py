"""BlazeFace (short range) anchors, box decoding and weighted non-maximum suppression.

Written from the model's documented configuration in MediaPipe's
``mediapipe/modules/face_detection/face_detection_short_range.pbtxt`` (0.10.21):

* SsdAnchorsCalculator: num_layers 4, min_scale 0.1484375, max_scale 0.75, input 128x128,
  anchor_offset 0.5, strides [8, 16, 16, 16], aspect_ratios [1.0], fixed_anchor_size true
  -> 16x16x2 + 8x8x6 = 896 anchors of unit size.
* TensorsToDetectionsCalculator: 896 boxes x 16 coords (box centre x/y, w/h, then 6 keypoints
  x/y, "reverse_output_order"), x/y/w/h scale 128, sigmoid scores clipped at +-100,
  min_score_thresh 0.5.
* NonMaxSuppressionCalculator: IoU, min_suppression_threshold 0.3, algorithm WEIGHTED.

Keypoints (subject's point of view): right eye, left eye, nose tip, mouth centre, right ear
tragion, left ear tragion. Coordinates here are normalised to the 128x128 model input.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

INPUT_SIZE = 128
STRIDES = (8, 16, 16, 16)
NUM_ANCHORS = 896
NUM_KEYPOINTS = 6
RIGHT_EYE, LEFT_EYE, NOSE, MOUTH, RIGHT_EAR, LEFT_EAR = range(6)
SCORE_CLIP = 100.0
NMS_IOU = 0.3


def ssd_anchors(input_size: int = INPUT_SIZE, strides: tuple[int, ...] = STRIDES) -> np.ndarray:
    """Anchor centres (N, 2) as x, y in [0, 1], in the model's output order.

    With fixed_anchor_size every anchor is 1x1, so only the centres matter. Consecutive layers
    with the same stride share a grid; each layer adds two anchors per cell (aspect ratio 1 and
    the interpolated-scale anchor MediaPipe adds by default).
    """
    centres = []
    layer = 0
    while layer < len(strides):
        stride = strides[layer]
        per_cell = 0
        while layer < len(strides) and strides[layer] == stride:
            per_cell += 2
            layer += 1
        cells = math.ceil(input_size / stride)
        for y in range(cells):
            for x in range(cells):
                for _ in range(per_cell):
                    centres.append(((x + 0.5) / cells, (y + 0.5) / cells))
    return np.asarray(centres, dtype=np.float32)


ANCHORS = ssd_anchors()
assert ANCHORS.shape == (NUM_ANCHORS, 2)


# The columns of a decoded row that are x (box centre, keypoints) and y positions; 2 and 3 are
# the box width and height.
X_COLUMNS = [0, 4, 6, 8, 10, 12, 14]
Y_COLUMNS = [1, 5, 7, 9, 11, 13, 15]


def anchor_offsets(anchors: np.ndarray = ANCHORS) -> np.ndarray:
    """(N, 16) values to add to the scaled regressors: the anchor centre under every x and y
    position, nothing under the box width and height."""
    offsets = np.zeros((len(anchors), 16), np.float32)
    offsets[:, X_COLUMNS] = anchors[:, :1]
    offsets[:, Y_COLUMNS] = anchors[:, 1:]
    return offsets


# Model outputs are in input pixels relative to the anchor: value / 128 + offset is normalised.
NORMALISED = (1.0 / INPUT_SIZE, anchor_offsets())


@dataclass(frozen=True, slots=True)
class Detection:
    """One face: box as (xmin, ymin, xmax, ymax) and keypoints (6, 2), in the coordinates decode()
    was asked for (normalised model input by default, frame pixels from FacePath)."""

    score: float
    box: tuple[float, float, float, float]
    keypoints: np.ndarray

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]


def decode(regressors: np.ndarray, classificators: np.ndarray, min_score: float = 0.5,
           transform: tuple[float, np.ndarray] = NORMALISED) -> list[Detection]:
    """Raw model outputs -> weighted-NMS detections above ``min_score``, best first.

    ``transform`` = (scale, offsets (N, 16)): each anchor's 16 values become ``raw * scale +
    offsets[anchor]``. The default gives normalised input coordinates; a caller folds its own
    letterbox-to-pixels mapping into the table once per frame size instead of once per detection.
    """
    scores, values = candidates(regressors, classificators, min_score, transform)
    return weighted_nms(scores, values) if len(scores) else []


def candidates(regressors: np.ndarray, classificators: np.ndarray, min_score: float,
               transform: tuple[float, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The anchors scoring at least ``min_score``: their scores (K,) and decoded values (K, 16),
    before suppression (so that several passes over one frame can be suppressed together)."""
    logits = classificators.reshape(NUM_ANCHORS)
    # sigmoid(x) >= s  <=>  x >= logit(s): threshold on the logits, decode only the survivors.
    threshold = math.log(min_score / (1.0 - min_score)) if 0.0 < min_score < 1.0 else -SCORE_CLIP
    idx = np.flatnonzero(logits >= threshold)
    scale, offsets = transform
    values = regressors.reshape(NUM_ANCHORS, 16)[idx] * scale + offsets[idx]
    scores = 1.0 / (1.0 + np.exp(-np.clip(logits[idx], -SCORE_CLIP, SCORE_CLIP)))
    return scores, values


def weighted_nms(scores: np.ndarray, values: np.ndarray, iou_threshold: float = NMS_IOU) -> list[Detection]:
    """MediaPipe's WEIGHTED suppression over decoded candidates (rows: centre x, y, width, height,
    6 keypoints x, y). Each cluster of candidates overlapping its best member by IoU above the
    threshold becomes one detection: the score-weighted mean of the cluster's values (the mean of
    centres and sizes is the mean of the corners, as MediaPipe averages them), with the best
    member's score."""
    # A face yields about ten candidates: plain Python for the overlaps costs less than NumPy's
    # per-call overhead, which right after an invoke runs from cold caches (docs/vision.md).
    score_list = scores.tolist()
    order = sorted(range(len(score_list)), key=score_list.__getitem__, reverse=True)
    boxes = []
    for cx, cy, w, h in values[:, :4].tolist():
        boxes.append((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, w * h))
    out: list[Detection] = []
    remaining = order
    while remaining:
        top = remaining[0]
        tx0, ty0, tx1, ty1, tarea = boxes[top]
        members, rest = [], []
        for j in remaining:
            x0, y0, x1, y1, area = boxes[j]
            iw, ih = min(tx1, x1) - max(tx0, x0), min(ty1, y1) - max(ty0, y0)
            inter = iw * ih if iw > 0 and ih > 0 else 0.0
            (members if inter > iou_threshold * (tarea + area - inter) else rest).append(j)
        remaining = rest
        w = scores[members]
        v = (w @ values[members]) / float(w.sum())
        cx, cy, hw, hh = float(v[0]), float(v[1]), float(v[2]) / 2, float(v[3]) / 2
        out.append(Detection(score_list[top], (cx - hw, cy - hh, cx + hw, cy + hh), v[4:].reshape(NUM_KEYPOINTS, 2)))
    return out
