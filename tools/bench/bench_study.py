"""Benchmark: sessions per hour for a study, one process vs the local pool vs a Dask LocalCluster.

One run, side by side, on the same real sessions (copies of the demo session's recordings: its
face clip with its speech and ECG/EDA, and a second clip with its own audio track and the resting
physiology), each strategy on a fresh output folder:

* one process (``workers=1``);
* the local pool (one process per session, ``workers`` = the cores);
* a dask.distributed LocalCluster with one single-threaded worker process per core.

Prints sessions per hour, the pool's and the cluster's speed-up over one process, and checks that
all three wrote the same windows. Goal (issue 15): the pool >= 1.8x on 2 cores.

    python -m affectedge_tools.bench.bench_study [--copies 4]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path

from affectedge.offline.study import discover, run_study
from affectedge.offline.demo_session import default_session_dir, load_session


def make_study(root: Path, copies: int = 1, session_dir: Path | None = None) -> Path:
    """A study folder of real sessions, ``copies`` times two: (a) the demo's face clip, its speech
    and its ECG/EDA; (b) another clip with its own audio track and the resting span's physiology."""
    session = load_session(session_dir or default_session_dir())
    video = session.root / "video"
    for i in range(copies):
        suffix = f"-{i}" if copies > 1 else ""
        a, b = root / f"a-wolfgang{suffix}", root / f"b-noface-face{suffix}"
        a.mkdir(parents=True)
        b.mkdir(parents=True)
        shutil.copy(video / "WolfgangLanger_Pexels.mp4", a / "video.mp4")
        shutil.copy(session.root / "audio.wav", a / "audio.wav")
        shutil.copy(session.physiology.path, a / "physio.csv")
        shutil.copy(video / "noface_face.mov", b / "video.mov")
        shutil.copy(session.root / "rest" / "physio.csv", b / "physio.csv")
    return root


def windows_of(out: Path) -> dict[str, list[str]]:
    result = {}
    for d in sorted(p for p in out.iterdir() if (p / "done.json").is_file()):
        db = sqlite3.connect(f"file:{d / 'session.sqlite'}?immutable=1", uri=True)
        result[d.name] = [r[0] for r in db.execute("SELECT record FROM windows ORDER BY seq")]
        db.close()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=4, help="copies of the two sessions (default 4: 8 sessions)")
    args = parser.parse_args(argv)
    cores = os.cpu_count() or 1
    tmp = Path(tempfile.mkdtemp(prefix="affectedge-bench-study-"))
    try:
        sessions = discover(make_study(tmp / "study", args.copies))
        rows = []
        t0 = time.perf_counter()
        one = run_study(sessions, tmp / "one", workers=1, progress=False)
        rows.append(("one process", time.perf_counter() - t0, one))
        t0 = time.perf_counter()
        pool = run_study(sessions, tmp / "pool", workers=cores, progress=False)
        rows.append((f"local pool ({cores} processes)", time.perf_counter() - t0, pool))
        import distributed

        with distributed.LocalCluster(n_workers=cores, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
                distributed.Client(cluster) as client:
            t0 = time.perf_counter()
            dask = run_study(sessions, tmp / "dask", scheduler=client, progress=False)
            rows.append((f"Dask LocalCluster ({cores} workers)", time.perf_counter() - t0, dask))
        base = rows[0][1]
        print(f"{len(sessions)} sessions ({sum(r.windows for _, _, r in rows[:1])} windows), {cores} cores")
        print(f"{'strategy':<32}{'wall s':>8}{'sessions/h':>12}{'speed-up':>10}")
        for name, wall, r in rows:
            assert not r.failed, r.failed
            print(f"{name:<32}{wall:>8.1f}{len(sessions) * 3600 / wall:>12.0f}{base / wall:>9.2f}x")
        same = windows_of(tmp / "one") == windows_of(tmp / "pool") == windows_of(tmp / "dask")
        print(f"identical windows in all three: {same}")
        return 0 if same else 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
