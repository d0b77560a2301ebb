"""Compiled epochs: Keras' own training, an epoch per compiled call."""

import pickle

import keras
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer
from sklearn.preprocessing import StandardScaler

from skkeras_proba import KerasClassifier, KerasRegressor
from skkeras_proba._compat import keras_builds_from_epoch_batches
from skkeras_proba._fit import _compiled
from skkeras_proba._fit._compiled import (
    compiled_fit_unsupported_because,
    fit_compiled,
)
from tests.backends import BACKEND, jax_compilations, requires_backend

pytestmark = pytest.mark.skipif(
    not keras_builds_from_epoch_batches(),
    reason="this Keras builds models in another form: compiled epochs leave every "
    "fit to Keras' fit (tests/test_versions.py checks that they do)",
)

ROWS, BATCH, EPOCHS = 150, 32, 3
compiled_only = requires_backend(
    *_compiled.BACKENDS, reason="only these backends have compiled epochs"
)


@pytest.fixture(scope="module")
def data():
    X, y = load_breast_cancer(return_X_y=True)
    return StandardScaler().fit_transform(X[:ROWS]).astype("float32"), y[:ROWS]


def mlp(n_features=30, dropout=0.2, regularizer=None, batch_norm=False):
    """Shuffling, dropout and Adam: every source of difference a loop could add."""
    layers = [
        keras.Input((n_features,)),
        keras.layers.Dense(8, activation="relu", kernel_regularizer=regularizer),
    ]
    if batch_norm:
        layers.append(keras.layers.BatchNormalization())
    if dropout:
        layers.append(keras.layers.Dropout(dropout))
    layers.append(keras.layers.Dense(2))
    model = keras.Sequential(layers)
    model.compile(
        "adam",
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def two_outputs(n_features=30):
    inputs = keras.Input((n_features,))
    hidden = keras.layers.Dense(8, activation="relu")(inputs)
    hidden = keras.layers.Dropout(0.2)(hidden)
    model = keras.Model(
        inputs,
        [
            keras.layers.Dense(2, name="a")(hidden),
            keras.layers.Dense(1, name="b")(hidden),
        ],
    )
    model.compile(
        "adam",
        [keras.losses.SparseCategoricalCrossentropy(from_logits=True), "mse"],
        loss_weights=[1.0, 0.3],
        metrics=[["accuracy"], ["mae"]],
    )
    return model


class WeightRecorder(keras.callbacks.Callback):
    """The first kernel as the model holds it at each epoch's end."""

    def __init__(self):
        super().__init__()
        self.kernels = []

    def on_epoch_end(self, epoch, logs=None):
        self.kernels.append(np.array(self.model.get_weights()[0]))


class BatchHook(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        pass


def train_both(build, x, y, sample_weight=None, **settings):
    """The same seeded model trained by Keras' fit and by compiled epochs."""
    runs = []
    for compiled in (False, True):
        keras.utils.set_random_seed(0)
        model, recorder = build(), WeightRecorder()
        if compiled:
            history = fit_compiled(
                model,
                (x, y, sample_weight),
                epochs=EPOCHS,
                initial_epoch=0,
                settings={"batch_size": BATCH, **settings},
                callbacks=[recorder],
            )
        else:
            history = model.fit(
                x,
                y,
                sample_weight=sample_weight,
                epochs=EPOCHS,
                batch_size=BATCH,
                verbose=0,
                callbacks=[recorder],
                **settings,
            )
        runs.append((model, history.history, recorder.kernels))
    return runs


def assert_same_training(runs):
    (keras_model, keras_history, keras_kernels), (model, history, kernels) = runs
    for a, b in zip(keras_model.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_allclose(b, a, atol=2e-6)
    for a, b in zip(keras_kernels, kernels, strict=True):
        np.testing.assert_allclose(b, a, atol=2e-6)
    assert history.keys() == keras_history.keys()
    for name, values in keras_history.items():
        np.testing.assert_allclose(history[name], values, rtol=1e-5, err_msg=name)


def weights(rows):
    return np.linspace(0.2, 2.0, rows).astype("float32")


@compiled_only
@pytest.mark.parametrize(
    "shuffle",
    [
        False,
        pytest.param(
            True,
            marks=requires_backend(
                "jax",
                reason="Keras on TensorFlow shuffles in tf.data ops, whose draws "
                "compiled epochs do not repeat",
            ),
        ),
    ],
)
@pytest.mark.parametrize(
    "build, weighted",
    [
        (mlp, False),
        (mlp, True),
        (lambda: mlp(regularizer=keras.regularizers.L2(0.01)), False),
        (lambda: mlp(batch_norm=True), True),
    ],
    ids=["dropout", "sample weights", "regularizer", "batch norm"],
)
def test_compiled_epochs_train_the_weights_and_history_of_keras_fit(
    data, build, weighted, shuffle
):
    X, y = data
    sample_weight = weights(len(y)) if weighted else None
    assert_same_training(train_both(build, X, y, sample_weight, shuffle=shuffle))


@compiled_only
def test_two_outputs_with_loss_weights_train_as_keras_fit(data):
    X, y = data
    targets = [y, X[:, :1]]
    runs = train_both(two_outputs, X, targets, weights(len(y)), shuffle=False)
    assert_same_training(runs)


@compiled_only
def test_validation_logs_equal_keras_fit(data):
    X, y = data
    validation = (X[:40], y[:40], weights(40))
    runs = train_both(mlp, X[40:], y[40:], validation_data=validation, shuffle=False)
    assert {"val_loss", "val_accuracy"} <= runs[1][1].keys()
    assert_same_training(runs)


def fit_from_the_start(model, x, y, epochs, callbacks=(), **settings):
    """``fit_compiled`` of ``epochs`` epochs from the first, without weights."""
    return fit_compiled(
        model,
        (x, y, None),
        epochs=epochs,
        initial_epoch=0,
        settings=settings,
        callbacks=list(callbacks),
    )


@compiled_only
def test_early_stopping_ends_training_between_epochs(data):
    X, y = data
    stopper = keras.callbacks.EarlyStopping("loss", min_delta=10.0, patience=0)
    history = fit_from_the_start(mlp(), X, y, 10, [stopper])
    assert len(history.history["loss"]) == 2  # no "improvement" of 10 after one


@compiled_only
def test_a_fit_after_one_stopped_early_trains_every_epoch_as_keras_fit(data):
    # Keras' fit clears the stop a callback asked for in an earlier fit.
    X, y = data
    stopped = {}
    for compiled in (False, True):
        model = mlp()
        stopper = keras.callbacks.EarlyStopping("loss", min_delta=10.0, patience=0)
        model.fit(X, y, epochs=10, verbose=0, callbacks=[stopper])
        assert model.stop_training
        if compiled:
            history = fit_from_the_start(model, X, y, 3)
        else:
            history = model.fit(X, y, epochs=3, verbose=0)
        stopped[compiled] = len(history.history["loss"])
    assert stopped[True] == stopped[False] == 3


class EpochEndHook(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        pass


class StopAsTrainingBegins(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.model.stop_training = True


def compiled_run(callbacks, epochs=5, shuffle=True):
    """A seeded compiled fit of mlp(): its weights and history."""
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X[:ROWS]).astype("float32")
    keras.utils.set_random_seed(0)
    model = mlp()
    history = fit_from_the_start(
        model, X, y[:ROWS], epochs, callbacks, batch_size=BATCH, shuffle=shuffle
    )
    return model.get_weights(), history.history


@requires_backend("tensorflow", reason="only TensorFlow's compiled epochs share calls")
@pytest.mark.parametrize(
    ("max_order_rows", "call_seconds", "calls"),
    [(1 << 22, 60.0, [1, 4]), (2 * ROWS, 60.0, [1, 2, 2]), (1 << 22, 0.0, [1] * 5)],
    ids=["as paced", "bounded by rows", "bounded by time"],
)
def test_epochs_sharing_calls_train_as_one_epoch_per_call(
    monkeypatch, max_order_rows, call_seconds, calls
):
    # With an epoch hook, a call per epoch. Without one, the first call trains
    # an epoch and the next ones as many as the pace and the orders' bound allow.
    from skkeras_proba._fit._compiled_tensorflow import TensorflowEpochs

    apart_weights, apart_history = compiled_run([EpochEndHook()])
    monkeypatch.setattr(_compiled, "MAX_ORDER_ROWS", max_order_rows)
    monkeypatch.setattr(_compiled, "CALL_SECONDS", call_seconds)
    train_epochs, epochs_per_call = TensorflowEpochs.train_epochs, []

    def recorded(self, orders):
        epochs_per_call.append(len(orders))
        return train_epochs(self, orders)

    monkeypatch.setattr(TensorflowEpochs, "train_epochs", recorded)
    shared_weights, shared_history = compiled_run([])
    assert epochs_per_call == calls
    for a, b in zip(apart_weights, shared_weights, strict=True):
        np.testing.assert_allclose(b, a, atol=1e-6)
    assert shared_history.keys() == apart_history.keys() == {"loss", "accuracy"}
    for name, values in apart_history.items():
        assert len(shared_history[name]) == len(values) == 5
        np.testing.assert_allclose(shared_history[name], values, rtol=1e-6)


@pytest.mark.parametrize(
    ("limit", "last_count", "last_seconds", "expected"),
    [
        (100, 0, 0.0, 1),  # the first call measures the pace
        (1, 3, 0.001, 1),  # something runs between epochs
        (100, 1, 0.01, 50),  # 1 epoch in 10 ms: 50 in CALL_SECONDS
        (20, 1, 0.01, 20),  # the bound
        (100, 4, 10.0, 1),  # slower than CALL_SECONDS: still an epoch
    ],
)
def test_the_next_call_trains_the_epochs_the_last_pace_fits_in_its_time(
    monkeypatch, limit, last_count, last_seconds, expected
):
    monkeypatch.setattr(_compiled, "CALL_SECONDS", 0.5)
    assert _compiled._epochs_in_next_call(limit, last_count, last_seconds) == expected


@compiled_only
def test_a_stop_asked_as_training_begins_trains_one_epoch_as_keras_fit(data):
    X, y = data
    model = mlp()
    by_keras = model.fit(X, y, epochs=4, verbose=0, callbacks=[StopAsTrainingBegins()])
    _, history = compiled_run([StopAsTrainingBegins()], epochs=4)
    assert len(history["loss"]) == len(by_keras.history["loss"]) == 1


class TestEpochsPerCall:
    """How many epochs one compiled call trains."""

    @pytest.fixture
    def model(self):
        model = mlp()
        model.stop_training = False
        return model

    @staticmethod
    def per_call(model, callbacks=(), validates=False, n_rows=1000, several=True):
        epochs_class = type("Epochs", (), {"several_epochs_per_call": several})
        return _compiled._epochs_per_call(
            epochs_class, list(callbacks), model, validates, n_rows
        )

    @pytest.mark.parametrize("callbacks", [[], [keras.callbacks.History()]])
    def test_epochs_nothing_runs_between_share_calls_up_to_the_bound(
        self, model, callbacks
    ):
        # Keras' History, which the estimator always passes, only records.
        bound = _compiled.MAX_ORDER_ROWS // 1000
        assert self.per_call(model, callbacks=callbacks) == bound

    def test_rows_beyond_the_bound_still_train_an_epoch_per_call(self, model):
        assert self.per_call(model, n_rows=_compiled.MAX_ORDER_ROWS + 1) == 1

    @pytest.mark.parametrize(
        "case",
        ["epoch hook", "validation", "stop asked", "backend"],
    )
    def test_anything_between_epochs_takes_a_call_per_epoch(self, model, case):
        model.stop_training = case == "stop asked"
        assert (
            self.per_call(
                model,
                callbacks=[EpochEndHook()] if case == "epoch hook" else [],
                validates=case == "validation",
                several=case != "backend",
            )
            == 1
        )


class TestCompiledFitUnsupportedBecause:
    """Which fits compiled epochs take, and why the others go to Keras' fit."""

    @pytest.fixture
    def model(self):
        return mlp()

    @pytest.fixture
    def arrays(self, data):
        X, y = data
        return X, y, None

    @compiled_only
    def test_a_plain_fit_is_supported(self, model, arrays):
        settings = {"batch_size": 16, "shuffle": True, "verbose": 0}
        assert compiled_fit_unsupported_because(model, arrays, settings, []) is None

    @compiled_only
    @pytest.mark.parametrize(
        "settings, expected",
        [
            ({"validation_split": 0.2}, "validation_split"),
            ({"steps_per_epoch": 3}, "steps_per_epoch"),
            ({"class_weight": {0: 1.0, 1: 2.0}}, "class_weight"),
            ({"verbose": 1}, "verbose"),
            ({"shuffle": "batch"}, "shuffle"),
            ({"validation_freq": 2}, "validation_freq"),
            ({"unknown": 1}, "unknown"),
        ],
    )
    def test_keras_only_settings_go_to_keras(self, model, arrays, settings, expected):
        reason = compiled_fit_unsupported_because(model, arrays, settings, [])
        assert expected in reason

    @compiled_only
    def test_a_batch_hook_goes_to_keras(self, model, arrays):
        reason = compiled_fit_unsupported_because(model, arrays, {}, [BatchHook()])
        assert "batch hooks" in reason

    @compiled_only
    def test_an_eager_model_goes_to_keras(self, arrays):
        model = mlp()
        model.compile("adam", "mse", run_eagerly=True)
        assert "eagerly" in compiled_fit_unsupported_because(model, arrays, {}, [])

    @compiled_only
    def test_a_model_with_its_own_train_step_goes_to_keras(self, arrays):
        class OwnStep(keras.Sequential):
            def train_step(self, *args, **kwargs):
                return super().train_step(*args, **kwargs)

        model = OwnStep([keras.Input((30,)), keras.layers.Dense(2)])
        model.compile("adam", "mse")
        assert "train_step" in compiled_fit_unsupported_because(model, arrays, {}, [])

    @compiled_only
    def test_sparse_x_goes_to_keras(self, model, arrays):
        X, y, _ = arrays
        data = (sp.csr_matrix(X), y, None)
        assert "sparse" in compiled_fit_unsupported_because(model, data, {}, [])

    @compiled_only
    def test_data_without_targets_goes_to_keras(self, model, arrays):
        X, _, _ = arrays
        assert "targets" in compiled_fit_unsupported_because(
            model, (X, None, None), {}, []
        )

    @requires_backend("torch", reason="it has compiled epochs")
    def test_a_backend_without_compiled_epochs_goes_to_keras(self, model, arrays):
        reason = compiled_fit_unsupported_because(model, arrays, {}, [])
        assert BACKEND in reason


def classifier(**params):
    params = {"epochs": EPOCHS, "batch_size": BATCH, "random_state": 0, **params}
    return KerasClassifier(mlp, **params)


def max_difference(a, b):
    return max(
        float(np.max(np.abs(u - v)))
        for u, v in zip(a.get_weights(), b.get_weights(), strict=True)
    )


@compiled_only
def test_estimator_trains_compiled_and_equal_to_keras_fit(data):
    X, y = data
    compiled = classifier(shuffle=False).fit(X, y)
    by_keras = classifier(
        shuffle=False, compile_epochs=False, reuse_train_trace=False
    ).fit(X, y)
    assert compiled.model_.train_function is None  # Keras' fit never ran
    assert by_keras.model_.train_function is not None
    assert max_difference(compiled.model_, by_keras.model_) <= 2e-6
    assert compiled.history_.keys() == by_keras.history_.keys() == {"loss", "accuracy"}
    np.testing.assert_allclose(
        compiled.history_["loss"], by_keras.history_["loss"], rtol=1e-5
    )


@compiled_only
def test_refits_of_one_architecture_compile_once(data):
    X, y = data
    classifier().fit(X, y)
    compiled_before = compilations()
    classifier(random_state=1).fit(X, y)
    assert compilations() == compiled_before


@requires_backend(
    "tensorflow",
    reason="TensorFlow's trace takes any row count; JAX compiles per row count",
)
def test_other_rows_epochs_and_partial_fits_reuse_the_trace(data):
    X, y = data
    classifier().fit(X, y)  # the architecture's trainer traces
    traced = compilations()
    clf = classifier(random_state=1, epochs=2).fit(X[:-7], y[:-7])
    assert compilations() == traced  # the trainer's trace, on other rows
    clf.partial_fit(X[:50], y[:50])  # the model's own function traces once
    clf.partial_fit(X[:61], y[:61])
    clf.set_params(warm_start=True, epochs=3).fit(X[:40], y[:40])
    assert compilations() == traced + 1


@requires_backend("jax", reason="holding data is a plain copy on TensorFlow")
def test_data_held_for_a_fit_compiles_nothing_on_jax(caplog):
    """``jnp.asarray`` would compile a function per new array shape and dtype."""
    from skkeras_proba._fit._compiled_jax import JaxEpochs

    model = mlp(n_features=11)
    model.build((None, 11))
    model.optimizer.build(model.trainable_variables)
    # Shapes no other test uses: nothing for them is compiled yet.
    X = np.random.default_rng(0).normal(size=(123, 11))
    y = np.arange(123) % 2
    with jax_compilations(caplog) as compiled:
        epochs = JaxEpochs(model, (X, y, None), BATCH)
        held = epochs.hold((X[:17], y[:17], None))
    assert not compiled
    assert [a.dtype for a in (*epochs._data[:2], *held[:2])] == [
        np.float32,
        np.int32,
    ] * 2


def compilations():
    if BACKEND == "jax":
        from skkeras_proba._fit._compiled_jax import compilations
    else:
        from skkeras_proba._fit._compiled_tensorflow import compilations
    return compilations


@compiled_only
def test_a_batch_hook_callback_trains_with_keras_fit(data):
    X, y = data
    clf = classifier(callbacks=[BatchHook()], reuse_train_trace=False).fit(X, y)
    assert clf.model_.train_function is not None


@compiled_only
def test_partial_fit_carries_the_optimizer_state_as_keras_fit(data):
    X, y = data
    compiled = classifier(shuffle=False)
    by_keras = classifier(shuffle=False, compile_epochs=False)
    for _ in range(2):
        compiled.partial_fit(X, y, sample_weight=weights(len(y)))
        by_keras.partial_fit(X, y, sample_weight=weights(len(y)))
    assert compiled.model_.optimizer.iterations.numpy() == 2 * 5
    assert max_difference(compiled.model_, by_keras.model_) <= 2e-6
    assert len(compiled.history_["loss"]) == 2
    assert compiled.current_epoch == 2


@compiled_only
def test_warm_start_continues_training_as_keras_fit(data):
    X, y = data
    compiled = classifier(warm_start=True, epochs=2, shuffle=False)
    by_keras = classifier(
        warm_start=True, epochs=2, shuffle=False, compile_epochs=False
    )
    for _ in range(2):
        compiled.fit(X, y)
        by_keras.fit(X, y)
    assert compiled.model_.optimizer.iterations.numpy() == 2 * 2 * 5
    assert max_difference(compiled.model_, by_keras.model_) <= 2e-6
    assert len(compiled.history_["loss"]) == len(by_keras.history_["loss"])


@compiled_only
def test_partial_fit_after_a_pickle_round_trip_trains_the_same_weights(data):
    # With dropout and shuffling: the round trip keeps the dropout layer's
    # seed state, and the reloaded model draws no shuffle of its own.
    X, y = data
    straight = classifier()
    reloaded = clone(straight)
    for _ in range(3):
        straight.partial_fit(X, y)
        reloaded = pickle.loads(pickle.dumps(reloaded)).partial_fit(X, y)
    assert max_difference(straight.model_, reloaded.model_) <= 1e-6


@compiled_only
def test_initialize_then_fit_trains_compiled(data):
    X, y = data
    clf = classifier().initialize(X, y)
    clf.partial_fit(X, y)
    assert clf.model_.train_function is None
    assert len(clf.history_["loss"]) == 1


@compiled_only
def test_regressor_with_validation_data_records_val_loss(data):
    X, y = data

    def build():
        model = keras.Sequential([keras.Input((30,)), keras.layers.Dense(1)])
        model.compile("adam", "mse")
        return model

    reg = KerasRegressor(
        build, epochs=2, fit__validation_data=(X[:30], y[:30].astype("float32"))
    ).fit(X, y.astype("float32"))
    assert reg.model_.train_function is None
    assert len(reg.history_["val_loss"]) == 2


@compiled_only
def test_seeded_fits_are_bit_identical(data):
    X, y = data
    first, second = classifier().fit(X, y), classifier().fit(X, y)
    assert max_difference(first.model_, second.model_) == 0.0


@requires_backend(
    "tensorflow", reason="trainers of _trace_reuse exist on TensorFlow only"
)
def test_fresh_fits_train_through_a_traced_trainer_with_keras_weights(data):
    X, y = data
    by_keras = classifier(shuffle=False, compile_epochs=False).fit(X, y)
    first = classifier(shuffle=False).fit(X, y)
    traced = compilations()
    second = classifier(shuffle=False).fit(X, y)
    assert compilations() == traced  # the idle trainer's epoch function
    assert max_difference(first.model_, by_keras.model_) <= 2e-6
    assert max_difference(second.model_, by_keras.model_) <= 2e-6
    assert first.model_.optimizer.iterations.numpy() == EPOCHS * 5


@requires_backend(
    "tensorflow",
    reason="on JAX the shuffles are Keras' own, and the weights equal (above)",
)
def test_shuffled_compiled_fits_score_as_keras_fits_over_seeds(data):
    # On TensorFlow the shuffles differ from Keras' own; the training must not.
    X, y = data
    scores = {True: [], False: []}
    for seed in range(5):
        for compiled in scores:
            clf = classifier(random_state=seed, epochs=5, compile_epochs=compiled)
            scores[compiled].append(clf.fit(X, y).score(X, y))
    spread = max(np.ptp(scores[False]), 0.02)
    assert abs(np.mean(scores[True]) - np.mean(scores[False])) <= spread


@requires_backend("tensorflow", reason="tf.distribute is TensorFlow's")
def test_a_model_of_a_distribution_strategy_trains_with_keras_fit(data):
    # Keras runs its step through the strategy's replicas; compiled epochs
    # do not, and leave such a model to Keras' fit.
    import tensorflow as tf

    X, y = data
    by_keras = classifier(shuffle=False, compile_epochs=False).fit(X, y)
    with tf.distribute.OneDeviceStrategy("/cpu:0").scope():
        in_scope = classifier(shuffle=False).fit(X, y)
    assert in_scope.model_.train_function is not None
    assert max_difference(in_scope.model_, by_keras.model_) <= 2e-6


@requires_backend("tensorflow", reason="the retracing warning is TensorFlow's")
def test_new_architectures_fitted_in_turn_do_not_warn_of_retracing(data, caplog):
    # Each model's function traces once, at its one call: not a retrace.
    X, _ = data
    for units in range(2, 9):
        model = keras.Sequential([keras.Input((30,)), keras.layers.Dense(units)])
        model.compile("adam", "mse")
        fit_from_the_start(model, X, X[:, :units], 2)
    assert "retracing" not in caplog.text


@requires_backend("tensorflow", reason="the executor is TensorFlow's")
def test_epoch_calls_run_on_the_single_threaded_executor_with_cpus_only():
    # What the call sees as its executor; a GPU keeps the default one.
    import tensorflow as tf
    from tensorflow.python.eager import context

    from skkeras_proba._fit._compiled_tensorflow import _call

    executor = _call(lambda: context.context().function_call_options.executor_type)
    cpus_only = not tf.config.list_physical_devices("GPU")
    assert (executor == "SINGLE_THREADED_EXECUTOR") == cpus_only
