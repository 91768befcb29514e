"""What a person at the terminal sees: a line per change of a source's state, with advice; time
since the start; one line per change of the broker link; a prompt stop with the broker away."""

from __future__ import annotations

import io
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from affectedge.config.app import load_config
from affectedge.sinks.console import ConsoleSink, format_window
from affectedge.core.source_status import SourceStatus, explain
from affectedge.core.types import Event, FusedWindow, ModalityContribution

REPO = Path(__file__).resolve().parents[1]
# Raw errors as the backends reported them on a box with no camera, sound library or BlueZ.
NO_PORTAUDIO = "open failed: PortAudio library not found"
NO_DBUS = "scan failed: FileNotFoundError: [Errno 2] No such file or directory"
NO_CAMERA = "open failed: camera 0: OpenCV cannot open it (no such device, or busy)"


def test_raw_errors_become_advice_a_person_can_act_on():
    assert "sudo apt install libportaudio2" in explain(NO_PORTAUDIO) and NO_PORTAUDIO in explain(NO_PORTAUDIO)
    assert "BlueZ over D-Bus" in explain(NO_DBUS) and "systemctl enable --now bluetooth" in explain(NO_DBUS)
    assert "ls /dev/video*" in explain(NO_CAMERA)
    assert explain("something new: 42") == "something new: 42"  # unknown: the raw text, never a guess


def test_a_source_state_is_said_once_per_change():
    status = SourceStatus()
    lines = [status.line(e) for e in [
        Event(1.0, "stage_restarting", "microphone", {"error": NO_PORTAUDIO, "backoff_s": 1.0}),
        Event(2.0, "stage_restarting", "microphone", {"error": NO_PORTAUDIO, "backoff_s": 2.0}),
        Event(4.0, "stage_down", "microphone", {"error": NO_PORTAUDIO, "failures": 3}),
        Event(8.0, "stage_restarting", "microphone", {"error": NO_PORTAUDIO, "backoff_s": 4.0}),
        Event(9.0, "stage_up", "microphone", {"restarts": 4}),
        Event(9.5, "stage_up", "microphone", {"restarts": 4}),
        Event(12.0, "recording_ended", "physiology", {"file": "physio.csv"}),
    ]]
    said = [l for l in lines if l is not None]
    assert said == [
        f"microphone is down, retrying: {explain(NO_PORTAUDIO)}",
        f"microphone is down: {explain(NO_PORTAUDIO)}",
        f"microphone is down, retrying: {explain(NO_PORTAUDIO)}",
        "microphone is up",
        "physiology finished: physio.csv ended: nothing more to replay",
    ]


def window(start: float, zone="green", withheld=None) -> FusedWindow:
    return FusedWindow(0, start, start + 0.2, "ok", None, 0.1, 0.1, zone, 0.5,
                       {"physiology": ModalityContribution(0.5, 0.5)}, zone_withheld=withheld)


def test_console_time_counts_from_the_first_window_and_live_lines_carry_the_clock():
    out = io.StringIO()
    sink = ConsoleSink(stream=out, wall_clock=lambda: 0.0)
    sink.write_window(window(7962.0), ())
    sink.write_window(window(7963.0), ())
    sink.write_event(Event(7963.1, "stage_down", "camera", {"error": NO_CAMERA}))
    lines = out.getvalue().splitlines()
    assert [re.search(r"t=\s*([\d.]+)s", l).group(1) for l in lines] == ["0.2", "1.2", "1.1"]
    clock = time.strftime("%H:%M:%S", time.localtime(0.0))
    assert all(l.startswith(clock + " ") for l in lines)
    assert "no zone (confidence too low)" in format_window(window(0.0, zone=None, withheld="low_confidence"))


@pytest.mark.slow
def test_live_run_without_devices_says_why_each_source_is_down_and_stops_promptly(tmp_path):
    """`affectedge run --board x86-64` with the shipped live example on this machine, which has no
    camera, no working sound input and no Bluetooth, and no broker on localhost:1883."""
    config = tmp_path / "live.yaml"
    shutil.copy(REPO / "config" / "example-live.yaml", config)
    port = 1  # nothing listens there: the broker is unreachable
    config.write_text(config.read_text().replace("host: localhost ", f"host: 127.0.0.1\n  port: {port} "))
    load_config(config, "x86-64")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "affectedge", "run", "--board", "x86-64", "--config", str(config)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=tmp_path)
    time.sleep(12)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    stop_s = time.monotonic() - t0
    assert proc.returncode == 0, out
    assert stop_s < 5.0, f"SIGTERM took {stop_s:.1f} s with the broker unreachable"
    lines = out.splitlines()
    for source in ("camera", "microphone", "chest_strap"):
        said = [l for l in lines if re.search(rf"\b{source} is down", l)]
        assert 1 <= len(said) <= 2, (source, said)  # "retrying", then "down": once per change
    assert any("chest_strap is down" in l and ("BlueZ" in l or "Bluetooth" in l) for l in lines), out
    assert not any("Client is not connected" in l or "[ WARN" in l for l in lines), out
    assert sum("unreachable" in l for l in lines) == 1, out
    ts = [float(m.group(1)) for l in lines if (m := re.search(r"t=\s*([\d.]+)s", l))]
    assert ts and max(ts) < 60, "time since the start, not the monotonic clock"
    assert re.search(r"\d+ summaries left in the outbox .*next start", out), out
