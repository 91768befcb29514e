"""Events a caregiver listens for: distress (crying, screaming), laughter and shouting, heard on the device.

YAMNet (``audio_events.AudioEventModel``) scores every 0.96 s log-mel patch, every 0.48 s, for
AudioSet's 521 classes. A caregiver needs none of those numbers; they need "crying started 12 s
ago". ``VocalEventDetector`` turns the scores into that:

* a **group** is a list of classes (distress: crying/sobbing, baby cry, screaming, whimper,
  wail/moan); its score on a patch is the highest of its classes' scores;
* an event **starts** once the group's score has stayed at or above its threshold for
  ``min_duration_s`` (consecutive patches), and **ends** once it has stayed below for
  ``hangover_s`` (a breath between two sobs is not the end of the crying);
* patches are scored whenever the sound stands above the room's noise floor, not only when the
  voice activity detector hears speech: crying is often not "speech" to a VAD.

Thresholds were chosen on a calibration split of labelled recordings and are reported on a
separate test split (docs/accuracy.md, ``affectedge evaluate --events``). What leaves the detector
is per window a mapping group -> score and, per event, a start and an end with its peak score; no
audio, spectrogram, embedding or the 521 scores.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Literal, Optional

import numpy as np
from pydantic import Field, field_validator

from ..core.config_base import ConfigPath, StrictModel
from ..core.types import Event
from .audio_features import HOP, PATCH_FRAMES, PATCH_HOP_FRAMES, PATCH_SAMPLES, SAMPLE_RATE, log_mel

PATCH_S = PATCH_SAMPLES / SAMPLE_RATE              # 0.975 s of audio per patch
PATCH_HOP_S = PATCH_HOP_FRAMES * HOP / SAMPLE_RATE  # a new patch every 0.48 s

GroupName = Literal["distress", "laughter", "shouting"]
GROUPS: tuple[str, ...] = ("distress", "laughter", "shouting")


class EventGroupConfig(StrictModel):
    enabled: bool = Field(True, description="Detect this event.")
    classes: list[str] = Field(..., min_length=1, description="AudioSet classes (display names in models/yamnet_class_map.csv) whose highest score is the group's score; checked against the class map at start-up.")
    threshold: float = Field(..., gt=0, lt=1, description="The group's score at or above which a patch counts (chosen on a calibration split, docs/accuracy.md).")
    min_duration_s: float = Field(1.4, ge=0, le=10, description="The score must stay at or above the threshold for this long (consecutive 0.96 s patches every 0.48 s: 0.96 s is one patch, 1.44 s two) before the event starts.")
    hangover_s: float = Field(1.5, ge=0, le=30, description="The event ends once the score has stayed below the threshold this long (a breath between sobs is not the end of the crying).")
    valence: Optional[float] = Field(None, ge=-1, le=1, description="Valence the event gives the voice estimate while it lasts (None: the event says nothing about valence).")
    arousal: float = Field(..., ge=-1, le=1, description="Arousal the event gives the voice estimate while it lasts; prosody's arousal is kept when it is higher.")


def _default_groups() -> dict[str, EventGroupConfig]:
    # Thresholds and minimum durations: chosen on the calibration split by
    # affectedge_tools.models.choose_event_thresholds (docs/accuracy.md); hangovers are not tuned.
    return {
        "distress": EventGroupConfig(
            classes=["Crying, sobbing", "Baby cry, infant cry", "Screaming", "Whimper", "Wail, moan"],
            threshold=0.35, min_duration_s=0.96, hangover_s=1.5, valence=-0.6, arousal=0.5),
        "laughter": EventGroupConfig(
            classes=["Laughter", "Baby laughter", "Giggle", "Belly laugh", "Chuckle, chortle"],
            threshold=0.28, min_duration_s=1.44, hangover_s=1.0, valence=0.6, arousal=0.2),
        "shouting": EventGroupConfig(
            enabled=False, classes=["Shout", "Yell", "Children shouting"],
            threshold=0.3, min_duration_s=0.9, hangover_s=1.0, valence=None, arousal=0.6),
    }


class VocalEventsConfig(StrictModel):
    enabled: bool = Field(True, description="Listen for the event groups with YAMNet (models/yamnet_spectra_in.tflite, needs the `litert` extra). Off: the voice path is prosody only.")
    threads: int = Field(1, ge=1, le=8, description="Inference threads for YAMNet (one patch every 0.48 s costs about 0.5 ms).")
    manifest: Optional[ConfigPath] = Field(None, description="Model manifest holding the `yamnet` entry (default: the bundled models/manifest.yaml). A missing or corrupt model file is a start-up error naming it.")
    min_level_dbfs: float = Field(-65.0, ge=-120, le=0, description="A patch whose loud frames are quieter than this (dBFS) is not scored: digital silence or a muted microphone.")
    noise_margin_db: float = Field(6.0, ge=0, le=40, description="A patch is scored when its loud frames (90th percentile) stand at least this far above the noise floor (10th percentile of the last 30 s of 10 ms frames).")
    groups: dict[GroupName, EventGroupConfig] = Field(default_factory=_default_groups, description="The event groups. distress raises arousal and lowers valence, and a window with distress is never green (docs/zones.md); laughter gives positive valence; shouting (off by default) raises arousal only.")

    @field_validator("groups")
    @classmethod
    def _complete(cls, v: dict[str, EventGroupConfig]) -> dict[str, EventGroupConfig]:
        # A partial `groups:` in YAML replaces the defaults for the groups it names only.
        return {**_default_groups(), **v}


@dataclass
class _GroupState:
    """One group's run of patches and its event (times on the session clock)."""

    run: deque  # (patch_start, patch_end, score) of the current run at or above the threshold
    onset: Optional[float] = None  # the event's start while it lasts
    peak: float = 0.0
    last_above: float = -math.inf  # end of the last patch at or above the threshold


@dataclass(frozen=True)
class HeardEvent:
    """One event, for the window it overlaps: ``end`` is None while it lasts."""

    group: str
    onset: float
    end: Optional[float]
    peak: float


def heard_kind(group: str) -> str:
    """The pipeline event kind when an event starts (``distress_heard``...)."""
    return f"{group}_heard"


def ended_kind(group: str) -> str:
    return f"{group}_ended"


HEARD_KINDS = tuple(heard_kind(g) for g in GROUPS)
ENDED_KINDS = tuple(ended_kind(g) for g in GROUPS)


def patches_needed(min_duration_s: float) -> int:
    """Consecutive patches whose span reaches ``min_duration_s`` (at least one)."""
    if min_duration_s <= PATCH_S + 1e-9:
        return 1
    return 1 + math.ceil((min_duration_s - PATCH_S) / PATCH_HOP_S - 1e-9)


def clip_score(scores: np.ndarray, min_duration_s: float) -> float:
    """The highest threshold at which the detector would fire on a clip with these patch scores:
    the best over runs of ``patches_needed`` consecutive patches of the run's lowest score."""
    k = patches_needed(min_duration_s)
    s = np.asarray(scores, float)
    if len(s) < k:
        return 0.0
    return float(np.lib.stride_tricks.sliding_window_view(s, k).min(axis=1).max())


class VocalEventDetector:
    """Streaming: ``push(samples, t)`` at 16 kHz, then ``window(start, end)`` and ``take_events()``."""

    NOISE_SPAN_S = 30.0

    def __init__(self, config: VocalEventsConfig, model=None, source: str = "microphone", keep_scores: bool = False):
        from .audio_events import AudioEventModel

        self.config = config
        self.source = source
        self.model = model if model is not None else AudioEventModel(threads=config.threads, manifest=config.manifest)
        self.groups = {g: c for g, c in config.groups.items() if c.enabled}
        self._index = {g: np.array([self.model.index(name) for name in c.classes]) for g, c in self.groups.items()}
        self._state = {g: _GroupState(deque()) for g in self.groups}
        self._heard: deque[HeardEvent] = deque()
        self._events: list[Event] = []
        self._levels: deque[float] = deque(maxlen=int(self.NOISE_SPAN_S * SAMPLE_RATE / HOP))
        self.patches_scored = 0
        self.patches_skipped = 0
        # Offline scoring (``affectedge evaluate --events``) reads every patch's group scores.
        self.scores: Optional[list[tuple[float, dict[str, float]]]] = [] if keep_scores else None
        self._reset(None)

    def describe(self) -> str:
        names = ", ".join(f"{g} (>= {c.threshold:.2f} for {c.min_duration_s:.1f} s)" for g, c in self.groups.items())
        return f"vocal events with YAMNet: {names}"

    def _reset(self, t0: Optional[float]) -> None:
        self._buf = np.zeros(0, np.float32)
        self._t0 = t0  # time of self._buf[0]

    def push(self, x: np.ndarray, t: float) -> None:
        """Samples at 16 kHz starting at ``t``; a gap restarts the patch grid (and ends events)."""
        if self._t0 is not None and abs(t - (self._t0 + len(self._buf) / SAMPLE_RATE)) > 0.05:
            self._close_all(self._t0 + len(self._buf) / SAMPLE_RATE)
            self._reset(t)
        if self._t0 is None:
            self._t0 = t
        self._buf = np.concatenate([self._buf, np.asarray(x, np.float32)])
        step = PATCH_HOP_FRAMES * HOP
        while len(self._buf) >= PATCH_SAMPLES:
            self._patch(self._buf[:PATCH_SAMPLES], self._t0)
            self._buf = self._buf[step:]
            self._t0 += step / SAMPLE_RATE

    def _levels_db(self, patch: np.ndarray) -> np.ndarray:
        """Per 10 ms frame, the level of what varies: a DC offset (a cheap microphone's bias)
        is not sound, and counted as level it lifted the floor over a cry."""
        frames = patch[: (len(patch) // HOP) * HOP].reshape(-1, HOP).astype(np.float64)
        return 10.0 * np.log10(np.var(frames, axis=1) + 1e-12)

    def _patch(self, patch: np.ndarray, t0: float) -> None:
        levels = self._levels_db(patch)
        # Only the hop's new frames join the floor's history, so overlapping patches count once.
        self._levels.extend(levels[-PATCH_HOP_FRAMES:] if self.patches_scored + self.patches_skipped else levels)
        floor = float(np.percentile(np.fromiter(self._levels, float), 10))
        loud = float(np.percentile(levels, 90))
        if loud < self.config.min_level_dbfs or loud < floor + self.config.noise_margin_db:
            self.patches_skipped += 1
            scores = {g: 0.0 for g in self.groups}
        else:
            self.patches_scored += 1
            spectrum = log_mel(patch)[:PATCH_FRAMES]
            row = self.model.scores(spectrum[None])[0]
            raw = {g: float(row[ix].max()) for g, ix in self._index.items()}
            # One patch is one kind of sound: a group counts only where it outscores the others
            # (YAMNet gives infant cries a laughter score too; docs/voice.md).
            top = max(raw.values())
            scores = {g: (v if v >= top else 0.0) for g, v in raw.items()}
        self.feed(t0, scores)

    def feed(self, t0: float, scores: dict[str, float]) -> None:
        """One patch's group scores (from ``push``, or recorded ones replayed to try other thresholds)."""
        if self.scores is not None:
            self.scores.append((t0, scores))
        for g in self.groups:
            self._update(g, t0, t0 + PATCH_S, scores.get(g, 0.0))

    def _update(self, g: str, t0: float, t1: float, score: float) -> None:
        cfg, st = self.groups[g], self._state[g]
        if score >= cfg.threshold:
            st.run.append((t0, t1, score))
            st.last_above = t1
            if st.onset is None and len(st.run) >= patches_needed(cfg.min_duration_s) and not self._suppressed(g):
                st.onset = st.run[0][0]
                st.peak = max(s for _, _, s in st.run)
                if g == "distress" and self._state.get("laughter") is not None and self._state["laughter"].onset is not None:
                    # Crying after laughing: the laughter is over when the crying starts.
                    self._close("laughter", min(self._state["laughter"].last_above, st.onset))
                self._events.append(Event(st.onset, heard_kind(g), self.source, {"event": g, "confidence": round(st.peak, 3)}))
                self._heard.append(HeardEvent(g, st.onset, None, st.peak))
            elif st.onset is not None:
                st.peak = max(st.peak, score)
                self._replace_open(g, st)
        else:
            st.run.clear()
            if st.onset is not None and t1 - st.last_above >= cfg.hangover_s:
                self._close(g, st.last_above)

    def _suppressed(self, g: str) -> bool:
        """Laughter does not start while distress lasts: a crying child is not laughing, and a
        window should not carry both."""
        distress = self._state.get("distress")
        return g == "laughter" and distress is not None and distress.onset is not None

    def _replace_open(self, g: str, st: _GroupState) -> None:
        for i in range(len(self._heard) - 1, -1, -1):
            h = self._heard[i]
            if h.group == g and h.end is None:
                self._heard[i] = HeardEvent(g, h.onset, None, st.peak)
                return

    def _close(self, g: str, end: float) -> None:
        st = self._state[g]
        for i in range(len(self._heard) - 1, -1, -1):
            h = self._heard[i]
            if h.group == g and h.end is None:
                self._heard[i] = HeardEvent(g, h.onset, end, st.peak)
                break
        self._events.append(Event(end, ended_kind(g), self.source,
                                  {"event": g, "confidence": round(st.peak, 3), "duration_s": round(end - st.onset, 3)}))
        st.onset, st.peak = None, 0.0
        st.run.clear()

    def finish(self, t: float) -> None:
        """The stream ended at ``t`` (a recording's end): an event still open ends there."""
        self._close_all(t)

    def _close_all(self, t: float) -> None:
        for g, st in self._state.items():
            if st.onset is not None:
                self._close(g, min(t, st.last_above))

    def window(self, start: float, end: float) -> dict[str, float]:
        """Group -> peak score of each event that overlaps [start, end); events wholly before the
        window are forgotten. An event whose sound has not been confirmed for its hangover plus a
        patch (the audio stopped: a source ended or went down) ends where it was last heard."""
        for g, st in self._state.items():
            if st.onset is not None and end - st.last_above > self.groups[g].hangover_s + PATCH_S:
                self._close(g, st.last_above)
        while self._heard and self._heard[0].end is not None and self._heard[0].end <= start:
            self._heard.popleft()
        out: dict[str, float] = {}
        for h in self._heard:
            if h.onset < end and (h.end is None or h.end > start):
                out[h.group] = max(out.get(h.group, 0.0), h.peak)
        return out

    def take_events(self) -> list[Event]:
        out, self._events = self._events, []
        return out
