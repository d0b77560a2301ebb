"""Serving under load: calls per second from several threads, memory over time.

Used by ``bench.py`` (its serving section); the memory part runs in a fresh
subprocess through ``_memory.py serve``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

import numpy as np

THREAD_COUNTS = (1, 2, 4)
REQUEST_ROWS = (1, 32)
MIB = 2**20


def calls_per_second(
    call: Callable[[np.ndarray], object],
    x: np.ndarray,
    threads: int,
    duration_s: float,
) -> float:
    """Calls of ``call(x)`` completed per second by ``threads`` threads in a loop.

    The threads start together (a barrier), loop until ``duration_s`` has
    passed, and finish the call they are in; the time counted runs from the
    start to the last thread's end.
    """
    call(x)  # trace and warm up outside the timed loop
    start_together = threading.Barrier(threads + 1)
    stop = threading.Event()
    counts = [0] * threads

    def loop(worker: int) -> None:
        start_together.wait()
        done = 0
        while not stop.is_set():
            call(x)
            done += 1
        counts[worker] = done

    workers = [threading.Thread(target=loop, args=(w,)) for w in range(threads)]
    for worker in workers:
        worker.start()
    start_together.wait()
    started = time.perf_counter()
    time.sleep(duration_s)
    stop.set()
    for worker in workers:
        worker.join()
    return sum(counts) / (time.perf_counter() - started)


def measure_throughput(
    methods: dict[str, Callable[[np.ndarray], object]],
    X: np.ndarray,
    duration_s: float,
) -> dict[tuple[int, int], dict[str, float]]:
    """Calls per second of each method, per (request rows, threads)."""
    results: dict[tuple[int, int], dict[str, float]] = {}
    for rows in REQUEST_ROWS:
        for threads in THREAD_COUNTS:
            results[rows, threads] = {
                name: calls_per_second(call, X[:rows], threads, duration_s)
                for name, call in methods.items()
            }
    return results


def print_throughput(
    results: dict[tuple[int, int], dict[str, float]], methods: Sequence[str]
) -> None:
    header = f"{'rows':>6}{'threads':>9}" + "".join(f"{m:>14}" for m in methods)
    header += f"{'speed-up':>10}"
    print(header)
    print("-" * len(header))
    for (rows, threads), rates in results.items():
        line = f"{rows:>6}{threads:>9}" + "".join(
            f"{rates[m]:>14,.0f}" for m in methods
        )
        line += f"{rates[methods[0]] / rates[methods[1]]:>9.3g}x"
        print(line)
    print(
        f"(calls per second, all threads together; speed-up: {methods[0]}'s "
        f"calls per second over {methods[1]}'s)"
    )


def print_memory(result: dict) -> None:
    checkpoints = result["checkpoints"]
    first, last = checkpoints[0], checkpoints[-1]
    growth = last["rss"] - first["rss"]
    per_call = growth / (last["calls"] - first["calls"])
    print(
        "RSS after "
        + ", ".join(
            f"{c['calls']:,} calls {c['rss'] / MIB:.1f} MiB" for c in checkpoints
        )
    )
    print(
        f"peak RSS over all {last['calls']:,} calls {result['peak'] / MIB:.1f} MiB; "
        f"growth from {first['calls']:,} to {last['calls']:,} calls "
        f"{growth / MIB:+.2f} MiB ({per_call:+.1f} bytes per call)"
    )


def memory_growth(result: dict) -> int:
    """RSS growth in bytes between the first and the last checkpoint."""
    checkpoints = result["checkpoints"]
    return checkpoints[-1]["rss"] - checkpoints[0]["rss"]
