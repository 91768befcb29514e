"""Caregivers' labels pressed live: `<prefix>/<device>/label`, validated before anything is stored.

The caregiver page's buttons publish a JSON object:

    {"label": "yellow", "id": "6f1c...", "span_s": 10}

* ``label``: one of the four zones, or a state (``stress``, ``rest``);
* ``id``: the press's own id (8-64 letters, digits and ``-``), so that a press delivered twice
  (QoS 1 is at least once) is stored once;
* ``span_s`` (optional, 1-120, default 10): how far back from the press the label reaches: "the
  child has been in the yellow zone for the last ten seconds";
* ``subject`` (optional): the pseudonym the page believes the device serves; a label for another
  subject is refused.

Only the caregiver role may publish here (the broker's ACL: the device and dashboard roles cannot);
a refusal is counted, said on the console and acknowledged with a fixed reason, never with the
payload's text. Nothing else changes: a refused label stores nothing.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Optional

from ..core.errors import AffectEdgeError
from ..core.types import ZONES

LIVE_LABELS: tuple[str, ...] = (*ZONES, "stress", "rest")
MAX_LABEL_BYTES = 512
SPAN_RANGE = (1.0, 120.0)
DEFAULT_SPAN_S = 10.0
_ID = re.compile(r"[A-Za-z0-9-]{8,64}")


class LabelRefused(AffectEdgeError):
    """A live label was refused; the message is fixed text, safe to publish and log."""


@dataclass(frozen=True)
class LiveLabel:
    label: str
    id: str
    span_s: float


def parse_label(raw: bytes, subject: Optional[str]) -> LiveLabel:
    if len(raw) > MAX_LABEL_BYTES:
        raise LabelRefused(f"label payload longer than {MAX_LABEL_BYTES} bytes")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise LabelRefused("not a label: expected a JSON object with label and id") from None
    if not isinstance(data, dict):
        raise LabelRefused("not a label: expected a JSON object with label and id")
    unknown = set(data) - {"label", "id", "span_s", "subject"}
    if unknown:
        raise LabelRefused("unknown key in label (allowed: label, id, span_s, subject)")
    label = data.get("label")
    if label not in LIVE_LABELS:
        raise LabelRefused(f"label must be one of {', '.join(LIVE_LABELS)}")
    lid = data.get("id")
    if not isinstance(lid, str) or not _ID.fullmatch(lid):
        raise LabelRefused("id must be 8-64 letters, digits or -")
    span = data.get("span_s", DEFAULT_SPAN_S)
    low, high = SPAN_RANGE
    if isinstance(span, bool) or not isinstance(span, (int, float)) or not math.isfinite(span) or not low <= span <= high:
        raise LabelRefused(f"span_s must be a number from {low:g} to {high:g}")
    if "subject" in data and data["subject"] != subject:
        raise LabelRefused("label for another subject than this device's")
    return LiveLabel(label, lid, float(span))
