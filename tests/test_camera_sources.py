"""Contract tests for camera backends, run alike over a replayed real clip.

The camera sensor cannot exist here, so the boundary object is replaced by a replay of a real
recording: for OpenCV, a capture factory that decodes the real mp4 with cv2.VideoCapture and
advances a clock at the clip's frame rate; for picamera2, a stand-in ``Picamera2`` class that
serves the same decoded frames. replay_video runs through the same checks.
"""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2", reason="OpenCV decodes the real clips and photographs (camera extra)")

from affectedge.config.app import AppConfig  # noqa: E402
from affectedge.core.errors import BackendUnavailableError, SourceError  # noqa: E402
from affectedge.sources import create_source  # noqa: E402
from affectedge.sources.opencv_camera import OpenCvCameraConfig, OpenCvCameraSource  # noqa: E402
from affectedge.sources.picamera2_camera import Picamera2CameraConfig, Picamera2CameraSource  # noqa: E402
from affectedge.sources.replay_video import ReplayVideoConfig, ReplayVideoSource  # noqa: E402
from affectedge.core.types import Event, VideoFrame  # noqa: E402

CLIP = "single_face.mp4"  # 640x360, 30 fps, 72 frames


class ReplayClock:
    """The camera's clock: advances one frame period per captured frame."""

    def __init__(self, fps: float, start: float = 1000.0):
        self.period, self.now = 1.0 / fps, start

    def __call__(self) -> float:
        return self.now

    def tick(self) -> None:
        self.now += self.period


class ReplayCapture:
    """VideoCapture's interface over a real clip (grab/retrieve/read/set/isOpened/release)."""

    def __init__(self, path, clock: ReplayClock):
        self._cap = cv2.VideoCapture(str(path))
        self._clock = clock
        self.settings: dict = {}
        self.released = False

    def isOpened(self):
        return self._cap.isOpened()

    def set(self, prop, value):
        self.settings[prop] = value
        return True

    def grab(self):
        ok = self._cap.grab()
        if ok:
            self._clock.tick()
        return ok

    def retrieve(self):
        return self._cap.retrieve()

    def release(self):
        self.released = True
        self._cap.release()


def fake_picamera2_module(path, clock: ReplayClock):
    """A stand-in picamera2 module whose camera serves the clip's decoded frames."""

    class Picamera2:
        instances: list = []

        def __init__(self, camera_num=0):
            self.camera_num = camera_num
            self._cap = cv2.VideoCapture(str(path))
            self.configured = self.started = self.closed = False
            Picamera2.instances.append(self)

        def create_video_configuration(self, main, controls=None, buffer_count=4):
            return {"main": main, "controls": controls, "buffer_count": buffer_count}

        def configure(self, config):
            assert config["main"]["format"] == "RGB888"
            self.configured = config

        def start(self):
            self.started = True

        def capture_array(self, name="main"):
            ok, frame = self._cap.read()  # BGR bytes: what picamera2's RGB888 gives
            if not ok:
                raise RuntimeError("camera stopped")
            clock.tick()
            return frame

        def stop(self):
            self.started = False

        def close(self):
            self.closed = True
            self._cap.release()

    return types.SimpleNamespace(Picamera2=Picamera2)


@pytest.fixture
def clip(feat_data):
    return feat_data / CLIP


@pytest.fixture
def decoded(clip):
    cap = cv2.VideoCapture(str(clip))
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
    return frames


def make_opencv(clip, max_fps, monkeypatch):
    clock = ReplayClock(30.0)
    captures = []

    def factory(device):
        captures.append(ReplayCapture(device, clock))
        return captures[-1]

    cfg = OpenCvCameraConfig(backend="opencv", device=str(clip), max_fps=max_fps)
    return OpenCvCameraSource(cfg, "camera", capture_factory=factory, clock=clock), captures


def make_picamera2(clip, max_fps, monkeypatch):
    clock = ReplayClock(30.0)
    module = fake_picamera2_module(clip, clock)
    monkeypatch.setitem(sys.modules, "picamera2", module)
    cfg = Picamera2CameraConfig(backend="picamera2", fps=30, max_fps=max_fps)
    return Picamera2CameraSource(cfg, "camera", clock=clock), module.Picamera2.instances


def make_replay(clip, max_fps, monkeypatch):
    return ReplayVideoSource(ReplayVideoConfig(backend="replay_video", clips=[{"path": clip}]), "camera"), []


LIVE = {"opencv": make_opencv, "picamera2": make_picamera2}
ALL = {**LIVE, "replay_video": make_replay}


def drain(source):
    source.open()
    try:
        items = list(source.samples())
    finally:
        source.close()
    frames = [i for i in items if isinstance(i, VideoFrame)]
    events = [i for i in items if isinstance(i, Event)]
    return frames, events


@pytest.mark.parametrize("backend", sorted(ALL))
def test_every_frame_is_delivered_in_order_as_recorded(backend, clip, decoded, monkeypatch):
    source, _ = ALL[backend](clip, None, monkeypatch)
    frames, events = drain(source)
    assert len(frames) == len(decoded) == 72
    assert all(np.diff([f.t for f in frames]) > 0)
    assert [f.index for f in frames] == list(range(72))
    for f, ref in zip(frames[::10], decoded[::10]):
        assert f.source == "camera" and f.image.dtype == np.uint8 and f.image.shape == (360, 640, 3)
        np.testing.assert_array_equal(f.image, ref)  # BGR, untouched
    # A recording ends (said as such); a live camera that stops delivering is down.
    assert events[0].kind == "source_up" and events[-1].kind == ("recording_ended" if backend == "replay_video" else "source_down")


@pytest.mark.parametrize("backend", sorted(LIVE))
def test_live_cameras_limit_the_frame_rate_and_count_the_drops(backend, clip, decoded, monkeypatch):
    source, _ = LIVE[backend](clip, 10.0, monkeypatch)
    frames, events = drain(source)
    # 30 fps limited to 10 fps: every third frame, the others counted.
    assert len(frames) == 24
    gaps = np.diff([f.t for f in frames])
    np.testing.assert_allclose(gaps, 0.1, atol=1e-6)
    skipped = sum(e.detail["count"] for e in events if e.kind == "frames_skipped")
    assert skipped == 72 - 24
    assert events[-1].detail["frames"] == 24 and events[-1].detail["skipped"] == 48
    np.testing.assert_array_equal(frames[1].image, decoded[3])


@pytest.mark.parametrize("backend", sorted(LIVE))
def test_live_cameras_are_flagged_live_and_release_the_device(backend, clip, monkeypatch):
    source, handles = LIVE[backend](clip, None, monkeypatch)
    assert getattr(source, "live", False) is True
    drain(source)
    assert handles and all(getattr(h, "released", False) or getattr(h, "closed", False) for h in handles)


def test_opencv_camera_that_cannot_open_is_a_source_error(tmp_path):
    cfg = OpenCvCameraConfig(backend="opencv", device=str(tmp_path / "no-such-camera.mp4"))
    with pytest.raises(SourceError, match="no-such-camera.mp4"):
        OpenCvCameraSource(cfg).open()


def test_picamera2_missing_names_the_pi_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "picamera2", None)
    src = create_source(Picamera2CameraConfig(backend="picamera2"), "camera")
    with pytest.raises(BackendUnavailableError, match=r"affectedge\[pi\]"):
        src.open()


def test_camera_backends_are_chosen_by_config_key():
    cfg = AppConfig.model_validate({"sources": {"camera": {"backend": "picamera2", "width": 800, "height": 600}}})
    assert isinstance(create_source(cfg.sources.camera, "camera"), Picamera2CameraSource)
    cfg = AppConfig.model_validate({"sources": {"camera": {"backend": "opencv", "device": "rtsp://cam.local/stream"}}})
    assert isinstance(create_source(cfg.sources.camera, "camera"), OpenCvCameraSource)
