"""Properties of the pure fusion step."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from affectedge.fusion.config import FusionConfig, WindowConfig, ZoneConfig
from affectedge.fusion.fuse import FusionState, fuse_window
from affectedge.core.records import dumps, window_record
from affectedge.core.types import LABELS, ModalityEstimate
from affectedge.fusion.zones import zone_for

FUSION = FusionConfig()
NO_SMOOTHING = WindowConfig(smoothing_tau_s=0.0)
ZONES = ZoneConfig()


def onehot(label: str, p: float = 1.0) -> tuple[float, ...]:
    rest = (1.0 - p) / (len(LABELS) - 1)
    return tuple(p if l == label else rest for l in LABELS)


def est(modality, quality=1.0, probs=None, valence=None, arousal=None, start=0.0, end=0.2):
    return ModalityEstimate(modality, start, end, quality, probs, valence, arousal)


def fuse(estimates, state=None, window=NO_SMOOTHING, fusion=FUSION, start=0.0):
    return fuse_window(0, start, start + 0.2, estimates, state or FusionState(), fusion, window, ZONES)


def test_weights_renormalise_over_present_modalities():
    w, _ = fuse([est("face", 1.0, onehot("happy"), 0.8, 0.4), est("physiology", 0.5, arousal=-0.2)])
    face_w, phys_w = FUSION.weights["face"] * 1.0, FUSION.weights["physiology"] * 0.5
    # valence only from the face; arousal mixes both with weight x quality
    assert w.valence == pytest.approx(0.8)
    assert w.arousal == pytest.approx((face_w * 0.4 + phys_w * -0.2) / (face_w + phys_w))
    assert w.modalities["physiology"].weight == pytest.approx(phys_w)
    assert w.top_label()[0] == "happy"
    assert sum(w.probabilities) == pytest.approx(1.0)


def test_missing_modality_lowers_confidence():
    full = [est("face", 0.9, onehot("sad"), -0.5, -0.4), est("voice", 0.9, arousal=-0.3), est("physiology", 0.9, arousal=-0.2)]
    conf_all = fuse(full)[0].confidence
    conf_two = fuse(full[:2])[0].confidence
    conf_one = fuse(full[:1])[0].confidence
    assert conf_all > conf_two > conf_one > 0


def test_poor_quality_lowers_confidence():
    good = fuse([est("physiology", 0.9, arousal=0.1)])[0].confidence
    poor = fuse([est("physiology", 0.3, arousal=0.1)])[0].confidence
    assert good > poor


def test_window_with_nothing_is_no_data_not_neutral():
    w, _ = fuse([])
    assert w.status == "no_data"
    assert w.probabilities is None and w.valence is None and w.arousal is None and w.zone is None
    assert w.confidence == 0.0
    rec = window_record(w)
    assert rec["top"] is None and rec["status"] == "no_data"


def test_zero_quality_estimate_counts_as_absent():
    w, _ = fuse([est("face", 0.0, onehot("happy"), 0.5, 0.5)])
    assert w.status == "no_data"


def test_unweighted_modality_is_ignored():
    fusion = FusionConfig(weights={"face": 1.0, "physiology": 0.0})
    w, _ = fuse([est("physiology", 1.0, arousal=0.9)], fusion=fusion)
    assert w.status == "no_data"


def test_field_no_modality_can_estimate_stays_absent():
    w, _ = fuse([est("physiology", 0.8, arousal=0.5)])
    assert w.status == "ok" and w.probabilities is None and w.valence is None
    assert w.zone == "yellow"


def test_smoothing_moves_towards_new_value_with_time_constant():
    window = WindowConfig(smoothing_tau_s=1.0)
    _, state = fuse([est("physiology", 1.0, arousal=0.0)], window=window, start=0.0)
    w, _ = fuse([est("physiology", 1.0, arousal=1.0, start=0.2, end=0.4)], state, window=window, start=0.2)
    assert w.arousal == pytest.approx(1.0 - math.exp(-0.2 / 1.0))


def test_smoothing_restarts_after_a_long_gap():
    window = WindowConfig(smoothing_tau_s=1.0, reset_after_s=2.0)
    _, state = fuse([est("physiology", 1.0, arousal=-0.8)], window=window)
    w, _ = fuse([est("physiology", 1.0, arousal=0.6)], state, window=window, start=10.0)
    assert w.arousal == pytest.approx(0.6)


def test_fusion_is_deterministic_byte_for_byte():
    inputs = [est("face", 0.77, onehot("fearful", 0.6), -0.31, 0.52), est("physiology", 0.41, arousal=0.13)]
    window = WindowConfig(smoothing_tau_s=0.7)
    runs = []
    for _ in range(2):
        state, lines = FusionState(), []
        for k in range(20):
            w, state = fuse_window(k, k * 0.2, (k + 1) * 0.2, inputs, state, FUSION, window, ZONES)
            lines.append(dumps(window_record(w)))
        runs.append("\n".join(lines).encode())
    assert runs[0] == runs[1]


unit = st.floats(-1.0, 1.0, allow_nan=False)
quality = st.floats(0.01, 1.0, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(q=st.lists(quality, min_size=3, max_size=3), a=st.lists(unit, min_size=3, max_size=3), v=unit)
def test_fused_values_stay_in_range_and_between_inputs(q, a, v):
    ests = [est("face", q[0], onehot("angry", 0.7), v, a[0]), est("voice", q[1], arousal=a[1]), est("physiology", q[2], arousal=a[2])]
    w, _ = fuse(ests)
    assert min(a) - 1e-9 <= w.arousal <= max(a) + 1e-9
    assert 0.0 <= w.confidence <= 1.0
    if w.confidence >= ZONES.min_confidence:
        assert w.zone == zone_for(w.valence, w.arousal, ZONES) and w.zone_withheld is None
    else:
        assert w.zone is None and w.zone_withheld == "low_confidence"


@pytest.mark.parametrize("valence,arousal,zone", [
    (0.0, -0.6, "blue"), (0.5, 0.0, "green"), (0.6, 0.5, "yellow"), (0.7, 0.9, "yellow"),
    (-0.6, 0.9, "red"), (-0.6, 0.4, "yellow"), (None, 0.9, "red"), (0.3, None, None),
])
def test_zone_mapping(valence, arousal, zone):
    assert zone_for(valence, arousal, ZONES) == zone


def test_estimate_rejects_out_of_range_and_bad_probabilities():
    with pytest.raises(ValueError, match="arousal"):
        est("voice", 0.5, arousal=1.5)
    with pytest.raises(ValueError, match="sum to 1"):
        est("face", 0.5, probs=(0.5,) * len(LABELS))
    with pytest.raises(ValueError, match="modality"):
        est("smell", 0.5)


def test_the_faces_in_view_of_the_face_estimate_reach_the_fused_window():
    face = ModalityEstimate("face", 0.0, 0.2, 0.8, onehot("happy"), 0.5, 0.2, features={"faces_in_view": 3.0})
    w, _ = fuse([face, est("physiology", 0.5, arousal=0.1)])
    assert w.faces_in_view == 3
    assert window_record(w)["faces_in_view"] == 3
    w, _ = fuse([est("physiology", 0.5, arousal=0.1)])
    assert w.faces_in_view is None  # no face read: not "zero people"


def test_a_zone_needs_the_minimum_confidence_and_a_window_without_one_says_why():
    # A sliver of data: physiology at quality 0.05 gives a confidence well under 0.05.
    w, _ = fuse([est("physiology", 0.05, arousal=0.5)])
    assert w.status == "ok" and w.arousal == pytest.approx(0.5)
    assert w.confidence < ZONES.min_confidence
    assert w.zone is None and w.zone_withheld == "low_confidence"
    assert window_record(w)["zone_withheld"] == "low_confidence"
    no_floor = ZoneConfig(min_confidence=0.0)
    w0, _ = fuse_window(0, 0.0, 0.2, [est("physiology", 0.05, arousal=0.5)], FusionState(), FUSION, NO_SMOOTHING, no_floor)
    assert w0.zone == "yellow" and w0.zone_withheld is None
    w, _ = fuse([est("face", 0.9, onehot("happy"), valence=0.5)])
    assert w.zone is None and w.zone_withheld == "no_arousal"
    w, _ = fuse([])
    assert w.status == "no_data" and w.zone_withheld == "no_data"
    w, _ = fuse([est("physiology", 0.9, arousal=0.5)])
    assert w.zone == "yellow" and w.zone_withheld is None


@pytest.mark.parametrize("word, valence, arousal, zone", [
    # The curriculum's examples, placed on the circumplex (Russell & Mehrabian 1977, as
    # device/perception/expression.py places the expression labels; the others between them).
    ("sad", -0.63, -0.27, "blue"), ("unwell", -0.4, -0.05, "blue"), ("tired", 0.0, -0.6, "blue"), ("bored", -0.2, -0.5, "blue"),
    ("calm", 0.3, -0.2, "green"), ("content", 0.6, 0.0, "green"), ("focused", 0.2, 0.1, "green"), ("neutral", 0.0, 0.0, "green"),
    ("distressed", -0.6, 0.2, "yellow"), ("worried", -0.5, 0.35, "yellow"), ("frustrated", -0.51, 0.59, "yellow"),
    ("scared", -0.64, 0.60, "yellow"), ("excited", 0.81, 0.51, "yellow"), ("silly", 0.6, 0.7, "yellow"),
    ("rage", -0.6, 0.85, "red"), ("terror", -0.7, 0.9, "red"),
])
def test_the_curriculums_examples_land_in_its_zones(word, valence, arousal, zone):
    assert zone_for(valence, arousal, ZONES) == zone, word


def test_zone_thresholds_are_checked_for_order():
    with pytest.raises(ValueError, match="distress_min_arousal"):
        ZoneConfig(distress_min_arousal=0.5)


def test_a_personal_head_stands_in_for_arousal_as_a_pure_function_and_only_with_its_inputs():
    """Issue 24: the profile's head (affectedge personalise) is applied inside fusion: the same
    inputs give the same window every time; a window without any of its inputs keeps the generic
    arousal."""
    from affectedge.perception.baseline import MeanSd, PersonalHead, PhysiologyBaseline

    head = PersonalHead(target="state", inputs=("z_hr", "eda_rise"), centre=(0.0, 0.0), scale=(1.0, 0.1), weights=(0.8, 1.2),
                        bias=-0.5, physiology=PhysiologyBaseline(hr_bpm=MeanSd(mean=70.0, sd=5.0), eda_tonic_us=MeanSd(mean=0.3, sd=0.05)),
                        trained="unit test")
    phys = ModalityEstimate("physiology", 0.0, 0.2, 0.9, arousal=-0.2, features={"hr_bpm": 80.0, "eda_tonic_us": 0.35, "eda_rise_us": 0.03})
    args = (FusionState(), FusionConfig(), WindowConfig(smoothing_tau_s=0.0), ZoneConfig())
    a, _ = fuse_window(0, 0.0, 0.2, [phys], *args, head=head)
    b, _ = fuse_window(0, 0.0, 0.2, [phys], *args, head=head)
    assert a == b
    # z_hr = 2, eda_rise = 0.03 / 0.3 = 0.1 -> logit 0.8 * 2 + 1.2 * 1 - 0.5 = 2.3
    assert a.arousal == pytest.approx(2 / (1 + math.exp(-2.3)) - 1)
    face = ModalityEstimate("face", 0.0, 0.2, 0.9, probabilities=(1, 0, 0, 0, 0, 0, 0), valence=0.0, arousal=0.1)
    plain, _ = fuse_window(0, 0.0, 0.2, [face], *args)
    headless, _ = fuse_window(0, 0.0, 0.2, [face], *args, head=head)
    assert headless.arousal == plain.arousal == pytest.approx(0.1)
