"""The systemd proof (tools/proofs/systemd_proof.py): docs/service.md followed in a Debian VM booted with
systemd as PID 1, the unit checked from inside. The whole proof takes about 8 minutes and root, so
it runs only with AFFECTEDGE_SYSTEMD_PROOF=1 (``AFFECTEDGE_SYSTEMD_PROOF=1 pytest -m proof
tests/test_systemd_proof.py``); its last result is in docs/service.md. The parts that need no VM
run every time (here and in tests/test_packaging.py).
"""

from __future__ import annotations

import json
import os

import pytest


def test_the_systemd_proofs_result_is_read_from_a_noisy_console(tmp_path):
    from affectedge_tools.proofs.debian_root import ProofError
    from affectedge_tools.proofs.systemd_proof import read_result
    from affectedge_tools.proofs.systemd_proof_guest import RESULT_TAG

    console = tmp_path / "console.log"
    console.write_text(f"[  3.1] systemd[1]: Started x.\n[ 40.2] python[384]: {RESULT_TAG} {{\"ok\": true, \"checks\": [], \"facts\": {{}}}}\n"
                       f"{RESULT_TAG} {{\"ok\": false, \"che[ 41.0] reboot: Power down\n")
    assert read_result(console) == {"ok": True, "checks": [], "facts": {}}  # the broken copy is skipped
    console.write_text("[  3.1] Kernel panic - not syncing\n")
    with pytest.raises(ProofError, match="no result line"):
        read_result(console)


@pytest.mark.proof
@pytest.mark.skipif(os.environ.get("AFFECTEDGE_SYSTEMD_PROOF") != "1", reason="set AFFECTEDGE_SYSTEMD_PROOF=1 to boot the systemd VM (about 8 minutes, root)")
def test_the_guide_installs_a_service_that_systemd_runs_supervises_and_stops(demo_session, tmp_path):
    from affectedge_tools.proofs.systemd_proof import main

    result_file = tmp_path / "result.json"
    code = main(["--session", str(demo_session.root), "--result", str(result_file)])
    assert result_file.exists(), f"the proof stopped (exit {code}) before the VM reported; its log is above"
    result = json.loads(result_file.read_text())
    assert code == 0 and result["ok"], [c for c in result["checks"] if not c["ok"]]
    assert len(result["checks"]) >= 10 and result["facts"]["systemd"].startswith("systemd ")
