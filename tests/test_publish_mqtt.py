"""The publishing path against a real mosquitto with TLS, passwords and an ACL."""

from __future__ import annotations

import json
import logging
import time

import pytest

from affectedge.publish.config import PublishConfig
from affectedge.publish.mqtt_client import MqttAuthError, MqttTlsError
from affectedge.publish.outbox import Outbox
from affectedge.publish.privacy import WHITELIST, _validator
from affectedge.publish.sink import PublishSink
from affectedge.publish.topics import DeviceTopics
from affectedge.core.types import Event

from publish_fixtures import DEVICE, PREFIX, Observer, fused_windows, secure_broker, pki, start_secure_broker  # noqa: F401

TOPICS = DeviceTopics(PREFIX, DEVICE)
SUBJECT = "Alex Example"


def make_sink(broker, tmp_path, **overrides) -> PublishSink:
    cfg = PublishConfig.model_validate(broker.publish_config(tmp_path, **overrides))
    return PublishSink(cfg, DEVICE, SUBJECT)


def summaries(observer) -> list[dict]:
    return [json.loads(p) for p in observer.on(TOPICS.summary)]


def test_summaries_arrive_validated_whitelisted_with_status_and_state(secure_broker, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    obs = Observer(secure_broker)
    sink = make_sink(secure_broker, tmp_path, homeassistant_discovery=True)
    windows = fused_windows(30 * 5)  # 30 s of windows -> 6 summaries at 5 s
    sink.write_event(Event(0.0, "source_up", "physiology"))
    for w in windows[:100]:
        sink.write_window(w, ())
    sink.write_event(Event(windows[100].start, "source_down", "physiology", {"file": "x.csv", "error": "secret detail"}))
    for w in windows[100:]:
        sink.write_window(w, ())
    sink.close()
    assert obs.wait_for(lambda: len(obs.on(TOPICS.summary)) == 6 and obs.on(TOPICS.status)[-1:] == [b"offline"])
    got = summaries(obs)
    validator = _validator()
    for s in got:
        validator.validate(s)
        assert set(s) == set(WHITELIST["summary"])
        assert s["device"] == DEVICE and len(s["subject"]) == 16
    assert [s["seq"] for s in got] == list(range(1, 7))
    assert [s["period_start"] for s in got] == [0, 5, 10, 15, 20, 25]
    kinds = [e["kind"] for s in got for e in s["events"]]
    assert "zone_change" in kinds and "sensor_lost" in kinds and "sensor_up" in kinds
    assert got[-1]["sensors_live"] == []  # the physiology source went down at 20 s
    # status: online after connect, offline on a clean stop; the latest summary is the retained state
    assert obs.on(TOPICS.status) == [b"online", b"offline"]
    assert json.loads(obs.on(TOPICS.state)[-1])["seq"] == 6
    settings = json.loads(obs.on(TOPICS.settings)[-1])
    assert settings == {"schema": "affectedge.settings/1", "device": DEVICE, "paused": False, "period_s": 5.0, "rejected": None}
    assert len(obs.on(f"homeassistant/sensor/{DEVICE}/zone/config")) == 1
    # The vocal-event entity reads the non-retained summary topic (HA drops replayed retained events).
    (heard,) = [json.loads(p) for p in obs.on(f"homeassistant/event/{DEVICE}/vocal_event/config")]
    assert heard["event_types"] == ["distress", "shouting", "laughter"] and heard["state_topic"] == TOPICS.summary
    for topic, payload, _ in obs.messages:
        assert SUBJECT.encode() not in payload and b"secret detail" not in payload and b"x.csv" not in payload
    obs.close()
    assert len(Outbox(tmp_path / "outbox.sqlite", 10)) == 0
    # No secret in any log line: broker passwords, the pseudonym key, the subject's id.
    key = (tmp_path / "pseudonym.secret").read_text().strip()
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "connected to MQTT broker" in text and "Sending PUBLISH" in text  # paho's own debug log is captured too
    for secret in [*secure_broker.passwords.values(), key, SUBJECT]:
        assert secret not in text


def test_wrong_password_is_refused_and_reported_clearly(secure_broker, tmp_path, caplog):
    cfg = PublishConfig.model_validate(secure_broker.publish_config(tmp_path, password="not-the-password"))
    with pytest.raises(MqttAuthError) as info:
        PublishSink(cfg, DEVICE, SUBJECT)
    msg = str(info.value)
    assert "refused the connection" in msg and "password" in msg.lower() and f"127.0.0.1:{secure_broker.port}" in msg
    assert "not-the-password" not in msg and "not-the-password" not in caplog.text


def test_wrong_ca_is_refused(secure_broker, tmp_path):
    cfg = PublishConfig.model_validate(secure_broker.publish_config(tmp_path, ca=secure_broker.pki.wrong_ca))
    with pytest.raises(MqttTlsError) as info:
        PublishSink(cfg, DEVICE, SUBJECT)
    assert "certificate verify failed" in str(info.value).lower() and "publish.tls.ca_file" in str(info.value)


def test_writing_outside_the_acl_never_arrives(secure_broker):
    import paho.mqtt.client as mqtt

    obs = Observer(secure_broker)
    attempts = {DEVICE: ["affectedge/dev2/summary", "affectedge/dev2/set", "elsewhere/x", f"{PREFIX}/{DEVICE}/set"],
                "dashboard": [f"{PREFIX}/{DEVICE}/summary", f"{PREFIX}/{DEVICE}/status"]}
    for user, topics in attempts.items():
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"intruder-{user}")
        c.tls_set(ca_certs=str(secure_broker.pki.ca))
        c.username_pw_set(user, secure_broker.passwords[user])
        c.connect("127.0.0.1", secure_broker.port)
        c.loop_start()
        for t in topics:
            c.publish(t, b"forged", qos=1).wait_for_publish(5)
        # and one the ACL allows, as a marker that delivery works and we waited long enough
        if user == DEVICE:
            c.publish(f"{PREFIX}/{DEVICE}/status", b"online", qos=1).wait_for_publish(5)
        c.disconnect()
        c.loop_stop()
    assert obs.wait_for(lambda: obs.on(f"{PREFIX}/{DEVICE}/status") == [b"online"])
    time.sleep(0.3)
    assert all(p != b"forged" for _, p, _ in obs.messages), obs.messages
    obs.close()


def test_commands_pause_resume_and_period_are_validated(secure_broker, tmp_path):
    import paho.mqtt.client as mqtt

    obs = Observer(secure_broker)
    sink = make_sink(secure_broker, tmp_path)
    caregiver = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="caregiver")
    caregiver.tls_set(ca_certs=str(secure_broker.pki.ca))
    caregiver.username_pw_set("caregiver", secure_broker.passwords["caregiver"])
    caregiver.connect("127.0.0.1", secure_broker.port)
    caregiver.loop_start()

    def command(payload: bytes) -> dict:
        n = len(obs.on(TOPICS.settings))
        caregiver.publish(TOPICS.command, payload, qos=1).wait_for_publish(5)
        assert obs.wait_for(lambda: len(obs.on(TOPICS.settings)) > n)
        return json.loads(obs.on(TOPICS.settings)[-1])

    windows = fused_windows(200)
    for w in windows[:40]:  # 0..8 s: the first period closes, the second is still open
        sink.write_window(w, ())
    assert command(b'{"period_s": 0.5}')["rejected"] == "period_s must be a number from 1 to 3600"
    assert command(b'{"period_s": 2, "mode": "x"}')["rejected"].startswith("unknown key")
    assert command(b"pause")["paused"] is True  # drops the open period [5, 10)
    for w in windows[40:100]:  # 8..20 s: paused, nothing of this is sent
        sink.write_window(w, ())
    s = command(b'{"paused": false, "period_s": 2}')
    assert s == {"schema": "affectedge.settings/1", "device": DEVICE, "paused": False, "period_s": 2.0, "rejected": None}
    for w in windows[100:]:  # 20..40 s at 2 s periods
        sink.write_window(w, ())
    sink.close()
    assert obs.wait_for(lambda: obs.on(TOPICS.status)[-1:] == [b"offline"])
    starts = [s["period_start"] for s in summaries(obs)]
    assert starts == [0] + [20 + 2 * i for i in range(10)]
    caregiver.disconnect()
    caregiver.loop_stop()
    obs.close()


@pytest.mark.slow
@pytest.mark.parametrize("outage_s", [60.0])
def test_broker_outage_loses_nothing_and_keeps_order(tmp_path, pki, outage_s):
    """A real mosquitto stopped for ``outage_s`` mid-session, then restarted on the same port."""
    b = start_secure_broker(tmp_path / "broker", pki, persistent=True)
    # The observer keeps a persistent session (clean=False) so the broker queues for it across the restart.
    obs = Observer(b, client_id="observer-durable", clean=False)
    sink = make_sink(b, tmp_path, period_s=1.0, keepalive_s=5, drain_timeout_s=30.0)
    windows = fused_windows(5 * 120)  # 120 s of windows -> 120 one-second summaries
    for w in windows[:150]:
        sink.write_window(w, ())
    assert obs.wait_for(lambda: len(obs.on(TOPICS.summary)) == 30)
    b.broker.stop()
    t_end = time.monotonic() + outage_s
    during = windows[150:450]  # summaries keep coming during the outage and wait in the outbox
    for i, w in enumerate(during):
        sink.write_window(w, ())
        time.sleep(max(0.0, (t_end - time.monotonic()) / (len(during) - i)))
    assert len(sink.outbox) >= 55
    b.broker.start()
    for w in windows[450:]:
        sink.write_window(w, ())
    # A stop waits for the drain only while connected (with the broker away it is prompt and the
    # rest waits on disk): let the link come back first, as a running device would.
    assert obs.wait_for(lambda: sink.publisher.connected.is_set(), timeout_s=30)
    sink.close()
    assert obs.wait_for(lambda: len({s["seq"] for s in summaries(obs)}) == 120, timeout_s=30)
    seqs = [s["seq"] for s in summaries(obs)]
    first_seen = list(dict.fromkeys(seqs))  # at least once: duplicates allowed, order is not negotiable
    assert first_seen == list(range(1, 121))
    assert [json.loads(p) for p in obs.on(TOPICS.summary)][-1]["period_start"] == 119
    assert len(Outbox(tmp_path / "outbox.sqlite", 10)) == 0
    obs.close()
    b.broker.stop()


def test_restart_resumes_draining_and_seq_continues(tmp_path, pki):
    b = start_secure_broker(tmp_path / "broker", pki)
    port, ws_port, passwords = b.port, b.ws_port, b.passwords
    b.broker.stop()  # the broker is down while the device runs and stops
    sink = make_sink(b, tmp_path, drain_timeout_s=0.0)
    for w in fused_windows(100):  # 20 s -> 4 summaries
        sink.write_window(w, ())
    sink.close()  # the last partial period makes it 4; all still in the outbox
    assert len(Outbox(tmp_path / "outbox.sqlite", 10)) == 4
    b = start_secure_broker(tmp_path / "broker", pki, port=port, ws_port=ws_port, passwords=passwords)
    obs = Observer(b)
    sink = make_sink(b, tmp_path)  # the service starts again: the old rows go first
    assert obs.wait_for(lambda: len(obs.on(TOPICS.summary)) == 4)
    for w in fused_windows(25, start_k=100):
        sink.write_window(w, ())
    sink.close()
    assert obs.wait_for(lambda: len(obs.on(TOPICS.summary)) == 5)
    assert [s["seq"] for s in summaries(obs)] == [1, 2, 3, 4, 5]
    assert [s["period_start"] for s in summaries(obs)] == [0, 5, 10, 15, 20]
    obs.close()
    b.broker.stop()


def _client_as(broker, user: str):
    import paho.mqtt.client as mqtt

    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"{user}-labels")
    c.tls_set(ca_certs=str(broker.pki.ca))
    c.username_pw_set(user, broker.passwords[user])
    c.connect("127.0.0.1", broker.port)
    c.loop_start()
    return c


def test_live_labels_only_from_the_caregiver_validated_stored_once_acknowledged_and_counted(secure_broker, tmp_path):
    """Issue 24: a label pressed on the caregiver page. The caregiver role's label is stored once
    (a second delivery of the same press is a duplicate), acknowledged and counted in the summary;
    a malformed label and one for another subject are refused with a fixed reason, counted and
    said; the dashboard and device roles cannot publish labels at all (the broker's ACL); and the
    labels themselves never leave the device, only their count."""
    from affectedge.sinks.session_log import SessionLog
    from affectedge.review.log_reader import read_log

    obs = Observer(secure_broker)
    sink = make_sink(secure_broker, tmp_path)
    log = SessionLog(tmp_path / "session.sqlite", DEVICE)
    said: list = []

    def emit(event):
        said.append(event)
        log.write_event(event)

    sink.attach_events(emit)
    caregiver, dashboard = _client_as(secure_broker, "caregiver"), _client_as(secure_broker, "dashboard")
    windows = fused_windows(150)

    def feed(ws):
        for w in ws:
            sink.write_window(w, ())
            log.write_window(w, ())

    def acks() -> list[dict]:
        return [json.loads(p) for p in obs.on(f"{TOPICS.base}/label/ack")]

    feed(windows[:50])  # 10 s of session
    press = json.dumps({"label": "yellow", "id": "press-0001", "span_s": 8}).encode()
    for payload in (press, press, b'{"label": "purple", "id": "press-0002"}', b"not json",
                    json.dumps({"label": "red", "id": "press-0003", "subject": "someone-else"}).encode()):
        caregiver.publish(TOPICS.label, payload, qos=1).wait_for_publish(5)
    dashboard.publish(TOPICS.label, json.dumps({"label": "blue", "id": "press-0004"}).encode(), qos=1).wait_for_publish(5)
    # The broker delivers to the device's subscription; the sink stores at the next window.
    assert obs.wait_for(lambda: len(obs.on(TOPICS.label)) >= 5)
    deadline = time.monotonic() + 10
    k = 50
    while len(acks()) < 5 and time.monotonic() < deadline:
        feed(windows[k:k + 1])
        k += 1
        time.sleep(0.05)
    feed(windows[k:])
    sink.close()
    log.close()
    got = acks()
    assert [a["status"] for a in got] == ["stored", "duplicate", "refused", "refused", "refused"], got
    assert got[0]["id"] == "press-0001" and got[0]["labels"] == 1 and got[0]["reason"] is None
    assert got[2]["reason"].startswith("label must be one of") and got[3]["reason"].startswith("not a label")
    assert got[4]["reason"] == "label for another subject than this device's"
    for a in got:
        _validator().validate(a)
        assert set(a) == set(WHITELIST["label_ack"])
        assert b"purple" not in json.dumps(a).encode() and b"someone-else" not in json.dumps(a).encode()
    # The dashboard's label never reached the device: the ACL refused its publish.
    assert not any(p == json.dumps({"label": "blue", "id": "press-0004"}).encode() for p in obs.on(TOPICS.label)), obs.on(TOPICS.label)
    kinds = [e.kind for e in said]
    assert kinds.count("caregiver_label") == 1 and kinds.count("label_refused") == 3
    stored = read_log(tmp_path / "session.sqlite").labels
    assert len(stored) == 1 and stored[0]["label"] == "yellow" and stored[0]["origin"] == "live"
    assert stored[0]["end"] - stored[0]["start"] == pytest.approx(8.0) and stored[0]["end"] >= 10.0
    assert summaries(obs)[-1]["labels"] == 1
    assert not any(b"press-0001" in p for t, p, _ in obs.messages if t in (TOPICS.summary, TOPICS.state))  # a count, not labels
    for c in (caregiver, dashboard):
        c.disconnect()
        c.loop_stop()
    obs.close()
