"""The service configuration: one YAML file, validated by these models.

Every field has a description; ``affectedge config-reference`` turns them into docs/config-reference.md.
Errors are reported as ``FILE:LINE: key.path: message``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal, Optional

from pydantic import Field, field_validator, model_validator

from .calibration import CalibrationConfig
from ..core.config_base import ConfigPath, StrictModel
from ..core.config_yaml import validate_located
from ..perception.face import FaceConfig
from ..perception.physiology import PhysiologyConfig
from ..perception.voice import VoiceConfig
from ..publish.config import PublishConfig
from .supervisor import SupervisorConfig
from ..sources import CameraSourceConfig, MicrophoneSourceConfig, PhysiologySourceConfig
from ..fusion.config import FusionConfig, WindowConfig, ZoneConfig


class DeviceConfig(StrictModel):
    id: str = Field("affectedge-1", description="Device id: used in MQTT client id and topics. Lowercase letters, digits, '-' and '_'.")
    subject_id: Optional[str] = Field(None, description="Who the device watches (kept on the device; only a keyed pseudonym of it is ever published).")

    @field_validator("id")
    @classmethod
    def _id_charset(cls, v: str) -> str:
        if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,63}", v):
            raise ValueError("must be 1-64 of a-z, 0-9, '-', '_', starting with a letter or digit")
        return v


class SourcesConfig(StrictModel):
    camera: Optional[CameraSourceConfig] = Field(None, description="The camera (face modality); omit for none.")
    microphone: Optional[MicrophoneSourceConfig] = Field(None, description="The microphone (voice modality); omit for none.")
    physiology: list[PhysiologySourceConfig] = Field(default_factory=list, description="Physiological sensors (heart rate, RR, EDA); several may feed the one modality.")


class PerceptionConfig(StrictModel):
    face: FaceConfig = Field(default_factory=FaceConfig, description="Face detection and expression recognition (used when sources.camera is set).")
    physiology: PhysiologyConfig = Field(default_factory=PhysiologyConfig, description="Heart-rate, HRV and EDA analysis.")
    voice: VoiceConfig = Field(default_factory=VoiceConfig, description="Voice activity, prosody and arousal from the microphone (docs/voice.md).")
    baseline_profile: Optional[ConfigPath] = Field(None, description="Per-person baseline profile (YAML from `affectedge calibrate`); population defaults when omitted.")


class LogConfig(StrictModel):
    sqlite: Optional[ConfigPath] = Field(None, description="Session log in one file (SQLite, WAL): windows, per-modality estimates and events. For a device that runs for weeks use `directory`.")
    directory: Optional[ConfigPath] = Field(None, description="Session logs as rotating files `session-<UTC time>.sqlite` in this folder, with the retention policy below.")
    rotate_every_h: float = Field(24.0, gt=0, description="With `directory`: start a new log file after this many hours.")
    retention_days: Optional[float] = Field(None, gt=0, description="With `directory`: delete log files whose last write is older than this (checked while running).")
    retention_max_mb: Optional[float] = Field(None, gt=0, description="With `directory`: delete the oldest log files while the folder holds more than this.")
    encryption_key_file: Optional[ConfigPath] = Field(None, description="Encrypt records at rest (AES-256-GCM) with the 32-byte key in this file (mode 600, owned by the service user). Needs the `secure` extra.")
    jsonl: Optional[ConfigPath] = Field(None, description="One JSON line per fused window (the same record as the session log; plaintext, so leave unset on a device that encrypts its log).")
    console: bool = Field(True, description="Print one concise line per second of windows to stdout.")

    @model_validator(mode="after")
    def _one_log_target(self) -> "LogConfig":
        if self.sqlite is not None and self.directory is not None:
            raise ValueError("set either sqlite (one file) or directory (rotating files), not both")
        return self


class RunConfig(StrictModel):
    pace: Literal["fast", "realtime"] = Field("realtime", description="Replay sources only: `fast` replays as fast as the pipeline runs, `realtime` at the recording's own pace.")
    max_gap_s: float = Field(3600.0, gt=0, le=7 * 86400, description="Replay sources only: a silence in every input longer than this is skipped (one `gap_skipped` event) instead of filled with no_data windows, so a session's windows are bounded by its inputs' real durations (a stray timestamp cannot fill a disk).")


class AppConfig(StrictModel):
    device: DeviceConfig = Field(default_factory=DeviceConfig, description="Identity of this device.")
    window: WindowConfig = Field(default_factory=WindowConfig, description="Windowing and smoothing.")
    fusion: FusionConfig = Field(default_factory=FusionConfig, description="Late fusion of the modalities.")
    zones: ZoneConfig = Field(default_factory=ZoneConfig, description="Mapping of valence/arousal to Zones of Regulation.")
    sources: SourcesConfig = Field(default_factory=SourcesConfig, description="Where samples come from.")
    perception: PerceptionConfig = Field(default_factory=PerceptionConfig, description="Per-modality analysis.")
    log: LogConfig = Field(default_factory=LogConfig, description="Local session log and stdout.")
    publish: Optional[PublishConfig] = Field(None, description="Summaries over MQTT (docs/mqtt.md); nothing is published when omitted.")
    run: RunConfig = Field(default_factory=RunConfig, description="How the pipeline is driven.")
    calibration: CalibrationConfig = Field(default_factory=CalibrationConfig, description="`affectedge calibrate`: sensor check thresholds and the resting baseline.")
    supervisor: SupervisorConfig = Field(default_factory=SupervisorConfig, description="Restarting live sources that fail or stall.")

    @model_validator(mode="after")
    def _backdating_fits_lateness(self) -> "AppConfig":
        # A live source that stamps values before their arrival (BLE: earlier RR intervals of a
        # packet) must stay inside the lateness a window waits for, or those values are dropped.
        for i, src in enumerate(self.sources.physiology):
            back = getattr(src, "max_backdate_s", None)
            if back is not None and back >= self.window.allowed_lateness_s:
                raise ValueError(f"sources.physiology[{i}].max_backdate_s ({back:g}) must be below window.allowed_lateness_s "
                                 f"({self.window.allowed_lateness_s:g}), or the values it backdates arrive after their window closed")
        return self


def _yaml_loc(loc: tuple, data) -> tuple:
    """Drop the discriminator tags pydantic inserts into locations (e.g. 'replay_csv')."""
    out: list = []
    node = data
    for item in loc:
        if isinstance(node, dict) and item in node:
            out.append(item)
            node = node[item]
        elif isinstance(node, list) and isinstance(item, int) and item < len(node):
            out.append(item)
            node = node[item]
        elif isinstance(node, (dict, list)):
            # A tag (union member name) or a missing key: a missing key is reported at its
            # parent's line but keeps its name in the path.
            if isinstance(node, dict) and isinstance(item, str) and item not in _TAGS:
                out.append(item)
                node = None
        else:
            break
    return tuple(out)


_TAGS: set[str] = set()


def load_config(path: Path | str, board: Optional[str] = None) -> AppConfig:
    """Load and validate a config file, over a board profile if ``board`` names one (see boards.py).

    Raise ConfigError listing every problem with the file and line that set the key.
    """
    from .boards import read_layers
    from ..sources import BACKENDS

    _TAGS.update(BACKENDS)
    # Relative paths are relative to the config file, also for keys a profile set (profiles hold none).
    return validate_located(read_layers(Path(path), board), AppConfig, context={"base_dir": Path(path).resolve().parent}, yaml_loc=_yaml_loc)
