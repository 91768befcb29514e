"""The voice analyser: voice activity -> prosodic features -> arousal (and a speech model's labels if one is configured).

Only speech goes further: a window whose audio is not confirmed speech gets no voice estimate
(silence is not "calm"). For a speech window the analyser summarises the speech frames of the
last ``context_s`` seconds (pitch, loudness, their variability, a speaking-rate proxy, spectral
tilt, HNR) and turns them into arousal as z-scores against the person's baseline, or against
population defaults when the profile has no voice section (``basis`` says which).

Arousal (docs/voice.md): ``tanh(0.5 * (0.35 z_f0 + 0.35 z_loudness + 0.15 z_f0_variability + 0.15 z_rate))``,
so a higher, louder, livelier or faster voice raises it. Valence is left absent: prosody alone
does not tell a happy shout from an angry one, and no speech-emotion model ships (see speech_model.py).

Vocal events (vocal_events.py: distress, laughter, shouting, heard by YAMNet on all audio above the
noise floor) enter the estimate while they last: each gives its configured valence and arousal
with its score as quality, so a crying child gets an estimate even when the VAD hears no speech.

Privacy: raw audio lives only in a buffer of the samples not yet analysed (one window plus one
analysis frame, about 0.3 s; never more than about 0.6 s); what is kept for the context span are
per-frame numbers, and what leaves the analyser are the per-window estimate and the features
named in ``log_features``.
"""

from __future__ import annotations

from collections import deque
from typing import Literal, Optional

import numpy as np
from pydantic import Field, field_validator

from ..core.config_base import ConfigPath, StrictModel
from ..sources.replay_wav import resample
from ..core.types import AudioChunk, Event, ModalityEstimate, Sample
from .prosody import EMPTY_FRAMES, FRAME, HOP, SAMPLE_RATE, FrameFeatures, frame_features, n_frames, summarise
from .vad import ChunkDecision, SpeechSegment, SpeechSegmenter, VoiceActivityDetector, load_vad
from .vocal_events import VocalEventsConfig

# Population defaults, used when no person baseline has a voice section. They are deliberately
# wide (adult men to children), so without calibration the voice moves arousal only a little,
# and a population estimate's quality is scaled down by ``population_quality``.
POPULATION_F0_HZ = (200.0, 60.0)  # mean, sd of a speaker's median f0 (Titze 1994: men ~120, women ~210, children ~250-300)
POPULATION_LOUDNESS_DB = (-30.0, 8.0)  # speech RMS re full scale at a typical mic gain; depends on the mic
POPULATION_F0_SD_ST = (2.5, 1.0)  # within-utterance f0 spread, semitones
POPULATION_RATE_PER_S = (4.0, 1.2)  # syllable nuclei per second of speech (conversational ~3-5)

AROUSAL_WEIGHTS = {"z_f0": 0.35, "z_loudness": 0.35, "z_f0_variability": 0.15, "z_rate": 0.15}
AROUSAL_GAIN = 0.5
MIN_SPEECH_FOR_RATE_S = 1.0

FEATURE_KEYS: tuple[str, ...] = (
    "f0_median_hz", "f0_sd_st", "loudness_db", "loudness_sd_db", "rate_per_s", "tilt_db", "hnr_db",
    "voiced_fraction", "speech_s", "snr_db", "vad_probability",
    "z_f0", "z_loudness", "z_f0_variability", "z_rate",
)


class VoiceConfig(StrictModel):
    vad: Literal["silero", "webrtc"] = Field("silero", description="Voice activity detector: `silero` (Silero VAD v6 from models/, run in NumPy: no extra needed) or `webrtc` (the light fallback, needs the `vad-light` extra).")
    vad_threshold: float = Field(0.5, gt=0, lt=1, description="Speech starts when the detector's probability reaches this; it ends below this minus 0.15 (hysteresis). WebRTC answers 0 or 1.")
    webrtc_aggressiveness: int = Field(2, ge=0, le=3, description="WebRTC VAD only: 0 (lets most through) to 3 (strictest).")
    hangover_s: float = Field(0.2, ge=0, le=2, description="Pauses shorter than this stay inside a speech segment.")
    min_segment_s: float = Field(0.25, ge=0, le=3, description="A speech segment counts once it has lasted this long (clicks and coughs do not); also the voice path's latency.")
    context_s: float = Field(3.0, ge=0.5, le=10, description="Span of recent speech summarised for each window's features; only per-frame numbers are kept for it, never audio.")
    min_speech_fraction: float = Field(0.5, gt=0, le=1, description="A window gets a voice estimate only when at least this fraction of it is confirmed speech.")
    full_quality_speech_s: float = Field(1.5, gt=0, le=10, description="Speech in the context span needed for full quality; less scales quality down.")
    population_quality: float = Field(0.5, ge=0, le=1, description="Quality factor for estimates against population defaults (no voice baseline in the profile).")
    events: VocalEventsConfig = Field(default_factory=VocalEventsConfig, description="Vocal events heard with YAMNet on all audio above the noise floor, speech or not: distress (crying, screaming), laughter, shouting (docs/voice.md).")
    model: Optional[ConfigPath] = Field(None, description="Speech-emotion model manifest (written by tools/models/train_voice_model.py). None ships: without one the voice gives arousal only.")
    allow_synthetic_model: bool = Field(False, description="Load a model whose manifest says it was trained on synthetic speech. For toolchain tests only: such a model is not an emotion recogniser.")
    log_features: list[str] = Field(
        default_factory=lambda: list(FEATURE_KEYS),
        description=f"Per-window voice features kept in the estimate (session log); any of: {', '.join(FEATURE_KEYS)}. Audio is never stored.",
    )

    @field_validator("log_features")
    @classmethod
    def _known_features(cls, v: list[str]) -> list[str]:
        unknown = [k for k in v if k not in FEATURE_KEYS]
        if unknown:
            raise ValueError(f"unknown voice feature(s) {', '.join(unknown)}; known: {', '.join(FEATURE_KEYS)}")
        return v


def _z(value: float, mean_sd: tuple[float, float]) -> float:
    return (value - mean_sd[0]) / mean_sd[1]


def arousal_from(z: dict[str, float]) -> Optional[float]:
    """Weighted z-scores -> arousal in (-1, 1); NaN components drop out and the weights renormalise."""
    pairs = [(w, z[k]) for k, w in AROUSAL_WEIGHTS.items() if np.isfinite(z.get(k, np.nan))]
    if not pairs:
        return None
    total = sum(w for w, _ in pairs)
    return float(np.tanh(AROUSAL_GAIN * sum(w * v for w, v in pairs) / total))


class VoiceAnalyser:
    modality = "voice"

    def __init__(self, config: VoiceConfig, baseline=None, vad: Optional[VoiceActivityDetector] = None, source: str = "microphone",
                 events=None):
        self.config = config
        self.source = source
        self.vad = vad if vad is not None else load_vad(config.vad, config.webrtc_aggressiveness)
        self.segmenter = SpeechSegmenter(config.vad_threshold, config.hangover_s, config.min_segment_s)
        voice = getattr(baseline, "voice", None)
        if voice is not None:
            self.basis = f"person:{baseline.subject}"
            self._f0 = (voice.f0_hz.mean, voice.f0_hz.sd)
            self._loudness = (voice.loudness_db.mean, voice.loudness_db.sd)
        else:
            self.basis = "population"
            self._f0, self._loudness = POPULATION_F0_HZ, POPULATION_LOUDNESS_DB
        self.model = None
        if config.model is not None:
            from ..core.errors import ModelError
            from .speech_model import SpeechEmotionModel, read_manifest

            manifest = read_manifest(config.model)
            if manifest.synthetic and not config.allow_synthetic_model:
                raise ModelError(
                    f"{manifest.path}: trained on synthetic speech ({manifest.corpus}); it is a toolchain test, not an "
                    "emotion recogniser, and is refused (perception.voice.allow_synthetic_model is for tests only)"
                )
            self.model = SpeechEmotionModel(manifest)
        # ``events``: a VocalEventDetector to use (tests share one model); otherwise one is built
        # when the config enables it.
        if events is None and config.events.enabled:
            from .vocal_events import VocalEventDetector

            events = VocalEventDetector(config.events, source=source)
        self.vocal = events
        self._events: list[Event] = []
        self._announced = False
        self._reset_stream(None)

    # ------------------------------------------------------------------ stream state

    def _reset_stream(self, t0: Optional[float]) -> None:
        self._buf = np.zeros(0, dtype=np.float32)
        self._buf_t0 = t0
        self._vad_pos = 0
        self._frame_pos = 0
        self._frames: FrameFeatures = EMPTY_FRAMES
        self._chunks: deque[ChunkDecision] = deque()
        self._segments: deque[SpeechSegment] = deque()
        self._noise_db: deque[float] = deque(maxlen=int(10 * SAMPLE_RATE / HOP))  # non-speech frame levels, last ~10 s
        self._noise_until = -np.inf  # frames before this were already considered for the noise floor

    def describe(self) -> str:
        """One line for logs and the demo: what the voice path estimates and from what."""
        basis = self.basis if self.basis != "population" else "population defaults (no voice baseline)"
        what = self.model.describe() if self.model else "no speech-emotion model: arousal from prosody only, no emotion labels, no valence"
        heard = self.vocal.describe() if self.vocal is not None else "no vocal-event detection"
        return f"voice: {self.config.vad} VAD; {heard}; {what}; relative to {basis}"

    def accepts(self, sample: Sample) -> bool:
        return isinstance(sample, AudioChunk) and sample.source == self.source

    def push(self, sample: AudioChunk) -> None:
        x = sample.samples.astype(np.float32, copy=False)
        if sample.sample_rate != SAMPLE_RATE:
            x = resample(x, sample.sample_rate, SAMPLE_RATE)
        if self._buf_t0 is None:
            self._buf_t0 = sample.t
        expected = self._buf_t0 + len(self._buf) / SAMPLE_RATE
        if abs(sample.t - expected) > 0.05:
            # A gap (dropped audio, a paused source): the detector state and the frame grid restart.
            self._close_segment()
            self.vad.reset()
            self._buf, self._buf_t0, self._vad_pos, self._frame_pos = np.zeros(0, np.float32), sample.t, 0, 0
            self._events.append(Event(sample.t, "audio_gap", self.source, {"gap_s": round(sample.t - expected, 3)}))
        self._buf = np.concatenate([self._buf, x])
        if self.vocal is not None:
            self.vocal.push(x, sample.t)
        self._run_vad()
        if n_frames(len(self._buf) - self._frame_pos) >= 32:
            # Frames are computed in batches at window close; this bounds the buffer (~0.5 s)
            # if windows are not being closed.
            self._run_frames()
        self._trim_buffer()

    def _close_segment(self) -> None:
        seg = self.segmenter.reset()
        if seg is not None:
            self._segments.append(seg)

    def _run_vad(self) -> None:
        n = self.vad.chunk_samples
        while self._vad_pos + n <= len(self._buf):
            start = self._buf_t0 + self._vad_pos / SAMPLE_RATE
            c = ChunkDecision(start, start + n / SAMPLE_RATE, self.vad.probability(self._buf[self._vad_pos : self._vad_pos + n]))
            self._chunks.append(c)
            seg = self.segmenter.update(c)
            if seg is not None:
                self._segments.append(seg)
            self._vad_pos += n

    def _run_frames(self) -> None:
        k = n_frames(len(self._buf) - self._frame_pos)
        if k == 0:
            return
        stop = self._frame_pos + (k - 1) * HOP + FRAME
        new = frame_features(self._buf[self._frame_pos : stop]).shifted(self._buf_t0 + self._frame_pos / SAMPLE_RATE)
        self._frames = FrameFeatures.concat([self._frames, new])
        self._frame_pos += k * HOP

    def _trim_buffer(self) -> None:
        drop = min(self._vad_pos, self._frame_pos)
        if drop:
            self._buf = self._buf[drop:]
            self._buf_t0 += drop / SAMPLE_RATE
            self._vad_pos -= drop
            self._frame_pos -= drop

    # ------------------------------------------------------------------ per window

    def _speech_intervals(self, now: float) -> list[SpeechSegment]:
        segs = list(self._segments)
        open_seg = self.segmenter.open_segment(now)
        if open_seg is not None:
            segs.append(open_seg)
        return segs

    @staticmethod
    def _overlap(segs: list[SpeechSegment], a: float, b: float) -> float:
        return sum(max(0.0, min(s.end, b) - max(s.start, a)) for s in segs)

    def _near_voice_activity(self, frame_t: np.ndarray) -> np.ndarray:
        """Per frame (centre times): does a chunk the VAD found active (at or above its off
        threshold) lie within ``hangover_s`` of the frame's span, before or after it?"""
        active = [c for c in self._chunks if c.probability >= self.segmenter.off_threshold]
        if not active or not len(frame_t):
            return np.zeros(len(frame_t), dtype=bool)
        starts = np.array([c.start for c in active])
        ends = np.array([c.end for c in active])  # chunks are in time order and do not overlap
        reach = self.config.hangover_s + FRAME / 2 / SAMPLE_RATE
        # The last active chunk starting before the frame's reach ends; near if it ends after the reach starts.
        i = np.searchsorted(starts, frame_t + reach, side="left") - 1
        return (i >= 0) & (ends[np.maximum(i, 0)] > frame_t - reach)

    def _forget_before(self, t: float) -> None:
        frames = self._frames
        old = frames.t < t
        if old.any():
            self._frames = frames.select(~old)
        while self._chunks and self._chunks[0].end < t:
            self._chunks.popleft()
        while self._segments and self._segments[0].end < t:
            self._segments.popleft()

    def estimate(self, start: float, end: float) -> Optional[ModalityEstimate]:
        self._run_frames()
        self._trim_buffer()
        cfg = self.config
        ctx_start = end - cfg.context_s
        segs = self._speech_intervals(end)
        frames = self._frames
        in_ctx = (frames.t >= ctx_start) & (frames.t < end)
        speech_mask = np.zeros(len(frames), dtype=bool)
        for s in segs:
            speech_mask |= (frames.t >= s.start) & (frames.t < s.end)
        # The noise floor: frames old enough that no segment can still claim them, that the VAD
        # called silence with a hangover's margin on both sides. The margin matters at the start
        # of speech: the detector's probability rises over the first few chunks, and those frames
        # (speech, not yet confirmed) once made the floor -27 dBFS where the room's was -97.
        settled = end - cfg.min_segment_s - cfg.hangover_s - FRAME / SAMPLE_RATE
        quiet = (frames.t >= self._noise_until) & (frames.t < settled) & ~speech_mask & ~self._near_voice_activity(frames.t)
        self._noise_db.extend(frames.loudness_db[quiet].tolist())
        self._noise_until = max(self._noise_until, settled)

        heard = self.vocal.window(start, end) if self.vocal is not None else {}
        if not self._announced and (heard or self._overlap(segs, start, end) >= cfg.min_speech_fraction * (end - start)):
            self._announced = True
            self._events.append(Event(start, "voice_mode", "voice", {"description": self.describe()}))
        speech_in_window = self._overlap(segs, start, end)
        if speech_in_window < cfg.min_speech_fraction * (end - start):
            self._forget_before(ctx_start)
            # Silence or unconfirmed sound gives no voice estimate (not "calm"), unless an event
            # was heard: crying is often not speech to the VAD.
            return self._with_events(None, heard, start, end)

        sel = frames.select(in_ctx & speech_mask)
        speech_s = self._overlap(segs, ctx_start, end)
        summary = summarise(sel, speech_s)
        z = {
            "z_f0": _z(summary["f0_median_hz"], self._f0),
            "z_loudness": _z(summary["loudness_db"], self._loudness),
            "z_f0_variability": _z(summary["f0_sd_st"], POPULATION_F0_SD_ST),
            "z_rate": _z(summary["rate_per_s"], POPULATION_RATE_PER_S),
        }
        if speech_s < MIN_SPEECH_FOR_RATE_S:
            # Spread and rate need a few syllables; with less speech they would be noise.
            z["z_f0_variability"] = z["z_rate"] = float("nan")
        arousal = arousal_from(z)

        if self._noise_db:
            noise = float(np.percentile(np.fromiter(self._noise_db, float), 20))
        else:
            # No silence seen yet (speech from the first moment): the quietest frame of the context,
            # a pause between words, bounds the floor from above, so the SNR is never overstated.
            noise = float(np.min(frames.loudness_db[in_ctx])) if in_ctx.any() else -90.0
        snr = summary["loudness_db"] - noise if np.isfinite(summary["loudness_db"]) else 0.0
        probs = [c.probability for c in self._chunks if c.end > start and c.start < end and c.probability >= self.segmenter.off_threshold]
        vad_p = float(np.mean(probs)) if probs else self.config.vad_threshold
        quality = vad_p * float(np.clip((snr - 3.0) / 17.0, 0.0, 1.0)) * min(1.0, speech_s / cfg.full_quality_speech_s)
        if self.basis == "population":
            quality *= cfg.population_quality

        probabilities = None
        if self.model is not None and len(sel):
            probabilities = self.model.probabilities(self.model.features(sel, speech_s))
        features = {**summary, **z, "speech_s": speech_s, "snr_db": snr, "vad_probability": vad_p}
        kept = {k: float(features[k]) for k in cfg.log_features if np.isfinite(features.get(k, np.nan))}
        self._forget_before(ctx_start)
        est = ModalityEstimate(
            modality="voice", start=start, end=end, quality=float(np.clip(quality, 0.0, 1.0)),
            probabilities=probabilities, valence=None, arousal=arousal, basis=self.basis, features=kept,
        )
        return self._with_events(est, heard, start, end)

    def _with_events(self, est: Optional[ModalityEstimate], heard: dict[str, float], start: float, end: float) -> Optional[ModalityEstimate]:
        """The estimate with the window's vocal events: each gives its valence and arousal with its
        score as quality; prosody's arousal is kept where it is higher (docs/voice.md)."""
        if not heard:
            return est
        groups = self.vocal.groups
        valences = [(score, groups[g].valence) for g, score in heard.items() if groups[g].valence is not None]
        valence = sum(s * v for s, v in valences) / sum(s for s, _ in valences) if valences else None
        arousal = max(groups[g].arousal for g in heard)
        quality = max(heard.values())
        features = {}
        if est is not None:
            arousal = arousal if est.arousal is None else max(arousal, est.arousal)
            quality = max(quality, est.quality)
            features = dict(est.features)
        return ModalityEstimate(
            modality="voice", start=start, end=end, quality=float(min(1.0, quality)),
            probabilities=None if est is None else est.probabilities, valence=valence, arousal=arousal,
            basis=self.basis, features=features, events={g: float(s) for g, s in sorted(heard.items())},
        )

    def take_events(self) -> list[Event]:
        out, self._events = self._events, []
        if self.vocal is not None:
            out += self.vocal.take_events()
        return out
