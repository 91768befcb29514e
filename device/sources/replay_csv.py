"""Replay of physiological samples from a file: the product's CSV or a device export (``format``).

The formats are readers registered by key in physio_formats.py. A row that does not parse is
reported as a ``malformed_sample`` event (file, line, column, reason) and dropped; a file whose
layout is wrong is refused at open, naming the file, line and column.
"""

from __future__ import annotations

import math
from typing import Iterator, Literal

from pydantic import Field

from ..core.config_base import ConfigPath, StrictModel
from ..core.errors import SourceError
from ..core.types import Event, PhysioSample
from .base import MAX_START_S, SourceBackend
from .physio_formats import EXPECTED_KINDS, GAPPY_KINDS, READERS, Malformed


class ReplayCsvConfig(StrictModel):
    backend: Literal["replay_csv"] = Field(description="Replay physiological samples from a file.")
    path: ConfigPath = Field(description="The file: with format `affectedge` a CSV with a header `t,kind,value` (t in seconds; kind hr|rr|eda|contact); with `rr_text` RR intervals one per line (Polar/Kubios); with `e4` an Empatica E4 export folder or a file in it; with `edf` an EDF/EDF+/BDF file (EDA and HR channels).")
    format: Literal["affectedge", "rr_text", "e4", "edf"] = Field("affectedge", description="The file's format (device/sources/physio_formats.py).")
    start_s: float = Field(0.0, ge=0, le=MAX_START_S, allow_inf_nan=False, description="Offset added to every t, in seconds.")


class ReplayCsvSource:
    """A row that does not parse is reported as a ``malformed_sample`` event and dropped."""

    def __init__(self, config: ReplayCsvConfig, name: str = "physiology"):
        self.config = config
        self.name = name
        # Kind -> seconds until its first reading, where the format says (the sensor check waits for them).
        self.expected_kinds: dict[str, float] = dict(EXPECTED_KINDS.get(config.format, {}))
        self.gappy_kinds: frozenset[str] = GAPPY_KINDS.get(config.format, frozenset())

    def open(self) -> None:
        path = self.config.path
        if not (path.is_file() or (self.config.format == "e4" and path.is_dir())):
            raise SourceError(f"{path}: physiology file not found")
        next(iter(READERS[self.config.format](path)), None)  # a wrong layout is refused now, naming the line

    def samples(self) -> Iterator[PhysioSample | Event]:
        off = self.config.start_s
        path = self.config.path
        last_t = -math.inf
        up = False
        for row in READERS[self.config.format](path):
            if isinstance(row, Malformed):
                yield Event(max(last_t, off), "malformed_sample", self.name,
                            {"file": row.file or path.name, "line": row.line, "column": row.column, "reason": row.reason})
                continue
            t, kind, value, _ = row
            t += off
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
