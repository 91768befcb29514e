"""Give freed heap memory back to the system (glibc), so a service that runs for weeks keeps a flat RSS.

CPython and the native libraries (onnxruntime, OpenCV, LiteRT) free through malloc, and glibc
keeps freed pages in its arenas for reuse instead of returning them. After a pipeline is torn down
(a SIGHUP reload) and every few minutes, ``release_free_memory`` asks glibc to return what it can
(``malloc_trim(0)``, which takes a few milliseconds). Measured with tools/bench/soak.py (docs/service.md).
Elsewhere (musl, macOS) it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
from functools import lru_cache
from typing import Optional


@lru_cache(maxsize=1)
def _malloc_trim() -> Optional[ctypes._CFuncPtr]:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        return libc.malloc_trim if libc is not None else None
    except (OSError, AttributeError):  # not glibc
        return None


def release_free_memory() -> bool:
    """Collect garbage and return free heap pages to the system; True where glibc did it."""
    gc.collect()
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
