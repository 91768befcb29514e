"""The inference protocol: a backend loads a manifest-checked model into a session that runs it.

Each runtime is one module (litert.py, onnx.py) registered by key in ``__init__.py``; its heavy
import happens in ``load()``, so the core imports without any runtime installed.
"""

from __future__ import annotations

from typing import Callable, Protocol

import numpy as np

from .manifest import ModelSpec


InputFiller = Callable[[list[np.ndarray]], None]


class InferenceSession(Protocol):
    """One loaded model."""

    spec: ModelSpec

    def run(self, fill: InputFiller) -> list[np.ndarray]:
        """Call ``fill`` with one writable array per manifest input (shape and dtype as declared,
        the runtime's own buffers where it allows: no copy on the per-frame path), which writes the
        inputs in place and keeps no reference to them; then run the model. Returns one array per
        manifest output, owned by the caller."""
        ...


class InferenceBackend(Protocol):
    key: str
    format: str  # the manifest file format this runtime reads ("tflite", "onnx")

    def load(self, spec: ModelSpec, threads: int) -> InferenceSession:
        """Verify ``spec``'s file (sha256) and load it; shapes are checked against the manifest."""
        ...
