"""Payload parsers, registered by key. A new vendor format = one module with a SPEC and one line below."""

from __future__ import annotations

from . import battery, eda_sequenced, heart_rate
from .base import OUTPUT_UNITS, ParseResult, ParserSpec, PayloadParser, Reading

PARSERS: dict[str, ParserSpec] = {
    s.key: s
    for s in (
        heart_rate.SPEC,
        battery.SPEC,
        eda_sequenced.SPEC,
    )
}

__all__ = ["OUTPUT_UNITS", "PARSERS", "ParseResult", "ParserSpec", "PayloadParser", "Reading"]
