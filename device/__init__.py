"""affectedge: on-device affect sensing for caregivers.

Data flows one way: sources -> perception -> fusion -> sinks (log, publish).

For notebooks: ``affectedge.analyse(video=..., audio=..., physiology=..., config=...)`` and
``affectedge.read_log(path)`` return the windows as a pandas DataFrame (docs/analyse.md); they
live in ``affectedge.offline`` and are imported on first use, so ``import affectedge`` stays light
on a device.
"""

__version__ = "0.1.0"


def __getattr__(name: str):
    if name in ("analyse", "read_log"):
        from importlib import import_module

        return getattr(import_module(".offline.api", __name__), name)
    raise AttributeError(f"module 'affectedge' has no attribute {name!r}")
