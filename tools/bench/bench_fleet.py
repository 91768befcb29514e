"""Load test (a benchmark, not a timed unit test): simulated devices -> one mosquitto -> two collectors.

200 devices (by default), each publishing one summary a second over QoS 1 to a real mosquitto on
loopback, for ``--seconds``; two `affectedge collect` processes share the subscription, and one of
them is killed (SIGKILL) mid-run and restarted with its persistent session. Every summary is built
by the product's privacy gate (summary_payload) from real fused windows. Prints published,
received (distinct (device, seq) in the dataset), duplicate rows, invalid payloads, the collectors'
CPU seconds, and the end-to-end latency (created on the device -> row on disk) p50/p99.

    python -m affectedge_tools.bench.bench_fleet [--devices 200] [--seconds 30]
"""

from __future__ import annotations

import argparse
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from affectedge.publish.local_broker import MosquittoBroker
from affectedge.publish.privacy import summary_payload
from affectedge.publish.summaries import SummaryAggregator


def real_summaries(n: int):
    """n one-second summaries of a real recording's fused windows (the demo session's physiology)."""
    from affectedge.config.app import AppConfig
    from affectedge.service.assembly import build_pipeline
    from affectedge.offline.demo_session import default_session_dir, load_session

    session = load_session(default_session_dir())
    windows = []

    class Keep:
        def write_window(self, w, estimates):
            windows.append(w)

        def write_event(self, e):
            pass

        def close(self):
            pass

    cfg = AppConfig.model_validate({"sources": {"physiology": [{"backend": "replay_csv", "path": str(session.physiology.path)}]},
                                    "log": {"console": False}, "run": {"pace": "fast"}})
    build_pipeline(cfg, extra_sinks=[Keep()]).run()
    agg = SummaryAggregator(1.0)
    out = []
    for w in windows:
        out.extend(agg.add_window(w))
    return [out[i % len(out)] for i in range(n)]


def collector(out: Path, port: int, client_id: str) -> subprocess.Popen:
    p = subprocess.Popen([sys.executable, "-m", "affectedge", "collect", "--out", str(out), "--host", "127.0.0.1",
                          "--port", str(port), "--client-id", client_id, "--flush-s", "1"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    while "collecting" not in (line := p.stdout.readline()):
        if not line:
            raise RuntimeError("collector did not start")
    return p


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100.0  # utime + stime, clock ticks (100 Hz)


def main(argv: list[str] | None = None) -> int:
    import paho.mqtt.client as mqtt
    import pyarrow.dataset as ds

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=200)
    parser.add_argument("--seconds", type=int, default=30)
    args = parser.parse_args(argv)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # a socket (and a wake-up pair) per simulated device
    tmp = Path(tempfile.mkdtemp(prefix="affectedge-bench-fleet-"))
    from affectedge.publish.local_broker import free_port

    port = free_port()
    # A collector that is down has its share queued by the broker: mosquitto's default queue of
    # 1000 messages per client would drop the rest (docs/fleet.md), so the site config raises it.
    broker = MosquittoBroker(tmp / "broker", f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 1000000\n",
                             port=port, persistent=True).start()
    summaries = real_summaries(args.seconds)
    out = tmp / "dataset"
    a, b = collector(out, broker.port, "collector-a"), collector(out, broker.port, "collector-b")
    cpu = {"a": 0.0, "b": 0.0}
    clients = []
    for i in range(args.devices):
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"dev-{i:03d}")
        c.connect("127.0.0.1", broker.port)
        c.loop_start()
        clients.append(c)
    published = 0
    t0 = time.monotonic()
    for second, s in enumerate(summaries):
        infos = []
        for i, c in enumerate(clients):
            payload = summary_payload(s, device=f"dev-{i:03d}", seq=second + 1, subject=None)
            infos.append(c.publish(f"affectedge/dev-{i:03d}/summary", payload.text, qos=1))
        for info in infos:
            info.wait_for_publish(10)
        published += len(infos)
        if second == len(summaries) // 2:
            cpu["b"] += cpu_seconds(b.pid)
            b.send_signal(signal.SIGKILL)
            b.wait()
        if second == len(summaries) // 2 + 3:
            b = collector(out, broker.port, "collector-b")
        time.sleep(max(0.0, t0 + second + 1 - time.monotonic()))
    for c in clients:
        c.loop_stop()
        c.disconnect()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        files = list(out.glob("device=*/day=*/*.parquet"))
        n = ds.dataset(files, format="parquet").count_rows() if files else 0
        if n >= published:
            break
        time.sleep(1)
    time.sleep(2)
    cpu["a"] += cpu_seconds(a.pid)
    cpu["b"] += cpu_seconds(b.pid)
    for p in (a, b):
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=30)
    broker.stop()
    table = ds.dataset(out, format="parquet", partitioning="hive", exclude_invalid_files=True).to_table(
        columns=["device", "seq", "created_utc", "received_utc"])
    keys = list(zip(table.column("device").to_pylist(), table.column("seq").to_pylist()))
    from affectedge.fleet.collector import _utc_seconds

    lat = np.array([_utc_seconds(r) - _utc_seconds(c) for c, r in zip(table.column("created_utc").to_pylist(),
                                                                          table.column("received_utc").to_pylist())])
    invalid = sum(len(f.read_text().splitlines()) for f in (out / "invalid").glob("*.jsonl")) if (out / "invalid").exists() else 0
    print(f"{args.devices} devices x {len(summaries)} s, QoS 1, one mosquitto on loopback, 2 collectors (one killed and restarted)")
    print(f"published {published}, received {len(set(keys))} distinct, rows {len(keys)} (duplicate rows {len(keys) - len(set(keys))}), invalid {invalid}")
    print(f"received = published: {len(set(keys)) == published}")
    print(f"collector CPU: {cpu['a'] + cpu['b']:.1f} s for {published} summaries ({(cpu['a'] + cpu['b']) / published * 1000:.2f} ms each)")
    print(f"latency created -> received by a collector: p50 {np.percentile(lat, 50) * 1000:.0f} ms, p99 {np.percentile(lat, 99) * 1000:.0f} ms")
    return 0 if len(set(keys)) == published and len(keys) == len(set(keys)) else 1


if __name__ == "__main__":
    raise SystemExit(main())
