"""How many times faster than real time the demo session replays on one core, and peak memory.

Runs, in this one process pinned to one CPU: (1) the sources alone (decode and read, no analysis),
(2) each modality added in turn up to the whole pipeline (sources, every analyser, fusion, session
log), for the every-frame face path, the face stride (tools/bench/face_stride.py) and affectedge's own
trained expression model classified once per 200 ms window (issue 25) side by side.
Prints each stage as a multiple of real time and as CPU seconds per second of session, the
live-equivalent cost (whole pipeline minus decoding, since a camera delivers decoded frames), the
stride's speed-up and its fidelity against the every-frame path on the demo's clips, and the peak RSS.

    python -m affectedge_tools.bench.bench_replay [--session DIR] [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path


def _pin_to_one_core() -> str:
    # Pinning before numpy/onnx/litert spin up thread pools keeps them at one worker each.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    try:
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        return f"cpu {cpu}"
    except (AttributeError, OSError):
        return "unpinned (no sched_setaffinity)"


def main(argv: list[str] | None = None) -> int:
    pinned = _pin_to_one_core()
    from affectedge.config.app import AppConfig
    from affectedge.offline.demo import demo_config_dict
    from affectedge.service.assembly import build_pipeline, build_sources
    from affectedge.offline.demo_session import default_session_dir, load_session

    from .face_stride import EVERY_FRAME, STRIDE, TRAINED_EVERY_FRAME, TRAINED_PER_WINDOW, face_windows, fidelity, video_frames_at

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--session", type=Path, default=None)
    ap.add_argument("--repeat", type=int, default=3, help="take the best of N runs of each")
    args = ap.parse_args(argv)
    session = load_session(args.session or default_session_dir())

    with tempfile.TemporaryDirectory() as tmp:
        base = demo_config_dict(session, Path(tmp), console=False)
        base["log"]["jsonl"] = None

        def config(*modalities: str, face: dict | None = None) -> AppConfig:
            data = dict(base, sources={k: v for k, v in base["sources"].items() if k in modalities})
            if face:
                data["perception"] = {"face": face}
            return AppConfig.model_validate(data)

        def sources_only() -> tuple[float, float, float]:
            sources = build_sources(config("camera", "microphone", "physiology"))
            t0, c0 = time.perf_counter(), time.process_time()
            for s in sources:
                s.open()
                for _ in s.samples():
                    pass
                s.close()
            return time.perf_counter() - t0, time.process_time() - c0, session.duration_s

        def pipeline(*modalities: str, face: dict | None = None) -> tuple[float, float, float]:
            for f in Path(tmp).glob("*"):
                f.unlink()
            cfg = config(*modalities, face=face)
            p = build_pipeline(cfg)
            t0, c0 = time.perf_counter(), time.process_time()
            stats = p.run()
            return time.perf_counter() - t0, time.process_time() - c0, stats.windows * cfg.window.length_s

        # The same decoded inputs, stage by stage: what each modality adds to the replay.
        stages = [("physiology", ("physiology",)), ("+ voice", ("physiology", "microphone")),
                  ("+ face (the whole pipeline)", ("physiology", "microphone", "camera"))]
        decode = min(sources_only() for _ in range(args.repeat))
        results = {}
        for label, face in (("every frame", EVERY_FRAME), ("stride", STRIDE), ("trained, per window", TRAINED_PER_WINDOW)):
            results[label] = [min(pipeline(*mods, face=face) for _ in range(args.repeat)) for _, mods in stages]

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"demo session: {session.root} ({session.duration_s:.1f} s), {pinned}, best of {args.repeat}")
    print(f"face settings: every frame {EVERY_FRAME}; stride {STRIDE}; trained, per window {TRAINED_PER_WINDOW}")
    print(f"{'stage':<30} " + " ".join(f"{label:>24}" for label in results) + "   (x real time, CPU s per s of session)")
    print(f"{'sources only (decode, read)':<30} {decode[2] / decode[0]:>10.1f}x {decode[1] / decode[2]:>11.4f} s/s")
    for i, (name, _) in enumerate(stages):
        cells = [f"{r[i][2] / r[i][0]:>10.1f}x {r[i][1] / r[i][2]:>11.4f} s/s" for r in results.values()]
        print(f"{name:<30} " + " ".join(f"{c:>24}" for c in cells))
    for label, r in results.items():
        wall, cpu, span = r[-1]
        live = (cpu - decode[1]) / span
        print(f"{label}: whole pipeline {span / wall:.1f}x real time (goal >= 50x); live-equivalent cost "
              f"(decode excluded) {live:.2%} of one core (goal <= 3 %)")
    ev, st = results["every frame"][-1], results["stride"][-1]
    print(f"stride speed-up, whole pipeline: {ev[1] / st[1]:.2f}x CPU; face alone (minus physiology and voice): "
          f"{(ev[1] - results['every frame'][1][1]) / max(st[1] - results['stride'][1][1], 1e-9):.2f}x CPU")
    tr, ev_face = results["trained, per window"], ev[1] - results["every frame"][1][1]
    print(f"face alone, CPU per second of session: every frame (today's default) {ev_face / ev[2]:.4f} s/s, "
          f"trained per window {(tr[-1][1] - tr[1][1]) / tr[-1][2]:.4f} s/s "
          f"({(tr[-1][1] - tr[1][1]) / max(ev_face, 1e-9):.2f}x today's)")
    for path in dict.fromkeys(clip.path for clip in session.camera_clips):  # each clip once
        frames = list(video_frames_at(path))
        f = fidelity(face_windows(frames, EVERY_FRAME), face_windows(frames, STRIDE))
        print(f"fidelity on {path.name}: {f.line()} -> {'within' if f.within_bound() else 'OUTSIDE'} the bound")
        g = fidelity(face_windows(frames, TRAINED_EVERY_FRAME), face_windows(frames, TRAINED_PER_WINDOW))
        print(f"  trained model, once per window vs every frame: {g.line()}")
    print(f"peak RSS of this benchmark process: {peak_mb:.0f} MB (the live service's: tools/bench/soak.py)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
