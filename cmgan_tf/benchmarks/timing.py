"""Timing helpers: repeated measurements summarised by their median."""

import statistics
import time


def median_seconds(function, *, repeats, warmup=1):
    """Times `function()` `repeats` times after `warmup` untimed calls.

    Args:
        function: Callable taking no arguments.
        repeats: Timed calls.
        warmup: Untimed calls first (tracing, compilation, caches).

    Returns:
        Dict with `median_s`, `min_s` and `max_s` of the timed calls.
    """
    for _ in range(warmup):
        function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return {
        "median_s": statistics.median(times),
        "min_s": min(times),
        "max_s": max(times),
    }
