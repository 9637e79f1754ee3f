"""Benchmarks of issue 6: one command per target, `python -m bench.<name>`."""
