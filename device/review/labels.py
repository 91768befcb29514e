"""Human labels for `affectedge evaluate`: time spans of a session, or still images.

Three CSV layouts, told apart by their header:

* spans: ``start,end,label`` (seconds on the session's clock, as in the log's window ``start``),
  optionally ``valence`` and ``arousal`` columns in [-1, 1];
* CALMED-style: ``t,label`` (or ``time,label``), one row per fixed step (200 ms in CALMED), each
  labelling [t, t + step) where step is the rows' median spacing; also with optional
  ``valence``/``arousal``;
* images: ``image,label`` (a path, relative to the CSV's folder).

A label is one of the four zones, one of the seven emotions (common synonyms such as
``happiness`` or ``surprise`` are accepted), or a state, ``stress`` or ``rest`` (what a stress
protocol such as Stress-Predict labels; scored as arousal's ROC AUC); a file mixes neither kinds
nor unknown words. An optional ``task`` column names what the span was (``interview``), so that
figures can be given with and without a task. An empty
label leaves that span unlabelled: it is excluded from every figure, never counted as neutral.
Every problem is an error naming the file, line and column.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Optional

import numpy as np

from ..core.errors import AffectEdgeError
from ..core.types import LABELS, ZONES

SYNONYMS = {"happiness": "happy", "joy": "happy", "sadness": "sad", "anger": "angry", "fear": "fearful",
            "surprise": "surprised", "disgust": "disgusted", "calm": "neutral", "contempt": None}


class LabelError(AffectEdgeError):
    """A label file cannot be read; the message names the file, line and column."""


LabelKind = Literal["zone", "emotion", "state"]
# States: the person at rest or under a stressor; arousal is expected higher under stress.
STATES: tuple[str, ...] = ("rest", "stress")


@dataclass(frozen=True)
class LabelledSpan:
    start: float
    end: float
    label: Optional[str]          # None: labelled only for valence/arousal
    valence: Optional[float] = None
    arousal: Optional[float] = None
    task: Optional[str] = None    # what the span was ("interview"), for figures with and without it


@dataclass(frozen=True)
class SessionLabels:
    path: Path
    kind: LabelKind
    spans: list[LabelledSpan]

    def at(self, t: float) -> Optional[LabelledSpan]:
        """The span holding time ``t`` (None: unlabelled there)."""
        starts = self._starts
        i = int(np.searchsorted(starts, t, side="right")) - 1
        if i >= 0 and self.spans[i].start <= t < self.spans[i].end:
            return self.spans[i]
        return None

    def __post_init__(self) -> None:
        object.__setattr__(self, "_starts", np.array([s.start for s in self.spans]))


@dataclass(frozen=True)
class ImageLabel:
    image: Path
    label: str
    line: int


def _normalise(word: str, path: Path, line: int, column: str) -> tuple[Optional[str], Optional[LabelKind]]:
    w = word.strip().lower()
    if not w:
        return None, None
    if w in ZONES:
        return w, "zone"
    if w in STATES:
        return w, "state"
    w = SYNONYMS.get(w, w)
    if w is None:
        raise LabelError(f"{path}:{line}: column {column!r}: {word!r} has no counterpart among the seven emotions "
                         f"({', '.join(LABELS)}); leave the label empty to exclude that span")
    if w in LABELS:
        return w, "emotion"
    raise LabelError(f"{path}:{line}: column {column!r}: unknown label {word!r} (a zone: {', '.join(ZONES)}; "
                     f"an emotion: {', '.join(LABELS)}; or a state: {', '.join(STATES)})")


def _number(text: str, path: Path, line: int, column: str, low: float = -math.inf, high: float = math.inf) -> Optional[float]:
    if text is None or not text.strip():
        return None
    try:
        v = float(text)
    except ValueError:
        raise LabelError(f"{path}:{line}: column {column!r}: {text!r} is not a number") from None
    if not math.isfinite(v):
        raise LabelError(f"{path}:{line}: column {column!r}: {text.strip()!r} is not a finite number")
    if not (low <= v <= high):
        raise LabelError(f"{path}:{line}: column {column!r}: {v} is outside [{low}, {high}]")
    return v


def _rows(path: Path) -> tuple[list[str], list[tuple[int, dict]]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise LabelError(f"{path}: cannot read the label file ({exc.strerror})") from None
    reader = csv.DictReader(text.splitlines())
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    reader.fieldnames = header
    return header, [(i + 2, row) for i, row in enumerate(reader)]


def _kind(kinds: set, path: Path) -> LabelKind:
    kinds.discard(None)
    if len(kinds) > 1:
        raise LabelError(f"{path}: mixes {' and '.join(sorted(kinds))} labels; evaluate one kind per file")
    return kinds.pop() if kinds else "emotion"


def read_session_labels(path: Path) -> SessionLabels:
    """Spans or CALMED-style per-step labels (see the module docstring)."""
    path = Path(path)
    header, rows = _rows(path)
    if "label" not in header:
        raise LabelError(f"{path}:1: no 'label' column (header: {', '.join(header) or 'empty'})")
    if {"start", "end"} <= set(header):
        bounds = [(_number(r["start"], path, n, "start"), _number(r["end"], path, n, "end"), n, r) for n, r in rows]
    elif "t" in header or "time" in header:
        col = "t" if "t" in header else "time"
        ts = [(_number(r[col], path, n, col), n, r) for n, r in rows]
        times = np.array([t for t, _, _ in ts if t is not None])
        step = float(np.median(np.diff(np.sort(times)))) if len(times) > 1 else 0.2
        bounds = [(t, None if t is None else t + step, n, r) for t, n, r in ts]
    else:
        raise LabelError(f"{path}:1: needs start,end,label (spans) or t,label (one row per step); header: {', '.join(header)}")
    spans, kinds = [], set()
    for start, end, n, r in bounds:
        if start is None or end is None:
            raise LabelError(f"{path}:{n}: a row needs its time{'s' if end is None and start is not None else ''}")
        if not end > start:
            raise LabelError(f"{path}:{n}: column 'end': {end} is not after start {start}")
        label, kind = _normalise(r.get("label") or "", path, n, "label")
        kinds.add(kind)
        valence = _number(r.get("valence"), path, n, "valence", -1.0, 1.0) if "valence" in header else None
        arousal = _number(r.get("arousal"), path, n, "arousal", -1.0, 1.0) if "arousal" in header else None
        if label is None and valence is None and arousal is None:
            continue  # unlabelled: excluded
        task = (r.get("task") or "").strip() or None if "task" in header else None
        if task is not None and (len(task) > 40 or not task.replace("_", "").replace("-", "").isalnum()):
            raise LabelError(f"{path}:{n}: column 'task': {task[:40]!r} is not a short name (letters, digits, - and _, at most 40)")
        spans.append(LabelledSpan(start, end, label, valence, arousal, task))
    if not spans:
        raise LabelError(f"{path}: no labelled rows ({len(rows)} row(s) after the header, none with a label, "
                         "valence or arousal)")
    spans.sort(key=lambda s: s.start)
    for a, b in zip(spans, spans[1:]):
        if b.start < a.end - 1e-9:
            raise LabelError(f"{path}: spans overlap at {b.start:g} s ({a.start:g}-{a.end:g} and {b.start:g}-{b.end:g})")
    return SessionLabels(path, _kind(kinds, path), spans)


def stored_labels(data, where: Path) -> SessionLabels:
    """The labels kept in a session log (``affectedge label``, or pressed live) as SessionLabels."""
    spans = sorted((LabelledSpan(float(r["start"]), float(r["end"]), r.get("label"), r.get("valence"), r.get("arousal"), r.get("task"))
                    for r in data.labels), key=lambda s: s.start)
    if not spans:
        raise LabelError(f"{where}: no labels in this log: give --labels FILE, or add them with `affectedge label`")
    kinds = {"zone" if s.label in ZONES else "state" if s.label in STATES else "emotion" for s in spans if s.label}
    if len(kinds) > 1:
        raise LabelError(f"{where}: the log's labels mix {' and '.join(sorted(kinds))}; evaluate with --labels FILE of one kind")
    return SessionLabels(where, kinds.pop() if kinds else "emotion", spans)


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def read_image_folder(path: Path) -> list[ImageLabel]:
    """An image-folder layout: one folder per class (its name the label: FER2013's seven names,
    AffectNet's and the product's all map), images inside; sorted, so the order is reproducible.
    ``line`` is the image's position in that order."""
    path = Path(path)
    out: list[ImageLabel] = []
    folders = sorted(d for d in path.iterdir() if d.is_dir())
    if not folders:
        raise LabelError(f"{path}: no class folders (expected one folder per label, e.g. angry/, happy/)")
    for folder in folders:
        label, kind = _normalise(folder.name, folder, 0, "folder")
        if label is None or kind != "emotion":
            raise LabelError(f"{folder}: a class folder is named after an emotion, not {folder.name!r}")
        for image in sorted(q for q in folder.iterdir() if q.suffix.lower() in IMAGE_SUFFIXES):
            out.append(ImageLabel(image, label, len(out) + 1))
    if not out:
        raise LabelError(f"{path}: no images ({', '.join(IMAGE_SUFFIXES)}) in its class folders")
    return out


def read_image_labels(path: Path) -> list[ImageLabel]:
    """``image,label`` rows (image paths relative to the CSV's folder; emotions only), or an
    image-folder layout when ``path`` is a folder (``read_image_folder``)."""
    path = Path(path)
    if path.is_dir():
        return read_image_folder(path)
    header, rows = _rows(path)
    if not {"image", "label"} <= set(header):
        raise LabelError(f"{path}:1: needs image,label columns (header: {', '.join(header) or 'empty'})")
    out = []
    for n, r in rows:
        label, kind = _normalise(r["label"] or "", path, n, "label")
        if label is None:
            continue
        if kind != "emotion":
            raise LabelError(f"{path}:{n}: column 'label': a still face is labelled with an emotion, not a zone ({label!r})")
        image = (path.parent / r["image"].strip()).resolve()
        if not image.is_file():
            raise LabelError(f"{path}:{n}: column 'image': {image} not found")
        out.append(ImageLabel(image, label, n))
    return out


# ------------------------------------------------------------------------------- audio clips

# What a labelled clip can be: one of the vocal-event groups, ordinary speech (counted for the
# false-alarm rate per hour), or another sound (a negative for every group).
CLIP_LABELS = ("distress", "laughter", "shouting", "speech", "other")
CLIP_SYNONYMS = {"crying": "distress", "cry": "distress", "screaming": "distress", "scream": "distress",
                 "sobbing": "distress", "laughing": "laughter", "laugh": "laughter", "giggle": "laughter",
                 "shout": "shouting", "yelling": "shouting", "none": "other"}


@dataclass(frozen=True)
class ClipLabel:
    file: Path
    label: str
    group: str   # who or what recording session it comes from (intervals resample whole groups)
    line: int


def read_clip_labels(path: Path) -> list[ClipLabel]:
    """``file,label`` rows, optional ``group`` column (a speaker or source id: clips of one group
    are resampled together in the intervals; default: each clip its own). Files are WAV, relative
    to the CSV's folder. Labels: CLIP_LABELS or their CLIP_SYNONYMS."""
    path = Path(path)
    header, rows = _rows(path)
    if not {"file", "label"} <= set(header):
        raise LabelError(f"{path}:1: needs file,label columns (header: {', '.join(header) or 'empty'})")
    out = []
    for n, r in rows:
        word = (r["label"] or "").strip().lower()
        label = CLIP_SYNONYMS.get(word, word)
        if label not in CLIP_LABELS:
            raise LabelError(f"{path}:{n}: column 'label': {word!r} is not one of {', '.join(CLIP_LABELS)}")
        name = (r["file"] or "").strip()
        if not name:
            raise LabelError(f"{path}:{n}: column 'file' is empty")
        file = (path.parent / name).resolve()
        if not file.is_file():
            raise LabelError(f"{path}:{n}: column 'file': {file} not found")
        group = (r.get("group") or "").strip() or name
        out.append(ClipLabel(file, label, group, n))
    if not out:
        raise LabelError(f"{path}: no labelled clips")
    return out
