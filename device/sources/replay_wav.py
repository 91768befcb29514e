"""Replay of a recorded WAV file as microphone chunks, resampled to the pipeline's rate."""

from __future__ import annotations

import wave
from math import gcd
from typing import Iterator, Literal

import numpy as np
from pydantic import Field

from ..config_base import ConfigPath, StrictModel
from ..errors import SourceError
from ..types import AudioChunk, Event
from .base import SourceBackend

PIPELINE_SAMPLE_RATE = 16_000


class ReplayWavConfig(StrictModel):
    backend: Literal["replay_wav"] = Field(description="Replay a recorded PCM WAV file.")
    path: ConfigPath = Field(description="PCM WAV file (8/16/24/32-bit integer, any rate, mono or multi-channel: channels are averaged).")
    start_s: float = Field(0.0, ge=0, description="Where the file's first sample sits on the session timeline, in seconds.")
    chunk_s: float = Field(0.032, gt=0, le=1.0, description="Length of each delivered chunk in seconds (0.032 s = 512 samples at 16 kHz).")


def read_wav(path) -> tuple[np.ndarray, int]:
    """Read a PCM WAV file as mono float32 in [-1, 1] and its sample rate."""
    try:
        with wave.open(str(path), "rb") as w:
            width, rate, channels = w.getsampwidth(), w.getframerate(), w.getnchannels()
            raw = w.readframes(w.getnframes())
    except (wave.Error, EOFError) as exc:
        raise SourceError(f"{path}: not a PCM WAV file ({exc})") from None
    if width == 1:
        x = (np.frombuffer(raw, np.uint8).astype(np.float32) - 128.0) / 128.0
    elif width == 2:
        x = np.frombuffer(raw, "<i2").astype(np.float32) / 32768.0
    elif width == 3:
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        v = np.where(v >= 1 << 23, v - (1 << 24), v)
        x = v.astype(np.float32) / float(1 << 23)
    elif width == 4:
        x = np.frombuffer(raw, "<i4").astype(np.float32) / float(1 << 31)
    else:
        raise SourceError(f"{path}: unsupported sample width of {width} bytes")
    if channels > 1:
        x = x.reshape(-1, channels).mean(axis=1)
    return x, rate


def resample(x: np.ndarray, rate: int, target: int = PIPELINE_SAMPLE_RATE) -> np.ndarray:
    """Polyphase resampling (anti-aliased) to ``target`` Hz."""
    if rate == target:
        return x.astype(np.float32, copy=False)
    from scipy.signal import resample_poly

    g = gcd(rate, target)
    return resample_poly(x, target // g, rate // g).astype(np.float32)


class ReplayWavSource:
    def __init__(self, config: ReplayWavConfig, name: str = "microphone"):
        self.config = config
        self.name = name
        self._audio: np.ndarray | None = None

    def open(self) -> None:
        if not self.config.path.is_file():
            raise SourceError(f"{self.config.path}: WAV file not found")
        x, rate = read_wav(self.config.path)
        self._audio = resample(x, rate)

    def samples(self) -> Iterator[AudioChunk | Event]:
        x = self._audio
        rate = PIPELINE_SAMPLE_RATE
        step = max(1, int(round(self.config.chunk_s * rate)))
        t0 = self.config.start_s
        yield Event(t0, "source_up", self.name, {"file": self.config.path.name})
        for i in range(0, len(x), step):
            yield AudioChunk(t0 + i / rate, x[i : i + step], rate, self.name)
        yield Event(t0 + len(x) / rate, "source_down", self.name, {"file": self.config.path.name})

    def close(self) -> None:
        self._audio = None


BACKEND = SourceBackend("replay_wav", "microphone", ReplayWavConfig, ReplayWavSource)
