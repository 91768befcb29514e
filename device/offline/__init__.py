"""Offline analysis of your own recordings: one session from files, a study of many, a pandas API.

``analyse(video=..., audio=..., physiology=..., config=...)`` gives the windows the device would
have produced as a DataFrame; ``read_log(path)`` reads a session log the same way. The command
line is `affectedge analyse` (docs/analyse.md). pandas, pyarrow and PyAV (and dask for a cluster)
are imported when used (the `analyse` extra).
"""

from __future__ import annotations

from .api import analyse, read_log

__all__ = ["analyse", "read_log"]
