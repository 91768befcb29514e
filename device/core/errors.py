"""One exception hierarchy for the whole service."""

from __future__ import annotations


class AffectEdgeError(Exception):
    """Base class of every error affectedge raises on purpose."""


class ConfigError(AffectEdgeError):
    """A configuration file is invalid. ``problems`` holds one ``FILE:LINE: key.path: message`` each."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class BackendUnavailableError(AffectEdgeError):
    """A configured backend needs a package that is not installed."""

    def __init__(self, backend: str, module: str, extra: str):
        self.backend = backend
        self.module = module
        self.extra = extra
        super().__init__(
            f"backend {backend!r} needs the Python module {module!r}, which is not installed; "
            f"install it with: pip install 'affectedge[{extra}]'"
        )


class SourceError(AffectEdgeError):
    """A source cannot be opened or read (missing file, bad format, device gone)."""


class FrameError(AffectEdgeError):
    """A camera frame cannot be read as an image (empty, wrong shape or type); the face path counts it as a bad frame."""


class ModelError(AffectEdgeError):
    """A model file is missing, corrupt or does not match its manifest."""


class SessionLogError(AffectEdgeError):
    """A session log cannot be written or read."""
