"""Session logs as pandas DataFrames: one row per window, one column per field.

Window fields keep their names (``seq``, ``start``, ``zone``, ``valence``, ...; ``p_<label>`` for
the fused probabilities, ``<modality>_quality``/``_weight`` for the contributions); each
modality's estimate is flattened with its name as a prefix (``face_valence``, ``face_p_happy``,
``physiology_f_hr_bpm``). The window and probability columns are always there; a modality's
columns appear where the log has its estimates, and concatenating sessions fills the gaps with
missing values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from ..core.extras import require_module
from ..core.types import LABELS, MODALITIES

WINDOW_FIELDS = ("run_id", "seq", "start", "end", "status", "zone", "zone_withheld", "valence", "arousal", "confidence",
                 "top", "faces_in_view")


def window_rows(data) -> list[dict]:
    """The flattened rows of a read session log (review.log_reader.SessionLogData)."""
    estimates: dict[tuple[int, int], dict[str, dict]] = {}
    for e in data.estimates:
        estimates.setdefault((e["run_id"], e["window_seq"]), {})[e["modality"]] = e
    rows = []
    for w in data.windows:
        r = w.record
        row = {k: r.get(k) for k in WINDOW_FIELDS}
        row["run_id"] = w.run_id
        probs = r.get("probabilities") or {}
        row.update({f"p_{label}": probs.get(label) for label in LABELS})
        mods = r.get("modalities") or {}
        for m in MODALITIES:
            row[f"{m}_quality"] = (mods.get(m) or {}).get("quality")
            row[f"{m}_weight"] = (mods.get(m) or {}).get("weight")
        for m, e in estimates.get((w.run_id, w.seq), {}).items():
            row[f"{m}_estimate_quality"] = e.get("quality")
            row[f"{m}_valence"] = e.get("valence")
            row[f"{m}_arousal"] = e.get("arousal")
            row[f"{m}_basis"] = e.get("basis")
            for label, p in (e.get("probabilities") or {}).items():
                row[f"{m}_p_{label}"] = p
            for k, v in (e.get("features") or {}).items():
                row[f"{m}_f_{k}"] = v
        rows.append(row)
    return rows


def windows_frame(data, session: Optional[str] = None):
    """A pandas DataFrame of a read session log's windows (see the module docstring)."""
    pd = require_module("pandas", "analyse", "analyse")
    df = pd.DataFrame(window_rows(data))
    if session is not None:
        df.insert(0, "session", session)
    return df


def read_log(path: Path | str, key_file: Optional[Path] = None):
    """A session log (as the service writes it) as a DataFrame, one row per window."""
    from ..review.log_reader import read_log as _read

    return windows_frame(_read(Path(path), key_file))
