"""Heavy or platform-only dependencies are imported by the backend that needs them, through this
one function, so a missing one is a startup error naming the extra to install."""

from __future__ import annotations

import importlib

from .errors import BackendUnavailableError


def require_module(module: str, backend: str, extra: str):
    """Import a backend's heavy dependency, or fail with the extra that provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise BackendUnavailableError(backend, module, extra) from exc
