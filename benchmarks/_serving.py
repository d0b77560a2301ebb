"""Serving under load: calls per second from several threads, memory over time.

Used by ``bench.py`` (its serving section); the memory part runs in fresh
subprocesses through ``_memory.py serve``, once for our ``predict_proba`` and
once for TensorFlow alone on the same requests.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np

THREAD_COUNTS = (1, 2, 4)
REQUEST_ROWS = (1, 32)
MIB = 2**20


class ServeGrowth(NamedTuple):
    """RSS growth in bytes over the serving memory run, ours and TensorFlow's."""

    ours: int
    tensorflow: int

    @property
    def beyond_framework(self) -> int:
        """Our growth beyond what TensorFlow alone grows on the same requests."""
        return self.ours - self.tensorflow


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


def print_memory(results: Sequence[dict]) -> None:
    """One line per serving memory run: RSS at each checkpoint, peak, growth."""
    for result in results:
        checkpoints = result["checkpoints"]
        first, last = checkpoints[0], checkpoints[-1]
        growth = memory_growth(result)
        per_call = growth / (last["calls"] - first["calls"])
        after = ", ".join(f"{c['rss'] / MIB:.1f}" for c in checkpoints)
        print(
            f"{result['method']:<11} RSS {after} MiB; peak {result['peak'] / MIB:.1f}"
            f" MiB; growth {growth / MIB:+.2f} MiB ({per_call:+.1f} bytes per call)"
        )
    calls = ", ".join(f"{c['calls']:,}" for c in results[0]["checkpoints"])
    print(
        f"(RSS after {calls} calls; growth from the first to the last of them. "
        "tensorflow: the same requests of the model traced by hand, without our "
        "code; its growth is the framework's and the allocator's own)"
    )


def memory_growth(result: dict) -> int:
    """RSS growth in bytes between the first and the last checkpoint."""
    checkpoints = result["checkpoints"]
    return checkpoints[-1]["rss"] - checkpoints[0]["rss"]
