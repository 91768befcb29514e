"""Assembly: turn a validated config into a ready pipeline (the only place that knows every stage)."""

from __future__ import annotations

import time
from typing import Callable, Optional, Sequence

from ..config.app import AppConfig
from ..perception.base import Analyser
from .pipeline import Pipeline
from ..sinks.base import Sink
from ..sinks.console import ConsoleSink
from ..sinks.jsonl import JsonlSink
from ..privacy.log_crypto import LogCipher
from ..sinks.log_rotation import RotatingSessionLog
from ..sinks.session_log import SessionLog
from ..sources import create_source


def build_analysers(config: AppConfig, baseline=None) -> list[Analyser]:
    """One analyser per modality that has a configured source."""
    analysers: list[Analyser] = []
    if config.sources.camera is not None:
        from ..sources import BACKENDS
        from ..perception.face import FaceAnalyser

        live = bool(getattr(BACKENDS[config.sources.camera.backend].factory, "live", False))
        analysers.append(FaceAnalyser(config.perception.face, source="camera", live=live, baseline=baseline))
    if config.sources.physiology:
        from ..perception.physiology import PhysiologyAnalyser

        analysers.append(PhysiologyAnalyser(config.perception.physiology, baseline))
    if config.sources.microphone is not None:
        from ..perception.voice import VoiceAnalyser

        analysers.append(VoiceAnalyser(config.perception.voice, baseline))
    return analysers


def build_sources(config: AppConfig) -> list:
    src = config.sources
    sources = []
    if src.camera is not None:
        sources.append(create_source(src.camera, "camera"))
    if src.microphone is not None:
        sources.append(create_source(src.microphone, "microphone"))
    for i, phys in enumerate(src.physiology):
        sources.append(create_source(phys, "physiology" if len(src.physiology) == 1 else f"physiology{i}"))
    return sources


def load_baseline(config: AppConfig):
    """The configured per-person baseline, or None for population defaults."""
    if config.perception.baseline_profile is None:
        return None
    from ..perception.baseline import load_baseline as _load

    return _load(config.perception.baseline_profile)


def build_sinks(config: AppConfig, extra: Sequence[Sink] = (), run_info: Optional[dict] = None,
                live: bool = False) -> list[Sink]:
    sinks: list[Sink] = []
    log = config.log
    cipher = LogCipher.from_key_file(log.encryption_key_file) if log.encryption_key_file else None
    if log.sqlite is not None:
        sinks.append(SessionLog(log.sqlite, config.device.id, run_info, cipher))
    if log.directory is not None:
        sinks.append(RotatingSessionLog(log.directory, config.device.id, run_info, log.rotate_every_h,
                                        log.retention_days, log.retention_max_mb, cipher))
    if config.log.jsonl is not None:
        sinks.append(JsonlSink(config.log.jsonl))
    if config.log.console:
        # Live runs stamp lines with the local time: their source clock is the machine's monotonic one.
        sinks.append(ConsoleSink(wall_clock=time.time if live else None))
    if config.publish is not None:
        from ..publish.sink import PublishSink

        sinks.append(PublishSink(config.publish, config.device.id, config.device.subject_id))
    sinks.extend(extra)
    return sinks


def build_pipeline(config: AppConfig, extra_sinks: Sequence[Sink] = (), run_info: Optional[dict] = None,
                   clock: Callable[[], float] = time.monotonic) -> Pipeline:
    baseline = load_baseline(config)
    info = dict(run_info or {})
    # The review report shows which calibration a run used, and export filters by its subject.
    info["baseline"] = None if baseline is None else {
        "path": str(config.perception.baseline_profile),
        "subject": baseline.subject,
        "created": baseline.created.isoformat(),
        "personal_head": baseline.personal_head is not None,
    }
    sources = build_sources(config)
    live = any(getattr(s, "live", False) for s in sources)
    head = getattr(baseline, "personal_head", None)
    return Pipeline(config, sources, build_analysers(config, baseline), build_sinks(config, extra_sinks, info, live), clock, head)
