"""Inference runtimes behind one protocol, chosen by key in the config (``litert`` | ``onnx``)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from .base import InferenceBackend, InferenceSession
from .litert import LiteRtBackend
from .manifest import ModelSpec, model_spec
from .onnx import OnnxBackend

BACKENDS: dict[str, InferenceBackend] = {b.key: b for b in (LiteRtBackend(), OnnxBackend())}


def load_model(key: str, backend: str, threads: int = 1, manifest: Optional[Path] = None) -> InferenceSession:
    """Load manifest model ``key`` with runtime ``backend``: sha256 and shapes checked, else ModelError."""
    runtime = BACKENDS[backend]
    return runtime.load(model_spec(key, runtime.format, manifest), threads)


__all__ = ["BACKENDS", "InferenceBackend", "InferenceSession", "ModelSpec", "load_model", "model_spec"]
