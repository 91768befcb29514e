"""Cost of the voice path per second of audio, as % of one CPU core (goal: under 2 %).

    python -m affectedge_tools.bench.bench_voice [--wav FILE] [--repeat N]

Runs the same real recording (the demo session's audio, else pyannote's sample from the download
cache) through each stage in one process, single-threaded, and prints CPU seconds per audio
second side by side: Silero VAD, WebRTC VAD, prosodic frame features, and the whole analyser
(VAD + features + per-window arousal every 200 ms, as the pipeline calls it).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")

from affectedge.perception.prosody import frame_features  # noqa: E402
from affectedge.perception.vad import load_vad  # noqa: E402
from affectedge.perception.voice import VoiceAnalyser, VoiceConfig  # noqa: E402
from affectedge.sources.replay_wav import read_wav, resample  # noqa: E402
from affectedge.core.types import AudioChunk  # noqa: E402


def default_wav() -> Path:
    from affectedge.offline.demo_session import default_session_dir

    demo = default_session_dir() / "audio.wav"
    if demo.is_file():
        return demo
    from affectedge_tools.data import build_demo_session as builder

    wheel = builder.fetch_pypi(builder.PYANNOTE, builder.default_cache_dir())
    out = builder.default_cache_dir() / "bench-sample.wav"
    out.write_bytes(builder.read_member(wheel, "pyannote/audio/sample/sample.wav"))
    return out


def cpu(fn, repeat: int) -> float:
    """Best-of-``repeat`` process CPU seconds of ``fn()`` (the best run is the least disturbed)."""
    best = float("inf")
    for _ in range(repeat):
        t = time.process_time()
        fn()
        best = min(best, time.process_time() - t)
    return best


def run_vad(x: np.ndarray, key: str) -> None:
    vad = load_vad(key)
    n = vad.chunk_samples
    for i in range(0, len(x) - n + 1, n):
        vad.probability(x[i : i + n])


def run_analyser(x: np.ndarray, vad: str) -> int:
    a = VoiceAnalyser(VoiceConfig(vad=vad))
    k = estimates = 0
    for i in range(0, len(x), 512):
        a.push(AudioChunk(i / 16000, x[i : i + 512], 16000))
        end = (i + 512) / 16000
        while 0.2 * (k + 1) <= end:
            estimates += a.estimate(0.2 * k, 0.2 * (k + 1)) is not None
            k += 1
    return estimates


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--wav", type=Path, default=None)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)
    wav = args.wav or default_wav()
    x, rate = read_wav(wav)
    x = resample(x, rate)
    seconds = len(x) / 16000
    rows = [
        ("Silero VAD (onnxruntime, 1 thread)", cpu(lambda: run_vad(x, "silero"), args.repeat)),
        ("WebRTC VAD", cpu(lambda: run_vad(x, "webrtc"), args.repeat)),
        ("prosodic frame features (numpy)", cpu(lambda: frame_features(x), args.repeat)),
        ("whole analyser, Silero VAD", cpu(lambda: run_analyser(x, "silero"), args.repeat)),
        ("whole analyser, WebRTC VAD", cpu(lambda: run_analyser(x, "webrtc"), args.repeat)),
    ]
    print(f"voice path on {wav.name}: {seconds:.1f} s of audio, best of {args.repeat}, {os.uname().machine}")
    print(f"{'stage':<38} {'CPU s per audio s':>18} {'% of one core':>14}")
    for name, s in rows:
        print(f"{name:<38} {s / seconds:>18.5f} {100 * s / seconds:>13.2f}%")
    whole = rows[3][1] / seconds
    print(f"goal: under 2 % of one core -> {'met' if whole < 0.02 else 'NOT met'} ({100 * whole:.2f} %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
