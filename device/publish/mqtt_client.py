"""The MQTT link (paho-mqtt, v2 callback API): QoS 1, last will, outbox draining, commands.

Threads: paho's network thread runs the callbacks; one drain thread owns the map from paho
message ids to outbox rows. Callbacks never take a lock the drain thread holds across
``client.publish`` (paho calls on_publish under its own message mutex, so that would deadlock);
they hand acks over through a queue instead.

Messages handed to paho stay in paho's queue until their PUBACK, and paho resends them in order
after a reconnect, so the drain thread never hands a row twice within one process. After a
restart every row still in the outbox is handed again, oldest first (at least once: consumers
dedupe on the summary's ``seq``).
"""

from __future__ import annotations

import logging
import queue
import ssl
import threading
import time
from collections import deque
from typing import Callable, Optional

from ..core.errors import AffectEdgeError
from ..core.extras import require_module
from .config import PublishConfig
from .outbox import Outbox
from .privacy import GatedPayload, PrivacyGateError, gate_status, regate
from .topics import OFFLINE, ONLINE, DeviceTopics

log = logging.getLogger("affectedge.publish")

MAX_HANDED = 50  # rows handed to paho and not yet acknowledged
QOS = 1


class MqttError(AffectEdgeError):
    """The MQTT link cannot be set up."""


class MqttAuthError(MqttError):
    """The broker refused our credentials or our client."""


class MqttTlsError(MqttError):
    """The TLS handshake failed (wrong CA, wrong host name, broker without TLS)."""


def _read_password(config: PublishConfig) -> Optional[str]:
    if config.password_file is None:
        return None
    try:
        lines = config.password_file.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise MqttError(f"{config.password_file}: cannot read the MQTT password file ({exc.strerror})") from None
    if not lines or not lines[0]:
        raise MqttError(f"{config.password_file}: the MQTT password file is empty")
    return lines[0]


class MqttPublisher:
    """Publishes outbox rows in order over one MQTT connection.

    ``on_command(payload_bytes)`` runs on paho's thread for every message on the command topic,
    ``on_label(payload_bytes)`` for every message on the label topic.
    """

    def __init__(self, config: PublishConfig, device_id: str, outbox: Outbox,
                 on_command: Optional[Callable[[bytes], None]] = None,
                 on_connected: Optional[Callable[[], None]] = None,
                 on_label: Optional[Callable[[bytes], None]] = None):
        self.config = config
        self.topics = DeviceTopics(config.prefix, device_id, config.homeassistant_prefix)
        self.outbox = outbox
        self.on_command = on_command
        self.on_connected = on_connected
        self.on_label = on_label
        self.client_id = f"affectedge-{device_id}"
        self.where = f"{config.host}:{config.effective_port}"
        self.ack_latencies_s: deque[float] = deque(maxlen=100_000)  # window close -> PUBACK, this process only
        self.connected = threading.Event()
        self.last_refusal: Optional[str] = None
        self._acks: queue.SimpleQueue = queue.SimpleQueue()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._handed: dict[int, int] = {}  # paho mid -> outbox row id, under _hand_lock
        self._hand_lock = threading.Lock()
        self._last_handed = 0
        self._submitted_at: dict[int, float] = {}
        self._newest_summary = 0
        self._first_connack = threading.Event()
        self._stopping = False
        self._client = None
        self._drainer: Optional[threading.Thread] = None
        self._unreachable_said = False  # "unreachable" is said once per outage, not per retry

    # ------------------------------------------------------------------ lifecycle

    def start(self, wait_s: float = 5.0) -> None:
        """Connect and start draining. Raises MqttAuthError / MqttTlsError on a refusal that
        waiting will not fix; an unreachable broker only logs (the outbox buffers meanwhile)."""
        mqtt = require_module("paho.mqtt.client", "mqtt publisher", "mqtt")
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id,
                             protocol=mqtt.MQTTv311, clean_session=True)
        if log.isEnabledFor(logging.DEBUG):
            # paho's own log repeats "Client is not connected ..." on every retry: for debugging
            # only. The callbacks below say each change of the link's state once, in words.
            client.enable_logger(logging.getLogger("affectedge.publish.paho"))
        # The last will is registered before connecting: the broker publishes it if we vanish.
        client.will_set(self.topics.status, gate_status(OFFLINE).text, qos=QOS, retain=True)
        if self.config.tls is not None:
            tls = self.config.tls
            client.tls_set(ca_certs=str(tls.ca_file), certfile=str(tls.cert_file) if tls.cert_file else None,
                           keyfile=str(tls.key_file) if tls.key_file else None)
        if self.config.username is not None:
            client.username_pw_set(self.config.username, _read_password(self.config))
        client.reconnect_delay_set(min_delay=1, max_delay=10)
        client.max_inflight_messages_set(MAX_HANDED)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        self._client = client
        reachable = True
        try:
            client.connect(self.config.host, self.config.effective_port, keepalive=self.config.keepalive_s)
        except ssl.SSLError as exc:
            why = (f"certificate verify failed: {exc.verify_message}" if isinstance(exc, ssl.SSLCertVerificationError)
                   else exc.reason or exc.__class__.__name__)
            raise MqttTlsError(
                f"TLS handshake with the MQTT broker {self.where} failed ({why}); "
                "check publish.tls.ca_file and that publish.host matches the broker certificate"
            ) from None
        except OSError as exc:
            reachable = False
            self._unreachable_said = True
            log.warning("MQTT broker %s unreachable (%s), retrying every 1-10 s; %d summaries queued in the outbox %s",
                        self.where, exc.strerror or exc.__class__.__name__, len(self.outbox), self.outbox.path)
        client.loop_start()
        if reachable and self._first_connack.wait(wait_s) and self.last_refusal is not None:
            self._shutdown_client()
            raise MqttAuthError(self.last_refusal)
        self._drainer = threading.Thread(target=self._drain_loop, name="mqtt-drain", daemon=True)
        self._drainer.start()

    def stop(self, drain_timeout_s: float) -> None:
        """Drain what can be drained within the timeout while the broker is connected, say
        `offline`, disconnect. Rows left stay in the outbox (on disk) for the next start: with the
        broker unreachable nothing is waited for, so a stop is prompt."""
        if self._client is None:
            return
        self.wait_drained(drain_timeout_s, while_connected=True)
        self._stop.set()
        self._wake.set()
        if self._drainer is not None:
            self._drainer.join(timeout=5)
        if self.connected.is_set():
            # A clean disconnect does not fire the last will, so say it ourselves.
            info = self._client.publish(self.topics.status, gate_status(OFFLINE).text, qos=QOS, retain=True)
            try:
                info.wait_for_publish(timeout=2)
            except RuntimeError:
                pass
        self._shutdown_client()

    def _shutdown_client(self) -> None:
        self._stopping = True
        # paho's loop thread logs a spurious "Client is not connected" error on its way out.
        client, self._client = self._client, None
        client.disable_logger()
        client.disconnect()
        client.loop_stop()
        self.connected.clear()
        # The callbacks are bound methods of this publisher: a reference cycle that would keep
        # paho's socket pair open until a full garbage collection (two fds per config reload).
        client.on_connect = client.on_disconnect = client.on_message = client.on_publish = None
        close = getattr(client, "_reset_sockets", None)  # paho 2.x: closes the socket and its wake-up pair
        if close is not None:
            close()

    # ------------------------------------------------------------------ publishing

    def submit(self, payload: GatedPayload, retain: bool = False, since: Optional[float] = None) -> int:
        """Store a summary in the outbox (it is sent from there); returns how many old rows the
        bounded outbox dropped to make room. ``since`` (perf_counter) starts its latency clock."""
        if not isinstance(payload, GatedPayload):
            raise PrivacyGateError("only payloads built by the privacy gate can be published")
        row_id, dropped = self.outbox.add(self.topics.summary, payload.kind, payload.text, retain)
        self._submitted_at[row_id] = time.perf_counter() if since is None else since
        self._newest_summary = row_id
        if self.connected.is_set():
            self._hand_rows()  # straight away from this thread: a hop through the drain thread costs latency
        self._wake.set()
        return dropped

    def publish_state(self, topic: str, payload: GatedPayload, retain: bool = True) -> None:
        """Retained state (settings, discovery, latest summary): the newest value is all that matters,
        so it bypasses the outbox and is republished on every connect by the owner. With
        ``retain=False``, a reply of the moment (a label's acknowledgement)."""
        if not isinstance(payload, GatedPayload):
            raise PrivacyGateError("only payloads built by the privacy gate can be published")
        if self._client is not None:
            self._client.publish(topic, payload.text, qos=QOS, retain=retain)

    def wait_drained(self, timeout_s: float, while_connected: bool = False) -> bool:
        """Wait until the outbox is empty (True) or the timeout passes (False); with
        ``while_connected``, also give up as soon as the broker is not connected."""
        deadline = time.monotonic() + timeout_s
        while len(self.outbox) > 0:
            if time.monotonic() >= deadline or (while_connected and not self.connected.is_set()):
                return False
            time.sleep(0.02)
        return True

    def _drain_loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(0.5)
            self._wake.clear()
            self._take_acks()
            if self.connected.is_set():
                self._hand_rows()

    def _take_acks(self) -> None:
        while True:
            try:
                mid, acked_at = self._acks.get_nowait()
            except queue.Empty:
                return
            with self._hand_lock:
                row_id = self._handed.pop(mid, None)
            if row_id is None:
                continue  # a state publish, not an outbox row
            self.outbox.remove(row_id)
            started = self._submitted_at.pop(row_id, None)
            if started is not None:
                self.ack_latencies_s.append(acked_at - started)

    def _hand_rows(self) -> None:
        # Called by the drain thread and by submit(); the lock keeps rows handed once and in order.
        # paho callbacks never take it (see the module docstring), so publishing under it is safe.
        with self._hand_lock:
            self._hand_rows_locked()

    def _hand_rows_locked(self) -> None:
        room = MAX_HANDED - len(self._handed)
        if room <= 0 or self._client is None:  # full, or stopped: the rows wait in the outbox
            return
        for row in self.outbox.pending(after_id=self._last_handed, limit=room):
            self._last_handed = row.id
            try:
                payload = regate(row.kind, row.payload)
            except PrivacyGateError as exc:
                log.error("outbox row %d not published: %s", row.id, exc)
                self.outbox.remove(row.id)
                continue
            info = self._client.publish(row.topic, payload.text, qos=QOS, retain=row.retain)
            self._handed[info.mid] = row.id
            if row.id == self._newest_summary:
                self._client.publish(self.topics.state, payload.text, qos=QOS, retain=True)

    # ------------------------------------------------------------------ paho callbacks (network thread)

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self.last_refusal = (
                f"MQTT broker {self.where} refused the connection: {reason_code} "
                f"(check publish.username and publish.password_file, and the broker's ACL for client id {self.client_id})"
            )
            log.error("%s", self.last_refusal)
            self._first_connack.set()
            return
        self.last_refusal = None
        self._unreachable_said = False
        log.info("connected to MQTT broker %s as %s; %d queued summaries to send", self.where, self.client_id, len(self.outbox))
        client.publish(self.topics.status, gate_status(ONLINE).text, qos=QOS, retain=True)
        client.subscribe(self.topics.command, qos=QOS)
        if self.on_label is not None:
            client.subscribe(self.topics.label, qos=QOS)
        if self.on_connected is not None:
            self.on_connected()
        self.connected.set()
        self._first_connack.set()
        self._wake.set()

    def _on_connect_fail(self, client, userdata) -> None:
        if not self._unreachable_said:
            self._unreachable_said = True
            log.warning("MQTT broker %s unreachable, retrying every 1-10 s; %d summaries queued in the outbox",
                        self.where, len(self.outbox))

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        if self.connected.is_set() and not self._stopping:
            self._unreachable_said = True
            log.warning("disconnected from MQTT broker %s (%s), retrying every 1-10 s; summaries queue in the outbox",
                        self.where, reason_code)
        self.connected.clear()

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        self._acks.put((mid, time.perf_counter()))  # the PUBACK's arrival, not when the drain thread sees it
        self._wake.set()

    def _on_message(self, client, userdata, message) -> None:
        if message.topic == self.topics.command and self.on_command is not None:
            self.on_command(bytes(message.payload))
        elif message.topic == self.topics.label and self.on_label is not None:
            self.on_label(bytes(message.payload))
