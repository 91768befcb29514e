"""The speech-emotion model slot: any ONNX or TFLite classifier described by a manifest.

No trained speech-emotion model ships with affectedge (none with usable weights and licence exists
in any package reachable here, nor a labelled corpus to train one). Without a model the voice
path estimates arousal from prosody only. A clinic that has labelled recordings it may use trains
one with ``python -m affectedge_tools.models.train_voice_model`` and points ``perception.voice.model``
at the manifest the tool writes:

.. code-block:: yaml

    models:
      speech_emotion:
        files: {onnx: {file: voice_model.int8.onnx, sha256: <hex>}}   # or tflite
        inputs: [{name: features, shape: [1, 48], dtype: float32}]
        outputs: [{name: probabilities, shape: [1, 3], dtype: float32}]
        labels: [neutral, happy, sad]          # output order; each one of affectedge's LABELS
        preprocessing: prosody_mel_v1          # the feature front end (FRONT_ENDS below)
        sample_rate: 16000
        corpus: {description: "...", synthetic: false, files: 240}

``corpus.synthetic: true`` marks a model trained on generated speech (the toolchain's own test):
the analyser still runs it, so the slot can be tested end to end, but says on every start that its
labels are not emotion recognition.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from ..core.errors import ModelError
from ..core.extras import require_module
from ..core.types import LABELS
from .prosody import N_MELS, SUMMARY_KEYS, FrameFeatures, frame_features, summarise
from .vad import VoiceActivityDetector, speech_segments

# ---------------------------------------------------------------- feature front ends


def prosody_mel_v1(frames: FrameFeatures, speech_s: float) -> np.ndarray:
    """Prosodic summary (SUMMARY_KEYS, NaN as 0) then mean and sd of each log-mel band: 8 + 2 x 20 values."""
    s = summarise(frames, speech_s)
    head = np.array([s[k] for k in SUMMARY_KEYS], dtype=np.float64)
    if len(frames):
        mel = np.concatenate([frames.mel_db.mean(axis=0), frames.mel_db.std(axis=0)])
    else:
        mel = np.zeros(2 * N_MELS)
    return np.nan_to_num(np.concatenate([head, mel]), nan=0.0).astype(np.float32)


FRONT_ENDS = {"prosody_mel_v1": (prosody_mel_v1, len(SUMMARY_KEYS) + 2 * N_MELS)}


def recording_speech_frames(x: np.ndarray, vad: VoiceActivityDetector, threshold: float = 0.5, hangover_s: float = 0.2,
                            min_segment_s: float = 0.25) -> tuple[FrameFeatures, float]:
    """The speech frames of a whole 16 kHz recording and their speech time, as the live path selects them.

    The training tool uses this so that a model sees the same features in training as on the device.
    """
    segs = list(speech_segments(x, vad, threshold, hangover_s, min_segment_s))
    frames = frame_features(x)
    mask = np.zeros(len(frames), dtype=bool)
    for seg in segs:
        mask |= (frames.t >= seg.start) & (frames.t < seg.end)
    return frames.select(mask), sum(seg.end - seg.start for seg in segs)


# ---------------------------------------------------------------- manifest


@dataclass(frozen=True)
class SpeechModelManifest:
    path: Path  # the manifest file
    file: Path
    format: str  # "onnx" | "tflite"
    sha256: str
    input_name: str
    labels: tuple[str, ...]
    front_end: str
    sample_rate: int
    corpus: str
    synthetic: bool

    @property
    def n_features(self) -> int:
        return FRONT_ENDS[self.front_end][1]


MODEL_KEY = "speech_emotion"


def read_manifest(path: Path) -> SpeechModelManifest:
    """Parse and check a speech-model manifest; every problem is a ModelError naming the file and key."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: speech-model manifest not found")
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ModelError(f"{path}: not valid YAML ({exc})") from None

    def need(node, key, where):
        if not isinstance(node, dict) or key not in node:
            raise ModelError(f"{path}: {where}{key}: missing")
        return node[key]

    entry = need(need(doc, "models", ""), MODEL_KEY, "models.")
    where = f"models.{MODEL_KEY}."
    files = need(entry, "files", where)
    if not isinstance(files, dict) or len(files) != 1 or next(iter(files)) not in ("onnx", "tflite"):
        raise ModelError(f"{path}: {where}files: needs exactly one of onnx, tflite")
    fmt, spec = next(iter(files.items()))
    file = path.parent / str(need(spec, "file", f"{where}files.{fmt}."))
    sha = str(need(spec, "sha256", f"{where}files.{fmt}.")).lower()
    labels = need(entry, "labels", where)
    if not isinstance(labels, list) or not labels:
        raise ModelError(f"{path}: {where}labels: needs a list of labels")
    for i, label in enumerate(labels):
        if label not in LABELS:
            raise ModelError(f"{path}: {where}labels[{i}]: {label!r} is not one of {', '.join(LABELS)}")
    if len(set(labels)) != len(labels):
        raise ModelError(f"{path}: {where}labels: a label appears twice")
    front_end = need(entry, "preprocessing", where)
    if front_end not in FRONT_ENDS:
        raise ModelError(f"{path}: {where}preprocessing: unknown front end {front_end!r} (known: {', '.join(FRONT_ENDS)})")
    rate = need(entry, "sample_rate", where)
    if rate != 16000:
        raise ModelError(f"{path}: {where}sample_rate: the voice path runs at 16000 Hz, the model wants {rate}")
    inputs = need(entry, "inputs", where)
    try:
        input_name = str(inputs[0]["name"])
    except (TypeError, KeyError, IndexError):
        raise ModelError(f"{path}: {where}inputs: needs [{{name: ..., shape: [1, N], dtype: float32}}]") from None
    corpus = entry.get("corpus") or {}
    return SpeechModelManifest(path, file, fmt, sha, input_name, tuple(labels), front_end, int(rate),
                               str(corpus.get("description", "not described")), bool(corpus.get("synthetic", False)))


# ---------------------------------------------------------------- the loaded model


class SpeechEmotionModel:
    """A manifest's classifier, loaded and checked; ``probabilities`` maps its output onto LABELS."""

    def __init__(self, manifest: SpeechModelManifest, threads: int = 1):
        self.manifest = manifest
        m = manifest
        if not m.file.is_file():
            raise ModelError(f"{m.file}: model file not found (named in {m.path})")
        content = m.file.read_bytes()
        digest = hashlib.sha256(content).hexdigest()
        if digest != m.sha256:
            raise ModelError(f"{m.file}: sha256 {digest} does not match {m.path}'s {m.sha256}")
        self._index = [LABELS.index(label) for label in m.labels]
        if m.format == "onnx":
            self._run = self._load_onnx(content, threads)
        else:
            self._run = self._load_tflite(content, threads)
        probe = self._run(np.zeros((1, m.n_features), np.float32))
        if probe.shape != (len(m.labels),):
            raise ModelError(f"{m.file}: gives {probe.shape[0]} outputs, {m.path} lists {len(m.labels)} labels")

    @classmethod
    def from_manifest(cls, path: Path) -> "SpeechEmotionModel":
        return cls(read_manifest(path))

    def _load_onnx(self, content: bytes, threads: int):
        ort = require_module("onnxruntime", "speech-emotion model (onnx)", "onnx")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.log_severity_level = 3
        try:
            session = ort.InferenceSession(content, sess_options=options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime has its own exception types
            raise ModelError(f"{self.manifest.file}: onnxruntime cannot load it ({exc})") from None
        outputs = session.get_outputs()
        # skl2onnx classifiers give (label, probabilities); take the float matrix output.
        out_name = next((o.name for o in outputs if "float" in o.type and len(o.shape or ()) == 2), outputs[-1].name)
        name = self.manifest.input_name
        return lambda x: np.asarray(session.run([out_name], {name: x})[0], dtype=np.float64).reshape(-1)

    def _load_tflite(self, content: bytes, threads: int):
        try:
            Interpreter = require_module("ai_edge_litert.interpreter", "speech-emotion model (tflite)", "litert").Interpreter
        except Exception:
            Interpreter = require_module("tflite_runtime.interpreter", "speech-emotion model (tflite)", "litert").Interpreter
        interp = Interpreter(model_content=content, num_threads=threads)
        interp.allocate_tensors()
        inp, out = interp.get_input_details()[0], interp.get_output_details()[0]

        def run(x: np.ndarray) -> np.ndarray:
            scale, zero = inp.get("quantization", (0.0, 0))
            if scale:  # an integer-input model: quantise as its converter declared
                x = np.clip(np.round(x / scale + zero), np.iinfo(inp["dtype"]).min, np.iinfo(inp["dtype"]).max)
            interp.set_tensor(inp["index"], x.astype(inp["dtype"]))
            interp.invoke()
            y = interp.get_tensor(out["index"]).astype(np.float64)
            o_scale, o_zero = out.get("quantization", (0.0, 0))
            return ((y - o_zero) * o_scale if o_scale else y).reshape(-1)

        return run

    def features(self, frames: FrameFeatures, speech_s: float) -> np.ndarray:
        fn, _ = FRONT_ENDS[self.manifest.front_end]
        return fn(frames, speech_s)

    def predict_raw(self, vector: np.ndarray) -> np.ndarray:
        """The model's output for one feature vector, in the manifest's label order."""
        return self._run(vector.reshape(1, -1).astype(np.float32))

    def probabilities(self, vector: np.ndarray) -> tuple[float, ...]:
        """Class probabilities over affectedge's LABELS (labels the model lacks get 0)."""
        raw = np.clip(self.predict_raw(vector), 0.0, None)
        total = raw.sum()
        raw = raw / total if total > 0 else np.full(len(raw), 1.0 / len(raw))
        out = np.zeros(len(LABELS))
        out[self._index] = raw
        return tuple(float(p) for p in out)

    def describe(self) -> str:
        m = self.manifest
        if m.synthetic:
            return (f"speech model {m.file.name}: trained on SYNTHETIC speech ({m.corpus}); a toolchain test, "
                    f"its labels ({', '.join(m.labels)}) are not emotion recognition")
        return f"speech model {m.file.name}: labels {', '.join(m.labels)}; trained on {m.corpus}"
