"""The model manifest (models/manifest.yaml): where each vendored model came from and what it expects.

The loader checks a model file against its entry before any backend sees it: present, sha256
equal, and (after loading) input/output shapes equal. Any mismatch is a ModelError naming the file.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Optional

import yaml

from ..core.errors import ModelError

def _models_dir() -> Path:
    # Installed editable, affectedge.models maps to models/; installed as a wheel it is a package.
    from affectedge import models

    return Path(models.__file__).resolve().parent


@dataclass(frozen=True)
class TensorSpec:
    name: str
    shape: tuple[int, ...]
    dtype: str


@dataclass(frozen=True)
class ModelSpec:
    """One model in one file format (a manifest entry lists a model's formats under ``files``)."""

    key: str
    file: Path
    format: str  # "tflite" | "onnx"
    sha256: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    labels: tuple[str, ...] = ()
    preprocessing: str = ""
    # A model's task-specific description, read by the stage that runs it (e.g. the face path's
    # ``expression`` section: input size, colour, normalisation, crop, classes, valence/arousal).
    sections: dict = field(default_factory=dict, compare=False, hash=False)
    manifest: Optional[Path] = None

    def verify_file(self) -> bytes:
        """The file's bytes after checking existence and sha256 (ModelError naming the file otherwise)."""
        if not self.file.is_file():
            raise ModelError(f"{self.file}: model file not found (manifest entry {self.key!r})")
        data = self.file.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if digest != self.sha256:
            raise ModelError(
                f"{self.file}: sha256 {digest} does not match the manifest's {self.sha256} "
                f"(entry {self.key!r}); the file is corrupt or was replaced"
            )
        return data

    def check_shapes(self, inputs: list[tuple[int, ...]], outputs: list[tuple[int, ...]]) -> None:
        """Compare the shapes a backend reports with the manifest's."""
        want_in = [t.shape for t in self.inputs]
        want_out = [t.shape for t in self.outputs]
        inputs = [tuple(int(d) for d in s) for s in inputs]
        outputs = [tuple(int(d) for d in s) for s in outputs]
        if inputs != want_in:
            raise ModelError(f"{self.file}: input shapes {inputs} do not match the manifest's {want_in} (entry {self.key!r})")
        if outputs != want_out:
            raise ModelError(f"{self.file}: output shapes {outputs} do not match the manifest's {want_out} (entry {self.key!r})")


def _tensors(entry: dict, key: str, where: str) -> tuple[TensorSpec, ...]:
    out = []
    for t in entry.get(key) or []:
        out.append(TensorSpec(str(t["name"]), tuple(int(d) for d in t["shape"]), str(t.get("dtype", "float32"))))
    if not out:
        raise ModelError(f"{where}: entry has no {key}")
    return tuple(out)


Manifest = dict[str, dict[str, ModelSpec]]  # model key -> format -> spec


def parse_manifest(path: Path) -> Manifest:
    """Every model of a manifest file, per format, with file paths resolved next to the manifest."""
    if not path.is_file():
        raise ModelError(f"{path}: model manifest not found")
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        manifest: Manifest = {}
        for key, entry in doc["models"].items():
            where = f"{path}: models.{key}"
            inputs, outputs = _tensors(entry, "inputs", where), _tensors(entry, "outputs", where)
            manifest[key] = {
                fmt: ModelSpec(
                    key=key,
                    file=path.parent / f["file"],
                    format=fmt,
                    sha256=str(f["sha256"]).lower(),
                    inputs=inputs,
                    outputs=outputs,
                    labels=tuple(entry.get("labels") or ()),
                    preprocessing=str(entry.get("preprocessing", "")),
                    sections={k: v for k, v in entry.items() if k in ("expression", "class_map")},
                    manifest=path,
                )
                for fmt, f in entry["files"].items()
            }
    except (yaml.YAMLError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ModelError(f"{path}: malformed model manifest ({exc!r})") from None
    return manifest


def bundled_manifest_path() -> Path:
    return _models_dir() / "manifest.yaml"


@lru_cache(maxsize=4)
def _cached(path: Path, mtime_ns: int, size: int) -> Manifest:
    # Keyed by the file's modification time and size too: a manifest edited while the service runs
    # (then reloaded with SIGHUP) is read again, never served stale.
    return parse_manifest(path)


def model_spec(key: str, fmt: str, manifest_path: Optional[Path] = None) -> ModelSpec:
    """The spec of model ``key`` in file format ``fmt`` from a manifest (the bundled one by default)."""
    path = Path(manifest_path) if manifest_path is not None else bundled_manifest_path()
    resolved = path.resolve()
    try:
        st = resolved.stat()
    except OSError:
        raise ModelError(f"{path}: model manifest not found") from None
    manifest = _cached(resolved, st.st_mtime_ns, st.st_size)
    if key not in manifest:
        raise ModelError(f"{path}: no model {key!r} (models: {', '.join(sorted(manifest))})")
    formats = manifest[key]
    if fmt not in formats:
        raise ModelError(
            f"{path}: model {key!r} has no {fmt} file (formats: {', '.join(sorted(formats))}); "
            f"produce one with tools/models/convert_models.py or pick another inference backend"
        )
    return formats[fmt]
