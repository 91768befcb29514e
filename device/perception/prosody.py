"""Prosodic features of speech in numpy: pitch (YIN), loudness, spectral tilt, HNR, mel bands.

Written in the project because openSMILE's free build is non-commercial. ``frame_features``
turns audio into one row per 16 ms hop; ``summarise`` turns the rows that voice activity marked
as speech into the per-window numbers the voice analyser and the speech-emotion front end use.

The pitch tracker is YIN (de Cheveigné & Kawahara 2002): cumulative-mean-normalised difference,
first dip below an absolute threshold, parabolic refinement. A frame counts as voiced when its
best dip is below ``voicing_threshold`` and it is loud enough; isolated voiced or unvoiced
frames are smoothed away, and f0 is median-filtered within voiced runs (the pYIN idea of
favouring continuous tracks, without its HMM).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SAMPLE_RATE = 16_000
HOP = 256  # 16 ms
FRAME = 1024  # 64 ms: YIN integration window of 512 samples plus lags up to 512 (f0 >= 31 Hz)
WIN = 512
N_MELS = 20


@dataclass(frozen=True)
class PitchSettings:
    fmin_hz: float = 60.0
    fmax_hz: float = 700.0  # children's raised voices and shouts reach 600 Hz and more
    threshold: float = 0.1  # YIN absolute threshold for the first dip
    voicing_threshold: float = 0.35  # best normalised dip above this: unvoiced
    silence_db: float = -60.0  # quieter frames are never voiced (dBFS RMS)


@dataclass(frozen=True)
class FrameFeatures:
    """Per-frame rows; ``t`` is the frame centre in seconds from the start of the analysed audio."""

    t: np.ndarray
    f0_hz: np.ndarray  # NaN where unvoiced
    periodicity: np.ndarray  # 1 - best normalised YIN dip, in [0, 1]
    loudness_db: np.ndarray  # RMS level, dB re full scale
    hnr_db: np.ndarray  # harmonics-to-noise ratio at the pitch period (NaN where unvoiced)
    tilt_db: np.ndarray  # energy 1-5 kHz over 50 Hz-1 kHz, dB (flatter spectrum = more vocal effort)
    mel_db: np.ndarray  # (frames, N_MELS) log mel band energies

    def __len__(self) -> int:
        return len(self.t)

    def select(self, mask: np.ndarray) -> "FrameFeatures":
        return FrameFeatures(self.t[mask], self.f0_hz[mask], self.periodicity[mask], self.loudness_db[mask],
                             self.hnr_db[mask], self.tilt_db[mask], self.mel_db[mask])

    def shifted(self, dt: float) -> "FrameFeatures":
        return FrameFeatures(self.t + dt, self.f0_hz, self.periodicity, self.loudness_db, self.hnr_db, self.tilt_db, self.mel_db)

    @staticmethod
    def concat(parts: list["FrameFeatures"]) -> "FrameFeatures":
        if not parts:
            return EMPTY_FRAMES
        return FrameFeatures(*(np.concatenate([getattr(p, f) for p in parts]) for f in FrameFeatures.__dataclass_fields__))


EMPTY_FRAMES = FrameFeatures(*(np.zeros(0) for _ in range(6)), np.zeros((0, N_MELS)))


def _mel_filterbank(n_fft: int = FRAME, n_mels: int = N_MELS, fmin: float = 60.0, fmax: float = 6000.0) -> np.ndarray:
    def hz_to_mel(f):
        return 2595.0 * np.log10(1.0 + f / 700.0)

    def mel_to_hz(m):
        return 700.0 * (10 ** (m / 2595.0) - 1.0)

    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    freqs = np.fft.rfftfreq(n_fft, 1.0 / SAMPLE_RATE)
    fb = np.zeros((n_mels, len(freqs)))
    for i in range(n_mels):
        lo, mid, hi = edges[i], edges[i + 1], edges[i + 2]
        fb[i] = np.clip(np.minimum((freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid)), 0.0, None)
    return fb


_MEL = _mel_filterbank()
_HANN = np.hanning(FRAME)
_FREQS = np.fft.rfftfreq(FRAME, 1.0 / SAMPLE_RATE)
_LOW_BAND = (_FREQS >= 50) & (_FREQS < 1000)
_HIGH_BAND = (_FREQS >= 1000) & (_FREQS < 5000)
_EPS = 1e-10


def n_frames(n_samples: int) -> int:
    """How many whole frames ``n_samples`` of audio hold."""
    return 0 if n_samples < FRAME else 1 + (n_samples - FRAME) // HOP


def frame_features(x: np.ndarray, settings: PitchSettings = PitchSettings()) -> FrameFeatures:
    """Features of every whole frame in ``x`` (16 kHz mono float); frame i starts at sample i*HOP."""
    n = n_frames(len(x))
    if n == 0:
        return EMPTY_FRAMES
    x = np.asarray(x, dtype=np.float64)
    frames = np.lib.stride_tricks.sliding_window_view(x, FRAME)[: n * HOP : HOP]
    t = (np.arange(n) * HOP + FRAME / 2) / SAMPLE_RATE

    # YIN difference d(tau) = e0 + e_tau - 2 r(tau) over an integration window of WIN samples.
    max_lag = FRAME - WIN
    n_fft = FRAME + WIN  # >= FRAME + WIN - 1: no circular wrap-around in the lags we keep
    spec_full = np.fft.rfft(frames, n_fft)
    spec_head = np.fft.rfft(frames[:, :WIN], n_fft)
    r = np.fft.irfft(np.conj(spec_head) * spec_full, n_fft)[:, : max_lag + 1]
    sq = np.concatenate([np.zeros((n, 1)), np.cumsum(frames**2, axis=1)], axis=1)
    e_tau = sq[:, WIN : WIN + max_lag + 1] - sq[:, : max_lag + 1]
    e0 = e_tau[:, :1]
    d = np.maximum(e0 + e_tau - 2.0 * r, 0.0)
    cum = np.cumsum(d[:, 1:], axis=1)
    cmnd = np.ones_like(d)
    cmnd[:, 1:] = d[:, 1:] * np.arange(1, max_lag + 1) / np.maximum(cum, _EPS)

    lag_min = max(2, int(SAMPLE_RATE / settings.fmax_hz))
    lag_max = min(max_lag - 1, int(np.ceil(SAMPLE_RATE / settings.fmin_hz)))
    seg = cmnd[:, lag_min : lag_max + 1]
    # First dip below the threshold (then down to its local minimum); else the global minimum.
    below = seg < settings.threshold
    has_dip = below.any(axis=1)
    first = np.where(has_dip, below.argmax(axis=1), seg.argmin(axis=1))
    rows = np.arange(n)
    # From the first dip, walk downhill to its local minimum: the first column where seg stops falling.
    rising = np.ones_like(seg, dtype=bool)
    rising[:, :-1] = seg[:, 1:] >= seg[:, :-1]
    cols = np.arange(seg.shape[1])[None, :]
    lag = np.where(has_dip, (rising & (cols >= first[:, None])).argmax(axis=1), first)
    best = seg[rows, lag]
    # Parabolic interpolation of the dip for sub-sample period.
    lm = np.clip(lag - 1, 0, seg.shape[1] - 1)
    lp = np.clip(lag + 1, 0, seg.shape[1] - 1)
    a, b, c = seg[rows, lm], best, seg[rows, lp]
    denom = a - 2 * b + c
    shift = np.where((lag > 0) & (lag < seg.shape[1] - 1) & (np.abs(denom) > _EPS), 0.5 * (a - c) / np.where(denom == 0, 1, denom), 0.0)
    period = lag_min + lag + np.clip(shift, -0.5, 0.5)

    loudness = 10.0 * np.log10(np.mean(frames**2, axis=1) + _EPS)
    voiced = (best < settings.voicing_threshold) & (loudness > settings.silence_db)
    voiced = _smooth_voicing(voiced)
    f0 = np.where(voiced, SAMPLE_RATE / period, np.nan)
    f0 = _median_in_runs(f0)

    # Normalised autocorrelation at the period: nr = 1 - d / (e0 + e_tau) -> HNR = nr / (1 - nr).
    li = lag_min + lag
    nr = 1.0 - d[rows, li] / np.maximum(e0[:, 0] + e_tau[rows, li], _EPS)
    nr = np.clip(nr, 1e-4, 1 - 1e-4)
    hnr = np.where(voiced, 10.0 * np.log10(nr / (1.0 - nr)), np.nan)

    power = np.abs(np.fft.rfft(frames * _HANN, FRAME)) ** 2
    tilt = 10.0 * np.log10((power[:, _HIGH_BAND].sum(axis=1) + _EPS) / (power[:, _LOW_BAND].sum(axis=1) + _EPS))
    mel = 10.0 * np.log10(power @ _MEL.T + _EPS)
    return FrameFeatures(t, f0, np.clip(1.0 - best, 0.0, 1.0), loudness, hnr, tilt, mel)


def _smooth_voicing(v: np.ndarray) -> np.ndarray:
    """Drop single voiced frames between unvoiced ones and fill single unvoiced gaps."""
    if len(v) < 3:
        return v
    out = v.copy()
    mid_on = v[1:-1] & ~v[:-2] & ~v[2:]
    mid_off = ~v[1:-1] & v[:-2] & v[2:]
    out[1:-1] = np.where(mid_on, False, np.where(mid_off, True, v[1:-1]))
    return out


def _median_in_runs(f0: np.ndarray) -> np.ndarray:
    """3-point median of f0 inside voiced runs (removes single-frame octave jumps)."""
    padded = np.concatenate([[np.nan], f0, [np.nan]])
    out = f0.copy()
    i = np.flatnonzero(~np.isnan(f0))
    if len(i):
        # The centre is voiced, so each column has at least one value.
        out[i] = np.nanmedian(np.stack([padded[i], padded[i + 1], padded[i + 2]]), axis=0)
    return out


# ---------------------------------------------------------------- per-window summaries

SUMMARY_KEYS: tuple[str, ...] = (
    "f0_median_hz", "f0_sd_st", "loudness_db", "loudness_sd_db", "rate_per_s", "tilt_db", "hnr_db", "voiced_fraction",
)


def semitones(f_hz, ref_hz):
    return 12.0 * np.log2(np.asarray(f_hz, dtype=np.float64) / ref_hz)


def syllable_nuclei(loudness_db: np.ndarray, voiced: np.ndarray, min_dip_db: float = 2.0) -> int:
    """Count loudness peaks in voiced frames that stand out by ``min_dip_db`` (de Jong & Wempe's syllable nuclei)."""
    if len(loudness_db) < 3:
        return 0
    env = np.convolve(loudness_db, np.ones(3) / 3, mode="same")
    peaks = find_peaks(env, prominence=min_dip_db, distance=max(1, int(0.1 * SAMPLE_RATE / HOP)))
    return int(np.count_nonzero(voiced[peaks]))


def find_peaks(x: np.ndarray, prominence: float, distance: int) -> np.ndarray:
    """Indexes of the peaks of ``x`` at least ``distance`` apart (the higher kept) with at least
    ``prominence``: scipy.signal.find_peaks(x, prominence=, distance=)'s rules, step for step, so
    the voice path does not import SciPy (about 50 MiB of a live service's memory; docs/service.md, "Memory").
    A plateau's peak is its middle sample, as SciPy's is."""
    x = np.asarray(x, dtype=np.float64)
    peaks = []
    i, last = 1, len(x) - 1
    while i < last:
        if x[i - 1] < x[i]:
            ahead = i + 1
            while ahead < last and x[ahead] == x[i]:
                ahead += 1
            if x[ahead] < x[i]:
                peaks.append((i + ahead - 1) // 2)
                i = ahead
        i += 1
    peaks = np.array(peaks, dtype=np.intp)
    if distance > 1 and len(peaks) > 1:
        keep = np.ones(len(peaks), dtype=bool)
        for j in np.argsort(x[peaks])[::-1]:  # highest first; np.argsort as SciPy orders ties
            if not keep[j]:
                continue
            k = j - 1
            while k >= 0 and peaks[j] - peaks[k] < distance:
                keep[k] = False
                k -= 1
            k = j + 1
            while k < len(peaks) and peaks[k] - peaks[j] < distance:
                keep[k] = False
                k += 1
        peaks = peaks[keep]
    out = []
    for p in peaks:
        left_min = right_min = x[p]
        i = p
        while i >= 0 and x[i] <= x[p]:
            left_min = min(left_min, x[i])
            i -= 1
        i = p
        while i <= last and x[i] <= x[p]:
            right_min = min(right_min, x[i])
            i += 1
        if x[p] - max(left_min, right_min) >= prominence:
            out.append(p)
    return np.array(out, dtype=np.intp)


def summarise(frames: FrameFeatures, speech_s: float) -> dict[str, float]:
    """Summary of speech frames (already selected by voice activity): the SUMMARY_KEYS.

    ``speech_s`` is the speech time these frames span (for the rate). Pitch-based entries are NaN
    when no frame is voiced.
    """
    voiced = ~np.isnan(frames.f0_hz)
    out = dict.fromkeys(SUMMARY_KEYS, float("nan"))
    if len(frames) == 0:
        return out
    out["loudness_db"] = float(np.mean(frames.loudness_db))
    out["loudness_sd_db"] = float(np.std(frames.loudness_db))
    out["tilt_db"] = float(np.mean(frames.tilt_db))
    out["voiced_fraction"] = float(np.mean(voiced))
    if speech_s > 0:
        out["rate_per_s"] = syllable_nuclei(frames.loudness_db, voiced) / speech_s
    if voiced.any():
        f0 = frames.f0_hz[voiced]
        med = float(np.median(f0))
        out["f0_median_hz"] = med
        out["f0_sd_st"] = float(np.std(semitones(f0, med)))
        out["hnr_db"] = float(np.mean(frames.hnr_db[voiced]))
    return out
