"""Import paths that pickles and saved files write keep loading.

A pickle names the module and class of every object in it, and a file written
by ``skkeras_proba.save`` names the estimator and encoder classes it holds.
Those paths must keep importing the same classes when modules move, or files
written by an earlier version stop loading. A class that starts to appear in
pickles or saved files must be added to ``PINNED`` below, and kept there.
"""

import importlib
import io
import json
import pickle
import zipfile

import numpy as np
import pytest
from sklearn.datasets import load_iris, make_regression

import skkeras_proba
from skkeras_proba import KerasClassifier, KerasRegressor, save
from tests import models

PINNED = {
    # Saved files name the estimators by their public path.
    ("skkeras_proba", "KerasClassifier"): KerasClassifier,
    ("skkeras_proba", "KerasRegressor"): KerasRegressor,
    # Pickles, and files saved before that, by their module path.
    ("skkeras_proba._classifier", "KerasClassifier"): KerasClassifier,
    ("skkeras_proba._regressor", "KerasRegressor"): KerasRegressor,
    ("skkeras_proba._heads", "Head"): skkeras_proba.Head,
    ("skkeras_proba._encoders", "ClassifierTargetEncoder"): (
        KerasClassifier._DEFAULT_TARGET_ENCODER
    ),
}


def _fitted_classifier():
    X, y = load_iris(return_X_y=True)
    return KerasClassifier(models.logits_head, epochs=1, random_state=0).fit(X, y)


def _fitted_regressor():
    X, y = make_regression(40, 4, random_state=0)
    return KerasRegressor(models.linear_regression_head, epochs=1, random_state=0).fit(
        X, y
    )


FITTED = {"classifier": _fitted_classifier, "regressor": _fitted_regressor}


class _RecordingUnpickler(pickle.Unpickler):
    """Loads a pickle, recording the (module, name) of every global it names."""

    def __init__(self, data: bytes) -> None:
        super().__init__(io.BytesIO(data))
        self.named: set[tuple[str, str]] = set()

    def find_class(self, module: str, name: str):
        self.named.add((module, name))
        return super().find_class(module, name)


def _ours(named):
    """The (module, name) pairs that point into this package."""
    return {
        (module, name)
        for module, name in named
        if module.split(".")[0] == "skkeras_proba"
    }


def _imports_in(data):
    """Every ``{"module": ..., "name": ...}`` a saved file's manifest holds."""
    if isinstance(data, dict):
        found = set()
        if isinstance(data.get("module"), str) and isinstance(data.get("name"), str):
            found.add((data["module"], data["name"]))
        for value in data.values():
            found |= _imports_in(value)
        return found
    if isinstance(data, list):
        return set().union(*(_imports_in(value) for value in data))
    return set()


@pytest.mark.parametrize(("module", "name"), list(PINNED))
def test_pinned_path_still_imports_the_class(module, name):
    assert getattr(importlib.import_module(module), name) is PINNED[module, name]


@pytest.mark.parametrize("make", FITTED.values(), ids=list(FITTED))
def test_pickle_of_a_fitted_estimator_names_only_pinned_paths(make):
    estimator = make()
    unpickler = _RecordingUnpickler(pickle.dumps(estimator))
    restored = unpickler.load()
    ours = _ours(unpickler.named)
    assert (type(estimator).__module__, type(estimator).__name__) in ours
    assert ours <= set(PINNED)
    X = np.ones((3, estimator.n_features_in_))
    np.testing.assert_array_equal(restored.predict(X), estimator.predict(X))


@pytest.mark.parametrize("make", FITTED.values(), ids=list(FITTED))
def test_saved_file_names_only_pinned_paths(make, tmp_path):
    estimator = make()
    path = tmp_path / "estimator.skkeras"
    save(estimator, path)
    with zipfile.ZipFile(path) as archive:
        manifest = json.loads(archive.read("manifest.json"))
    ours = _ours(_imports_in(manifest))
    assert ("skkeras_proba", type(estimator).__name__) in ours
    assert ours <= set(PINNED)
