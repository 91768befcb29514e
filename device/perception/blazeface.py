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


@dataclass(frozen=True, slots=True)
class Detection:
    """One face in normalised model-input coordinates: box as (xmin, ymin, xmax, ymax), keypoints (6, 2)."""

    score: float
    box: tuple[float, float, float, float]
    keypoints: np.ndarray

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]


def decode(regressors: np.ndarray, classificators: np.ndarray, min_score: float = 0.5) -> list[Detection]:
    """Raw model outputs -> weighted-NMS detections above ``min_score``, best first."""
    logits = classificators.reshape(NUM_ANCHORS)
    # sigmoid(x) >= s  <=>  x >= logit(s): threshold on the logits, decode only the survivors.
    threshold = math.log(min_score / (1.0 - min_score)) if 0.0 < min_score < 1.0 else -SCORE_CLIP
    idx = np.flatnonzero(logits >= threshold)
    if idx.size == 0:
        return []
    raw = regressors.reshape(NUM_ANCHORS, 16)[idx] / INPUT_SIZE
    centres = ANCHORS[idx]
    scores = 1.0 / (1.0 + np.exp(-np.clip(logits[idx], -SCORE_CLIP, SCORE_CLIP)))
    cx = raw[:, 0] + centres[:, 0]
    cy = raw[:, 1] + centres[:, 1]
    half_w = raw[:, 2] / 2
    half_h = raw[:, 3] / 2
    boxes = np.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], axis=1)
    keypoints = raw[:, 4:].reshape(-1, NUM_KEYPOINTS, 2) + centres[:, None, :]
    return weighted_nms(scores, boxes, keypoints)


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    ix = np.clip(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0, None)
    iy = np.clip(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0, None)
    inter = ix * iy
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-12)


def weighted_nms(scores: np.ndarray, boxes: np.ndarray, keypoints: np.ndarray, iou_threshold: float = NMS_IOU) -> list[Detection]:
    """MediaPipe's WEIGHTED suppression: each cluster of overlapping candidates (IoU above the
    threshold with its best member) becomes one detection whose box and keypoints are the
    score-weighted mean of the cluster, with the best member's score."""
    order = np.argsort(-scores, kind="stable")
    scores, boxes, keypoints = scores[order], boxes[order], keypoints[order]
    remaining = np.ones(len(scores), dtype=bool)
    out: list[Detection] = []
    for i in range(len(scores)):
        if not remaining[i]:
            continue
        cand = np.flatnonzero(remaining)
        members = cand[_iou(boxes[i], boxes[cand]) > iou_threshold]
        members = members if members.size else np.array([i])
        remaining[members] = False
        w = scores[members]
        total = float(w.sum())
        box = (w @ boxes[members]) / total
        kps = np.tensordot(w, keypoints[members], axes=1) / total
        out.append(Detection(float(scores[i]), tuple(float(v) for v in box), kps))
    return out
