"""Raspberry Pi camera (libcamera) through picamera2, imported only when this backend opens."""

from __future__ import annotations

import time
from typing import Callable, Iterator, Literal, Optional

from pydantic import Field

from ..core.config_base import StrictModel
from ..core.errors import SourceError
from ..core.types import Event, VideoFrame
from ..core.extras import require_module
from .base import SourceBackend
from .frame_rate import FrameRateLimiter


class Picamera2CameraConfig(StrictModel):
    backend: Literal["picamera2"] = Field(description="A Raspberry Pi camera module read with picamera2 (Raspberry Pi OS; `pip install affectedge[pi]` plus python3-libcamera from apt).")
    camera_num: int = Field(0, ge=0, description="Which camera (0 = the first CSI camera).")
    width: int = Field(640, ge=16, description="Frame width in pixels.")
    height: int = Field(480, ge=16, description="Frame height in pixels.")
    fps: float = Field(15.0, gt=0, description="Sensor frame rate. The sensor itself runs at this rate, so frames that would be dropped are never made.")
    max_fps: Optional[float] = Field(None, gt=0, description="Pass on at most this many frames per second (counted drops, event frames_skipped); null passes every frame.")


class Picamera2CameraSource:
    """Frames in BGR order (picamera2's "RGB888" is B, G, R in memory, as OpenCV expects), stamped
    with ``time.monotonic()`` when the capture returns."""

    live = True

    def __init__(self, config: Picamera2CameraConfig, name: str = "camera", clock: Callable[[], float] = time.monotonic):
        self.config = config
        self.name = name
        self.clock = clock
        self._camera = None
        self._closed = False

    def open(self) -> None:
        picamera2 = require_module("picamera2", "picamera2", "pi")
        c = self.config
        try:
            camera = picamera2.Picamera2(c.camera_num)
            video = camera.create_video_configuration(
                main={"size": (c.width, c.height), "format": "RGB888"},
                controls={"FrameRate": c.fps},
                buffer_count=2,  # a small ring: the newest frames, never a backlog
            )
            camera.configure(video)
            camera.start()
        except (RuntimeError, IndexError, OSError) as exc:
            raise SourceError(f"picamera2 camera {c.camera_num}: cannot start ({exc})") from None
        self._camera = camera
        self._closed = False

    def samples(self) -> Iterator[VideoFrame | Event]:
        camera = self._camera
        if camera is None:
            raise SourceError(f"picamera2 camera {self.config.camera_num}: samples() before open()")
        limiter = FrameRateLimiter(self.config.max_fps, self.name)
        yield Event(self.clock(), "source_up", self.name, {"camera": self.config.camera_num})
        index = 0
        error = None
        while not self._closed:
            try:
                image = camera.capture_array("main")
            except (RuntimeError, OSError) as exc:  # camera unplugged, or stopped by close()
                error = str(exc)
                break
            t = self.clock()
            if not limiter.admit(t):
                continue
            # XRGB8888 comes with a fourth byte; keep three channels whatever the pipeline returned.
            yield VideoFrame(t, image[:, :, :3] if image.shape[2] == 4 else image, self.name, index)
            index += 1
            event = limiter.report(t)
            if event is not None:
                yield event
        t = self.clock()
        event = limiter.report(t, final=True)
        if event is not None:
            yield event
        detail = {"frames": limiter.kept, "skipped": limiter.skipped}
        yield Event(t, "source_down", self.name, detail if error is None else {**detail, "error": error})

    def close(self) -> None:
        self._closed = True
        if self._camera is not None:
            try:
                self._camera.stop()
                self._camera.close()
            finally:
                self._camera = None


BACKEND = SourceBackend("picamera2", "camera", Picamera2CameraConfig, Picamera2CameraSource)
