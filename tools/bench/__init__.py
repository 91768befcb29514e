"""Benchmarks and the soak: each prints ratios measured side by side in one run."""
