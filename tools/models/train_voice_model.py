"""Train a small speech-emotion classifier on a labelled corpus, export ONNX, quantise to INT8.

    python -m affectedge_tools.models.train_voice_model CORPUS_DIR LABELS_CSV --out DIR \\
        [--description "who recorded what, with which consent"] [--synthetic]

LABELS_CSV has a header ``file,label``; ``file`` is a WAV path relative to CORPUS_DIR, ``label``
one of affectedge's labels (neutral, happy, sad, angry, fearful, surprised, disgusted). Use
recordings you have the right to use (a clinic's own, or a licensed public corpus), a few seconds
of one speaker each, like the voice path's 3 s context.

Steps: the product's own VAD and feature front end (so training and device see the same
numbers) -> a stratified split into train / calibration / test -> StandardScaler + a one-hidden-
layer MLP (scikit-learn) -> ONNX (skl2onnx) -> INT8 with onnxruntime.quantization, calibrated on
the calibration split -> FP32 vs INT8 agreement and accuracy on the test split -> a manifest that
``perception.voice.model`` accepts, checked by loading it through the product's model slot.

What the held-out accuracy means depends entirely on the corpus: the tool measures, it does not
make a corpus representative. ``--synthetic`` marks a model trained on generated speech (the
tool's own test uses espeak-ng): the product refuses such a model unless a test explicitly allows it.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from affectedge.core.errors import AffectEdgeError
from affectedge.perception.speech_model import FRONT_ENDS, MODEL_KEY, SpeechEmotionModel, read_manifest, recording_speech_frames
from affectedge.perception.vad import load_vad
from affectedge.sources.replay_wav import read_wav, resample
from affectedge.core.types import LABELS

FRONT_END = "prosody_mel_v1"


class TrainingError(AffectEdgeError):
    """The corpus or the labels file cannot be used."""


@dataclass
class Corpus:
    files: list[Path]
    labels: list[str]
    features: np.ndarray
    skipped: list[str]


def read_labels(corpus_dir: Path, labels_csv: Path) -> list[tuple[Path, str]]:
    """(wav path, label) rows; a bad row is a TrainingError naming the CSV line."""
    rows = []
    try:
        f = labels_csv.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise TrainingError(f"{labels_csv}: cannot read ({exc})") from None
    with f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None or not {"file", "label"} <= set(reader.fieldnames):
            raise TrainingError(f"{labels_csv}:1: needs a header with columns file,label (got {reader.fieldnames})")
        for row in reader:
            line = reader.line_num
            path = corpus_dir / (row["file"] or "")
            if row["label"] not in LABELS:
                raise TrainingError(f"{labels_csv}:{line}: label {row['label']!r} is not one of {', '.join(LABELS)}")
            if not path.is_file():
                raise TrainingError(f"{labels_csv}:{line}: {path} not found")
            rows.append((path, row["label"]))
    if len(rows) < 10:
        raise TrainingError(f"{labels_csv}: {len(rows)} labelled files; at least 10 are needed to split and train")
    return rows


def extract(rows: list[tuple[Path, str]], vad_key: str) -> Corpus:
    vad = load_vad(vad_key)
    fn, n = FRONT_ENDS[FRONT_END]
    files, labels, feats, skipped = [], [], [], []
    for path, label in rows:
        x, rate = read_wav(path)
        frames, speech_s = recording_speech_frames(resample(x, rate), vad)
        if len(frames) == 0:
            skipped.append(f"{path.name}: no speech found")
            continue
        files.append(path)
        labels.append(label)
        feats.append(fn(frames, speech_s))
    return Corpus(files, labels, np.array(feats, dtype=np.float32).reshape(-1, n), skipped)


def split(labels: list[str], seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stratified 60/20/20 split into train, calibration and test indices."""
    rng = np.random.default_rng(seed)
    train, calib, test = [], [], []
    for label in sorted(set(labels)):
        idx = rng.permutation([i for i, l in enumerate(labels) if l == label])
        if len(idx) < 3:
            raise TrainingError(f"label {label!r} has {len(idx)} usable files; each label needs at least 3")
        k = len(idx)
        n_test = max(1, round(0.2 * k))
        n_calib = max(1, round(0.2 * k))
        test += list(idx[:n_test])
        calib += list(idx[n_test : n_test + n_calib])
        train += list(idx[n_test + n_calib :])
    return np.array(train), np.array(calib), np.array(test)


def export_onnx(model, n_features: int, path: Path) -> None:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    clf = model.steps[-1][1]
    onx = convert_sklearn(model, initial_types=[("features", FloatTensorType([None, n_features]))],
                          options={id(clf): {"zipmap": False}}, target_opset=17)
    path.write_bytes(onx.SerializeToString())


def quantise_int8(fp32: Path, int8: Path, calibration: np.ndarray) -> None:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._rows = iter(calibration)

        def get_next(self):
            row = next(self._rows, None)
            return None if row is None else {"features": row.reshape(1, -1)}

    # onnxruntime suggests quant_pre_process first; on skl2onnx's MLP graph it renames the softmax
    # output and quantize_static then fails, while the plain graph quantises correctly without it.
    quantize_static(str(fp32), str(int8), Reader(), quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)


def onnx_probabilities(path: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["probabilities"], {"features": x})[0]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def train(corpus_dir: Path, labels_csv: Path, out: Path, description: str, synthetic: bool, seed: int = 0,
          vad_key: str = "silero") -> dict:
    """Run the whole toolchain; returns the figures it printed."""
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rows = read_labels(corpus_dir, labels_csv)
    corpus = extract(rows, vad_key)
    for s in corpus.skipped:
        print(f"skipped {s}")
    tr, ca, te = split(corpus.labels, seed)
    y = np.array(corpus.labels)
    X = corpus.features
    model = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(32,), max_iter=2000, random_state=seed))
    model.fit(X[tr], y[tr])
    classes = [str(c) for c in model.classes_]

    out.mkdir(parents=True, exist_ok=True)
    fp32, int8 = out / "voice_model.fp32.onnx", out / "voice_model.int8.onnx"
    export_onnx(model, X.shape[1], fp32)
    quantise_int8(fp32, int8, X[ca])

    p32, p8 = onnx_probabilities(fp32, X[te]), onnx_probabilities(int8, X[te])
    figures = {
        "files": len(corpus.files), "skipped": len(corpus.skipped),
        "train": len(tr), "calibration": len(ca), "test": len(te),
        "sklearn_test_accuracy": float(np.mean(model.predict(X[te]) == y[te])),
        "fp32_test_accuracy": float(np.mean(np.array(classes)[p32.argmax(1)] == y[te])),
        "int8_test_accuracy": float(np.mean(np.array(classes)[p8.argmax(1)] == y[te])),
        "fp32_int8_agreement": float(np.mean(p32.argmax(1) == p8.argmax(1))),
        "fp32_int8_max_abs_prob_diff": float(np.max(np.abs(p32 - p8))),
        "fp32_bytes": fp32.stat().st_size, "int8_bytes": int8.stat().st_size,
    }
    manifest = {
        "models": {
            MODEL_KEY: {
                "files": {"onnx": {"file": int8.name, "sha256": sha256(int8)}},
                "inputs": [{"name": "features", "shape": [1, int(X.shape[1])], "dtype": "float32"}],
                "outputs": [{"name": "probabilities", "shape": [1, len(classes)], "dtype": "float32"}],
                "labels": classes,
                "preprocessing": FRONT_END,
                "sample_rate": 16000,
                "corpus": {"description": description, "synthetic": synthetic, "files": len(corpus.files)},
                "fp32_reference": {"file": fp32.name, "sha256": sha256(fp32)},
                "evaluation": {k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()},
            }
        }
    }
    manifest_path = out / "manifest.yaml"
    manifest_path.write_text(yaml.safe_dump(manifest, sort_keys=False), encoding="utf-8")

    # The product's slot must give what onnxruntime gave here (label order mapped onto LABELS).
    slot = SpeechEmotionModel(read_manifest(manifest_path))
    slot_probs = np.array([slot.probabilities(row) for row in X[te]])
    mapped = slot_probs[:, [LABELS.index(c) for c in classes]]
    figures["slot_max_abs_diff"] = float(np.max(np.abs(mapped - p8)))

    print(f"corpus: {figures['files']} files with speech ({figures['skipped']} skipped); "
          f"split train {figures['train']} / calibration {figures['calibration']} / test {figures['test']}")
    print(f"labels: {', '.join(classes)}; front end {FRONT_END} ({X.shape[1]} features)")
    print(f"test accuracy: FP32 {figures['fp32_test_accuracy']:.3f}, INT8 {figures['int8_test_accuracy']:.3f}")
    print(f"FP32 vs INT8: top-label agreement {figures['fp32_int8_agreement']:.3f}, "
          f"max |p32 - p8| {figures['fp32_int8_max_abs_prob_diff']:.4f}; "
          f"size {figures['fp32_bytes']} -> {figures['int8_bytes']} bytes")
    print(f"model slot check: max difference {figures['slot_max_abs_diff']:.2e}")
    if synthetic:
        print("NOTE: trained on synthetic speech. This checks the toolchain's mechanics; the model is not an "
              "emotion recogniser and the product refuses it unless perception.voice.allow_synthetic_model is set.")
    print(f"wrote {manifest_path} (set perception.voice.model to it)")
    return figures


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m affectedge_tools.models.train_voice_model", description=__doc__.split("\n\n")[0])
    p.add_argument("corpus_dir", type=Path, help="folder with the WAV files")
    p.add_argument("labels_csv", type=Path, help="CSV with columns file,label")
    p.add_argument("--out", type=Path, required=True, help="folder for the models and manifest.yaml")
    p.add_argument("--description", default="", help="what the corpus is (recorded in the manifest)")
    p.add_argument("--synthetic", action="store_true", help="the corpus is generated speech (toolchain test only)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--vad", choices=("silero", "webrtc"), default="silero")
    args = p.parse_args(argv)
    try:
        train(args.corpus_dir, args.labels_csv, args.out, args.description or str(args.corpus_dir), args.synthetic,
              args.seed, args.vad)
    except AffectEdgeError as exc:
        print(f"train_voice_model: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
