"""A study: many sessions, one output folder each, and one Parquet dataset partitioned by session.

Sessions run one per process on the local cores (bounded memory: a process holds one session), or
as the same tasks on a Dask cluster (``scheduler="tcp://HOST:PORT"`` or a ``dask.distributed``
Client). A finished session (its ``done.json`` written last) is skipped on a rerun; a failed one is
reported with its error and does not stop the others. A progress bar (tqdm) shows sessions done,
windows per second and the time left.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import signal
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Optional, Sequence

from ..core.errors import AffectEdgeError
from ..core.extras import require_module
from .inputs import SessionFiles
from .session import DONE

VIDEO = (".mp4", ".mov", ".mkv", ".avi", ".webm")
# A session name is one folder under --out and a Parquet partition value: one plain path
# component, never absolute, never "..", never the dataset's own folder.
SESSION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
RESERVED = {"windows"}


class StudyError(AffectEdgeError):
    """A study folder or manifest cannot be read."""


@dataclass
class StudyResult:
    out: Path
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # session -> error
    windows: int = 0
    seconds: float = 0.0
    dataset: Optional[Path] = None
    interrupted: bool = False


def session_name_problem(name: str) -> Optional[str]:
    """Why ``name`` cannot be a session's folder, or None."""
    if not SESSION_NAME.fullmatch(name) or ".." in name:
        return (f"{name!r} is not a session name: letters, digits, '.', '_' and '-' only (no '/', no '..', "
                "not absolute), starting with a letter or digit")
    if name.lower() in RESERVED:
        return f"{name!r} is reserved (the combined dataset's folder)"
    return None


def discover(source: Path) -> list[SessionFiles]:
    """Sessions of a study folder (one subfolder each: a video, a .wav, physiology .csv files) or of
    a CSV manifest (session,video,audio,physiology[,video_start_s,audio_start_s,physiology_start_s];
    several physiology files separated by ';'; paths relative to the manifest)."""
    source = Path(source)
    if source.is_dir():
        sessions = []
        for d in sorted(p for p in source.iterdir() if p.is_dir()):
            files = sorted(d.iterdir())
            video = next((f for f in files if f.suffix.lower() in VIDEO), None)
            audio = next((f for f in files if f.suffix.lower() == ".wav"), None)
            physio = tuple(f for f in files if f.suffix.lower() == ".csv")
            if video or audio or physio:
                problem = session_name_problem(d.name)
                if problem:
                    raise StudyError(f"{d}: {problem}")
                sessions.append(SessionFiles(d.name, video, audio, physio))
        if not sessions:
            raise StudyError(f"{source}: no session folders (each holds a video, a .wav and/or physiology .csv files)")
        return sessions
    if not source.is_file():
        raise StudyError(f"{source}: no such study folder or manifest")
    rows = list(csv.DictReader(source.read_text(encoding="utf-8-sig").splitlines()))
    sessions, seen = [], {}
    for n, r in enumerate(rows, start=2):
        name = (r.get("session") or "").strip()
        if not name:
            raise StudyError(f"{source}:{n}: column 'session': missing")
        problem = session_name_problem(name)
        if problem:
            raise StudyError(f"{source}:{n}: column 'session': {problem}")
        if name.lower() in seen:  # case-insensitive file systems would put both in one folder
            raise StudyError(f"{source}:{n}: column 'session': {name!r} collides with line {seen[name.lower()]}")
        seen[name.lower()] = n

        def path(col):
            v = (r.get(col) or "").strip()
            return (source.parent / v) if v else None

        physio = tuple(source.parent / p.strip() for p in (r.get("physiology") or "").split(";") if p.strip())
        try:
            sessions.append(SessionFiles(name, path("video"), path("audio"), physio,
                                         float(r.get("video_start_s") or 0), float(r.get("audio_start_s") or 0),
                                         float(r.get("physiology_start_s") or 0)))
        except (ValueError, AffectEdgeError) as exc:
            raise StudyError(f"{source}:{n}: {exc}") from None
    return sessions


def _run_one(files: SessionFiles, out: Path, config: Optional[str]) -> tuple[str, int, float, Optional[str]]:
    """One session in a worker: (name, windows, seconds, error or None). Never raises."""
    from .session import analyse_session

    try:
        r = analyse_session(files, out, Path(config) if config else None)
        return files.name, r.windows, r.seconds, None
    except Exception as exc:  # reported per session; the study goes on
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        return files.name, 0, 0.0, detail


def run_study(sessions: Sequence[SessionFiles], out: Path, config: Optional[Path] = None, workers: Optional[int] = None,
              scheduler=None, progress: bool = True) -> StudyResult:
    """Analyse every session not finished yet; then (re)write the combined dataset ``out/windows``.

    ``workers``: local processes (default: every core). ``scheduler``: a Dask scheduler address or a
    ``dask.distributed.Client``; the same tasks then run on that cluster.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    result = StudyResult(out)
    todo = []
    root = out.resolve()
    for s in sessions:
        if (out / s.name).resolve().parent != root:  # discover() refuses such names; a caller's list may not
            raise StudyError(f"session {s.name!r} would be written outside {out}")
        if (out / s.name / DONE).is_file():
            result.skipped.append(s.name)  # finished in an earlier run
        else:
            todo.append(s)
    cfg = str(Path(config).resolve()) if config else None
    t0 = time.perf_counter()
    bar = _bar(len(todo), progress)
    runs = _execute(todo, out, cfg, workers, scheduler)
    try:
        for name, windows, _, error in runs:
            if error is None:
                result.done.append(name)
                result.windows += windows
            else:
                result.failed[name] = error
            if bar is not None:
                elapsed = time.perf_counter() - t0
                bar.set_postfix_str(f"{result.windows / elapsed:.0f} windows/s" if elapsed > 0 else "")
                bar.update(1)
    except KeyboardInterrupt:
        # Ctrl-C: stop now (the workers are stopped by closing the generator), keep every session
        # that finished, and still write the combined dataset of those.
        result.interrupted = True
    finally:
        runs.close()
        if bar is not None:
            bar.close()
    result.seconds = time.perf_counter() - t0
    result.dataset = combine(out, [s.name for s in sessions if (out / s.name / DONE).is_file()])
    return result


def _bar(total: int, enabled: bool):
    if not enabled or total == 0:
        return None
    tqdm = require_module("tqdm", "study progress bar", "analyse")
    return tqdm.tqdm(total=total, unit="session", desc="sessions")


def _execute(todo: list[SessionFiles], out: Path, config: Optional[str], workers: Optional[int], scheduler):
    if not todo:
        return
    if scheduler is not None:
        distributed = require_module("distributed", "study on a Dask cluster", "analyse")
        client = scheduler if isinstance(scheduler, distributed.Client) else distributed.Client(scheduler)
        futures = []
        try:
            futures = [client.submit(_run_one, s, out / s.name, config, key=f"affectedge-{s.name}-{time.time_ns()}", pure=False)
                       for s in todo]
            for f in distributed.as_completed(futures):
                yield f.result()
        finally:
            client.cancel([f for f in futures if not f.done()])
            if client is not scheduler:
                client.close()
        return
    workers = workers or os.cpu_count() or 1
    if workers == 1:
        for s in todo:
            yield _run_one(s, out / s.name, config)
        return
    # spawn: each worker starts clean (no inherited runtime threads or locks). A worker runs one
    # session at a time and keeps its imports between sessions (re-importing the runtimes cost a
    # second or two per session, as much as a short session's analysis).
    pool = ProcessPoolExecutor(max_workers=min(workers, len(todo)), mp_context=get_context("spawn"),
                               initializer=_ignore_sigint)
    finished = False
    try:
        futures = [pool.submit(_run_one, s, out / s.name, config) for s in todo]
        for f in as_completed(futures):
            yield f.result()
        finished = True
    finally:
        if finished:
            pool.shutdown(wait=True)
        else:
            # Interrupted (or the caller stopped): drop the queued sessions and stop the running
            # ones now instead of letting them finish; their folders have no done.json, so a rerun
            # analyses them again.
            processes = list((getattr(pool, "_processes", None) or {}).values())
            pool.shutdown(wait=False, cancel_futures=True)
            for proc in processes:
                proc.terminate()
            for proc in processes:
                proc.join(timeout=5)


def _ignore_sigint() -> None:
    # Ctrl-C reaches the whole process group: the parent handles it and stops the workers, which
    # would otherwise each print a KeyboardInterrupt traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def combine(out: Path, names: Sequence[str]) -> Optional[Path]:
    """``out/windows``: every finished session's windows as one Parquet dataset partitioned by
    session (hive layout, session=<name>/), rewritten from the sessions' own files."""
    if not names:
        return None
    pa_ds = require_module("pyarrow.dataset", "analyse (Parquet dataset)", "analyse")
    import pyarrow as pa
    import pyarrow.parquet as pq

    tables = [pq.read_table(out / n / "windows.parquet") for n in sorted(names)]
    table = pa.concat_tables(tables, promote_options="default")
    target = out / "windows"
    if target.exists():
        shutil.rmtree(target)
    pa_ds.write_dataset(table, target, format="parquet", partitioning=pa_ds.partitioning(pa.schema([("session", pa.string())]), flavor="hive"))
    return target
