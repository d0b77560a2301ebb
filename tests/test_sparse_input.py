"""Sparse X stays sparse: fit, partial_fit and prediction never densify all of it.

Functional and Sequential models get the sparse matrix through Keras' own
input (sparse batches on TensorFlow; on JAX only for a ``sparse=True`` Input);
subclassed models, and on JAX the others, get dense batches one at a time.
Either way the trained weights equal those of the same rows given densely.
"""

import tracemalloc

import keras
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_iris

from skkeras_proba import KerasClassifier, KerasRegressor
from skkeras_proba._fit._sparse_batches import dense_batches_for_fit
from skkeras_proba._forward import SPARSE_BATCH_VALUES, Forward
from skkeras_proba._sparse_input import DenseBatches, keras_feeds_sparse_to
from tests.backends import BACKEND, jax_compilations, requires_backend

X, Y = load_iris(return_X_y=True)
X = np.maximum((X - X.mean(axis=0)) / X.std(axis=0), 0).astype(np.float32)
X_SPARSE = sp.csr_matrix(X)
assert 0.2 < X_SPARSE.nnz / X.size < 0.8  # really sparse, really not empty


def functional(meta):
    inputs = keras.Input((meta["n_features_in_"],))
    hidden = keras.layers.Dense(8, activation="relu")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(meta["n_classes_"])(hidden))
    model.compile(
        keras.optimizers.Adam(0.05),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def sparse_input(meta):
    """``Input(sparse=True)``: Dense computes on the sparse batches themselves."""
    inputs = keras.Input((meta["n_features_in_"],), sparse=True)
    model = keras.Model(inputs, keras.layers.Dense(meta["n_classes_"])(inputs))
    model.compile(
        keras.optimizers.Adam(0.05),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


class Normalized(keras.Model):
    """A subclassed model whose first layer cannot take a sparse batch."""

    def __init__(self, units):
        super().__init__()
        self.norm = keras.layers.LayerNormalization()
        self.out = keras.layers.Dense(units)

    def call(self, inputs):
        return self.out(self.norm(inputs))


def subclassed(meta):
    model = Normalized(meta["n_classes_"])
    model.compile(
        keras.optimizers.Adam(0.05),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


BUILDS = [functional, subclassed]
if keras.backend.backend() in ("tensorflow", "jax"):
    BUILDS.append(sparse_input)


def classifier(build, **params):
    settings = {"epochs": 3, "batch_size": 16, "shuffle": False, "random_state": 0}
    return KerasClassifier(build, **{**settings, **params})


def assert_same_model(sparse_fit, dense_fit):
    for a, b in zip(
        sparse_fit.model_.get_weights(), dense_fit.model_.get_weights(), strict=True
    ):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        sparse_fit.predict_proba(X_SPARSE), dense_fit.predict_proba(X), atol=1e-6
    )


@pytest.mark.parametrize("build", BUILDS)
@pytest.mark.parametrize("sparse_format", ["csr", "csc"])
def test_sparse_fit_and_partial_fit_equal_the_dense_ones(build, sparse_format):
    sparse_fit = classifier(build).fit(X_SPARSE.asformat(sparse_format), Y)
    dense_fit = classifier(build).fit(X, Y)
    assert_same_model(sparse_fit, dense_fit)
    sparse_fit.partial_fit(X_SPARSE, Y)
    dense_fit.partial_fit(X, Y)
    assert_same_model(sparse_fit, dense_fit)


@pytest.mark.parametrize("build", [functional, subclassed])
def test_sparse_fit_with_weights_and_validation_equals_the_dense_one(build):
    weight = np.ones(len(Y))
    weight[::5] = 0  # those rows are left out before training
    weight[1::5] = 3
    params = {"validation_split": 0.2, "epochs": 2}
    # COO cannot be indexed by row: it is made CSR to leave rows out.
    sparse_fit = classifier(build, **params).fit(
        sp.coo_matrix(X), Y, sample_weight=weight
    )
    dense_fit = classifier(build, **params).fit(X, Y, sample_weight=weight)
    assert_same_model(sparse_fit, dense_fit)
    np.testing.assert_allclose(
        sparse_fit.history_["val_loss"], dense_fit.history_["val_loss"], rtol=1e-5
    )


def test_shuffled_dense_batches_of_a_seeded_fit_are_repeatable():
    first = classifier(subclassed, shuffle=True).fit(X_SPARSE, Y)
    second = classifier(subclassed, shuffle=True).fit(X_SPARSE, Y)
    in_order = classifier(subclassed).fit(X_SPARSE, Y)
    np.testing.assert_array_equal(
        first.predict_proba(X_SPARSE), second.predict_proba(X_SPARSE)
    )
    assert np.abs(first.predict_proba(X) - in_order.predict_proba(X)).max() > 1e-4


@pytest.mark.parametrize("build", [functional, subclassed])
def test_keras_predict_loop_takes_sparse_X(build):
    clf = classifier(build).fit(X_SPARSE, Y)
    np.testing.assert_allclose(
        clf.predict_proba(X_SPARSE, verbose=0), clf.predict_proba(X), atol=1e-6
    )


def one_hot_regressor(meta):
    model = keras.Sequential(
        [keras.Input((meta["n_features_in_"],)), keras.layers.Dense(1)]
    )
    model.compile("adam", "mse")
    return model


def test_fit_and_predict_never_hold_a_dense_copy_of_X():
    # A one-hot encoding of 6,000 categories: 144 MB dense in float32, 72 KB
    # sparse. NumPy's allocations are traced; a dense copy of X would show.
    # Prediction densifies batches of at most SPARSE_BATCH_VALUES (8 MB).
    n = 6000
    one_hot = sp.identity(n, format="csr", dtype=np.float32)
    y = np.linspace(0, 1, n)
    dense_bytes = n * n * 4
    reg = KerasRegressor(one_hot_regressor, batch_size=256, random_state=0)
    tracemalloc.start()
    try:
        reg.fit(one_hot, y)
        reg.partial_fit(one_hot, y)
        y_pred = reg.predict(one_hot)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert y_pred.shape == (n,)
    # Half a dense copy: JAX's tracing allocations reached 44 MiB (of 137) once.
    assert peak < dense_bytes / 2, f"peak {peak / 2**20:.1f} MiB"


def test_forward_pass_cuts_batches_of_wide_sparse_X():
    clf = classifier(functional).fit(X_SPARSE, Y)
    forward = Forward(clf.model_)
    wide = sp.csr_matrix((10, SPARSE_BATCH_VALUES // 100))
    assert forward._rows_for(wide) == 100
    assert forward._rows_for(X_SPARSE) == forward.batch_size
    assert forward._rows_for(X) == forward.batch_size


@requires_backend(
    "tensorflow", "jax", reason="Keras hands models sparse batches there only"
)
def test_models_with_input_layers_are_fed_sparse_batches_where_it_compiles_once():
    meta = {"n_features_in_": 4, "n_classes_": 3}
    # On JAX a model whose Input densifies gets dense batches (next test).
    assert keras_feeds_sparse_to(functional(meta)) == (BACKEND == "tensorflow")
    assert keras_feeds_sparse_to(sparse_input(meta))
    model = subclassed(meta)
    model(X[:1])  # built, still without Input layers
    assert not keras_feeds_sparse_to(model)


@requires_backend("jax", reason="a BCOO batch's shape holds its count of values")
def test_a_sparse_fit_on_jax_compiles_the_train_step_once_per_batch_size(caplog):
    # Iris' rows hold from 1 to 4 nonzero values: sparse batches of 16 rows
    # would differ in their count of values, each a new shape for jit. Keras
    # compiles each model's own train step, so every run counts from zero.
    with jax_compilations(caplog) as compiled:
        classifier(functional, shuffle=True).fit(X_SPARSE, Y)
    train_steps = [message for message in compiled if "train_step" in message]
    assert len(train_steps) == 2, train_steps  # 16 rows, and the last 6


def test_dense_batches_hold_the_rows_in_order_or_shuffled_per_epoch():
    y = np.arange(len(Y))
    in_order = DenseBatches(X_SPARSE, y, None, 32, shuffle=False, seed=None)
    assert len(in_order) == 5
    x0, y0 = in_order[0]
    np.testing.assert_array_equal(x0, X[:32])
    np.testing.assert_array_equal(y0, y[:32])
    assert in_order[4][0].shape == (150 - 128, 4)

    shuffled = DenseBatches(X_SPARSE, y, y * 2.0, 32, shuffle=True, seed=0)
    epoch = np.concatenate([shuffled[i][1] for i in range(len(shuffled))])
    np.testing.assert_array_equal(np.sort(epoch), y)
    assert not np.array_equal(epoch, y)
    x, rows, weight = shuffled[1]
    np.testing.assert_array_equal(x, X[rows])
    np.testing.assert_array_equal(weight, rows * 2.0)
    shuffled.on_epoch_end()
    next_epoch = np.concatenate([shuffled[i][1] for i in range(len(shuffled))])
    assert not np.array_equal(next_epoch, epoch)
    again = DenseBatches(X_SPARSE, y, None, 32, shuffle=True, seed=0)
    np.testing.assert_array_equal(
        np.concatenate([again[i][1] for i in range(len(again))]), epoch
    )


def test_validation_split_holds_out_the_last_rows_as_keras_does():
    y = np.arange(10)
    train, validation = dense_batches_for_fit(
        X_SPARSE[:10], y, None, None, False, 0.25, None
    )
    np.testing.assert_array_equal(train[0][1], y[:7])  # floor(10 * 0.75)
    np.testing.assert_array_equal(validation[0][1], y[7:])
    with pytest.raises(ValueError, match="leaves no samples"):
        dense_batches_for_fit(X_SPARSE[:1], y[:1], None, None, False, 0.5, None)
