"""Voice activity: a detector gives a speech probability per chunk, a segmenter turns those into speech.

Two detectors, chosen by ``perception.voice.vad``: Silero VAD (bundled in models/, run in NumPy
from the ONNX model's weights; the default) and WebRTC's VAD (webrtcvad-wheels; a tiny C library,
the light fallback that answers 0 or 1, imported in ``load_vad``).

The segmenter adds hysteresis (enter at ``threshold``, leave below ``threshold - 0.15``), a
hangover (speech continues through pauses shorter than ``hangover_s``) and a minimum segment
length: a segment counts only once it has lasted ``min_segment_s``, so a click or a cough does
not open the voice path. The price is latency: speech is confirmed ``min_segment_s`` after it
starts (the frames before confirmation are then used as context).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Iterator, Optional, Protocol

import numpy as np

from ..inference.manifest import model_spec
from ..core.extras import require_module
from .silero import CHUNK, SileroNumpy

SAMPLE_RATE = 16_000


class VoiceActivityDetector(Protocol):
    key: str
    chunk_samples: int

    def probability(self, chunk: np.ndarray) -> float:
        """Speech probability of one chunk of ``chunk_samples`` 16 kHz samples (stateful: chunks in order)."""
        ...

    def reset(self) -> None:
        """Forget the state (after a gap in the audio)."""
        ...


class SileroVad:
    """Silero VAD v6: 512-sample chunks at 16 kHz, each prefixed by the previous 64 samples; run in
    NumPy from the model's own weights (device/perception/silero.py), so no ONNX runtime is loaded."""

    key = "silero"
    chunk_samples = CHUNK

    def __init__(self) -> None:
        # The bytes checked against models/manifest.yaml are the bytes loaded (the face path does the same).
        spec = model_spec("silero_vad", "npz")
        with np.load(io.BytesIO(spec.verify_file())) as weights:
            self._net = SileroNumpy(weights)

    def reset(self) -> None:
        self._net.reset()

    def probability(self, chunk: np.ndarray) -> float:
        return self._net.probability(chunk)


class WebrtcVad:
    """WebRTC's GMM VAD: 30 ms frames, a yes/no answer (``aggressiveness`` 0-3)."""

    key = "webrtc"
    chunk_samples = 480

    def __init__(self, aggressiveness: int = 2) -> None:
        webrtcvad = require_module("webrtcvad", "webrtc VAD", "vad-light")
        self._vad = webrtcvad.Vad(aggressiveness)

    def reset(self) -> None:
        pass  # the C state adapts by itself and has no reset

    def probability(self, chunk: np.ndarray) -> float:
        pcm = (np.clip(chunk, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()
        return 1.0 if self._vad.is_speech(pcm, SAMPLE_RATE) else 0.0


def load_vad(key: str, webrtc_aggressiveness: int = 2) -> VoiceActivityDetector:
    if key == "silero":
        return SileroVad()
    if key == "webrtc":
        return WebrtcVad(webrtc_aggressiveness)
    raise ValueError(f"unknown VAD {key!r} (silero, webrtc)")


@dataclass(frozen=True)
class SpeechSegment:
    start: float
    end: float


@dataclass(frozen=True)
class ChunkDecision:
    start: float
    end: float
    probability: float


class SpeechSegmenter:
    """Hysteresis, hangover and minimum length over a stream of chunk probabilities.

    ``update`` takes one chunk and returns the segment that became final with it, if any;
    ``confirmed_until`` and ``open_segment`` describe the speech known so far.
    """

    def __init__(self, threshold: float, hangover_s: float, min_segment_s: float):
        self.threshold = threshold
        self.off_threshold = max(0.0, threshold - 0.15)
        self.hangover_s = hangover_s
        self.min_segment_s = min_segment_s
        self._start: Optional[float] = None  # start of the segment in progress
        self._last_speech: Optional[float] = None  # end of its last chunk above off_threshold

    def reset(self) -> Optional[SpeechSegment]:
        """End the segment in progress (audio gap or end of stream); returns it if long enough."""
        seg = self._finish()
        self._start = self._last_speech = None
        return seg

    def _finish(self) -> Optional[SpeechSegment]:
        if self._start is None:
            return None
        seg = SpeechSegment(self._start, self._last_speech)
        return seg if seg.end - seg.start >= self.min_segment_s else None

    def update(self, c: ChunkDecision) -> Optional[SpeechSegment]:
        if self._start is None:
            if c.probability >= self.threshold:
                self._start, self._last_speech = c.start, c.end
            return None
        if c.probability >= self.off_threshold:
            self._last_speech = c.end
            return None
        if c.end - self._last_speech >= self.hangover_s:
            seg = self._finish()
            self._start = self._last_speech = None
            return seg
        return None

    def open_segment(self, now: float) -> Optional[SpeechSegment]:
        """The segment in progress, up to its last speech chunk, once it is long enough to count.

        A pause still inside the hangover is not speech yet: it becomes speech only if the
        segment resumes.
        """
        if self._start is None or self._last_speech - self._start < self.min_segment_s:
            return None
        return SpeechSegment(self._start, min(now, self._last_speech))


def speech_segments(x: np.ndarray, vad: VoiceActivityDetector, threshold: float, hangover_s: float,
                    min_segment_s: float) -> Iterator[SpeechSegment]:
    """Speech segments of a whole recording (16 kHz mono), as the streaming path would find them."""
    seg = SpeechSegmenter(threshold, hangover_s, min_segment_s)
    n = vad.chunk_samples
    vad.reset()
    for i in range(0, len(x) - n + 1, n):
        done = seg.update(ChunkDecision(i / SAMPLE_RATE, (i + n) / SAMPLE_RATE, vad.probability(x[i : i + n])))
        if done is not None:
            yield done
    last = seg.reset()
    if last is not None:
        yield last
