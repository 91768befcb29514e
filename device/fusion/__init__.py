"""Fusion: one estimate per window from the modalities' estimates (fuse_window) and the zone rule,
both pure functions, with their settings."""
