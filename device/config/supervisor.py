"""How the service supervises its live sources (restart, back-off, stall); read by
``affectedge.service.supervisor``."""

from __future__ import annotations

from pydantic import Field

from ..core.config_base import StrictModel


class SupervisorConfig(StrictModel):
    stall_after_s: float = Field(10.0, gt=0, description="A live source that delivers nothing for this long is restarted.")
    backoff_initial_s: float = Field(1.0, gt=0, description="First wait before restarting a failed source; doubles on each further failure.")
    backoff_max_s: float = Field(60.0, gt=0, description="Longest wait between restarts.")
    down_after_failures: int = Field(3, ge=1, description="Consecutive failures after which the source is reported down (it is still retried).")
