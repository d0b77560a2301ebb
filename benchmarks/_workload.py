"""The model, data and estimators every benchmark section shares.

Kept apart from ``bench.py`` so that the memory workers (``_memory.py``), which
run in fresh subprocesses, build exactly the same thing.
"""

from __future__ import annotations

import keras
import numpy as np
from sklearn.datasets import make_classification

import skkeras_proba

N_FEATURES = 20
N_CLASSES = 3
HIDDEN_UNITS = 64
TRAIN_ROWS = 10_000
EPOCHS = 2
FIT_BATCH_SIZE = 256


def build_mlp(hidden_units: int = HIDDEN_UNITS, hidden_layers: int = 2) -> keras.Model:
    """An MLP with a 3-unit logits head, compiled; by default 20-64-64-3.

    ``hidden_layers`` relu layers of ``hidden_units`` each come first.
    """
    hidden = [
        keras.layers.Dense(hidden_units, activation="relu")
        for _ in range(hidden_layers)
    ]
    model = keras.Sequential(
        [keras.Input((N_FEATURES,)), *hidden, keras.layers.Dense(N_CLASSES)]
    )
    model.compile(
        optimizer="adam",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def make_data(n_rows: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n_rows`` samples of the 3-class problem, X as float32 (Keras' floatx)."""
    X, y = make_classification(
        n_samples=n_rows,
        n_features=N_FEATURES,
        n_informative=5,
        n_classes=N_CLASSES,
        random_state=seed,
    )
    return X.astype(np.float32), y


def ours(**params) -> skkeras_proba.KerasClassifier:
    """An unfitted skkeras_proba classifier with the shared training settings."""
    defaults = {"epochs": EPOCHS, "batch_size": FIT_BATCH_SIZE, "verbose": 0}
    return skkeras_proba.KerasClassifier(build_mlp, **{**defaults, **params})


def fit_raw_keras(
    X: np.ndarray, y: np.ndarray, epochs: int = EPOCHS, **build_params
) -> keras.Model:
    """What the estimator does, by hand: build, compile and fit the same model."""
    model = build_mlp(**build_params)
    model.fit(X, y, epochs=epochs, batch_size=FIT_BATCH_SIZE, verbose=0)
    return model
