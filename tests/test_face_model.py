"""affectedge's own expression model (issue 25) through the model slot, on real faces.

The shipped INT8 file is loaded the way the device loads it (manifest, sha256, shapes, the
expression section: 48x48 grey, NCHW, [-1, 1]), and its probabilities are checked against the FP32
export it was quantised from, on face crops the face path cuts from the demo session's real video.
"""

from __future__ import annotations


import numpy as np
import onnxruntime as ort  # the model ships as ONNX: required, never skipped
import pytest

from affectedge.inference.manifest import bundled_manifest_path
from affectedge.perception.face import FaceConfig, load_face_path

KEY = "affectedge_fer_vgg"


@pytest.fixture(scope="module")
def crops(demo_session) -> list[np.ndarray]:
    """48x48 grey crops of every 3rd frame of the demo's face clips, as the face path cuts them."""
    import cv2

    path = load_face_path(FaceConfig(expression_model=KEY, expression_backend="onnx"))
    out = []
    for clip in ("WolfgangLanger_Pexels.mp4", "single_face.mp4", "face_noface.mov"):
        cap = cv2.VideoCapture(str(demo_session.root / "video" / clip))
        i = 0
        while cap.grab():
            i += 1
            if i % 3:
                continue
            ok, frame = cap.retrieve()
            sighting = path.sight(frame) if ok else None
            if sighting is not None:
                out.append(sighting.pixels)
        cap.release()
    return out


def test_the_shipped_model_plugs_into_the_slot_and_matches_its_fp32_export_on_real_faces(crops):
    import yaml

    path = load_face_path(FaceConfig(expression_model=KEY, expression_backend="onnx"))
    assert path.spec.size == 48 and path.spec.colour == "grey" and path.spec.layout == "nchw"
    assert len(crops) >= 100 and crops[0].shape == (48, 48)
    entry = yaml.safe_load(bundled_manifest_path().read_text())["models"][KEY]
    fp32 = ort.InferenceSession(str(bundled_manifest_path().parent / entry["reference"]["file"]), providers=["CPUExecutionProvider"])
    int8, ref = [], []
    for crop in crops:
        int8.append(path.classify(crop)[0])
        x = (crop.astype(np.float32) / 127.5 - 1.0)[None, None]
        p = fp32.run(None, {"input": x})[0][0]
        ref.append(path.spec.read(p[None])[0])  # the same class order as the slot's output
    int8, ref = np.array(int8), np.array(ref)
    assert np.mean(int8.argmax(1) == ref.argmax(1)) >= 0.95
    assert np.abs(int8 - ref).mean() < 0.02
    assert np.allclose(int8.sum(1), 1.0, atol=1e-3)


def test_the_fp32_reference_is_the_file_the_manifest_names():
    import hashlib

    import yaml

    entry = yaml.safe_load(bundled_manifest_path().read_text())["models"][KEY]
    ref = bundled_manifest_path().parent / entry["reference"]["file"]
    assert hashlib.sha256(ref.read_bytes()).hexdigest() == entry["reference"]["sha256"]
