"""`affectedge collect`: every device's summaries into one Parquet dataset, by device and day.

The collector subscribes through an MQTT 5 shared subscription (``$share/<group>/<prefix>/+/summary``)
so several collectors split the load and one may die; its session persists (clean start off,
a session expiry), so what the broker kept while it was away arrives when it is back. Each payload
is checked by the privacy gate's own check (JSON, whitelisted fields, the shipped schema): an
invalid one is counted and kept aside in ``invalid/<day>.jsonl``, never dropped silently. Rows
are deduplicated by (device, seq) (delivery is at least once), buffered, and appended as Parquet
files under ``device=<id>/day=<YYYY-MM-DD>/`` at least every ``flush_s``. A message is
acknowledged to the broker only once its row is on disk, so a collector killed mid-run loses
nothing the broker still holds.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..core.errors import AffectEdgeError
from ..publish.privacy import PrivacyGateError, regate
from ..core.extras import require_module
from ..core.types import MODALITIES, ZONES

log = logging.getLogger(__name__)


class CollectorError(AffectEdgeError):
    """The collector cannot start (broker refused, bad dataset folder)."""


@dataclass
class CollectorStats:
    received: int = 0
    written: int = 0
    duplicates: int = 0
    invalid: int = 0
    flushes: int = 0


def summary_row(p: dict, received_utc: str) -> dict:
    """One summary payload as a flat row (one column per field)."""
    z = p.get("zone_shares") or {}
    cov = p.get("coverage") or {}
    top = p.get("top_emotion") or {}
    return {
        "device": p["device"], "seq": p["seq"], "subject": p.get("subject"), "created_utc": p["created_utc"],
        "received_utc": received_utc, "period_start": p["period_start"], "period_end": p["period_end"],
        "windows": p["windows"], "windows_with_data": p["windows_with_data"], "zone": p.get("zone"),
        **{f"zone_share_{k}": z.get(k) for k in ZONES},
        "valence_mean": (p.get("valence") or {}).get("mean"), "valence_trend": (p.get("valence") or {}).get("trend_per_min"),
        "arousal_mean": (p.get("arousal") or {}).get("mean"), "arousal_trend": (p.get("arousal") or {}).get("trend_per_min"),
        "top_emotion": top.get("label"), "top_probability": top.get("probability"), "confidence": p["confidence"],
        **{f"coverage_{m}": cov.get(m) for m in MODALITIES},
        "sensors_live": ",".join(p.get("sensors_live") or []), "events": json.dumps(p.get("events") or []),
        "faces_in_view": p.get("faces_in_view"),
    }


class Collector:
    """One collector process (see the module docstring). ``run()`` until ``stop()``."""

    def __init__(self, out: Path, host: str, port: int, prefix: str = "affectedge", group: str = "collectors",
                 client_id: str = "affectedge-collector", username: Optional[str] = None, password: Optional[str] = None,
                 tls: Optional[dict] = None, flush_s: float = 2.0, session_expiry_s: int = 86_400):
        self.out = Path(out)
        self.host, self.port, self.prefix, self.group = host, port, prefix, group
        self.client_id, self.username, self.password, self.tls = client_id, username, password, tls
        self.flush_s, self.session_expiry_s = flush_s, session_expiry_s
        self.stats = CollectorStats()
        self._seen: set[tuple[str, int]] = self._load_seen()
        self._rows: list[tuple[dict, int]] = []  # row, message id to acknowledge once it is on disk
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._client = None

    # -- dataset -----------------------------------------------------------------------------

    def _load_seen(self) -> set[tuple[str, int]]:
        files = list(self.out.glob("device=*/day=*/*.parquet")) if self.out.is_dir() else []
        if not files:
            return set()
        pq = require_module("pyarrow.parquet", "collector (Parquet)", "analyse")
        seen = set()
        for f in files:
            device = f.parent.parent.name.split("=", 1)[1]
            seen.update((device, int(s)) for s in pq.read_table(f, columns=["seq"]).column("seq").to_pylist())
        return seen

    def flush(self) -> int:
        """Write the buffered rows (one file per device and day), then acknowledge their messages."""
        with self._lock:
            rows, self._rows = self._rows, []
        if not rows:
            return 0
        import pyarrow as pa
        import pyarrow.parquet as pq

        groups: dict[tuple[str, str], list[dict]] = {}
        for row, _ in rows:
            groups.setdefault((row["device"], row["created_utc"][:10]), []).append(row)
        for (device, day), items in groups.items():
            folder = self.out / f"device={device}" / f"day={day}"
            folder.mkdir(parents=True, exist_ok=True)
            table = pa.Table.from_pylist([{k: v for k, v in r.items() if k != "device"} for r in items])
            tmp = folder / f".part-{uuid.uuid4().hex}.parquet.tmp"
            pq.write_table(table, tmp)
            tmp.rename(folder / f"part-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}.parquet")
        for _, mid in rows:
            if mid and self._client is not None:
                self._client.ack(mid, 1)
        self.stats.written += len(rows)
        self.stats.flushes += 1
        return len(rows)

    def _keep_invalid(self, topic: str, text: str, error: str) -> None:
        self.stats.invalid += 1
        folder = self.out / "invalid"
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / f"{time.strftime('%Y-%m-%d', time.gmtime())}.jsonl").open("a", encoding="utf-8") as f:
            f.write(json.dumps({"received_utc": _utc_now(), "topic": topic, "error": error, "payload": text}) + "\n")

    # -- MQTT --------------------------------------------------------------------------------

    def _on_message(self, client, userdata, message) -> None:
        self.stats.received += 1
        text = message.payload.decode("utf-8", errors="replace")
        try:
            payload = json.loads(regate("summary", text, where="from the feed").text)
            if message.topic != f"{self.prefix}/{payload['device']}/summary":
                raise PrivacyGateError(f"device {payload['device']!r} does not match the topic")
        except PrivacyGateError as exc:
            self._keep_invalid(message.topic, text, str(exc))
            client.ack(message.mid, 1)
            return
        key = (payload["device"], int(payload["seq"]))
        with self._lock:
            if key in self._seen:
                self.stats.duplicates += 1
                duplicate = True
            else:
                self._seen.add(key)
                self._rows.append((summary_row(payload, _utc_now()), message.mid))
                duplicate = False
        if duplicate:
            client.ack(message.mid, 1)

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.error("MQTT broker %s:%d refused the collector: %s", self.host, self.port, reason_code)
            return
        client.subscribe(f"$share/{self.group}/{self.prefix}/+/summary", qos=1)
        self._connected.set()

    def start(self) -> None:
        mqtt = require_module("paho.mqtt.client", "collector", "mqtt")
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=mqtt.MQTTv5,
                             manual_ack=True)
        if self.username:
            client.username_pw_set(self.username, self.password)
        if self.tls:
            client.tls_set(**self.tls)
        client.on_connect = self._on_connect
        client.on_message = self._on_message
        # Back within 1-2 s of a broker restart: before the devices' bridges (5-30 s), since a
        # mosquitto broker does not restore shared subscriptions after its own restart.
        client.reconnect_delay_set(min_delay=1, max_delay=2)
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.session_expiry_s  # the broker keeps our subscription and messages while we are away
        self._client = client
        try:
            client.connect(self.host, self.port, clean_start=False, properties=props)
        except OSError as exc:
            raise CollectorError(f"MQTT broker {self.host}:{self.port} unreachable ({exc})") from None
        client.loop_start()
        if not self._connected.wait(10):
            raise CollectorError(f"MQTT broker {self.host}:{self.port}: no subscription within 10 s")

    def run(self) -> None:
        """Flush on the interval until stopped; then flush the rest and disconnect."""
        while not self._stop.wait(self.flush_s):
            self.flush()
        self.flush()
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()

    def stop(self) -> None:
        self._stop.set()


def _utc_now() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int((t % 1) * 1000):03d}Z"


def _utc_seconds(text: str) -> Optional[float]:
    import calendar

    try:
        base, _, frac = text.rstrip("Z").partition(".")
        return calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S")) + (float("0." + frac) if frac else 0.0)
    except ValueError:
        return None
