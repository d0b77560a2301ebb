"""The jitted forward pass of Keras' JAX backend (``KERAS_BACKEND=jax``)."""

import keras
import numpy as np
import pytest
from sklearn.datasets import load_digits

from skkeras_proba import KerasClassifier
from skkeras_proba._forward import Forward
from tests.models import logits_head

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "jax",
    reason="JAX's forward pass: runs in `make test`'s KERAS_BACKEND=jax run",
)

X, Y = load_digits(return_X_y=True)
X = (X / 16.0)[:300].astype(np.float32)
Y = Y[:300]


@pytest.fixture(scope="module")
def model():
    return KerasClassifier(logits_head, epochs=1, random_state=0).fit(X, Y).model_


def test_batches_are_padded_to_few_shapes():
    from skkeras_proba._forward._buckets import bucket_rows

    padded = {n: bucket_rows(n) for n in (1, 8, 9, 16, 17, 5000, 8193, 20_000)}
    assert padded == {
        **{1: 8, 8: 8, 9: 16, 16: 16, 17: 32, 5000: 8192},
        **{8193: 16384, 20_000: 24576},  # multiples of 8192 above it
    }


def test_every_batch_size_reuses_its_buckets_compilation(model):
    forward = Forward(model)
    for n in range(1, 65):
        (outputs,) = forward(X[:n])
        assert outputs.shape == (n, 10)
    assert forward._traced._function.traces == 4  # rows 8, 16, 32 and 64


@pytest.mark.parametrize("batch_size", [1, 5, 8, 100, 300])
def test_outputs_equal_the_eager_call_to_float32_precision(model, batch_size):
    (jitted,) = Forward(model)(X, batch_size=batch_size)
    eager = keras.ops.convert_to_numpy(model(X, training=False))
    np.testing.assert_allclose(jitted, eager, rtol=1e-5, atol=1e-6)


def test_weights_set_after_compiling_are_used(model):
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    forward = Forward(copy)
    (before,) = forward(X)
    copy.set_weights([2.0 * w for w in model.get_weights()])
    (after,) = forward(X)
    eager = keras.ops.convert_to_numpy(copy(X, training=False))
    assert np.abs(after - before).max() > 1e-3
    np.testing.assert_allclose(after, eager, rtol=1e-5, atol=1e-5)


def test_dict_inputs_are_padded_and_cut_back_per_input():
    a, b = keras.Input((3,), name="a"), keras.Input((2,), name="b")
    merged = keras.layers.Concatenate()([a, b])
    model = keras.Model({"a": a, "b": b}, keras.layers.Dense(4)(merged))
    batch = {"a": np.ones((5, 3), np.float32), "b": np.full((5, 2), 2, np.float32)}
    (jitted,) = Forward(model)(batch)
    eager = keras.ops.convert_to_numpy(model(batch, training=False))
    np.testing.assert_allclose(jitted, eager, rtol=1e-6)
