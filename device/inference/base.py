"""The inference protocol: a backend loads a manifest-checked model into a session that runs it.

Each runtime is one module (litert.py, onnx.py) registered by key in ``__init__.py``; its heavy
import happens in ``load()``, so the core imports without any runtime installed.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from .manifest import ModelSpec


class InferenceSession(Protocol):
    """One loaded model. ``run`` takes one array per manifest input (shape and dtype as declared)."""

    spec: ModelSpec

    def run(self, *inputs: np.ndarray) -> list[np.ndarray]:
        """Run the model; returns one array per manifest output, owned by the caller."""
        ...


class InferenceBackend(Protocol):
    key: str
    format: str  # the manifest file format this runtime reads ("tflite", "onnx")

    def load(self, spec: ModelSpec, threads: int) -> InferenceSession:
        """Verify ``spec``'s file (sha256) and load it; shapes are checked against the manifest."""
        ...
