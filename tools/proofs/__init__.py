"""Whole-system proofs: the emulated arm64 demo and the systemd VM, with the Debian root they
share."""
