"""affectedge: on-device affect sensing for caregivers.

Data flows one way: sources -> perception -> fusion -> sinks (log, publish).

For notebooks: ``affectedge.analyse(video=..., audio=..., physiology=..., config=...)`` and
``affectedge.read_log(path)`` return the windows as a pandas DataFrame (docs/analyse.md); they
live in ``affectedge.offline`` and are imported on first use, so ``import affectedge`` stays light
on a device.
"""

import os

__version__ = "0.1.0"

# Every numeric step on the device path is small (a 96x257 @ 257x64 mel product, a window's
# features), and OpenBLAS's worker threads spin-wait between such calls: with its default of one
# thread per core, the vocal-event path burned 1.5 % of a second core spinning for 0.2 % of work
# (tools/bench/bench_voice.py). One BLAS thread, unless the person running it set otherwise; this
# takes effect when affectedge is imported before NumPy, as the service and the CLI are.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def __getattr__(name: str):
    if name in ("analyse", "read_log"):
        from importlib import import_module

        return getattr(import_module(".offline.api", __name__), name)
    raise AttributeError(f"module 'affectedge' has no attribute {name!r}")
