"""Config validation: errors name the file, the line and the key path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from affectedge.config.app import AppConfig, load_config
from affectedge.config.reference import config_reference
from affectedge.core.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]

BAD = """\
device:
  id: Kitchen Pi
window:
  length_s: 0.01
  smoothnig_tau_s: 2
fusion:
  weights: {face: 1, nose: 2}
sources:
  physiology:
    - backend: replay_csv
      pth: x.csv
"""


def write(tmp_path: Path, text: str, name="cfg.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_every_problem_is_reported_with_file_line_and_key(tmp_path):
    path = write(tmp_path, BAD)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    problems = info.value.problems
    expected = [
        (2, "device.id", "must be 1-64"),
        (4, "window.length_s", "greater than or equal to 0.05"),
        (5, "window.smoothnig_tau_s", "unknown key"),
        (7, "fusion.weights", "unknown modality 'nose'"),
        (11, "sources.physiology[0].pth", "unknown key"),
        (10, "sources.physiology[0].path", "Field required"),
    ]
    for line, key, text in expected:
        assert any(p.startswith(f"{path}:{line}: {key}: ") and text in p for p in problems), (line, key, problems)
    assert len(problems) == len(expected)


def test_yaml_syntax_error_names_the_line(tmp_path):
    path = write(tmp_path, "window:\n  length_s: 0.2\n   bad: [\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.problems[0].startswith(f"{path}:3: ")


def test_relative_paths_resolve_against_the_config_folder(tmp_path):
    path = write(tmp_path, "sources:\n  physiology:\n    - {backend: replay_csv, path: data/p.csv}\nlog:\n  sqlite: logs/s.db\n")
    cfg = load_config(path)
    assert cfg.sources.physiology[0].path == tmp_path / "data/p.csv"
    assert cfg.log.sqlite == tmp_path / "logs/s.db"


def test_zone_thresholds_must_be_ordered(tmp_path):
    path = write(tmp_path, "zones:\n  blue_max_arousal: 0.5\n")
    with pytest.raises(ConfigError, match=r"cfg.yaml:1: zones: thresholds must satisfy"):
        load_config(path)


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "affectedge", *args], capture_output=True, text=True, cwd=cwd, timeout=60)


def test_check_config_exit_codes(tmp_path):
    bad = write(tmp_path, BAD)
    r = run_cli("check-config", str(bad))
    assert r.returncode == 1
    assert f"{bad}:5: window.smoothnig_tau_s: unknown key" in r.stderr
    good = write(tmp_path, "device:\n  id: kitchen-pi\n", "good.yaml")
    r = run_cli("check-config", str(good))
    assert r.returncode == 0, r.stderr


def test_run_refuses_an_invalid_config_with_the_same_messages(tmp_path):
    bad = write(tmp_path, BAD)
    r = run_cli("run", "--config", str(bad))
    assert r.returncode == 1
    assert "refusing to start" in r.stderr
    assert f"{bad}:4: window.length_s:" in r.stderr


def test_example_configs_are_valid():
    for path in sorted((REPO / "config").glob("*.yaml")):
        load_config(path)


def test_every_field_has_a_description_and_the_reference_is_current():
    def walk(model):
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name} has no description"
            for sub in _models(field.annotation):
                walk(sub)

    from affectedge.config.reference import _models_in as _models

    walk(AppConfig)
    committed = (REPO / "docs" / "config-reference.md").read_text()
    assert committed == config_reference(), "docs/config-reference.md is stale: run `affectedge config-reference --out docs/config-reference.md`"


def test_every_shipped_example_config_validates_over_its_board():
    examples = sorted((REPO / "config").glob("example-*.yaml"))
    boards = {p.stem for p in (REPO / "firmware_configs" / "boards").glob("*.yaml")}
    names = {p.stem.removeprefix("example-") for p in examples}
    assert boards <= names and {"live", "replay"} <= names, "an example per board, a live one and a replay one"
    for path in examples:
        name = path.stem.removeprefix("example-")
        board = name if name in boards else ("x86-64" if name == "live" else None)
        config = load_config(path, board)
        assert path.read_text().lstrip().startswith("#"), f"{path.name} explains itself"
        if name == "live":
            assert config.sources.camera is not None and config.sources.microphone is not None
            assert config.sources.physiology and config.sources.physiology[0].backend == "ble"
