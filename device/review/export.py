"""`affectedge export`: the window records, estimates, events (and summaries) as CSV or Parquet.

One file per table in the output folder, one row per record, nested fields flattened into
columns (p_<label>, q_<modality>, f_<feature>), so R's read.csv and pandas read them directly.
"""

from __future__ import annotations

import csv
import json
from datetime import datetime
from pathlib import Path
from typing import Iterable, Optional, Sequence

from ..core.errors import AffectEdgeError, BackendUnavailableError
from ..core.types import LABELS, MODALITIES
from .log_reader import SessionLogData

TABLES = ("windows", "estimates", "events", "labels", "summaries")


class ExportError(AffectEdgeError):
    """The export cannot be written (bad filter, unwritable folder)."""


def _probs(prefix: str, probs) -> dict:
    probs = probs or {}
    return {f"{prefix}{label}": probs.get(label) for label in LABELS}


def _selected_runs(data: SessionLogData, subject: Optional[str]) -> set[int]:
    return {rid for rid, run in data.runs.items() if subject is None or run.subject == subject}


def _in_range(when: Optional[datetime], t_from: Optional[datetime], t_to: Optional[datetime]) -> bool:
    if t_from is None and t_to is None:
        return True
    if when is None:
        return False
    return (t_from is None or when >= t_from) and (t_to is None or when < t_to)


def table_rows(logs: Sequence[SessionLogData], t_from: Optional[datetime] = None, t_to: Optional[datetime] = None,
               subject: Optional[str] = None) -> dict[str, list[dict]]:
    """The rows of each table after the time-range and subject filters.

    Times: ``t_from``/``t_to`` are compared with each record's clock time (its run's start time
    plus its offset into the run); ``subject`` keeps the runs made with that person's profile.
    """
    out: dict[str, list[dict]] = {t: [] for t in TABLES}
    any_summaries = False
    for data in logs:
        runs = _selected_runs(data, subject)
        log = data.path.name
        kept: set[tuple[int, int]] = set()
        for w in data.windows:
            when = data.clock(w.run_id, w.start)
            if w.run_id not in runs or not _in_range(when, t_from, t_to):
                continue
            kept.add((w.run_id, w.seq))
            mods = w.modalities
            out["windows"].append({
                "log": log, "run_id": w.run_id, "subject": data.runs[w.run_id].subject, "seq": w.seq,
                "time_utc": when, "start": w.start, "end": w.end, "status": w.status, "zone": w.zone,
                "valence": w.valence, "arousal": w.arousal, "confidence": w.confidence, "top": w.record.get("top"),
                **_probs("p_", w.record.get("probabilities")),
                **{f"q_{m}": (mods.get(m) or {}).get("quality") for m in MODALITIES},
                **{f"w_{m}": (mods.get(m) or {}).get("weight") for m in MODALITIES},
            })
        for e in data.estimates:
            if (e["run_id"], e["window_seq"]) not in kept:
                continue
            out["estimates"].append({
                "log": log, "run_id": e["run_id"], "window_seq": e["window_seq"], "modality": e["modality"],
                "start": e.get("start"), "end": e.get("end"), "quality": e["quality"], "valence": e.get("valence"),
                "arousal": e.get("arousal"), "basis": e.get("basis"), **_probs("p_", e.get("probabilities")),
                **{f"f_{k}": v for k, v in sorted((e.get("features") or {}).items())},
            })
        for ev in data.events:
            when = data.clock(ev.run_id, ev.t)
            if ev.run_id not in runs or not _in_range(when, t_from, t_to):
                continue
            out["events"].append({"log": log, "run_id": ev.run_id, "time_utc": when, "t": ev.t, "kind": ev.kind,
                                  "source": ev.source, "detail": json.dumps(ev.detail, sort_keys=True)})
        for lab in data.labels:
            out["labels"].append({"log": log, "start": lab.get("start"), "end": lab.get("end"), "label": lab.get("label"),
                                  "valence": lab.get("valence"), "arousal": lab.get("arousal"), "origin": lab.get("origin"),
                                  "added_utc": lab.get("added_utc")})
        if data.summaries is not None:
            any_summaries = True
            for s in data.summaries:
                if subject is not None and s.get("subject") not in (None, subject):
                    continue
                out["summaries"].append({"log": log, **s})
    if not any_summaries:
        del out["summaries"]
    return out


def _columns(rows: Iterable[dict]) -> list[str]:
    cols: dict[str, None] = {}
    for r in rows:
        cols.update(dict.fromkeys(r))
    return list(cols)


def write_tables(tables: dict[str, list[dict]], out_dir: Path, fmt: str) -> dict[str, Path]:
    """Write each table as OUT/<table>.csv or .parquet; return the paths."""
    if fmt not in ("csv", "parquet"):
        raise ExportError(f"unknown format {fmt!r} (csv, parquet)")
    if fmt == "parquet":
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise BackendUnavailableError("parquet export", "pyarrow", "review") from None
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"{out_dir}: cannot create the export folder ({exc.strerror})") from None
    paths = {}
    for name, rows in tables.items():
        cols = _columns(rows)
        path = out_dir / f"{name}.{fmt}"
        if fmt == "csv":
            with path.open("w", newline="", encoding="utf-8") as f:
                w = csv.DictWriter(f, fieldnames=cols, lineterminator="\n")
                w.writeheader()
                # CSV has no time type: ISO 8601 with the offset, which pandas and R parse.
                w.writerows({k: v.isoformat() if isinstance(v, datetime) else v for k, v in r.items()} for r in rows)
        else:
            # Clock times stay timezone-aware datetimes: Parquet stores them as timestamp[us, tz=UTC].
            table = pa.Table.from_pylist([{c: r.get(c) for c in cols} for r in rows]) if rows else pa.table({})
            pq.write_table(table, path)
        paths[name] = path
    return paths
