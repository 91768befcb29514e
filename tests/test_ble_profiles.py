"""Sensor profiles as data and the `backend: ble` config: errors name the file, line and key."""

from __future__ import annotations

import struct
import sys

import pytest

from affectedge.ble.decoder import CharacteristicDecoder
from affectedge.ble.profiles import ProfileError, load_profile, shipped_profiles
from affectedge.config.app import load_config
from affectedge.core.errors import BackendUnavailableError, ConfigError
from affectedge.sources import create_source

VENDOR = """\
name: acme_gsr
description: A vendor band sending uint16 counts of 0.001 uS at 8 Hz, two per packet.
advertised_service: "0000fee0-0000-1000-8000-00805f9b34fb"
characteristics:
  - name: gsr
    service: "fee0"
    characteristic: "fee1"
    access: notify
    parser: eda_sequenced
    options: {encoding: uint16, uint16_scale_us: 0.001, sample_rate_hz: 8}
    outputs:
      eda: {unit: uS, min: 0.01, max: 60}
"""


def test_shipped_profiles_load():
    assert {"heart_rate", "eda_affectedge"} <= set(shipped_profiles())
    hr = load_profile("heart_rate")
    assert hr.characteristics[0].characteristic == "00002a37-0000-1000-8000-00805f9b34fb"
    assert hr.advertised_service == "0000180d-0000-1000-8000-00805f9b34fb"


def test_a_new_vendor_is_one_yaml_file(tmp_path):
    path = tmp_path / "acme_gsr.yaml"
    path.write_text(VENDOR)
    profile = load_profile(str(path))
    d = CharacteristicDecoder(profile.characteristics[0])
    out = d.decode(struct.pack("<HHH", 1, 7120, 61000), t=50.0)
    assert out.values == [("eda", 49.875, pytest.approx(7.12))]  # 61 uS is above this band's range
    assert d.implausible["eda"] == 1


def test_profile_errors_name_file_line_and_key(tmp_path):
    bad = VENDOR.replace("parser: eda_sequenced", "parser: eda_sequencd").replace("unit: uS", "unit: mS")
    path = tmp_path / "bad.yaml"
    path.write_text(bad.replace('    access: notify\n', '    access: notify\n    rate: 4\n'))
    with pytest.raises(ProfileError) as info:
        load_profile(str(path))
    text = str(info.value)
    assert f"{path}:9: characteristics[0].rate: unknown key" in text
    path.write_text(bad)
    with pytest.raises(ProfileError, match=rf"{path}:5: characteristics\[0\]: unknown parser 'eda_sequencd'"):
        load_profile(str(path))
    path.write_text(VENDOR.replace("unit: uS", "unit: mS"))
    with pytest.raises(ProfileError, match=r"outputs.eda.unit must be 'uS'"):
        load_profile(str(path))


def test_ble_config_errors_point_at_the_config_line(tmp_path):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("""\
sources:
  physiology:
    - backend: ble
      transport: bumble
      sensors:
        - name: chest
          profile: heart_rat
        - name: wrist
          profile: eda_affectedge
          address: "12:34"
""")
    with pytest.raises(ConfigError) as info:
        load_config(cfg)
    problems = info.value.problems
    assert any(p.startswith(f"{cfg}:7: sources.physiology[0].sensors[0].profile: ") and "unknown sensor profile 'heart_rat'" in p for p in problems), problems
    assert any(p.startswith(f"{cfg}:10: sources.physiology[0].sensors[1].address: ") for p in problems), problems
    cfg.write_text("sources:\n  physiology:\n    - backend: ble\n      transport: bumble\n      sensors: [{name: chest, profile: heart_rate}]\n")
    with pytest.raises(ConfigError) as info:
        load_config(cfg)
    assert info.value.problems[0].startswith(f"{cfg}:3: sources.physiology[0]: ") and "needs hci" in info.value.problems[0]


def test_missing_bleak_is_a_startup_error_naming_the_extra(tmp_path, monkeypatch):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("sources:\n  physiology:\n    - backend: ble\n      sensors: [{name: chest, profile: heart_rate}]\n")
    config = load_config(cfg)
    monkeypatch.setitem(sys.modules, "bleak", None)  # as if `pip install affectedge[ble]` was skipped
    source = create_source(config.sources.physiology[0], "physiology")
    with pytest.raises(BackendUnavailableError, match=r"affectedge\[ble\]"):
        source.open()
