"""How far one face observation can be trusted: detector score, face size, blur and head pose.

Each factor is in [0, 1]; the frame's quality is their product, so any one bad factor (a blurred
frame, a profile view) pulls the frame down on its own. The per-window estimate averages frames
weighted by this quality. Pose comes from BlazeFace's six keypoints, a proxy rather than a head-pose
model: yaw from how far the nose tip sits off the eyes' midline (eyes and nose move little with
expression). The pitch proxy (nose tip between eye line and mouth) is reported but not used for
quality, because an open mouth (surprise) moves it as much as a nod does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .blazeface import LEFT_EYE, MOUTH, NOSE, RIGHT_EYE

# Variance of the Laplacian of the 64x64 grey crop at which blur costs half the quality. Sharp
# faces in the test photographs and clips measure 1100-7000; a Gaussian blur of sigma 2.5 on the
# frame brings the clips' faces to 200-1400 (medians 210-530), see docs/vision.md.
BLUR_HALF = 400.0
# Face box side (pixels, in the frame) at which size costs nothing: the crop is already
# downscaled to the model's 64x64 input.
FULL_SIZE_PX = 96.0
# Yaw proxy at which the pose factor reaches 0. A face turned about 45 degrees measures 0.6 (the
# nose tip 0.6 eye distances off the midline); FER2013 is mostly frontal faces.
MAX_YAW = 0.8


@dataclass(frozen=True, slots=True)
class PoseProxy:
    yaw: float    # signed, ~0 frontal
    pitch: float  # nose position between eye line (0) and mouth (1)
    roll_deg: float


def pose_proxy(keypoints: np.ndarray) -> PoseProxy:
    """Yaw/pitch/roll proxies from the keypoints (pixels) of one face."""
    # Plain floats: six points do not repay NumPy's per-call overhead on the per-frame path.
    kp = keypoints.tolist()
    (rx, ry), (lx, ly), (nx, ny), (mx, my) = kp[RIGHT_EYE], kp[LEFT_EYE], kp[NOSE], kp[MOUTH]
    ex, ey = lx - rx, ly - ry
    eye_dist = math.hypot(ex, ey) or 1e-6
    ux, uy = ex / eye_dist, ey / eye_dist       # along the eye line
    cx, cy = (rx + lx) / 2, (ry + ly) / 2
    yaw = ((nx - cx) * ux + (ny - cy) * uy) / eye_dist
    # Down the face, perpendicular to the eye line.
    down_mouth = (mx - cx) * -uy + (my - cy) * ux
    down_nose = (nx - cx) * -uy + (ny - cy) * ux
    pitch = down_nose / down_mouth if abs(down_mouth) > 1e-6 else 0.5
    return PoseProxy(yaw, pitch, math.degrees(math.atan2(ey, ex)))


def pose_factor(pose: PoseProxy) -> float:
    return max(0.0, 1.0 - abs(pose.yaw) / MAX_YAW)


def score_factor(score: float) -> float:
    # BlazeFace's sigmoid score is 0.5 where the model is undecided: count only the confidence
    # above that, so marginal detections (0.5-0.6: clouds, patterns) weigh almost nothing while
    # clear faces (0.9+) keep most of their weight.
    return min(1.0, max(0.0, 2.0 * score - 1.0))


def blur_factor(laplacian_variance: float) -> float:
    return laplacian_variance / (laplacian_variance + BLUR_HALF)


def size_factor(face_px: float) -> float:
    return min(1.0, face_px / FULL_SIZE_PX)


def frame_quality(score: float, face_px: float, laplacian_variance: float, pose: PoseProxy) -> float:
    """The product of the four factors, in [0, 1]."""
    return float(score_factor(score) * size_factor(face_px) * blur_factor(laplacian_variance) * pose_factor(pose))
