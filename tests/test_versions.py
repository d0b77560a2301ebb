"""The version and the check of installed dependencies against the declared ranges."""

import importlib.metadata
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import keras
import pytest
from packaging.requirements import Requirement
from sklearn.datasets import load_iris

import skkeras_proba
from skkeras_proba import KerasClassifier
from skkeras_proba._compat import keras_builds_from_epoch_batches
from skkeras_proba._fit._compiled import compiled_fit_unsupported_because
from skkeras_proba._versions import (
    declared_requirements,
    unsupported_versions,
    unsupported_versions_message,
)

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
SCIKERAS = Requirement("scikeras>=0.13,<0.14")
KERAS = Requirement("keras>=3.2")


def _pyproject() -> dict:
    return tomllib.loads(PYPROJECT.read_text())["project"]


def test_version_is_the_installed_metadata_written_by_pyproject():
    assert skkeras_proba.__version__ == importlib.metadata.version("skkeras_proba")
    assert skkeras_proba.__version__ == _pyproject()["version"]


def test_declared_requirements_are_pyprojects_runtime_dependencies():
    declared = {str(requirement) for requirement in declared_requirements()}
    assert declared == {str(Requirement(line)) for line in _pyproject()["dependencies"]}


def test_installed_dependencies_are_in_their_declared_ranges():
    assert unsupported_versions(declared_requirements()) == []


@pytest.mark.parametrize("installed", ["0.13.0", "0.13.1", "0.13.2rc1"])
def test_versions_inside_the_range_are_not_reported(installed):
    assert unsupported_versions([SCIKERAS], {"scikeras": installed}.get) == []


@pytest.mark.parametrize("installed", ["0.12.4", "0.14.0", "1.0", "not-a-version"])
def test_versions_outside_the_range_are_reported(installed):
    found = unsupported_versions([SCIKERAS, KERAS], {"scikeras": installed}.get)
    assert found == [(SCIKERAS, installed)]


def test_a_dependency_that_is_not_installed_is_left_to_its_import_error():
    assert unsupported_versions([SCIKERAS], {}.get) == []


def test_message_names_package_installed_version_range_and_the_fix():
    message = unsupported_versions_message([(SCIKERAS, "0.14.0"), (KERAS, "3.1.0")])
    assert "scikeras 0.14.0 is installed, outside scikeras>=0.13,<0.14" in message
    assert "keras 3.1.0 is installed, outside keras>=3.2" in message
    assert message.endswith('pip install "scikeras>=0.13,<0.14" "keras>=3.2"')


def test_importing_with_an_out_of_range_scikeras_warns_once(tmp_path):
    # Metadata of a scikeras 0.14.0 placed first on sys.path: importlib.metadata
    # reports that version, while the real scikeras module is still imported.
    dist_info = tmp_path / "scikeras-0.14.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: scikeras\nVersion: 0.14.0\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", "import skkeras_proba"],
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
        capture_output=True,
        text=True,
        check=True,
    )
    warnings = [line for line in result.stderr.splitlines() if "UserWarning" in line]
    assert len(warnings) == 1, result.stderr
    assert "scikeras 0.14.0 is installed, outside scikeras>=0.13,<0.14" in warnings[0]
    assert warnings[0].endswith('pip install "scikeras>=0.13,<0.14"')


@pytest.mark.skipif(
    keras_builds_from_epoch_batches(),
    reason="this Keras builds models as compiled epochs need (test_compiled_fit.py)",
)
def test_compiled_epochs_leave_fits_to_keras_where_it_builds_models_otherwise():
    X, y = load_iris(return_X_y=True)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    reason = compiled_fit_unsupported_because(model, (X, y, None), {}, [])
    assert reason == "this Keras version builds models differently"
    clf = KerasClassifier(
        model=model, epochs=2, random_state=0, reuse_train_trace=False
    )
    clf.fit(X, y)
    assert clf.n_iter_ == 2
    assert clf.model_.train_function is not None  # traced by Keras' fit only
