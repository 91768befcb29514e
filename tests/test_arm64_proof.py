"""The arm64 proof: its window comparison here, the full emulated run only on request.

The full run (debootstrap an arm64 Debian, install with packaging/install.sh under qemu-user, run
the demo, compare with this machine's run) takes tens of minutes, so it runs only with
AFFECTEDGE_ARM64_PROOF=1 (as root): ``AFFECTEDGE_ARM64_PROOF=1 pytest -m proof tests/test_arm64_proof.py``. See docs/arm64.md.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from affectedge.config.app import AppConfig
from affectedge.offline.demo import demo_config_dict
from affectedge.service.assembly import build_pipeline
from affectedge_tools.proofs.arm64_proof import compare_windows
from affectedge_tools.proofs.debian_root import pip_config_for_root

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def physiology_windows(demo_session, tmp_path_factory) -> Path:
    """Real windows: the demo session's physiology replayed through the pipeline."""
    out = tmp_path_factory.mktemp("windows")
    data = demo_config_dict(demo_session, out, console=False)
    data["sources"] = {"physiology": data["sources"]["physiology"]}
    data["log"] = {"jsonl": str(out / "windows.jsonl"), "console": False}
    build_pipeline(AppConfig.model_validate(data)).run()
    return out / "windows.jsonl"


def edited(src: Path, dest: Path, line: int, edit) -> Path:
    lines = src.read_text().splitlines()
    record = json.loads(lines[line])
    edit(record)
    lines[line] = json.dumps(record, sort_keys=True)
    dest.write_text("\n".join(lines) + "\n")
    return dest


def test_identical_runs_compare_equal(physiology_windows):
    c = compare_windows(physiology_windows, physiology_windows)
    assert c.ok and c.windows > 300 and c.max_abs_diff == 0.0


def test_numbers_within_tolerance_pass_and_beyond_fail(physiology_windows, tmp_path):
    def nudge(by):
        def edit(r):
            r["arousal"] = r["arousal"] + by
        return edit

    near = compare_windows(physiology_windows, edited(physiology_windows, tmp_path / "near.jsonl", 10, nudge(5e-5)), tolerance=1e-4)
    assert near.ok and near.max_abs_diff == pytest.approx(5e-5, abs=1e-9) and near.max_diff_at == "line 11 arousal"
    far = compare_windows(physiology_windows, edited(physiology_windows, tmp_path / "far.jsonl", 10, nudge(2e-4)), tolerance=1e-4)
    assert not far.ok and far.mismatches == [f"line 11: arousal {json.loads(physiology_windows.read_text().splitlines()[10])['arousal']} "
                                             f"vs {json.loads((tmp_path / 'far.jsonl').read_text().splitlines()[10])['arousal']} (|diff| 0.0002 > 0.0001)"]
    # The default bound, for runs with the INT8 face models: 0.05.
    assert compare_windows(physiology_windows, edited(physiology_windows, tmp_path / "int8.jsonl", 10, nudge(0.03))).ok
    assert not compare_windows(physiology_windows, edited(physiology_windows, tmp_path / "big.jsonl", 10, nudge(0.06))).ok


def test_top_may_differ_only_in_a_close_call(tmp_path):
    def record(top, probs):
        return {"seq": 0, "status": "ok", "zone": "green", "top": top, "probabilities": probs, "modalities": {"face": {}}}

    ref = tmp_path / "ref.jsonl"
    ref.write_text(json.dumps(record("happy", {"happy": 0.290, "fearful": 0.286})) + "\n")
    close = tmp_path / "close.jsonl"
    close.write_text(json.dumps(record("fearful", {"happy": 0.288, "fearful": 0.293})) + "\n")
    c = compare_windows(ref, close)
    assert c.ok and c.close_calls == 1
    clear = tmp_path / "clear.jsonl"
    clear.write_text(json.dumps(record("fearful", {"happy": 0.20, "fearful": 0.38})) + "\n")
    assert not compare_windows(ref, clear).ok


def test_labels_and_counts_must_match_exactly(physiology_windows, tmp_path):
    zone = compare_windows(physiology_windows, edited(physiology_windows, tmp_path / "z.jsonl", 3, lambda r: r.update(zone="red")))
    assert not zone.ok and any("line 4: zone" in m for m in zone.mismatches)
    shorter = tmp_path / "short.jsonl"
    shorter.write_text("\n".join(physiology_windows.read_text().splitlines()[:-1]) + "\n")
    short = compare_windows(physiology_windows, shorter)
    assert not short.ok and "windows in" in short.mismatches[0]


def test_pip_config_drops_local_paths_and_carries_the_ca_bundle(tmp_path):
    text, copies = pip_config_for_root(tmp_path)
    assert "file:" not in text and "/opt/" not in text
    if Path("/etc/pip.conf").is_file() and "cert" in Path("/etc/pip.conf").read_text():
        assert "cert = /etc/affectedge-proof/cert-" in text
        (host, inside), = copies.items()
        assert host.is_file() and inside.is_relative_to(tmp_path)


@pytest.mark.proof
@pytest.mark.skipif(os.environ.get("AFFECTEDGE_ARM64_PROOF") != "1", reason="set AFFECTEDGE_ARM64_PROOF=1 to run the emulated arm64 demo (tens of minutes, root)")
def test_arm64_demo_matches_x86_64(demo_session, tmp_path):
    from affectedge_tools.proofs.arm64_proof import main

    result_file = tmp_path / "result.json"
    assert main(["--session", str(demo_session.root), "--result", str(result_file)]) == 0
    result = json.loads(result_file.read_text())
    assert result["ok"] and result["comparison"]["windows"] > 300
    assert result["versions"]["arm64"]["machine"] == "aarch64"
    print(yaml.safe_dump(result))
