"""Microphone check: audio arriving, level, noise floor and clipping in dBFS, and speech heard."""

from __future__ import annotations

import importlib
from typing import Optional

import numpy as np

from affectedge.core.types import AudioChunk, Event, Sample

from .checks import CheckResult, graded
from ..config.calibration import MicrophoneCheckConfig
from .phase import PhaseSpan

SILENCE_DBFS = -140.0  # the level reported for digital zero (log of 0 is not a number)
SPEECH_PROBABILITY = 0.5


def dbfs(rms: np.ndarray) -> np.ndarray:
    """RMS of a full-scale-1 signal in dB relative to full scale (a full-scale sine reads -3)."""
    return np.maximum(20.0 * np.log10(np.maximum(rms, 1e-12)), SILENCE_DBFS)


def project_vad():
    """The voice path's voice-activity detector when this build has it, else (None, why)."""
    try:
        vad = importlib.import_module("affectedge.perception.vad")
    except ImportError:
        return None, "no voice-activity detector in this build (the voice path, affectedge.perception.vad, is not installed)"
    try:
        return vad.load_vad("silero"), ""
    except Exception as exc:  # a missing runtime or model: say why, do not guess
        return None, f"the voice-activity detector cannot start ({exc})"


class MicrophoneCheck:
    """Collects the microphone's audio in the phase span (an analyser, so the pipeline feeds it)."""

    modality = "voice"

    def __init__(self, config: MicrophoneCheckConfig, span: PhaseSpan, vad=None, vad_missing: str = ""):
        self.config = config
        self.span = span
        self.vad = vad
        self.vad_missing = vad_missing
        self.chunks = 0
        self.samples = 0
        self.clipped = 0
        self.peak = 0.0
        self.rate: Optional[int] = None
        self.levels: list[float] = []  # frame RMS in dBFS
        self.speech_chunks = 0
        self.vad_chunks = 0
        self._frame_rest = np.zeros(0, np.float32)
        self._vad_rest = np.zeros(0, np.float32)

    def accepts(self, sample: Sample) -> bool:
        return isinstance(sample, AudioChunk)

    def push(self, sample: Sample) -> None:
        if not self.span.admits(sample.t):
            return
        x = np.asarray(sample.samples, dtype=np.float32)
        self.rate = sample.sample_rate
        self.chunks += 1
        self.samples += len(x)
        a = np.abs(x)
        self.clipped += int((a >= self.config.clip_level).sum())
        self.peak = max(self.peak, float(a.max(initial=0.0)))
        n = max(1, int(round(self.config.frame_s * sample.sample_rate)))
        buf = np.concatenate([self._frame_rest, x])
        k = len(buf) // n
        if k:
            frames = buf[: k * n].reshape(k, n).astype(np.float64)
            self.levels.extend(dbfs(np.sqrt((frames ** 2).mean(axis=1))).tolist())
        self._frame_rest = buf[k * n:]
        if self.vad is not None:
            self._run_vad(x)

    def _run_vad(self, x: np.ndarray) -> None:
        n = self.vad.chunk_samples
        buf = np.concatenate([self._vad_rest, x])
        k = len(buf) // n
        for i in range(k):
            self.vad_chunks += 1
            self.speech_chunks += self.vad.probability(buf[i * n:(i + 1) * n]) >= SPEECH_PROBABILITY
        self._vad_rest = buf[k * n:]

    def estimate(self, start: float, end: float):
        return None

    def take_events(self) -> list[Event]:
        return []

    # ------------------------------------------------------------------ verdicts

    def results(self, sensor: str = "microphone") -> list[CheckResult]:
        c = self.config
        if self.samples == 0 or not self.levels:
            return [CheckResult(sensor, "audio", "fail", "no audio in the check span",
                                "check that the microphone is connected and is the configured input device")]
        seconds = self.samples / self.rate
        out = [CheckResult(sensor, "audio", "pass", f"{seconds:.1f} s of audio at {self.rate} Hz")]
        levels = np.asarray(self.levels)
        loud = float(np.percentile(levels, 95))
        floor = float(np.percentile(levels, 10))
        if loud < c.level_fail_below_dbfs:
            out.append(CheckResult(sensor, "level", "fail", f"no sound: loudest level {loud:.0f} dBFS (needs > {c.level_fail_below_dbfs:.0f})",
                                   "the microphone seems muted, unplugged or turned away: check its mute switch and input gain"))
        else:
            out.append(CheckResult(sensor, "level", "pass", f"loud frames at {loud:.0f} dBFS, peak {20 * np.log10(max(self.peak, 1e-12)):.1f} dBFS"))
        status = graded(floor, c.noise_fail_above_dbfs, c.noise_warn_above_dbfs, higher_is_better=False)
        out.append(CheckResult(sensor, "noise floor", status, f"noise floor {floor:.0f} dBFS",
                               "" if status == "pass" else f"noisy room (good below {c.noise_warn_above_dbfs:.0f} dBFS): turn off fans, TV or music, or move the microphone closer to the person"))
        frac = self.clipped / self.samples
        status = graded(frac, c.clip_fail_fraction, c.clip_warn_fraction, higher_is_better=False)
        out.append(CheckResult(sensor, "clipping", status, f"{frac:.2%} of samples at full scale",
                               "" if status == "pass" else "the input is overloaded: lower the input gain or move the microphone further away"))
        if self.vad is None:
            out.append(CheckResult(sensor, "speech", "unavailable", "not measured", self.vad_missing))
        else:
            speech_s = self.speech_chunks * self.vad.chunk_samples / self.rate
            heard = speech_s >= 1.0
            out.append(CheckResult(sensor, "speech", "pass" if heard else "fail",
                                   f"speech detected in {speech_s:.1f} s of {seconds:.1f} s",
                                   "" if heard else "no speech heard: ask the person to say a few sentences; check the microphone faces them"))
        return out
