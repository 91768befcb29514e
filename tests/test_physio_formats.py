"""Physiology file formats, each a reader registered by key: the product's CSV, Polar/Kubios-style
RR text (systole's real rr.txt) and the Empatica E4 export layout (real systole signals written in
E4's documented layout: no E4 export ships in a package reachable here). A row that does not parse
is counted with its file, line and column; a wrong layout is refused naming them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from affectedge.core.errors import SourceError
from affectedge.perception.physiology import PhysiologyAnalyser, PhysiologyConfig
from affectedge.sources.physio_formats import READERS, Malformed
from affectedge.sources.replay_csv import ReplayCsvConfig, ReplayCsvSource
from affectedge.core.types import Event, PhysioSample
from affectedge_tools.data import build_demo_session as builder


@pytest.fixture(scope="module")
def systole_sdist() -> Path:
    try:
        return builder.fetch_pypi(builder.SYSTOLE, builder.default_cache_dir())
    except builder.DownloadError as exc:
        pytest.skip(f"cannot fetch systole's sdist: {exc}")


def replay(path: Path, fmt: str) -> tuple[list[PhysioSample], list[Event]]:
    src = ReplayCsvSource(ReplayCsvConfig(backend="replay_csv", path=path, format=fmt))
    src.open()
    items = list(src.samples())
    return [i for i in items if isinstance(i, PhysioSample)], [i for i in items if isinstance(i, Event)]


def test_rr_text_reads_systoles_real_rr_intervals(systole_sdist, tmp_path):
    rr_txt = tmp_path / "rr.txt"
    rr_txt.write_bytes(builder.read_member(systole_sdist, builder.SYSTOLE_DATA + "rr.txt"))
    expected_ms = np.loadtxt(rr_txt, delimiter=",", skiprows=1)[:, 1]
    samples, events = replay(rr_txt, "rr_text")
    assert len(samples) == len(expected_ms) == 245 and all(s.kind == "rr" for s in samples)
    np.testing.assert_allclose([s.value for s in samples], expected_ms / 1000.0)
    np.testing.assert_allclose([s.t for s in samples], np.cumsum(expected_ms) / 1000.0)  # stamped at the beat ending each
    assert [e.kind for e in events] == ["source_up", "recording_ended"]
    # Through the device's analyser: the heart rate of these beats.
    a = PhysiologyAnalyser(PhysiologyConfig())
    for s in samples:
        a.push(s)
    end = samples[-1].t + 0.1
    e = a.estimate(end - 0.2, end)
    last = expected_ms[np.cumsum(expected_ms) / 1000.0 > end - 0.1 - 5.0] / 1000.0
    assert e.features["hr_bpm"] == pytest.approx(60.0 * len(last) / last.sum(), rel=0.05)
    # The same intervals in seconds, one per line with a header, as a Polar export: the same samples.
    polar = tmp_path / "polar.txt"
    polar.write_text("RR\n" + "\n".join(f"{v / 1000:.6f}" for v in expected_ms) + "\n")
    again, _ = replay(polar, "rr_text")
    np.testing.assert_allclose([s.t for s in again], [s.t for s in samples], atol=1e-5)


def _e4_folder(systole_sdist: Path, folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """Minutes 2-4 of systole's EDA (4 Hz) and its beats, written as an E4 export would hold them."""
    eda_1k = builder.load_systole_channel(systole_sdist, "EDA")[120_000:240_000]
    eda = eda_1k.reshape(-1, 250).mean(axis=1)
    ecg = builder.load_systole_channel(systole_sdist, "ECG")
    beats = builder.detect_rpeaks(ecg, 1000, 120_000, 240_000) / 1000.0 - 120.0
    start = 1_600_000_000.0
    folder.mkdir()
    (folder / "EDA.csv").write_text(f"{start:.6f}\n4.000000\n" + "".join(f"{v:.6f}\n" for v in eda))
    ibi = np.diff(beats)
    (folder / "IBI.csv").write_text(f"{start + 0.5:.6f}, IBI\n" + "".join(f"{t - 0.5:.6f},{v:.6f}\n" for t, v in zip(beats[1:], ibi)))
    return eda, beats


def test_e4_export_layout_reads_eda_and_ibi_on_one_clock(systole_sdist, tmp_path):
    folder = tmp_path / "e4"
    eda, beats = _e4_folder(systole_sdist, folder)
    samples, events = replay(folder / "EDA.csv", "e4")  # any file of the folder names the export
    got_eda = [s for s in samples if s.kind == "eda"]
    got_rr = [s for s in samples if s.kind == "rr"]
    np.testing.assert_allclose([s.value for s in got_eda], eda, atol=1e-6)
    np.testing.assert_allclose([s.t for s in got_eda], np.arange(len(eda)) / 4.0)
    np.testing.assert_allclose([s.t for s in got_rr], beats[1:], atol=1e-6)  # IBI's start is 0.5 s later: one clock
    assert all(b.t >= a.t for a, b in zip(samples, samples[1:]))
    assert not [e for e in events if e.kind == "malformed_sample"]


def test_malformed_rows_are_counted_with_file_line_and_column_and_wrong_layouts_refused(systole_sdist, tmp_path):
    folder = tmp_path / "e4"
    _e4_folder(systole_sdist, folder)
    lines = (folder / "EDA.csv").read_text().splitlines()
    lines[10] = "n/a"
    (folder / "EDA.csv").write_text("\n".join(lines) + "\n")
    samples, events = replay(folder, "e4")
    (bad,) = [e for e in events if e.kind == "malformed_sample"]
    assert bad.detail["file"] == "EDA.csv" and bad.detail["line"] == 11 and bad.detail["column"] == "column 1"
    lines[1] = "fast"
    (folder / "EDA.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(SourceError, match=r"EDA.csv:2: column 1: the sample rate \(Hz\) is 'fast'"):
        replay(folder, "e4")
    csv_file = tmp_path / "physio.csv"
    csv_file.write_text("t,kind,value\n0.0,hr,72\n0.5,hr,seventy\n1.0,pulse,70\n")
    _, events = replay(csv_file, "affectedge")
    bad = [(e.detail["line"], e.detail["column"]) for e in events if e.kind == "malformed_sample"]
    assert bad == [(3, "value"), (4, "kind")]
    (tmp_path / "bad.csv").write_text("time,type,v\n")
    with pytest.raises(SourceError, match=r"bad.csv:1: expected the header t,kind,value"):
        replay(tmp_path / "bad.csv", "affectedge")
    assert set(READERS) == {"affectedge", "rr_text", "e4", "edf"}
    rows = list(READERS["rr_text"](_write(tmp_path / "r.txt", "800\nabc\n810\n")))
    assert [r for r in rows if isinstance(r, Malformed)] == [Malformed(2, "column 1", "'abc' is not a number")]
    assert [r[:3] for r in rows if not isinstance(r, Malformed)] == [(0.8, "rr", 0.8), (pytest.approx(1.61), "rr", 0.81)]


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_edf_reads_skin_conductance_and_heart_rate_channels(systole_sdist, tmp_path):
    """Real systole EDA (1000 Hz, µS) and the heart rate of its beats written as an EDF+ file with
    pyedflib, as an acquisition system exports it; the reader gives the wristband's 4 Hz means."""
    pyedflib = pytest.importorskip("pyedflib", reason="EDF files are read with pyedflib (edf extra)")
    eda_1k = builder.load_systole_channel(systole_sdist, "EDA")[120_000:240_000]
    ecg = builder.load_systole_channel(systole_sdist, "ECG")
    beats = builder.detect_rpeaks(ecg, 1000, 120_000, 240_000) / 1000.0 - 120.0
    hr_1hz = np.interp(np.arange(120) + 0.5, beats[1:], 60.0 / np.diff(beats))  # beat-to-beat rate at 1 Hz
    path = tmp_path / "recording.edf"
    writer = pyedflib.EdfWriter(str(path), 3, file_type=pyedflib.FILETYPE_EDFPLUS)
    writer.setSignalHeaders([
        {"label": "EDA", "dimension": "uS", "sample_frequency": 1000, "physical_min": 0.0, "physical_max": 30.0,
         "digital_min": -32768, "digital_max": 32767},
        {"label": "HR", "dimension": "bpm", "sample_frequency": 1, "physical_min": 0.0, "physical_max": 250.0,
         "digital_min": -32768, "digital_max": 32767},
        {"label": "Resp", "dimension": "mV", "sample_frequency": 1, "physical_min": -1.0, "physical_max": 1.0,
         "digital_min": -32768, "digital_max": 32767},
    ])
    writer.writeSamples([eda_1k, hr_1hz, np.zeros(120)])
    writer.close()
    samples, events = replay(path, "edf")
    eda = [s for s in samples if s.kind == "eda"]
    hr = [s for s in samples if s.kind == "hr"]
    np.testing.assert_allclose([s.value for s in eda], eda_1k.reshape(-1, 250).mean(axis=1), atol=30.0 / 65535 * 2)
    np.testing.assert_allclose([s.t for s in eda], np.arange(480) / 4.0)
    np.testing.assert_allclose([s.value for s in hr], hr_1hz, atol=250.0 / 65535 * 2)
    assert [e.kind for e in events] == ["source_up", "recording_ended"]
    generator = Path(pyedflib.__file__).parent / "data" / "test_generator.edf"
    with pytest.raises(SourceError, match=r"test_generator.edf: no EDA .* or HR .* signal among \['squarewave'"):
        replay(generator, "edf")
