"""`affectedge evaluate --events CLIPS.csv`: the vocal-event detector scored on labelled recordings.

Each clip (``file,label[,group]``, review/labels.py) is played through the device's own detector
(perception/vocal_events.py: the noise-floor gate, YAMNet, the groups, their minimum durations),
as a stream from its first sample. Per event group:

* **ROC AUC** over the clips: a clip's score is the highest threshold at which the detector would
  fire on it (``clip_score``); positives are the clips labelled with the group, negatives every
  other clip (other events, speech, other sounds);
* **precision and recall at the shipped threshold**: a clip counts as detected when the detector
  started an event on it;
* **false alarms per hour of ordinary speech**: events the detector started on the clips labelled
  ``speech``, over their total duration, with an exact Poisson interval.

Intervals of AUC, precision and recall are 95 % bootstrap intervals that resample whole groups
(a speaker's or a recording session's clips together). Clips shorter than one 0.975 s patch are
padded with silence to one patch.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Callable, Sequence

import numpy as np

from ..perception.audio_features import PATCH_SAMPLES, SAMPLE_RATE
from ..perception.vocal_events import HEARD_KINDS, VocalEventDetector, clip_score
from ..sources.replay_wav import read_wav, resample
from .labels import ClipLabel
from .metrics import Interval, bootstrap, poisson_interval, roc_auc


@dataclass
class ClipResult:
    file: str
    label: str
    group: str
    duration_s: float
    scores: dict[str, float]   # group -> clip score
    events: dict[str, int]     # group -> events the detector started


@dataclass
class GroupFigures:
    event: str
    threshold: float
    positives: int
    negatives: int
    auc: Interval
    auc_without_speech: Interval  # the same positives against the negatives that are not speech (the harder ones)
    precision: Interval
    recall: Interval
    detected: int        # positives the detector fired on
    false_positives: int  # negatives it fired on


@dataclass
class FalseAlarms:
    event: str
    speech_clips: int
    speech_hours: float
    alarms: int
    per_hour: Interval


@dataclass
class EventEvaluation:
    labels: str
    make_up: dict[str, dict[str, float]]   # label -> clips, groups, hours
    groups: list[GroupFigures]
    false_alarms: list[FalseAlarms]
    clips: list[ClipResult] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True, allow_nan=True)


def read_clip(path) -> np.ndarray:
    """Mono float32 at 16 kHz, padded with silence to one patch."""
    x, rate = read_wav(path)
    if rate != SAMPLE_RATE:
        x = resample(x, rate, SAMPLE_RATE)
    if len(x) < PATCH_SAMPLES:
        x = np.concatenate([x, np.zeros(PATCH_SAMPLES - len(x), np.float32)])
    return x.astype(np.float32, copy=False)


def score_clip(clip: ClipLabel, detector: VocalEventDetector) -> ClipResult:
    x = read_clip(clip.file)
    detector.push(x, 0.0)
    detector.finish(len(x) / SAMPLE_RATE)
    per_patch = detector.scores or []
    scores = {g: clip_score(np.array([s[g] for _, s in per_patch]), cfg.min_duration_s)
              for g, cfg in detector.groups.items()}
    events: dict[str, int] = {g: 0 for g in detector.groups}
    for e in detector.take_events():
        if e.kind in HEARD_KINDS:
            events[str(e.detail["event"])] += 1
    return ClipResult(str(clip.file), clip.label, clip.group, len(x) / SAMPLE_RATE, scores, events)


def evaluate_events(clips: Sequence[ClipLabel], make_detector: Callable[[], VocalEventDetector], labels: str,
                    progress: Callable[[int, int], None] | None = None) -> EventEvaluation:
    """Score every clip with a fresh detector (``make_detector`` shares one loaded model)."""
    results = []
    for i, clip in enumerate(clips):
        results.append(score_clip(clip, make_detector()))
        if progress is not None:
            progress(i + 1, len(clips))
    groups = make_detector().groups
    return EventEvaluation(labels, _make_up(results), [_group_figures(results, g, c.threshold) for g, c in groups.items()],
                           [_false_alarms(results, g) for g in groups], results)


def _make_up(results: Sequence[ClipResult]) -> dict[str, dict[str, float]]:
    out = {}
    for label in sorted({r.label for r in results}):
        sel = [r for r in results if r.label == label]
        out[label] = {"clips": len(sel), "groups": len({r.group for r in sel}),
                      "hours": round(sum(r.duration_s for r in sel) / 3600.0, 4)}
    return out


def _group_figures(results: Sequence[ClipResult], g: str, threshold: float) -> GroupFigures:
    score = np.array([r.scores[g] for r in results])
    truth = np.array([r.label == g for r in results])
    fired = np.array([r.events[g] > 0 for r in results])
    blocks = np.unique([r.group for r in results], return_inverse=True)[1]

    speech = np.array([r.label == "speech" for r in results])

    def auc(ix):
        return roc_auc(score[ix], truth[ix])

    def auc_without_speech(ix):
        keep = ix[~speech[ix]]
        return roc_auc(score[keep], truth[keep])

    def precision(ix):
        f = fired[ix]
        return float(truth[ix][f].mean()) if f.any() else math.nan

    def recall(ix):
        t = truth[ix]
        return float(fired[ix][t].mean()) if t.any() else math.nan

    everything = np.arange(len(results))

    def interval(stat) -> Interval:
        low, high = bootstrap(stat, len(results), blocks)
        return Interval(stat(everything), low, high)

    return GroupFigures(g, threshold, int(truth.sum()), int((~truth).sum()), interval(auc), interval(auc_without_speech), interval(precision),
                        interval(recall), int((fired & truth).sum()), int((fired & ~truth).sum()))


def _false_alarms(results: Sequence[ClipResult], g: str) -> FalseAlarms:
    speech = [r for r in results if r.label == "speech"]
    hours = sum(r.duration_s for r in speech) / 3600.0
    alarms = sum(r.events[g] for r in speech)
    if hours > 0:
        low, high = poisson_interval(alarms, hours)
        rate = Interval(alarms / hours, low, high)
    else:
        rate = Interval(math.nan, math.nan, math.nan)
    return FalseAlarms(g, len(speech), hours, alarms, rate)


def format_events_text(ev: EventEvaluation) -> str:
    lines = [f"vocal events scored on {ev.labels}"]
    for label, m in ev.make_up.items():
        lines.append(f"  {label:<9} {int(m['clips']):5d} clips from {int(m['groups']):4d} groups, {m['hours'] * 60:6.1f} min")
    lines.append("")
    lines.append(f"{'event':<9} {'threshold':>9} {'pos':>5} {'neg':>5}  {'ROC AUC [95% CI]':<22} {'precision [95% CI]':<22} {'recall [95% CI]':<22}")
    for f in ev.groups:
        lines.append(f"{f.event:<9} {f.threshold:>9.2f} {f.positives:>5d} {f.negatives:>5d}  {_iv(f.auc):<22} {_iv(f.precision):<22} {_iv(f.recall):<22}")
    lines.append("")
    lines.append("against the negatives that are not speech (other sounds and the other events):")
    for f in ev.groups:
        lines.append(f"{f.event:<9} ROC AUC {_iv(f.auc_without_speech)}")
    lines.append("")
    for a in ev.false_alarms:
        if a.speech_clips:
            lines.append(f"false {a.event} alarms on ordinary speech: {a.alarms} in {a.speech_hours * 60:.1f} min of "
                         f"{a.speech_clips} clips = {a.per_hour.value:.2f} per hour [{a.per_hour.low:.2f}, {a.per_hour.high:.2f}]")
        else:
            lines.append(f"false {a.event} alarms on ordinary speech: no clip labelled speech")
    return "\n".join(lines)


def _iv(i: Interval) -> str:
    if not math.isfinite(i.value):
        return "-"
    return f"{i.value:.3f} [{i.low:.3f}, {i.high:.3f}]"
