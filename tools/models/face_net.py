"""The face model's net and its data: FER2013's image folders, the carve of train/, the VGG-style net.

Shared by the trainer (``train_face_model``) and the exporter (``face_model_export``), which import
this module and never each other's internals. ``test/`` (PrivateTest, held out) is refused here, where every
image is read.
"""
from __future__ import annotations

import hashlib
import platform
from pathlib import Path

import numpy as np

# FER2013's folder names, in the label order of every expression model in models/manifest.yaml.
CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
SIZE = 48
HELD_OUT = "test"  # PrivateTest: held out, never read (issue 25)
SEED = 20261206
CARVE_FRACTION = 0.10


class FerLayoutError(ValueError):
    """The folder is not a FER2013 image-folder layout; the message names what is missing."""


def split_files(fer_dir: Path, split: str) -> list[tuple[Path, int]]:
    """(file, class index) for one split, sorted by path so that runs are reproducible."""
    if split == HELD_OUT:
        raise FerLayoutError(f"{fer_dir / split}: PrivateTest is held out and never read")
    root = fer_dir / split
    if not root.is_dir():
        raise FerLayoutError(f"{root}: no such folder (expected {split}/ with the seven class folders)")
    files = []
    for index, name in enumerate(CLASSES):
        folder = root / name
        if not folder.is_dir():
            raise FerLayoutError(f"{folder}: missing class folder")
        files += [(p, index) for p in sorted(folder.glob("*.jpg"))]
    if not files:
        raise FerLayoutError(f"{root}: no .jpg images")
    return files


def load_images(files: list[tuple[Path, int]]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Decode to uint8 (N, 48, 48) with labels and each file's sha256 (recorded beside the model)."""
    from PIL import Image

    images = np.empty((len(files), SIZE, SIZE), np.uint8)
    labels = np.empty(len(files), np.int64)
    digests = []
    for i, (path, label) in enumerate(files):
        data = path.read_bytes()
        digests.append(hashlib.sha256(data).hexdigest())
        with Image.open(path) as im:
            grey = im.convert("L")
            if grey.size != (SIZE, SIZE):
                grey = grey.resize((SIZE, SIZE), Image.BILINEAR)
            images[i] = np.asarray(grey)
        labels[i] = label
    return images, labels, digests


def carve(labels: np.ndarray, fraction: float = CARVE_FRACTION, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """Indices of (fit, choose): a stratified, seeded carve of train/ for every choice."""
    rng = np.random.default_rng(seed)
    fit, choose = [], []
    for c in range(len(CLASSES)):
        idx = np.flatnonzero(labels == c)
        rng.shuffle(idx)
        n = int(round(len(idx) * fraction))
        choose.append(idx[:n])
        fit.append(idx[n:])
    return np.sort(np.concatenate(fit)), np.sort(np.concatenate(choose))


def build_net(width: int = 32, dropout: float = 0.4):
    """A VGG-style net for 48x48 grey: four stages of two 3x3 convs (BN, ReLU), max-pooling
    between them, global average pooling and one linear layer. Sized for the Pi (about 1.2 M
    parameters and 118 M multiply-adds at width 32): plain 3x3 convolutions quantise well to INT8
    and run fast on ARM's and x86's INT8 kernels, where depthwise layers lose accuracy."""
    import torch.nn as nn

    layers: list = []
    cin = 1
    for stage in range(4):
        cout = width * 2**stage
        for _ in range(2):
            layers += [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
            cin = cout
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(cin, len(CLASSES)))


def normalise(x_uint8):
    """uint8 grey -> float in [-1, 1], as the manifest section says (x / 127.5 - 1)."""
    return x_uint8.float().div(127.5).sub(1.0)


def augment(x, generator):
    """Random affine (rotation +-15 deg, scale 0.85-1.15, shift +-10 %), horizontal flip and a
    brightness/contrast jitter, on a whole batch at once (cheap on 2 cores)."""
    import math

    import torch
    import torch.nn.functional as F

    n = x.shape[0]
    u = lambda lo, hi: torch.rand(n, generator=generator) * (hi - lo) + lo  # noqa: E731
    angle = u(-15, 15) * math.pi / 180
    scale = u(0.85, 1.15)
    flip = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [torch.stack([cos * flip, -sin, u(-0.1, 0.1)], 1), torch.stack([sin * flip, cos, u(-0.1, 0.1)], 1)], 1
    )
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, padding_mode="border", align_corners=False)
    contrast = u(0.7, 1.3).view(n, 1, 1, 1)
    brightness = u(-0.2, 0.2).view(n, 1, 1, 1)
    return (out * contrast + brightness).clamp(-1.0, 1.0)


def versions() -> dict:
    import torch

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "machine": platform.machine(),
        "threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def predict(net, images: np.ndarray, device="cpu", batch: int = 512) -> np.ndarray:
    """Softmax-free logits for uint8 (N, 48, 48) images, in evaluation mode."""
    import torch

    net.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(images), batch):
            x = normalise(torch.from_numpy(images[i : i + batch])).unsqueeze(1).to(device)
            out.append(net(x).float().cpu().numpy())
    return np.concatenate(out)


def prepare(fer_dir: Path, out: Path) -> dict:
    """Decode train/ once into out/train.npz (images, labels, file names, sha256), then carve."""
    cache = out / "train.npz"
    if not cache.exists():
        files = split_files(fer_dir, "train")
        images, labels, digests = load_images(files)
        names = np.array([str(p.relative_to(fer_dir)) for p, _ in files])
        np.savez(cache, images=images, labels=labels, names=names, sha256=np.array(digests))
        (out / "train_sha256.txt").write_text("".join(f"{d}  {n}\n" for d, n in zip(digests, names)))
    data = dict(np.load(cache))
    fit, choose = carve(data["labels"])
    return {"images": data["images"], "labels": data["labels"], "fit": fit, "choose": choose}
