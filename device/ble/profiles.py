"""Sensor profiles: which GATT characteristics a sensor has, how to parse them, and what is plausible.

A profile is a YAML file in firmware_configs/ble/ (or any path), validated by these models; errors
name the file and line like the main config. Adding a vendor's sensor = one YAML file plus, at most,
one parser module registered by key in ``affectedge.ble.parsers``.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal, Optional

from pydantic import Field, ValidationError, field_validator, model_validator

from ..core.config_base import StrictModel
from ..core.config_yaml import load_located_yaml
from .parsers import OUTPUT_UNITS, PARSERS

# The Bluetooth base UUID: a 16-bit UUID xxxx stands for 0000xxxx-0000-1000-8000-00805f9b34fb.
_BASE_SUFFIX = "-0000-1000-8000-00805f9b34fb"
_UUID128 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class ProfileError(ValueError):
    """A sensor profile is missing or invalid; the message names the file, line and key."""


def normalize_uuid(value: str) -> str:
    """Any spelling of a 16-, 32- or 128-bit UUID -> the lowercase 128-bit form bleak and bumble both accept."""
    s = str(value).strip().lower().removeprefix("0x")
    if re.fullmatch(r"[0-9a-f]{4}", s):
        return f"0000{s}{_BASE_SUFFIX}"
    if re.fullmatch(r"[0-9a-f]{8}", s):
        return f"{s}{_BASE_SUFFIX}"
    if _UUID128.fullmatch(s):
        return s
    raise ValueError(f"not a Bluetooth UUID: {value!r} (expected 4 or 8 hex digits, or the 128-bit 8-4-4-4-12 form)")


class OutputRange(StrictModel):
    unit: str = Field(description="Unit of the value as the parser delivers it; must be the kind's canonical unit.")
    min: float = Field(description="Smallest plausible value; anything below is rejected and counted, never delivered.")
    max: float = Field(description="Largest plausible value; anything above is rejected and counted, never delivered.")

    @model_validator(mode="after")
    def _ordered(self) -> "OutputRange":
        if not (math.isfinite(self.min) and math.isfinite(self.max) and self.min <= self.max):
            raise ValueError(f"need finite min <= max, got [{self.min}, {self.max}]")
        return self


class CharacteristicProfile(StrictModel):
    name: str = Field(description="Label used in events (e.g. heart_rate_measurement).")
    service: str = Field(description="GATT service UUID (16-bit like 180D, or 128-bit).")
    characteristic: str = Field(description="GATT characteristic UUID (16-bit like 2A37, or 128-bit).")
    access: Literal["notify", "read"] = Field(description="`notify`: subscribe and parse every notification; `read`: read after connecting (and every read_every_s).")
    required: bool = Field(True, description="A sensor without a required characteristic is an error; an optional one (e.g. battery) is skipped.")
    parser: str = Field(description="Key of the payload parser in affectedge.ble.parsers.")
    options: dict[str, Any] = Field(default_factory=dict, description="Parser options, validated by the parser's own options model.")
    outputs: dict[str, OutputRange] = Field(description="Every kind the parser may produce, with unit and plausible range.")
    expected_rate_hz: Optional[float] = Field(None, gt=0, description="Notifications per second the sensor normally sends; silence for 10 periods (at least 5 s) counts as a stall and forces a reconnect.")
    read_every_s: Optional[float] = Field(None, gt=0, description="For `read`: read again at this period; once after connecting when omitted.")

    @field_validator("service", "characteristic")
    @classmethod
    def _uuid(cls, v: str) -> str:
        return normalize_uuid(v)

    @model_validator(mode="after")
    def _parser_and_outputs(self) -> "CharacteristicProfile":
        spec = PARSERS.get(self.parser)
        if spec is None:
            raise ValueError(f"unknown parser {self.parser!r}; registered: {', '.join(sorted(PARSERS))}")
        try:
            spec.options_model.model_validate(self.options)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "options"
            raise ValueError(f"options.{where}: {first['msg']}") from None
        for kind, rng in self.outputs.items():
            if kind not in spec.kinds:
                raise ValueError(f"parser {self.parser!r} never produces {kind!r} (it produces {', '.join(spec.kinds)})")
            if rng.unit != OUTPUT_UNITS[kind]:
                raise ValueError(f"outputs.{kind}.unit must be {OUTPUT_UNITS[kind]!r} (what the parser delivers), got {rng.unit!r}")
        missing = [k for k in spec.kinds if k not in self.outputs]
        if missing:
            raise ValueError(f"outputs lacks {', '.join(missing)}: every kind the parser produces needs a plausible range")
        if self.access == "notify" and self.read_every_s is not None:
            raise ValueError("read_every_s applies to access: read only")
        return self

    def parser_options(self):
        return PARSERS[self.parser].options_model.model_validate(self.options)


class SensorProfile(StrictModel):
    name: str = Field(description="Profile key (the file name without .yaml).")
    description: str = Field(description="What devices this profile fits.")
    advertised_service: Optional[str] = Field(None, description="Service UUID the sensor advertises; used to find it when no address is configured.")
    characteristics: list[CharacteristicProfile] = Field(min_length=1, description="The characteristics to subscribe to or read.")

    @field_validator("advertised_service")
    @classmethod
    def _uuid(cls, v: Optional[str]) -> Optional[str]:
        return None if v is None else normalize_uuid(v)

    @model_validator(mode="after")
    def _has_notify(self) -> "SensorProfile":
        if not any(c.access == "notify" and c.required for c in self.characteristics):
            raise ValueError("a sensor profile needs at least one required notify characteristic")
        names = [c.name for c in self.characteristics]
        if len(set(names)) != len(names):
            raise ValueError(f"characteristic names must be unique, got {names}")
        return self


def profile_dir() -> Path:
    """Where the shipped profiles live (firmware_configs/ble in the repository and in the package)."""
    return Path(str(resources.files("affectedge.firmware_configs"))) / "ble"


def shipped_profiles() -> list[str]:
    return sorted(p.stem for p in profile_dir().glob("*.yaml"))


def _format_loc(loc: tuple) -> str:
    out = ""
    for item in loc:
        out += f"[{item}]" if isinstance(item, int) else (("." if out else "") + str(item))
    return out or "(top level)"


@lru_cache(maxsize=64)
def load_profile(ref: str) -> SensorProfile:
    """Load a profile by key (a shipped file) or by path; raise ProfileError naming FILE:LINE: key: msg."""
    path = Path(ref).expanduser()
    if not (path.suffix in (".yaml", ".yml") or "/" in ref):
        path = profile_dir() / f"{ref}.yaml"
        if not path.is_file():
            raise ProfileError(f"unknown sensor profile {ref!r}; shipped: {', '.join(shipped_profiles())} (or give a path to a .yaml)")
    if not path.is_file():
        raise ProfileError(f"{path}:1: sensor profile file not found")
    try:
        doc = load_located_yaml(path)
    except ValueError as exc:
        raise ProfileError(str(exc)) from None
    try:
        return SensorProfile.model_validate(doc.data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = "unknown key (not allowed here)"
            problems.append(f"{path}:{doc.line_of(loc)}: {_format_loc(loc)}: {msg}")
        raise ProfileError("\n".join(problems)) from None
