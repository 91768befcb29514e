"""The one privacy gate: every byte affectedge publishes over MQTT is built here.

``WHITELIST`` names, per payload kind, the only fields that may appear; ``gate`` copies exactly
those fields, validates the result against the JSON Schema shipped beside this file
(summary.schema.json, every object closed with additionalProperties: false) and wraps it in a
``GatedPayload``, the only type the MQTT client accepts. Images, audio, landmarks, embeddings,
raw physiological samples, per-window records and the subject id have no field to travel in.
"""

from __future__ import annotations

import json
import math
import random
import re
import time
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping, Optional

from ..core.errors import AffectEdgeError
from ..core.extras import require_module
from ..core.types import ZONES
from .summaries import Summary, SummaryEvent
from .topics import OFFLINE, ONLINE

SCHEMA_PATH = Path(__file__).with_name("summary.schema.json")

SUMMARY_SCHEMA_ID = "affectedge.summary/1"
SETTINGS_SCHEMA_ID = "affectedge.settings/1"
LABEL_ACK_SCHEMA_ID = "affectedge.label_ack/1"

# The whitelist: payload kind -> the only top-level fields it may carry (nested objects are
# closed by the schema).
WHITELIST: dict[str, tuple[str, ...]] = {
    "summary": (
        "schema", "device", "seq", "subject", "created_utc", "period_start", "period_end", "windows",
        "windows_with_data", "zone", "zone_shares", "zone_privacy", "valence", "arousal", "top_emotion",
        "confidence", "coverage", "sensors_live", "events", "faces_in_view", "vocal_events", "labels",
    ),
    "label_ack": ("schema", "device", "id", "status", "reason", "labels"),
    "settings": ("schema", "device", "paused", "period_s", "rejected"),
    "ha_discovery": (
        "name", "unique_id", "state_topic", "value_template", "availability_topic", "payload_available",
        "payload_not_available", "device", "event_types",
    ),
}
STATUS_VALUES = (ONLINE, OFFLINE)
MAX_EVENTS = 50
DIGITS = 4  # published numbers are summaries, not measurements: 4 decimals is plenty

_TOKEN = object()


class PrivacyGateError(AffectEdgeError):
    """A payload failed the whitelist or the schema; it is not published."""


class GatedPayload:
    """Bytes that passed the gate. Only this module can make one."""

    __slots__ = ("kind", "text")

    def __init__(self, kind: str, text: str, _token: object = None):
        if _token is not _TOKEN:
            raise PrivacyGateError("payloads are built by affectedge.publish.privacy only")
        self.kind = kind
        self.text = text

    def __repr__(self) -> str:
        return f"GatedPayload({self.kind}, {len(self.text)} chars)"


@lru_cache(maxsize=None)
def _validator(kind: Optional[str] = None):
    """The schema's validator: for all payloads (``kind=None``), or for one kind's definition."""
    jsonschema = require_module("jsonschema", "mqtt publisher", "mqtt")
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    if kind is not None:
        schema = {k: v for k, v in schema.items() if k != "oneOf"} | {"$ref": f"#/$defs/{kind}"}
    return jsonschema.Draft202012Validator(schema)


@lru_cache(maxsize=None)
def _required(kind: str) -> tuple[str, ...]:
    """The fields a payload of ``kind`` must carry: the schema's ``required`` (a field added later,
    such as ``faces_in_view``, is optional, so summaries queued before an upgrade still pass)."""
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return tuple(schema.get("$defs", {}).get(kind, {}).get("required", WHITELIST[kind]))


def warm_up() -> None:
    """Compile every validator now, so the first summary does not pay for it."""
    for kind in WHITELIST:
        _validator(kind)


def _validate(kind: str, payload: Mapping[str, Any]) -> None:
    errors = sorted(_validator(kind).iter_errors(payload), key=lambda e: -len(e.absolute_path))
    if errors:
        where = "/".join(str(p) for p in errors[0].absolute_path) or "(top level)"
        # Name the field, never echo its value: the value is what must not leak into logs.
        raise PrivacyGateError(f"{kind} payload rejected by the schema at {where}: {errors[0].validator} check failed")


def gate(kind: str, fields: Mapping[str, Any]) -> GatedPayload:
    """The one function that builds a payload: whitelisted fields only, then the schema."""
    if kind not in WHITELIST:
        raise PrivacyGateError(f"unknown payload kind {kind!r}")
    missing = [k for k in _required(kind) if k not in fields]
    if missing:
        raise PrivacyGateError(f"{kind} payload lacks {', '.join(missing)}")
    payload = {k: fields[k] for k in WHITELIST[kind] if k in fields}
    _validate(kind, payload)
    return GatedPayload(kind, json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=False), _TOKEN)


def gate_status(value: str) -> GatedPayload:
    if value not in STATUS_VALUES:
        raise PrivacyGateError(f"status must be one of {STATUS_VALUES}")
    return GatedPayload("status", value, _TOKEN)


def regate(kind: str, text: str, where: str = "in the outbox") -> GatedPayload:
    """Re-check a payload read back from the outbox (a file on disk is not trusted blindly), or
    received from the feed (the fleet collector): JSON, whitelisted fields only, the schema."""
    try:
        fields = json.loads(text)
    except ValueError:
        raise PrivacyGateError(f"{kind} payload {where} is not JSON") from None
    if not isinstance(fields, dict) or set(fields) - set(WHITELIST.get(kind, ())):
        raise PrivacyGateError(f"{kind} payload {where} carries fields outside the whitelist")
    return gate(kind, fields)


# ------------------------------------------------------------------ local differential privacy


class RandomisedResponse:
    """k-ary randomised response on the zone: the true zone with p = e^eps / (e^eps + k - 1),
    otherwise one of the other k - 1 zones uniformly. Each report is eps-locally-differentially
    private on its own; reports of the same person over time compose (n reports: n*eps)."""

    def __init__(self, epsilon: float, rng: Optional[random.Random] = None):
        self.epsilon = float(epsilon)
        self.rng = rng or random.SystemRandom()
        k = len(ZONES)
        self.p_true = math.exp(self.epsilon) / (math.exp(self.epsilon) + k - 1)

    def report(self, zone: Optional[str]) -> Optional[str]:
        if zone is None:
            return None
        if self.rng.random() < self.p_true:
            return zone
        return self.rng.choice([z for z in ZONES if z != zone])


# ------------------------------------------------------------------ payload builders


def _r(x: Optional[float]) -> Optional[float]:
    return None if x is None else round(float(x), DIGITS)


def _clip_unit(x: Optional[float]) -> Optional[float]:
    return None if x is None else max(-1.0, min(1.0, _r(x)))


_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


def _event_fields(e: SummaryEvent) -> dict:
    out: dict[str, Any] = {"kind": e.kind, "t": _r(e.t)}
    if e.source is not None and _NAME.fullmatch(e.source):
        out["source"] = e.source
    if e.from_zone is not None:
        out["from"] = e.from_zone
    if e.to_zone is not None:
        out["to"] = e.to_zone
    if e.count is not None:
        out["count"] = e.count
    return out


def utc_now() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int((t % 1) * 1000):03d}Z"


def summary_payload(s: Summary, *, device: str, seq: int, subject: Optional[str],
                    dp: Optional[RandomisedResponse] = None, created_utc: Optional[str] = None) -> GatedPayload:
    """A summary through the gate. With ``dp`` the zone is randomised and every field that would
    reveal the true zone (valence, arousal, top emotion, zone shares, zone changes) is withheld."""
    events = [e for e in s.events if not (dp is not None and e.kind == "zone_change")]
    fields = {
        "schema": SUMMARY_SCHEMA_ID,
        "device": device,
        "seq": seq,
        "subject": subject,
        "created_utc": created_utc or utc_now(),
        "period_start": _r(s.period_start),
        "period_end": _r(s.period_end),
        "windows": s.windows,
        "windows_with_data": s.windows_with_data,
        "zone": s.zone if dp is None else dp.report(s.zone),
        "zone_shares": None if dp is not None else {z: _r(s.zone_shares[z]) for z in ZONES},
        "zone_privacy": None if dp is None else {"mechanism": "randomised_response", "epsilon": dp.epsilon},
        "valence": None if dp is not None or s.valence_mean is None else {"mean": _clip_unit(s.valence_mean), "trend_per_min": _r(s.valence_trend)},
        "arousal": None if dp is not None or s.arousal_mean is None else {"mean": _clip_unit(s.arousal_mean), "trend_per_min": _r(s.arousal_trend)},
        "top_emotion": None if dp is not None or s.top_label is None else {"label": s.top_label, "probability": _r(s.top_probability)},
        "confidence": _r(s.confidence),
        "coverage": {m: _r(v) for m, v in s.coverage.items()},
        "sensors_live": [n for n in s.sensors_live if _NAME.fullmatch(n)],
        "events": [_event_fields(e) for e in events[-MAX_EVENTS:]],
        # The schema bounds it at 64: a crowd larger than that is reported as 64, not a refused summary.
        "faces_in_view": None if s.faces_in_view is None else min(s.faces_in_view, 64),
        # What was heard: the event's name, its peak score and how long, never audio or scores per
        # class. Withheld under randomised response: a distress event would reveal the zone.
        "vocal_events": None if dp is not None else {
            name: {"confidence": _r(peak), "seconds": _r(seconds)} for name, (peak, seconds) in s.vocal_events.items()},
        # How many caregiver labels the device holds: a count, never the labels (they stay on it).
        "labels": s.labels,
    }
    return gate("summary", fields)


def label_ack_payload(*, device: str, label_id: Optional[str], status: str, reason: Optional[str], labels: int) -> GatedPayload:
    """The answer to one live label: its id (when it had a valid one), stored/duplicate/refused, a
    fixed reason, and how many labels the device now holds."""
    return gate("label_ack", {"schema": LABEL_ACK_SCHEMA_ID, "device": device, "id": label_id, "status": status,
                              "reason": reason, "labels": labels})


def settings_payload(*, device: str, paused: bool, period_s: float, rejected: Optional[str]) -> GatedPayload:
    return gate("settings", {"schema": SETTINGS_SCHEMA_ID, "device": device, "paused": paused,
                             "period_s": period_s, "rejected": rejected})
