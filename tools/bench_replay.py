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
    session = args.session or default_session_dir()

    with tempfile.TemporaryDirectory() as tmp:
        config = AppConfig.model_validate(demo_config_dict(load_session(session), Path(tmp), console=False))

        def sources_only() -> float:
            sources = build_sources(config)
            t0 = time.perf_counter()
            for s in sources:
                s.open()
                for _ in s.samples():
                    pass
                s.close()
            return time.perf_counter() - t0

        def full_pipeline() -> tuple[float, float]:
            for f in Path(tmp).glob("*"):
                f.unlink()
            pipeline = build_pipeline(config)
            t0 = time.perf_counter()
            stats = pipeline.run()
            return time.perf_counter() - t0, stats.windows * config.window.length_s

        decode = min(sources_only() for _ in range(args.repeat))
        runs = [full_pipeline() for _ in range(args.repeat)]
        wall, session_s = min(runs)

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"demo session: {session} ({session_s:.1f} s), {pinned}, best of {args.repeat}")
    print(f"sources only   {decode:7.3f} s  {session_s / decode:8.1f}x real time")
    print(f"full pipeline  {wall:7.3f} s  {session_s / wall:8.1f}x real time   (goal >= 50x)")
    print(f"pipeline / sources-only time: {wall / decode:.2f}")
    print(f"peak RSS: {peak_mb:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
