"""The demo session builder and loader, checked on a real build from the real archives.

The session is built once per test run into a temporary directory. Archives come from the
download cache (``$AFFECTEDGE_DOWNLOAD_CACHE``, default ``~/.cache/affectedge/downloads``); on a
cold cache the build downloads them, and without a network those tests are skipped.
"""

from __future__ import annotations

import csv
import hashlib
import io
import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

from affectedge.core.errors import SourceError
from affectedge.offline.demo_session import DemoSession, default_session_dir, file_sha256, load_session
from affectedge_tools.data import build_demo_session as builder

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[1]
CACHE = builder.default_cache_dir()
KNOWN_LICENCES = {"MIT", "GPL-2", "GPL-3.0", "CC-BY-SA-3.0", "ODbL-1.0 (contents DbCL-1.0)"}


def _build(out: Path) -> Path:
    try:
        path, _ = builder.ensure_session(out, CACHE)
    except builder.DownloadError as exc:
        pytest.skip(f"cannot download the demo-session archives: {exc}")
    return path


@pytest.fixture(scope="session")
def session_dir(tmp_path_factory) -> Path:
    return _build(tmp_path_factory.mktemp("demo") / "session")


@pytest.fixture(scope="session")
def session(session_dir) -> DemoSession:
    return load_session(session_dir)


@pytest.fixture(scope="session")
def physio(session) -> dict[str, np.ndarray]:
    """physio.csv as {kind: array of (t, value)}, after checking its shape line by line."""
    rows: dict[str, list] = {}
    with session.physiology.path.open(newline="") as f:
        reader = csv.reader(f)
        assert next(reader) == ["t", "kind", "value"]
        last_t = -1.0
        for row in reader:
            t, kind, value = row
            assert len(t.split(".")[1]) == 6, f"t not written with 6 decimals: {row}"
            assert float(t) >= last_t, f"rows not sorted by t at {row}"
            last_t = float(t)
            rows.setdefault(kind, []).append((float(t), float(value)))
    return {k: np.array(v) for k, v in rows.items()}


def _rpeaks(session) -> np.ndarray:
    with session.reference.rpeaks.open(newline="") as f:
        return np.array([(float(r["t"]), int(r["sample"])) for r in csv.DictReader(f)])


# ---------------------------------------------------------------------------- session file


def test_session_is_long_enough_and_every_file_matches_its_sha256(session):
    assert session.duration_s >= 60
    assert session.version == 2
    for rel, digest in session.files.items():
        assert file_sha256(session.root / rel) == digest, rel


def test_a_changed_file_is_named_in_the_error(session_dir, tmp_path):
    copy = shutil.copytree(session_dir, tmp_path / "s")
    with (copy / "physio.csv").open("a") as f:
        f.write("89.999000,hr,80\n")
    with pytest.raises(SourceError, match=r"session\.yaml:\d+: files\.physio\.csv: sha256 mismatch"):
        load_session(copy)


def test_a_missing_key_is_named_with_its_line(session_dir, tmp_path):
    copy = shutil.copytree(session_dir, tmp_path / "s")
    text = (copy / "session.yaml").read_text()
    (copy / "session.yaml").write_text(text.replace("  ecg_rate_hz: 1000\n", ""))
    with pytest.raises(SourceError, match=r"session\.yaml:\d+: reference\.ecg_rate_hz: missing"):
        load_session(copy)


def test_no_session_is_a_clear_error(tmp_path):
    with pytest.raises(SourceError, match="no demo session here"):
        load_session(tmp_path)


def test_default_dir_follows_xdg_cache_home(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_session_dir() == tmp_path / "affectedge" / "demo-session-v2"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
    assert default_session_dir() == Path.home() / ".cache" / "affectedge" / "demo-session-v2"


def test_a_complete_session_is_not_rebuilt(session_dir, capsys):
    before = (session_dir / "session.yaml").stat().st_mtime_ns
    assert builder.main(["--out", str(session_dir), "--cache", str(CACHE)]) == 0
    assert capsys.readouterr().out.strip() == str(session_dir)
    assert (session_dir / "session.yaml").stat().st_mtime_ns == before


# ------------------------------------------------------------------------------ physiology


def test_hr_is_what_a_strap_reports(physio):
    hr, rr = physio["hr"], physio["rr"]
    assert np.all((hr[:, 1] >= 40) & (hr[:, 1] <= 200))
    assert np.all(hr[:, 1] == np.round(hr[:, 1])), "HR is an integer bpm"
    assert np.allclose(np.diff(hr[:, 0]), 1.0), "one notification per second"
    for t, bpm in hr:
        recent = rr[rr[:, 0] <= t][-builder.HR_BEATS:, 1]
        # 0.5 for the integer rounding, a little more because these RR are rounded to 1/1024 s
        assert abs(bpm - 60 / recent.mean()) <= 0.6


def test_rr_follows_the_reference_r_peaks(session, physio):
    peaks = _rpeaks(session)
    rr = physio["rr"]
    assert len(rr) == len(peaks) - 1
    assert np.allclose(rr[:, 0], peaks[1:, 0]), "each RR is stamped at the beat that ends it"
    exact = np.diff(peaks[:, 1]) / session.reference.ecg_rate_hz
    assert np.all(np.abs(rr[:, 1] - exact) <= 0.5 / 1024 + 1e-9)
    assert np.all(np.round(rr[:, 1] * 1024) == rr[:, 1] * 1024), "RR in 1/1024 s units"


def test_reference_r_peaks_agree_with_neurokit_on_the_reference_ecg(session):
    nk = pytest.importorskip("neurokit2", reason="NeuroKit2 is the physiology reference (test and tools extras)")
    ecg = np.load(session.reference.ecg)
    rate = int(session.reference.ecg_rate_hz)
    assert len(ecg) == int(session.duration_s * rate)
    _, info = nk.ecg_peaks(nk.ecg_clean(ecg, sampling_rate=rate), sampling_rate=rate)
    theirs = np.asarray(info["ECG_R_Peaks"])
    ours = _rpeaks(session)[:, 1]
    nearest = np.abs(ours[:, None] - theirs[None, :]).min(axis=1)
    assert np.mean(nearest <= 5) >= 0.95  # within 5 ms; edges may differ by a beat


def test_eda_is_a_4_hz_wristband_stream_of_the_reference(session, physio):
    eda = physio["eda"]
    assert np.allclose(np.diff(eda[:, 0]), 0.25)
    assert len(eda) == int(session.duration_s * 4)
    raw = np.load(session.reference.eda)
    at = raw[np.round(eda[:, 0] * session.reference.ecg_rate_hz).astype(int)]
    assert np.max(np.abs(eda[:, 1] - at)) < 0.05  # µS; the signal moves slowly next to 4 Hz
    assert 0.5 < eda[:, 1].min() and eda[:, 1].max() < 50, "plausible skin conductance in µS"


def test_stimulus_onsets_lie_in_the_session(session):
    with session.reference.stimuli.open(newline="") as f:
        onsets = [float(r["t"]) for r in csv.DictReader(f)]
    assert onsets and all(0 <= t < session.duration_s for t in onsets)


# ---------------------------------------------------------------------------- audio, video


def test_audio_is_16k_mono_pcm16_and_starts_with_the_pyannote_sample(session):
    with wave.open(str(session.microphone.path)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (16000, 1, 2)
        audio = np.frombuffer(w.readframes(w.getnframes()), "<i2")
    assert 30 <= len(audio) / 16000 <= session.duration_s
    wheel = builder.fetch_pypi(builder.PYANNOTE, CACHE)
    sample = builder.read_member(wheel, builder.PYANNOTE_SAMPLE + "sample.wav")
    with wave.open(io.BytesIO(sample)) as w:
        original = np.frombuffer(w.readframes(w.getnframes()), "<i2")
    assert np.array_equal(audio[: len(original)], original), "16 kHz source copied sample for sample"


def test_audio_segments_tile_the_wav(session_dir, session):
    import yaml

    segments = yaml.safe_load((session_dir / "session.yaml").read_text())["microphone"]["segments"]
    with wave.open(str(session.microphone.path)) as w:
        length = w.getnframes() / w.getframerate()
    assert segments[0]["start_s"] == 0.0
    for a, b in zip(segments, segments[1:]):
        assert a["end_s"] == b["start_s"]
    assert segments[-1]["end_s"] == pytest.approx(length, abs=1e-6)


def test_speaker_turns_sit_inside_the_pyannote_segment(session):
    for line in session.reference.speaker_turns.read_text().splitlines():
        fields = line.split()
        onset, dur = float(fields[3]), float(fields[4])
        assert 0 <= onset and onset + dur <= 30.0 + 1e-6


def test_video_clips_decode_back_to_back_inside_the_session(session):
    cv2 = pytest.importorskip("cv2", reason="OpenCV decodes the real clips and photographs (camera extra)")
    end = 0.0
    for clip in session.camera_clips:
        cap = cv2.VideoCapture(str(clip.path))
        assert cap.isOpened(), clip.path
        fps = cap.get(cv2.CAP_PROP_FPS)
        ok, frame = cap.read()
        assert ok and frame.ndim == 3, f"{clip.path} does not decode"
        frames = 1
        while cap.grab():
            frames += 1
        cap.release()
        assert clip.start_s == pytest.approx(end, abs=1e-5), "clips follow each other without gap"
        end = clip.start_s + frames / fps
    assert end <= session.duration_s


# ------------------------------------------------------------------------- licences, repo


def test_every_source_is_attributed_with_its_licence(session):
    assert session.sources
    for src in session.sources:
        for key in ("package", "version", "licence", "path_in_package", "used_as", "transform"):
            assert src.get(key), f"source {src.get('path_in_package')} lacks {key}"
        assert src["licence"] in KNOWN_LICENCES
    used = {Path(s["path_in_package"]).name for s in session.sources}
    for clip in session.camera_clips:
        assert clip.path.name in used


# Folders of recordings whose licence allows committing them; each README names the licence and
# lists every file with its sha256.
COMMITTED_RECORDINGS = {"tools/data/donateacry/": "Open Database License"}


def test_no_recorded_data_is_tracked_in_the_repository_outside_the_licensed_folders():
    listed = subprocess.run(["git", "ls-files"], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    data = [p for p in listed.stdout.splitlines()
            if p.endswith((".npy", ".wav", ".mp4", ".mov", ".rttm", ".deb", ".whl", ".tar.gz"))]
    assert [p for p in data if not p.startswith(tuple(COMMITTED_RECORDINGS))] == []
    for folder, licence in COMMITTED_RECORDINGS.items():
        readme = (REPO_ROOT / folder / "README.md").read_text(encoding="utf-8")
        assert licence in readme
        inside = [p for p in data if p.startswith(folder)]
        assert inside
        for p in inside:
            digest = hashlib.sha256((REPO_ROOT / p).read_bytes()).hexdigest()
            assert f"`{Path(p).name}`" in readme and digest in readme, p


def test_the_builder_refuses_to_write_inside_the_repository():
    target = REPO_ROOT / "demo-session-test"
    with pytest.raises(builder.DemoSessionBuildError, match="inside the repository"):
        builder.ensure_session(target, CACHE)
    assert not target.exists()


def test_without_apt_the_audio_is_the_pyannote_sample_and_the_committed_cries(tmp_path, monkeypatch):
    # apt is the one optional source; its absence must give a shorter WAV, not invented audio.
    monkeypatch.setattr(builder, "fetch_deb", lambda package, cache: None)
    session = load_session(_build(tmp_path / "no-apt"))
    cries = sum(round(wave.open(str(builder.DONATEACRY_DIR / name)).getnframes() * 2) for name in builder.DEMO_CRIES)
    with wave.open(str(session.microphone.path)) as w:
        assert w.getnframes() == 30 * 16000 + cries  # the 8 kHz cries resampled to 16 kHz
    assert {s["registry"] for s in session.sources} == {"pypi", "repository"}
