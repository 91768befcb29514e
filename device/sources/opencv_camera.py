"""Live camera through OpenCV VideoCapture: USB/V4L2 webcams, video files, RTSP/HTTP streams."""

from __future__ import annotations

import time
from typing import Callable, Iterator, Literal, Optional, Union

from pydantic import Field

from ..core.config_base import StrictModel
from ..core.errors import SourceError
from ..core.types import Event, VideoFrame
from ..core.extras import require_module
from .base import SourceBackend
from .frame_rate import FrameRateLimiter


class OpenCvCameraConfig(StrictModel):
    backend: Literal["opencv"] = Field(description="A camera read with OpenCV (V4L2 webcam, file or network stream).")
    device: Union[int, str] = Field(0, description="Camera index (0 = /dev/video0), a device path, a video file, or an rtsp:// / http:// URL.")
    width: Optional[int] = Field(640, ge=16, description="Requested frame width in pixels (the camera may pick the nearest mode it has); null keeps the camera's default.")
    height: Optional[int] = Field(480, ge=16, description="Requested frame height in pixels; null keeps the camera's default.")
    fps: Optional[float] = Field(30.0, gt=0, description="Requested capture rate; null keeps the camera's default.")
    max_fps: Optional[float] = Field(15.0, gt=0, description="Pass on at most this many frames per second; the others are grabbed but not decoded, and counted (event frames_skipped). Null passes every frame.")


class OpenCvCameraSource:
    """Frames stamped with ``time.monotonic()`` at capture. ``capture_factory`` is the seam for tests
    (it receives the ``device`` value and returns an object with VideoCapture's methods)."""

    live = True

    def __init__(self, config: OpenCvCameraConfig, name: str = "camera",
                 capture_factory: Optional[Callable] = None, clock: Callable[[], float] = time.monotonic):
        self.config = config
        self.name = name
        self.clock = clock
        self._factory = capture_factory
        self._cap = None
        self._closed = False
        self._reading = False

    def open(self) -> None:
        cv2 = require_module("cv2", "opencv", "camera")
        # OpenCV's own warnings ("can't open camera by index") would repeat on every retry; the
        # supervisor reports the failure once, with what to do (source_status.py).
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
        factory = self._factory or cv2.VideoCapture
        cap = factory(self.config.device)
        if not cap.isOpened():
            raise SourceError(f"camera {self.config.device!r}: OpenCV cannot open it (no such device, or busy)")
        c = self.config
        if c.width:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, c.width)
        if c.height:
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, c.height)
        if c.fps:
            cap.set(cv2.CAP_PROP_FPS, c.fps)
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # the newest frame, not one from several frames ago
        self._cap = cap
        self._closed = False

    def samples(self) -> Iterator[VideoFrame | Event]:
        cap = self._cap
        if cap is None:
            raise SourceError(f"camera {self.config.device!r}: samples() before open()")
        self._reading = True
        limiter = FrameRateLimiter(self.config.max_fps, self.name)
        yield Event(self.clock(), "source_up", self.name, {"device": str(self.config.device)})
        index = 0
        try:
            while not self._closed:
                if not cap.grab():
                    break  # end of a file, or the camera went away
                t = self.clock()
                if not limiter.admit(t):
                    continue
                ok, image = cap.retrieve()
                if not ok:
                    continue
                yield VideoFrame(t, image, self.name, index)
                index += 1
                event = limiter.report(t)
                if event is not None:
                    yield event
            t = self.clock()
            event = limiter.report(t, final=True)
            if event is not None:
                yield event
            yield Event(t, "source_down", self.name, {"frames": limiter.kept, "skipped": limiter.skipped})
        finally:
            cap.release()
            self._cap = None

    def close(self) -> None:
        # The reading thread releases the capture itself when it sees the flag; releasing it from
        # here while grab() runs in that thread could crash inside OpenCV.
        self._closed = True
        if self._cap is not None and not self._reading:
            self._cap.release()
            self._cap = None


BACKEND = SourceBackend("opencv", "camera", OpenCvCameraConfig, OpenCvCameraSource)
