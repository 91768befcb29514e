"""LiteRT (TensorFlow Lite) runtime: ai-edge-litert, or tflite_runtime on older NumPy-1 board images.

The XNNPACK delegate is applied by the interpreter's default op resolver; ``threads`` sets its
thread pool. For models this small one thread is usually fastest (a pool's wake-up costs more
than it saves), see docs/vision.md.
"""

from __future__ import annotations

import importlib

import numpy as np

from ..core.errors import BackendUnavailableError, ModelError
from .manifest import ModelSpec


def _interpreter_class():
    # ai-edge-litert is the maintained package; tflite_runtime is accepted as a fallback because
    # board images with NumPy 1 still ship it (it does not load under NumPy 2).
    for module in ("ai_edge_litert.interpreter", "tflite_runtime.interpreter"):
        try:
            return importlib.import_module(module).Interpreter
        except ImportError:
            continue
    raise BackendUnavailableError("litert", "ai_edge_litert", "litert")


class LiteRtSession:
    def __init__(self, spec: ModelSpec, interpreter):
        self.spec = spec
        self._interp = interpreter
        # tensor(i) returns a function giving a view of the input in the interpreter's arena; the
        # view must be gone before invoke() (the interpreter refuses to run while one is held).
        self._inputs = [interpreter.tensor(d["index"]) for d in interpreter.get_input_details()]
        self._out = [d["index"] for d in interpreter.get_output_details()]
        self._invoke = interpreter.invoke
        self._get = interpreter.get_tensor

    def invoke(self) -> None:
        """Run on the inputs already in place, returning nothing (tools/bench/bench_face.py times this as
        the model's bare cost)."""
        self._invoke()

    def run(self, fill) -> list[np.ndarray]:
        fill([view() for view in self._inputs])
        self._invoke()
        return [self._get(i) for i in self._out]


class LiteRtBackend:
    key = "litert"
    format = "tflite"

    def load(self, spec: ModelSpec, threads: int) -> LiteRtSession:
        Interpreter = _interpreter_class()
        content = spec.verify_file()
        try:
            interp = Interpreter(model_content=content, num_threads=threads)
            interp.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"{spec.file}: LiteRT cannot load this model ({exc})") from None
        spec.check_shapes(
            [tuple(d["shape"]) for d in interp.get_input_details()],
            [tuple(d["shape"]) for d in interp.get_output_details()],
        )
        return LiteRtSession(spec, interp)
