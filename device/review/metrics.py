"""Agreement between predictions and human labels: the figures `affectedge evaluate` reports.

Pure functions over NumPy arrays. Classification: a confusion matrix and what follows from it
(per-class recall, macro-F1, balanced accuracy, Cohen's kappa). Continuous: Lin's concordance
correlation coefficient and RMSE. Confidence: expected calibration error over equal-width bins.
Intervals: percentile bootstrap, resampling contiguous blocks where the items are a time series
(neighbouring 200 ms windows are not independent draws).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import numpy as np


def confusion(truth: Sequence[str], predicted: Sequence[str], classes: Sequence[str]) -> np.ndarray:
    """counts[i, j]: items of class ``classes[i]`` predicted as ``classes[j]``."""
    index = {c: i for i, c in enumerate(classes)}
    m = np.zeros((len(classes), len(classes)), dtype=np.int64)
    for t, p in zip(truth, predicted):
        m[index[t], index[p]] += 1
    return m


def recall_per_class(m: np.ndarray) -> np.ndarray:
    """Per true class: the share predicted as that class (NaN for a class with no item)."""
    support = m.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(support > 0, np.diag(m) / np.maximum(support, 1), np.nan)


def macro_f1(m: np.ndarray) -> float:
    """Mean F1 over the classes that occur in the truth or the predictions (as scikit-learn's
    f1_score(average="macro") over the labels present)."""
    tp = np.diag(m).astype(float)
    support, predicted = m.sum(axis=1), m.sum(axis=0)
    present = (support + predicted) > 0
    denom = support + predicted
    f1 = np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0)
    return float(f1[present].mean()) if present.any() else math.nan


def balanced_accuracy(m: np.ndarray) -> float:
    """Mean recall over the classes that occur in the truth."""
    r = recall_per_class(m)
    return float(np.nanmean(r)) if np.isfinite(r).any() else math.nan


def cohen_kappa(m: np.ndarray) -> float:
    """Agreement beyond chance: (p_observed - p_expected) / (1 - p_expected)."""
    n = m.sum()
    if n == 0:
        return math.nan
    po = np.trace(m) / n
    pe = float((m.sum(axis=0) * m.sum(axis=1)).sum()) / (n * n)
    return float((po - pe) / (1 - pe)) if pe < 1 else (1.0 if po == 1 else math.nan)


def ccc(truth: np.ndarray, predicted: np.ndarray) -> float:
    """Lin's concordance correlation coefficient (1: identical, 0: no agreement)."""
    x, y = np.asarray(truth, float), np.asarray(predicted, float)
    if len(x) < 2:
        return math.nan
    mx, my = x.mean(), y.mean()
    vx, vy = x.var(), y.var()
    cov = ((x - mx) * (y - my)).mean()
    denom = vx + vy + (mx - my) ** 2
    return float(2 * cov / denom) if denom > 0 else math.nan


def rmse(truth: np.ndarray, predicted: np.ndarray) -> float:
    d = np.asarray(truth, float) - np.asarray(predicted, float)
    return float(np.sqrt(np.mean(d * d))) if len(d) else math.nan


@dataclass(frozen=True)
class ReliabilityBin:
    low: float
    high: float
    count: int
    confidence: float  # mean confidence of the items in the bin (NaN if empty)
    accuracy: float    # share of them that were right (NaN if empty)


def calibration(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> tuple[float, list[ReliabilityBin]]:
    """Expected calibration error (the count-weighted gap between mean confidence and accuracy
    over equal-width bins of [0, 1]) and the bins for a reliability plot."""
    conf = np.clip(np.asarray(confidence, float), 0.0, 1.0)
    ok = np.asarray(correct, bool)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.minimum(np.digitize(conf, edges[1:-1], right=True), bins - 1)
    out, ece = [], 0.0
    for b in range(bins):
        sel = which == b
        n = int(sel.sum())
        c = float(conf[sel].mean()) if n else math.nan
        a = float(ok[sel].mean()) if n else math.nan
        if n:
            ece += n / len(conf) * abs(c - a)
        out.append(ReliabilityBin(float(edges[b]), float(edges[b + 1]), n, c, a))
    return (float(ece) if len(conf) else math.nan), out


@dataclass(frozen=True)
class Interval:
    value: float
    low: float
    high: float


def bootstrap(statistic: Callable[[np.ndarray], float], n_items: int, blocks: Optional[np.ndarray] = None,
              rounds: int = 1000, seed: int = 0) -> tuple[float, float]:
    """95 % percentile interval of ``statistic(indexes)`` over resamples of the items; with
    ``blocks`` (a block id per item) whole blocks are resampled, keeping neighbours together."""
    rng = np.random.default_rng(seed)
    if blocks is None:
        groups = [np.array([i]) for i in range(n_items)]
    else:
        groups = [np.flatnonzero(blocks == b) for b in np.unique(blocks)]
    values = []
    for _ in range(rounds):
        pick = rng.integers(0, len(groups), len(groups))
        v = statistic(np.concatenate([groups[i] for i in pick]))
        if math.isfinite(v):
            values.append(v)
    if not values:
        return math.nan, math.nan
    return float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))


def roc_auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve: the chance that a random positive scores above a random negative
    (ties count one half); NaN without both classes."""
    s = np.asarray(scores, float)
    y = np.asarray(positive, bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return math.nan
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s), float)
    sorted_s = s[order]
    i = 0
    while i < len(s):  # average ranks over ties
        j = i
        while j + 1 < len(s) and sorted_s[j + 1] == sorted_s[i]:
            j += 1
        ranks[order[i:j + 1]] = 0.5 * (i + j) + 1.0
        i = j + 1
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def _poisson_cdf(k: int, mu: float) -> float:
    term = total = math.exp(-mu)
    for i in range(1, k + 1):
        term *= mu / i
        total += term
    return total


def poisson_interval(count: int, exposure: float) -> tuple[float, float]:
    """Exact (Garwood) 95 % interval of a rate from ``count`` events over ``exposure`` (e.g. hours)."""
    def solve(target: float, k: int) -> float:
        lo, hi = 0.0, max(10.0, 10.0 * (k + 1))
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            if _poisson_cdf(k, mid) > target:
                lo = mid
            else:
                hi = mid
        return 0.5 * (lo + hi)

    low = 0.0 if count == 0 else solve(0.975, count - 1)
    high = solve(0.025, count)
    return low / exposure, high / exposure
