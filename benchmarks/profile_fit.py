"""Where the time of one fit goes: raw Keras, ours per batch, ours by default.

Profiles (``cProfile``) a fit of issue 9's model (``_fitting.mlp``) on breast
cancer and on digits, 30 epochs, batch size 32, then the scoring predict on the
same rows, and splits the time into:

- build + compile: the build function;
- trace: TensorFlow building the graphs of the train step (every new model
  pays it again, so every fold of a search);
- input iterators: ``tf.data`` iterators Keras makes per epoch;
- training steps: running the traced train function;
- epoch loop: everything else inside ``fit`` (Keras' Python loop, callbacks,
  logs);
- scoring: ``model.predict`` for raw Keras, ``predict`` for ours.

cProfile slows Python-heavy parts more than the rest, so the shares are
approximate; ``bench.py`` times the same fits without it. Run with
``.venv/bin/python benchmarks/profile_fit.py`` (TensorFlow backend).
"""

from __future__ import annotations

import cProfile
import pstats
import time
from collections.abc import Callable

import numpy as np
from _fitting import BATCH_SIZE, build, fit_cases, mlp

import skkeras_proba

EPOCHS = 30
# (file fragment, function) whose cumulative time makes up each part.
PARTS = {
    "trace": ("func_graph.py", "func_graph_from_py_func"),
    "input iterators": ("iterator_ops.py", "_create_iterator"),
    "training steps": ("atomic_function.py", "call_flat"),
}


def raw_keras(X: np.ndarray, y: np.ndarray) -> Callable[[], object]:
    def fit_and_score():
        started = time.perf_counter()
        model = mlp(X.shape[1], len(np.unique(y)))
        built = time.perf_counter() - started
        model.fit(X, y, epochs=EPOCHS, batch_size=BATCH_SIZE, verbose=0)
        fitted = time.perf_counter()
        model.predict(X, verbose=0)
        return built, time.perf_counter() - fitted

    return fit_and_score


def ours(X: np.ndarray, y: np.ndarray, **params) -> Callable[[], object]:
    def fit_and_score():
        clf = skkeras_proba.KerasClassifier(
            build, epochs=EPOCHS, batch_size=BATCH_SIZE, **params
        )
        clf.fit(X, y)
        fitted = time.perf_counter()
        clf.predict(X)
        return None, time.perf_counter() - fitted

    return fit_and_score


def profile(run: Callable[[], tuple]) -> dict[str, float]:
    run()  # the process's first fit pays one-off costs
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    built, scoring = run()
    profiler.disable()
    total = time.perf_counter() - started
    stats = pstats.Stats(profiler).stats
    parts = {name: _cumulative(stats, *where) for name, where in PARTS.items()}
    if built is None:  # ours: the build function's own cumulative time
        built = _cumulative(stats, "_fitting.py", "build")
    parts = {"build + compile": built, **parts, "scoring": scoring}
    parts["epoch loop"] = total - sum(parts.values())
    parts["total"] = total
    return parts


def _cumulative(stats: dict, file_fragment: str, function: str) -> float:
    """Cumulative seconds of a function, its recursive calls counted once."""
    return sum(
        cumulative
        for (file, _, name), (_, _, _, cumulative, _) in stats.items()
        if name == function and file.endswith(file_fragment)
    )


def main() -> None:
    for case in fit_cases()[:2]:
        X, y = case.X, case.y
        runs = {
            "raw keras": raw_keras(X, y),
            "ours, steps_per_execution=1": ours(X, y, steps_per_execution=1),
            "ours, defaults": ours(X, y),
        }
        profiles = {name: profile(run) for name, run in runs.items()}
        print(f"\n{case.name.split(',')[0]}: {len(y)} rows, {EPOCHS} epochs")
        parts = list(next(iter(profiles.values())))
        print(f"  {'seconds':<16}" + "".join(f"{name:>30}" for name in profiles))
        for part in parts:
            cells = "".join(f"{p[part]:>30.3f}" for p in profiles.values())
            print(f"  {part:<16}{cells}")


if __name__ == "__main__":
    main()
