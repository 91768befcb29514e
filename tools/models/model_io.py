"""Running, quantising and comparing model files: what every converter and trainer shares.

One module that the converters import, instead of importing each other (issue 22)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_tflite(model: Path, x: np.ndarray) -> list[np.ndarray]:
    """Every output of a TFLite model over the rows of ``x`` (one invoke per row, as on the device)."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(model), num_threads=1)
    interp.allocate_tensors()
    inp, outs = interp.get_input_details()[0], interp.get_output_details()
    results: list[list] = [[] for _ in outs]
    for row in x:
        sample = row[None]
        if inp["dtype"] != np.float32:  # a full-integer model: quantise with its own parameters
            scale, zero = inp["quantization"]
            sample = np.clip(np.round(sample / scale + zero), -128, 127).astype(inp["dtype"])
        interp.set_tensor(inp["index"], sample)
        interp.invoke()
        for i, o in enumerate(outs):
            y = interp.get_tensor(o["index"])
            if o["dtype"] != np.float32:
                scale, zero = o["quantization"]
                y = (y.astype(np.float32) - zero) * scale
            results[i].append(y[0])
    return [np.array(r) for r in results]


def run_onnx(model: Path, x: np.ndarray) -> list[np.ndarray]:
    """Every output of an ONNX model over the rows of ``x`` (tf2onnx keeps TFLite's output order)."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    per_row = [session.run(None, {name: row[None]}) for row in x]
    return [np.array([r[i][0] for r in per_row]) for i in range(len(per_row[0]))]


def quantise_qdq(fp32: Path, int8: Path, rows: np.ndarray, input_name: str) -> None:
    """ONNX FP32 -> INT8 QDQ (activations and per-channel weights int8), calibrated on ``rows``."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self):
            self._rows = iter(rows)

        def get_next(self):
            row = next(self._rows, None)
            return None if row is None else {input_name: row[None]}

    quantize_static(str(fp32), str(int8), Reader(), quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8, per_channel=True)


def fidelity(reference: np.ndarray, candidate: np.ndarray) -> dict:
    """Agreement of a candidate model's probabilities with the FP32 reference's."""
    diff = np.abs(reference - candidate)
    return {
        "top1_agreement": float(np.mean(reference.argmax(1) == candidate.argmax(1))),
        "max_prob_diff": float(diff.max()),
        "mean_prob_diff": float(diff.mean()),
    }
