"""Benchmarks that write machine-readable results (device, commit, measurements)."""
