"""Replay of a recorded WAV file as microphone chunks, resampled to the pipeline's rate."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from math import gcd
from pathlib import Path
from typing import Iterator, Literal

import numpy as np
from pydantic import Field

from ..core.config_base import ConfigPath, StrictModel
from ..core.errors import SourceError
from ..core.types import AudioChunk, Event
from .base import MAX_START_S, SourceBackend

PIPELINE_SAMPLE_RATE = 16_000


class ReplayWavConfig(StrictModel):
    backend: Literal["replay_wav"] = Field(description="Replay a recorded PCM WAV file.")
    path: ConfigPath = Field(description="WAV file (8/16/24/32-bit integer or 32/64-bit float PCM, plain or WAVE_FORMAT_EXTENSIBLE, any rate, mono or multi-channel: channels are averaged).")
    start_s: float = Field(0.0, ge=0, le=MAX_START_S, allow_inf_nan=False, description="Where the file's first sample sits on the session timeline, in seconds.")
    chunk_s: float = Field(0.032, gt=0, le=1.0, description="Length of each delivered chunk in seconds (0.032 s = 512 samples at 16 kHz).")


# WAVE format tags (RIFF fmt chunk) and the sub-format of WAVE_FORMAT_EXTENSIBLE, whose GUID
# begins with the plain tag as a little-endian uint16.
_PCM, _IEEE_FLOAT, _EXTENSIBLE = 1, 3, 0xFFFE


def _decode_pcm(raw: bytes, width: int) -> np.ndarray:
    if width == 1:
        return (np.frombuffer(raw, np.uint8).astype(np.float32) - 128.0) / 128.0
    if width == 2:
        return np.frombuffer(raw, "<i2").astype(np.float32) / 32768.0
    if width == 3:
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        v = np.where(v >= 1 << 23, v - (1 << 24), v)
        return v.astype(np.float32) / float(1 << 23)
    return np.frombuffer(raw, "<i4").astype(np.float32) / float(1 << 31)


# Float samples are in [-1, 1]. A little beyond is a mastering overshoot, clipped and counted; a
# file whose samples reach past this is not normalised float audio (a float WAV written on an
# integer scale, or scaled by mistake) and is refused, never read as a very loud, aroused voice.
MAX_FLOAT_PEAK = 4.0


@dataclass(frozen=True)
class WavRepairs:
    """What read_wav_checked changed to make a float file usable: counts, reported as an event."""

    non_finite: int = 0   # NaN or infinite samples, set to 0
    clipped: int = 0      # float samples beyond [-1, 1], clipped

    def __bool__(self) -> bool:
        return bool(self.non_finite or self.clipped)


def read_wav(path) -> tuple[np.ndarray, int]:
    """``read_wav_checked`` without the repair counts."""
    x, rate, _ = read_wav_checked(path)
    return x, rate


def read_wav_checked(path) -> tuple[np.ndarray, int, WavRepairs]:
    """Read a WAV file as mono float32 in [-1, 1] and its sample rate.

    Reads integer PCM (8/16/24/32-bit), IEEE float (32/64-bit) and both in WAVE_FORMAT_EXTENSIBLE
    (sox's default for 24-bit and multi-channel output). A data chunk cut short (a recorder that
    stopped mid-write) gives the whole frames that are there. Anything else is a SourceError that
    names the file, the reason and the byte offset.
    """
    data = Path(path).read_bytes()
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise SourceError(f"{path}: not a WAV file (byte 0: expected 'RIFF....WAVE', got {data[:12]!r})")
    fmt: tuple[int, int, int, int] | None = None  # tag, channels, rate, bits
    pos = 12
    while pos + 8 <= len(data):
        chunk_id, size = data[pos:pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        body = pos + 8
        if chunk_id == b"fmt ":
            if size < 16 or body + 16 > len(data):
                raise SourceError(f"{path}: fmt chunk at byte {pos} is truncated ({len(data) - body} of at least 16 bytes)")
            tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", data, body)
            if tag == _EXTENSIBLE:
                if size < 40 or body + 40 > len(data):
                    raise SourceError(f"{path}: extensible fmt chunk at byte {pos} is truncated ({size} of 40 bytes)")
                tag = struct.unpack_from("<H", data, body + 24)[0]
            fmt = (tag, channels, rate, bits)
        elif chunk_id == b"data":
            if fmt is None:
                raise SourceError(f"{path}: data chunk at byte {pos} comes before any fmt chunk")
            return _checked(path, *_decode(path, fmt, data[body:body + size]))
        pos = body + size + (size & 1)  # chunks are padded to an even length
    if pos < len(data):
        raise SourceError(f"{path}: chunk header at byte {pos} is truncated ({len(data) - pos} of 8 bytes)")
    raise SourceError(f"{path}: no data chunk (file ends at byte {len(data)})" if fmt else f"{path}: no fmt chunk (file ends at byte {len(data)})")


def _decode(path, fmt: tuple[int, int, int, int], raw: bytes) -> tuple[np.ndarray, int]:
    tag, channels, rate, bits = fmt
    if channels < 1 or rate < 1:
        raise SourceError(f"{path}: fmt chunk says {channels} channels at {rate} Hz")
    width = bits // 8
    if tag == _PCM and bits in (8, 16, 24, 32):
        decode = lambda b: _decode_pcm(b, width)  # noqa: E731
    elif tag == _IEEE_FLOAT and bits in (32, 64):
        decode = lambda b: np.frombuffer(b, "<f4" if bits == 32 else "<f8").astype(np.float32)  # noqa: E731
    else:
        kind = {_PCM: "integer PCM", _IEEE_FLOAT: "IEEE float"}.get(tag, f"format tag {tag:#06x}")
        raise SourceError(f"{path}: {kind} with {bits}-bit samples is not supported "
                          "(integer PCM 8/16/24/32-bit and IEEE float 32/64-bit are)")
    frame = width * channels
    # A 64-bit float past float32's range becomes inf here; _checked counts and silences it.
    with np.errstate(over="ignore", invalid="ignore"):
        x = decode(raw[:len(raw) - len(raw) % frame])
    if channels > 1:
        x = x.reshape(-1, channels).mean(axis=1)
    return x, rate


def _checked(path, x: np.ndarray, rate: int) -> tuple[np.ndarray, int, WavRepairs]:
    """Integer PCM is always in range; float PCM may hold NaN/inf or exceed full scale."""
    finite = np.isfinite(x)
    non_finite = int(x.size - np.count_nonzero(finite))
    if non_finite:
        x = np.where(finite, x, np.float32(0.0))
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak > MAX_FLOAT_PEAK:
        where = int(np.argmax(np.abs(x) > MAX_FLOAT_PEAK))
        raise SourceError(f"{path}: float samples reach {peak:.4g} (first past {MAX_FLOAT_PEAK:g} at sample {where}); float WAV "
                          "audio is in [-1, 1]: this file is on another scale, rescale it (e.g. sox --norm) before analysing")
    clipped = int(np.count_nonzero(np.abs(x) > 1.0))
    if clipped:
        x = np.clip(x, -1.0, 1.0)
    return x, rate, WavRepairs(non_finite, clipped)


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
        self._repairs = WavRepairs()

    def open(self) -> None:
        if not self.config.path.is_file():
            raise SourceError(f"{self.config.path}: WAV file not found")
        x, rate, self._repairs = read_wav_checked(self.config.path)
        self._audio = resample(x, rate)

    def samples(self) -> Iterator[AudioChunk | Event]:
        x = self._audio
        rate = PIPELINE_SAMPLE_RATE
        step = max(1, int(round(self.config.chunk_s * rate)))
        t0 = self.config.start_s
        yield Event(t0, "source_up", self.name, {"file": self.config.path.name})
        if self._repairs:
            yield Event(t0, "audio_repaired", self.name, {"file": self.config.path.name, "non_finite_samples": self._repairs.non_finite,
                                                         "clipped_samples": self._repairs.clipped})
        for i in range(0, len(x), step):
            yield AudioChunk(t0 + i / rate, x[i : i + step], rate, self.name)
        yield Event(t0 + len(x) / rate, "recording_ended", self.name, {"file": self.config.path.name})

    def close(self) -> None:
        self._audio = None


BACKEND = SourceBackend("replay_wav", "microphone", ReplayWavConfig, ReplayWavSource)
