"""Audio events from YAMNet: the model in the slot, its class map, and scores per 0.96 s patch.

``AudioEventModel`` loads the manifest's ``yamnet`` entry through the inference slot (sha256 and
shapes checked, LiteRT or any runtime whose format the manifest lists) and its class map (sha256
checked too), and scores log-mel patches from ``audio_features``. What a caregiver is told (crying,
screaming, laughter as events with thresholds, durations and hangovers) is built on these scores;
the 521 numbers never leave the device.
"""

from __future__ import annotations

import csv
import hashlib
import io
from pathlib import Path
from typing import Optional

import numpy as np

from ..core.errors import ModelError
from .audio_features import MEL_BANDS, PATCH_FRAMES

MODEL_KEY = "yamnet"


def read_class_map(spec) -> tuple[str, ...]:
    """The display names of the model's classes, from the manifest's ``class_map`` file."""
    entry = spec.sections.get("class_map")
    if not entry:
        raise ModelError(f"{spec.manifest}: models.{spec.key}: no class_map (file, sha256)")
    path = Path(spec.manifest).parent / entry["file"]
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ModelError(f"{path}: class map unreadable ({exc.strerror})") from None
    digest = hashlib.sha256(raw).hexdigest()
    if digest != str(entry["sha256"]).lower():
        raise ModelError(f"{path}: sha256 {digest} is not the manifest's {entry['sha256']}")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8"))))
    if [int(r["index"]) for r in rows] != list(range(len(rows))):
        raise ModelError(f"{path}: class indexes are not 0..{len(rows) - 1} in order")
    return tuple(r["display_name"] for r in rows)


class AudioEventModel:
    """YAMNet in the model slot: ``scores(patches) -> (k, 521)``."""

    def __init__(self, backend: str = "litert", threads: int = 1, manifest: Optional[Path] = None):
        from ..inference import load_model

        self._session = load_model(MODEL_KEY, backend, threads, manifest)
        self.spec = self._session.spec
        self.classes = read_class_map(self.spec)
        n_out = int(np.prod(self.spec.outputs[0].shape))
        if n_out != len(self.classes):
            raise ModelError(f"{self.spec.file}: {n_out} outputs, the class map has {len(self.classes)} classes")
        if tuple(self.spec.inputs[0].shape)[-2:] != (PATCH_FRAMES, MEL_BANDS):
            raise ModelError(f"{self.spec.file}: input {self.spec.inputs[0].shape}, the front end makes (96, 64) patches")

    def index(self, name: str) -> int:
        try:
            return self.classes.index(name)
        except ValueError:
            raise ModelError(f"{self.spec.key}: no class {name!r} in its class map") from None

    def scores(self, patches: np.ndarray) -> np.ndarray:
        """Per-class scores in [0, 1] of each (96, 64) patch."""
        out = np.empty((len(patches), len(self.classes)), np.float32)
        for i, patch in enumerate(patches):
            def fill(inputs, patch=patch):
                inputs[0][0] = patch
            out[i] = self._session.run(fill)[0].reshape(-1)
        return out
