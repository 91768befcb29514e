"""A sequenced batch of skin-conductance samples (the affectedge EDA profile, docs/ble.md).

Payload: uint16 LE packet sequence number (wraps at 65536), then 1..max_samples samples, oldest
first, spaced 1/sample_rate_hz apart, the newest taken when the packet was sent. A sample is either
a float32 LE in microsiemens or a uint16 LE count of ``uint16_scale_us`` microsiemens.
"""

from __future__ import annotations

import math
import struct
from typing import Literal, Optional

from pydantic import Field

from ...core.config_base import StrictModel
from .base import ParseResult, ParserSpec, Reading


class EdaSequencedOptions(StrictModel):
    encoding: Literal["float32", "uint16"] = Field("float32", description="Sample encoding (little-endian).")
    uint16_scale_us: float = Field(0.01, gt=0, description="Microsiemens per count for uint16 samples.")
    sample_rate_hz: float = Field(4.0, gt=0, le=1000, description="Sampling rate of the samples inside a packet.")
    max_samples: int = Field(32, ge=1, le=256, description="Most samples one packet may carry.")


class EdaSequencedParser:
    def __init__(self, options: EdaSequencedOptions):
        self.options = options
        self._size = 4 if options.encoding == "float32" else 2
        self._last_seq: Optional[int] = None

    def reset(self) -> None:
        self._last_seq = None

    def parse(self, payload: bytes) -> ParseResult:
        o = self.options
        n = len(payload)
        if n < 2 + self._size:
            return ParseResult.reject(f"{n} bytes: need a 2-byte sequence number and at least one {self._size}-byte sample")
        body = n - 2
        if body % self._size:
            return ParseResult.reject(f"{body} sample bytes is not a whole number of {self._size}-byte {o.encoding} samples")
        count = body // self._size
        if count > o.max_samples:
            return ParseResult.reject(f"{count} samples in one packet, more than max_samples={o.max_samples}")
        seq = int.from_bytes(payload[0:2], "little")
        lost = 0
        if self._last_seq is not None:
            step = (seq - self._last_seq) % 65536
            if step == 0:
                return ParseResult.reject(f"repeated sequence number {seq}")
            if step > 32768:  # far behind the last one: a stale or replayed packet, not a gap
                return ParseResult.reject(f"sequence number {seq} goes back from {self._last_seq}")
            lost = step - 1
        if o.encoding == "float32":
            values = list(struct.unpack_from(f"<{count}f", payload, 2))
        else:
            values = [c * o.uint16_scale_us for c in struct.unpack_from(f"<{count}H", payload, 2)]
        bad = [v for v in values if not math.isfinite(v)]
        if bad:
            return ParseResult.reject(f"{len(bad)} non-finite sample(s)")
        self._last_seq = seq
        period = 1.0 / o.sample_rate_hz
        readings = [Reading("eda", float(v), -(count - 1 - i) * period) for i, v in enumerate(values)]
        return ParseResult(readings, lost_packets=lost)


SPEC = ParserSpec("eda_sequenced", ("eda",), EdaSequencedOptions, EdaSequencedParser)
