"""A live microphone through PortAudio (the ``sounddevice`` package), 16 kHz mono.

PortAudio calls ``_callback`` on its own thread with each block; the callback only copies the
block into a bounded ring of blocks and never waits, so a slow pipeline loses the oldest audio
(counted) instead of stalling the sound card. Input overflows reported by the driver are counted
too; both surface as events. Timestamps come from the sample count (drift-free within a stream),
moved forward to ``time.monotonic()`` after lost audio or when the sample clock falls behind by
more than ``REANCHOR_S`` (they never move back).
"""

from __future__ import annotations

import collections
import threading
import time
from typing import Iterator, Literal, Optional, Union

import numpy as np
from pydantic import Field

from ..core.config_base import StrictModel
from ..core.errors import SourceError
from ..core.types import AudioChunk, Event
from ..core.extras import require_module
from .base import SourceBackend

SAMPLE_RATE = 16_000
REANCHOR_S = 0.1


class SoundDeviceConfig(StrictModel):
    backend: Literal["sounddevice"] = Field(description="A live microphone through PortAudio (needs the `audio` extra).")
    device: Optional[Union[int, str]] = Field(None, description="Input device: an index or a (part of a) name as `python -m sounddevice` lists them; the system default when omitted.")
    block_s: float = Field(0.032, gt=0.005, le=0.5, description="Length of each block the sound card delivers, in seconds (0.032 s = 512 samples).")
    buffer_s: float = Field(2.0, ge=0.1, le=30.0, description="How much audio the ring holds while the pipeline is busy; older blocks are dropped (and counted) beyond it.")


class SoundDeviceSource:
    live = True

    def __init__(self, config: SoundDeviceConfig, name: str = "microphone", clock=time.monotonic):
        self.config = config
        self.name = name
        self.clock = clock
        self._block = max(1, int(round(config.block_s * SAMPLE_RATE)))
        self._ring: collections.deque = collections.deque(maxlen=max(1, int(round(config.buffer_s / config.block_s))))
        self._ready = threading.Condition()
        self._stream = None
        self._closed = threading.Event()
        self._overflows = 0  # driver-reported input overflows
        self._dropped = 0  # blocks pushed out of the ring by newer ones

    def open(self) -> None:
        sd = require_module("sounddevice", "sounddevice", "audio")
        device = self._resolve_device(sd)
        try:
            self._stream = sd.InputStream(samplerate=SAMPLE_RATE, blocksize=self._block, device=device, channels=1,
                                          dtype="float32", callback=self._callback)
            self._stream.start()
        except Exception as exc:  # PortAudioError and ValueError: a device that cannot do 16 kHz mono
            raise SourceError(f"microphone {self.config.device!r}: cannot open a 16 kHz mono input stream ({exc})") from None
        self._closed.clear()

    def _resolve_device(self, sd):
        want = self.config.device
        if want is None or isinstance(want, int):
            return want
        inputs = [(i, d["name"]) for i, d in enumerate(sd.query_devices()) if d.get("max_input_channels", 0) > 0]
        matches = [i for i, n in inputs if want.lower() in n.lower()]
        if len(matches) != 1:
            listed = "; ".join(f"{i}: {n}" for i, n in inputs) or "none"
            what = "no" if not matches else "more than one"
            raise SourceError(f"microphone {want!r}: {what} input device matches (input devices: {listed})")
        return matches[0]

    def _callback(self, indata, frames, time_info, status) -> None:
        # PortAudio's thread: copy and return; never block here.
        now = self.clock()
        with self._ready:
            if status and getattr(status, "input_overflow", False):
                self._overflows += 1
            if len(self._ring) == self._ring.maxlen:
                self._dropped += 1
            self._ring.append((now, np.array(indata[:frames, 0], dtype=np.float32)))
            self._ready.notify()

    def samples(self) -> Iterator[AudioChunk | Event]:
        t_next: Optional[float] = None
        seen_overflows = seen_dropped = 0
        yield Event(self.clock(), "source_up", self.name, {"device": str(self.config.device)})
        while not self._closed.is_set():
            with self._ready:
                if not self._ring:
                    self._ready.wait(timeout=0.25)
                if not self._ring:
                    continue
                arrived, block = self._ring.popleft()
                overflows, dropped = self._overflows, self._dropped
            if overflows != seen_overflows or dropped != seen_dropped:
                yield Event(arrived, "audio_overflow", self.name,
                            {"driver_overflows": overflows - seen_overflows, "dropped_blocks": dropped - seen_dropped})
                seen_overflows, seen_dropped = overflows, dropped
                if t_next is not None:
                    t_next = max(t_next, arrived - len(block) / SAMPLE_RATE)  # audio was lost: catch up
            # The block's first sample was captured about one block before the callback ran.
            anchored = arrived - len(block) / SAMPLE_RATE
            if t_next is None or anchored - t_next > REANCHOR_S:
                # Only forward: timestamps never go back, even if blocks arrive in a burst.
                t_next = anchored if t_next is None else max(t_next, anchored)
            yield AudioChunk(t_next, block, SAMPLE_RATE, self.name)
            t_next += len(block) / SAMPLE_RATE
        yield Event(self.clock(), "source_down", self.name, {"device": str(self.config.device)})

    def close(self) -> None:
        self._closed.set()
        with self._ready:
            self._ready.notify_all()
            self._ring.clear()  # audio is not kept past the run
        if self._stream is not None:
            try:
                self._stream.stop()
                self._stream.close()
            finally:
                self._stream = None


BACKEND = SourceBackend("sounddevice", "microphone", SoundDeviceConfig, SoundDeviceSource)
