"""The backend column of ``make bench``: every installed Keras backend, same work.

Keras fixes its backend when first imported, so each backend runs in a fresh
subprocess (``KERAS_BACKEND=tensorflow|jax|torch``), for every backend whose
framework is installed. Each worker builds the 20-64-64-3 MLP of
``_workload.py`` and measures, in that one process:

* fit: ``KerasClassifier.fit`` against Keras' own ``model.fit`` of the same
  model on the same data, epochs and batch size; interleaved repeats, medians.
* predict: ``KerasClassifier.predict_proba`` at 1 / 1,000 / 20,000 rows against
  that backend's eager call, ``keras.ops.convert_to_numpy(model(x,
  training=False))`` on the same fitted ``model_`` (converted, because a JAX or
  GPU call returns before its result exists); the two are called in turn,
  medians of each. At 1 row also scikit-learn's ``MLPClassifier.predict_proba``
  (same layer sizes), the cost a scikit-learn user already accepts.

Then ``_memory.py peak`` measures, in another fresh process per backend, the
peak memory of ``predict_proba`` on 20,000 rows against input + output + one
batch. Targets (issue 10): JAX at 1 row at most 0.3x its eager call and 1.5x
``MLPClassifier``; PyTorch at most 0.5x eager at 1 and 1,000 rows; every
backend at 20,000 rows no slower than eager and within the memory budget.

Usage::

    python benchmarks/_backends.py [--quick]      # the table and the targets
    python benchmarks/_backends.py worker --repeats-scale 1.0   # one backend
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import keras
from _workload import (
    EPOCHS,
    FIT_BATCH_SIZE,
    HIDDEN_UNITS,
    TRAIN_ROWS,
    fit_raw_keras,
    make_data,
    ours,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

BACKENDS = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}
"""Keras backend name -> the framework it needs installed."""

SIZES = (1, 1_000, 20_000)
CALLS = {1: 300, 1_000: 60, 20_000: 10}
"""Timed calls per method at each size, at ``--repeats-scale 1``."""

FIT_REPEATS = 3
PEAK_ROWS = 20_000
MACHINE = "2-core machine, shared"
_HERE = Path(__file__).parent


def installed_backends() -> list[str]:
    """The Keras backends whose framework can be imported here."""
    return [b for b, module in BACKENDS.items() if importlib.util.find_spec(module)]


# --------------------------------------------------------------------- worker


def alternating_medians(
    functions: dict[str, Callable[[], object]], calls: int
) -> dict[str, float]:
    """Median seconds per call of each function, called in turn ``calls`` times."""
    for function in functions.values():
        function()  # warm-up: compilation, first-call caches
    times: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(calls):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def worker(repeats_scale: float) -> dict:
    """Fit and predict timings on this process's backend (see the module doc)."""
    warnings.simplefilter("ignore", ConvergenceWarning)  # MLP trains EPOCHS only

    X, y = make_data(max(TRAIN_ROWS, *SIZES))
    X_train, y_train = X[:TRAIN_ROWS], y[:TRAIN_ROWS]
    fit_times: dict[str, list[float]] = {"ours": [], "keras": []}
    fits = {
        "ours": lambda: ours().fit(X_train, y_train),
        "keras": lambda: fit_raw_keras(X_train, y_train),
    }
    fits["ours"]()  # warm-up: the backend's first compilations
    for _ in range(max(1, round(FIT_REPEATS * repeats_scale))):
        for name, fit in fits.items():
            start = time.perf_counter()
            fit()
            fit_times[name].append(time.perf_counter() - start)

    clf = ours().fit(X_train, y_train)
    model = clf.model_
    mlp = MLPClassifier((HIDDEN_UNITS, HIDDEN_UNITS), max_iter=EPOCHS).fit(
        X_train, y_train
    )
    predict = {}
    for rows in SIZES:
        x = X[:rows]
        functions = {
            "ours": lambda x=x: clf.predict_proba(x),
            "eager": lambda x=x: keras.ops.convert_to_numpy(model(x, training=False)),
        }
        if rows == 1:
            functions["mlp"] = lambda x=x: mlp.predict_proba(x)
        calls = max(3, round(CALLS[rows] * repeats_scale))
        predict[rows] = {**alternating_medians(functions, calls), "calls": calls}
    return {
        "backend": keras.backend.backend(),
        "fit": {name: statistics.median(t) for name, t in fit_times.items()},
        "fit_repeats": len(fit_times["ours"]),
        "fit_settings": f"{TRAIN_ROWS} rows, {EPOCHS} epochs, batch {FIT_BATCH_SIZE}",
        "predict": predict,
    }


# ----------------------------------------------------------------- the table


def _run(backend: str, *args: str) -> dict:
    """A script of this folder in a fresh interpreter on ``backend``: its JSON."""
    environment = {**os.environ, "KERAS_BACKEND": backend}
    done = subprocess.run(
        [sys.executable, *args], env=environment, capture_output=True, text=True
    )
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-4000:])
        raise RuntimeError(f"{backend}: {' '.join(args)} failed ({done.returncode})")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(quick: bool) -> list[dict]:
    """Each installed backend's worker result, with its peak memory added."""
    results = []
    for backend in installed_backends():
        print(f"  ... {backend}", file=sys.stderr, flush=True)
        scale = "0.3" if quick else "1.0"
        result = _run(backend, str(Path(__file__)), "worker", "--repeats-scale", scale)
        memory = _HERE / "_memory.py"
        result["peak"] = _run(backend, str(memory), "peak", "--rows", str(PEAK_ROWS))
        results.append(result)
    return results


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3g} ms"


def print_table(results: list[dict]) -> None:
    """predict_proba (ratio to eager) per backend and size, fit, peak memory."""
    columns = [f"{n:,} row{'s' if n > 1 else ''}" for n in SIZES]
    header = f"{'backend':<11}" + "".join(f"{column:>24}" for column in columns)
    print(header + f"{'MLP 1 row':>12}{'fit (vs Keras)':>22}{'peak / budget':>15}")
    for result in results:
        cells = []
        for rows in SIZES:
            cell = result["predict"][str(rows)]
            ratio = cell["ours"] / cell["eager"]
            cells.append(f"{_ms(cell['ours'])} ({ratio:.2f}x eager)")
        fit = result["fit"]
        fit_cell = f"{fit['ours']:.2f} s ({fit['ours'] / fit['keras']:.2f}x)"
        print(
            f"{result['backend']:<11}"
            + "".join(f"{c:>24}" for c in cells)
            + f"{_ms(result['predict']['1']['mlp']):>12}"
            + f"{fit_cell:>22}"
            + f"{_peak_ratio(result['peak']):>14.2f}x"
        )
    first = results[0]
    calls = ", ".join(f"{n:,}: {first['predict'][str(n)]['calls']}" for n in SIZES)
    print(
        f"medians; predict calls per method by rows ({calls}); fits: "
        f"{first['fit_repeats']} of {first['fit_settings']}; {MACHINE}"
    )


def _peak_ratio(peak: dict) -> float:
    """Peak rise of predict_proba over input + output + one batch."""
    rise = max(peak["sampled_peak"], peak["kernel_peak"] or 0)
    budget = peak["input_bytes"] + peak["output_bytes"] + peak["batch_bytes"]
    return rise / budget


def targets(results: list[dict]) -> list[str]:
    """Each target of issue 10 that applies to a measured backend, met or not."""
    lines = []

    def check(name: str, value: float, limit: float) -> None:
        verdict = "ok" if value <= limit else "MISSED"
        lines.append(f"{verdict:>6}  {name}: {value:.2f}x (at most {limit}x)")

    for result in results:
        backend, predict = result["backend"], result["predict"]
        eager = {
            rows: predict[str(rows)]["ours"] / predict[str(rows)]["eager"]
            for rows in SIZES
        }
        if backend == "jax":
            check("jax 1 row vs eager", eager[1], 0.3)
            mlp = predict["1"]["ours"] / predict["1"]["mlp"]
            check("jax 1 row vs MLPClassifier", mlp, 1.5)
        if backend == "torch":
            check("torch 1 row vs eager", eager[1], 0.5)
            check("torch 1,000 rows vs eager", eager[1_000], 0.5)
        check(f"{backend} 20,000 rows vs eager", eager[20_000], 1.0)
        check(f"{backend} peak memory vs budget", _peak_ratio(result["peak"]), 1.0)
    return lines


def backend_section(quick: bool) -> list[str]:
    """Measure and print every installed backend; the target lines."""
    results = measure(quick)
    print_table(results)
    lines = targets(results)
    for line in lines:
        print(f"  {line}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", nargs="?", choices=["worker"])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--repeats-scale", type=float, default=1.0)
    args = parser.parse_args()
    if args.command == "worker":
        print(json.dumps(worker(args.repeats_scale)))
    else:
        backend_section(args.quick)


if __name__ == "__main__":
    main()
