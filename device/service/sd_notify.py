"""systemd's notify protocol (sd_notify(3)), written out: one datagram to $NOTIFY_SOCKET.

The unit is ``Type=notify`` with ``WatchdogSec=``: the service says READY=1 once its pipeline
runs, WATCHDOG=1 at least every ``watchdog_interval()`` seconds while windows keep closing, and
STOPPING=1 when it shuts down. Outside systemd ($NOTIFY_SOCKET unset) every call does nothing and
returns False, so the same code runs from a terminal. No dependency: the protocol is a few bytes.
"""

from __future__ import annotations

import os
import socket
from typing import Optional


def notify(state: str) -> bool:
    """Send ``state`` (e.g. ``"READY=1"``) to the service manager; False if there is none to tell.

    An address starting with '@' is in the abstract namespace (a leading NUL byte on the wire).
    A send that fails (socket gone, manager restarting) also returns False: notification is
    best effort and must never stop the service.
    """
    address = os.environ.get("NOTIFY_SOCKET")
    if not address or address[0] not in "/@":
        return False  # unset, or a vsock address, which this service is never started with
    target = "\0" + address[1:] if address[0] == "@" else address
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto(state.encode("utf-8"), target)
    except OSError:
        return False
    return True


def notify_ready(status: str = "") -> bool:
    """The service has started: systemd moves the unit from 'activating' to 'active'."""
    return notify("READY=1" + (f"\nSTATUS={status}" if status else ""))


def notify_watchdog() -> bool:
    """Still alive; without this within WatchdogSec systemd kills and restarts the service."""
    return notify("WATCHDOG=1")


def notify_stopping(status: str = "") -> bool:
    """Shutting down on purpose (so a slow stop is not mistaken for a hang)."""
    return notify("STOPPING=1" + (f"\nSTATUS={status}" if status else ""))


def notify_status(status: str) -> bool:
    """A one-line status that `systemctl status affectedge` shows."""
    return notify(f"STATUS={status}")


def watchdog_interval() -> Optional[float]:
    """Seconds between watchdog pings (half of WatchdogSec), or None if no watchdog is armed.

    systemd sets WATCHDOG_USEC, and WATCHDOG_PID to the process it expects pings from; if that is
    another process (e.g. a child we started) the watchdog is not ours to feed.
    """
    usec = os.environ.get("WATCHDOG_USEC", "")
    pid = os.environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid and (not pid.isdigit() or int(pid) != os.getpid()):
        return None
    return int(usec) / 2e6  # sd_watchdog_enabled(3) advises pinging at half the timeout
