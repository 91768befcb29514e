"""`affectedge collect`: every device's summaries into one Parquet dataset, by device and day.

The collector subscribes through an MQTT 5 shared subscription (``$share/<group>/<prefix>/+/summary``)
so several collectors split the load and one may die; its session persists (clean start off,
a session expiry), so what the broker kept while it was away arrives when it is back. Each payload
is checked by the privacy gate's own check (JSON, whitelisted fields, the shipped schema): an
invalid one is counted and its diagnosis kept in ``invalid/<day>.jsonl`` (mode 0600): the topic, the
device the topic names, the time, the size, the reason, the names of fields outside the whitelist
and a sha256 of the payload, never the payload itself (a rejected payload is exactly the one that
may carry a name, audio or a note); each file stops at ``invalid_max_bytes`` and the folder keeps
the newest ``invalid_keep_files`` files. Rows
are deduplicated by (device, seq) (delivery is at least once), buffered, and appended as Parquet
files under ``device=<id>/day=<YYYY-MM-DD>/`` at least every ``flush_s``. A message is
acknowledged to the broker only once its row is on disk, so a collector killed mid-run loses
nothing the broker still holds.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..core.errors import AffectEdgeError
from ..publish.privacy import WHITELIST, PrivacyGateError, regate
from ..core.extras import require_module
from ..core.types import MODALITIES, ZONES

log = logging.getLogger(__name__)

_PLAIN_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_DEVICE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


def invalid_diagnosis(topic: str, raw: bytes, reason: str, received_utc: str) -> dict:
    """What a rejected payload's record keeps: enough to find the sender and the fault, nothing of
    the payload's content (field names outside the whitelist only when they are plain names)."""
    parts = topic.split("/")
    device = parts[1] if len(parts) == 3 and _DEVICE.fullmatch(parts[1]) else None
    extra: Optional[list[str]] = None
    try:
        fields = json.loads(raw)
    except ValueError:
        fields = None
    if isinstance(fields, dict):
        outside = sorted(set(map(str, fields)) - set(WHITELIST["summary"]))
        extra = [k if _PLAIN_NAME.fullmatch(k) else f"<{len(k)} characters>" for k in outside[:20]]
        if len(outside) > 20:
            extra.append(f"<{len(outside) - 20} more>")
    return {"received_utc": received_utc, "topic": topic[:200], "device": device, "size_bytes": len(raw),
            "sha256": hashlib.sha256(raw).hexdigest(), "reason": reason[:300], "fields_outside_whitelist": extra}


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
        "faces_in_view": p.get("faces_in_view"), "vocal_events": json.dumps(p.get("vocal_events") or {}, sort_keys=True),
    }


class Collector:
    """One collector process (see the module docstring). ``run()`` until ``stop()``."""

    def __init__(self, out: Path, host: str, port: int, prefix: str = "affectedge", group: str = "collectors",
                 client_id: str = "affectedge-collector", username: Optional[str] = None, password: Optional[str] = None,
                 tls: Optional[dict] = None, flush_s: float = 2.0, session_expiry_s: int = 86_400,
                 invalid_max_bytes: int = 1 << 20, invalid_keep_files: int = 14):
        self.out = Path(out)
        self.host, self.port, self.prefix, self.group = host, port, prefix, group
        self.client_id, self.username, self.password, self.tls = client_id, username, password, tls
        self.flush_s, self.session_expiry_s = flush_s, session_expiry_s
        self.invalid_max_bytes, self.invalid_keep_files = invalid_max_bytes, invalid_keep_files
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

    def _keep_invalid(self, topic: str, raw: bytes, reason: str) -> None:
        folder = self.out / "invalid"
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        line = (json.dumps(invalid_diagnosis(topic, raw, reason, _utc_now())) + "\n").encode()
        day = time.strftime("%Y-%m-%d", time.gmtime())
        path = folder / f"{day}.jsonl"
        n = 0
        while path.exists() and path.stat().st_size + len(line) > self.invalid_max_bytes:
            n += 1  # today's file is full: the next part (a flood of bad payloads rotates, never grows without bound)
            path = folder / f"{day}.{n}.jsonl"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "ab") as f:
            f.write(line)
        files = sorted(folder.glob("*.jsonl"), key=lambda q: q.stat().st_mtime_ns)
        for old in files[: max(0, len(files) - self.invalid_keep_files)]:
            old.unlink(missing_ok=True)
        self.stats.invalid += 1  # counted once its record is on disk

    # -- MQTT --------------------------------------------------------------------------------

    def _on_message(self, client, userdata, message) -> None:
        self.stats.received += 1
        raw = bytes(message.payload)
        try:
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise PrivacyGateError("summary payload from the feed is not UTF-8") from None
            payload = json.loads(regate("summary", text, where="from the feed").text)
            if message.topic != f"{self.prefix}/{payload['device']}/summary":
                raise PrivacyGateError("the payload's device does not match the topic")
        except PrivacyGateError as exc:
            self._keep_invalid(message.topic, raw, str(exc))
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
        # Like the device: a broker that is not up yet (the site restarting, the collector started
        # first) is retried with back-off, saying so, instead of exiting.
        client.connect_async(self.host, self.port, clean_start=False, properties=props)
        client.loop_start()  # retries the first connection too
        waited, said = 0.0, False
        while not self._connected.wait(1.0):
            waited += 1.0
            if self._stop.is_set():
                raise CollectorError(f"stopped while waiting for the MQTT broker {self.host}:{self.port}")
            if waited >= 5 and not said:
                print(f"waiting for the MQTT broker at {self.host}:{self.port} (retrying every 1-2 s; Ctrl-C to give up)", flush=True)
                said = True

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
