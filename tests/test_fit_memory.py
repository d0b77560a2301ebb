"""Fitting does not leave TensorFlow's gradient registry pinning dead graphs.

Pins ``_compat.custom_gradients_released``: every traced Keras training step
registers ``CustomGradient-N`` functions globally, and their closures keep the
step's graph alive for the life of the process (tensorflow/tensorflow#97697).
"""

import threading

import keras
import numpy as np
import tensorflow as tf
from sklearn.datasets import make_classification
from tensorflow.python.framework import ops

from skkeras_proba import KerasClassifier
from skkeras_proba._compat import custom_gradients_released
from tests.backends import requires_backend
from tests.models import logits_head

pytestmark = requires_backend(
    "tensorflow",
    reason="TensorFlow's custom-gradient registry is filled by traced "
    "TensorFlow training steps only; other backends never register there",
)

X, Y = make_classification(n_samples=120, n_features=6, random_state=0)


def _custom_gradient_names() -> set[str]:
    return {
        name
        for name in ops._gradient_registry._registry
        if name.startswith("CustomGradient-")
    }


@tf.custom_gradient
def _gradient_blocked(x):
    """Identity forward, zero gradient backward: a layer that freezes its inputs."""
    return tf.identity(x), lambda upstream: tf.zeros_like(upstream)


class GradientBlock(keras.layers.Layer):
    def call(self, x):
        return _gradient_blocked(x)


def blocked_first_layer(meta):
    """Dense -> GradientBlock -> Dense(2) logits: the first Dense cannot learn."""
    inputs = keras.Input(meta["X_shape_"][1:])
    hidden = keras.layers.Dense(8, activation="relu", name="frozen")(inputs)
    outputs = keras.layers.Dense(2)(GradientBlock()(hidden))
    model = keras.Model(inputs, outputs)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def _raw_keras_fit() -> None:
    model = logits_head({"X_shape_": X.shape, "n_classes_": 2})
    model.fit(X, Y, epochs=1, verbose=0)


def test_raw_keras_fit_leaves_custom_gradient_registrations():
    # The premise of the fix: if this starts failing, TensorFlow stopped
    # registering gradients globally and custom_gradients_released can go.
    before = _custom_gradient_names()
    _raw_keras_fit()
    assert _custom_gradient_names() - before


def test_fit_leaves_no_custom_gradient_registrations():
    before = _custom_gradient_names()
    clf = KerasClassifier(logits_head, epochs=1, random_state=0).fit(X, Y)
    clf.partial_fit(X, Y)
    clf.predict_proba(X)
    assert _custom_gradient_names() == before


def test_registrations_from_before_the_fit_are_kept():
    _raw_keras_fit()
    outside = _custom_gradient_names()
    KerasClassifier(logits_head, epochs=1).fit(X, Y)
    assert outside <= _custom_gradient_names()


def _weights(model: keras.Model, layer: keras.layers.Layer | str) -> list:
    if isinstance(layer, str):
        layer = model.get_layer(layer)
    return [keras.ops.convert_to_numpy(w) for w in layer.weights]


def test_models_with_custom_gradients_still_train_through_them():
    params = {"model": blocked_first_layer, "epochs": 2, "random_state": 0}
    initial = KerasClassifier(**params).initialize(X, Y).model_
    first = KerasClassifier(**params).fit(X, Y)
    # Traced after the first fit's registrations were released:
    second = KerasClassifier(**params).fit(X, Y).partial_fit(X, Y)
    for clf in (first, second):
        # The zero gradient reached the first layer, the last layer learned.
        for trained, untrained in zip(
            _weights(clf.model_, "frozen"), _weights(initial, "frozen"), strict=True
        ):
            np.testing.assert_array_equal(trained, untrained)
        assert not np.array_equal(
            _weights(clf.model_, clf.model_.layers[-1])[0],
            _weights(initial, initial.layers[-1])[0],
        )


def test_concurrent_fits_keep_registrations_until_the_last_one_ends():
    before = _custom_gradient_names()
    errors: list[BaseException] = []
    inside = threading.Event()
    release = threading.Event()

    def hold_a_fit_open():
        with custom_gradients_released():
            inside.set()
            release.wait(timeout=60)

    def fit_in_thread():
        try:
            KerasClassifier(blocked_first_layer, epochs=1).fit(X, Y)
        except BaseException as error:  # reported by the main thread below
            errors.append(error)

    holder = threading.Thread(target=hold_a_fit_open)
    holder.start()
    inside.wait(timeout=60)
    fitter = threading.Thread(target=fit_in_thread)
    fitter.start()
    fitter.join()
    registered_meanwhile = _custom_gradient_names() - before
    release.set()
    holder.join()
    assert not errors
    assert registered_meanwhile  # kept while the other "fit" was still running
    assert _custom_gradient_names() == before
