"""`affectedge demo`: replay the bundled demo session through the whole pipeline."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Optional

import yaml

from .config import AppConfig
from .pipeline import RunStats
from .session import DemoSession, default_session_dir, load_session
from .types import MODALITIES, ZONES


def demo_config_dict(session: DemoSession, out: Path, console: bool) -> dict:
    """The service config that replays ``session`` (also written next to the outputs for reuse)."""
    sources: dict = {
        "camera": {
            "backend": "replay_video",
            "clips": [{"path": str(c.path), "start_s": c.start_s} for c in session.camera_clips],
        },
        "microphone": {"backend": "replay_wav", "path": str(session.microphone.path), "start_s": session.microphone.start_s},
        "physiology": [{"backend": "replay_csv", "path": str(session.physiology.path), "start_s": session.physiology.start_s}],
    }
    return {
        "device": {"id": "affectedge-demo", "subject_id": "demo-subject"},
        "sources": sources,
        "log": {"sqlite": str(out / "session.sqlite"), "jsonl": str(out / "windows.jsonl"), "console": console},
        "run": {"pace": "fast"},
    }


def summary_table(stats: RunStats, config: AppConfig) -> str:
    """Windows, per-modality coverage and zone time shares, as a short text table."""
    n = max(stats.windows, 1)
    lines = [f"windows        {stats.windows} x {config.window.length_s:.3g} s  ({stats.windows * config.window.length_s:.1f} s of session)"]
    lines.append(f"no data        {stats.no_data / n:6.1%}")
    for m in MODALITIES:
        state = "" if m in config.fusion.weights else "  (not fused)"
        lines.append(f"{m:<14} {stats.modality_windows[m] / n:6.1%} of windows{state}")
    with_zone = sum(stats.zone_windows.values())
    for z in ZONES:
        share = stats.zone_windows[z] / with_zone if with_zone else 0.0
        lines.append(f"zone {z:<9} {share:6.1%} of windows with a zone")
    if stats.events:
        lines.append("events         " + ", ".join(f"{k} {v}" for k, v in sorted(stats.events.items())))
    return "\n".join(lines)


def run_demo(out: Path, session_dir: Optional[Path] = None, console: bool = False) -> int:
    from .service import build_pipeline

    session_dir = Path(session_dir) if session_dir else default_session_dir()
    session = load_session(session_dir)
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    for stale in ("session.sqlite", "session.sqlite-wal", "session.sqlite-shm", "windows.jsonl"):
        (out / stale).unlink(missing_ok=True)  # a demo run starts a fresh log
    data = demo_config_dict(session, out, console)
    config_path = out / "demo-config.yaml"
    config_path.write_text(yaml.safe_dump(data, sort_keys=False))
    config = AppConfig.model_validate(data)
    print(f"affectedge demo: replaying {session.name} ({session.duration_s:.0f} s of real recordings) from {session_dir}")
    pipeline = build_pipeline(config, run_info={"demo_session": str(session_dir)})
    for analyser in pipeline.analysers:
        describe = getattr(analyser, "describe", None)  # what a modality can and cannot estimate
        if describe is not None:
            print(describe())
    t0 = time.perf_counter()
    stats = pipeline.run()
    wall = time.perf_counter() - t0
    print(summary_table(stats, config))
    speed = (stats.windows * config.window.length_s) / wall if wall > 0 else float("inf")
    print(f"replayed in {wall:.2f} s ({speed:.0f}x real time)")
    print(f"wrote {config.log.sqlite}\n      {config.log.jsonl}\n      {config_path}")
    sys.stdout.flush()
    return 0
