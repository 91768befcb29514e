"""Physiology analysis (placeholder config; analysis being written)."""
from __future__ import annotations
from ..config_base import StrictModel


class PhysiologyConfig(StrictModel):
    pass
