#!/usr/bin/env bash
# Installs the Debian packages the test suite drives for real. Needs root (CI runs as root);
# otherwise prints what is missing and carries on, and the tests that need them say so.
set -euo pipefail
# sox: the voice tests raise a real recording in pitch and level, and tests/test_calibration.py
# attenuates one to a muted microphone; espeak-ng: the speech-model toolchain test's synthetic
# corpus; mosquitto: the publishing tests and the demo broker; chromium + chromium-driver: the
# dashboard test; systemd (systemd-analyze) and shellcheck: the service unit and install script
# tests; poppler-utils (pdftoppm): the report test renders the PDF and checks its margins.
PKGS=(sox espeak-ng mosquitto chromium chromium-driver systemd shellcheck poppler-utils ${AFFECTEDGE_SYSTEM_PKGS:-})
missing=()
for p in "${PKGS[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
    echo "installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
    echo "warning: not root, cannot install: ${missing[*]} (sudo apt-get install ${missing[*]})" >&2
fi
