"""Per-modality analysers, built from the config."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import Analyser

if TYPE_CHECKING:
    from ..config import AppConfig


def build_analysers(config: "AppConfig", baseline=None) -> list[Analyser]:
    """One analyser per modality that has a configured source."""
    analysers: list[Analyser] = []
    if config.sources.camera is not None:
        from ..sources import BACKENDS
        from .face import FaceAnalyser

        live = bool(getattr(BACKENDS[config.sources.camera.backend].factory, "live", False))
        analysers.append(FaceAnalyser(config.perception.face, source="camera", live=live, baseline=baseline))
    if config.sources.physiology:
        from .physiology import PhysiologyAnalyser

        analysers.append(PhysiologyAnalyser(config.perception.physiology, baseline))
    if config.sources.microphone is not None:
        from .voice import VoiceAnalyser

        analysers.append(VoiceAnalyser(config.perception.voice, baseline))
    return analysers
