"""Export a trained face model (``train_face_model --export``): ONNX FP32, INT8 QDQ, figures, manifest.

Every choice is made on the carve of ``train/`` (temperature, flip averaging); ``validation/``
(PublicTest) is read once, at the end, to report; ``test/`` (PrivateTest) is held out, never read.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from .model_io import fidelity, quantise_qdq, run_onnx, sha256
from .face_net import CLASSES, SIZE, build_net, load_images, predict, prepare, split_files

KEY = "affectedge_fer_vgg"
CALIBRATION_ROWS = 512  # INT8 calibration images, from the carve of train/


def softmax(z: np.ndarray, t: float = 1.0) -> np.ndarray:
    z = z / t
    z = z - z.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def nll(logits: np.ndarray, labels: np.ndarray, t: float) -> float:
    p = softmax(logits, t)
    return float(-np.mean(np.log(np.clip(p[np.arange(len(labels)), labels], 1e-12, None))))


def scaled(p: np.ndarray, t: float) -> np.ndarray:
    """Probabilities p^(1/T), renormalised: what the face path does with a manifest temperature."""
    q = np.power(np.clip(p, 1e-12, None), 1.0 / t)
    return q / q.sum(1, keepdims=True)


def prob_nll(p: np.ndarray, labels: np.ndarray) -> float:
    return float(-np.mean(np.log(np.clip(p[np.arange(len(labels)), labels], 1e-12, None))))


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature minimising the carve's negative log-likelihood (a grid: 0.5-3.0)."""
    grid = np.round(np.arange(0.5, 3.0001, 0.01), 2)
    return float(grid[int(np.argmin([nll(logits, labels, t) for t in grid]))])


def ece(p: np.ndarray, labels: np.ndarray, bins: int = 10) -> float:
    conf, pred = p.max(1), p.argmax(1)
    edges = np.linspace(0, 1, bins + 1)
    total = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (conf > lo) & (conf <= hi)
        if m.any():
            total += m.mean() * abs(float((pred[m] == labels[m]).mean()) - float(conf[m].mean()))
    return float(total)


def macs_and_params(net) -> tuple[int, int]:
    """Multiply-accumulates of one 48x48 crop (convolutions and the linear layer), and parameters."""
    import torch

    macs = 0

    def conv_hook(m, _inp, out):
        nonlocal macs
        macs += int(out.numel() * m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1])

    def linear_hook(m, _inp, _out):
        nonlocal macs
        macs += int(m.in_features * m.out_features)

    hooks = [m.register_forward_hook(conv_hook) for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    hooks += [m.register_forward_hook(linear_hook) for m in net.modules() if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        net(torch.zeros(1, 1, SIZE, SIZE))
    for h in hooks:
        h.remove()
    return macs, sum(p.numel() for p in net.parameters())


def time_per_crop_us(model: Path, x: np.ndarray, runs: int = 2000) -> float:
    """Median microseconds per crop, one thread, batch 1 (as on the device)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    session = ort.InferenceSession(str(model), opts, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    times = []
    for i in range(runs):
        row = x[i % len(x)][None]
        t0 = time.perf_counter()
        session.run(None, {name: row})
        times.append(time.perf_counter() - t0)
    return float(np.median(times) * 1e6)


def to_input(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 48, 48) -> the model's input (N, 1, 48, 48) float32 in [-1, 1]."""
    return (images.astype(np.float32) / 127.5 - 1.0)[:, None]


def manifest_entry(fp32: Path, int8: Path, temperature: float, report: dict) -> dict:
    return {
        "description": "affectedge's own FER2013 expression classifier (VGG-style, 48x48 grey), INT8 QDQ.",
        "source": {
            "trained_by": "python -m affectedge_tools.models.train_face_model (this repository)",
            "data": "FER2013 train/ (Goodfellow et al. 2013), image folders of RecepTahirGunlu/Duygu-Tanima at "
                    "commit 9c8c822db85a44c0d7af5d94d749319a07b1c935 (untouched images; sha256 list beside the run)",
        },
        "licence": "Apache-2.0",
        "licence_note": "weights trained here; FER2013 itself carries no licence (web images collected for a 2013 "
                        "challenge) and is never committed: see the model card in docs/vision.md",
        "files": {
            "onnx": {"file": int8.name, "sha256": sha256(int8),
                     "weights": "int8 QDQ (activations int8, per-channel weights; calibrated on 512 crops of the train/ carve)"},
        },
        "reference": {"file": fp32.name, "sha256": sha256(fp32), "weights": "float32 (the export the INT8 file is checked against)"},
        "inputs": [{"name": "input", "shape": [1, 1, SIZE, SIZE], "dtype": "float32"}],
        "outputs": [{"name": "probabilities", "shape": [1, len(CLASSES)], "dtype": "float32"}],
        "labels": list(CLASSES),
        "expression": {
            "size": SIZE,
            "colour": "grey",
            "layout": "nchw",
            "normalise": {"divide": 127.5, "subtract": 1.0},
            "crop": {"scale": 1.2, "shift_up": 0.13},
            "classes": list(CLASSES),
            "scores": "probabilities",
            "temperature": temperature,
        },
        "figures": report,
    }


def export(fer_dir: Path, out: Path) -> dict:
    import torch

    ck = torch.load(out / "best.pt", map_location="cpu", weights_only=False)
    net = build_net(ck["width"])
    net.load_state_dict(ck["net"])
    net.eval()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    data = prepare(fer_dir, out)
    carve_x, carve_y = data["images"][data["choose"]], data["labels"][data["choose"]]

    # Choices on the carve: temperature, and whether averaging with the mirrored face pays.
    logits = predict(net, carve_x)
    flipped = predict(net, carve_x[:, :, ::-1].copy())
    acc = float((logits.argmax(1) == carve_y).mean())
    acc_flip = float(((softmax(logits) + softmax(flipped)).argmax(1) == carve_y).mean())
    t = fit_temperature(logits, carve_y)
    carve = {"n": int(len(carve_y)), "accuracy": acc, "accuracy_flip_averaged": acc_flip, "temperature": t,
             "nll_t1": nll(logits, carve_y, 1.0), "nll_t": nll(logits, carve_y, t),
             "ece_t1": ece(softmax(logits), carve_y), "ece_t": ece(softmax(logits, t), carve_y)}

    # FP32 ONNX (softmax inside), then INT8 QDQ through the project's quantiser.
    fp32, int8 = out / f"{KEY}_fp32.onnx", out / f"{KEY}_int8.onnx"
    wrapped = torch.nn.Sequential(net, torch.nn.Softmax(dim=1)).eval()
    torch.onnx.export(wrapped, torch.zeros(1, 1, SIZE, SIZE), str(fp32), input_names=["input"],
                      output_names=["probabilities"], opset_version=13, dynamo=False)
    rng = np.random.default_rng(0)
    calib = to_input(carve_x[rng.choice(len(carve_x), CALIBRATION_ROWS, replace=False)])
    quantise_qdq(fp32, int8, calib, "input")

    # The test: PublicTest, read once, here.
    test_files = split_files(fer_dir, "validation")
    test_x, test_y, test_sha = load_images(test_files)
    (out / "validation_sha256.txt").write_text("".join(f"{d}  {p.relative_to(fer_dir)}\n" for d, (p, _) in zip(test_sha, test_files)))
    x = to_input(test_x)
    p32 = run_onnx(fp32, x)[0]
    p8 = run_onnx(int8, x)[0]
    torch_p = softmax(predict(net, test_x))
    macs, params = macs_and_params(net)
    report = {
        "carve": carve,
        "public_test": {
            "n": int(len(test_y)),
            "fp32_accuracy": float((p32.argmax(1) == test_y).mean()),
            "int8_accuracy": float((p8.argmax(1) == test_y).mean()),
            "int8_vs_fp32": fidelity(p32, p8),
            "onnx_fp32_vs_torch": fidelity(torch_p, p32),
            # The carve's temperature, checked on the test: shipped only where it helps there too.
            "int8_ece_t1": ece(p8, test_y),
            "int8_ece_t": ece(scaled(p8, t), test_y),
            "int8_nll_t1": prob_nll(p8, test_y),
            "int8_nll_t": prob_nll(scaled(p8, t), test_y),
        },
        "macs_per_crop": macs,
        "parameters": params,
        "time_per_crop_us_int8_1_thread": time_per_crop_us(int8, x),
        "time_per_crop_us_fp32_1_thread": time_per_crop_us(fp32, x),
        "best_epoch": int(ck["epoch"]),
        "litert": litert_note(),
    }
    helps = report["public_test"]["int8_nll_t"] < report["public_test"]["int8_nll_t1"] and \
        report["public_test"]["int8_ece_t"] < report["public_test"]["int8_ece_t1"]
    report["temperature_shipped"] = t if helps else 1.0
    entry = manifest_entry(fp32, int8, report["temperature_shipped"], report)
    (out / "export_report.json").write_text(json.dumps(report, indent=2))
    import yaml

    (out / "manifest_entry.yaml").write_text(yaml.safe_dump({KEY: entry}, sort_keys=False, width=110))
    print(json.dumps(report, indent=2))
    return report


def litert_note() -> str:
    """LiteRT needs a PyTorch -> TFLite converter (ai-edge-torch), which pins its own TensorFlow and
    does not install beside this toolchain; the device runs this model on ONNX Runtime."""
    try:
        import ai_edge_torch  # noqa: F401
    except ImportError:
        return "not converted: ai-edge-torch is not installed (it pins TensorFlow); run it on ONNX Runtime (face.backend: onnx)"
    return "ai-edge-torch present but conversion not wired; ONNX only"
