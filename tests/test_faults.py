"""Faults on the device: the disk fills up mid-session, an analyser fails, a model file is corrupt."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys

import pytest
import yaml

from affectedge.config.app import AppConfig
from affectedge.offline.demo import demo_config_dict
from affectedge.inference.manifest import bundled_manifest_path
from affectedge.service.assembly import build_pipeline
from affectedge.core.types import Event


@pytest.fixture
def tiny_disk(tmp_path):
    """A 256 KiB tmpfs: big enough for the log's first seconds, too small for the session."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {r.stderr.strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_disk_full_gives_a_clear_status_and_no_corrupt_log(demo_session, tmp_path, tiny_disk, capsys):
    data = demo_config_dict(demo_session, tiny_disk, console=False)
    data["sources"] = {"physiology": data["sources"]["physiology"], "microphone": data["sources"]["microphone"]}
    data["log"]["jsonl"] = None
    cfg = AppConfig.model_validate(data)
    seen: list[Event] = []

    class StatusFeed:  # what the publisher's status would receive
        def write_window(self, w, e):
            pass

        def write_event(self, ev):
            seen.append(ev)

        def close(self):
            pass

    pipeline = build_pipeline(cfg, extra_sinks=[StatusFeed()])
    stats = pipeline.run()
    assert stats.windows >= 440, "the pipeline ran the whole session despite the full disk"
    failed = [e for e in seen if e.kind == "sink_failed"]
    assert len(failed) == 1 and failed[0].source == "SessionLog"
    assert "database or disk is full" in failed[0].detail["error"]
    assert "session.sqlite" in failed[0].detail["error"]
    assert "SessionLog failed" in capsys.readouterr().err
    db = sqlite3.connect(f"file:{tiny_disk / 'session.sqlite'}?mode=ro", uri=True)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    seqs = [r[0] for r in db.execute("SELECT seq FROM windows ORDER BY seq")]
    assert 0 < len(seqs) < stats.windows
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "what was written is an unbroken run of windows"


def test_a_failing_analyser_drops_only_its_modality_and_recovers(demo_session, tmp_path, capsys):
    """Fault injection: the real voice analyser's model step raises for 10 s of the session (as a
    runtime error in a model would); physiology and fusion carry on, and both the failure and the
    recovery are logged once."""
    data = demo_config_dict(demo_session, tmp_path, console=False)
    data["sources"].pop("camera")
    cfg = AppConfig.model_validate(data)
    pipeline = build_pipeline(cfg)
    voice = next(a for a in pipeline.analysers if a.modality == "voice")
    real_push = voice.push

    def flaky_push(chunk):
        if 10.0 <= chunk.t < 20.0:
            raise RuntimeError("model invoke failed")
        real_push(chunk)

    voice.push = flaky_push
    stats = pipeline.run()
    assert stats.analyser_failures["voice"] > 100
    assert stats.events["analyser_failed"] == 1 and stats.events["analyser_recovered"] == 1
    assert "inference:voice failed: RuntimeError: model invoke failed" in capsys.readouterr().err
    db = sqlite3.connect(tmp_path / "session.sqlite")
    rows = db.execute("SELECT start, record FROM windows ORDER BY seq").fetchall()

    during = [json.loads(r) for s, r in rows if 11.0 <= s < 19.0]
    after = [json.loads(r) for s, r in rows if 21.0 <= s < 29.0]
    assert all("physiology" in w["modalities"] for w in during)
    assert not any("voice" in w["modalities"] for w in during)
    assert any("voice" in w["modalities"] for w in after)


def test_a_model_file_corrupted_on_disk_is_refused_at_start_with_its_name(demo_session, tmp_path):
    models = tmp_path / "models"
    shutil.copytree(bundled_manifest_path().parent, models)
    model = models / "fer_mini_xception_int8.tflite"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte, as a failing SD card delivers
    model.write_bytes(bytes(data))
    cfg = demo_config_dict(demo_session, tmp_path, console=False)
    cfg["perception"] = {"face": {"manifest": str(models / "manifest.yaml")}}
    path = tmp_path / "service.yaml"
    path.write_text(yaml.safe_dump(cfg))
    r = subprocess.run([sys.executable, "-m", "affectedge", "run", "--config", str(path)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert f"{model}: sha256" in r.stderr
    assert not (tmp_path / "session.sqlite").exists(), "refused before the pipeline started"
