"""Benchmarks of the platform, one module per section; `python -m benchmarks` runs them."""
