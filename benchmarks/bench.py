"""Benchmark skkeras_proba's KerasClassifier against plain Keras and scikeras.

The model is a 20-64-64-3 MLP (two relu layers, a 3-unit logits head, compiled
with ``SparseCategoricalCrossentropy(from_logits=True)``), trained for two epochs
on 10,000 rows of ``make_classification`` data. Inputs are float32. Times are
wall-clock medians (``time.perf_counter``) after one untimed warm-up call.

1. Fit overhead: ``KerasClassifier.fit`` against building, compiling and
   fitting the same model with raw Keras on the same data, epochs and batch
   size; medians of interleaved repeats (minima and the median paired
   difference are printed too, to show how noisy the machine is). The same
   with ``epochs=0`` then measures the wrapper's own cost without the noise
   of training: Keras' ``model.fit`` gets the same arrays and arguments from
   both sides, so that cost is what the wrapper adds, and the fit target is
   checked on it. Fits are timed before Keras' global seed is set.

2. Prediction, for 1 / 32 / 1,000 / 20,000 / 1,000,000 rows:

   * ours: ``skkeras_proba.KerasClassifier.predict_proba`` -- input validation,
     the traced forward pass in batches of 8192 rows, softmax in float64;
   * eager: ``model(x, training=False)`` on the same fitted ``model_``; it
     returns a tensor of logits (no softmax, no NumPy conversion), so it does
     strictly less work than ours;
   * model.predict: ``model.predict(x, verbose=0)`` (Keras' batch size, 32);
   * scikeras: ``scikeras.wrappers.KerasClassifier.predict_proba`` of an
     estimator built and fitted the same way; it predicts through
     ``model.predict`` with its ``batch_size`` (256, as for fitting).

   Each cell repeats its call until a time budget is spent (at least 3 and at
   most 200 timed calls). A method whose call would take longer than a limit
   (extrapolated along a line through its two previous sizes) is skipped at
   that size, and the output says so.

3. Peak memory of ``predict_proba`` on the largest input, in a fresh subprocess:
   the rise in resident set size (sampled in a thread, cross-checked with the
   kernel's high-water mark) while the call runs, the input already being in
   memory. It is compared with the issue's budget, input + output + one batch
   (its input and every layer's activations), and with output + one batch,
   what the call itself should need. Eager ``model(x)`` is shown for contrast.

4. Repeated-fit memory: in separate subprocesses, 200 consecutive fit (one
   epoch) + predict of a small 20-16-3 model, with our estimator and with raw
   Keras (predicting through ``model(x)``); RSS growth per fit is the
   least-squares slope over the second half of the fits. Each worker also
   reports how many Keras models are still alive and how many functions
   TensorFlow's runtime holds. ``--investigate`` adds variants that locate
   the growth: raw Keras with the gradient-registry clean-up our ``fit`` does
   (see ``skkeras_proba._compat.custom_gradients_released``), and ours with
   ``gc.collect()`` and/or TensorFlow's kernel cache cleared after every fit.

5. Serving under load: one fitted estimator called in a loop from 1, 2 and 4
   threads at once, with 1-row and 32-row requests, against the same loop
   calling eager Keras (``model(x, training=False)``); calls per second of all
   threads together, each cell timed for a fixed duration after a warm-up
   call. Then, in a fresh subprocess, 100,000 ``predict_proba`` calls of 1 and
   32 rows: the peak RSS over all of them, and RSS after 10,000, 50,000 and
   100,000 calls; and, in another, the same requests of TensorFlow alone (the
   model traced by hand and called, its output converted to NumPy). Serving
   must not grow beyond what TensorFlow alone grows. That baseline is not
   zero: both loops gain 0 to 16 bytes per call, at random from run to run,
   in steps of about 100 KiB; it is glibc's heaps (arenas), not objects we
   keep (``tracemalloc``: no net Python allocations), and with
   ``MALLOC_ARENA_MAX=1`` (one arena) both stay flat.
   ``--serve-only`` runs only this section.

6. Sparse input: in fresh subprocesses, a one-epoch fit of scikeras'
   sparse-input example (a 20,000-category one-hot encoding, the 20,000 x
   20,000 identity as a CSR matrix; one hidden layer of 100) with our
   ``KerasRegressor`` and with scikeras': the peak RSS increase during the fit
   and its time. Target: ours at most 2x scikeras' in both. A dense copy of X
   would be 1.5 GiB. ``--sparse-only`` runs only this section.
7. ONNX (when the ``onnx`` extra is installed): the Pipeline exported with
   ``skkeras_proba.to_onnx`` served by onnxruntime at 1 and 1,000 rows
   against our ``predict_proba``, eager Keras and ``MLPClassifier``, and the
   exported file's size; see ``benchmarks/_onnx_serving.py``.
   ``--onnx-only`` runs only this section.

Run ``make bench`` (about 15 minutes on 2 cores) or
``.venv/bin/python benchmarks/bench.py --quick`` (a smoke test, about 7 minutes:
its fresh processes and compilations take most of it).
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import importlib.util
import json
import operator
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import scikeras
import scikeras.wrappers
import sklearn
from _backends import backend_section
from _fitting import (
    fit_cases,
    fit_targets,
    on_backend,
    print_first_fits,
    print_fit_table,
    print_search_table,
    time_fit_case,
    time_searches,
)
from _memory import REFIT_ROWS, SPARSE_HIDDEN_UNITS
from _serving import (
    ServeGrowth,
    measure_throughput,
    memory_growth,
    print_memory,
    print_throughput,
)
from _workload import (
    EPOCHS,
    FIT_BATCH_SIZE,
    TRAIN_ROWS,
    build_mlp,
    fit_raw_keras,
    make_data,
    ours,
)

import skkeras_proba
from skkeras_proba._forward import default_batch_size

MIB = 2**20
_STARTED = time.perf_counter()
MEMORY_WORKER = Path(__file__).with_name("_memory.py")


@dataclass(frozen=True)
class Config:
    """Sizes and repeat counts of one run."""

    sizes: tuple[int, ...]
    cell_budget_s: float  # time spent on repeats of one (method, size) cell
    max_call_s: float  # skip a method at a size if one call would take longer
    fit_repeats: int
    peak_rows: int
    refit_count: int
    serve_duration_s: float  # time per (rows, threads, method) cell of serving
    serve_calls: int  # calls of the serving memory run
    fit_table_repeats: int  # repeats of each fit of the fit table
    search_repeats: int  # repeats of each search of the search table
    first_fit_pairs: int  # pairs of fresh processes timing first fits, per backend
    min_repeats: int = 3
    max_repeats: int = 200


FULL = Config(
    sizes=(1, 32, 1_000, 20_000, 1_000_000),
    cell_budget_s=1.5,
    max_call_s=5.0,
    fit_repeats=15,
    peak_rows=1_000_000,
    refit_count=200,
    serve_duration_s=2.0,
    serve_calls=100_000,
    fit_table_repeats=3,
    search_repeats=2,
    first_fit_pairs=3,
)
QUICK = Config(
    sizes=(1, 32, 1_000, 20_000),
    cell_budget_s=0.3,
    max_call_s=1.0,
    fit_repeats=3,
    peak_rows=200_000,
    refit_count=15,
    serve_duration_s=0.5,
    serve_calls=10_000,
    fit_table_repeats=1,
    search_repeats=1,
    first_fit_pairs=1,
    min_repeats=2,
)


# --------------------------------------------------------------------- timing


@dataclass(frozen=True)
class Timing:
    """Median seconds per call over ``repeats`` calls; None when skipped."""

    seconds: float | None
    repeats: int = 0
    note: str = ""


def median_time(fn: Callable[[], object], config: Config) -> Timing:
    """Median of repeated timed calls of ``fn`` after one warm-up call."""
    fn()
    times: list[float] = []
    spent = 0.0
    while len(times) < config.max_repeats and (
        len(times) < config.min_repeats or spent < config.cell_budget_s
    ):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
        spent += times[-1]
    return Timing(statistics.median(times), len(times))


def format_seconds(seconds: float) -> str:
    if seconds >= 1.0:
        return f"{seconds:.2f} s"
    return f"{seconds * 1e3:.3g} ms"


def format_ratio(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3g}x"


# ----------------------------------------------------------------- prediction

METHODS = ("ours", "eager", "model.predict", "scikeras")


def fit_estimators(X: np.ndarray, y: np.ndarray) -> tuple:
    """Our estimator and scikeras', built and fitted the same way."""
    clf = ours().fit(X, y)
    reference = scikeras.wrappers.KerasClassifier(
        build_mlp, epochs=EPOCHS, batch_size=FIT_BATCH_SIZE, verbose=0
    ).fit(X, y)
    return clf, reference


def predictors(clf, reference) -> dict[str, Callable[[np.ndarray], object]]:
    model = clf.model_
    return {
        "ours": clf.predict_proba,
        "eager": lambda x: model(x, training=False),
        "model.predict": lambda x: model.predict(x, verbose=0),
        "scikeras": reference.predict_proba,
    }


def time_predictions(
    predict: dict[str, Callable], X: np.ndarray, config: Config
) -> dict[int, dict[str, Timing]]:
    """One Timing per (size, method); slow methods skipped at large sizes."""
    results: dict[int, dict[str, Timing]] = {}
    for rows in config.sizes:
        x = X[:rows]
        results[rows] = {}
        for method in METHODS:
            estimate = _extrapolate(results, method, rows)
            if estimate is not None and estimate > config.max_call_s:
                note = f"skipped (~{format_seconds(estimate)} per call, extrapolated)"
                results[rows][method] = Timing(None, note=note)
                continue
            timing = median_time(lambda f=predict[method], x=x: f(x), config)
            results[rows][method] = timing
        _progress(f"predict: {rows:,} rows done")
    return results


def _extrapolate(
    results: dict[int, dict[str, Timing]], method: str, rows: int
) -> float | None:
    """Time per call at ``rows``, from a line through the last two sizes timed.

    A fixed cost plus a cost per row: extrapolating from one point would
    scale a 1-row call's fixed overhead by the number of rows.
    """
    timed = [
        (n, timings[method].seconds)
        for n, timings in results.items()
        if method in timings and timings[method].seconds is not None
    ]
    if len(timed) < 2:
        return None
    (n1, t1), (n2, t2) = timed[-2:]
    per_row = max((t2 - t1) / (n2 - n1), 0.0)
    return t2 + per_row * (rows - n2)


def ratio(numerator: Timing, denominator: Timing) -> float | None:
    if numerator.seconds is None or denominator.seconds is None:
        return None
    return numerator.seconds / denominator.seconds


def print_prediction_table(results: dict[int, dict[str, Timing]]) -> None:
    header = f"{'rows':>9}" + "".join(f"{m:>22}" for m in METHODS)
    header += f"{'ours/eager':>12}{'scikeras/ours':>15}"
    print(header)
    print("-" * len(header))
    skipped = []
    for rows, timings in results.items():
        cells = []
        for method in METHODS:
            timing = timings[method]
            if timing.seconds is None:
                cells.append("skipped")
                skipped.append(f"{method} at {rows:,} rows: {timing.note}")
            else:
                cells.append(f"{format_seconds(timing.seconds)} ({timing.repeats})")
        line = f"{rows:>9,}" + "".join(f"{c:>22}" for c in cells)
        line += f"{format_ratio(ratio(timings['ours'], timings['eager'])):>12}"
        line += f"{format_ratio(ratio(timings['scikeras'], timings['ours'])):>15}"
        print(line)
    print("(median per call, number of timed calls in parentheses)")
    for note in skipped:
        print(f"  {note}")


# ---------------------------------------------------------------- fit overhead


@dataclass(frozen=True)
class FitTimes:
    """What the fit section measured, in seconds."""

    ours: float  # median full fit
    raw: float
    raw_spread: float  # interquartile range of raw full fits over their median
    own_cost: float  # median paired difference of zero-epoch fits

    @property
    def median_ratio(self) -> float:
        return self.ours / self.raw

    @property
    def overhead(self) -> float:
        """The wrapper's own cost as a fraction of a raw Keras fit."""
        return self.own_cost / self.raw


def time_fits(
    X: np.ndarray, y: np.ndarray, epochs: int, repeats: int
) -> dict[str, list[float]]:
    """Seconds per fit of our estimator and of raw Keras, in interleaved pairs.

    One untimed fit of each comes first. Garbage is collected before each
    timed fit, so that neither pays for collecting the other's cyclic garbage
    (old models and their traces).
    """
    fits = {
        "ours": lambda: ours(epochs=epochs).fit(X, y),
        "raw keras": lambda: fit_raw_keras(X, y, epochs=epochs),
    }
    for fit in fits.values():
        fit()
    times: dict[str, list[float]] = {name: [] for name in fits}
    for repeat in range(repeats):
        order = list(fits) if repeat % 2 == 0 else list(reversed(fits))
        for name in order:
            gc.collect()
            start = time.perf_counter()
            fits[name]()
            times[name].append(time.perf_counter() - start)
    return times


# ----------------------------------------------------------- memory (workers)


def run_worker(*args: str) -> dict:
    """Run ``_memory.py`` with ``args`` in a fresh interpreter; its JSON result."""
    command = [sys.executable, str(MEMORY_WORKER), *args]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-4000:])
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode})")
    return json.loads(done.stdout.strip().splitlines()[-1])


def peak_budget(result: dict) -> int:
    """Input + output + one batch: the issue's bound on predict_proba's memory."""
    return result["input_bytes"] + own_budget(result)


def own_budget(result: dict) -> int:
    """Output + one batch: what the call needs beyond the caller's input."""
    return result["output_bytes"] + result["batch_bytes"]


def peak_rise(result: dict) -> int:
    return max(result["sampled_peak"], result["kernel_peak"] or 0)


def print_peak_memory(results: Sequence[dict]) -> None:
    first = results[0]
    print(
        f"input {first['input_bytes'] / MIB:.1f} MiB + output (float64 proba) "
        f"{first['output_bytes'] / MIB:.1f} MiB + one batch of "
        f"{first['batch_rows']:,} rows {first['batch_bytes'] / MIB:.1f} MiB "
        f"= {peak_budget(first) / MIB:.1f} MiB"
    )
    for result in results:
        kernel = result["kernel_peak"]
        kernel_text = "n/a" if kernel is None else f"{kernel / MIB:.1f} MiB"
        print(
            f"  {result['method']:<6} peak RSS increase "
            f"{result['sampled_peak'] / MIB:7.1f} MiB (kernel high-water mark "
            f"{kernel_text}) = {peak_ratio(result):.2f}x input + output + batch, "
            f"{peak_rise(result) / own_budget(result):.2f}x output + batch"
        )
    print(f"  (baseline RSS {first['baseline'] / MIB:.0f} MiB, input included)")


def peak_ratio(result: dict) -> float:
    return peak_rise(result) / peak_budget(result)


@dataclass(frozen=True)
class Growth:
    """RSS growth of one repeated-fit worker."""

    label: str
    per_fit_mib: float
    total_mib: float
    first_mib: float
    fits: int
    live_models: int
    tf_functions_per_fit: float


def refit_growth(label: str, result: dict) -> Growth:
    rss = np.asarray(result["rss"], dtype=float) / MIB
    half = len(rss) // 2
    slope = np.polyfit(np.arange(half, len(rss)), rss[half:], 1)[0]
    new_functions = result["tf_functions"] - result["tf_functions_first"]
    return Growth(
        label,
        per_fit_mib=float(slope),
        total_mib=float(rss[-1] - rss[0]),
        first_mib=float(rss[0]),
        fits=len(rss),
        live_models=result["live_models"],
        tf_functions_per_fit=new_functions / max(len(rss) - 1, 1),
    )


REFIT_VARIANTS = {
    "ours": ("--kind", "ours"),
    "raw keras": ("--kind", "raw"),
}
INVESTIGATE_VARIANTS = {
    "raw + gradient clean-up": ("--kind", "raw", "--drop-gradient-registrations"),
    "ours + gc.collect()": ("--kind", "ours", "--collect"),
    "ours + kernel cache clear": ("--kind", "ours", "--clear-kernel-cache"),
    "ours + both": ("--kind", "ours", "--collect", "--clear-kernel-cache"),
}


def measure_refit(variants: dict[str, tuple[str, ...]], fits: int) -> list[Growth]:
    growth = []
    for label, args in variants.items():
        result = run_worker("refit", "--fits", str(fits), *args)
        growth.append(refit_growth(label, result))
        _progress(f"refit memory: {label} done")
    return growth


def print_refit_growth(growth: Sequence[Growth]) -> None:
    print(
        f"{'':<26}{'MiB/fit':>9}{'total MiB':>11}{'RSS after 1st':>15}"
        f"{'live models':>13}{'TF funcs/fit':>14}"
    )
    for g in growth:
        print(
            f"{g.label:<26}{g.per_fit_mib:>9.2f}{g.total_mib:>11.1f}"
            f"{g.first_mib:>11.0f} MiB{g.live_models:>13}"
            f"{g.tf_functions_per_fit:>14.3g}"
        )
    print(
        f"({growth[0].fits} fits each; MiB/fit is the slope over the second half; "
        "live models are counted before any final gc.collect())"
    )


# --------------------------------------------------------------------- targets


_COMPARE = {"<": operator.lt, "<=": operator.le, ">=": operator.ge}

# Serving memory. TensorFlow alone grows 0 to 1.5 MiB over 90,000 calls, at
# random (glibc's per-thread heaps; none with MALLOC_ARENA_MAX=1), so ours is
# held to that plus 1 MiB, and in absolute terms below what keeping even one
# small Python object per call would add (24 bytes * 90,000 = 2.1 MiB).
SERVE_GROWTH_BEYOND_FRAMEWORK_MIB = 1
SERVE_GROWTH_CEILING_MIB = 2


@dataclass(frozen=True)
class Check:
    """One target from the issue: ``value <op> bound``."""

    label: str
    value: float | None
    op: str
    bound: float

    @property
    def met(self) -> bool | None:
        if self.value is None:
            return None
        return _COMPARE[self.op](self.value, self.bound)

    def __str__(self) -> str:
        status = {True: "met", False: "MISSED", None: "not measured"}[self.met]
        value = "-" if self.value is None else f"{self.value:.3g}"
        return f"{self.label:<38} {value:>8} {self.op} {self.bound:<5} {status}"


def checks(
    results: dict[int, dict[str, Timing]],
    fit: FitTimes,
    peak: dict,
    growth: Sequence[Growth],
    serve_growth: ServeGrowth,
) -> list[Check]:
    def cell_ratio(rows: int, numerator: str, denominator: str) -> float | None:
        if rows not in results:
            return None
        return ratio(results[rows][numerator], results[rows][denominator])

    return [
        Check("1 row: ours/eager", cell_ratio(1, "ours", "eager"), "<=", 0.5),
        Check("1 row: scikeras/ours", cell_ratio(1, "scikeras", "ours"), ">=", 50),
        Check("32 rows: ours/eager", cell_ratio(32, "ours", "eager"), "<", 1),
        Check("1,000 rows: ours/eager", cell_ratio(1000, "ours", "eager"), "<", 1),
        Check("20,000 rows: ours/eager", cell_ratio(20000, "ours", "eager"), "<=", 1.2),
        Check("fit: wrapper's own cost/raw fit", fit.overhead, "<=", 0.05),
        Check(f"peak RSS {peak['rows']:,} rows/budget", peak_ratio(peak), "<=", 1),
        Check("repeated fit: ours/raw MiB per fit", refit_ratio(growth), "<=", 1),
        Check(
            "serving: growth MiB beyond TensorFlow's",
            serve_growth.beyond_framework / MIB,
            "<=",
            SERVE_GROWTH_BEYOND_FRAMEWORK_MIB,
        ),
        Check(
            "serving: RSS growth MiB over 90% calls",
            serve_growth.ours / MIB,
            "<=",
            SERVE_GROWTH_CEILING_MIB,
        ),
    ]


def refit_ratio(growth: Sequence[Growth]) -> float:
    """Our RSS growth per fit over raw Keras' (the first two variants)."""
    ours_growth, raw_growth = growth[0], growth[1]
    # Floor: a slope of ~0 MiB for raw Keras would make any ratio meaningless.
    return ours_growth.per_fit_mib / max(raw_growth.per_fit_mib, 0.01)


def summary_line(
    results: dict[int, dict[str, Timing]],
    fit: FitTimes,
    peak: dict,
    growth: Sequence[Growth],
    targets: Sequence[Check],
) -> str:
    def series(numerator: str, denominator: str) -> str:
        return " ".join(
            f"{rows:,}={format_ratio(ratio(t[numerator], t[denominator]))}"
            for rows, t in results.items()
        )

    met = sum(bool(c.met) for c in targets)
    per_fit = " ".join(f"{g.label}={g.per_fit_mib:.2f}" for g in growth[:2])
    return (
        f"SUMMARY ours/eager: {series('ours', 'eager')} | "
        f"scikeras/ours: {series('scikeras', 'ours')} | "
        f"fit ours/raw: {format_ratio(fit.median_ratio)} (own cost "
        f"{fit.overhead:.1%}) | "
        f"peak RSS/budget: {peak_ratio(peak):.2f} | "
        f"refit MiB/fit: {per_fit} | targets met: {met}/{len(targets)}"
    )


# ------------------------------------------------------------------------ main


def _progress(message: str) -> None:
    print(f"  .. {message}", file=sys.stderr, flush=True)


def _heading(title: str) -> None:
    """A section's title, with the run's seconds so far: the run must stay short."""
    print(f"\n== {title} == ({time.perf_counter() - _STARTED:.0f} s in)")


def print_environment() -> None:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    print(
        f"{cpu}, {os.cpu_count()} cores | Python {platform.python_version()} | "
        f"keras {keras.__version__} ({keras.backend.backend()}) | "
        f"scikeras {scikeras.__version__} | scikit-learn {sklearn.__version__} | "
        f"skkeras_proba {skkeras_proba.__version__}"
    )


def parse_config(argv: Sequence[str] | None) -> tuple[Config, Options]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="small sizes and few repeats"
    )
    parser.add_argument(
        "--investigate",
        action="store_true",
        help="also run four repeated-fit variants that try remedies (5x longer)",
    )
    parser.add_argument("--refit-count", type=int, help="fits per repeated-fit process")
    parser.add_argument(
        "--serve-only", action="store_true", help="run only the serving section"
    )
    parser.add_argument(
        "--serve-calls", type=int, help="calls of the serving memory run"
    )
    parser.add_argument(
        "--fit-only", action="store_true", help="run only the fit and search tables"
    )
    parser.add_argument(
        "--backends-only", action="store_true", help="run only the backend section"
    )
    parser.add_argument(
        "--sparse-only", action="store_true", help="run only the sparse input section"
    )
    parser.add_argument(
        "--serve-duration", type=float, help="seconds per serving throughput cell"
    )
    parser.add_argument(
        "--onnx-only", action="store_true", help="run only the ONNX serving section"
    )
    args = parser.parse_args(argv)
    config = QUICK if args.quick else FULL
    if args.refit_count:
        config = dataclasses.replace(config, refit_count=args.refit_count)
    if args.serve_calls:
        config = dataclasses.replace(config, serve_calls=args.serve_calls)
    if args.serve_duration:
        config = dataclasses.replace(config, serve_duration_s=args.serve_duration)
    return config, Options(
        args.investigate,
        args.serve_only,
        args.fit_only,
        args.backends_only,
        args.sparse_only,
        args.onnx_only,
    )


@dataclass(frozen=True)
class Options:
    """What to run besides the sizes in Config."""

    investigate: bool  # the repeated-fit remedies
    serve_only: bool  # only the serving section
    fit_only: bool  # only the fit and search tables
    backends_only: bool  # only the backend section (benchmarks/_backends.py)
    sparse_only: bool  # only the sparse input section
    onnx_only: bool  # only the ONNX section (benchmarks/_onnx_serving.py)


def predict_section(X: np.ndarray, y: np.ndarray, config: Config) -> dict:
    _heading("predict: median time per call")
    clf, reference = fit_estimators(X[:TRAIN_ROWS], y[:TRAIN_ROWS])
    results = time_predictions(predictors(clf, reference), X, config)
    print_prediction_table(results)
    return results


def fit_section(X: np.ndarray, y: np.ndarray, config: Config) -> FitTimes:
    """Full fits, then zero-epoch fits that isolate the wrapper's own cost.

    Keras' ``model.fit`` receives the same arrays (float32 X, integer y) and
    arguments from both sides, so what the wrapper adds is what happens
    around it: validation, building, compiling, head inspection. Zero-epoch
    fits measure exactly that, without the run-to-run noise of training.
    """
    _heading(f"fit: {TRAIN_ROWS:,} rows, {EPOCHS} epochs, batch size {FIT_BATCH_SIZE}")
    times = time_fits(X[:TRAIN_ROWS], y[:TRAIN_ROWS], EPOCHS, config.fit_repeats)
    for name, values in times.items():
        print(
            f"  {name:<10} median {format_seconds(statistics.median(values))}, "
            f"min {format_seconds(min(values))} ({len(values)} fits)"
        )
    raw_median = statistics.median(times["raw keras"])
    quartiles = statistics.quantiles(times["raw keras"], n=4)
    set_up = time_fits(X[:TRAIN_ROWS], y[:TRAIN_ROWS], 0, 3 * config.fit_repeats)
    fit = FitTimes(
        ours=statistics.median(times["ours"]),
        raw=raw_median,
        raw_spread=(quartiles[2] - quartiles[0]) / raw_median,
        own_cost=_median_difference(set_up),
    )
    print(
        f"  ours/raw keras: {format_ratio(fit.median_ratio)} (medians); raw fits "
        f"vary by {fit.raw_spread:.0%} (interquartile range), so this ratio is "
        "only as good as that"
    )
    print(
        f"  epochs=0 (everything but training): ours median "
        f"{format_seconds(statistics.median(set_up['ours']))}, raw keras "
        f"{format_seconds(statistics.median(set_up['raw keras']))}; wrapper's "
        f"own cost (median paired difference) {format_seconds(fit.own_cost)} "
        f"per fit = {fit.overhead:.1%} of a raw fit"
    )
    return fit


def fit_table_section(config: Config) -> list[tuple[str, float, str, float]]:
    """Issue 9's fit and search tables; their targets."""
    _heading("fit: our defaults against raw Keras, scikeras and MLPClassifier")
    fits = {}
    for case in fit_cases():
        _progress(f"fits: {case.name}")
        fits[case.name] = time_fit_case(case, config.fit_table_repeats)
    _progress("fits and search on each backend, in fresh processes")
    workers = {
        backend: on_backend(
            backend,
            config.fit_table_repeats,
            config.search_repeats,
            config.first_fit_pairs,
        )
        for backend in ("tensorflow", "jax")
    }
    for case, seconds in fits.items():
        seconds["ours (JAX)"] = workers["jax"]["later"][case]
    print_fit_table(fits, config.fit_table_repeats)
    print_first_fits(workers)
    _heading("search")
    _progress("searches")
    searches = time_searches(config.search_repeats)
    searches["ours (JAX)"] = workers["jax"]["search"]
    print_search_table(searches, config.search_repeats, workers)
    return fit_targets(fits, searches, workers)


def _median_difference(times: dict[str, list[float]]) -> float:
    pairs = zip(times["ours"], times["raw keras"], strict=True)
    return statistics.median(ours_time - raw_time for ours_time, raw_time in pairs)


def peak_section(config: Config) -> dict:
    batch_rows = default_batch_size()
    _heading(f"peak memory: {config.peak_rows:,} rows, predict batch {batch_rows:,}")
    peak = [
        run_worker("peak", "--rows", str(config.peak_rows), "--method", method)
        for method in ("ours", "eager")
    ]
    print_peak_memory(peak)
    return peak[0]


def refit_section(config: Config, investigate: bool) -> list[Growth]:
    _heading(
        f"repeated fit + predict: 20-16-3 model, {REFIT_ROWS} rows, 1 epoch, "
        f"{config.refit_count} fits per process"
    )
    variants = dict(REFIT_VARIANTS)
    if investigate:
        variants.update(INVESTIGATE_VARIANTS)
    growth = measure_refit(variants, config.refit_count)
    print_refit_growth(growth)
    return growth


SPARSE_ROWS = 20_000
SPARSE_RATIO_TARGET = 2.0


def sparse_section() -> list[Check]:
    """Peak memory increase and time of a one-epoch fit on a one-hot CSR matrix."""
    _heading(
        f"sparse X: one-epoch fit on a {SPARSE_ROWS:,} x {SPARSE_ROWS:,} one-hot "
        f"CSR matrix, hidden layer of {SPARSE_HIDDEN_UNITS}"
    )
    results = {}
    for kind in ("scikeras", "ours"):
        results[kind] = run_worker("sparse", "--rows", str(SPARSE_ROWS), "--kind", kind)
        _progress(f"sparse fit: {kind} done")
    print(f"{'':<10}{'peak RSS increase':>20}{'fit time':>12}")
    for kind, result in results.items():
        print(
            f"{kind:<10}{peak_rise(result) / MIB:>16.0f} MiB"
            f"{format_seconds(result['seconds']):>12}"
        )
    memory = peak_rise(results["ours"]) / peak_rise(results["scikeras"])
    seconds = results["ours"]["seconds"] / results["scikeras"]["seconds"]
    first = results["ours"]
    print(
        f"ours/scikeras: memory {format_ratio(memory)}, time {format_ratio(seconds)} "
        f"(X: {first['sparse_bytes'] / MIB:.2f} MiB sparse, "
        f"{first['dense_bytes'] / MIB:,.0f} MiB dense float32)"
    )
    return [
        Check("sparse fit: memory ours/scikeras", memory, "<=", SPARSE_RATIO_TARGET),
        Check("sparse fit: time ours/scikeras", seconds, "<=", SPARSE_RATIO_TARGET),
    ]


def serve_section(X: np.ndarray, y: np.ndarray, config: Config) -> ServeGrowth:
    """Calls per second from several threads, then memory over many calls."""
    _heading(
        f"serving under load: calls per second, {config.serve_duration_s:g} s per cell"
    )
    clf = ours().fit(X[:TRAIN_ROWS], y[:TRAIN_ROWS])
    model = clf.model_
    methods = {
        "ours": clf.predict_proba,
        "eager": lambda x: model(x, training=False),
    }
    print_throughput(
        measure_throughput(methods, X, config.serve_duration_s), list(methods)
    )
    _heading(
        f"serving memory: {config.serve_calls:,} predict_proba calls, "
        "and the same requests of TensorFlow alone"
    )
    results = [
        run_worker("serve", "--calls", str(config.serve_calls), "--method", method)
        for method in ("ours", "tensorflow")
    ]
    print_memory(results)
    return ServeGrowth(*(memory_growth(result) for result in results))


def onnx_section(X: np.ndarray, y: np.ndarray, config: Config) -> list[Check]:
    """onnxruntime serving the exported Pipeline; no section without the extra."""
    if importlib.util.find_spec("skl2onnx") is None:
        _heading("ONNX: skipped, the onnx extra is not installed")
        return []
    import _onnx_serving

    _heading("ONNX: the exported Pipeline served by onnxruntime, median per call")
    results = _onnx_serving.measure(X, y, calls_scale=0.2 if config is QUICK else 1)
    _onnx_serving.print_results(results)
    return [Check(*_onnx_serving.target(results))]


def main(argv: Sequence[str] | None = None) -> None:
    config, options = parse_config(argv)
    started = time.perf_counter()
    print_environment()
    X, y = make_data(max(*config.sizes, TRAIN_ROWS))
    if options.serve_only:
        serve_section(X, y, config)
        print(f"\n(total {time.perf_counter() - started:.0f} s)")
        return
    if options.fit_only:
        for target in fit_table_section(config):
            print(f"  {Check(*target)}")
        print(f"\n(total {time.perf_counter() - started:.0f} s)")
        return
    if options.sparse_only:
        for check in sparse_section():
            print(f"  {check}")
        print(f"\n(total {time.perf_counter() - started:.0f} s)")
        return
    if options.onnx_only:
        for check in onnx_section(X, y, config):
            print(f"  {check}")
        print(f"\n(total {time.perf_counter() - started:.0f} s)")
        return
    if options.backends_only:
        _heading("backends: predict_proba and fit on each installed backend")
        backend_section(quick=config is QUICK)
        return

    # Fits are timed unseeded: with Keras' global seed set, fit times of both
    # sides scatter by +-30% on the development machine.
    fit = fit_section(X, y, config)
    fit_table_targets = fit_table_section(config)
    keras.utils.set_random_seed(0)
    results = predict_section(X, y, config)
    peak = peak_section(config)
    growth = refit_section(config, options.investigate)
    serve_growth = serve_section(X, y, config)
    sparse_targets = sparse_section()
    _heading("backends: predict_proba and fit on each installed backend")
    backend_section(quick=config is QUICK)
    onnx_targets = onnx_section(X, y, config)

    _heading("targets")
    targets = checks(results, fit, peak, growth, serve_growth)
    targets += [Check(*target) for target in fit_table_targets]
    targets += sparse_targets
    targets += onnx_targets
    for check in targets:
        print(f"  {check}")
    print(f"\n(total {time.perf_counter() - started:.0f} s)")
    print(summary_line(results, fit, peak, growth, targets))


if __name__ == "__main__":
    main()
