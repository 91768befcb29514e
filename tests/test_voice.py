"""The voice path on real recorded speech: pyannote.audio's sample.wav (two speakers, 30 s) and its
reference speaker turns (sample.rttm), taken from the pinned wheel the demo-session builder uses.

Reference figures measured here (docs/voice.md): frame-level VAD accuracy against the speaker
turns 0.982 (Silero) and 0.988 (WebRTC); pitch against librosa's pYIN: voicing agreement 0.91,
median 10 cents on frames both call voiced.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import types
from pathlib import Path

import numpy as np
import pytest

from affectedge.config.app import AppConfig
from affectedge.core.errors import BackendUnavailableError, ConfigError, SourceError
from affectedge.perception.prosody import FRAME, HOP, frame_features
from affectedge.perception.vad import load_vad, speech_segments
from affectedge.perception.voice import VoiceAnalyser, VoiceConfig
from affectedge.service.assembly import build_pipeline
from affectedge.sources.replay_wav import read_wav
from affectedge.sources.sounddevice_mic import SoundDeviceConfig, SoundDeviceSource
from affectedge.core.types import AudioChunk, Event
from affectedge_tools.data import build_demo_session as builder

SAMPLE = "pyannote/audio/sample/"


@pytest.fixture(scope="module")
def sample_files(tmp_path_factory) -> tuple[Path, Path]:
    """sample.wav and sample.rttm from the pinned pyannote.audio wheel (downloaded once into the cache)."""
    try:
        wheel = builder.fetch_pypi(builder.PYANNOTE, builder.default_cache_dir())
    except builder.DownloadError as exc:
        pytest.skip(f"cannot download pyannote.audio's sample: {exc}")
    folder = tmp_path_factory.mktemp("speech")
    for name in ("sample.wav", "sample.rttm"):
        (folder / name).write_bytes(builder.read_member(wheel, SAMPLE + name))
    return folder / "sample.wav", folder / "sample.rttm"


@pytest.fixture(scope="module")
def speech(sample_files) -> np.ndarray:
    x, rate = read_wav(sample_files[0])
    assert rate == 16000
    return x


def reference_turns(rttm: Path) -> list[tuple[float, float]]:
    turns = []
    for line in rttm.read_text().splitlines():
        f = line.split()
        turns.append((float(f[3]), float(f[3]) + float(f[4])))
    return turns


def mask(intervals, duration_s: float, res: float = 0.01) -> np.ndarray:
    m = np.zeros(int(duration_s / res), dtype=bool)
    for a, b in intervals:
        m[int(round(a / res)) : int(round(b / res))] = True
    return m


@pytest.mark.parametrize("vad_key, min_accuracy", [("silero", 0.95), ("webrtc", 0.95)])
def test_vad_segments_agree_with_reference_speaker_turns(vad_key, min_accuracy, speech, sample_files):
    cfg = VoiceConfig()
    segs = list(speech_segments(speech, load_vad(vad_key), cfg.vad_threshold, cfg.hangover_s, cfg.min_segment_s))
    duration = len(speech) / 16000
    ours = mask([(s.start, s.end) for s in segs], duration)
    ref = mask(reference_turns(sample_files[1]), duration)
    accuracy = np.mean(ours == ref)
    # Measured 0.982 (silero) and 0.988 (webrtc) at 10 ms resolution; 75% of the file is speech,
    # so "all speech" would score 0.75 and "all silence" 0.25.
    assert accuracy >= min_accuracy, f"{vad_key}: frame accuracy {accuracy:.3f}"
    assert np.mean(ref & ~ours) < 0.03 and np.mean(ours & ~ref) < 0.03


def test_pitch_tracks_librosa_pyin_on_real_speech(speech):
    librosa = pytest.importorskip("librosa", reason="librosa is the test-only pitch reference (test extra)")
    x = speech[6 * 16000 : 21 * 16000]  # 15 s of both speakers
    ours = frame_features(x)
    f0, voiced, _ = librosa.pyin(x, fmin=60, fmax=700, sr=16000, frame_length=FRAME, hop_length=HOP, center=False)
    n = min(len(f0), len(ours))
    a, b = ours.f0_hz[:n], f0[:n]
    va, vb = ~np.isnan(a), voiced[:n]
    both = va & vb
    cents = 1200 * np.abs(np.log2(a[both] / b[both]))
    # Tolerances (measured on the whole file: 0.91, 10 cents, 2.8 % octave-size errors):
    assert np.mean(va == vb) >= 0.85, "voicing decisions agree on at least 85 % of frames"
    assert np.median(cents) <= 20, "median pitch difference at most 20 cents (pYIN's own grid is 10)"
    assert np.mean(cents > 300) <= 0.06, "at most 6 % of frames off by more than 3 semitones (octave errors)"
    assert both.sum() > 200


def run_voice(wav: Path, **voice) -> list:
    """Replay a WAV through the service's pipeline; the voice estimates per window (None where none)."""

    class Collect:
        def __init__(self):
            self.voice, self.events = [], []

        def write_window(self, w, estimates):
            self.voice.append(next((e for e in estimates if e.modality == "voice"), None))

        def write_event(self, e):
            self.events.append(e)

        def close(self):
            pass

    cfg = AppConfig.model_validate({"sources": {"microphone": {"backend": "replay_wav", "path": str(wav)}},
                                    "perception": {"voice": voice}, "log": {"console": False}, "run": {"pace": "fast"}})
    sink = Collect()
    build_pipeline(cfg, extra_sinks=[sink]).run()
    return sink.voice, sink.events


def test_silence_gives_no_voice_estimate(speech, tmp_path, sample_files):
    voice, events = run_voice(sample_files[0])
    # The recording's first 6.69 s are room sound without speech (reference turns start there).
    first_turn = min(a for a, _ in reference_turns(sample_files[1]))
    early = voice[: int(first_turn / 0.2) - 1]
    assert early and all(e is None for e in early)
    later = [e for e in voice if e is not None]
    assert len(later) > 80, "speech windows do get estimates"
    assert all(e.valence is None and e.probabilities is None and e.arousal is not None for e in later)
    assert all(e.basis == "population" for e in later)
    assert any(ev.kind == "voice_mode" and "arousal from prosody only" in ev.detail["description"] for ev in events)
    # Digital silence straight into the analyser: nothing either.
    a = VoiceAnalyser(VoiceConfig())
    for i in range(50):
        a.push(AudioChunk(i * 0.032, np.zeros(512, np.float32), 16000))
    assert a.estimate(1.2, 1.4) is None


def _sox(src: Path, dst: Path, *effects: str) -> Path:
    if shutil.which("sox") is None:
        pytest.skip("sox is not installed (tools/setup/install_system_deps.sh installs it)")
    subprocess.run(["sox", str(src), str(dst), *effects], check=True)
    return dst


def _mean_arousal(voice) -> float:
    return float(np.mean([e.arousal for e in voice if e is not None]))


def test_arousal_rises_when_the_same_recording_is_raised_in_level_and_pitch(sample_files, tmp_path):
    wav = sample_files[0]
    base = _mean_arousal(run_voice(wav)[0])
    raised = _mean_arousal(run_voice(_sox(wav, tmp_path / "raised.wav", "pitch", "300", "gain", "6"))[0])
    higher = _mean_arousal(run_voice(_sox(wav, tmp_path / "pitch.wav", "pitch", "300"))[0])
    louder = _mean_arousal(run_voice(_sox(wav, tmp_path / "gain.wav", "gain", "6"))[0])
    quieter = _mean_arousal(run_voice(_sox(wav, tmp_path / "quiet.wav", "pitch", "-300", "gain", "-6"))[0])
    # Measured: base -0.16, pitch +3 st -0.04, gain +6 dB -0.03, both +0.09.
    assert raised > base + 0.15
    assert higher > base + 0.05 and louder > base + 0.05
    assert quieter < base - 0.05


def test_person_baseline_makes_the_estimate_relative_to_that_person(sample_files):
    from affectedge.perception.baseline import PersonBaseline

    voice, _ = run_voice(sample_files[0])
    ests = [e for e in voice if e is not None]
    f0 = np.array([e.features["f0_median_hz"] for e in ests])
    loud = np.array([e.features["loudness_db"] for e in ests])
    profile = PersonBaseline.model_validate({
        "schema_version": 1, "subject": "p-17", "created": "2026-01-01T00:00:00",
        "voice": {"f0_hz": {"mean": float(f0.mean()), "sd": float(f0.std())},
                  "loudness_db": {"mean": float(loud.mean()), "sd": float(loud.std())}},
    })
    a = VoiceAnalyser(VoiceConfig(), profile)
    x, _ = read_wav(sample_files[0])
    out = []
    for i in range(0, len(x), 512):
        a.push(AudioChunk(i / 16000, x[i : i + 512], 16000))
        t = (i + 512) / 16000
        if t >= 0.2 * (len(out) + 1):
            out.append(a.estimate(0.2 * len(out), 0.2 * (len(out) + 1)))
    person = [e for e in out if e is not None]
    assert {e.basis for e in person} == {"person:p-17"}
    z = np.array([e.features["z_f0"] for e in person])
    assert abs(np.mean(z)) < 0.3, "this person's own mean pitch is z = 0 against their own baseline"
    assert np.mean([e.quality for e in person]) > np.mean([e.quality for e in ests]), "a person baseline counts more"


def test_voice_config_rejects_unknown_log_feature(tmp_path):
    from affectedge.config.app import load_config

    p = tmp_path / "c.yaml"
    p.write_text("perception:\n  voice:\n    log_features: [f0_median_hz, transcript]\n")
    with pytest.raises(ConfigError) as exc:
        load_config(p)
    assert "c.yaml:3: perception.voice.log_features: unknown voice feature(s) transcript" in str(exc.value)


# ---------------------------------------------------------------- the live microphone source


class FakeSoundCard:
    """Stands in for PortAudio only: an InputStream that calls the callback with blocks of a real recording."""

    def __init__(self, recording: np.ndarray, overflow_at: int = -1):
        self.recording = recording
        self.overflow_at = overflow_at
        self.opened: dict = {}
        self.done = threading.Event()

    def module(self) -> types.ModuleType:
        card = self
        m = types.ModuleType("sounddevice")
        m.query_devices = lambda: [
            {"name": "HDA Intel PCH: ALC3246 Analog", "max_input_channels": 2},
            {"name": "HDMI 0", "max_input_channels": 0},
            {"name": "USB PnP Sound Device: Audio", "max_input_channels": 1},
        ]

        class InputStream:
            def __init__(self, samplerate, blocksize, device, channels, dtype, callback):
                card.opened = dict(samplerate=samplerate, blocksize=blocksize, device=device, channels=channels, dtype=dtype)
                self.callback, self.blocksize = callback, blocksize

            def start(self):
                threading.Thread(target=self._play, daemon=True).start()

            def _play(self):
                n = self.blocksize
                for k, i in enumerate(range(0, len(card.recording) - n + 1, n)):
                    status = types.SimpleNamespace(input_overflow=(k == card.overflow_at))
                    self.callback(card.recording[i : i + n, None].copy(), n, None, status)
                card.done.set()

            def stop(self):
                pass

            def close(self):
                pass

        m.InputStream = InputStream
        return m


def _collect(source: SoundDeviceSource, card: FakeSoundCard, n_items: int) -> list:
    out = []
    it = source.samples()
    for item in it:
        out.append(item)
        if sum(isinstance(i, AudioChunk) for i in out) >= n_items:
            break
    source.close()
    return out


def test_microphone_source_delivers_the_sound_cards_blocks(speech, monkeypatch):
    x = speech[16000 * 6 : 16000 * 11]  # speech starts at 6.69 s
    card = FakeSoundCard(x, overflow_at=40)
    monkeypatch.setitem(sys.modules, "sounddevice", card.module())
    src = SoundDeviceSource(SoundDeviceConfig(backend="sounddevice", device="usb", buffer_s=30.0))
    src.open()
    assert card.opened == dict(samplerate=16000, blocksize=512, device=2, channels=1, dtype="float32")
    items = _collect(src, card, len(x) // 512)
    chunks = [i for i in items if isinstance(i, AudioChunk)]
    assert np.array_equal(np.concatenate([c.samples for c in chunks]), x[: len(chunks) * 512])
    assert all(c.sample_rate == 16000 and c.source == "microphone" for c in chunks)
    overflow = [i for i in items if isinstance(i, Event) and i.kind == "audio_overflow"]
    assert len(overflow) == 1 and overflow[0].detail["driver_overflows"] == 1
    assert all(b.t > a.t for a, b in zip(chunks, chunks[1:]))
    # The analyser takes the live chunks like replayed ones (on the sample clock: the fake card
    # delivers faster than real time).
    a = VoiceAnalyser(VoiceConfig())
    estimates = []
    for k, c in enumerate(chunks):
        a.push(AudioChunk(k * 0.032, c.samples, 16000))
        if (k + 1) % 25 == 0:  # every 0.8 s
            estimates.append(a.estimate((k + 1) * 0.032 - 0.2, (k + 1) * 0.032))
    assert sum(e is not None and e.arousal is not None for e in estimates) >= 3


def test_microphone_ring_drops_oldest_when_the_pipeline_lags(speech, monkeypatch):
    card = FakeSoundCard(speech[: 16000 * 3])
    monkeypatch.setitem(sys.modules, "sounddevice", card.module())
    src = SoundDeviceSource(SoundDeviceConfig(backend="sounddevice", buffer_s=0.32))  # 10 blocks
    src.open()
    assert card.done.wait(10)  # the whole recording arrived before anyone read
    items = _collect(src, card, 10)
    chunks = [i for i in items if isinstance(i, AudioChunk)]
    dropped = [i for i in items if isinstance(i, Event) and i.kind == "audio_overflow"]
    n_blocks = (16000 * 3) // 512
    assert dropped and dropped[0].detail["dropped_blocks"] == n_blocks - 10
    # What is left is the newest audio, in order.
    assert np.array_equal(chunks[-1].samples, speech[(n_blocks - 1) * 512 : n_blocks * 512])


def test_microphone_device_name_errors_and_missing_extra(speech, monkeypatch):
    card = FakeSoundCard(speech[:16000])
    monkeypatch.setitem(sys.modules, "sounddevice", card.module())
    with pytest.raises(SourceError, match="'nope': no input device matches .*2: USB PnP"):
        SoundDeviceSource(SoundDeviceConfig(backend="sounddevice", device="nope")).open()
    with pytest.raises(SourceError, match="more than one"):
        SoundDeviceSource(SoundDeviceConfig(backend="sounddevice", device="a")).open()
    monkeypatch.setitem(sys.modules, "sounddevice", None)  # import fails as if not installed
    with pytest.raises(BackendUnavailableError, match=r"affectedge\[audio\]"):
        SoundDeviceSource(SoundDeviceConfig(backend="sounddevice")).open()


def test_demo_session_speech_runs_through_vad_features_and_arousal(demo_session):
    voice, events = run_voice(demo_session.microphone.path)
    windows = [(0.2 * k, 0.2 * (k + 1), e) for k, e in enumerate(voice)]
    covered = [e for *_, e in windows if e is not None]
    assert len(covered) / len(windows) > 0.5, "most of the session's audio is speech"
    for e in covered:
        assert e.arousal is not None and -1 < e.arousal < 1
        if e.events:  # the crying span at the end: the event gives valence (tests/test_vocal_events.py)
            assert set(e.events) == {"distress"} and e.valence < 0
            continue
        assert e.valence is None
        assert {"f0_median_hz", "loudness_db", "snr_db", "speech_s"} <= set(e.features)
    # Inside the pyannote part, voice windows fall within the reference speaker turns.
    turns = reference_turns(demo_session.reference.speaker_turns)
    in_sample = [(a, b) for a, b, e in windows if e is not None and b <= 30.0]
    inside = [any(s - 0.3 <= a and b <= t + 0.3 for s, t in turns) for a, b in in_sample]
    assert np.mean(inside) > 0.95


# ------------------------------------------------------------------ WAV formats


@pytest.mark.parametrize("encoding,tolerance", [
    (("-b", "24"), 1e-4),                                   # sox's default 24-bit: WAVE_FORMAT_EXTENSIBLE
    (("-e", "floating-point", "-b", "32"), 1e-6),           # IEEE float (format 3)
    (("-e", "floating-point", "-b", "64"), 1e-6),
    (("-b", "32", "-c", "2"), 1e-4),                        # extensible 32-bit integer, two channels
])
def test_extensible_and_float_wavs_read_as_the_same_speech(sample_files, tmp_path, encoding, tolerance):
    wav = sample_files[0]
    reference, rate = read_wav(wav)
    if shutil.which("sox") is None:
        pytest.skip("sox is not installed (tools/setup/install_system_deps.sh installs it)")
    out = tmp_path / "converted.wav"
    subprocess.run(["sox", str(wav), *encoding, str(out)], check=True)
    x, rate2 = read_wav(out)
    assert rate2 == rate and len(x) == len(reference)
    assert float(np.max(np.abs(x - reference))) < tolerance


def test_a_truncated_or_foreign_wav_names_the_reason(sample_files, tmp_path):
    data = sample_files[0].read_bytes()
    cut = tmp_path / "header_cut.wav"
    cut.write_bytes(data[:30])  # inside the fmt chunk
    with pytest.raises(SourceError, match=r"header_cut.wav: fmt chunk at byte 12 is truncated"):
        read_wav(cut)
    notwav = tmp_path / "notes.wav"
    notwav.write_bytes(b"ID3\x03" + data[4:200])
    with pytest.raises(SourceError, match=r"notes.wav: not a WAV file \(byte 0: expected 'RIFF....WAVE', got b'ID3"):
        read_wav(notwav)
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(SourceError, match=r"empty.wav: not a WAV file"):
        read_wav(empty)
    nodata = tmp_path / "nodata.wav"
    nodata.write_bytes(data[:36])  # RIFF header and fmt chunk, then the file ends
    with pytest.raises(SourceError, match=r"nodata.wav: no data chunk \(file ends at byte 36\)"):
        read_wav(nodata)


def test_a_wav_whose_data_chunk_was_cut_short_gives_the_samples_that_are_there(sample_files, tmp_path):
    reference, _ = read_wav(sample_files[0])
    data = sample_files[0].read_bytes()
    cut = tmp_path / "recorder_stopped.wav"
    cut.write_bytes(data[: len(data) // 2 + 1])  # half the audio and an odd byte of a sample
    x, _ = read_wav(cut)
    assert 0 < len(x) < len(reference)
    np.testing.assert_array_equal(x, reference[: len(x)])


# ------------------------------------------------------------------ the noise floor at the start of speech

# Twenty read prompts (one speaker, 8 kHz, 2-6 s) from Debian's asterisk-core-sounds-en-wav
# (CC-BY-SA-3.0), each with the short leading silence it was recorded with (20-130 ms).
PROMPTS = ("agent-alreadyon", "call-fwd-unconditional", "conf-invalid", "conf-onlyone", "confbridge-begin-glorious-a",
           "confbridge-dec-talk-vol-in", "confbridge-lock-no-join", "confbridge-remove-last-in", "demo-echodone",
           "dir-nomore", "pbx-invalidpark", "privacy-prompt", "simul-call-limit-reached", "unidentified-no-callback",
           "vm-forwardoptions", "vm-mailboxfull", "vm-nonumber", "vm-rec-unv", "vm-sorry", "vm-tocallnum")


@pytest.fixture(scope="module")
def read_prompts() -> dict[str, tuple[np.ndarray, int]]:
    deb = builder.fetch_deb(builder.ASTERISK_SOUNDS, builder.default_cache_dir())
    if deb is None:
        pytest.skip("apt-get cannot fetch asterisk-core-sounds-en-wav here")
    members = [f"{builder.ASTERISK_DIR}{name}.wav" for name in PROMPTS]
    data = builder.read_deb_members(deb, members)
    return {Path(m).stem: builder._decode_wav(data[m]) for m in members}


def test_speech_onset_stays_out_of_the_noise_floor_on_read_prompts(read_prompts):
    """The first ~0.27 s of speech, before the VAD confirms it, once entered the noise floor: the
    SNR of these studio prompts came out at 5-12 dB where it is over 40. The floor now takes only
    frames the VAD calls silence with a hangover's margin on both sides."""
    snr, zero_quality = [], 0
    for name, (x, rate) in read_prompts.items():
        assert rate == 8000
        a = VoiceAnalyser(VoiceConfig())
        chunk = 256  # 32 ms at the prompts' own rate: the analyser resamples as a live 8 kHz microphone's would be
        k = 0
        for i in range(0, len(x), chunk):
            t = i / rate
            while t >= (k + 1) * 0.2:
                e = a.estimate(k * 0.2, (k + 1) * 0.2)
                if e is not None:
                    snr.append(e.features["snr_db"])
                    zero_quality += e.quality == 0
                k += 1
            a.push(AudioChunk(t, x[i:i + chunk], rate))
    snr = np.array(snr)
    assert len(snr) > 300
    assert zero_quality == 0, "no window with confirmed speech fuses to no_data for want of SNR"
    assert snr.min() >= 15.0 and np.mean(snr < 20.0) <= 0.05, f"SNR at the onset: min {snr.min():.1f} dB"


def test_own_peak_finder_is_scipys_on_real_speech_loudness(speech):
    # prosody.find_peaks replaces scipy.signal.find_peaks (SciPy is ~50 MiB of a live service);
    # on the loudness envelopes of real speech, every 2 s stretch, both give the same peaks.
    scipy_signal = pytest.importorskip("scipy.signal")
    from affectedge.perception.prosody import SAMPLE_RATE, find_peaks

    step = 2 * SAMPLE_RATE
    compared = 0
    for start in range(0, len(speech) - step, step // 2):
        env = np.convolve(frame_features(speech[start:start + step]).loudness_db, np.ones(3) / 3, mode="same")
        for prominence, distance in ((2.0, 10), (0.5, 3), (6.0, 1)):
            ours = find_peaks(env, prominence, distance)
            theirs = scipy_signal.find_peaks(env, prominence=prominence, distance=distance)[0]
            np.testing.assert_array_equal(ours, theirs)
            compared += len(theirs)
    assert compared > 100


def test_numpy_silero_is_the_onnx_model_on_real_speech(speech):
    # device/perception/silero.py against the ONNX graph it was written from, on real speech:
    # same probabilities to float rounding, the same speech/no-speech decisions.
    pytest.importorskip("onnxruntime", reason="the reference is onnxruntime (onnx extra)")
    pytest.importorskip("onnx", reason="the weights are read from the ONNX file (tools extra)")
    from affectedge_tools.models.silero_weights import compare, extract, npz_bytes
    from affectedge.inference.manifest import model_spec

    weights = extract()
    r = compare(weights, speech)
    assert r["chunks"] > 900
    assert r["max_abs_diff"] < 2e-5
    assert r["flips_at_0.5"] == r["flips_at_0.35"] == 0
    # The shipped file is what the tool writes from the shipped ONNX file.
    assert npz_bytes(weights) == model_spec("silero_vad", "npz").verify_file()


VOICE_ONLY_SERVICE = """
import sys
from affectedge.config.app import AppConfig
from affectedge.service.assembly import build_pipeline

class Count:
    n = 0
    def write_window(self, w, estimates):
        Count.n += any(e.modality == "voice" for e in estimates)
    def write_event(self, e):
        pass
    def close(self):
        pass

cfg = AppConfig.model_validate({"sources": {"microphone": {"backend": "replay_wav", "path": sys.argv[1]}},
                                "log": {"console": False}, "run": {"pace": "fast"}})
build_pipeline(cfg, extra_sinks=[Count()]).run()
print(Count.n > 10, "onnxruntime" in sys.modules, "scipy" in sys.modules)
"""


def test_the_voice_path_loads_no_onnx_runtime_and_no_scipy(sample_files):
    # The point of the NumPy VAD and peak finder: with the face on LiteRT, a service never maps
    # onnxruntime (~20 MiB) or SciPy (~50 MiB). Real speech through a voice-only service.
    out = subprocess.run([sys.executable, "-c", VOICE_ONLY_SERVICE, str(sample_files[0])], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "False", "False"]
