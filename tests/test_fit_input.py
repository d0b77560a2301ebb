"""A TensorFlow fit gets Keras' own input pipeline, without tf.data's autotuning."""

import functools

import keras
import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.preprocessing import StandardScaler

from skkeras_proba import KerasClassifier
from skkeras_proba._fit import FitRun
from skkeras_proba._fit._input import untuned_input
from skkeras_proba._routing import fit_setting
from tests.backends import BACKEND, tensorflow_only
from tests.models import fit_recording_logits_head, logits_head

ROWS, BATCH, EPOCHS = 200, 32, 3
only_tf_data = tensorflow_only("only TensorFlow fits feed arrays through tf.data")


@pytest.fixture(scope="module")
def data():
    X, y = load_breast_cancer(return_X_y=True)
    return StandardScaler().fit_transform(X[:ROWS]).astype("float32"), y[:ROWS]


def fit_data(X, y, model=logits_head, **params):
    """What a fit of these parameters would give ``keras.Model.fit`` as x."""
    params = {"epochs": EPOCHS, "batch_size": BATCH, **params}
    clf = KerasClassifier(model, **params).initialize(X, y)
    run = FitRun(clf.random_state, clf.steps_per_execution, clf.reuse_train_trace)
    setting = functools.partial(fit_setting, clf, kwargs={})
    return run.keras_data(clf.model_, X, y, None, setting, {})[0]


@only_tf_data
def test_the_pipeline_is_keras_own_with_autotuning_off(data):
    X, y = data
    adapter = untuned_input(X, y, None, BATCH, True, None, None)
    assert adapter.num_batches == 7 and adapter.batch_size == BATCH
    assert adapter.get_tf_dataset().options().autotune.enabled is False


@pytest.mark.skipif(BACKEND == "tensorflow", reason="tests the other backends")
def test_other_backends_get_the_arrays(data):
    X, y = data
    assert untuned_input(X, y, None, BATCH, True, None, None) is None
    assert fit_data(X, y) is X


@only_tf_data
def test_a_keras_model_is_fitted_on_the_untuned_pipeline(data):
    X, y = data
    given = fit_data(X, y)
    assert given.get_tf_dataset().options().autotune.enabled is False


@only_tf_data
@pytest.mark.parametrize(
    "params",
    [
        {"validation_split": 0.25},
        {"batch_size": -1},
        {"validation_batch_size": -1},
        {"steps_per_execution": 1},
    ],
    ids=[
        "validation_split",
        "all rows per batch",
        "all rows per validation batch",
        "turned off",
    ],
)
def test_arrays_go_to_keras_where_it_needs_them(data, params):
    X, y = data
    assert fit_data(X, y, **params) is X


def test_a_model_with_its_own_fit_is_given_the_arrays(data):
    X, y = data
    clf = KerasClassifier(fit_recording_logits_head, epochs=EPOCHS, batch_size=BATCH)
    assert isinstance(clf.fit(X, y).model_.fit_kwargs["x"], np.ndarray)


def seeded_linear_logits():
    keras.utils.set_random_seed(0)
    network = keras.Sequential([keras.Input((30,)), keras.layers.Dense(2)])
    network.compile(
        "adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    return network


def assert_same_weights(raw, ours):
    for a, b in zip(raw.get_weights(), ours.model_.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_default_batch_size_trains_the_weights_of_keras_own_fit(data):
    # With steps_per_epoch given and no batch size, Keras would derive 29
    # rows per batch from 7 steps over 200 rows, not its default 32.
    X, y = data
    raw = seeded_linear_logits()
    raw.fit(X, y, epochs=EPOCHS, verbose=0)
    ours = KerasClassifier(
        seeded_linear_logits,
        epochs=EPOCHS,
        random_state=0,
        compile_epochs=False,  # Keras' input pipeline, as this file tests
    )
    assert_same_weights(raw, ours.fit(X, y))


def test_class_weights_for_keras_train_the_weights_of_keras_own_fit(data):
    # class_weight given to fit goes to Keras (the class_weight parameter is
    # folded into sample weights instead). Keras' fit ignores it when handed
    # a pipeline, so the pipeline must apply it.
    X, y = data
    class_weight = {0: 1.0, 1: 5.0}
    raw = seeded_linear_logits()
    raw.fit(X, y, epochs=EPOCHS, class_weight=class_weight, verbose=0)
    ours = KerasClassifier(seeded_linear_logits, epochs=EPOCHS, random_state=0)
    assert_same_weights(raw, ours.fit(X, y, class_weight=class_weight))
