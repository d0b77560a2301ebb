"""Fit and search timings: ours against raw Keras, scikeras and MLPClassifier.

The model is issue 9's: one hidden relu layer of 32 units, a logits head
compiled with ``SparseCategoricalCrossentropy(from_logits=True)``, Adam at
Keras' default learning rate, batch size 32. scikit-learn's ``MLPClassifier``
gets the same architecture, optimiser, learning rate, epochs (``max_iter``,
early stopping off) and batch size, and no L2 penalty (``alpha=0``), as Keras.
Inputs are standardised and float32.

1. Fits: breast cancer (569 rows) and digits (1,797 rows) for 30 epochs, and
   50,000 synthetic rows for 3 epochs to show how the per-step cost scales.
   "ours" is ``KerasClassifier`` with its defaults; "raw keras" builds,
   compiles and fits the same model with Keras' defaults; scikeras fits the
   same build function. Each repeat runs every method once, in rotating order,
   after one untimed fit each; medians.
2. Search: ``GridSearchCV`` over 4 hidden sizes x 3 folds on digits, 10 epochs,
   ``refit=False``. "raw keras loop" is the same search written by hand over
   the same folds (build, compile, fit, ``model.predict``, accuracy); ours runs
   with ``n_jobs=1`` and ``n_jobs=2`` (joblib's process workers, started by an
   untimed search first); scikeras and ``MLPClassifier`` with ``n_jobs=1``.
3. JAX and first fits: ``python benchmarks/_fitting.py worker`` in a fresh
   interpreter per backend (``KERAS_BACKEND``): the median of later fits of
   ours after an untimed first (an architecture already compiled, as every
   fold after a search's first), and the search with ``n_jobs=1``, each
   repeat's time kept. The fit and search tables gain a JAX column from it,
   and a line with each backend's searches in order: the first traces or
   compiles each hidden size, the later ones reuse them. Then
   ``python benchmarks/_fitting.py first-fits 1`` and ``first-fits 0`` time
   the first fit of each case in a fresh interpreter, with compiled epochs
   and through Keras' own fit (``compile_epochs=False``: what compiled epochs
   must not be slower than), in pairs of processes that alternate which runs
   first; each case's median over the pairs, and every time, is printed.
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import keras
import numpy as np
import scikeras.wrappers
from sklearn.datasets import load_breast_cancer, load_digits, make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

import skkeras_proba

HIDDEN = 32
BATCH_SIZE = 32
SEARCH_HIDDEN = (8, 16, 32, 64)
SEARCH_FOLDS = 3
SEARCH_EPOCHS = 10


@dataclass(frozen=True)
class FitCase:
    name: str
    X: np.ndarray
    y: np.ndarray
    epochs: int


def fit_cases() -> list[FitCase]:
    bc_X, bc_y = load_breast_cancer(return_X_y=True)
    digits_X, digits_y = load_digits(return_X_y=True)
    big_X, big_y = make_classification(
        n_samples=50_000, n_features=20, n_informative=8, n_classes=3, random_state=0
    )
    return [
        FitCase("breast cancer, 569 rows, 30 epochs", *_scaled(bc_X, bc_y), 30),
        FitCase("digits, 1,797 rows, 30 epochs", *_scaled(digits_X, digits_y), 30),
        FitCase("synthetic, 50,000 rows, 3 epochs", *_scaled(big_X, big_y), 3),
    ]


def _scaled(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return StandardScaler().fit_transform(X).astype(np.float32), y


def mlp(n_features: int, n_classes: int, hidden: int = HIDDEN) -> keras.Model:
    """The compiled one-hidden-layer model with a logits head."""
    model = keras.Sequential(
        [
            keras.Input((n_features,)),
            keras.layers.Dense(hidden, activation="relu"),
            keras.layers.Dense(n_classes),
        ]
    )
    model.compile(
        optimizer="adam",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def build(meta: dict, hidden: int = HIDDEN) -> keras.Model:
    """``mlp`` as a build function of ours and scikeras'."""
    return mlp(meta["n_features_in_"], meta["n_classes_"], hidden)


def estimators(epochs: int) -> dict[str, object]:
    """Unfitted estimators of each library with the same training settings."""
    settings = {"epochs": epochs, "batch_size": BATCH_SIZE, "verbose": 0}
    return {
        "ours": skkeras_proba.KerasClassifier(build, **settings),
        "scikeras": scikeras.wrappers.KerasClassifier(build, **settings),
        "MLPClassifier": MLPClassifier(
            (HIDDEN,),
            alpha=0.0,
            batch_size=BATCH_SIZE,
            max_iter=epochs,
            n_iter_no_change=epochs + 1,  # no early stop: exactly `epochs` epochs
            random_state=0,
        ),
    }


def fit_raw_keras(X: np.ndarray, y: np.ndarray, epochs: int, hidden: int = HIDDEN):
    model = mlp(X.shape[1], len(np.unique(y)), hidden)
    model.fit(X, y, epochs=epochs, batch_size=BATCH_SIZE, verbose=0)
    return model


def median_seconds(
    fits: dict[str, Callable[[], object]], repeats: int, warm_up: bool = True
) -> dict[str, float]:
    """Median seconds per call of each function, in rotating order."""
    for fit in fits.values() if warm_up else ():
        fit()
    times: dict[str, list[float]] = {name: [] for name in fits}
    names = list(fits)
    for repeat in range(repeats):
        shift = repeat % len(names)
        for name in names[shift:] + names[:shift]:
            gc.collect()
            start = time.perf_counter()
            fits[name]()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def time_fit_case(case: FitCase, repeats: int) -> dict[str, float]:
    models = estimators(case.epochs)
    fits: dict[str, Callable[[], object]] = {
        "ours": lambda: keras_fit(models["ours"], case),
        "raw keras": lambda: fit_raw_keras(case.X, case.y, case.epochs),
        "scikeras": lambda: keras_fit(models["scikeras"], case),
        "MLPClassifier": lambda: keras_fit(models["MLPClassifier"], case),
    }
    return median_seconds(fits, repeats)


def keras_fit(estimator, case: FitCase):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(case.X, case.y)


# ---------------------------------------------------------------------- search


def search(estimator, grid: dict, X, y, n_jobs: int = 1) -> GridSearchCV:
    folds = StratifiedKFold(SEARCH_FOLDS)
    searcher = GridSearchCV(estimator, grid, cv=folds, n_jobs=n_jobs, refit=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return searcher.fit(X, y)


def raw_keras_search(X: np.ndarray, y: np.ndarray) -> dict[int, float]:
    """The search by hand: mean accuracy per hidden size over the same folds."""
    scores = {}
    for hidden in SEARCH_HIDDEN:
        accuracy = []
        for train, test in StratifiedKFold(SEARCH_FOLDS).split(X, y):
            model = fit_raw_keras(X[train], y[train], SEARCH_EPOCHS, hidden)
            predicted = model.predict(X[test], verbose=0).argmax(axis=1)
            accuracy.append(np.mean(predicted == y[test]))
        scores[hidden] = float(np.mean(accuracy))
    return scores


def time_searches(repeats: int) -> dict[str, float]:
    X, y = _scaled(*load_digits(return_X_y=True))
    models = estimators(SEARCH_EPOCHS)
    keras_grid = {"model__hidden": list(SEARCH_HIDDEN)}
    mlp_grid = {"hidden_layer_sizes": [(h,) for h in SEARCH_HIDDEN]}
    # Starts joblib's worker processes (and TensorFlow in them) untimed.
    search(models["ours"], {"model__hidden": [8], "epochs": [1]}, X, y, n_jobs=2)
    searches = {
        "ours": lambda: search(models["ours"], keras_grid, X, y),
        "ours, n_jobs=2": lambda: search(models["ours"], keras_grid, X, y, 2),
        "raw keras loop": lambda: raw_keras_search(X, y),
        "scikeras": lambda: search(models["scikeras"], keras_grid, X, y),
        "MLPClassifier": lambda: search(models["MLPClassifier"], mlp_grid, X, y),
    }
    # Every search's first fits already pay for their own traces: no warm-up.
    return median_seconds(searches, repeats, warm_up=False)


# ------------------------------------------------- other backends, first fits


def worker(repeats: int, search_repeats: int) -> dict:
    """This process's backend: later fits of ours, and the search."""
    later = {}
    for case in fit_cases():
        model = estimators(case.epochs)["ours"]
        # The first fit compiles; first fits are timed by ``first_fits_worker``.
        later[case.name] = median_seconds(
            {"ours": lambda m=model, c=case: keras_fit(m, c)}, repeats
        )["ours"]
    X, y = _scaled(*load_digits(return_X_y=True))
    ours = estimators(SEARCH_EPOCHS)["ours"]
    grid = {"model__hidden": list(SEARCH_HIDDEN)}
    searches = []
    for _ in range(search_repeats):
        gc.collect()
        start = time.perf_counter()
        search(ours, grid, X, y)
        searches.append(time.perf_counter() - start)
    return {
        "later": later,
        "search": statistics.median(searches),
        "searches": searches,
    }


def first_fits_worker(compile_epochs: bool) -> dict[str, float]:
    """This process's first fit of each case, compilation included."""
    first = {}
    for case in fit_cases():
        model = estimators(case.epochs)["ours"].set_params(
            compile_epochs=compile_epochs
        )
        start = time.perf_counter()
        keras_fit(model, case)
        first[case.name] = time.perf_counter() - start
    return first


FIRST_FITS = {True: "first", False: "first (Keras' fit)"}
"""Where ``on_backend`` puts the first fits with and without compiled epochs."""


def on_backend(
    backend: str, repeats: int, search_repeats: int, first_fit_pairs: int
) -> dict:
    """:func:`worker` and pairs of :func:`first_fits_worker`, in fresh interpreters.

    Each pair times the first fits with compiled epochs and through Keras'
    fit (``compile_epochs=False``), each in a process of its own, and pairs
    alternate which goes first, so that neither always meets the cooler
    disk cache or the other's leftover load; each case's median over the
    pairs comes under ``FIRST_FITS``, every time under ``"... times"``.
    """
    result = _fresh_process(backend, "worker", str(repeats), str(search_repeats))
    times: dict[bool, list[dict[str, float]]] = {True: [], False: []}
    for pair in range(first_fit_pairs):
        for compiled in (True, False) if pair % 2 == 0 else (False, True):
            times[compiled].append(
                _fresh_process(backend, "first-fits", str(int(compiled)))
            )
    for compiled, key in FIRST_FITS.items():
        result[key] = {
            case: statistics.median(each[case] for each in times[compiled])
            for case in times[compiled][0]
        }
        result[f"{key} times"] = times[compiled]
    return result


def _fresh_process(backend: str, *args: str) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, *args],
        env={**os.environ, "KERAS_BACKEND": backend},
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-4000:])
        raise RuntimeError(f"fit worker on {backend} failed ({done.returncode})")
    return json.loads(done.stdout.strip().splitlines()[-1])


def print_first_fits(workers: dict[str, dict]) -> None:
    """Each backend's first fits in fresh processes, and its later fits."""
    pairs = len(next(iter(workers.values()))["first times"])
    print(
        f"  first fit in a fresh process (compilation included), median of {pairs} "
        "alternating pair(s) of processes [each time] / later fits:"
    )
    for backend, result in workers.items():
        for key, label in (
            ("first", "compiled epochs"),
            ("first (Keras' fit)", "Keras' fit (compile_epochs=False)"),
        ):
            cells = ", ".join(
                f"{case} {seconds:.2f} s [{_times(result[f'{key} times'], case)}]"
                + (f" / {result['later'][case]:.3f} s" if key == "first" else "")
                for case, seconds in result[key].items()
            )
            print(f"  {backend:<11}{label}: {cells}")


def _times(runs: list[dict[str, float]], case: str) -> str:
    return " ".join(f"{run[case]:.2f}" for run in runs)


# -------------------------------------------------------------------- printing

FIT_COLUMNS = ("ours", "ours (JAX)", "raw keras", "scikeras", "MLPClassifier")
SEARCH_COLUMNS = (
    "ours",
    "ours (JAX)",
    "ours, n_jobs=2",
    "raw keras loop",
    "scikeras",
    "MLPClassifier",
)


def print_fit_table(results: dict[str, dict[str, float]], repeats: int) -> None:
    print(f"  medians of {repeats} fit(s) each, after one untimed fit")
    header = "".join(f"{name:>15}" for name in FIT_COLUMNS)
    print(
        f"  {'data':<36}{header}{'ours/raw':>10}{'ours/MLP':>10}{'jax/MLP':>9}"
        f"{'sk/ours':>9}"
    )
    for case, seconds in results.items():
        cells = "".join(f"{seconds[name]:>13.3f} s" for name in FIT_COLUMNS)
        print(
            f"  {case:<36}{cells}"
            f"{seconds['ours'] / seconds['raw keras']:>9.2f}x"
            f"{seconds['ours'] / seconds['MLPClassifier']:>9.2f}x"
            f"{seconds['ours (JAX)'] / seconds['MLPClassifier']:>8.2f}x"
            f"{seconds['scikeras'] / seconds['ours']:>8.2f}x"
        )


def print_search_table(
    seconds: dict[str, float], repeats: int, workers: dict[str, dict]
) -> None:
    print(
        f"  GridSearchCV, digits, {len(SEARCH_HIDDEN)} hidden sizes x "
        f"{SEARCH_FOLDS} folds, {SEARCH_EPOCHS} epochs; median of {repeats}"
    )
    for name in SEARCH_COLUMNS:
        print(
            f"  {name:<16}{seconds[name]:>8.2f} s   ours/this "
            f"{seconds['ours'] / seconds[name]:.2f}x"
        )
    print(
        f"  n_jobs=2 / n_jobs=1: {seconds['ours, n_jobs=2'] / seconds['ours']:.2f}x; "
        f"ours / MLPClassifier: {seconds['ours'] / seconds['MLPClassifier']:.1f}x"
    )
    # The median of a process's searches mixes its first, which traces
    # (TensorFlow) or compiles (JAX) each hidden size, with later ones.
    print("  each worker process's searches, in order (ours / MLPClassifier):")
    mlp = seconds["MLPClassifier"]
    for backend, result in workers.items():
        searches = (f"{t:.2f} s ({t / mlp:.2f}x)" for t in result["searches"])
        print(f"  {backend:<11}{', '.join(searches)}")


def fit_targets(
    fits: dict[str, dict[str, float]],
    searches: dict[str, float],
    workers: dict[str, dict],
) -> list[tuple[str, float, str, float]]:
    """Issue 9's and issue 23's targets as (label, value, operator, bound).

    The first-fit target compares the first fit of a fresh process (the
    first case), compiled epochs against Keras' fit: each one's median over
    the alternating pairs of processes of :func:`on_backend`.
    """
    breast_cancer, digits = list(fits.values())[:2]
    first_case = next(iter(fits))
    return [
        ("fit breast cancer: ours/raw keras", _ratio(breast_cancer), "<=", 0.6),
        ("fit digits: ours/raw keras", _ratio(digits), "<=", 0.6),
        (
            "search: ours/raw keras loop",
            searches["ours"] / searches["raw keras loop"],
            "<=",
            0.5,
        ),
        (
            "search: n_jobs=2/n_jobs=1",
            searches["ours, n_jobs=2"] / searches["ours"],
            "<=",
            0.65,
        ),
        *(
            (f"fit {case}: ours ({backend})/MLPClassifier", ratio, "<=", 0.5)
            for case, seconds in fits.items()
            for backend, ratio in (
                ("TF", seconds["ours"] / seconds["MLPClassifier"]),
                ("JAX", seconds["ours (JAX)"] / seconds["MLPClassifier"]),
            )
        ),
        *(
            (
                f"first fit {first_case}: ours ({backend})/compile_epochs=False",
                result["first"][first_case] / result["first (Keras' fit)"][first_case],
                "<=",
                1.0,
            )
            for backend, result in (
                ("TF", workers["tensorflow"]),
                ("JAX", workers["jax"]),
            )
        ),
        *(
            (f"search: ours ({backend})/MLPClassifier", ratio, "<=", 1.0)
            for backend, ratio in (
                ("TF", searches["ours"] / searches["MLPClassifier"]),
                ("JAX", searches["ours (JAX)"] / searches["MLPClassifier"]),
            )
        ),
    ]


def _ratio(seconds: dict[str, float]) -> float:
    return seconds["ours"] / seconds["raw keras"]


if __name__ == "__main__" and sys.argv[1:2] == ["worker"]:
    print(json.dumps(worker(int(sys.argv[2]), int(sys.argv[3]))))
if __name__ == "__main__" and sys.argv[1:2] == ["first-fits"]:
    print(json.dumps(first_fits_worker(bool(int(sys.argv[2])))))
