"""Commands on `<prefix>/<device>/set`: pause, resume, summary period. Validated before use.

Accepted: the text `pause` or `resume`, or a JSON object with `paused` (bool) and/or `period_s`
(number, 1..3600). A refusal carries a fixed message: the command's own text is never echoed,
logged or published.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Optional

from ..core.errors import AffectEdgeError

MAX_COMMAND_BYTES = 1024
PERIOD_RANGE = (1.0, 3600.0)


class CommandError(AffectEdgeError):
    """A command was refused; the message is fixed text safe to publish."""


@dataclass(frozen=True)
class Command:
    paused: Optional[bool] = None
    period_s: Optional[float] = None


def parse_command(raw: bytes) -> Command:
    if len(raw) > MAX_COMMAND_BYTES:
        raise CommandError(f"command longer than {MAX_COMMAND_BYTES} bytes")
    text = raw.decode("utf-8", errors="replace").strip()
    if text in ("pause", "resume"):
        return Command(paused=text == "pause")
    try:
        data = json.loads(text)
    except ValueError:
        raise CommandError("not a command: expected pause, resume or a JSON object") from None
    if not isinstance(data, dict) or not data:
        raise CommandError("not a command: expected pause, resume or a JSON object")
    unknown = set(data) - {"paused", "period_s"}
    if unknown:
        raise CommandError("unknown key in command (allowed: paused, period_s)")
    paused = data.get("paused")
    if "paused" in data and not isinstance(paused, bool):
        raise CommandError("paused must be true or false")
    period = data.get("period_s")
    if "period_s" in data:
        low, high = PERIOD_RANGE
        if isinstance(period, bool) or not isinstance(period, (int, float)) or not math.isfinite(period) or not low <= period <= high:
            raise CommandError(f"period_s must be a number from {low:g} to {high:g}")
        period = float(period)
    return Command(paused=paused, period_s=period)
