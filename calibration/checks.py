"""The result of one sensor check: pass / warn / fail / unavailable, the figure and the fix."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Status = Literal["pass", "warn", "fail", "unavailable"]
# The overall verdict is the worst check; a check that could not be made does not pass or fail it.
SEVERITY: dict[str, int] = {"fail": 2, "warn": 1, "pass": 0, "unavailable": 0}


@dataclass(frozen=True)
class CheckResult:
    """One check of one sensor.

    ``figure`` is the measured value in words ("mean brightness 23/255"); ``advice`` says what to
    do about a warn/fail in plain words, or why a check could not be made.
    """

    sensor: str
    check: str
    status: Status
    figure: str
    advice: str = ""

    def line(self) -> str:
        text = f"[{self.status.upper():^4}] {self.sensor} {self.check}: {self.figure}"
        return f"{text} -- {self.advice}" if self.advice else text


def graded(value: float, fail: float, warn: float, higher_is_better: bool = True) -> Status:
    """pass/warn/fail of ``value`` against a fail and a warn threshold."""
    if higher_is_better:
        return "fail" if value < fail else "warn" if value < warn else "pass"
    return "fail" if value > fail else "warn" if value > warn else "pass"


def worst(results: list[CheckResult]) -> Status:
    status = max((r.status for r in results), key=SEVERITY.__getitem__, default="pass")
    return "pass" if status == "unavailable" else status
