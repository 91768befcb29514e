"""The demo session: recorded camera, microphone and physiology files placed on one timeline.

``affectedge_tools.data.build_demo_session`` assembles it at set-up time, outside the repository (some
of its recordings are GPL-licensed data that must not be committed). This module only reads and
checks it: ``load_session(dir)`` validates ``session.yaml`` and the sha256 of every listed file.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.config_yaml import LocatedYaml, load_located_yaml
from ..core.errors import SourceError

SESSION_FORMAT_VERSION = 2
SESSION_FILE = "session.yaml"


@dataclass(frozen=True)
class TimedFile:
    """A recording and where its first sample sits on the session timeline."""

    path: Path
    start_s: float


@dataclass(frozen=True)
class SessionReference:
    """Ground truth shipped with the session, for checking our features against NeuroKit2 etc."""

    speaker_turns: Path  # RTTM, already shifted to the session timeline
    rpeaks: Path  # CSV t,sample (sample indexes ecg)
    ecg: Path  # float64 .npy, the raw ECG span the physiology was derived from
    eda: Path  # float64 .npy, the raw EDA span at the same rate
    ecg_rate_hz: float
    stimuli: Path | None = None  # CSV t,code: stimulus onsets from the source experiment


@dataclass(frozen=True)
class DemoSession:
    """A validated demo session; every path is absolute and its sha256 matched the manifest."""

    root: Path
    name: str
    version: int
    duration_s: float
    camera_clips: tuple[TimedFile, ...]
    microphone: TimedFile
    physiology: TimedFile
    reference: SessionReference
    sources: tuple[dict[str, Any], ...]
    files: dict[str, str] = field(repr=False)


def default_session_dir() -> Path:
    """Where the builder puts the session: ``${XDG_CACHE_HOME:-~/.cache}/affectedge/demo-session-v2``."""
    # The XDG spec says a relative (or empty) XDG_CACHE_HOME is to be ignored.
    base = os.environ.get("XDG_CACHE_HOME", "")
    cache = Path(base) if base and Path(base).is_absolute() else Path.home() / ".cache"
    return cache / "affectedge" / f"demo-session-v{SESSION_FORMAT_VERSION}"


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class _Reader:
    """Typed look-ups in session.yaml whose errors name the file, line and key path."""

    def __init__(self, doc: LocatedYaml):
        self.doc = doc

    def fail(self, keys: tuple, message: str) -> SourceError:
        path = ".".join(f"[{k}]" if isinstance(k, int) else str(k) for k in keys).replace(".[", "[")
        return SourceError(f"{self.doc.path}:{self.doc.line_of(keys)}: {path or '(top level)'}: {message}")

    def get(self, keys: tuple, kind: type | tuple[type, ...]) -> Any:
        node: Any = self.doc.data
        for i, key in enumerate(keys):
            missing = not (isinstance(node, dict) and key in node) and not (
                isinstance(node, list) and isinstance(key, int) and key < len(node)
            )
            if missing:
                raise self.fail(keys[: i + 1], "missing")
            node = node[key]
        # bool is an int to Python, but `version: true` is a mistake, not a version.
        if not isinstance(node, kind) or isinstance(node, bool):
            want = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise self.fail(keys, f"expected {want}, got {type(node).__name__} {node!r}")
        return node

    def timed_file(self, keys: tuple) -> tuple[str, float]:
        return self.get(keys + ("file",), str), float(self.get(keys + ("start_s",), (int, float)))


def _open_manifest(path: Path, missing: str) -> "_Reader":
    """Parse a session manifest and check its format version; SourceError naming file and line."""
    if not path.is_file():
        raise SourceError(f"{path}: {missing}")
    try:
        doc = load_located_yaml(path)
    except ValueError as exc:
        raise SourceError(str(exc)) from None
    r = _Reader(doc)
    if not isinstance(doc.data, dict):
        raise r.fail((), "expected a mapping")
    version = r.get(("version",), int)
    if version != SESSION_FORMAT_VERSION:
        raise r.fail(("version",), f"this affectedge reads version {SESSION_FORMAT_VERSION}, not {version}")
    return r


def load_session(directory: Path | str, verify: bool = True) -> DemoSession:
    """Read and check ``DIR/session.yaml``.

    Raises SourceError (``FILE:LINE: key.path: message``) when the file is missing, a key is
    missing or has the wrong type, a referenced file is not in the ``files`` manifest, or (with
    ``verify``) a listed file is missing or its sha256 does not match.
    """
    root = Path(directory).expanduser().resolve()
    r = _open_manifest(root / SESSION_FILE, "no demo session here (build it with: python -m affectedge_tools.data.build_demo_session)")

    files = r.get(("files",), dict)
    _check_manifest(r, root, files, verify)

    def listed(rel: str, keys: tuple) -> Path:
        # Every file the session points at must be covered by the manifest, so verify means verified.
        if rel not in files:
            raise r.fail(keys, f"{rel!r} is not listed under files:")
        return root / rel

    clips = []
    for i in range(len(r.get(("camera", "clips"), list))):
        rel, start = r.timed_file(("camera", "clips", i))
        clips.append(TimedFile(listed(rel, ("camera", "clips", i, "file")), start))
    mic_rel, mic_start = r.timed_file(("microphone",))
    phys_rel, phys_start = r.timed_file(("physiology",))
    ref = ("reference",)
    stimuli = r.get(ref, dict).get("stimuli")
    return DemoSession(
        root=root,
        name=r.get(("name",), str),
        version=SESSION_FORMAT_VERSION,
        duration_s=float(r.get(("duration_s",), (int, float))),
        camera_clips=tuple(clips),
        microphone=TimedFile(listed(mic_rel, ("microphone", "file")), mic_start),
        physiology=TimedFile(listed(phys_rel, ("physiology", "file")), phys_start),
        reference=SessionReference(
            speaker_turns=listed(r.get(ref + ("speaker_turns",), str), ref + ("speaker_turns",)),
            rpeaks=listed(r.get(ref + ("rpeaks",), str), ref + ("rpeaks",)),
            ecg=listed(r.get(ref + ("ecg",), str), ref + ("ecg",)),
            eda=listed(r.get(ref + ("eda",), str), ref + ("eda",)),
            ecg_rate_hz=float(r.get(ref + ("ecg_rate_hz",), (int, float))),
            stimuli=listed(r.get(ref + ("stimuli",), str), ref + ("stimuli",)) if stimuli is not None else None,
        ),
        sources=tuple(r.get(("sources",), list)),
        files=dict(files),
    )


def _check_manifest(r: _Reader, root: Path, files: dict, verify: bool) -> None:
    for rel, digest in files.items():
        keys = ("files", rel)
        if not isinstance(digest, str) or len(digest) != 64:
            raise r.fail(keys, f"expected a sha256 hex digest, got {digest!r}")
        path = (root / rel).resolve()
        if root not in path.parents:
            raise r.fail(keys, "path leaves the session directory")
        if not path.is_file():
            raise r.fail(keys, f"file {path} is missing")
        if verify and file_sha256(path) != digest:
            raise r.fail(keys, f"sha256 mismatch for {path} (rebuild with --force)")


# ---------------------------------------------------------------- the optional resting span

REST_FILE = "rest/rest.yaml"


@dataclass(frozen=True)
class RestRecording:
    """A resting physiology recording of the demo session's person (built with ``--rest``)."""

    root: Path
    duration_s: float
    physiology: TimedFile
    source_span_s: tuple[float, float]
    rpeaks: Path
    ecg: Path
    eda: Path
    ecg_rate_hz: float


def load_rest_recording(session_dir: Path | str, verify: bool = True) -> RestRecording:
    """Read and check ``SESSION/rest/rest.yaml``; SourceError naming file, line and key otherwise."""
    path = Path(session_dir).expanduser().resolve() / REST_FILE
    r = _open_manifest(path, "no resting span here (build it with: python -m affectedge_tools.data.build_demo_session --rest)")
    root = path.parent
    files = r.get(("files",), dict)
    _check_manifest(r, root, files, verify)

    def listed(keys: tuple) -> Path:
        rel = r.get(keys, str)
        if rel not in files:
            raise r.fail(keys, f"{rel!r} is not listed under files:")
        return root / rel

    phys_rel, phys_start = r.timed_file(("physiology",))
    span = r.get(("physiology", "source_span_s"), list)
    ref = ("reference",)
    return RestRecording(
        root=root,
        duration_s=float(r.get(("duration_s",), (int, float))),
        physiology=TimedFile(listed(("physiology", "file")), phys_start),
        source_span_s=(float(span[0]), float(span[1])),
        rpeaks=listed(ref + ("rpeaks",)),
        ecg=listed(ref + ("ecg",)),
        eda=listed(ref + ("eda",)),
        ecg_rate_hz=float(r.get(ref + ("ecg_rate_hz",), (int, float))),
    )
