"""Zones of Regulation from valence and arousal.

The Zones of Regulation (Kuypers, 2011) sort states by alertness and feeling: blue (low: sad, tired,
bored, unwell), green (regulated: calm, content, focused), yellow (heightened: worried,
frustrated, distressed, excited, silly) and red (extreme, out of control: rage, terror). Arousal
alone does not carry the zone: sad and unwell sit at neutral arousal with low valence, and the
curriculum puts them in blue; negative feeling that is stirred up (distress, worry, frustration)
is yellow. The rule table and its reasons are in docs/zones.md; every threshold is configuration
(ZoneConfig), set per child with the care team.
"""

from __future__ import annotations

from typing import Optional

from .config import ZoneConfig


def zone_for(valence: Optional[float], arousal: Optional[float], cfg: ZoneConfig, distress: bool = False) -> Optional[str]:
    """The zone for one fused estimate, or None when arousal is unknown. ``distress``: a distress
    event (crying, screaming) was heard in the window; such a window is never green (a smiling
    face over a crying voice is not a regulated child): green becomes yellow, the curriculum's
    zone for distressed."""
    zone = _zone(valence, arousal, cfg)
    return "yellow" if distress and zone == "green" else zone


def _zone(valence: Optional[float], arousal: Optional[float], cfg: ZoneConfig) -> Optional[str]:
    if arousal is None:
        return None
    if arousal >= cfg.red_min_arousal and (valence is None or valence <= cfg.red_max_valence):
        return "red"
    if arousal >= cfg.yellow_min_arousal:
        return "yellow"
    if arousal <= cfg.blue_max_arousal:
        return "blue"
    if valence is not None and valence <= cfg.blue_max_valence:
        # Negative feeling: stirred up is distress (yellow), quiet is sadness (blue).
        return "yellow" if arousal >= cfg.distress_min_arousal else "blue"
    return "green"
