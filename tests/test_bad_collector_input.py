"""The fleet collector on hostile payloads (issue 23, defects 3 and 12), through a real mosquitto and
the real collector: a rejected payload's record keeps the diagnosis, never the private data; the
records are 0600, capped and rotated; a broker that is not up yet is waited for, not a crash. The
generated suite (Hypothesis, 40 payloads through the broker) holds the class.
"""

from __future__ import annotations

import base64
import json
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from affectedge.fleet.collector import Collector
from affectedge.publish.local_broker import MosquittoBroker, free_port
from publish_fixtures import need_mosquitto

SECRET_NAME = "Amelia Hartley-Quinn"
SECRET_NOTE = "cried after her mother left, calmed with the blue blanket"


@pytest.fixture
def feed(tmp_path):
    need_mosquitto()
    broker = MosquittoBroker(tmp_path / "broker").start()
    out = tmp_path / "dataset"
    collector = Collector(out, "127.0.0.1", broker.port, client_id="collector-test", flush_s=0.2,
                          invalid_max_bytes=4096, invalid_keep_files=3)
    collector.start()
    runner = threading.Thread(target=collector.run, daemon=True)
    runner.start()
    sender = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="rogue")
    sender.connect("127.0.0.1", broker.port)
    sender.loop_start()

    def send(payload: bytes, topic: str = "affectedge/dev-07/summary") -> None:
        # Every payload these tests send is invalid: wait until its record is written.
        before = collector.stats.invalid
        sender.publish(topic, payload, qos=1).wait_for_publish(5)
        deadline = time.monotonic() + 10
        while collector.stats.invalid == before:
            assert time.monotonic() < deadline, "the collector did not receive the payload"
            time.sleep(0.01)

    yield collector, send, out
    sender.loop_stop()
    sender.disconnect()
    collector.stop()
    runner.join(10)
    broker.stop()


def records(out: Path) -> list[dict]:
    return [json.loads(line) for f in sorted((out / "invalid").glob("*.jsonl")) for line in f.read_text().splitlines()]


def test_a_rejected_payload_keeps_the_diagnosis_and_none_of_the_private_data(feed):
    collector, send, out = feed
    audio = base64.b64encode(bytes(range(256)) * 64).decode()
    private = {"schema": "affectedge.summary/1", "device": "dev-07", "seq": 1, "name": SECRET_NAME,
               "audio_b64": audio, "note": SECRET_NOTE}
    raw = json.dumps(private).encode()
    send(raw)
    send(b"\xff\xfe not utf-8 " + SECRET_NAME.encode())
    send(b"{" + b'"pad": "' + b"x" * (3 << 20) + b'"}')  # 3 MB
    (r1, r2, r3) = records(out)
    assert r1["fields_outside_whitelist"] == ["audio_b64", "name", "note"]
    assert r1["size_bytes"] == len(raw) and len(r1["sha256"]) == 64
    assert r1["device"] == "dev-07" and r1["topic"] == "affectedge/dev-07/summary"
    assert "whitelist" in r1["reason"] and "UTF-8" in r2["reason"] and r3["size_bytes"] > 3 << 20
    text = "".join(f.read_text() for f in (out / "invalid").glob("*.jsonl"))
    for secret in (SECRET_NAME, SECRET_NOTE, audio[:40], "x" * 100):
        assert secret not in text
    for f in (out / "invalid").glob("*.jsonl"):
        assert stat.S_IMODE(f.stat().st_mode) == 0o600
    assert collector.stats.invalid == 3


def test_a_flood_of_bad_payloads_is_capped_and_rotated(feed):
    collector, send, out = feed
    for i in range(80):
        send(json.dumps({"device": "dev-07", "junk": i}).encode())
    files = list((out / "invalid").glob("*.jsonl"))
    assert len(files) <= 3 and all(f.stat().st_size <= 4096 for f in files)
    assert collector.stats.invalid == 80


PAYLOADS = st.one_of(
    st.binary(max_size=3000),
    st.dictionaries(st.text(max_size=12), st.one_of(st.text(max_size=40), st.integers(), st.floats(), st.none()), max_size=8)
      .map(lambda d: json.dumps({**d, "secret": SECRET_NOTE}).encode()),
    st.text(max_size=200).map(lambda s: (s + SECRET_NAME).encode()),
)


@settings(max_examples=40, deadline=10_000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=PAYLOADS)
def test_generated_payloads_are_stored_only_as_diagnoses(tmp_path_factory, payload):
    need_mosquitto()
    with _one_feed(tmp_path_factory.mktemp("feed")) as (collector, send, out):
        send(payload)
        assert collector.stats.invalid == 1  # none of these is a valid summary
        (rec,) = records(out)
        assert set(rec) == {"received_utc", "topic", "device", "size_bytes", "sha256", "reason", "fields_outside_whitelist"}
        text = "".join(f.read_text() for f in (out / "invalid").glob("*.jsonl"))
        assert SECRET_NOTE not in text and SECRET_NAME not in text
        assert rec["size_bytes"] == len(payload)


class _one_feed:
    """A broker and a collector for one generated example (Hypothesis runs each in its own)."""

    _shared: dict = {}

    def __init__(self, folder: Path):
        self.folder = folder

    def __enter__(self):
        key = "feed"
        if key not in self._shared:
            broker = MosquittoBroker(self.folder / "broker").start()
            self._shared[key] = broker
        broker = self._shared[key]
        self.out = self.folder / "dataset"
        # Its own shared-subscription group and no lasting session: an earlier example's collector,
        # gone, must not be handed this example's payload by the broker.
        self.collector = Collector(self.out, "127.0.0.1", broker.port, group=f"g-{self.folder.name}",
                                   client_id=f"c-{self.folder.name}", flush_s=0.2, session_expiry_s=0)
        self.collector.start()
        self.runner = threading.Thread(target=self.collector.run, daemon=True)
        self.runner.start()
        self.sender = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"s-{self.folder.name}")
        self.sender.connect("127.0.0.1", broker.port)
        self.sender.loop_start()

        def send(payload: bytes) -> None:
            before = self.collector.stats.received
            self.sender.publish("affectedge/dev-07/summary", payload, qos=1).wait_for_publish(5)
            deadline = time.monotonic() + 10
            while self.collector.stats.received == before or self.collector.stats.invalid == 0:
                assert time.monotonic() < deadline
                time.sleep(0.005)

        return self.collector, send, self.out

    def __exit__(self, *exc):
        self.sender.loop_stop()
        self.sender.disconnect()
        self.collector.stop()
        self.runner.join(10)


@pytest.fixture(scope="module", autouse=True)
def _stop_shared_broker():
    yield
    broker = _one_feed._shared.pop("feed", None)
    if broker is not None:
        broker.stop()


def test_collect_waits_for_a_broker_that_is_not_up_yet(tmp_path):
    need_mosquitto()
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "affectedge", "collect", "--out", str(tmp_path / "ds"), "--host", "127.0.0.1",
                             "--port", str(port), "--flush-s", "0.5"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = proc.stdout.readline()
        assert "waiting for the MQTT broker at 127.0.0.1:%d" % port in line, line
        assert proc.poll() is None  # still there, retrying
        broker = MosquittoBroker(tmp_path / "broker", port=port).start()
        try:
            line = proc.stdout.readline()
            assert line.startswith("collecting"), line
        finally:
            proc.terminate()
            out = proc.communicate(timeout=30)[0]
            broker.stop()
        assert "received 0" in out and proc.returncode == 0
    finally:
        if proc.poll() is None:
            proc.kill()
