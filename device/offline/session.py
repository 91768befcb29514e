"""One session: replay its files through the service's pipeline, write the log and the Parquet."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..config.app import AppConfig
from ..core.extras import require_module
from .inputs import SessionFiles, session_config

DONE = "done.json"


@dataclass(frozen=True)
class SessionResult:
    name: str
    out: Path
    log: Path
    windows: int
    seconds: float  # wall-clock time of the analysis
    warnings: tuple[str, ...] = ()  # inputs that were cut short or repaired (also in done.json)


# Events that mean the session's inputs are not what they claim: said on the console, kept in done.json.
def input_warnings(events) -> tuple[str, ...]:
    out = []
    for e in events:
        d = e.detail or {}
        if e.kind == "recording_truncated":
            out.append(f"{d.get('clip')}: {d.get('frames_decoded')} of the {d.get('frames_expected')} frames its header "
                       "declares were decoded (the file is cut short?); the session covers only those")
        elif e.kind == "audio_repaired":
            out.append(f"{d.get('file')}: {d.get('non_finite_samples')} non-finite sample(s) set to silence, "
                       f"{d.get('clipped_samples')} float sample(s) beyond full scale clipped")
    return tuple(out)


def analyse_session(files: SessionFiles, out: Path, config: Optional[AppConfig | Path] = None,
                    report: bool = False) -> SessionResult:
    """``out``/session.sqlite (the log the service writes), windows.parquet, optionally the review
    report, and done.json last (a finished session is skipped by a resumed study)."""
    from ..review.log_reader import read_log
    from ..service.assembly import build_pipeline
    from .frames import windows_frame

    files.check()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for stale in ("session.sqlite", "session.sqlite-wal", "session.sqlite-shm", DONE):
        (out / stale).unlink(missing_ok=True)
    t0 = time.perf_counter()
    demux_warnings: list[str] = []
    cfg = session_config(files, out, config, demux_warnings)
    build_pipeline(cfg, run_info={"analyse": files.name}).run()
    data = read_log(out / "session.sqlite")
    require_module("pyarrow", "analyse (Parquet)", "analyse")
    windows_frame(data, files.name).to_parquet(out / "windows.parquet", index=False)
    if report:
        from ..review.report import build_report, render_html, render_pdf

        rep = build_report([data])
        (out / "report.html").write_text(render_html(rep), encoding="utf-8")
        render_pdf(rep, out / "report.pdf")
    seconds = time.perf_counter() - t0
    warnings = tuple(demux_warnings) + input_warnings(data.events)
    result = SessionResult(files.name, out, out / "session.sqlite", len(data.windows), seconds, warnings)
    (out / DONE).write_text(json.dumps({"session": files.name, "windows": result.windows, "seconds": round(seconds, 3),
                                        "warnings": list(warnings)}))
    return result
