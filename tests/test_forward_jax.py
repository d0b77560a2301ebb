"""The jitted forward pass of Keras' JAX backend (``KERAS_BACKEND=jax``)."""

import functools

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
    # The function is shared with the other models of this architecture, which
    # other tests may have run on other row counts: each bucket traced once.
    shared = forward._traced._function._shared
    assert {8, 16, 32, 64} <= shared.traced_rows
    assert shared.traces == len(shared.traced_rows)


def _fitted(random_state, build=logits_head):
    return KerasClassifier(build, epochs=1, random_state=random_state).fit(X, Y)


def test_a_second_model_of_the_architecture_reuses_the_compiled_forward_pass():
    first, second = _fitted(1).model_, _fitted(2).model_
    first_forward, second_forward = Forward(first), Forward(second)
    first_forward(X[:3])
    traces = first_forward._traced._function.traces
    (outputs,) = second_forward(X[:5])  # the same bucket, 8 rows
    assert second_forward._traced._function._shared is (
        first_forward._traced._function._shared
    )
    assert second_forward._traced._function.traces == traces
    eager = keras.ops.convert_to_numpy(second(X[:5], training=False))
    np.testing.assert_allclose(outputs, eager, rtol=1e-5, atol=1e-6)


def test_a_shared_forward_pass_predicts_what_each_models_own_trace_predicts():
    from skkeras_proba._forward import _jax

    models = [_fitted(seed).model_ for seed in (3, 4)]
    for model in models:
        (shared,) = Forward(model)(X)
        variables = (model.trainable_variables, model.non_trainable_variables)
        own = _jax._SharedForward(model, variables)  # this model's trace alone
        padded = np.zeros((512, X.shape[1]), np.float32)
        padded[: len(X)] = X
        values = [[v.value for v in part] for part in variables]
        outputs, _ = own(*values, padded)
        np.testing.assert_array_equal(shared, np.asarray(outputs)[: len(X)])
    assert np.abs(Forward(models[0])(X)[0] - Forward(models[1])(X)[0]).max() > 1e-3


def test_models_of_other_architectures_do_not_share_a_forward_pass(model):
    other = Forward(_fitted(0, functools.partial(logits_head, hidden=5)).model_)
    other(X[:2])
    assert other._traced._function._shared is not (
        Forward(model)._traced._function._shared
    )


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
