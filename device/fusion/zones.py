"""Zones of Regulation from valence and arousal.

The Zones of Regulation (Kuypers, 2011) sort states by alertness: blue (low: tired, sad, bored),
green (regulated: calm, content, focused), yellow (heightened: worried, excited, silly,
frustrated) and red (extreme, out of control: anger, terror). Arousal carries the zone; valence
only separates red (negative) from high-arousal positive states, which stay yellow. Thresholds are
configurable (ZoneConfig) and documented in docs/zones.md.
"""

from __future__ import annotations

from typing import Optional

from .config import ZoneConfig


def zone_for(valence: Optional[float], arousal: Optional[float], cfg: ZoneConfig) -> Optional[str]:
    """The zone for one fused estimate, or None when arousal is unknown."""
    if arousal is None:
        return None
    if arousal >= cfg.red_min_arousal and (valence is None or valence <= cfg.red_max_valence):
        return "red"
    if arousal >= cfg.yellow_min_arousal:
        return "yellow"
    if arousal <= cfg.blue_max_arousal:
        return "blue"
    return "green"
