"""The notebook API: `affectedge.analyse(...)` and `affectedge.read_log(...)` (docs/analyse.md)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Optional, Sequence

from .frames import read_log
from .inputs import SessionFiles
from .session import analyse_session


def analyse(video: Optional[Path | str] = None, audio: Optional[Path | str] = None,
            physiology: Sequence[Path | str] | Path | str = (), config: Optional[Path | str] = None,
            out: Optional[Path | str] = None, video_start_s: float = 0.0, audio_start_s: float = 0.0,
            physiology_start_s: float = 0.0):
    """Run the device's analysers and fusion over one session's files; the windows as a DataFrame.

    ``physiology``: the product's CSV files (``t,kind,value``). ``config``: a service config whose
    perception, fusion, zones and window settings apply (its sources are replaced). ``out``: where
    the session log is written (a temporary folder by default, removed afterwards).
    """
    if isinstance(physiology, (str, Path)):
        physiology = [physiology]
    files = SessionFiles("session", Path(video) if video else None, Path(audio) if audio else None,
                         tuple(Path(p) for p in physiology), video_start_s, audio_start_s, physiology_start_s)
    if out is not None:
        return read_log(analyse_session(files, Path(out), Path(config) if config else None).log)
    with tempfile.TemporaryDirectory(prefix="affectedge-analyse-") as tmp:
        return read_log(analyse_session(files, Path(tmp), Path(config) if config else None).log)


__all__ = ["analyse", "read_log"]
