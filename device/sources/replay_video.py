"""Replay of recorded video: one or more clips placed on the session timeline (OpenCV decode)."""

from __future__ import annotations

from typing import Iterator, Literal, Optional

from pydantic import Field

from ..core.config_base import ConfigPath, StrictModel
from ..core.errors import SourceError
from ..core.types import Event, VideoFrame
from ..core.extras import require_module
from .base import MAX_START_S, SourceBackend
from .frame_rate import FrameRateLimiter


class VideoClipConfig(StrictModel):
    path: ConfigPath = Field(description="Video file (anything OpenCV/FFmpeg decodes: mp4, mov, avi).")
    start_s: float = Field(0.0, ge=0, le=MAX_START_S, allow_inf_nan=False, description="Where the clip's first frame sits on the session timeline, in seconds.")
    fps: Optional[float] = Field(None, gt=0, description="Override the container's frame rate (for files that misreport it).")


class ReplayVideoConfig(StrictModel):
    backend: Literal["replay_video"] = Field(description="Replay recorded video files.")
    clips: list[VideoClipConfig] = Field(min_length=1, description="Clips in timeline order; gaps between them are periods with no camera.")
    max_fps: Optional[float] = Field(None, gt=0, description="Pass on at most this many frames per second, as a live camera with the same setting would (the others are grabbed, not converted, and counted in frames_skipped events). Null passes every frame.")


class ReplayVideoSource:
    """Decodes each clip in turn and stamps frames with ``start_s + index / fps``."""

    def __init__(self, config: ReplayVideoConfig, name: str = "camera"):
        self.config = config
        self.name = name
        self._cv2 = None

    def open(self) -> None:
        self._cv2 = require_module("cv2", "replay_video", "camera")
        for clip in self.config.clips:
            if not clip.path.is_file():
                raise SourceError(f"{clip.path}: video clip not found")

    def samples(self) -> Iterator[VideoFrame | Event]:
        cv2 = self._cv2
        index = 0
        limiter = FrameRateLimiter(self.config.max_fps, self.name)
        clips = self.config.clips
        for i, clip in enumerate(clips):
            cap = cv2.VideoCapture(str(clip.path))
            if not cap.isOpened():
                raise SourceError(f"{clip.path}: OpenCV cannot decode this file")
            fps = clip.fps or cap.get(cv2.CAP_PROP_FPS)
            if not fps or fps <= 0:
                cap.release()
                raise SourceError(f"{clip.path}: no frame rate in the container; set fps for this clip")
            if i == 0:
                yield Event(clip.start_s, "source_up", self.name, {"clip": clip.path.name, "fps": round(fps, 3)})
            n = 0
            declared = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
            try:
                while cap.grab():
                    t = clip.start_s + n / fps
                    n += 1
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
            finally:
                cap.release()
            t_end = clip.start_s + n / fps
            # A file cut short (a copy that stopped, a recorder that died) decodes as a shorter
            # recording without complaint: compare with the frame count its header declares.
            if declared > 0 and n < declared - max(2, declared // 50):
                yield Event(t_end, "recording_truncated", self.name,
                            {"clip": clip.path.name, "frames_expected": declared, "frames_decoded": n})
            event = limiter.report(t_end, final=True)
            if event is not None:
                yield event
            # The end of a clip is not a camera failing: say which clip ended and what follows.
            if i + 1 < len(clips):
                yield Event(t_end, "clip_changed", self.name, {"clip": clip.path.name, "frames": n, "next": clips[i + 1].path.name})
            else:
                yield Event(t_end, "recording_ended", self.name, {"clip": clip.path.name, "frames": n})

    def close(self) -> None:
        pass


BACKEND = SourceBackend("replay_video", "camera", ReplayVideoConfig, ReplayVideoSource)
