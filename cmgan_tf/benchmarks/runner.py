"""How timed runs are scheduled so that their figures can be trusted.

Three habits, each against a way CPU timings go wrong on a shared machine:

- every configuration is timed in a fresh process of its own, so that one
  run's set-up (logical devices, threads, compiled functions, allocator
  state) never leaks into another's;
- the machine's load is read before the run starts, and the run is refused
  when something else is already using the cores (or, when asked, its figures
  are flagged as taken on a busy machine); the load before and after every
  process is recorded beside its figures;
- configurations that are compared are run alternately, round after round
  (A, B, A, B, ...), and summarised by their median over rounds with the
  spread (minimum and maximum), so that a slow drift of the machine affects
  both sides alike and shows in the spread instead of in the ratio.
"""

import json
import os
import statistics
import subprocess

from cmgan_tf.errors import InvalidInputError


def one_minute_load():
    """Returns the 1-minute load average of the machine."""
    return os.getloadavg()[0]


def check_idle(max_load, *, allow_busy, read_load=one_minute_load):
    """Checks that the machine is idle before a timed run starts.

    Args:
        max_load: Highest 1-minute load average taken as idle.
        allow_busy: Run anyway when busy; the figures are then flagged.
        read_load: Returns the current 1-minute load average; injected by
            tests. Defaults to `one_minute_load`.

    Returns:
        Dict with `load_before` (the load read) and `busy` (whether it was
        above `max_load`).

    Raises:
        InvalidInputError: if the machine is busy and `allow_busy` is false.
    """
    load = read_load()
    busy = load > max_load
    if busy and not allow_busy:
        raise InvalidInputError(
            f"the machine is busy: its 1-minute load average is {load:.2f}, above "
            f"--max_load={max_load}, before the timed runs start; other jobs "
            "would slow them down. Wait until it is idle, or pass --allow_busy "
            "to record figures flagged as taken on a busy machine."
        )
    return {"load_before": load, "busy": busy}


def alternated(groups, rounds):
    """Orders compared runs alternately, round after round.

    Args:
        groups: Sequence of groups of runs compared with each other, e.g.
            `[(a, b), (c, d, e)]`.
        rounds: How many times each run is repeated.

    Returns:
        List of `(round, run)`: in each round, every group's runs in their
        order, so that compared runs always sit next to each other in time.

    Example:
    >>> alternated([("a", "b")], 2)
    [(0, 'a'), (0, 'b'), (1, 'a'), (1, 'b')]
    """
    if not isinstance(rounds, int) or rounds < 1:
        raise InvalidInputError(
            f"`rounds` must be a positive integer. Received: rounds={rounds!r}"
        )
    return [(r, run) for r in range(rounds) for group in groups for run in group]


def spread(values):
    """Summarises repeated measurements by their median and range.

    Args:
        values: Non-empty sequence of numbers.

    Returns:
        Dict with `median`, `min`, `max` and `n`.

    Example:
    >>> spread([3.0, 1.0, 2.0])
    {'median': 2.0, 'min': 1.0, 'max': 3.0, 'n': 3}
    """
    values = list(values)
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "n": len(values),
    }


def run_json_process(argv, *, read_load=one_minute_load, env=None, timeout=None):
    """Runs a timing process and returns the JSON object it printed last.

    Args:
        argv: The command, e.g. `[sys.executable, "-m", "pipelines.benchmark", ...]`.
        read_load: Returns the 1-minute load average; read just before the
            process starts and just after it ends.
        env: Environment of the process; `None` inherits this one.
        timeout: Seconds after which the process is killed.

    Returns:
        The last line of its standard output that parses as a JSON object,
        with `load_before` and `load_after` added.

    Raises:
        RuntimeError: if the process fails or prints no JSON object; the
            message holds the end of its error output.
    """
    load_before = read_load()
    result = subprocess.run(
        argv, capture_output=True, text=True, env=env, timeout=timeout, check=False
    )
    load_after = read_load()
    lines = [
        line for line in result.stdout.splitlines() if line.lstrip().startswith("{")
    ]
    if result.returncode != 0 or not lines:
        raise RuntimeError(
            f"{' '.join(map(str, argv))} failed with exit code {result.returncode}:\n"
            f"{result.stderr[-3000:]}"
        )
    return {
        **json.loads(lines[-1]),
        "load_before": load_before,
        "load_after": load_after,
    }
