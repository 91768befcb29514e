"""`affectedge analyse` and the notebook API on real recordings: the same windows as the service's
replay of the same files, a two-session study run locally and on a Dask LocalCluster (identical
windows both ways), a corrupt file failing its session only, and a rerun skipping finished ones."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

import affectedge
from affectedge.config.app import AppConfig
from affectedge.offline.study import discover, run_study
from affectedge.service.assembly import build_pipeline

pd = pytest.importorskip("pandas", reason="the analyse API returns DataFrames (analyse extra)")
pytest.importorskip("av", reason="PyAV demuxes a video's audio track (analyse extra)")


def window_records(log: Path) -> list[str]:
    db = sqlite3.connect(f"file:{log}?immutable=1", uri=True)
    try:
        return [r[0] for r in db.execute("SELECT record FROM windows ORDER BY seq")]
    finally:
        db.close()


@pytest.fixture(scope="module")
def study_dir(demo_session, tmp_path_factory) -> Path:
    """Two sessions of real recordings (affectedge_tools.bench.bench_study.make_study): (a) the demo's
    face clip, its speech and its ECG/EDA; (b) another clip with its own audio track (used as the
    microphone) and the resting span's physiology of the demo's subject."""
    from affectedge_tools.bench.bench_study import make_study

    return make_study(tmp_path_factory.mktemp("study") / "study", 1, demo_session.root)


def test_analyse_gives_the_windows_of_the_services_replay_of_the_same_files(study_dir, tmp_path):
    s = study_dir / "a-wolfgang"
    df = affectedge.analyse(video=s / "video.mp4", audio=s / "audio.wav", physiology=s / "physio.csv", out=tmp_path / "api")
    assert len(df) > 400 and {"zone", "confidence", "p_happy", "face_valence", "physiology_f_hr_bpm"} <= set(df.columns)
    # The service, replaying the same files with a config written by hand.
    cfg = AppConfig.model_validate({
        "sources": {"camera": {"backend": "replay_video", "max_fps": 15.0, "clips": [{"path": str(s / "video.mp4")}]},
                    "microphone": {"backend": "replay_wav", "path": str(s / "audio.wav")},
                    "physiology": [{"backend": "replay_csv", "path": str(s / "physio.csv")}]},
        "log": {"sqlite": str(tmp_path / "service.sqlite"), "console": False}, "run": {"pace": "fast"},
    })
    build_pipeline(cfg).run()
    assert window_records(tmp_path / "api" / "session.sqlite") == window_records(tmp_path / "service.sqlite")
    again = affectedge.read_log(tmp_path / "api" / "session.sqlite")
    pd.testing.assert_frame_equal(again, df)


def test_a_videos_own_audio_track_is_the_microphone_when_no_wav_is_given(study_dir, tmp_path):
    import av

    from affectedge.review.log_reader import read_log as read_log_data
    from affectedge.sources.replay_wav import read_wav

    s = study_dir / "b-noface-face"
    with av.open(str(s / "video.mov")) as c:
        track = c.streams.audio[0]
        declared_s, declared_rate = float(track.duration * track.time_base), track.codec_context.sample_rate
    affectedge.analyse(video=s / "video.mov", out=tmp_path)
    x, rate = read_wav(tmp_path / "audio-from-video.wav")  # the clip's AAC track, decoded by PyAV
    assert rate == declared_rate and abs(len(x) / rate - declared_s) < 0.05
    assert float(abs(x).max()) > 0.01  # sound, not silence
    mic = [e for e in read_log_data(tmp_path / "session.sqlite").events if e.source == "microphone"]
    assert [e.kind for e in mic] == ["source_up", "recording_ended"]
    assert mic[-1].t == pytest.approx(len(x) / rate, abs=1e-3) and mic[0].detail["file"] == "audio-from-video.wav"


def _study_windows(out: Path) -> dict[str, list[str]]:
    return {d.name: window_records(d / "session.sqlite") for d in sorted(out.iterdir()) if (d / "done.json").is_file()}


def test_a_study_runs_locally_and_on_a_dask_cluster_with_identical_windows(study_dir, tmp_path):
    distributed = pytest.importorskip("distributed", reason="the study runs on Dask (analyse extra)")
    sessions = discover(study_dir)
    assert [s.name for s in sessions] == ["a-wolfgang", "b-noface-face"]
    local = run_study(sessions, tmp_path / "local", workers=2, progress=False)
    assert sorted(local.done) == ["a-wolfgang", "b-noface-face"] and not local.failed
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        on_dask = run_study(sessions, tmp_path / "dask", scheduler=client, progress=False)
    assert sorted(on_dask.done) == sorted(local.done)
    assert _study_windows(tmp_path / "local") == _study_windows(tmp_path / "dask")
    # Identical to the single-session analysis (and so to the service's replay) too.
    one = affectedge.analyse(video=study_dir / "a-wolfgang" / "video.mp4", audio=study_dir / "a-wolfgang" / "audio.wav",
                             physiology=study_dir / "a-wolfgang" / "physio.csv", out=tmp_path / "one")
    assert window_records(tmp_path / "one" / "session.sqlite") == _study_windows(tmp_path / "local")["a-wolfgang"]
    import pyarrow.dataset as ds

    dataset = ds.dataset(tmp_path / "local" / "windows", format="parquet", partitioning="hive")
    table = dataset.to_table()
    assert set(table.column("session").to_pylist()) == {"a-wolfgang", "b-noface-face"}
    assert table.num_rows == len(one) + len(affectedge.read_log(tmp_path / "local" / "b-noface-face" / "session.sqlite"))


def test_a_corrupt_file_fails_its_session_only_and_a_rerun_skips_finished_ones(study_dir, tmp_path):
    study = tmp_path / "study"
    shutil.copytree(study_dir, study)
    (study / "c-broken").mkdir()
    # A real recording cut inside its header (a copy that stopped early).
    (study / "c-broken" / "audio.wav").write_bytes((study_dir / "a-wolfgang" / "audio.wav").read_bytes()[:30])
    first = run_study(discover(study), tmp_path / "out", workers=2, progress=False)
    assert sorted(first.done) == ["a-wolfgang", "b-noface-face"]
    assert list(first.failed) == ["c-broken"] and "audio.wav: fmt chunk at byte 12 is truncated" in first.failed["c-broken"]
    stamp = (tmp_path / "out" / "a-wolfgang" / "done.json").stat().st_mtime_ns
    second = run_study(discover(study), tmp_path / "out", workers=2, progress=False)
    assert sorted(second.skipped) == ["a-wolfgang", "b-noface-face"] and second.done == []
    assert list(second.failed) == ["c-broken"]  # tried again, still failing, still alone
    assert (tmp_path / "out" / "a-wolfgang" / "done.json").stat().st_mtime_ns == stamp


def test_the_cli_runs_a_session_with_its_report_and_a_manifest_study(study_dir, tmp_path, capsys):
    from affectedge.cli import main

    s = study_dir / "b-noface-face"
    assert main(["analyse", "--video", str(s / "video.mov"), "--physiology", str(s / "physio.csv"), "--report",
                 "--out", str(tmp_path / "one")]) == 0
    for name in ("session.sqlite", "windows.parquet", "report.html", "report.pdf", "done.json"):
        assert (tmp_path / "one" / name).is_file(), name
    manifest = tmp_path / "study.csv"
    manifest.write_text("session,video,audio,physiology\n"
                        f"b,{s / 'video.mov'},,{s / 'physio.csv'}\n")
    assert main(["analyse", "--study", str(manifest), "--out", str(tmp_path / "study"), "--workers", "1", "--quiet"]) == 0
    assert "1 session(s) analysed" in capsys.readouterr().out
    assert json.loads((tmp_path / "study" / "b" / "done.json").read_text())["windows"] > 0
