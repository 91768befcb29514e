"""The publishing sink: fused windows in, gated summaries out through the outbox to MQTT."""

from __future__ import annotations

import logging
import threading
import time
from typing import Optional, Sequence

from ..core.types import Event, FusedWindow, ModalityEstimate
from .commands import CommandError, parse_command
from .labels import LabelRefused, LiveLabel, parse_label
from .config import PublishConfig
from .homeassistant import discovery_payloads
from .mqtt_client import MqttPublisher
from .outbox import Outbox
from ..privacy.pseudonym import load_or_create_secret, pseudonym
from .privacy import RandomisedResponse, label_ack_payload, settings_payload, summary_payload, warm_up
from .summaries import Summary, SummaryAggregator

log = logging.getLogger("affectedge.publish")


class PublishSink:
    """A Sink (see sinks/base.py). Starting it connects to the broker (``start_wait_s``)."""

    def __init__(self, config: PublishConfig, device_id: str, subject_id: Optional[str], start_wait_s: float = 5.0):
        self.config = config
        self.device_id = device_id
        # The secret only lives long enough to derive the pseudonym.
        self.subject = None if subject_id is None else pseudonym(subject_id, load_or_create_secret(config.pseudonym_secret_file))
        self.dp = RandomisedResponse(config.zone_dp_epsilon) if config.zone_dp_epsilon is not None else None
        self.aggregator = SummaryAggregator(config.period_s)
        warm_up()
        self.paused = False
        self.summaries_submitted = 0
        self._lock = threading.Lock()  # pipeline thread vs commands on paho's thread
        self._rejected: Optional[str] = None
        self.outbox = Outbox(config.outbox, config.outbox_max_messages)
        # Live labels arrive on paho's thread and are stored from the pipeline's (``write_window``),
        # stamped with the session clock of the latest window.
        self._labels_in: list[tuple[Optional[LiveLabel], Optional[str]]] = []
        # Press ids seen, for at-least-once delivery's repeats; the newest 10,000 are enough (a
        # repeat comes within seconds) and keep weeks of running bounded.
        self._label_ids: dict[str, None] = {}
        self.labels_refused = 0
        self._emit = None
        self.publisher = MqttPublisher(config, device_id, self.outbox, on_command=self._on_command,
                                       on_connected=self._publish_retained, on_label=self._on_label)
        try:
            self.publisher.start(wait_s=start_wait_s)
        except Exception:
            self.outbox.close()
            raise
        pending = len(self.outbox)
        if pending:
            log.info("outbox %s holds %d summaries from before; draining them first", self.outbox.path, pending)

    # ------------------------------------------------------------------ Sink

    def attach_events(self, emit) -> None:
        """The pipeline's event path: a stored live label goes through it to the session log."""
        self._emit = emit

    def write_window(self, window: FusedWindow, estimates: Sequence[ModalityEstimate]) -> None:
        closed_at = time.perf_counter()  # the window has just closed: latency is measured from here
        self._take_labels(window.end)
        with self._lock:
            if self.paused:
                return
            done = self.aggregator.add_window(window)
        for s in done:
            self._submit(s, closed_at)

    def write_event(self, event: Event) -> None:
        with self._lock:
            self.aggregator.add_event(event)

    def close(self) -> None:
        with self._lock:
            last = None if self.paused else self.aggregator.flush()
        if last is not None:
            self._submit(last, time.perf_counter())
        self.publisher.stop(self.config.drain_timeout_s)
        left = len(self.outbox)
        if left:
            log.warning("%d summaries left in the outbox %s; they are sent after the next start", left, self.outbox.path)
        self.outbox.close()

    # ------------------------------------------------------------------ internals

    def _submit(self, s: Summary, closed_at: float) -> None:
        payload = summary_payload(s, device=self.device_id, seq=self.outbox.next_seq(), subject=self.subject, dp=self.dp)
        dropped = self.publisher.submit(payload, since=closed_at)
        self.summaries_submitted += 1
        if dropped:
            log.warning("outbox full (%d): dropped the %d oldest summaries", self.config.outbox_max_messages, dropped)
            with self._lock:
                self.aggregator.note_dropped(dropped, s.period_end)

    def _settings(self):
        return settings_payload(device=self.device_id, paused=self.paused, period_s=self.aggregator.pending_period_s,
                                rejected=self._rejected)

    def _publish_retained(self) -> None:
        self.publisher.publish_state(self.publisher.topics.settings, self._settings())
        if self.config.homeassistant_discovery:
            for topic, payload in discovery_payloads(self.publisher.topics):
                self.publisher.publish_state(topic, payload)

    def _on_label(self, raw: bytes) -> None:
        try:
            item = (parse_label(raw, self.subject), None)
        except LabelRefused as exc:
            item = (None, str(exc))
        with self._lock:
            self._labels_in.append(item)

    def _take_labels(self, now: float) -> None:
        """Store, count and acknowledge the labels received since the last window (pipeline thread)."""
        with self._lock:
            items, self._labels_in = self._labels_in, []
        for label, reason in items:
            if label is None:
                self.labels_refused += 1
                log.warning("label on %s refused: %s", self.publisher.topics.label, reason)
                self._say(Event(now, "label_refused", "caregiver", {"reason": reason}))
                status, lid = "refused", None
            elif label.id in self._label_ids:
                status, lid = "duplicate", label.id
            else:
                self._label_ids[label.id] = None
                if len(self._label_ids) > 10_000:
                    del self._label_ids[next(iter(self._label_ids))]
                with self._lock:
                    self.aggregator.labels += 1
                self._say(Event(now, "caregiver_label", "caregiver", {"label": label.label, "id": label.id,
                                                                     "start": round(max(0.0, now - label.span_s), 6),
                                                                     "end": round(now, 6)}))
                status, lid = "stored", label.id
            ack = label_ack_payload(device=self.device_id, label_id=lid, status=status, reason=reason,
                                    labels=self.aggregator.labels)
            self.publisher.publish_state(self.publisher.topics.label_ack, ack, retain=False)

    def _say(self, event: Event) -> None:
        if self._emit is not None:
            self._emit(event)

    def _on_command(self, raw: bytes) -> None:
        with self._lock:
            try:
                cmd = parse_command(raw)
            except CommandError as exc:
                self._rejected = str(exc)
                log.warning("command on %s refused: %s", self.publisher.topics.command, exc)
            else:
                self._rejected = None
                if cmd.paused is not None and cmd.paused != self.paused:
                    self.paused = cmd.paused
                    if self.paused:
                        self.aggregator.discard_period()  # paused means nothing of this moment is sent
                    log.info("publishing %s by command", "paused" if self.paused else "resumed")
                if cmd.period_s is not None:
                    self.aggregator.set_period(cmd.period_s)
                    log.info("summary period set to %g s from the next period", cmd.period_s)
            settings = self._settings()
        self.publisher.publish_state(self.publisher.topics.settings, settings)
