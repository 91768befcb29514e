"""`affectedge dashboard`: serve the static page and its config.json on localhost.

The page itself talks to the broker (MQTT over WebSockets); this server only hands out files.
"""

from __future__ import annotations

import json
import re
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Optional

from ..core.errors import AffectEdgeError

STATIC_DIR = Path(__file__).with_name("static")
_WS_URL = re.compile(r"wss?://[^\s/]+(:\d+)?(/\S*)?")


class DashboardError(AffectEdgeError):
    """The dashboard cannot be served as asked."""


def page_config(broker_url: str, prefix: str, username: Optional[str], password_file: Optional[Path]) -> dict:
    if not _WS_URL.fullmatch(broker_url):
        raise DashboardError(f"--broker {broker_url!r}: expected ws://host:port[/path] or wss://... (the broker's websockets listener)")
    password = None
    if password_file is not None:
        try:
            password = Path(password_file).read_text(encoding="utf-8").splitlines()[0]
        except (OSError, IndexError):
            raise DashboardError(f"{password_file}: cannot read the dashboard password (first line)") from None
    return {"broker": broker_url, "prefix": prefix, "username": username, "password": password}


class _Handler(SimpleHTTPRequestHandler):
    config_bytes = b"{}"

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        if self.path.split("?", 1)[0] == "/config.json":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Length", str(len(self.config_bytes)))
            self.end_headers()
            self.wfile.write(self.config_bytes)
            return
        super().do_GET()

    def log_message(self, format: str, *args) -> None:
        pass  # quiet: requests say nothing a caregiver needs


def make_server(bind: str, port: int, config: dict) -> ThreadingHTTPServer:
    """A ready server (call serve_forever); port 0 picks a free one (see server_address)."""
    handler = type("DashboardHandler", (_Handler,), {"config_bytes": json.dumps(config).encode()})
    return ThreadingHTTPServer((bind, port), partial(handler, directory=str(STATIC_DIR)))
