"""The fast forward pass gives the slow path's numbers, at any batch size."""

import pickle
import warnings

import keras
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_digits

from skkeras_proba import KerasClassifier
from skkeras_proba._forward import DEFAULT_BATCH_SIZE, Forward
from tests.models import logits_head

X, Y = load_digits(return_X_y=True)
X = (X / 16.0)[:400]
Y = Y[:400]


@pytest.fixture(scope="module")
def fitted():
    return KerasClassifier(logits_head, epochs=2, random_state=0).fit(X, Y)


def test_fast_path_matches_keras_predict(fitted):
    slow = fitted.model_.predict(X.astype(np.float32), verbose=0)
    (fast,) = Forward(fitted.model_)(X)
    np.testing.assert_allclose(fast, slow, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("batch_size", [1, 7, 64, 399, 400, 10_000])
def test_any_batch_size_gives_the_same_outputs_to_float32_precision(fitted, batch_size):
    (reference,) = Forward(fitted.model_)(X, batch_size=400)
    (batched,) = Forward(fitted.model_)(X, batch_size=batch_size)
    np.testing.assert_allclose(batched, reference, rtol=1e-5, atol=1e-6)


def test_predict_batch_size_parameter_is_honoured(fitted):
    small = KerasClassifier(
        logits_head, epochs=2, random_state=0, predict__batch_size=3
    ).fit(X, Y)
    np.testing.assert_allclose(
        small.predict_proba(X), fitted.predict_proba(X), rtol=1e-5, atol=1e-7
    )


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="TensorFlow's trace; test_forward_jax.py checks JAX's compilations",
)
def test_varying_batch_sizes_do_not_retrace_or_warn(fitted):
    forward = Forward(fitted.model_)
    forward(X[:1])
    traced = forward._traced._function.concrete_function
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for n in (2, 3, 5, 8, 13, 21, 34):
            forward(X[:n])
    # One trace serves every batch size.
    assert forward._traced._function.concrete_function is traced


def test_predictions_after_partial_fit_use_the_new_weights():
    clf = KerasClassifier(logits_head, epochs=1, random_state=0).fit(X, Y)
    before = clf.predict_proba(X)
    clf.partial_fit(X, Y)
    after = clf.predict_proba(X)
    eager = keras.ops.convert_to_numpy(
        keras.ops.softmax(clf.model_(X.astype(np.float32), training=False))
    )
    assert np.abs(after - before).max() > 1e-3
    np.testing.assert_allclose(after, eager, rtol=1e-5, atol=1e-6)


def test_probabilities_survive_pickling_unchanged(fitted):
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.predict_proba(X), fitted.predict_proba(X))


def test_sparse_input_is_densified_per_batch(fitted):
    (dense,) = Forward(fitted.model_)(X)
    (sparse,) = Forward(fitted.model_)(sp.csr_matrix(X), batch_size=50)
    np.testing.assert_allclose(sparse, dense, rtol=1e-5, atol=1e-6)


def test_every_output_of_a_multi_output_model_is_returned_in_order():
    inputs = keras.Input((3,))
    model = keras.Model(
        inputs,
        [
            keras.layers.Dense(1, name="a")(inputs),
            keras.layers.Dense(2, name="b")(inputs),
        ],
    )
    a, b = Forward(model)(np.ones((5, 3)))
    assert a.shape == (5, 1) and b.shape == (5, 2)


def test_decode_sees_each_batch_once_and_fills_every_row(fitted):
    batch_rows = []

    def doubled(raw):
        batch_rows.append(len(raw[0]))
        return [2.0 * r for r in raw]

    (raw,) = Forward(fitted.model_)(X, batch_size=150)
    (decoded,) = Forward(fitted.model_)(X, batch_size=150, decode=doubled)
    assert batch_rows == [150, 150, 100]
    np.testing.assert_array_equal(decoded, 2.0 * raw)


def test_without_a_batch_size_batches_have_the_backends_default_rows():
    expected = 4096 if keras.backend.backend() == "torch" else DEFAULT_BATCH_SIZE
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    batch_rows = []

    def rows_seen(raw):
        batch_rows.append(len(raw[0]))
        return raw

    (outputs,) = Forward(model)(np.ones((expected + 3, 2)), decode=rows_seen)
    assert batch_rows == [expected, 3]
    eager = keras.ops.convert_to_numpy(model(np.ones((expected + 3, 2))))
    np.testing.assert_allclose(outputs, eager, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(
    "method", ["predict", "predict_proba", "predict_log_proba", "decision_function"]
)
def test_every_predict_method_decodes_batches_like_the_whole(fitted, method):
    batched = pickle.loads(pickle.dumps(fitted)).set_params(predict__batch_size=7)
    whole = pickle.loads(pickle.dumps(fitted)).set_params(predict__batch_size=-1)
    expected = getattr(whole, method)(X)
    if method == "predict":
        np.testing.assert_array_equal(getattr(batched, method)(X), expected)
    else:
        np.testing.assert_allclose(
            getattr(batched, method)(X), expected, rtol=1e-5, atol=1e-6
        )


only_tensorflow = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="TensorFlow's trace; test_forward_jax.py checks JAX's sharing",
)


def _model_of_one_architecture(seed):
    return KerasClassifier(logits_head, epochs=1, random_state=seed).fit(X, Y).model_


@only_tensorflow
def test_a_second_model_of_the_architecture_reuses_the_traced_forward_pass():
    from skkeras_proba._forward import _tensorflow

    first, second = (_model_of_one_architecture(seed) for seed in (1, 2))
    first_forward, second_forward = Forward(first), Forward(second)
    first_forward(X[:3])
    (shared,) = second_forward(X)
    traced = second_forward._traced._function
    assert traced.concrete_function is first_forward._traced._function.concrete_function
    own = _tensorflow._trace(second, X[:1].astype(np.float32))
    np.testing.assert_array_equal(shared, own(X.astype(np.float32)).numpy())
    assert np.abs(shared - first_forward(X)[0]).max() > 1e-3


@only_tensorflow
def test_a_model_serving_many_calls_traces_its_own_forward_pass_with_equal_outputs():
    from skkeras_proba._forward._tensorflow import SHARED_CALLS

    forward = Forward(_model_of_one_architecture(3))
    (first,) = forward(X)
    shared_trace = forward._traced._function.concrete_function
    for _ in range(SHARED_CALLS):
        (last,) = forward(X)
    assert forward._traced._function.concrete_function is not shared_trace
    np.testing.assert_array_equal(last, first)
