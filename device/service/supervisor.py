"""Keeps live sources running: each on its own thread, restarted with back-off when it fails or
stalls, marked down (and reported) when it keeps failing, while the rest of the pipeline runs on.

A missing camera or microphone at start is not an exit: the source is reported down and retried.
A missing Python package is different: BackendUnavailableError is a configuration problem that no
retry fixes, so it stops the service at start with the extra to install.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

from ..config.supervisor import SupervisorConfig
from ..core.errors import BackendUnavailableError
from ..sources.base import Source
from ..core.types import Event


@dataclass
class StageHealth:
    """What the supervisor knows of one stage; published in the device status."""

    name: str
    error: Optional[BaseException] = None
    state: str = "starting"  # starting | up | restarting | down
    restarts: int = 0
    consecutive_failures: int = 0
    last_error: Optional[str] = None
    last_item_at: Optional[float] = None  # clock time of the last sample or event
    history: list = field(default_factory=list, repr=False)


class SupervisedSource:
    """Runs one live source on a thread, feeding ``inbox``; restarts it on failure or stall."""

    def __init__(self, source: Source, inbox: queue.Queue, config: SupervisorConfig, stop: threading.Event,
                 clock: Callable[[], float] = time.monotonic):
        self.source = source
        self.inbox = inbox
        self.config = config
        self.stop = stop
        self.clock = clock
        self.health = StageHealth(source.name)
        self._restart = threading.Event()
        self.thread = threading.Thread(target=self._loop, name=f"source-{source.name}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def check_stall(self) -> None:
        """Called by the pipeline loop: ask for a restart if the source went quiet."""
        h = self.health
        if getattr(self.source, "reconnects_itself", False):
            return  # it reports and recovers its own silences (BLE: scanning for an absent sensor)
        if h.state == "up" and h.last_item_at is not None and self.clock() - h.last_item_at > self.config.stall_after_s:
            self._restart.set()
            try:
                # A stalled source is usually blocked in a read: closing it from here is what
                # unblocks cv2, sounddevice and bleak alike.
                self.source.close()
            except Exception:
                pass

    def _event(self, kind: str, **detail) -> None:
        self.inbox.put(Event(self.clock(), kind, self.source.name, detail))

    def _loop(self) -> None:
        backoff = self.config.backoff_initial_s
        while not self.stop.is_set():
            try:
                error = self._run_once()
            except BackendUnavailableError as exc:
                self.inbox.put(_Finished(self.source.name, exc))
                return
            if self.stop.is_set() or error is None:
                break
            h = self.health
            h.consecutive_failures += 1
            h.restarts += 1
            h.last_error = error
            if h.consecutive_failures >= self.config.down_after_failures:
                if h.state != "down":
                    h.state = "down"
                    self._event("stage_down", error=error, failures=h.consecutive_failures)
            else:
                h.state = "restarting"
                self._event("stage_restarting", error=error, backoff_s=backoff)
            if self.stop.wait(backoff):
                break
            backoff = min(backoff * 2, self.config.backoff_max_s)
        self.inbox.put(_Finished(self.source.name))

    def _run_once(self) -> Optional[str]:
        """Open, pump until the source ends, fails or stalls; return why it stopped (None: a
        replay source reached its end, which is not a failure)."""
        src = self.source
        try:
            src.open()
        except BackendUnavailableError:
            raise
        except Exception as exc:  # a device that is not there (yet): degraded, retried
            return f"open failed: {exc}"
        self._restart.clear()
        self.health.last_item_at = self.clock()
        paced = not getattr(src, "live", False)
        try:
            for item in src.samples():
                # A recording played beside live sources keeps to the pipeline clock, so its
                # samples and the live ones meet in the same windows (the demo with --ble-sim).
                while paced and item.t > self.clock() and not self.stop.wait(0.01):
                    pass
                h = self.health
                if h.state != "up":
                    h.state = "up"
                    h.consecutive_failures = 0
                    self._event("stage_up", restarts=h.restarts)
                h.last_item_at = self.clock()
                self.inbox.put(item)
                if self.stop.is_set():
                    return "stopped"
                if self._restart.is_set():
                    return f"stalled: nothing for {self.config.stall_after_s:g} s"
            if self._restart.is_set():
                return f"stalled: nothing for {self.config.stall_after_s:g} s"
            return "source ended" if getattr(src, "live", False) else None
        except Exception as exc:
            if self._restart.is_set():
                return f"stalled: nothing for {self.config.stall_after_s:g} s"
            return f"{type(exc).__name__}: {exc}"
        finally:
            try:
                src.close()
            except Exception:
                pass


@dataclass(frozen=True)
class _Finished:
    """Marker put on the inbox when a supervised source's thread exits."""

    name: str
    error: Optional[BaseException] = None
