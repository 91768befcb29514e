"""How many times faster than real time the demo session replays on one core, and peak memory.

Runs, in this one process pinned to one CPU: (1) the sources alone (decode and read, no analysis),
(2) the whole pipeline (sources, every analyser, fusion, session log and JSONL). Prints each as a
multiple of real time, the pipeline's cost relative to bare decoding, and the peak RSS.

    python -m affectedge_tools.bench_replay [--session DIR] [--repeat N]
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
    from affectedge.config import AppConfig
    from affectedge.demo import demo_config_dict
    from affectedge.service import build_pipeline, build_sources
    from affectedge.session import default_session_dir, load_session

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--session", type=Path, default=None)
    ap.add_argument("--repeat", type=int, default=3, help="take the best of N runs of each")
    args = ap.parse_args(argv)
    session = load_session(args.session or default_session_dir())

    with tempfile.TemporaryDirectory() as tmp:
        base = demo_config_dict(session, Path(tmp), console=False)
        base["log"]["jsonl"] = None

        def config(*modalities: str) -> AppConfig:
            data = dict(base, sources={k: v for k, v in base["sources"].items() if k in modalities})
            return AppConfig.model_validate(data)

        def sources_only() -> float:
            sources = build_sources(config("camera", "microphone", "physiology"))
            t0 = time.perf_counter()
            for s in sources:
                s.open()
                for _ in s.samples():
                    pass
                s.close()
            return time.perf_counter() - t0

        def pipeline(*modalities: str) -> tuple[float, float]:
            for f in Path(tmp).glob("*"):
                f.unlink()
            cfg = config(*modalities)
            p = build_pipeline(cfg)
            t0 = time.perf_counter()
            stats = p.run()
            return time.perf_counter() - t0, stats.windows * cfg.window.length_s

        # The same decoded inputs, stage by stage: what each modality adds to the replay.
        stages = [("sources only (decode, read)", None),
                  ("physiology", ("physiology",)),
                  ("+ voice", ("physiology", "microphone")),
                  ("+ face (the whole pipeline)", ("physiology", "microphone", "camera"))]
        results = []
        for name, mods in stages:
            if mods is None:
                wall, span = min(sources_only() for _ in range(args.repeat)), session.duration_s
            else:
                wall, span = min(pipeline(*mods) for _ in range(args.repeat))
            results.append((name, wall, span))

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"demo session: {session.root} ({session.duration_s:.1f} s), {pinned}, best of {args.repeat}")
    for name, wall, span in results:
        print(f"{name:<30} {wall:7.3f} s  {span / wall:8.1f}x real time")
    full_wall, full_span = results[-1][1], results[-1][2]
    decode = results[0][1]
    print(f"whole pipeline: {full_span / full_wall:.1f}x real time (goal >= 50x); "
          f"decoding the recorded video and audio is {decode / full_wall:.0%} of it "
          f"(a live camera delivers decoded frames); without it {full_span / max(full_wall - decode, 1e-9):.1f}x")
    print(f"peak RSS: {peak_mb:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
