"""`affectedge run`: the long-running service around the pipeline.

Signals: SIGTERM/SIGINT finish the current window, close every sink (log flushed, outbox
flushed, offline published) and return; SIGHUP re-reads the config file and, only if it is
valid, restarts the pipeline with it; an invalid new config is refused and the running one kept.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Optional

from ..config.app import AppConfig, load_config
from ..core.errors import ConfigError
from .memory import release_free_memory
from .sd_notify import notify_stopping, notify_watchdog, watchdog_interval


class Service:
    def __init__(self, config_path: Path, load: Callable[[Path], AppConfig] = load_config,
                 log: Callable[[str], None] = lambda m: print(m, file=sys.stderr, flush=True)):
        self.config_path = Path(config_path)
        self.load = load
        self.log = log
        self.stop = threading.Event()  # stops the current pipeline (shutdown or reload)
        self.shutdown = threading.Event()
        self._next_config: Optional[AppConfig] = None
        self.pipeline = None
        self.reloads_refused = 0

    # ------------------------------------------------------------------ signals

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, lambda *_: self.request_shutdown())
        signal.signal(signal.SIGINT, lambda *_: self.request_shutdown())
        signal.signal(signal.SIGHUP, lambda *_: threading.Thread(target=self.request_reload, daemon=True).start())

    def request_shutdown(self) -> None:
        notify_stopping("finishing the current window")
        self.shutdown.set()
        self.stop.set()

    def request_reload(self) -> None:
        """Validate the file now; swap only a valid config in."""
        try:
            new = self.load(self.config_path)
        except ConfigError as exc:
            self.reloads_refused += 1
            self.log(f"affectedge: reload refused, keeping the running config; {self.config_path} is invalid:")
            for p in exc.problems:
                self.log(p)
            return
        self.log(f"affectedge: reloading {self.config_path}")
        self._next_config = new
        self.stop.set()

    # ------------------------------------------------------------------ running

    def run(self, config: AppConfig, on_ready: Callable[[], None] = lambda: None) -> int:
        from ..perception.baseline import describe_profile
        from .assembly import build_pipeline

        self._start_watchdog()
        self._start_trimmer()
        while True:
            self.log(f"affectedge: baseline profile: {describe_profile(config.perception.baseline_profile)}")
            self.pipeline = build_pipeline(config, run_info={"config": str(self.config_path.resolve())})
            on_ready()
            self.pipeline.run(self.stop)
            if self.shutdown.is_set() or self._next_config is None:
                return 0
            config, self._next_config = self._next_config, None
            self.pipeline = None
            release_free_memory()  # the old pipeline's models and buffers, before the new one loads
            self.stop.clear()

    def _start_trimmer(self, every_s: float = 300.0) -> None:
        """Return freed heap to the system every few minutes (device/service/memory.py): RSS stays flat."""
        def trim() -> None:
            while not self.shutdown.wait(every_s):
                release_free_memory()

        threading.Thread(target=trim, name="malloc-trim", daemon=True).start()

    def _start_watchdog(self) -> None:
        """Feed systemd's watchdog only while windows keep closing: a pipeline stuck in a model
        or a read stops the pings, and systemd restarts the service."""
        interval = watchdog_interval()
        if interval is None:
            return

        def feed() -> None:
            while not self.shutdown.wait(interval / 2):
                pipeline = self.pipeline
                if pipeline is not None and time.monotonic() - pipeline.last_progress < interval:
                    notify_watchdog()

        threading.Thread(target=feed, name="watchdog", daemon=True).start()
