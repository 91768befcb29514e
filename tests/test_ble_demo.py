"""`affectedge demo --ble-sim`: the session's physiology arrives over bumble from simulated sensors."""

from __future__ import annotations

import json

import pytest

from affectedge.offline.demo import run_demo

pytest.importorskip("bumble", reason="the simulated BLE sensors run on bumble (ble-sim and test extras)")


def test_demo_takes_physiology_from_simulated_ble_sensors(demo_session, tmp_path, capsys):
    assert run_demo(tmp_path, demo_session.root, ble_sim=True, ble_speed=12.0) == 0
    text = capsys.readouterr().out
    assert "physiology from simulated BLE sensors" in text
    hr_rows = sum(1 for line in (demo_session.root / "physio.csv").read_text().splitlines() if ",hr," in line)
    assert f"HRsim sent {hr_rows} packets" in text  # every hr row of the recording went over the air
    config = (tmp_path / "demo-config.yaml").read_text()
    assert "backend: ble" in config and "transport: bumble" in config and "replay_csv" not in config
    windows = [json.loads(line) for line in (tmp_path / "windows.jsonl").read_text().splitlines()]
    assert len(windows) > 400
    with_physiology = sum(1 for w in windows if "physiology" in w["modalities"])
    assert with_physiology / len(windows) > 0.9
