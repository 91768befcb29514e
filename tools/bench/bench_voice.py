"""Cost of the voice path per second of audio, as % of one CPU core (goal: under 2 %).

    python -m affectedge_tools.bench.bench_voice [--wav FILE] [--repeat N]

Runs the same real recording (the demo session's audio, else pyannote's sample from the download
cache) through each stage in one process, single-threaded, and prints CPU seconds per audio
second side by side: Silero VAD, WebRTC VAD, prosodic frame features, the vocal-event detector
(noise-floor gate, log-mel front end, YAMNet INT8 on LiteRT), and the whole analyser (VAD +
features + events + per-window arousal every 200 ms, as the pipeline calls it) with and without
the events. It also prints the resident memory the event path adds (goals: <= 0.5 % of one core,
<= 10 MiB).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

# Before NumPy loads OpenBLAS: the device path runs with one BLAS thread (affectedge/__init__.py),
# and spinning worker threads would be counted as the path's CPU.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from affectedge.perception.prosody import frame_features  # noqa: E402
from affectedge.perception.vad import load_vad  # noqa: E402
from affectedge.perception.vocal_events import VocalEventDetector, VocalEventsConfig  # noqa: E402
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


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def memory_probe(wav: Path) -> float:
    """In a fresh process: resident MiB the event path adds (YAMNet loaded, 60 s of the recording
    scored), over a process that already has the LiteRT runtime (the face path loads it anyway)
    and the audio; the allocator's free pages are returned first, both times."""
    import ctypes

    from affectedge.inference.litert import _interpreter_class

    trim = ctypes.CDLL("libc.so.6").malloc_trim
    x, rate = read_wav(wav)
    x = resample(x, rate)[: 60 * 16000]
    _interpreter_class()
    trim(0)
    before = rss_mib()
    from affectedge.perception.audio_events import AudioEventModel

    box = [AudioEventModel()]
    run_events(x, box)
    trim(0)
    return rss_mib() - before


def run_events(x: np.ndarray, detector_box: list) -> None:
    d = VocalEventDetector(VocalEventsConfig(), model=detector_box[0])
    for i in range(0, len(x), 512):
        d.push(x[i : i + 512], i / 16000)
        d.window(max(0.0, i / 16000 - 0.2), i / 16000)


def cpu_after(setup, fn, repeat: int) -> float:
    """Like ``cpu`` with a fresh ``setup()`` before each run, outside the timing (model loading is
    start-up, not the path's running cost)."""
    best = float("inf")
    for _ in range(repeat):
        state = setup()
        t = time.process_time()
        fn(state)
        best = min(best, time.process_time() - t)
    return best


def analyser(vad: str, events: bool, model=None) -> VoiceAnalyser:
    config = VoiceConfig(vad=vad, events=VocalEventsConfig(enabled=events))
    return VoiceAnalyser(config, events=VocalEventDetector(config.events, model=model) if events else None)


def run_analyser(x: np.ndarray, a: VoiceAnalyser) -> int:
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
    p.add_argument("--memory-probe", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    wav = args.wav or default_wav()
    if args.memory_probe:
        print(f"{memory_probe(wav):.2f}")
        return 0
    x, rate = read_wav(wav)
    x = resample(x, rate)
    seconds = len(x) / 16000
    from affectedge.perception.audio_events import AudioEventModel

    import subprocess

    probe = subprocess.run([sys.executable, "-m", "affectedge_tools.bench.bench_voice", "--memory-probe", "--wav", str(wav)],
                           capture_output=True, text=True, check=True)
    added = float(probe.stdout.split()[-1])
    box = [AudioEventModel()]
    model = box[0]
    rows = [
        ("Silero VAD (NumPy)", cpu(lambda: run_vad(x, "silero"), args.repeat)),
        ("WebRTC VAD", cpu(lambda: run_vad(x, "webrtc"), args.repeat)),
        ("prosodic frame features (numpy)", cpu(lambda: frame_features(x), args.repeat)),
        ("vocal-event detector (YAMNet INT8)", cpu(lambda: run_events(x, box), args.repeat)),
        ("whole analyser, Silero VAD", cpu_after(lambda: analyser("silero", True, model), lambda a: run_analyser(x, a), args.repeat)),
        ("whole analyser, WebRTC VAD", cpu_after(lambda: analyser("webrtc", True, model), lambda a: run_analyser(x, a), args.repeat)),
        ("whole analyser, Silero VAD, no events", cpu_after(lambda: analyser("silero", False), lambda a: run_analyser(x, a), args.repeat)),
    ]
    print(f"voice path on {wav.name}: {seconds:.1f} s of audio, best of {args.repeat}, {os.uname().machine}")
    print(f"{'stage':<38} {'CPU s per audio s':>18} {'% of one core':>14}")
    for name, s in rows:
        print(f"{name:<38} {s / seconds:>18.5f} {100 * s / seconds:>13.2f}%")
    whole = rows[4][1] / seconds
    events = rows[3][1] / seconds
    print(f"goal: under 2 % of one core -> {'met' if whole < 0.02 else 'NOT met'} ({100 * whole:.2f} %)")
    print(f"vocal events: {100 * events:.2f} % of one core (goal <= 0.5 %: {'met' if events <= 0.005 else 'NOT met'}); "
          f"the analyser with events costs {rows[4][1] / rows[6][1]:.2f}x the analyser without")
    print(f"vocal events: the model and detector add {added:.1f} MiB resident (goal <= 10 MiB: {'met' if added <= 10 else 'NOT met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
