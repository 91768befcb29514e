"""The pipeline end to end on the real demo session: windows, log, determinism, crash safety."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import yaml

from affectedge.config.app import AppConfig
from affectedge.offline.demo import demo_config_dict
from affectedge.service.assembly import build_pipeline


def config_for(session, out: Path, **overrides) -> AppConfig:
    data = demo_config_dict(session, out, console=False)
    for dotted, value in overrides.items():
        node = data
        *parents, leaf = dotted.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        if value is None:
            node.pop(leaf, None)
        else:
            node[leaf] = value
    return AppConfig.model_validate(data)


def read_log(path: Path) -> tuple[list[dict], list[tuple]]:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        windows = [json.loads(r[0]) for r in db.execute("SELECT record FROM windows ORDER BY run_id, seq")]
        events = db.execute("SELECT t, kind, source, detail FROM events ORDER BY id").fetchall()
    finally:
        db.close()
    return windows, events


def test_demo_command_writes_log_jsonl_and_table(demo_session, tmp_path):
    r = subprocess.run([sys.executable, "-m", "affectedge", "demo", "--out", str(tmp_path), "--session", str(demo_session.root)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    n_expected = round(demo_session.duration_s / 0.2)
    windows, events = read_log(tmp_path / "session.sqlite")
    # The last window is the one holding the last sample: the session's 90 s give 450 windows (+/- 1).
    assert abs(len(windows) - n_expected) <= 1, len(windows)
    assert [w["seq"] for w in windows] == list(range(windows[0]["seq"], windows[0]["seq"] + len(windows)))
    lines = (tmp_path / "windows.jsonl").read_text().splitlines()
    assert [json.loads(l) for l in lines] == windows
    assert f"windows        {len(windows)} x 0.2 s" in out
    for word in ("physiology", "zone green", "no data", str(tmp_path / "session.sqlite"), "x real time"):
        assert word in out, word
    events_line = next(line for line in out.splitlines() if line.startswith("events "))
    assert "recording ended: 3" in events_line and "recording_ended" not in events_line  # words, not identifiers
    assert (tmp_path / "demo-config.yaml").is_file()
    kinds = {e[1] for e in events}
    assert {"source_up", "clip_changed", "recording_ended"} <= kinds and "source_down" not in kinds  # a replay ends, it does not fail
    phys = [w for w in windows if "physiology" in w["modalities"]]
    assert len(phys) > 0.8 * len(windows), "physiology covers 2-89 s of the 90 s session"


def test_replaying_twice_gives_byte_identical_records(demo_session, tmp_path):
    outputs = []
    for run in ("a", "b"):
        out = tmp_path / run
        build_pipeline(config_for(demo_session, out)).run()
        outputs.append((out / "windows.jsonl").read_bytes())
    assert outputs[0] == outputs[1]
    assert len(outputs[0]) > 10_000


def test_windows_without_any_estimate_say_no_data(demo_session, tmp_path):
    # The real recording with the sensor off the wrist for 30 s (rows 30-60 s removed): once the
    # features' spans have emptied, the windows have nothing to say, and say so.
    rows = demo_session.physiology.path.read_text().splitlines()
    kept = [rows[0]] + [r for r in rows[1:] if not 30.0 <= float(r.split(",")[0]) < 60.0]
    gap_csv = tmp_path / "physio-gap.csv"
    gap_csv.write_text("\n".join(kept) + "\n")
    cfg = config_for(demo_session, tmp_path, **{"sources.camera": None, "sources.microphone": None,
                                                 "sources.physiology": [{"backend": "replay_csv", "path": str(gap_csv)}]})
    build_pipeline(cfg).run()
    windows, _ = read_log(tmp_path / "session.sqlite")
    empty = [w for w in windows if not w["modalities"]]
    assert empty and all(30.0 <= w["start"] < 60.0 for w in empty), [w["start"] for w in empty][:5]
    assert any(w["start"] >= 50.0 for w in empty)
    for w in empty:
        assert w["status"] == "no_data" and w["confidence"] == 0.0
        assert w["probabilities"] is None and w["zone"] is None and w["valence"] is None and w["arousal"] is None
    for w in windows:
        if w["modalities"]:
            assert w["status"] == "ok" and w["arousal"] is not None


def test_malformed_physiology_rows_are_counted_and_dropped(demo_session, tmp_path):
    rows = demo_session.physiology.path.read_text().splitlines()
    bad_lines = {10: "12.5,hr", 20: "abc,eda,1.0", 30: "13.0,temperature,36.6", 40: "nan,eda,2.0"}
    for lineno, text in bad_lines.items():
        rows[lineno - 1] = text
    corrupted = tmp_path / "physio.csv"
    corrupted.write_text("\n".join(rows) + "\n")
    cfg = config_for(demo_session, tmp_path / "out", **{"sources.camera": None, "sources.microphone": None,
                                                          "sources.physiology": [{"backend": "replay_csv", "path": str(corrupted)}]})
    stats = build_pipeline(cfg).run()
    assert stats.events["malformed_sample"] == len(bad_lines)
    _, events = read_log(tmp_path / "out" / "session.sqlite")
    reported = sorted(json.loads(e[3])["line"] for e in events if e[1] == "malformed_sample")
    assert reported == sorted(bad_lines)
    assert stats.windows >= 440


def test_kill_9_during_a_replay_leaves_a_readable_log(demo_session, tmp_path):
    full_out, crash_out = tmp_path / "full", tmp_path / "crash"
    build_pipeline(config_for(demo_session, full_out, **{"sources.camera": None})).run()
    full, _ = read_log(full_out / "session.sqlite")

    data = demo_config_dict(demo_session, crash_out, console=False)
    data["sources"].pop("camera")
    data["run"]["pace"] = "realtime"
    cfg_path = tmp_path / "crash.yaml"
    cfg_path.write_text(yaml.safe_dump(data))
    proc = subprocess.Popen([sys.executable, "-m", "affectedge", "run", "--config", str(cfg_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        db_path = crash_out / "session.sqlite"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # kill once several windows are in
            time.sleep(0.5)
            if db_path.exists():
                try:
                    n = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True).execute("SELECT count(*) FROM windows").fetchone()[0]
                except sqlite3.Error:
                    n = 0
                if n >= 15:
                    break
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    crashed, _ = read_log(crash_out / "session.sqlite")
    assert len(crashed) >= 15
    # What survived is exactly the beginning of the uninterrupted run: nothing torn, nothing reordered.
    assert crashed == full[: len(crashed)]
