"""Source backends, registered by key. Adding a backend = adding one module and one line below."""

from __future__ import annotations

from typing import Annotated, Union

from pydantic import Field

from . import ble, opencv_camera, picamera2_camera, replay_csv, replay_video, replay_wav, sounddevice_mic
from .base import Source, SourceBackend

BACKENDS: dict[str, SourceBackend] = {
    b.key: b
    for b in (
        replay_video.BACKEND,
        opencv_camera.BACKEND,
        picamera2_camera.BACKEND,
        replay_wav.BACKEND,
        sounddevice_mic.BACKEND,
        replay_csv.BACKEND,
        ble.BACKEND,
    )
}


def _union(family: str):
    types = tuple(b.config_type for b in BACKENDS.values() if b.family == family)
    if len(types) == 1:
        return types[0]
    return Annotated[Union[types], Field(discriminator="backend")]


CameraSourceConfig = _union("camera")
MicrophoneSourceConfig = _union("microphone")
PhysiologySourceConfig = _union("physiology")


def create_source(config, name: str) -> Source:
    """Instantiate the backend that ``config.backend`` names."""
    return BACKENDS[config.backend].factory(config, name)


__all__ = ["BACKENDS", "CameraSourceConfig", "MicrophoneSourceConfig", "PhysiologySourceConfig", "Source", "create_source"]
