"""`affectedge personalise`: learn one person's arousal from caregivers' labels, where it measurably helps.

    affectedge personalise --subject PSEUDONYM --profiles DIR LOG [LOG...] [--key FILE] [--out DIR]

The logs' stored labels (`affectedge label`, or pressed live on the caregiver page) say when the
person was heightened: state labels (stress against rest) or zone labels (yellow/red against
blue/green). For every labelled window the inputs are what the window already holds
(fusion/personal.py: physiology features as z-scores against the person's resting baseline, each
modality's arousal, the face's valence, vocal events), and a logistic regression learns
P(heightened) from them.

**Evaluated before it is kept.** Time-blocked cross-validation: one fold per labelled episode of
heightened state together with the calm span before it (the last calm span joins the last fold):
for Stress-Predict, train on two tasks and test on the third, every rotation. Each fold's held-out
predictions and the generic fused arousal of the same windows are scored as ROC AUC, averaged over
the folds, and the difference gets a 95 % interval by resampling 30 s blocks of windows within
each fold. The head is written into the person's profile (a new history entry and
current.yaml) **only if the lower end of that interval is above zero**; otherwise nothing is
written and the report says why. Too few labels is a message with the numbers needed, never a
model. Figures are also given without each heightened task (Stress-Predict's hyperventilation
raises heart rate by breathing, not by feeling).

The logs must all be the subject's: a run made with another person's profile (its pseudonym in
the log) is refused, and so is a profile folder of another pseudonym.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from affectedge.core.errors import AffectEdgeError
from affectedge.core.types import ModalityEstimate
from affectedge.fusion.personal import head_inputs, head_probability
from affectedge.perception.baseline import HEAD_INPUTS, PersonalHead, PersonBaseline, load_baseline
from affectedge.review.labels import LabelError, SessionLabels, stored_labels
from affectedge.review.metrics import roc_auc

from .profile_store import ProfileStore

MIN_WINDOWS_PER_CLASS = 300   # 60 s of 200 ms windows of each class
MIN_FOLDS = 3                 # labelled episodes of heightened state
BLOCK_S = 30.0                # resampling unit of the interval
L2 = 0.1                     # ridge penalty on the standardised weights (mean loss scale)
HEIGHTENED = {"state": {"stress"}, "zone": {"yellow", "red"}}


class PersonaliseError(AffectEdgeError):
    """The logs cannot be used for this subject (another person's, no labels, too few labels)."""


@dataclass
class Windows:
    """Labelled windows of one subject: inputs, targets, the generic arousal, time and task."""

    inputs: list[dict[str, float]] = field(default_factory=list)
    target: list[int] = field(default_factory=list)
    generic: list[float] = field(default_factory=list)
    t: list[float] = field(default_factory=list)         # window start, runs laid end to end
    task: list[str] = field(default_factory=list)
    fold: list[int] = field(default_factory=list)


@dataclass
class Figures:
    windows: int
    heightened: int
    folds: int
    generic_auc: float
    personal_auc: float
    difference: float
    difference_low: float
    difference_high: float
    without: dict[str, dict[str, float]] = field(default_factory=dict)  # task -> {generic_auc, personal_auc}

    @property
    def wins(self) -> bool:
        return self.difference_low > 0.0


def _estimate(record: dict) -> ModalityEstimate:
    return ModalityEstimate(modality=record["modality"], start=record["start"], end=record["end"],
                            quality=record["quality"], probabilities=None, valence=record.get("valence"),
                            arousal=record.get("arousal"), basis=record.get("basis"), features=record.get("features") or {},
                            events=record.get("events") or {})


def collect(logs, subject: str, baseline: PersonBaseline) -> tuple[Windows, str]:
    """The labelled windows of ``logs`` (SessionLogData), checked to be ``subject``'s."""
    from affectedge.review.evaluate import labelled_windows

    out = Windows()
    kinds = set()
    offset = 0.0
    for data in logs:
        others = {r.subject for r in data.runs.values()} - {subject}
        if others:
            raise PersonaliseError(f"{data.path}: runs made with another person's profile ({', '.join(sorted(str(o) for o in others))}), "
                                   f"not {subject}'s: refused")
        if not any(r.get("label") for r in data.labels):
            continue
        try:
            stored = stored_labels(data, data.path)
        except LabelError as exc:
            raise PersonaliseError(str(exc)) from None
        kind = stored.kind
        if kind not in HEIGHTENED:
            raise PersonaliseError(f"personalise learns arousal from state labels (stress, rest) or zone labels; {data.path} "
                                   f"holds {kind} labels")
        kinds.add(kind)
        spans = [s for s in stored.spans if s.label]  # a valence-only span says nothing about heightened
        estimates: dict[tuple, list[ModalityEstimate]] = {}
        for e in data.estimates:
            estimates.setdefault((e["run_id"], e["window_seq"]), []).append(_estimate(e))
        for w, span in labelled_windows(data, SessionLabels(data.path, kind, spans)):
            if w.status != "ok" or w.arousal is None:
                continue
            out.inputs.append(head_inputs(estimates.get((w.run_id, w.seq), []), baseline.physiology))
            out.target.append(int(span.label in HEIGHTENED[kind]))
            out.generic.append(float(w.arousal))
            out.t.append(offset + w.start)
            out.task.append(span.task or span.label)
        offset = (out.t[-1] + 3600.0) if out.t else offset
    if not out.target:
        raise PersonaliseError("no labelled windows with an estimate in these logs: add labels with `affectedge label` "
                               "or the caregiver page's buttons")
    if len(kinds) > 1:
        raise PersonaliseError("the logs mix state and zone labels; personalise one kind at a time")
    out.fold = _folds(out)
    return out, kinds.pop()


def _folds(w: Windows) -> list[int]:
    """One fold per heightened episode with the calm span before it; the last calm joins the last."""
    fold, k, prev = [], 0, 0
    for y in w.target:
        if y == 0 and prev == 1:
            k += 1
        fold.append(k)
        prev = y
    n_episodes = k + (1 if w.target and w.target[-1] == 1 else 0)
    last = max(0, n_episodes - 1)
    return [min(f, last) for f in fold]


def check_enough(w: Windows) -> None:
    y = np.asarray(w.target)
    pos, neg = int(y.sum()), int((1 - y).sum())
    folds = len(set(w.fold)) if pos else 0
    if pos < MIN_WINDOWS_PER_CLASS or neg < MIN_WINDOWS_PER_CLASS or folds < MIN_FOLDS:
        raise PersonaliseError(
            f"too few labels: {pos} heightened and {neg} calm windows in {folds} labelled episode(s); personalise needs at "
            f"least {MIN_WINDOWS_PER_CLASS} windows ({MIN_WINDOWS_PER_CLASS * 0.2:.0f} s) of each and {MIN_FOLDS} separate "
            "heightened episodes, so that it can be tested on an episode it was not trained on")


def _matrix(inputs: Sequence[dict[str, float]], names: Sequence[str]) -> np.ndarray:
    return np.array([[x.get(n, np.nan) for n in names] for x in inputs], dtype=float)


def fit(inputs: Sequence[dict[str, float]], target: Sequence[int], names: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Class-balanced L2 logistic regression by Newton's method on standardised inputs; a missing
    input is its training mean. Returns (centre, scale, weights, bias)."""
    X = _matrix(inputs, names)
    centre = np.nanmean(X, axis=0)
    centre = np.where(np.isfinite(centre), centre, 0.0)
    scale = np.nanstd(X, axis=0)
    scale = np.where(np.isfinite(scale) & (scale > 1e-9), scale, 1.0)
    Z = np.where(np.isfinite(X), (X - centre) / scale, 0.0)
    y = np.asarray(target, float)
    sw = np.where(y == 1, 0.5 / max(y.mean(), 1e-9), 0.5 / max(1 - y.mean(), 1e-9))
    A = np.hstack([Z, np.ones((len(Z), 1))])
    beta = np.zeros(A.shape[1])
    penalty = np.full(A.shape[1], L2)
    penalty[-1] = 0.0
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-np.clip(A @ beta, -40, 40)))
        grad = A.T @ (sw * (p - y)) / len(Z) + penalty * beta
        H = (A * (sw * p * (1 - p))[:, None]).T @ A / len(Z) + np.diag(penalty + 1e-9)
        step = np.linalg.solve(H, grad)
        beta -= step
        if np.max(np.abs(step)) < 1e-8:
            break
    return centre, scale, beta[:-1], float(beta[-1])


def _head(names, centre, scale, weights, bias, kind: str, baseline: PersonBaseline, trained: str) -> PersonalHead:
    return PersonalHead(target=kind, inputs=tuple(names), centre=tuple(float(x) for x in centre),
                        scale=tuple(float(x) for x in scale), weights=tuple(float(x) for x in weights), bias=bias,
                        physiology=baseline.physiology, trained=trained)


# The tonic EDA level drifts up over an hour of wear whatever the person feels (Stress-Predict:
# later rests read higher than the first task), and the generic physiology arousal carries it; a
# model trained on two tasks learned that drift and inverted on the third. The head reads the
# drift-free inputs: the EDA's rise over its recent minimum instead of its level.
DRIFTING = frozenset({"z_eda", "physiology_arousal"})


def used_inputs(w: Windows) -> list[str]:
    """The drift-free inputs present in at least a tenth of the labelled windows (others would be noise)."""
    n = len(w.inputs)
    return [name for name in HEAD_INPUTS if name not in DRIFTING and sum(1 for x in w.inputs if name in x) >= 0.1 * n]


def cross_validate(w: Windows, names: Sequence[str], kind: str, baseline: PersonBaseline) -> np.ndarray:
    """Held-out P(heightened) for every window: each fold predicted by a model fit on the others."""
    folds = np.asarray(w.fold)
    out = np.full(len(w.target), np.nan)
    for f in sorted(set(w.fold)):
        train = np.flatnonzero(folds != f)
        test = np.flatnonzero(folds == f)
        y = np.asarray(w.target)[train]
        if y.min() == y.max():
            continue
        centre, scale, weights, bias = fit([w.inputs[i] for i in train], y, names)
        head = _head(names, centre, scale, weights, bias, kind, baseline, "cross-validation fold")
        out[test] = [p if (p := head_probability(head, w.inputs[i])) is not None else np.nan for i in test]
    return out


def figures(w: Windows, held_out: np.ndarray, rounds: int = 1000, seed: int = 0) -> Figures:
    """ROC AUC of the held-out personal predictions and of the generic arousal on the same windows,
    per fold (each fold is scored by the model that did not see it), averaged over the folds; the
    difference's interval resamples 30 s blocks of windows within each fold."""
    y = np.asarray(w.target, bool)
    g = np.asarray(w.generic)
    folds = np.asarray(w.fold)
    ok = np.isfinite(held_out)
    blocks = np.floor(np.asarray(w.t) / BLOCK_S).astype(np.int64)
    tasks = np.asarray(w.task)

    def per_fold(keep: np.ndarray) -> dict[int, np.ndarray]:
        out = {}
        for f in sorted(set(w.fold)):
            ix = np.flatnonzero(keep & (folds == f))
            if len(ix) and y[ix].any() and not y[ix].all():
                out[f] = ix
        return out

    def mean_aucs(parts) -> tuple[float, float]:
        p = [roc_auc(held_out[ix], y[ix]) for ix in parts]
        q = [roc_auc(g[ix], y[ix]) for ix in parts]
        return (float(np.mean(p)), float(np.mean(q))) if p else (math.nan, math.nan)

    folds_used = per_fold(ok)
    personal, generic = mean_aucs(folds_used.values())
    rng = np.random.default_rng(seed)
    grouped = {f: [ix[blocks[ix] == b] for b in np.unique(blocks[ix])] for f, ix in folds_used.items()}
    diffs = []
    for _ in range(rounds):
        parts = []
        for groups in grouped.values():
            parts.append(np.concatenate([groups[i] for i in rng.integers(0, len(groups), len(groups))]))
        if all(y[ix].any() and not y[ix].all() for ix in parts):
            p, q = mean_aucs(parts)
            diffs.append(p - q)
    low, high = (np.percentile(diffs, 2.5), np.percentile(diffs, 97.5)) if diffs else (math.nan, math.nan)
    without = {}
    for t in sorted({w.task[i] for i in range(len(w.task)) if w.target[i] == 1}):
        p, q = mean_aucs(per_fold(ok & (tasks != t)).values())
        without[t] = {"generic_auc": q, "personal_auc": p}
    n = int(sum(len(ix) for ix in folds_used.values()))
    pos = int(sum(y[ix].sum() for ix in folds_used.values()))
    return Figures(n, pos, len(folds_used), generic, personal, personal - generic, float(low), float(high), without)


@dataclass
class Outcome:
    subject: str
    figures: Figures
    written: Optional[Path]
    inputs: list[str]
    reason: str

    def to_json(self) -> str:
        return json.dumps({"subject": self.subject, "figures": asdict(self.figures), "wins": self.figures.wins,
                           "written": None if self.written is None else str(self.written), "inputs": self.inputs,
                           "reason": self.reason}, indent=1, sort_keys=True)


def personalise(logs, subject: str, profiles: Path, write: bool = True) -> Outcome:
    """Fit, cross-validate and (where it wins beyond the interval) write the subject's head."""
    store = ProfileStore(profiles)
    current = store.current(subject)
    if not current.is_file():
        raise PersonaliseError(f"{current}: no profile for {subject}: calibrate the person first (`affectedge calibrate`)")
    baseline = load_baseline(current)
    if baseline.subject != subject:
        raise PersonaliseError(f"{current}: the profile is {baseline.subject}'s, not {subject}'s: refused")
    w, kind = collect(logs, subject, baseline)
    check_enough(w)
    names = used_inputs(w)
    held_out = cross_validate(w, names, kind, baseline)
    fig = figures(w, held_out)
    summary = (f"personal ROC AUC {fig.personal_auc:.3f} against the generic {fig.generic_auc:.3f} on {fig.windows} held-out "
               f"windows in {fig.folds} folds; difference {fig.difference:+.3f} [{fig.difference_low:+.3f}, {fig.difference_high:+.3f}]")
    if not fig.wins:
        return Outcome(subject, fig, None, names, f"not written: the personal model does not beat the generic output beyond the "
                                                  f"interval ({summary})")
    if not write:
        return Outcome(subject, fig, None, names, f"would be written ({summary}); --dry-run")
    centre, scale, weights, bias = fit(w.inputs, w.target, names)
    stamp = datetime.now(timezone.utc).replace(microsecond=0)
    trained = (f"{stamp.isoformat()}: {len(w.target)} labelled windows ({kind} labels) from {len(logs)} log(s); {summary}")
    head = _head(names, centre, scale, weights, bias, kind, baseline, trained)
    profile = baseline.model_copy(update={"personal_head": head, "created": stamp})
    entry = store.save(profile, comment=f"affectedge personalise: {trained}")
    return Outcome(subject, fig, entry, names, f"written ({summary})")


def format_outcome(o: Outcome) -> str:
    f = o.figures
    lines = [f"subject {o.subject}: {f.windows} labelled windows ({f.heightened} heightened) in {f.folds} folds; inputs: {', '.join(o.inputs)}",
             f"  generic arousal  ROC AUC {f.generic_auc:.3f}",
             f"  personal model   ROC AUC {f.personal_auc:.3f} (held out, time-blocked)",
             f"  difference       {f.difference:+.3f} [95% CI {f.difference_low:+.3f}, {f.difference_high:+.3f}]"]
    for task, v in f.without.items():
        lines.append(f"  without {task}: generic {v['generic_auc']:.3f}, personal {v['personal_auc']:.3f}")
    lines.append(f"  {o.reason}" + (f": {o.written}" if o.written else ""))
    return "\n".join(lines)
