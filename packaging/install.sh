#!/usr/bin/env bash
# Installs affectedge as a systemd service on Raspberry Pi OS / Debian / Ubuntu. Run as root from a
# checkout:  sudo packaging/install.sh [--board NAME] [--no-apt] [--no-start]
#
#   user     affectedge (system user, no login), in the video, audio and bluetooth groups
#   code     /opt/affectedge/venv (python3 -m venv --system-site-packages, so apt's picamera2 is seen)
#   config   /etc/affectedge/config.yaml (kept if present), /etc/default/affectedge (the board)
#   key      /etc/affectedge/session-log.key (0600, owned by affectedge; kept if present)
#   state    /var/lib/affectedge (0750, owned by affectedge)
#   unit     /etc/systemd/system/affectedge.service, enabled and started
#
# Running it again upgrades the code and the unit and keeps config, key and state. See docs/service.md.
set -euo pipefail
# useradd, groupadd and runuser live in sbin, which `su` without `-` leaves out of PATH.
PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PREFIX=/opt/affectedge
ETC=/etc/affectedge
STATE=/var/lib/affectedge
SERVICE_USER=affectedge
BOARD=""
APT=1
START=1

usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while [ $# -gt 0 ]; do
    case "$1" in
        --board) BOARD=${2:?--board needs a name}; shift 2 ;;
        --no-apt) APT=0; shift ;;
        --no-start) START=0; shift ;;
        -h|--help) usage 0 ;;
        *) echo "install.sh: unknown option $1" >&2; usage 2 >&2 ;;
    esac
done
say() { echo "install.sh: $*"; }
[ "$(id -u)" -eq 0 ] || { echo "install.sh: run as root (sudo $0)" >&2; exit 1; }

is_pi() { grep -qa "Raspberry Pi" /proc/device-tree/model 2>/dev/null || [[ "$BOARD" == pi4 || "$BOARD" == pi5 ]]; }

# 1. Debian packages: Python's venv, PortAudio for the microphone, BlueZ for BLE sensors, and on a
#    Pi the camera stack (picamera2 + libcamera come from the Raspberry Pi archive, not from pip).
if [ "$APT" -eq 1 ]; then
    pkgs=(python3-venv python3-pip libportaudio2 bluez ca-certificates)
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${pkgs[@]}"
    if is_pi; then
        if apt-cache show python3-picamera2 >/dev/null 2>&1; then
            apt-get install -y -qq --no-install-recommends python3-picamera2
        else
            say "warning: python3-picamera2 is not in the configured apt sources (Raspberry Pi OS has it); the CSI camera will not work"
        fi
    fi
fi

# 2. The service user and the groups its devices belong to (SupplementaryGroups= needs them to exist).
for g in video audio bluetooth; do
    getent group "$g" >/dev/null || groupadd --system "$g"
done
if ! getent passwd "$SERVICE_USER" >/dev/null; then
    useradd --system --user-group --home-dir "$STATE" --no-create-home --shell /usr/sbin/nologin "$SERVICE_USER"
fi
usermod -a -G video,audio,bluetooth "$SERVICE_USER"

# 3. The code: a venv that also sees apt's Python packages (picamera2, libcamera bindings).
extras="camera,audio,ble,litert,onnx,mqtt,secure"
constraints=()
if is_pi; then
    # picamera2 from apt needs NumPy 1 in the venv (see the file).
    constraints=(--constraint "$SRC/packaging/constraints-pi.txt")
fi
[ -x "$PREFIX/venv/bin/python" ] || python3 -m venv --system-site-packages "$PREFIX/venv"
"$PREFIX/venv/bin/pip" install -q "${constraints[@]}" "${SRC}[${extras}]"
mkdir -p "$PREFIX/docs"
cp -r "$SRC/docs/." "$PREFIX/docs/"
AFFECTEDGE="$PREFIX/venv/bin/affectedge"

# 4. The board profile: given, or the one `affectedge doctor` finds for this machine.
if [ -z "$BOARD" ]; then
    BOARD=$("$AFFECTEDGE" doctor --fitting-board) || {
        echo "install.sh: no shipped board profile fits this machine; run '$AFFECTEDGE doctor' and pass --board NAME or a profile file" >&2
        exit 1
    }
fi
say "board profile: $BOARD"

# 5. Config (root-owned, readable by the service), the log key (only the service user reads it), state.
install -d -m 0755 "$ETC"
if [ ! -e "$ETC/config.yaml" ]; then
    device_id=$(hostname | tr '[:upper:]' '[:lower:]' | tr -cd 'a-z0-9_-')
    sed "s/^  id: affectedge-1 .*/  id: ${device_id:-affectedge-1}/" "$SRC/packaging/config.yaml" > "$ETC/config.yaml"
    chown root:"$SERVICE_USER" "$ETC/config.yaml"
    chmod 0640 "$ETC/config.yaml"
    say "wrote $ETC/config.yaml"
fi
if [ ! -e /etc/default/affectedge ]; then
    printf '# Arguments for affectedge run/check-config (read by affectedge.service).\nAFFECTEDGE_ARGS="--board %s"\n' "$BOARD" > /etc/default/affectedge
fi
if [ ! -e "$ETC/session-log.key" ]; then
    # 32 random bytes as hex, mode 0600 (affectedge.privacy.log_crypto). Losing it makes the encrypted logs unreadable.
    "$PREFIX/venv/bin/python" -c 'import sys, pathlib; from affectedge.privacy.log_crypto import generate_key_file; generate_key_file(pathlib.Path(sys.argv[1]))' "$ETC/session-log.key"
    say "created $ETC/session-log.key; back it up somewhere safe"
fi
chown "$SERVICE_USER:$SERVICE_USER" "$ETC/session-log.key"
chmod 0600 "$ETC/session-log.key"
install -d -m 0750 -o "$SERVICE_USER" -g "$SERVICE_USER" "$STATE"

# 6. The unit. The service is (re)started only with a config that validates over the board profile.
install -m 0644 "$SRC/packaging/affectedge.service" /etc/systemd/system/affectedge.service
if [ "$START" -eq 1 ] && ! runuser -u "$SERVICE_USER" -- "$AFFECTEDGE" check-config --board "$BOARD" "$ETC/config.yaml"; then
    echo "install.sh: $ETC/config.yaml is invalid over the $BOARD profile (lines above); fix it, then: systemctl enable --now affectedge" >&2
    exit 1
fi
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    if [ "$START" -eq 1 ]; then
        systemctl enable affectedge.service
        systemctl restart affectedge.service
        say "started; follow it with: journalctl -u affectedge -f"
    else
        systemctl enable affectedge.service
    fi
else
    systemctl enable affectedge.service 2>/dev/null || say "systemd is not running here (container or chroot): unit installed, not enabled"
fi
say "done"
