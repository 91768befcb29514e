"""`affectedge evaluate`: a session log, or still faces, scored against human labels.

For a session log each window is matched with the label span holding its midpoint; windows
without a label are left out (never counted as neutral). The fused output and each modality are
scored on the same windows:

* zone labels: the fused window's zone, and a zone from each modality's own arousal (and valence)
  through the same thresholds (docs/zones.md);
* emotion labels: the top label of the fused probabilities and of each modality's probabilities.

A window or modality that gave no estimate is not a wrong answer about the person: it counts in
``coverage`` (the share of labelled windows with an estimate), and the agreement figures are over
the covered ones. With ``valence``/``arousal`` in the labels, CCC and RMSE are reported too; the
confidence is checked against outcomes (expected calibration error and a reliability plot: the
fused confidence for the fused output, the top probability for a modality's label).

Intervals are 95 % bootstrap intervals; session windows are resampled in blocks of 5 s, since
neighbouring 200 ms windows are not independent.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Optional, Sequence

import numpy as np

from ..fusion.config import ZoneConfig
from ..core.types import LABELS, ZONES
from ..fusion.zones import zone_for
from .labels import STATES, ImageLabel, LabelError, LabelKind, SessionLabels
from .log_reader import SessionLogData
from .metrics import (
    Interval,
    ReliabilityBin,
    balanced_accuracy,
    bootstrap,
    calibration,
    ccc,
    cohen_kappa,
    confusion,
    macro_f1,
    recall_per_class,
    rmse,
)

SOURCES = ("fused", "face", "voice", "physiology")
BLOCK_S = 5.0


@dataclass
class Scores:
    """The figures for one source (the fused output or one modality) against one label set."""

    source: str
    kind: LabelKind
    labelled: int                       # labelled items
    covered: int                        # ... of which this source gave an answer
    classes: list[str]
    confusion: list[list[int]] = field(default_factory=list)
    recall: dict[str, Optional[float]] = field(default_factory=dict)
    macro_f1: Optional[Interval] = None
    accuracy: Optional[Interval] = None  # top-1 over the covered items
    balanced_accuracy: Optional[Interval] = None
    kappa: Optional[float] = None
    ece: Optional[float] = None
    reliability: list[ReliabilityBin] = field(default_factory=list)
    valence: Optional[dict] = None      # {"n", "ccc", "rmse"}
    arousal: Optional[dict] = None
    auc: Optional[Interval] = None      # state labels: arousal's ROC AUC, stress against rest
    auc_without: dict[str, Interval] = field(default_factory=dict)  # ... leaving out one task's spans

    @property
    def coverage(self) -> float:
        return self.covered / self.labelled if self.labelled else math.nan


@dataclass
class Evaluation:
    what: str                            # the log or image list evaluated
    labels: str
    kind: LabelKind
    scores: list[Scores]

    def to_json(self) -> str:
        def clean(x):
            if isinstance(x, float) and not math.isfinite(x):
                return None
            if isinstance(x, dict):
                return {k: clean(v) for k, v in x.items()}
            if isinstance(x, list):
                return [clean(v) for v in x]
            return x
        body = {"what": self.what, "labels": self.labels, "kind": self.kind,
                "scores": [{**asdict(s), "coverage": s.coverage} for s in self.scores]}
        return json.dumps(clean(body), indent=2)


def _nan_to_none(x: float) -> Optional[float]:
    return None if x is None or not math.isfinite(x) else float(x)


def score(source: str, kind: LabelKind, truth: Sequence[str], predicted: Sequence[Optional[str]],
          confidence: Sequence[Optional[float]], blocks: Optional[np.ndarray] = None) -> Scores:
    """Classification figures of one source; ``predicted[i]`` None where it gave no answer."""
    classes = list(ZONES if kind == "zone" else LABELS)
    have = [i for i, p in enumerate(predicted) if p is not None]
    s = Scores(source, kind, len(truth), len(have), classes)
    if not have:
        return s
    t = [truth[i] for i in have]
    p = [predicted[i] for i in have]
    m = confusion(t, p, classes)
    s.confusion = m.tolist()
    s.recall = {c: _nan_to_none(r) for c, r in zip(classes, recall_per_class(m))}
    b = None if blocks is None else np.asarray(blocks)[have]

    def on(fn):
        return lambda idx: fn(confusion([t[i] for i in idx], [p[i] for i in idx], classes))

    f1, ba = macro_f1(m), balanced_accuracy(m)
    s.macro_f1 = Interval(f1, *bootstrap(on(macro_f1), len(have), b))
    s.balanced_accuracy = Interval(ba, *bootstrap(on(balanced_accuracy), len(have), b))
    s.accuracy = Interval(_accuracy(m), *bootstrap(on(_accuracy), len(have), b))
    s.kappa = _nan_to_none(cohen_kappa(m))
    conf = [confidence[i] for i in have]
    if all(c is not None for c in conf):
        s.ece, s.reliability = calibration(np.array(conf), np.array([a == b_ for a, b_ in zip(t, p)]))
    return s


def _accuracy(m: np.ndarray) -> float:
    return float(np.trace(m) / m.sum()) if m.sum() else math.nan


def _affect(truth: list[Optional[float]], predicted: list[Optional[float]]) -> Optional[dict]:
    pairs = [(a, b) for a, b in zip(truth, predicted) if a is not None and b is not None]
    if not pairs:
        return None
    x, y = np.array(pairs).T
    return {"n": len(pairs), "ccc": _nan_to_none(ccc(x, y)), "rmse": _nan_to_none(rmse(x, y))}


def _top(probabilities: Optional[dict]) -> tuple[Optional[str], Optional[float]]:
    if not probabilities:
        return None, None
    label = max(probabilities, key=probabilities.get)
    return label, probabilities[label]


def labelled_windows(data: SessionLogData, labels: SessionLabels) -> list:
    """(window, span) for every window whose midpoint a span holds; an error naming both ranges
    when none does."""
    rows = []
    for w in data.windows:
        span = labels.at((w.start + w.end) / 2)
        if span is not None:
            rows.append((w, span))
    if not rows:
        start = min((w.start for w in data.windows), default=0.0)
        end = max((w.end for w in data.windows), default=0.0)
        first, last = labels.spans[0].start, labels.spans[-1].end
        raise LabelError(f"{labels.path}: none of its {len(labels.spans)} span(s) ({first:g}-{last:g} s) overlaps a window of "
                         f"{data.path} ({start:g}-{end:g} s on the session clock): label times are seconds from the session's start")
    return rows


def evaluate_log(data: SessionLogData, labels: SessionLabels, zones: ZoneConfig = ZoneConfig()) -> Evaluation:
    """Score the fused output and each modality of every run in ``data`` against ``labels``."""
    estimates = {(e["run_id"], e["window_seq"], e["modality"]): e for e in data.estimates}
    rows = labelled_windows(data, labels)
    if labels.kind == "state":
        return _evaluate_states(data, labels, rows, estimates)
    blocks = np.array([hash((w.run_id, int(w.start // BLOCK_S))) for w, _ in rows])
    scores = []
    for source in SOURCES:
        truth, predicted, conf, va_t, va_p, ar_t, ar_p = [], [], [], [], [], [], []
        for w, span in rows:
            if source == "fused":
                ok = w.status == "ok"
                valence, arousal = (w.valence, w.arousal) if ok else (None, None)
                if labels.kind == "zone":
                    answer, c = w.zone, w.confidence
                else:
                    answer, _ = _top(w.record.get("probabilities")) if ok else (None, None)
                    c = w.confidence
            else:
                e = estimates.get((w.run_id, w.seq, source))
                if e is None:
                    answer = c = valence = arousal = None
                else:
                    valence, arousal = e.get("valence"), e.get("arousal")
                    if labels.kind == "zone":
                        answer, c = zone_for(valence, arousal, zones, distress="distress" in (e.get("events") or {})), e.get("quality")
                    else:
                        answer, c = _top(e.get("probabilities"))
            va_t.append(span.valence)
            va_p.append(valence)
            ar_t.append(span.arousal)
            ar_p.append(arousal)
            if span.label is not None:
                truth.append(span.label)
                predicted.append(answer)
                conf.append(c if answer is not None else None)
        label_blocks = np.array([b for b, (_, s) in zip(blocks, rows) if s.label is not None])
        s = score(source, labels.kind, truth, predicted, conf, label_blocks)
        s.valence, s.arousal = _affect(va_t, va_p), _affect(ar_t, ar_p)
        scores.append(s)
    return Evaluation(str(data.path), str(labels.path), labels.kind, scores)


def _evaluate_states(data: SessionLogData, labels: SessionLabels, rows: list, estimates: dict) -> Evaluation:
    """State labels (stress/rest): how well each source's arousal tells stress from rest (ROC AUC
    with a 5 s block bootstrap interval), over all labelled windows and leaving out each task."""
    from .metrics import roc_auc

    blocks_all = np.array([hash((w.run_id, int(w.start // BLOCK_S))) for w, _ in rows])
    tasks = sorted({s.task for _, s in rows if s.task and s.label == "stress"})
    scores = []
    for source in SOURCES:
        arousal = []
        for w, _ in rows:
            if source == "fused":
                arousal.append(w.arousal if w.status == "ok" else None)
            else:
                e = estimates.get((w.run_id, w.seq, source))
                arousal.append(None if e is None else e.get("arousal"))
        have = np.array([a is not None and s.label is not None for a, (_, s) in zip(arousal, rows)])
        sc = Scores(source, "state", int(sum(1 for _, s in rows if s.label)), int(have.sum()), list(STATES))
        if have.any():
            a = np.array([x if x is not None else np.nan for x in arousal])
            stress = np.array([s.label == "stress" for _, s in rows])
            task = np.array([s.task or "" for _, s in rows])

            def interval(keep: np.ndarray) -> Optional[Interval]:
                idx = np.flatnonzero(keep)
                if len(idx) == 0 or stress[idx].all() or not stress[idx].any():
                    return None
                stat = lambda ix: roc_auc(a[idx][ix], stress[idx][ix])  # noqa: E731
                return Interval(stat(np.arange(len(idx))), *bootstrap(stat, len(idx), blocks_all[idx]))

            sc.auc = interval(have)
            sc.auc_without = {t: i for t in tasks if (i := interval(have & (task != t))) is not None}
        scores.append(sc)
    return Evaluation(str(data.path), str(labels.path), "state", scores)


def evaluate_images(items: Sequence[ImageLabel], face_path, what: str, cropped: bool = False) -> Evaluation:
    """The face path on still photographs (one face each, chosen by the configured policy), or
    with ``cropped`` on images that are already face crops: the detector is skipped and the
    whole image is the model's crop (BlazeFace finds no face in a 48x48 FER2013 crop)."""
    import cv2

    truth, predicted, conf = [], [], []
    for item in items:
        image = cv2.imread(str(item.image), cv2.IMREAD_UNCHANGED)
        if image is None:
            raise ValueError(f"{item.image}: OpenCV cannot read this image")
        if cropped:
            probabilities = face_path.classify(face_path.whole_image_crop(image))[0]
        else:
            obs = face_path.process(image)
            probabilities = None if obs is None else obs.probabilities
        truth.append(item.label)
        if probabilities is None:
            predicted.append(None)
            conf.append(None)
        else:
            p = face_path.spec.calibrate(probabilities)  # a photograph is a window of one frame
            i = int(np.argmax(p))
            predicted.append(LABELS[i])
            conf.append(float(p[i]))
    return Evaluation(what, what, "emotion", [score("face", "emotion", truth, predicted, conf)])


def format_text(ev: Evaluation) -> str:
    """The figures as a plain-text table, as `affectedge evaluate` prints them."""
    def iv(i: Optional[Interval]) -> str:
        return "-" if i is None else f"{i.value:.3f} [{i.low:.3f}, {i.high:.3f}]"

    if ev.kind == "state":
        lines = [f"evaluated {ev.what} against {ev.labels} (state labels: stress against rest, scored on arousal)",
                 f"{'source':<11}{'labelled':>9}{'covered':>9}  {'ROC AUC [95% CI]':<26}leaving out a task"]
        for s in ev.scores:
            without = "; ".join(f"without {t}: {iv(i)}" for t, i in s.auc_without.items())
            lines.append(f"{s.source:<11}{s.labelled:>9}{s.coverage:>9.1%}  {iv(s.auc):<26}{without}")
        return "\n".join(lines)
    lines = [f"evaluated {ev.what} against {ev.labels} ({ev.kind} labels)",
             f"{'source':<11}{'labelled':>9}{'covered':>9}  {'macro-F1 [95% CI]':<26}{'accuracy [95% CI]':<26}{'balanced acc. [95% CI]':<26}{'kappa':>7}{'ECE':>7}"]
    for s in ev.scores:
        lines.append(f"{s.source:<11}{s.labelled:>9}{s.coverage:>9.1%}  {iv(s.macro_f1):<26}{iv(s.accuracy):<26}{iv(s.balanced_accuracy):<26}"
                     f"{'-' if s.kappa is None else f'{s.kappa:.3f}':>7}{'-' if s.ece is None else f'{s.ece:.3f}':>7}")
    for s in ev.scores:
        if not s.confusion:
            continue
        lines.append(f"\n{s.source}: recall per class, and the confusion matrix (rows: label, columns: predicted)")
        lines.append("  " + "  ".join(f"{c}={'-' if s.recall[c] is None else f'{s.recall[c]:.2f}'}" for c in s.classes))
        width = max(len(c) for c in s.classes) + 1
        lines.append(" " * (width + 2) + "".join(f"{c[:6]:>7}" for c in s.classes))
        for c, row in zip(s.classes, s.confusion):
            lines.append(f"  {c:<{width}}" + "".join(f"{v:>7}" for v in row))
        for name in ("valence", "arousal"):
            a = getattr(s, name)
            if a is not None:
                lines.append(f"  {name}: CCC {a['ccc'] if a['ccc'] is None else round(a['ccc'], 3)}, "
                             f"RMSE {a['rmse'] if a['rmse'] is None else round(a['rmse'], 3)} over {a['n']} windows")
    return "\n".join(lines)


def reliability_figure(ev: Evaluation):
    """One reliability diagram per source that has a confidence: accuracy against mean confidence per bin."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [s for s in ev.scores if s.reliability]
    fig, axes = plt.subplots(1, max(len(shown), 1), figsize=(3.2 * max(len(shown), 1), 3.4), squeeze=False)
    for ax, s in zip(axes[0], shown):
        bins = [b for b in s.reliability if b.count]
        ax.plot([0, 1], [0, 1], color="#9ca3af", linewidth=1, linestyle="--")
        ax.bar([(b.low + b.high) / 2 for b in bins], [b.accuracy for b in bins], width=0.09, color="#2f6fd0", alpha=0.8)
        ax.plot([b.confidence for b in bins], [b.accuracy for b in bins], "o", color="#1f2937", markersize=3)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_title(f"{s.source}: ECE {s.ece:.3f}", fontsize=9)
        ax.set_xlabel("confidence", fontsize=8)
        ax.set_ylabel("share right", fontsize=8)
    fig.tight_layout()
    return fig
