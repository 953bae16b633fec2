"""Measurements behind `pipelines/benchmark.py`: speed, latency, retrieval, quality.

Benchmarks are not tests: they print figures and ratios for a machine, and the
test suite runs them only at toy sizes to keep them working.
"""
