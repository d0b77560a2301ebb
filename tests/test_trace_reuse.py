"""One trace per architecture: fits through a trainer train the same weights."""

import keras
import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.preprocessing import StandardScaler

from skkeras_proba import KerasClassifier
from skkeras_proba._architecture import architecture_key
from skkeras_proba._fit import _trace_reuse
from skkeras_proba._fit._trace_reuse import reusable_key
from tests.models import fit_recording_logits_head

EPOCHS, BATCH = 3, 64
ON_TENSORFLOW = keras.backend.backend() == "tensorflow"
tensorflow_only = pytest.mark.skipif(
    not ON_TENSORFLOW,
    reason="trainers are used on TensorFlow only: on JAX and PyTorch Keras' "
    "first fit of a new model draws an extra shuffle a trainer would skip",
)


@pytest.fixture(scope="module")
def data():
    X, y = load_breast_cancer(return_X_y=True)
    return StandardScaler().fit_transform(X[:300]).astype("float32"), y[:300]


def mlp(hidden=8, learning_rate=0.001, loss=None, run_eagerly=False):
    model = keras.Sequential(
        [
            keras.Input((30,)),
            keras.layers.Dense(hidden, activation="relu"),
            keras.layers.Dropout(0.2),
            keras.layers.Dense(2),
        ]
    )
    model.compile(
        keras.optimizers.Adam(learning_rate),
        loss or keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        run_eagerly=run_eagerly,
    )
    return model


class Scaled(keras.layers.Layer):
    def call(self, x):
        return 2 * x


class TestArchitectureKey:
    def test_two_builds_of_one_architecture_share_a_key(self):
        assert architecture_key(mlp()) == architecture_key(mlp())

    def test_functional_models_with_generated_names_share_a_key(self):
        def functional():
            inputs = keras.Input((4,))
            hidden = keras.layers.Dense(3)(inputs)
            model = keras.Model(inputs, keras.layers.Dense(2)(hidden))
            model.compile("adam", "mse")
            return model

        key = architecture_key(functional())
        assert key is not None
        assert key == architecture_key(functional())

    @pytest.mark.parametrize(
        "other", [{"hidden": 9}, {"learning_rate": 0.01}, {"loss": "mse"}]
    )
    def test_another_architecture_or_compile_setting_has_another_key(self, other):
        assert architecture_key(mlp(**other)) != architecture_key(mlp())

    def test_the_forward_pass_key_leaves_out_compile_settings_only(self):
        def forward_key(model):
            return architecture_key(model, training=False)

        assert forward_key(mlp(learning_rate=0.01)) == forward_key(mlp())
        assert forward_key(mlp(loss="mse")) == forward_key(mlp())
        assert forward_key(mlp(hidden=9)) != forward_key(mlp())

    def test_another_dtype_has_another_key(self):
        half = keras.Sequential(
            [keras.Input((30,)), keras.layers.Dense(2, dtype="float16")]
        )
        full = keras.Sequential([keras.Input((30,)), keras.layers.Dense(2)])
        for model in (half, full):
            model.compile("adam", "mse")
        assert architecture_key(half) != architecture_key(full)

    def test_steps_per_execution_is_part_of_the_key(self):
        model = mlp()
        model.steps_per_execution = 5
        assert architecture_key(model) != architecture_key(mlp())

    def test_custom_layer_is_not_keyed(self):
        model = keras.Sequential([keras.Input((30,)), Scaled(), keras.layers.Dense(2)])
        model.compile("adam", "mse")
        assert architecture_key(model) is None

    def test_model_subclass_is_not_keyed(self):
        meta = {"X_shape_": (10, 30), "n_classes_": 2}
        assert architecture_key(fit_recording_logits_head(meta)) is None

    def test_lambda_layer_is_not_keyed(self):
        scale = 3.0  # a closure: not part of the Lambda's configuration
        model = keras.Sequential(
            [keras.Input((30,)), keras.layers.Lambda(lambda x: scale * x)]
        )
        model.compile("adam", "mse")
        assert architecture_key(model) is None

    def test_custom_loss_function_is_not_keyed(self):
        def loss(y_true, y_pred):
            return keras.ops.mean((y_true - y_pred) ** 2)

        assert architecture_key(mlp(loss=loss)) is None

    def test_eager_model_is_not_keyed(self):
        assert architecture_key(mlp(run_eagerly=True)) is None

    def test_large_model_is_not_reused(self, monkeypatch):
        monkeypatch.setattr(_trace_reuse, "MAX_PARAMETERS", 10)
        assert reusable_key(mlp()) is None


def fit(X, y, **params):
    # Trainers of Keras' own fit; compiled epochs use them too, and draw
    # another shuffle on TensorFlow (tests/test_compiled_fit.py).
    params = {"compile_epochs": False, **params}
    return KerasClassifier(
        mlp, epochs=EPOCHS, batch_size=BATCH, random_state=0, **params
    ).fit(X, y)


def max_difference(a, b):
    return max(
        float(np.max(np.abs(u - v)))
        for u, v in zip(a.get_weights(), b.get_weights(), strict=True)
    )


def test_fits_through_a_trainer_train_keras_own_weights(data):
    X, y = data
    keras.utils.set_random_seed(0)
    raw = mlp()
    raw.fit(X, y, epochs=EPOCHS, batch_size=BATCH, verbose=0)
    first, second = fit(X, y), fit(X, y)  # the second one finds a trainer idle
    assert max_difference(first.model_, raw) <= 1e-6
    assert max_difference(second.model_, raw) <= 1e-6
    assert len(second.history_["loss"]) == EPOCHS


@tensorflow_only
def test_a_trainer_trains_and_the_estimator_keeps_its_own_model(data):
    X, y = data
    fit(X, y)
    clf = fit(X, y)
    trainers = [t for idle in _trace_reuse._idle.values() for t in idle]
    assert clf.model_ not in trainers
    assert clf.model_.train_function is None  # it did not trace: a trainer did
    assert any(t.train_function is not None for t in trainers)
    itself = fit(X, y, reuse_train_trace=False)
    assert itself.model_.train_function is not None


def test_optimizer_state_comes_back_for_continued_training(data):
    X, y = data
    fit(X, y)
    through_trainer = fit(X, y).partial_fit(X, y)
    by_itself = fit(X, y, reuse_train_trace=False).partial_fit(X, y)
    assert (
        through_trainer.model_.optimizer.iterations.numpy()
        == by_itself.model_.optimizer.iterations.numpy()
    )
    assert max_difference(through_trainer.model_, by_itself.model_) <= 1e-6


def test_predictions_come_from_the_trained_weights(data):
    X, y = data
    fit(X, y)
    through_trainer = fit(X, y)
    by_itself = fit(X, y, reuse_train_trace=False)
    np.testing.assert_allclose(
        through_trainer.predict_proba(X), by_itself.predict_proba(X), atol=1e-6
    )


class Interrupted(Exception):
    pass


class InterruptAfterSecondEpoch(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 1:
            raise Interrupted


@pytest.mark.parametrize("compile_epochs", [False, True])
def test_a_fit_stopped_by_an_exception_keeps_the_epochs_trained(data, compile_epochs):
    # As a KeyboardInterrupt between calls does: the model holds what was
    # trained, whether it trained itself or through a trainer.
    X, y = data
    fit(X, y, compile_epochs=compile_epochs)  # an idle trainer for the next fit
    fitted = {}
    for reuse in (True, False):
        clf = KerasClassifier(
            mlp,
            epochs=4,
            batch_size=BATCH,
            random_state=0,
            callbacks=[InterruptAfterSecondEpoch()],
            reuse_train_trace=reuse,
            compile_epochs=compile_epochs,
        )
        with pytest.raises(Interrupted):
            clf.fit(X, y)
        fitted[reuse] = clf.model_
    assert fitted[True].optimizer.iterations.numpy() == 2 * -(-len(X) // BATCH)
    assert max_difference(fitted[True], fitted[False]) <= 1e-6


def test_idle_trainers_are_bounded_per_architecture_and_in_all():
    keys = [f"test-architecture-{i}" for i in range(_trace_reuse.IDLE_TRAINERS + 2)]
    try:
        for _ in range(_trace_reuse.IDLE_TRAINERS + 2):
            _trace_reuse._give_back(keys[0], object())
        assert len(_trace_reuse._idle[keys[0]]) == _trace_reuse.IDLE_TRAINERS
        for key in keys[1:]:
            _trace_reuse._give_back(key, object())
        assert len(_trace_reuse._idle) == _trace_reuse.IDLE_TRAINERS
        assert keys[0] not in _trace_reuse._idle  # least recently used: dropped
    finally:
        for key in keys:
            _trace_reuse._idle.pop(key, None)


def test_a_model_subclass_is_trained_by_its_own_code(data):
    X, y = data
    for _ in range(2):  # the second fit would find a trainer, were it keyed
        clf = KerasClassifier(fit_recording_logits_head, epochs=EPOCHS).fit(X, y)
        assert clf.model_.fit_kwargs["epochs"] == EPOCHS
