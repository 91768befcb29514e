"""An expression model's slot, and from its output to the product's labels, valence and arousal.

Any expression classifier plugs in through its manifest entry's ``expression`` section, no code:

    expression:
      size: 64                   # square input, pixels
      colour: grey               # grey | rgb | bgr
      layout: nhwc               # nhwc | nchw
      normalise: {divide: 127.5, subtract: 1.0}   # value = pixel / divide - subtract (per channel lists allowed)
      # or normalise: {mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225]} on pixel / 255
      crop: {scale: 1.2, shift_up: 0.13}          # around BlazeFace's box, in box sides
      classes: [angry, disgust, fear, happy, sad, surprise, neutral]   # per output index; null drops one
      scores: probabilities      # probabilities | logits (softmax applied)
      valence_index: 8           # optional: output indexes of valence and arousal in [-1, 1]
      arousal_index: 9
      temperature: 1.4           # optional: confidence calibration (tools/models/calibrate_expression.py)

Class names map onto the product's seven LABELS (FER2013's and AffectNet's names both do;
``contempt`` has no counterpart and is dropped, the rest renormalised). When the model gives
valence and arousal itself, those are used; otherwise they come from the probabilities by a
circumplex mapping: each category sits at fixed (pleasure, arousal) coordinates and a face's point
is the probability-weighted mean of them. The coordinates are the pleasure and arousal factor
scores of the emotion terms in Russell & Mehrabian (1977), "Evidence for a three-factor theory of
emotions", J. Research in Personality 11:273-294 (as tabulated for the six basic emotions in e.g.
Hoffmann et al. 2012, IEEE SMC), on a -1..1 scale; neutral is the origin. See docs/vision.md.

``temperature`` calibrates the confidence: a window's (or a photograph's) probabilities p become
p^(1/T), renormalised (temperature scaling of the log-probabilities, Guo et al. 2017), with T fitted
on a calibration split by tools/models/calibrate_expression.py. It never changes the top label, and
valence/arousal come from the uncalibrated probabilities, so it moves the confidence only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Optional

import numpy as np

from ..core.errors import ModelError
from ..core.types import LABELS

# Model class names (FER2013's, AffectNet's, and the product's own) -> product label.
CLASS_NAMES: dict[str, Optional[str]] = {
    **{label: label for label in LABELS},
    "anger": "angry", "disgust": "disgusted", "fear": "fearful", "happiness": "happy", "sadness": "sad",
    "surprise": "surprised", "contempt": None,
}

# (valence/pleasure, arousal) per product label; Russell & Mehrabian (1977).
CIRCUMPLEX: dict[str, tuple[float, float]] = {
    "neutral": (0.0, 0.0),
    "happy": (0.81, 0.51),
    "sad": (-0.63, -0.27),
    "angry": (-0.51, 0.59),
    "fearful": (-0.64, 0.60),
    "surprised": (0.40, 0.67),
    "disgusted": (-0.60, 0.35),
}
_VA = tuple(CIRCUMPLEX[lab] for lab in LABELS)


@dataclass(frozen=True)
class ExpressionSpec:
    """How to feed an expression model and read its output (the manifest's ``expression`` section)."""

    size: int
    colour: Literal["grey", "rgb", "bgr"]
    layout: Literal["nhwc", "nchw"]
    divide: tuple[float, ...]      # per channel (one value for grey): value = pixel / divide - subtract
    subtract: tuple[float, ...]
    crop_scale: float
    crop_shift_up: float
    label_index: tuple[tuple[int, ...], ...]  # per product label, the output indexes that feed it
    logits: bool
    n_classes: int
    valence_index: Optional[int] = None
    arousal_index: Optional[int] = None
    temperature: float = 1.0

    @property
    def channels(self) -> int:
        return 1 if self.colour == "grey" else 3

    @property
    def gives_valence_arousal(self) -> bool:
        return self.valence_index is not None

    def lookup_table(self) -> np.ndarray:
        """uint8 -> model input value, for cv2.LUT: shape (1, 256) grey or (1, 256, 3) colour."""
        x = np.arange(256, dtype=np.float32)
        cols = [x / np.float32(d) - np.float32(s) for d, s in zip(self.divide, self.subtract)]
        return cols[0].reshape(1, 256) if self.channels == 1 else np.stack(cols, axis=-1).reshape(1, 256, 3)

    def read(self, output: np.ndarray) -> tuple[np.ndarray, Optional[tuple[float, float]]]:
        """The model's output vector -> probabilities in LABELS order (renormalised: an INT8
        softmax can miss 1 by a rounding step) and the model's own (valence, arousal) if it has them."""
        out = np.asarray(output).reshape(-1).tolist()
        scores = out[: self.n_classes]
        if self.logits:
            top = max(scores)
            scores = [math.exp(x - top) for x in scores]
        p = [max(0.0, sum(scores[i] for i in idx)) for idx in self.label_index]
        total = sum(p)
        probabilities = np.array([x / total for x in p]) if total > 0 else np.full(len(LABELS), 1.0 / len(LABELS))
        va = None
        if self.valence_index is not None:
            va = (max(-1.0, min(1.0, out[self.valence_index])), max(-1.0, min(1.0, out[self.arousal_index])))
        return probabilities, va

    def calibrate(self, probabilities: np.ndarray) -> np.ndarray:
        """Temperature-scaled probabilities (the same array when T is 1, so nothing changes)."""
        if self.temperature == 1.0:
            return probabilities
        q = np.power(np.asarray(probabilities, dtype=float), 1.0 / self.temperature)
        return q / q.sum()


def parse_expression_spec(section: Optional[dict], where: str, n_outputs: int) -> ExpressionSpec:
    """The manifest's ``expression`` section, checked; ``where`` names the manifest and entry in errors."""
    if not section:
        raise ModelError(f"{where}: no 'expression' section, so the face path cannot use it as an expression model "
                         "(size, colour, layout, normalise, crop, classes, scores; see docs/vision.md)")
    try:
        colour = str(section.get("colour", "grey"))
        layout = str(section.get("layout", "nhwc"))
        if colour not in ("grey", "rgb", "bgr") or layout not in ("nhwc", "nchw"):
            raise ValueError(f"colour must be grey/rgb/bgr and layout nhwc/nchw, got {colour!r}, {layout!r}")
        channels = 1 if colour == "grey" else 3
        norm = section.get("normalise") or {"divide": 255.0, "subtract": 0.0}
        if "mean" in norm:
            mean = [float(v) for v in np.broadcast_to(norm["mean"], channels)]
            std = [float(v) for v in np.broadcast_to(norm["std"], channels)]
            divide, subtract = tuple(255.0 * s for s in std), tuple(m / s for m, s in zip(mean, std))
        else:
            divide = tuple(float(v) for v in np.broadcast_to(norm["divide"], channels))
            subtract = tuple(float(v) for v in np.broadcast_to(norm.get("subtract", 0.0), channels))
        classes = list(section["classes"])
        unknown = [c for c in classes if c is not None and str(c).lower() not in CLASS_NAMES]
        if unknown:
            raise ValueError(f"classes {unknown} have no counterpart among {', '.join(LABELS)} (use null to drop a class)")
        mapped = [None if c is None else CLASS_NAMES[str(c).lower()] for c in classes]
        label_index = tuple(tuple(i for i, m in enumerate(mapped) if m == lab) for lab in LABELS)
        vi, ai = section.get("valence_index"), section.get("arousal_index")
        if (vi is None) != (ai is None):
            raise ValueError("valence_index and arousal_index come together")
        width = max([len(classes)] + [int(i) + 1 for i in (vi, ai) if i is not None])
        if width > n_outputs:
            raise ValueError(f"the section names {width} output values, the model's output has {n_outputs}")
        crop = section.get("crop") or {}
        spec = ExpressionSpec(
            size=int(section["size"]), colour=colour, layout=layout, divide=divide, subtract=subtract,
            crop_scale=float(crop.get("scale", 1.2)), crop_shift_up=float(crop.get("shift_up", 0.13)),
            label_index=label_index, logits=str(section.get("scores", "probabilities")) == "logits",
            n_classes=len(classes), valence_index=None if vi is None else int(vi), arousal_index=None if ai is None else int(ai),
            temperature=float(section.get("temperature", 1.0)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"{where}: expression section: {exc}") from None
    if not 0.05 <= spec.temperature <= 20:
        raise ModelError(f"{where}: expression section: temperature {spec.temperature} is outside 0.05..20")
    if not 16 <= spec.size <= 512:
        raise ModelError(f"{where}: expression section: size {spec.size} is outside 16..512")
    return spec


def valence_arousal(probabilities) -> tuple[float, float]:
    """The probability-weighted circumplex point of LABELS-ordered probabilities."""
    v = a = 0.0
    for p, (pv, pa) in zip(probabilities.tolist() if isinstance(probabilities, np.ndarray) else probabilities, _VA):
        v += p * pv
        a += p * pa
    return v, a
