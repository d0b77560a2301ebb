"""Driving Keras' fit loop: an epoch per call, the same training as Keras' own."""

import pickle

import keras
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer
from sklearn.preprocessing import StandardScaler

from skkeras_proba import KerasClassifier, KerasRegressor
from skkeras_proba._fit._loop import (
    batches_per_epoch,
    steps_per_epoch_for,
    steps_per_execution_for,
)
from tests.backends import BACKEND, requires_backend
from tests.models import fit_recording_logits_head

ROWS, BATCH, EPOCHS = 200, 32, 3
MULTI_STEP = BACKEND in ("tensorflow", "jax")
multi_step_only = requires_backend(
    "tensorflow",
    "jax",
    reason="Keras' PyTorch backend runs one batch per call, so "
    'steps_per_execution="auto" leaves its loop as it is',
)


@pytest.fixture(scope="module")
def data():
    X, y = load_breast_cancer(return_X_y=True)
    return StandardScaler().fit_transform(X[:ROWS]).astype("float32"), y[:ROWS]


def dropout_logits_model(n_features=30):
    """Shuffling, dropout and Adam: every source of difference a loop could add."""
    model = keras.Sequential(
        [
            keras.Input((n_features,)),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dropout(0.2),
            keras.layers.Dense(2),
        ]
    )
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def linear_logits_model(n_features=30):
    model = keras.Sequential([keras.Input((n_features,)), keras.layers.Dense(2)])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


class CountingCallback(keras.callbacks.Callback):
    """Counts epoch ends."""

    def __init__(self):
        super().__init__()
        self.epoch_ends = 0

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_ends += 1


class BatchCountingCallback(CountingCallback):
    def __init__(self):
        super().__init__()
        self.batch_ends = 0

    def on_train_batch_end(self, batch, logs=None):
        self.batch_ends += 1


def fit_classifier(X, y, **params):
    params = {
        "epochs": EPOCHS,
        "batch_size": BATCH,
        "random_state": 0,
        "compile_epochs": False,  # this file tests Keras' loop
        **params,
    }
    return KerasClassifier(dropout_logits_model, **params).fit(X, y)


def max_weight_difference(a, b):
    return max(
        float(np.max(np.abs(u - v)))
        for u, v in zip(a.get_weights(), b.get_weights(), strict=True)
    )


class TestStepsPerExecutionFor:
    @multi_step_only
    def test_auto_runs_one_epoch_per_call(self):
        model = dropout_logits_model()
        steps = steps_per_execution_for("auto", model, [], 100, 32)
        assert steps == batches_per_epoch(100, 32) == 4

    def test_keras_default_batch_size_when_none(self):
        assert batches_per_epoch(100, None) == 4
        assert batches_per_epoch(5, None) == 1

    @multi_step_only
    def test_batch_size_minus_one_means_one_batch(self):
        model = dropout_logits_model()
        assert steps_per_execution_for("auto", model, [], 100, -1) == 1

    def test_integer_is_used_as_given(self):
        model = dropout_logits_model()
        assert steps_per_execution_for(5, model, [], 100, None) == 5

    def test_batch_hook_callback_keeps_keras_loop(self):
        model = dropout_logits_model()
        callbacks = [BatchCountingCallback()]
        assert steps_per_execution_for("auto", model, callbacks, 100, None) is None

    def test_value_compiled_into_the_model_is_kept(self):
        model = dropout_logits_model()
        model.compile("adam", "mse", steps_per_execution=3)
        assert steps_per_execution_for("auto", model, [], 100, None) is None

    def test_eager_model_keeps_keras_loop(self):
        model = dropout_logits_model()
        model.compile("adam", "mse", run_eagerly=True)
        assert steps_per_execution_for("auto", model, [], 100, None) is None

    @multi_step_only
    def test_given_steps_per_epoch_caps_the_steps_per_call(self):
        model = dropout_logits_model()
        assert steps_per_execution_for("auto", model, [], 100, 32, 2) == 2
        assert steps_per_execution_for("auto", model, [], 100, 32, 9) == 4

    @multi_step_only
    def test_epoch_level_callbacks_keep_an_epoch_per_call(self):
        model = dropout_logits_model()
        callbacks = [CountingCallback(), keras.callbacks.EarlyStopping()]
        assert steps_per_execution_for("auto", model, callbacks, 100, 32) == 4


class TestStepsPerEpochFor:
    def test_auto_gives_an_epoch_of_steps_to_fits_of_several_epochs(self):
        assert steps_per_epoch_for("auto", 7, epochs=3, validation_split=0.0) == 7

    def test_one_epoch_leaves_it_to_keras(self):
        assert steps_per_epoch_for("auto", 7, epochs=1, validation_split=0.0) is None

    def test_validation_split_leaves_it_to_keras(self):
        assert steps_per_epoch_for("auto", 7, epochs=3, validation_split=0.2) is None

    def test_keras_loop_or_an_integer_setting_leaves_it_to_keras(self):
        assert steps_per_epoch_for("auto", None, epochs=3, validation_split=0) is None
        assert steps_per_epoch_for(7, 7, epochs=3, validation_split=0) is None


@multi_step_only
def test_auto_lets_keras_keep_its_input_iterator_across_epochs(data):
    X, y = data
    clf = KerasClassifier(
        fit_recording_logits_head, epochs=EPOCHS, batch_size=BATCH, compile_epochs=False
    )
    clf.fit(X, y)
    assert clf.model_.fit_kwargs["steps_per_epoch"] == batches_per_epoch(ROWS, BATCH)
    clf.partial_fit(X, y)
    assert "steps_per_epoch" not in clf.model_.fit_kwargs


def test_given_steps_per_epoch_trains_as_keras_own_fit(data):
    X, y = data
    keras.utils.set_random_seed(0)
    raw = dropout_logits_model()
    raw.fit(X, y, epochs=EPOCHS, batch_size=BATCH, steps_per_epoch=2, verbose=0)
    clf = fit_classifier(X, y, fit__steps_per_epoch=2)
    assert int(clf.model_.optimizer.iterations) == EPOCHS * 2
    assert max_weight_difference(clf.model_, raw) <= 1e-6


def test_auto_trains_the_weights_of_keras_own_fit_with_the_same_seed(data):
    X, y = data
    keras.utils.set_random_seed(0)
    raw = dropout_logits_model()
    raw.fit(X, y, epochs=EPOCHS, batch_size=BATCH, verbose=0)

    auto = fit_classifier(X, y)
    per_batch = fit_classifier(X, y, steps_per_execution=1)

    per_epoch = batches_per_epoch(ROWS, BATCH) if MULTI_STEP else 1
    assert auto.model_.steps_per_execution == per_epoch
    assert per_batch.model_.steps_per_execution == 1
    assert max_weight_difference(auto.model_, raw) <= 1e-6
    assert max_weight_difference(per_batch.model_, raw) <= 1e-6


def test_sample_weights_train_the_same_weights_in_either_loop(data):
    X, y = data
    weight = np.linspace(0.5, 2.0, len(y))
    auto = KerasClassifier(
        dropout_logits_model,
        epochs=EPOCHS,
        batch_size=BATCH,
        random_state=0,
        compile_epochs=False,
    ).fit(X, y, sample_weight=weight)
    per_batch = KerasClassifier(
        dropout_logits_model,
        epochs=EPOCHS,
        batch_size=BATCH,
        random_state=0,
        steps_per_execution=1,
    ).fit(X, y, sample_weight=weight)
    assert max_weight_difference(auto.model_, per_batch.model_) <= 1e-6


@multi_step_only
def test_epoch_callbacks_are_called_every_epoch(data):
    X, y = data
    callback = CountingCallback()
    clf = fit_classifier(X, y, callbacks=[callback])
    assert clf.model_.steps_per_execution > 1
    assert callback.epoch_ends == EPOCHS
    assert len(clf.history_["loss"]) == EPOCHS


def test_batch_hook_callbacks_are_called_every_batch(data):
    X, y = data
    callback = BatchCountingCallback()
    clf = fit_classifier(X, y, callbacks=[callback])
    assert clf.model_.steps_per_execution == 1
    assert callback.batch_ends == EPOCHS * batches_per_epoch(ROWS, BATCH)


def test_validation_split_still_validates_every_epoch(data):
    X, y = data
    clf = fit_classifier(X, y, validation_split=0.25)
    assert len(clf.history_["val_loss"]) == EPOCHS
    per_batch = fit_classifier(X, y, validation_split=0.25, steps_per_execution=1)
    assert max_weight_difference(clf.model_, per_batch.model_) <= 1e-6


@multi_step_only
def test_partial_fit_keeps_the_traced_steps_per_execution(data):
    X, y = data
    clf = KerasClassifier(
        dropout_logits_model, batch_size=BATCH, random_state=0, compile_epochs=False
    )
    clf.partial_fit(X[:64], y[:64])
    assert clf.model_.steps_per_execution == 2
    clf.partial_fit(X, y)  # more rows: the train function traced for 2 is kept
    assert clf.model_.steps_per_execution == 2
    assert clf.current_epoch == 2


@requires_backend(
    "tensorflow",
    reason="on JAX Keras' first fit of a model object, an unpickled one too, "
    "draws one shuffle more, so a pickle round trip between partial_fit calls "
    "changes the next call's row order (the reproducibility guide's limits)",
)
def test_partial_fit_after_a_pickle_round_trip_trains_the_same_weights(data):
    # scikeras' test_partial_fit_pickle, which passing steps_per_epoch broke.
    X, y = data
    straight = KerasClassifier(
        linear_logits_model, batch_size=BATCH, random_state=0, compile_epochs=False
    )
    reloaded = clone(straight)
    for _ in range(3):
        straight.partial_fit(X, y)
        reloaded = pickle.loads(pickle.dumps(reloaded)).partial_fit(X, y)
    assert max_weight_difference(straight.model_, reloaded.model_) <= 1e-6


@multi_step_only
def test_regressor_runs_an_epoch_per_call(data):
    X, y = data

    def build():
        model = keras.Sequential([keras.Input((30,)), keras.layers.Dense(1)])
        model.compile("adam", "mse")
        return model

    reg = KerasRegressor(build, epochs=2, batch_size=BATCH, compile_epochs=False)
    reg.fit(X, y.astype(float))
    assert reg.model_.steps_per_execution == batches_per_epoch(ROWS, BATCH)


@requires_backend(
    "torch", reason='it tests what "auto" does where Keras runs one batch per call'
)
def test_auto_leaves_keras_loop_and_more_steps_are_rejected_on_torch(data):
    X, y = data
    model = dropout_logits_model()
    assert steps_per_execution_for("auto", model, [], 100, None) is None
    clf = KerasClassifier(dropout_logits_model, steps_per_execution=2)
    with pytest.raises(ValueError, match="one batch per call"):
        clf.fit(X, y)
    assert not hasattr(clf, "model_")


@pytest.mark.parametrize("bad", [0, -1, "fast", 1.5])
def test_invalid_steps_per_execution_is_rejected_before_fitting(data, bad):
    X, y = data
    clf = KerasClassifier(dropout_logits_model, steps_per_execution=bad)
    with pytest.raises(ValueError, match="steps_per_execution"):
        clf.fit(X, y)
    assert not hasattr(clf, "model_")
