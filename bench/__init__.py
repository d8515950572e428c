"""The benchmark harness: `python -m bench [--quick] [--out DIR]` (see README, "Benchmarks")."""
