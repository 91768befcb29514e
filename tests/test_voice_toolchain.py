"""The speech-model toolchain end to end: train, export ONNX, quantise INT8, load through the product's slot.

The corpus is generated with espeak-ng at three prosody settings (pitch, speed, amplitude). It tests
the toolchain's MECHANICS only: a classifier that separates synthetic voices by prosody says nothing
about recognising emotion in a child's voice, and the product refuses such a model unless a test
explicitly allows it.
"""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from affectedge.core.errors import ModelError
from affectedge.perception.speech_model import read_manifest
from affectedge.perception.voice import VoiceAnalyser, VoiceConfig
from affectedge.sources.replay_wav import read_wav, resample
from affectedge.core.types import LABELS, AudioChunk
from affectedge_tools.models.train_voice_model import TrainingError, read_labels, train

pytest.importorskip("sklearn", reason="the toolchain needs the tools extra (scikit-learn, skl2onnx)")
pytest.importorskip("skl2onnx", reason="the toolchain needs the tools extra (scikit-learn, skl2onnx)")

SENTENCES = (
    "the cat sat on the mat", "we are going to the park today", "please pass me the red ball",
    "it is time for lunch now", "where did you put my shoes", "look at the big blue truck",
    "can we read another story", "the water is very cold", "I want to play outside",
    "my brother has a new bike", "the dog is barking again", "let us build a tall tower",
)
# espeak-ng pitch (0-99), words per minute, amplitude: three synthetic speaking styles.
STYLES = {"neutral": (50, 165, 100), "sad": (25, 120, 60), "surprised": (85, 210, 180)}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (tools/setup/install_system_deps.sh installs it)")
    folder = tmp_path_factory.mktemp("corpus")
    rows = ["file,label"]
    for label, (pitch, speed, amp) in STYLES.items():
        for i, text in enumerate(SENTENCES):
            name = f"{label}-{i}.wav"
            subprocess.run(["espeak-ng", "-w", str(folder / name), "-p", str(pitch), "-s", str(speed), "-a", str(amp), text],
                           check=True)
            rows.append(f"{name},{label}")
    (folder / "labels.csv").write_text("\n".join(rows) + "\n")
    return folder


@pytest.fixture(scope="module")
def trained(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("model")
    figures = train(corpus, corpus / "labels.csv", out, "espeak-ng synthetic test corpus", synthetic=True)
    return out / "manifest.yaml", figures


def test_toolchain_trains_exports_quantises_and_agrees(trained):
    manifest_path, f = trained
    assert f["files"] == 36 and f["skipped"] == 0
    assert (f["train"], f["calibration"], f["test"]) == (24, 6, 6)
    assert f["fp32_int8_agreement"] >= 0.8, "INT8 keeps FP32's top label"
    assert f["fp32_int8_max_abs_prob_diff"] < 0.1
    assert f["slot_max_abs_diff"] < 0.01, "the product's slot gives what onnxruntime gives"
    m = read_manifest(manifest_path)
    assert m.synthetic and m.format == "onnx" and set(m.labels) == set(STYLES)
    assert m.file.name.endswith("int8.onnx")
    import onnx

    ops = {n.op_type for n in onnx.load(str(m.file)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops, "the shipped file is the quantised one"


def test_product_refuses_a_synthetic_model_by_default(trained):
    with pytest.raises(ModelError, match="synthetic speech.*not an emotion recogniser"):
        VoiceAnalyser(VoiceConfig(model=trained[0]))


def test_model_in_the_slot_gives_label_probabilities_on_speech(trained, corpus):
    analyser = VoiceAnalyser(VoiceConfig(model=trained[0], allow_synthetic_model=True))
    assert "SYNTHETIC" in analyser.describe() and "not emotion recognition" in analyser.describe()
    x, rate = read_wav(corpus / "surprised-3.wav")
    x = np.concatenate([np.zeros(8000, np.float32), resample(x, rate), np.zeros(8000, np.float32)])
    estimates = []
    for i in range(0, len(x) - 511, 512):
        analyser.push(AudioChunk(i / 16000, x[i : i + 512], 16000))
        end = (i + 512) / 16000
        if end >= 0.2 * (len(estimates) + 1):
            estimates.append(analyser.estimate(end - 0.2, end))
    got = [e for e in estimates if e is not None]
    assert got, "speech windows get estimates"
    for e in got:
        p = dict(zip(LABELS, e.probabilities))
        assert abs(sum(p.values()) - 1) < 1e-6
        assert all(p[label] == 0 for label in LABELS if label not in STYLES), "labels the model lacks stay 0"
        assert e.arousal is not None and e.valence is None


def test_labels_file_errors_name_the_line(corpus, tmp_path):
    bad = tmp_path / "labels.csv"
    bad.write_text("file,label\nneutral-0.wav,neutral\nneutral-1.wav,bored\n")
    with pytest.raises(TrainingError, match=r"labels.csv:3: label 'bored' is not one of neutral"):
        read_labels(corpus, bad)
