"""The ONNX section of ``make bench``: the exported Pipeline served by onnxruntime.

A ``Pipeline(StandardScaler(), KerasClassifier)`` with the 20-64-64-3 MLP of
``_workload.py`` is fitted, exported with ``skkeras_proba.to_onnx`` and served
by an ``onnxruntime.InferenceSession`` (one thread per call's default, CPU
provider). At 1 and 1,000 rows it is timed against, in the same process, the
same Pipeline's ``predict_proba`` (ours), eager Keras (the scaler's
``transform`` then ``model(x, training=False)``: logits, no softmax) and
scikit-learn's ``MLPClassifier.predict_proba`` of the same layer sizes behind
the same scaler. Methods are called in turn, medians of each. Target (issue
25): onnxruntime at 1 row at most 0.25x ``MLPClassifier``. The exported file's
size is printed.

Usage::

    python benchmarks/bench.py --onnx-only [--quick]
"""

from __future__ import annotations

import numpy as np
from _backends import alternating_medians
from _workload import EPOCHS, HIDDEN_UNITS, TRAIN_ROWS, ours
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import skkeras_proba

SIZES = (1, 1_000)
CALLS = {1: 1_000, 1_000: 100}
METHODS = ("onnxruntime", "ours", "eager", "MLPClassifier")
TARGET_VS_MLP_AT_1_ROW = 0.25


def measure(X: np.ndarray, y: np.ndarray, calls_scale: float = 1.0) -> dict:
    """Fit, export, check and time; the results as a dict."""
    import onnxruntime

    X_train, y_train = X[:TRAIN_ROWS], y[:TRAIN_ROWS]
    pipeline = make_pipeline(StandardScaler(), ours()).fit(X_train, y_train)
    mlp = make_pipeline(
        StandardScaler(),
        MLPClassifier((HIDDEN_UNITS, HIDDEN_UNITS), max_iter=EPOCHS),
    ).fit(X_train, y_train)
    exported = skkeras_proba.to_onnx(pipeline, X[:1], options={"zipmap": False})
    serialized = exported.SerializeToString()
    session = onnxruntime.InferenceSession(
        serialized, providers=["CPUExecutionProvider"]
    )
    scaler, model = pipeline[0], pipeline[-1].model_
    held_out = X[TRAIN_ROWS : TRAIN_ROWS + 1_000]
    (_, served) = session.run(None, {"X": held_out})
    largest_difference = float(np.abs(served - pipeline.predict_proba(held_out)).max())
    seconds = {}
    for rows in SIZES:
        x = X[TRAIN_ROWS : TRAIN_ROWS + rows]
        seconds[rows] = alternating_medians(
            {
                "onnxruntime": lambda x=x: session.run(["probabilities"], {"X": x}),
                "ours": lambda x=x: pipeline.predict_proba(x),
                "eager": lambda x=x: model(scaler.transform(x), training=False),
                "MLPClassifier": lambda x=x: mlp.predict_proba(x),
            },
            max(3, int(CALLS[rows] * calls_scale)),
        )
    return {
        "seconds": seconds,
        "file_bytes": len(serialized),
        "largest_difference": largest_difference,
    }


def _format(seconds: float) -> str:
    return f"{seconds * 1e6:.0f} us" if seconds < 1e-3 else f"{seconds * 1e3:.3g} ms"


def print_results(results: dict) -> None:
    print(f"  {'rows':>6} " + "".join(f"{m:>15}" for m in METHODS), end="")
    print(f"{'onnx/ours':>11}{'onnx/eager':>11}{'onnx/MLP':>10}")
    for rows, cell in results["seconds"].items():
        line = f"  {rows:>6} " + "".join(f"{_format(cell[m]):>15}" for m in METHODS)
        onnx = cell["onnxruntime"]
        ratios = [onnx / cell[m] for m in ("ours", "eager", "MLPClassifier")]
        print(line + "".join(f"{r:>10.3g}x" for r in ratios))
    print(
        f"  exported file: {results['file_bytes'] / 1024:.1f} KiB; largest "
        f"|onnxruntime - predict_proba| on 1,000 held-out rows: "
        f"{results['largest_difference']:.2g}"
    )


def target(results: dict) -> tuple[str, float, str, float]:
    """(label, value, op, bound) of the issue's target, for bench.Check."""
    cell = results["seconds"][1]
    return (
        "onnx 1 row / MLPClassifier",
        cell["onnxruntime"] / cell["MLPClassifier"],
        "<=",
        TARGET_VS_MLP_AT_1_ROW,
    )
