"""YAMNet's log-mel front end in NumPy: 16 kHz audio -> (patches, 96, 64) log-mel patches.

The same features as YAMNet's own (tensorflow/models research/audioset/yamnet/features.py, with
its params.py): 25 ms frames every 10 ms with a periodic Hann window, the magnitude of a 512-point
FFT, 64 mel bands from 125 to 7500 Hz by TensorFlow's ``linear_to_mel_weight_matrix`` (HTK mel
scale, the DC bin zeroed), ``log(mel + 0.001)``, and patches of 96 frames (0.96 s) every 48 frames
(0.48 s). Checked against Google's test spectra for the Coral build of the model
(tests/test_audio_events.py). No TensorFlow, no librosa: the device path stays NumPy.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

SAMPLE_RATE = 16_000
WINDOW = 400            # 25 ms
HOP = 160               # 10 ms
FFT = 512               # the next power of two above the window
MEL_BANDS = 64
MEL_LOW_HZ, MEL_HIGH_HZ = 125.0, 7500.0
LOG_OFFSET = 0.001
PATCH_FRAMES = 96       # 0.96 s
PATCH_HOP_FRAMES = 48   # 0.48 s
PATCH_SAMPLES = WINDOW + (PATCH_FRAMES - 1) * HOP   # 15,600 samples: 0.975 s of audio per patch


def _hz_to_mel(f):
    return 1127.0 * np.log1p(np.asarray(f, np.float64) / 700.0)


@lru_cache(maxsize=1)
def mel_matrix() -> np.ndarray:
    """(257, 64) weights from FFT bins to mel bands, as tf.signal.linear_to_mel_weight_matrix."""
    bins = FFT // 2 + 1
    linear_mel = _hz_to_mel(np.linspace(0.0, SAMPLE_RATE / 2.0, bins)[1:])[:, None]
    edges = np.linspace(_hz_to_mel(MEL_LOW_HZ), _hz_to_mel(MEL_HIGH_HZ), MEL_BANDS + 2)
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    weights = np.maximum(0.0, np.minimum((linear_mel - lower) / (centre - lower), (upper - linear_mel) / (upper - centre)))
    return np.concatenate([np.zeros((1, MEL_BANDS)), weights]).astype(np.float32)


@lru_cache(maxsize=1)
def _window() -> np.ndarray:
    return (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(WINDOW) / WINDOW)).astype(np.float32)  # periodic Hann


def log_mel(audio: np.ndarray) -> np.ndarray:
    """(frames, 64) log-mel spectrogram of 16 kHz mono float audio; frames = 1 + (n - 400) // 160."""
    x = np.asarray(audio, np.float32)
    n = 1 + (len(x) - WINDOW) // HOP if len(x) >= WINDOW else 0
    if n == 0:
        return np.zeros((0, MEL_BANDS), np.float32)
    frames = np.lib.stride_tricks.sliding_window_view(x, WINDOW)[::HOP][:n]
    magnitude = np.abs(np.fft.rfft(frames * _window(), FFT)).astype(np.float32)
    return np.log(magnitude @ mel_matrix() + LOG_OFFSET).astype(np.float32)


def patches(spectrogram: np.ndarray) -> np.ndarray:
    """(k, 96, 64) patches of a log-mel spectrogram, every 48 frames (only whole patches)."""
    frames = len(spectrogram)
    if frames < PATCH_FRAMES:
        return np.zeros((0, PATCH_FRAMES, MEL_BANDS), np.float32)
    starts = range(0, frames - PATCH_FRAMES + 1, PATCH_HOP_FRAMES)
    return np.stack([spectrogram[s:s + PATCH_FRAMES] for s in starts])
