"""What every payload parser returns, and how one is registered."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional, Protocol

from pydantic import BaseModel

from ...core.config_base import StrictModel

# The unit each kind is delivered in; a profile's outputs must declare exactly these.
OUTPUT_UNITS: dict[str, str] = {
    "hr": "bpm",
    "rr": "s",
    "eda": "uS",
    "contact": "bool",
    "battery": "percent",
}


@dataclass(frozen=True, slots=True)
class Reading:
    """One value out of a payload. ``offset_s`` (<= 0) places it before the notification's arrival,
    e.g. the earlier RR intervals of a packet, or the older EDA samples of a batch."""

    kind: str
    value: float
    offset_s: float = 0.0


@dataclass(slots=True)
class ParseResult:
    """Either readings, or ``rejection`` saying why the whole payload was refused (then no readings).

    ``lost_packets`` counts packets the sensor sent that never arrived (from a sequence counter)."""

    readings: list[Reading] = field(default_factory=list)
    rejection: Optional[str] = None
    lost_packets: int = 0

    @classmethod
    def reject(cls, reason: str) -> "ParseResult":
        return cls(rejection=reason)


class PayloadParser(Protocol):
    """Total: ``parse`` returns a ParseResult for every byte string and never raises."""

    def parse(self, payload: bytes) -> ParseResult: ...

    def reset(self) -> None:
        """Forget per-connection state (a sequence counter) after a reconnect."""


class NoOptions(StrictModel):
    """This parser takes no options."""


@dataclass(frozen=True)
class ParserSpec:
    key: str
    kinds: tuple[str, ...]  # what it can produce; the profile gives each a plausible range
    options_model: type[BaseModel]
    factory: Callable[[BaseModel], PayloadParser]
