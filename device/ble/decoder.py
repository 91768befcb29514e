"""One characteristic's payloads -> plausible, timestamped values, with every refusal counted.

The decoder is where the guarantees live: whatever a parser does, nothing escapes as an exception
and no value outside the profile's plausible range reaches the pipeline.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Optional

from .parsers import PARSERS
from .profiles import CharacteristicProfile


@dataclass(slots=True)
class Decoded:
    """The outcome of one payload: ``values`` are (kind, t, value); ``rejection`` is set when the
    whole payload was refused; ``implausible`` lists values dropped for being out of range."""

    values: list[tuple[str, float, float]] = field(default_factory=list)
    rejection: Optional[str] = None
    implausible: list[str] = field(default_factory=list)
    lost_packets: int = 0


class CharacteristicDecoder:
    def __init__(self, profile: CharacteristicProfile):
        self.profile = profile
        self.parser = PARSERS[profile.parser].factory(profile.parser_options())
        self.payloads = 0
        self.rejected: Counter = Counter()  # reason -> count
        self.implausible: Counter = Counter()  # kind -> count
        self.parser_errors = 0  # exceptions caught from a parser: a bug, counted so tests can insist on 0
        self.lost_packets = 0

    def reset(self) -> None:
        self.parser.reset()

    def decode(self, payload: bytes, t: float) -> Decoded:
        """Parse ``payload`` that arrived at ``t`` (seconds on the source clock)."""
        self.payloads += 1
        try:
            result = self.parser.parse(bytes(payload))
        except Exception as exc:  # the safety net; parsers are written not to need it
            self.parser_errors += 1
            result = None
            reason = f"parser {self.profile.parser} failed: {type(exc).__name__}: {exc}"
        else:
            reason = result.rejection
        if reason is not None:
            self.rejected[_reason_key(reason)] += 1
            return Decoded(rejection=reason)
        out = Decoded(lost_packets=result.lost_packets)
        self.lost_packets += result.lost_packets
        for r in result.readings:
            rng = self.profile.outputs.get(r.kind)
            v = r.value
            if rng is None:
                out.implausible.append(f"{r.kind}: not an output of this characteristic")
                self.implausible[r.kind] += 1
            elif not (isinstance(v, float) and math.isfinite(v) and rng.min <= v <= rng.max):
                out.implausible.append(f"{r.kind}={v:g} outside plausible [{rng.min:g}, {rng.max:g}] {rng.unit}")
                self.implausible[r.kind] += 1
            elif not (math.isfinite(r.offset_s) and r.offset_s <= 0):
                out.implausible.append(f"{r.kind}: offset {r.offset_s} s is not before arrival")
                self.implausible[r.kind] += 1
            else:
                out.values.append((r.kind, t + r.offset_s, v))
        return out


def _reason_key(reason: str) -> str:
    # Counters group by the kind of problem, not by the exact numbers in the message.
    return "".join("#" if ch.isdigit() else ch for ch in reason)[:80]
