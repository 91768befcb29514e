"""Turning `affectedge calibrate` arguments into a CalibrationPlan (a service config or a replay)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from affectedge.config.app import AppConfig, load_config
from affectedge.offline.demo import demo_config_dict
from affectedge.core.errors import AffectEdgeError
from affectedge.offline.demo_session import default_session_dir, load_rest_recording, load_session

from .calibrate import CalibrationPlan

SECRET_FILE = "affectedge-pseudonym.secret"


class CalibrationError(AffectEdgeError):
    """The calibration cannot start (no subject, a span outside the recording...)."""


def _secret_for(config: AppConfig, fallback: Path) -> Path:
    # One key per device: the one the publisher uses when it is configured, else the same default
    # name next to the config, so profiles and published summaries carry the same pseudonym.
    publish = getattr(config, "publish", None)
    configured = getattr(publish, "pseudonym_secret_file", None)
    return Path(configured) if configured else fallback


def _subject(config: AppConfig, subject: Optional[str]) -> str:
    subject = subject or config.device.subject_id
    if not subject:
        raise CalibrationError("no subject: set device.subject_id in the config or pass --subject ID")
    return subject


def _with_min_duration(config: AppConfig, min_duration_s: Optional[float]) -> AppConfig:
    if min_duration_s is None:
        return config
    data = config.model_dump()
    data["calibration"]["baseline"]["min_duration_s"] = min_duration_s
    return AppConfig.model_validate(data)


def plan_from_config(path: Path, subject: Optional[str] = None, profiles: Optional[Path] = None,
                     secret: Optional[Path] = None, duration_s: Optional[float] = None,
                     min_duration_s: Optional[float] = None, force: bool = False) -> CalibrationPlan:
    """Calibrate the sensors of a service config (live devices, or replay backends in it)."""
    config = _with_min_duration(load_config(path), min_duration_s)
    return CalibrationPlan(
        config=config,
        subject_id=_subject(config, subject),
        secret_file=secret or _secret_for(config, Path(path).resolve().parent / SECRET_FILE),
        profiles_dir=profiles or config.calibration.profiles_dir,
        label=f"sensors of {path}",
        duration_s=duration_s,
        force=force,
    )


def plan_from_replay(session_dir: Optional[Path], rest: bool = False, start_s: float = 0.0, duration_s: Optional[float] = None,
                     min_duration_s: Optional[float] = None, subject: Optional[str] = None, profiles: Optional[Path] = None,
                     secret: Optional[Path] = None, force: bool = False) -> CalibrationPlan:
    """Calibrate from the demo session's recordings; with ``rest`` the physiology is its resting span."""
    session_dir = Path(session_dir) if session_dir else default_session_dir()
    session = load_session(session_dir)
    data = demo_config_dict(session, Path("."), console=False)
    data["log"] = {"console": False}  # calibration writes no session log
    data["run"] = {"pace": "fast"}
    span_s = session.duration_s
    label = f"replay of {session.name} ({session_dir})"
    if rest:
        rec = load_rest_recording(session_dir)
        data["sources"]["physiology"] = [{"backend": "replay_csv", "path": str(rec.physiology.path), "start_s": rec.physiology.start_s}]
        span_s = rec.duration_s
        label += f", physiology from its resting span (systole Task1 {rec.source_span_s[0]:g}-{rec.source_span_s[1]:g} s)"
    config = _with_min_duration(AppConfig.model_validate(data), min_duration_s)
    if not (0.0 <= start_s < span_s):
        raise CalibrationError(f"--start {start_s:g} is outside the recording (0-{span_s:g} s)")
    duration = duration_s if duration_s is not None else span_s - start_s
    if start_s + duration > span_s + 1e-9:
        raise CalibrationError(f"--start {start_s:g} + --duration {duration:g} runs past the end of the recording ({span_s:g} s)")
    profiles = profiles or Path("profiles")
    return CalibrationPlan(
        config=config,
        subject_id=subject or config.device.subject_id,
        secret_file=secret or profiles.resolve().parent / SECRET_FILE,
        profiles_dir=profiles,
        label=label + f", span {start_s:g}-{start_s + duration:g} s",
        start_s=start_s,
        duration_s=duration,
        force=force,
    )
