"""Choose each vocal-event group's threshold and minimum duration on a calibration split.

    python -m affectedge_tools.models.choose_event_thresholds CALIBRATION.csv [--max-false-positive-rate 0.02]

Plays every clip (``file,label[,group]``, from ``affectedge_tools.data.event_clips``) through the
device's detector with the shipped configuration, and per group and candidate minimum duration
(one or two 0.96 s patches) takes the lowest threshold on YAMNet's INT8 score grid at which

* the share of non-speech negatives (other sounds, the other events) the detector fires on is at
  most ``--max-false-positive-rate``, and
* it fires on no calibration clip of ordinary speech;

then keeps the duration whose threshold gives the higher recall. It prints the choice; the shipped
defaults (``affectedge.perception.vocal_events._default_groups``) carry it. The figures to report come from ``affectedge evaluate
--events TEST.csv`` on the other split, never from here.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from affectedge.perception.audio_events import AudioEventModel
from affectedge.perception.vocal_events import VocalEventDetector, VocalEventsConfig, clip_score, heard_kind
from affectedge.review.evaluate_events import read_clip
from affectedge.review.labels import read_clip_labels

DURATIONS_S = (0.96, 1.44)


@dataclass(frozen=True)
class Choice:
    group: str
    min_duration_s: float
    threshold: float
    recall: float
    false_positive_rate: float
    speech_false_alarms: int


def patch_scores(csv_path: Path, config: VocalEventsConfig) -> tuple[list[str], list[list[tuple[float, dict[str, float]]]]]:
    """Each clip's label and its patches' group scores (after the detector's gate and exclusivity)."""
    model = AudioEventModel(threads=config.threads)
    labels, scores = [], []
    for clip in read_clip_labels(csv_path):
        detector = VocalEventDetector(config, model=model, keep_scores=True)
        detector.push(read_clip(clip.file), 0.0)
        labels.append(clip.label)
        scores.append(detector.scores)
    return labels, scores


def fires(patches: list[tuple[float, dict[str, float]]], config: VocalEventsConfig, group: str) -> bool:
    """Would the detector with ``config`` start a ``group`` event on these recorded patches?"""
    detector = VocalEventDetector(config, model=_NoModel(config))
    for t0, s in patches:
        detector.feed(t0, s)
    return any(e.kind == heard_kind(group) for e in detector.take_events())


class _NoModel:
    """Stands in for YAMNet when recorded scores are replayed: only class indexes are asked for."""

    def __init__(self, config: VocalEventsConfig):
        self._names = sorted({c for g in config.groups.values() for c in g.classes})

    def index(self, name: str) -> int:
        return self._names.index(name)


def with_group(config: VocalEventsConfig, group: str, threshold: float, duration: float) -> VocalEventsConfig:
    groups = dict(config.groups)
    groups[group] = groups[group].model_copy(update={"threshold": threshold, "min_duration_s": duration})
    return config.model_copy(update={"groups": groups})


def choose(group: str, labels: list[str], scores: list, config: VocalEventsConfig, max_fpr: float) -> Choice | None:
    lab = np.array(labels)
    positive = lab == group
    speech = lab == "speech"
    other = ~positive & ~speech
    best = None
    for duration in DURATIONS_S:
        ranked = np.array([clip_score(np.array([s.get(group, 0.0) for _, s in p]), duration) for p in scores])
        for threshold in sorted({float(v) for v in ranked if v > 0}):
            trial = with_group(config, group, threshold, duration)
            fired = np.array([fires(p, trial, group) for p in scores])
            fpr = float(fired[other].mean()) if other.any() else 0.0
            if fpr <= max_fpr and not fired[speech].any():
                c = Choice(group, duration, threshold, float(fired[positive].mean()) if positive.any() else float("nan"),
                           fpr, int(fired[speech].sum()))
                if best is None or c.recall > best.recall:
                    best = c
                break  # the lowest threshold that meets the limits has the highest recall
    return best


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("calibration", type=Path, help="calibration split (file,label,group)")
    p.add_argument("--max-false-positive-rate", type=float, default=0.02,
                   help="share of non-speech negative clips the detector may fire on (default 0.02)")
    args = p.parse_args(argv)
    config = VocalEventsConfig()
    labels, scores = patch_scores(args.calibration, config)
    print(f"{len(labels)} calibration clips; limits: <= {args.max_false_positive_rate:.1%} of non-speech negatives, "
          "no alarm on speech", file=sys.stderr)
    for group, cfg in config.groups.items():
        if not cfg.enabled:
            continue
        c = choose(group, labels, scores, config, args.max_false_positive_rate)
        if c is None:
            print(f"{group}: no threshold meets the limits")
            continue
        # Later groups are chosen with the earlier choices in force (distress suppresses laughter).
        config = with_group(config, group, c.threshold, c.min_duration_s)
        # Ship the threshold rounded down to 2 decimals: the INT8 model's scores sit on a grid
        # (0.3515625, 0.421875...), and a threshold a hair above a grid value would skip it.
        print(f"{group}: threshold {c.threshold:.7f} (ship {np.floor(c.threshold * 100) / 100:.2f}), min_duration_s {c.min_duration_s}: "
              f"recall {c.recall:.3f}, false positives {c.false_positive_rate:.3f} of non-speech negatives, {c.speech_false_alarms} on speech")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
