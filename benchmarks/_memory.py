"""Memory workers, each run in a fresh subprocess by ``bench.py``.

Resident set size (RSS) is what the operating system charges the process for,
including TensorFlow's C++ allocations that ``tracemalloc`` cannot see. A
background thread samples it while the measured call runs; on Linux the
kernel's own high-water mark (``VmHWM``, reset through ``/proc/self/clear_refs``)
cross-checks the sampler.

Usage (prints one JSON object on the last line of stdout)::

    python benchmarks/_memory.py peak --rows 1000000 [--method eager]
    python benchmarks/_memory.py refit --kind raw --fits 200 [--collect] ...
    python benchmarks/_memory.py serve --calls 100000 [--method tensorflow]
    python benchmarks/_memory.py sparse --rows 20000 --kind scikeras
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import math
import threading
import time
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
import psutil
import scikeras.wrappers
import scipy.sparse as sp
from _workload import fit_raw_keras, make_data, ours

import skkeras_proba
from skkeras_proba._compat import custom_gradients_released
from skkeras_proba._forward import default_batch_size

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")

# The small model of the repeated-fit loop: 20-16-3, one epoch.
SMALL_MODEL = {"hidden_units": 16, "hidden_layers": 1}
REFIT_ROWS = 256


def rss() -> int:
    """Current resident set size of this process, in bytes."""
    return psutil.Process().memory_info().rss


class PeakRSS:
    """Highest RSS seen while the ``with`` block runs, sampled every ``interval``."""

    def __init__(self, interval: float = 0.0005) -> None:
        self.interval = interval
        self.peak = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> PeakRSS:
        _reset_kernel_peak()
        self.peak = rss()
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._done.set()
        self._thread.join()
        self.peak = max(self.peak, rss())

    def _sample(self) -> None:
        process = psutil.Process()
        while not self._done.is_set():
            self.peak = max(self.peak, process.memory_info().rss)
            time.sleep(self.interval)


def _reset_kernel_peak() -> None:
    """Reset the kernel's RSS high-water mark (Linux only; silently skipped)."""
    with contextlib.suppress(OSError):
        _CLEAR_REFS.write_text("5")


def kernel_peak() -> int | None:
    """The kernel's RSS high-water mark since the last reset, if available."""
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def batch_bytes(model: keras.Model, rows: int, itemsize: int = 4) -> int:
    """One batch of ``rows``: its input plus every layer's activations."""
    widths = [math.prod(model.inputs[0].shape[1:])]
    widths += [math.prod(layer.output.shape[1:]) for layer in model.layers]
    return rows * sum(widths) * itemsize


# ----------------------------------------------------------------- peak memory


def peak_worker(rows: int, method: str) -> dict:
    """Peak RSS increase of one prediction over ``rows`` rows."""
    X_train, y_train = make_data(2_000)
    clf = ours().fit(X_train, y_train)
    X, _ = make_data(rows, seed=1)
    predict = _predictor(clf, method)
    batch_rows = default_batch_size()
    # Trace and warm up on full batches, so that only the big call is measured:
    # the first batch of a new size makes TensorFlow keep some MiB of buffers.
    # A last, shorter batch is warmed up too, twice: on JAX and PyTorch it is
    # compiled for its own row bucket, and TorchScript optimises a trace on
    # its second run.
    predict(X[: 2 * batch_rows])
    for _ in range(2 if rows % batch_rows else 0):
        predict(X[: rows % batch_rows])
    gc.collect()
    baseline = rss()
    with PeakRSS() as sampler:
        out = predict(X)
    hwm = kernel_peak()
    return {
        "method": method,
        "rows": rows,
        "baseline": baseline,
        "sampled_peak": sampler.peak - baseline,
        "kernel_peak": None if hwm is None else hwm - baseline,
        "input_bytes": X.nbytes,
        "output_bytes": out.nbytes,
        "batch_rows": batch_rows,
        "batch_bytes": batch_bytes(clf.model_, min(rows, batch_rows)),
    }


def _predictor(clf, method: str) -> Callable[[np.ndarray], np.ndarray]:
    if method == "ours":
        return clf.predict_proba
    model = clf.model_
    return lambda x: keras.ops.convert_to_numpy(model(x, training=False))


# ------------------------------------------------------------------- serving


def serve_worker(calls: int, method: str) -> dict:
    """RSS after a tenth, half and all of ``calls`` small predict_proba calls.

    Requests alternate between 1 and 32 rows taken at moving offsets, as a
    server would see them. The peak is sampled every 10 ms over all calls.
    ``method="tensorflow"`` makes the same requests of TensorFlow alone: the
    fitted model traced by hand, as our forward pass traces it, called and
    its output converted to NumPy, without any of our code around it. Its
    growth is the framework's own (see ``bench.py``, section 5).
    """
    X_train, y_train = make_data(2_000)
    clf = ours().fit(X_train, y_train)
    X, _ = make_data(10_000, seed=1)
    starts = np.arange(calls) * 97 % (len(X) - 32)
    predict = clf.predict_proba if method == "ours" else _traced_by_hand(clf.model_)
    predict(X[:32])
    checkpoints = sorted({calls // 10, calls // 2, calls})
    after: list[dict] = []
    with PeakRSS(interval=0.01) as sampler:
        for i, start in enumerate(starts, 1):
            predict(X[start : start + (1 if i % 2 else 32)])
            if i in checkpoints:
                after.append({"calls": i, "rss": rss()})
    return {"method": method, "checkpoints": after, "peak": sampler.peak}


def _traced_by_hand(model: keras.Model) -> Callable[[np.ndarray], np.ndarray]:
    """``model(x, training=False)`` as one concrete TensorFlow function."""
    import tensorflow as tf

    spec = tf.TensorSpec((None, *model.inputs[0].shape[1:]), tf.float32)
    traced = tf.function(
        lambda x: model(x, training=False), input_signature=[spec], autograph=False
    ).get_concrete_function()
    return lambda x: keras.ops.convert_to_numpy(traced(x))


# ------------------------------------------------------------ repeated fitting


def refit_worker(kind: str, fits: int, options: argparse.Namespace) -> dict:
    """RSS after each of ``fits`` consecutive fit + predict of a small model.

    ``options`` switches on the remedies tried in the investigation:
    ``gc.collect()``, dropping the gradient functions TensorFlow registered
    while tracing (what our ``fit`` does itself), clearing TensorFlow's kernel
    cache.
    """
    X, y = make_data(REFIT_ROWS)
    step = _fit_and_predict_ours if kind == "ours" else _fit_and_predict_raw
    guard = contextlib.nullcontext
    if options.drop_gradient_registrations:
        guard = custom_gradients_released
    after_fit: list[int] = []
    functions_first = None
    for _ in range(fits):
        with guard():
            step(X, y, SMALL_MODEL)
        if options.collect:
            gc.collect()
        if options.clear_kernel_cache:
            _tf_context().clear_kernel_cache()
        after_fit.append(rss())
        if functions_first is None:
            functions_first = _count_tf_functions()
    return {
        "rss": after_fit,
        "live_models": _count_live_models(),
        "tf_functions_first": functions_first,
        "tf_functions": _count_tf_functions(),
    }


def _fit_and_predict_ours(X: np.ndarray, y: np.ndarray, build_params: dict):
    routed = {f"model__{name}": value for name, value in build_params.items()}
    return ours(epochs=1, **routed).fit(X, y).predict_proba(X)


def _fit_and_predict_raw(X: np.ndarray, y: np.ndarray, build_params: dict):
    model = fit_raw_keras(X, y, epochs=1, **build_params)
    return keras.ops.convert_to_numpy(model(X, training=False))


def _tf_context():
    from tensorflow.python.eager import context

    return context.context()


def _count_live_models() -> int:
    """Keras models still in memory, without collecting garbage first."""
    return sum(isinstance(obj, keras.Model) for obj in gc.get_objects())


def _count_tf_functions() -> int:
    """Functions registered in TensorFlow's eager context."""
    return len(_tf_context().list_function_names())


# -------------------------------------------------------------- sparse input

SPARSE_HIDDEN_UNITS = 100
SPARSE_REGRESSORS = {
    "ours": skkeras_proba.KerasRegressor,
    "scikeras": scikeras.wrappers.KerasRegressor,
}


def one_hot_mlp(meta: dict) -> keras.Model:
    """scikeras' sparse-input example: one hidden relu layer of 100, one output."""
    return keras.Sequential(
        [
            keras.Input((meta["n_features_in_"],)),
            keras.layers.Dense(SPARSE_HIDDEN_UNITS, activation="relu"),
            keras.layers.Dense(1),
        ]
    )


def sparse_worker(rows: int, kind: str) -> dict:
    """Peak RSS increase and time of a one-epoch fit on a one-hot CSR matrix.

    X is the ``rows`` x ``rows`` identity in float64, what ``OneHotEncoder``
    makes of one categorical feature with a category per row (scikeras'
    sparse-input notebook); y is uniform noise. One fit in a fresh process,
    compiled by the wrapper (``loss="mse"``), Keras' batch size; the baseline
    is taken after the data exist.
    """
    X = sp.identity(rows, format="csr", dtype=np.float64)
    y = np.random.RandomState(0).uniform(size=rows)
    regressor = SPARSE_REGRESSORS[kind](one_hot_mlp, loss="mse", epochs=1, verbose=0)
    gc.collect()
    baseline = rss()
    with PeakRSS() as sampler:
        start = time.perf_counter()
        regressor.fit(X, y)
        seconds = time.perf_counter() - start
    hwm = kernel_peak()
    return {
        "kind": kind,
        "rows": rows,
        "seconds": seconds,
        "baseline": baseline,
        "sampled_peak": sampler.peak - baseline,
        "kernel_peak": None if hwm is None else hwm - baseline,
        "sparse_bytes": X.data.nbytes + X.indices.nbytes + X.indptr.nbytes,
        "dense_bytes": rows * rows * 4,  # as Keras' float32
    }


# ------------------------------------------------------------------------ main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    peak = commands.add_parser("peak")
    peak.add_argument("--rows", type=int, required=True)
    peak.add_argument("--method", choices=["ours", "eager"], default="ours")
    refit = commands.add_parser("refit")
    refit.add_argument("--kind", choices=["ours", "raw"], required=True)
    refit.add_argument("--fits", type=int, required=True)
    for flag, what in [
        ("--collect", "gc.collect() after every fit"),
        (
            "--drop-gradient-registrations",
            "forget TF's per-trace gradient entries, as our fit does",
        ),
        ("--clear-kernel-cache", "clear TF's eager kernel cache after every fit"),
    ]:
        refit.add_argument(flag, action="store_true", help=what)
    serve = commands.add_parser("serve")
    serve.add_argument("--calls", type=int, required=True)
    serve.add_argument("--method", choices=["ours", "tensorflow"], default="ours")
    sparse = commands.add_parser("sparse")
    sparse.add_argument("--rows", type=int, required=True)
    sparse.add_argument("--kind", choices=sorted(SPARSE_REGRESSORS), required=True)
    args = parser.parse_args()
    if args.command == "sparse":
        result = sparse_worker(args.rows, args.kind)
    elif args.command == "peak":
        result = peak_worker(args.rows, args.method)
    elif args.command == "serve":
        result = serve_worker(args.calls, args.method)
    else:
        result = refit_worker(args.kind, args.fits, args)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
