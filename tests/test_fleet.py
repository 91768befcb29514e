"""A fleet site: `affectedge fleet provision` against a real mosquitto using what it generated
(TLS with client certificates from the site CA, mosquitto-format passwords, the ACL)."""

from __future__ import annotations

import ssl
import stat
import time
from pathlib import Path

import pytest
import yaml

from affectedge.cli import main
from affectedge.publish.config import PublishConfig
from affectedge.publish.local_broker import MosquittoBroker, free_port
from affectedge.publish.sink import PublishSink
from publish_fixtures import fused_windows, need_mosquitto

pytest.importorskip("cryptography", reason="provisioning issues certificates with cryptography (secure extra)")
mqtt = pytest.importorskip("paho.mqtt.client", reason="the test talks MQTT with paho (mqtt extra)")


def start_site_broker(site: Path, port: int) -> MosquittoBroker:
    need_mosquitto()
    conf = (site / "broker" / "mosquitto.conf").read_text().replace("listener 8883\n", f"listener {port} 127.0.0.1\n")
    return MosquittoBroker(site / "broker" / "run", conf, port=port).start()


def client(site: Path, user: str, port: int, cert: bool = True, password: str | None = None):
    folder = site / ("services" if user in ("collector", "dashboard") else "devices") / user
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-{user}-{time.time_ns()}")
    c.tls_set(ca_certs=str(site / "ca" / "ca.crt"), certfile=str(folder / "client.crt") if cert else None,
              keyfile=str(folder / "client.key") if cert else None)
    c.username_pw_set(user, password or (folder / "password").read_text().strip())
    return c


def connects(c, port: int) -> bool:
    result = []
    c.on_connect = lambda cl, u, f, rc, p: result.append(rc.is_failure is False)
    try:
        c.connect("127.0.0.1", port)
    except (ssl.SSLError, OSError):
        return False
    c.loop_start()
    deadline = time.monotonic() + 5
    while not result and time.monotonic() < deadline:
        time.sleep(0.05)
    c.loop_stop()
    c.disconnect()
    return bool(result and result[0])


def test_provisioned_devices_write_only_their_own_topics_and_a_rerun_breaks_nobody(tmp_path, capsys):
    site = tmp_path / "site"
    port = free_port()
    assert main(["fleet", "provision", "--site", str(site), "--devices", "dev-01", "dev-02", "--broker-host", "127.0.0.1",
                 "--port", str(port)]) == 0
    printed = capsys.readouterr().out
    secrets_ = [(p / "password").read_text().strip() for p in (site / "devices").iterdir()]
    assert secrets_ and not any(s in printed for s in secrets_)  # never printed
    for secret in [*site.glob("devices/*/client.key"), *site.glob("devices/*/password"), site / "ca" / "ca.key",
                   site / "broker" / "passwd", site / "broker" / "acl", site / "broker" / "server.key"]:
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600, secret
    broker = start_site_broker(site, port)
    try:
        # The collector reads every device's summaries.
        got = []
        coll = client(site, "collector", port)
        coll.on_message = lambda c, u, m: got.append(m.topic)
        coll.connect("127.0.0.1", port)
        coll.subscribe("affectedge/+/summary", qos=1)
        coll.loop_start()
        time.sleep(0.5)
        # dev-01 publishes through the product's own publisher with the generated config snippet.
        snippet = yaml.safe_load((site / "devices" / "dev-01" / "affectedge.yaml").read_text())["publish"]
        folder = site / "devices" / "dev-01"
        snippet.update(password_file=str(folder / "password"), outbox=str(tmp_path / "outbox.sqlite"),
                       pseudonym_secret_file=str(tmp_path / "pseudonym.secret"), period_s=1.0,
                       tls={"ca_file": str(folder / "ca.crt"), "cert_file": str(folder / "client.crt"), "key_file": str(folder / "client.key")})
        sink = PublishSink(PublishConfig.model_validate(snippet), "dev-01", "child-1")
        for w in fused_windows(5 * 4):
            sink.write_window(w, ())
        sink.close()
        # dev-01 tries to write dev-02's topic: the ACL drops it.
        rogue = client(site, "dev-01", port)
        rogue.connect("127.0.0.1", port)
        rogue.loop_start()
        rogue.publish("affectedge/dev-02/summary", b"{}", qos=1).wait_for_publish(5)
        rogue.loop_stop()
        rogue.disconnect()
        deadline = time.monotonic() + 10
        while len(got) < 4 and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)
        coll.loop_stop()
        coll.disconnect()
        assert got and set(got) == {"affectedge/dev-01/summary"}
        assert not connects(client(site, "dev-01", port, cert=False), port)  # no client certificate: refused
        assert not connects(client(site, "dev-01", port, password="guessed"), port)
    finally:
        broker.stop()

    before = {p: p.read_bytes() for p in (site / "devices" / "dev-01").iterdir()}
    old_dev2 = (site / "devices" / "dev-02" / "password").read_text().strip()
    assert main(["fleet", "provision", "--site", str(site), "--devices", "dev-03", "--rotate", "dev-02",
                 "--broker-host", "127.0.0.1", "--port", str(port)]) == 0
    assert "1 added, 1 kept unchanged, 1 rotated" in capsys.readouterr().out
    assert {p: p.read_bytes() for p in (site / "devices" / "dev-01").iterdir()} == before  # untouched
    broker = start_site_broker(site, port)
    try:
        assert connects(client(site, "dev-01", port), port)  # a deployed device keeps working
        assert connects(client(site, "dev-03", port), port)
        assert connects(client(site, "dev-02", port), port)  # with its new credentials
        assert not connects(client(site, "dev-02", port, password=old_dev2), port)
    finally:
        broker.stop()


def _publish_devices(port: int, tmp_path: Path, devices: list[str], n_windows: int) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def one(device: str) -> None:
        cfg = PublishConfig.model_validate({"host": "127.0.0.1", "port": port, "period_s": 1.0,
                                            "outbox": str(tmp_path / f"{device}.outbox"), "pseudonym_secret_file": str(tmp_path / f"{device}.secret")})
        sink = PublishSink(cfg, device, "child")
        for w in fused_windows(n_windows):
            sink.write_window(w, ())
        sink.close()

    with ThreadPoolExecutor(len(devices)) as pool:
        list(pool.map(one, devices))


def _collector(out: Path, port: int, client_id: str):
    import subprocess
    import sys

    return subprocess.Popen([sys.executable, "-m", "affectedge", "collect", "--out", str(out), "--host", "127.0.0.1",
                             "--port", str(port), "--client-id", client_id, "--flush-s", "0.5"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait_line(proc, word: str) -> None:
    while True:
        line = proc.stdout.readline()
        assert line, "collector exited"
        if word in line:
            return


def test_two_collectors_share_the_feed_one_is_killed_and_nothing_is_lost_or_doubled(tmp_path):
    import json
    import signal

    import pyarrow.dataset as ds

    need_mosquitto()
    broker = MosquittoBroker(tmp_path / "broker", persistent=True).start()
    out = tmp_path / "dataset"
    devices = [f"dev-{i:02d}" for i in range(6)]
    a, b = _collector(out, broker.port, "collector-a"), _collector(out, broker.port, "collector-b")
    try:
        _wait_line(a, "collecting")
        _wait_line(b, "collecting")
        _publish_devices(broker.port, tmp_path, devices[:3], 5 * 6)   # 6 s of windows each: 6 summaries
        b.send_signal(signal.SIGKILL)                                 # one collector dies mid-run
        b.wait()
        _publish_devices(broker.port, tmp_path, devices[3:], 5 * 6)   # the survivor takes the rest
        rogue = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="rogue")
        rogue.connect("127.0.0.1", broker.port)
        rogue.loop_start()
        rogue.publish("affectedge/dev-00/summary", b'{"schema": "affectedge.summary/1", "device": "dev-00"}', qos=1).wait_for_publish(5)
        rogue.loop_stop()
        rogue.disconnect()
        b = _collector(out, broker.port, "collector-b")               # back with its persistent session
        _wait_line(b, "collecting")
        time.sleep(3)
    finally:
        for p in (a, b):
            p.send_signal(signal.SIGTERM)
        outputs = [p.communicate(timeout=30)[0] for p in (a, b)]
        broker.stop()
    table = ds.dataset(out, format="parquet", partitioning="hive",
                       exclude_invalid_files=True).to_table(columns=["device", "seq"])
    keys = list(zip(table.column("device").to_pylist(), table.column("seq").to_pylist()))
    assert len(keys) == len(set(keys)), "no duplicate rows"
    assert sorted(set(keys)) == sorted((d, s) for d in devices for s in range(1, 7)), "received = published"
    invalid = [json.loads(line) for f in (out / "invalid").glob("*.jsonl") for line in f.read_text().splitlines()]
    assert len(invalid) == 1 and "lacks" in invalid[0]["reason"] and invalid[0]["topic"] == "affectedge/dev-00/summary"
    assert all("received" in o for o in outputs), outputs


def test_a_device_behind_a_local_bridge_loses_nothing_through_both_outages(tmp_path):
    """Two real mosquittos: the site's central broker (the provisioned config) and one on the device
    bridged to it (the provisioned bridge config). The central broker goes away (the bridge queues
    on the device), then the device's own broker goes away (the service's outbox queues)."""
    import threading

    import pyarrow.dataset as ds

    from affectedge.fleet.collector import Collector

    need_mosquitto()
    site, central_port, local_port = tmp_path / "site", free_port(), free_port()
    assert main(["fleet", "provision", "--site", str(site), "--devices", "dev-01", "--broker-host", "127.0.0.1",
                 "--port", str(central_port)]) == 0
    conf = (site / "broker" / "mosquitto.conf").read_text().replace("listener 8883\n", f"listener {central_port} 127.0.0.1\n")
    central = MosquittoBroker(site / "broker" / "run", conf, port=central_port, persistent=True).start()
    dev = site / "devices" / "dev-01"
    bridge = ((dev / "mosquitto-bridge.conf").read_text()
              .replace("/etc/affectedge/", f"{dev}/").replace("listener 1883 127.0.0.1", f"listener {local_port} 127.0.0.1")
              .replace("persistence true\npersistence_location /var/lib/mosquitto/\n", ""))
    local = MosquittoBroker(tmp_path / "local", bridge, port=local_port, persistent=True).start()
    svc = site / "services" / "collector"
    coll = Collector(tmp_path / "dataset", "127.0.0.1", central_port, username="collector",
                     password=(svc / "password").read_text().strip(), client_id="collector-1", flush_s=0.3,
                     tls={"ca_certs": str(site / "ca" / "ca.crt"), "certfile": str(svc / "client.crt"), "keyfile": str(svc / "client.key")})
    coll.start()
    runner = threading.Thread(target=coll.run)
    runner.start()
    cfg = PublishConfig.model_validate({"host": "127.0.0.1", "port": local_port, "period_s": 1.0, "drain_timeout_s": 20.0,
                                        "outbox": str(tmp_path / "outbox.sqlite"), "pseudonym_secret_file": str(tmp_path / "p.secret")})
    sink = PublishSink(cfg, "dev-01", "child")
    windows = fused_windows(5 * 15)  # 15 one-second summaries

    def seqs() -> set:
        files = list((tmp_path / "dataset").glob("device=*/day=*/*.parquet"))
        return set(ds.dataset(files, format="parquet").to_table(columns=["seq"]).column("seq").to_pylist()) if files else set()

    def wait_for(n: int, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(seqs()) >= n:
                return True
            time.sleep(0.2)
        return False

    try:
        for w in windows[:25]:
            sink.write_window(w, ())
        assert wait_for(5)
        central.stop()                       # the site network is down: the bridge queues on the device
        for w in windows[25:50]:
            sink.write_window(w, ())
        time.sleep(1.0)
        central.start()
        assert wait_for(10), seqs()
        local.stop()                         # the device's broker is down: the service's outbox queues
        for w in windows[50:]:
            sink.write_window(w, ())
        time.sleep(1.0)
        assert len(sink.outbox) >= 3
        local.start()
        assert wait_for(15), seqs()
    finally:
        sink.close()
        coll.stop()
        runner.join(timeout=30)
        local.stop()
        central.stop()
    assert seqs() == set(range(1, 16)) and coll.stats.duplicates >= 0 and coll.stats.invalid == 0


def test_review_and_export_across_devices_query_the_dataset_with_duckdb(tmp_path):
    """The collector's dataset (real summaries through a real broker) reviewed and exported by
    device, subject and time range; the per-device figures checked against pyarrow's own."""
    import csv
    import threading

    import pyarrow.dataset as ds
    from html.parser import HTMLParser

    from affectedge.fleet.collector import Collector

    pytest.importorskip("duckdb", reason="review across devices runs on DuckDB (fleet extra)")
    need_mosquitto()
    broker = MosquittoBroker(tmp_path / "broker").start()
    coll = Collector(tmp_path / "dataset", "127.0.0.1", broker.port, client_id="c1", flush_s=0.3)
    coll.start()
    runner = threading.Thread(target=coll.run)
    runner.start()
    try:
        _publish_devices(broker.port, tmp_path, ["dev-00", "dev-01", "dev-02"], 5 * 8)
        deadline = time.monotonic() + 20
        while coll.stats.written < 24 and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        coll.stop()
        runner.join(30)
        broker.stop()
    dataset = tmp_path / "dataset"
    truth = ds.dataset(dataset, format="parquet", partitioning="hive", exclude_invalid_files=True).to_table().to_pandas()
    assert len(truth) == 24

    class Rows(HTMLParser):
        def __init__(self):
            super().__init__()
            self.devices, self.cells, self._in = [], [], False

        def handle_starttag(self, tag, attrs):
            if tag == "tr" and dict(attrs).get("data-device"):
                self.devices.append(dict(attrs)["data-device"])
                self.cells.append([])
            self._in = tag == "td"

        def handle_data(self, data):
            if self._in and self.cells:
                self.cells[-1].append(data)
                self._in = False

    assert main(["review", str(dataset), "--out", str(tmp_path / "review")]) == 0
    page = Rows()
    page.feed((tmp_path / "review" / "site-report.html").read_text())
    assert page.devices == ["dev-00", "dev-01", "dev-02"]
    summaries = {d: int(c[1]) for d, c in zip(page.devices, page.cells)}
    assert summaries == truth.groupby("device").size().to_dict()
    confidence_col = 14  # device, summaries, subjects, first, last, windows, with data, 4 zones, valence, arousal, confidence
    for d, c in zip(page.devices, page.cells):
        assert float(c[confidence_col - 1]) == pytest.approx(truth[truth.device == d].confidence.mean(), abs=1e-3)
    assert main(["review", str(dataset), "--device", "dev-01", "--out", str(tmp_path / "one")]) == 0
    one = Rows()
    one.feed((tmp_path / "one" / "site-report.html").read_text())
    assert one.devices == ["dev-01"]
    assert main(["export", str(dataset), "--device", "dev-02", "--format", "csv", "--out", str(tmp_path / "export")]) == 0
    with (tmp_path / "export" / "summaries.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [int(r["seq"]) for r in rows] == list(range(1, 9)) and {r["device"] for r in rows} == {"dev-02"}
    late = sorted(truth.created_utc)[12]
    assert main(["export", str(dataset), "--from", late, "--format", "csv", "--out", str(tmp_path / "late")]) == 0
    with (tmp_path / "late" / "summaries.csv").open() as f:
        assert len(list(csv.DictReader(f))) == sum(truth.created_utc >= late)
