"""One session's files -> the service config that replays them (the service's own replay backends).

A session is a video file and/or a WAV file and/or physiology files (the product's CSV:
``t,kind,value``), each with a start offset on the session clock. Without a WAV, the video's own
audio track is used: demuxed and decoded with PyAV into a 16-bit PCM WAV beside the outputs (the
service then replays that WAV), never by shelling out. Everything else comes from the given
service config (perception, fusion, zones, window), so the windows are the ones the device would
have produced from the same signals.
"""

from __future__ import annotations

import math

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from ..config.app import AppConfig, load_config
from ..core.errors import SourceError
from ..core.extras import require_module


@dataclass(frozen=True)
class SessionFiles:
    """What one session is made of; offsets place each stream on the session clock (seconds)."""

    name: str
    video: Optional[Path] = None
    audio: Optional[Path] = None
    physiology: Sequence[Path] = field(default_factory=tuple)
    video_start_s: float = 0.0
    audio_start_s: float = 0.0
    physiology_start_s: float = 0.0
    physiology_format: str = "affectedge"  # a key of sources/physio_formats.READERS

    def __post_init__(self) -> None:
        if self.video is None and self.audio is None and not self.physiology:
            raise SourceError(f"session {self.name!r}: give a video, an audio file or physiology files")
        from ..sources.base import MAX_START_S

        for what in ("video_start_s", "audio_start_s", "physiology_start_s"):
            v = getattr(self, what)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and 0.0 <= v <= MAX_START_S):
                raise SourceError(f"session {self.name!r}: {what} {v} is not an offset on the session clock (0 to {MAX_START_S:.0f} s)")

    def missing(self) -> list[Path]:
        """Input files that do not exist (checked when the session runs, so that in a study one
        missing file fails its session alone)."""
        return [p for p in [self.video, self.audio, *self.physiology]
                if p is not None and not (Path(p).is_file() or (p in self.physiology and Path(p).is_dir()))]

    def check(self) -> None:
        """Raise SourceError naming the first input that is missing."""
        gone = self.missing()
        if gone:
            raise SourceError(f"session {self.name!r}: {gone[0]} not found")


def demux_audio(video: Path, out: Path, warnings: Optional[list] = None) -> Optional[Path]:
    """The video's first audio track as a mono 16-bit PCM WAV at its own rate (None if it has none).
    A file cut short keeps the audio decoded before the cut, and says so in ``warnings``."""
    import wave

    av = require_module("av", "analyse (audio from video)", "analyse")
    try:
        with av.open(str(video)) as container:
            if not container.streams.audio:
                return None
            stream = container.streams.audio[0]
            resampler = av.AudioResampler(format="s16", layout="mono", rate=stream.codec_context.sample_rate)
            chunks = []
            try:
                for frame in container.decode(stream):
                    for f in resampler.resample(frame):
                        chunks.append(f.to_ndarray().reshape(-1))
            except av.error.FFmpegError as exc:
                if not chunks:
                    raise
                decoded = sum(len(c) for c in chunks) / stream.codec_context.sample_rate
                if warnings is not None:
                    warnings.append(f"{Path(video).name}: its audio track stops decoding after {decoded:.1f} s ({exc}); "
                                    "the session has the audio before that (the file is cut short?)")
            for f in resampler.resample(None):
                chunks.append(f.to_ndarray().reshape(-1))
            rate = stream.codec_context.sample_rate
    except av.error.FFmpegError as exc:
        raise SourceError(f"{video}: cannot read its audio track ({exc})") from None
    pcm = np.concatenate(chunks).astype("<i2") if chunks else np.zeros(0, "<i2")
    out.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(out), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return out


def session_config(files: SessionFiles, out: Path, config: Optional[AppConfig | Path] = None,
                   warnings: Optional[list] = None) -> AppConfig:
    """The service config that replays ``files`` as fast as it can, logging into ``out``.

    ``config`` (a service config or its file) supplies everything but the sources, the log and
    publishing: its ``sources`` are replaced by the given files, nothing is published, and the
    session log goes to ``out/session.sqlite``.
    """
    base = config if isinstance(config, AppConfig) else (load_config(config) if config is not None else AppConfig())
    data = base.model_dump(mode="json", exclude={"sources", "log", "publish", "run"})
    sources: dict = {}
    if files.video is not None:
        # Frames are analysed at the rate the config's camera would deliver (15 fps, the board
        # profiles' rate, when it names none): the same windows a device with that camera makes.
        max_fps = getattr(base.sources.camera, "max_fps", None) or 15.0
        sources["camera"] = {"backend": "replay_video", "max_fps": max_fps,
                             "clips": [{"path": str(Path(files.video).resolve()), "start_s": files.video_start_s}]}
    audio = files.audio
    if audio is None and files.video is not None:
        audio = demux_audio(Path(files.video), out / "audio-from-video.wav", warnings)
        audio_start = files.video_start_s
    else:
        audio_start = files.audio_start_s
    if audio is not None:
        sources["microphone"] = {"backend": "replay_wav", "path": str(Path(audio).resolve()), "start_s": audio_start}
    if files.physiology:
        sources["physiology"] = [{"backend": "replay_csv", "path": str(Path(p).resolve()), "format": files.physiology_format,
                                  "start_s": files.physiology_start_s} for p in files.physiology]
    data.update(sources=sources, log={"sqlite": str(out / "session.sqlite"), "console": False}, run={"pace": "fast"})
    data["device"] = {**data.get("device", {}), "id": data.get("device", {}).get("id") or "affectedge-analyse"}
    return AppConfig.model_validate(data)
