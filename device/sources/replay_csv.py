"""Replay of physiological samples from a CSV file: ``t,kind,value`` rows, sorted by t."""

from __future__ import annotations

import csv
import math
from typing import Iterator, Literal

from pydantic import Field

from ..config_base import ConfigPath, StrictModel
from ..errors import SourceError
from ..types import Event, PhysioSample
from .base import SourceBackend

KINDS = ("hr", "rr", "eda", "contact")


class ReplayCsvConfig(StrictModel):
    backend: Literal["replay_csv"] = Field(description="Replay physiological samples from a CSV file.")
    path: ConfigPath = Field(description="CSV with a header `t,kind,value` (t in seconds; kind hr|rr|eda|contact).")
    start_s: float = Field(0.0, ge=0, description="Offset added to every t, in seconds.")


class ReplayCsvSource:
    """A row that does not parse is reported as a ``malformed_sample`` event and dropped."""

    def __init__(self, config: ReplayCsvConfig, name: str = "physiology"):
        self.config = config
        self.name = name

    def open(self) -> None:
        if not self.config.path.is_file():
            raise SourceError(f"{self.config.path}: physiology CSV not found")
        with self.config.path.open(newline="") as f:
            header = next(csv.reader(f), None)
        if header is None or [h.strip() for h in header[:3]] != ["t", "kind", "value"]:
            raise SourceError(f"{self.config.path}:1: expected the header t,kind,value, got {header}")

    def samples(self) -> Iterator[PhysioSample | Event]:
        off = self.config.start_s
        path = self.config.path
        last_t = -math.inf
        up = False
        with path.open(newline="") as f:
            reader = csv.reader(f)
            next(reader)
            for lineno, row in enumerate(reader, start=2):
                try:
                    t, kind, value = float(row[0]) + off, row[1].strip(), float(row[2])
                    if kind not in KINDS:
                        raise ValueError(f"unknown kind {kind!r}")
                    if not (math.isfinite(t) and math.isfinite(value)):
                        raise ValueError("non-finite number")
                    if t < last_t:
                        raise ValueError(f"t={t} goes back in time (previous {last_t})")
                except (ValueError, IndexError) as exc:
                    yield Event(max(last_t, off), "malformed_sample", self.name,
                                {"file": path.name, "line": lineno, "reason": str(exc)})
                    continue
                if not up:
                    yield Event(t, "source_up", self.name, {"file": path.name})
                    up = True
                last_t = t
                yield PhysioSample(t, kind, value, self.name)
        if up:
            yield Event(last_t, "recording_ended", self.name, {"file": path.name})

    def close(self) -> None:
        pass


BACKEND = SourceBackend("replay_csv", "physiology", ReplayCsvConfig, ReplayCsvSource)
