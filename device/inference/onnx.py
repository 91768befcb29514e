"""ONNX Runtime: CPU everywhere, CUDA / TensorRT execution providers where installed (Jetson)."""

from __future__ import annotations

import numpy as np

from ..core.errors import ModelError
from ..core.extras import require_module
from .manifest import ModelSpec

# Most capable first; onnxruntime falls back along the list for nodes a provider cannot run.
PREFERRED_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")


def choose_providers(available: list[str]) -> list[str]:
    """The preferred providers this onnxruntime build offers, in preference order."""
    chosen = [p for p in PREFERRED_PROVIDERS if p in available]
    return chosen or list(available)


class OnnxSession:
    def __init__(self, spec: ModelSpec, session):
        self.spec = spec
        self._session = session
        self._names = [i.name for i in session.get_inputs()]
        # Session-owned input arrays that the caller's fill() writes into.
        self._buffers = [np.zeros(t.shape, dtype=np.dtype(t.dtype)) for t in spec.inputs]
        self._feed = dict(zip(self._names, self._buffers))
        self._run = session.run

    @property
    def providers(self) -> list[str]:
        return self._session.get_providers()

    def run(self, fill) -> list[np.ndarray]:
        fill(self._buffers)
        return self._run(None, self._feed)


class OnnxBackend:
    key = "onnx"
    format = "onnx"

    def load(self, spec: ModelSpec, threads: int) -> OnnxSession:
        ort = require_module("onnxruntime", "onnx", "onnx")
        content = spec.verify_file()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # warnings about provider fallbacks go to our own log line
        try:
            session = ort.InferenceSession(content, sess_options=options, providers=choose_providers(ort.get_available_providers()))
        except Exception as exc:  # onnxruntime raises its own exception types for a bad graph
            raise ModelError(f"{spec.file}: onnxruntime cannot load this model ({exc})") from None
        spec.check_shapes(
            [tuple(_dim(d) for d in i.shape) for i in session.get_inputs()],
            [tuple(_dim(d) for d in o.shape) for o in session.get_outputs()],
        )
        return OnnxSession(spec, session)


def _dim(d) -> int:
    # A symbolic batch dimension ("N", None) is run with batch 1, as the manifest declares.
    return d if isinstance(d, int) else 1
