"""``python -m benchmarks``: how fast colorize loads data, trains and colorizes on this machine (see docs/performance.md)."""
