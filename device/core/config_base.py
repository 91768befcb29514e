"""Building blocks shared by every config model: strictness and config-relative paths."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationInfo


class StrictModel(BaseModel):
    """Extra keys are errors (a typo must not be silently ignored) and configs are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _resolve(value: Path, info: ValidationInfo) -> Path:
    # Relative paths in a config file mean "relative to that file", not to the working directory,
    # so a service started by systemd from / reads the same files as a user in the config's folder.
    base = (info.context or {}).get("base_dir")
    value = value.expanduser()
    if base is not None and not value.is_absolute():
        return Path(base) / value
    return value


ConfigPath = Annotated[Path, AfterValidator(_resolve)]
