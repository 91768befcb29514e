"""The demo publishes: everything on the broker during the demo session passes the schema and the whitelist."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import threading

from affectedge.offline.demo import run_demo
from affectedge.publish.local_broker import MosquittoBroker
from affectedge.publish.privacy import STATUS_VALUES, WHITELIST, _validator
from affectedge.publish.topics import DeviceTopics
from publish_fixtures import need_mosquitto

DEMO = DeviceTopics("affectedge", "affectedge-demo")


def test_every_message_during_the_demo_matches_schema_and_whitelist(demo_session, tmp_path, capsys):
    import paho.mqtt.client as mqtt

    need_mosquitto()
    broker = MosquittoBroker(tmp_path / "broker").start()
    got: list[tuple[str, bytes]] = []
    subscribed = threading.Event()
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="capture-all")
    c.on_connect = lambda cl, u, f, rc, p: cl.subscribe("#", qos=1)
    c.on_subscribe = lambda *a: subscribed.set()
    c.on_message = lambda cl, u, m: got.append((m.topic, bytes(m.payload)))
    c.connect(broker.host, broker.port)
    c.loop_start()
    try:
        assert subscribed.wait(10)
        assert run_demo(tmp_path / "out", demo_session.root, broker=f"{broker.host}:{broker.port}") == 0
        out = capsys.readouterr().out
        n = math.ceil(demo_session.duration_s / 5 - 1e-9)  # the last period may be partial
        assert f"published      {n} summaries, {n} acknowledged (PUBACK)" in out
    finally:
        c.disconnect()
        c.loop_stop()
        broker.stop()
    by_topic: dict[str, list[bytes]] = {}
    for topic, payload in got:
        by_topic.setdefault(topic, []).append(payload)
    assert set(by_topic) == {DEMO.status, DEMO.summary, DEMO.state, DEMO.settings}, set(by_topic)
    full = _validator()
    for topic, payload in got:
        if topic == DEMO.status:
            assert payload.decode() in STATUS_VALUES
            continue
        data = json.loads(payload)
        full.validate(data)  # every JSON payload is one of the schema's closed objects
        kind = "settings" if topic == DEMO.settings else "summary"
        assert set(data) == set(WHITELIST[kind])
        assert b"demo-subject" not in payload  # the subject id travels only as its keyed pseudonym
    summaries = [json.loads(p) for p in by_topic[DEMO.summary]]
    assert [s["seq"] for s in summaries] == list(range(1, n + 1))
    assert all(s["coverage"]["physiology"] > 0 for s in summaries[1:-1])
    assert len({s["subject"] for s in summaries}) == 1
    assert by_topic[DEMO.status] == [b"online", b"offline"]
    # What was heard leaves as an event name, a peak score and seconds, nothing else; only the
    # summaries over the crying span carry it, none over the speech before it.
    cry_start = min(seg["start_s"] for seg in _segments(demo_session) if "donateacry" in seg["source"])
    heard = [s for s in summaries if s["vocal_events"]]
    assert heard and all(set(s["vocal_events"]) == {"distress"} for s in heard)
    assert all(set(v) == {"confidence", "seconds"} for s in heard for v in s["vocal_events"].values())
    assert min(s["period_end"] for s in heard) > cry_start
    assert sum(s["vocal_events"]["distress"]["seconds"] for s in heard) > 10


def _segments(session) -> list[dict]:
    import yaml

    return yaml.safe_load((session.root / "session.yaml").read_text())["microphone"]["segments"]


def test_demo_without_a_broker_falls_back_to_amqtt_and_says_so(demo_session, tmp_path):
    r = subprocess.run([sys.executable, "-m", "affectedge", "demo", "--out", str(tmp_path), "--session", str(demo_session.root),
                        "--embedded-broker", "amqtt"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "publishing to an embedded broker, amqtt (pure-Python fallback) on 127.0.0.1:" in r.stdout
    n = math.ceil(demo_session.duration_s / 5 - 1e-9)  # the last period may be partial
    assert f"published      {n} summaries, {n} acknowledged (PUBACK)" in r.stdout
