"""What a scikeras 0.13 user's code relies on, and our deliberate differences.

Each test names the scikeras behaviour it keeps, or the difference listed in
docs/guide/scikeras_migration.rst that it pins.
"""

import keras
import numpy as np
import pytest
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.datasets import load_diabetes, load_iris
from sklearn.exceptions import DataConversionWarning
from sklearn.preprocessing import FunctionTransformer

from skkeras_proba import KerasClassifier, KerasRegressor
from skkeras_proba._compat import InvalidParameterError
from skkeras_proba._forward import needs_keras_predict_loop
from tests.models import linear_regression_head, logits_head, softmax_head

X, Y = load_iris(return_X_y=True)
X = ((X - X.mean(axis=0)) / X.std(axis=0)).astype(np.float32)
X_REG, Y_REG = load_diabetes(return_X_y=True)

SCIKERAS_CLASSIFIER_META = {
    "X_dtype_",
    "y_dtype_",
    "classes_",
    "target_type_",
    "n_classes_",
    "n_features_in_",
    "X_shape_",
    "n_outputs_expected_",
    "y_ndim_",
    "n_outputs_",
    "feature_encoder_",
    "target_encoder_",
}
SCIKERAS_REGRESSOR_META = SCIKERAS_CLASSIFIER_META - {"classes_", "n_classes_"}


class PredictCounter(keras.callbacks.Callback):
    """Counts Keras' predict loops; a callback a scikeras user may pass."""

    def __init__(self):
        super().__init__()
        self.predict_loops = 0

    def on_predict_begin(self, logs=None):
        self.predict_loops += 1


@pytest.fixture(scope="module")
def fitted():
    return KerasClassifier(logits_head, epochs=2, random_state=0).fit(X, Y)


def test_predict_methods_take_keras_predict_arguments(fitted):
    proba = fitted.predict_proba(X)
    np.testing.assert_allclose(fitted.predict_proba(X, batch_size=7), proba, atol=1e-6)
    counter = PredictCounter()
    through_keras = fitted.predict_proba(X, verbose=0, callbacks=[counter])
    assert counter.predict_loops == 1  # Keras' own loop ran, with the callback
    np.testing.assert_allclose(through_keras, proba, atol=1e-6)
    np.testing.assert_array_equal(fitted.predict(X, verbose=0), fitted.predict(X))
    assert fitted.decision_function(X, batch_size=16).shape == (150, 3)


@pytest.mark.parametrize(
    "given",
    [{"batch_size": -5}, {"batch_size": "all"}, {"steps": 0}, {"verbose": "loud"}],
    ids=repr,
)
def test_bad_keras_predict_argument_is_rejected_naming_it(fitted, given):
    # Keras took them into an IndexError or a TypeError of its own.
    (name,) = given
    match = f"'{name}' parameter of KerasClassifier.predict must be"
    with pytest.raises(InvalidParameterError, match=match):
        fitted.predict_proba(X, **given)


def test_bad_routed_predict_argument_is_rejected_naming_it():
    routed = KerasClassifier(logits_head, epochs=1, random_state=0).fit(X, Y)
    routed.set_params(predict__batch_size=0)
    match = "'predict__batch_size' parameter of KerasClassifier must be"
    with pytest.raises(InvalidParameterError, match=match):
        routed.predict(X)


def test_keras_predict_loop_runs_the_fitted_model_itself():
    # A softmax head is read before its activation on the fast path; Keras'
    # loop runs model_ itself, so its callbacks see the model they expect.
    clf = KerasClassifier(softmax_head, epochs=2, random_state=0).fit(X, Y)
    seen = []

    class SeesModel(keras.callbacks.Callback):
        def on_predict_begin(self, logs=None):
            seen.append(self.model)

    proba = clf.predict_proba(X, callbacks=[SeesModel()])
    assert len(seen) == 1 and seen[0] is clf.model_
    np.testing.assert_allclose(proba, clf.predict_proba(X), atol=1e-6)
    np.testing.assert_array_equal(clf.predict(X, verbose=0), clf.predict(X))


def test_unknown_predict_argument_is_a_type_error(fitted):
    with pytest.raises(TypeError, match=r"unexpected keyword arguments \['epochs'\]"):
        fitted.predict(X, epochs=3)


def test_training_callbacks_keep_the_fast_path_and_predict_hooks_run_keras_loop():
    assert not needs_keras_predict_loop({"batch_size": 8}, [])
    assert not needs_keras_predict_loop({}, [keras.callbacks.EarlyStopping()])
    assert needs_keras_predict_loop({"verbose": 1}, [])
    assert needs_keras_predict_loop({}, [PredictCounter()])
    counter = PredictCounter()
    clf = KerasClassifier(logits_head, callbacks=[counter], random_state=0)
    clf.fit(X, Y)
    assert counter.predict_loops == 0  # fitting predicts nothing through Keras
    clf.predict(X)
    assert counter.predict_loops == 1


def test_batch_size_minus_one_needs_features_with_a_shape():
    class ListFeatures(KerasRegressor):
        @property
        def feature_encoder(self):
            return FunctionTransformer(lambda x: [x])

    def build(meta):
        inputs = keras.Input((meta["n_features_in_"],))
        model = keras.Model([inputs], keras.layers.Dense(1)(inputs))
        model.compile("adam", "mse")
        return model

    reg = ListFeatures(build, predict__batch_size=-1).fit(X_REG, Y_REG)
    with pytest.raises(ValueError, match="requires that `X` implement `shape`"):
        reg.predict(X_REG)
    with pytest.raises(ValueError, match="requires that `X` implement `shape`"):
        ListFeatures(build, batch_size=-1).fit(X_REG, Y_REG)


@pytest.mark.parametrize(
    ("estimator", "build", "X_", "y", "expected"),
    [
        (KerasClassifier, logits_head, X, Y, SCIKERAS_CLASSIFIER_META),
        (KerasRegressor, linear_regression_head, X_REG, Y_REG, SCIKERAS_REGRESSOR_META),
    ],
)
def test_meta_holds_what_scikeras_puts_there(estimator, build, X_, y, expected):
    seen = {}

    def recording_build(meta):
        seen.update(meta)
        return build(meta)

    estimator(recording_build, random_state=0).fit(X_, y)
    assert set(seen) == expected
    assert seen["y_dtype_"] == np.asarray(y).dtype and seen["y_ndim_"] == 1


def test_target_encoder_is_fitted_once_and_reused_by_incremental_fits():
    clf = KerasClassifier(logits_head, random_state=0).fit(X, Y)
    encoder = clf.target_encoder_
    clf.partial_fit(X[:10], Y[:10])  # holds class 0 only
    assert clf.target_encoder_ is encoder
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2])


class SplitLabels(TransformerMixin, BaseEstimator):
    """scikeras' multi-output example: one Keras output per column of y."""

    def fit(self, y):
        self.n_outputs_ = y.shape[1]
        self.classes_ = [np.array([0, 1])] * y.shape[1]
        return self

    def transform(self, y):
        return np.split(y.astype("float32"), self.n_outputs_, axis=1)

    def inverse_transform(self, y, return_proba=False):
        proba = np.column_stack(y)
        return proba if return_proba else np.round(proba).astype(int)

    def get_metadata(self):
        return {"n_outputs_expected_": self.n_outputs_, "classes_": self.classes_}


class SplitLabelsClassifier(KerasClassifier):
    @property
    def target_encoder(self):
        return SplitLabels()


def one_logit_per_label(meta):
    inputs = keras.Input((meta["n_features_in_"],))
    hidden = keras.layers.Dense(8, activation="relu")(inputs)
    outputs = [
        keras.layers.Dense(1)(hidden) for _ in range(meta["n_outputs_expected_"])
    ]
    model = keras.Model(inputs, outputs)
    model.compile(
        keras.optimizers.Adam(0.05), keras.losses.BinaryCrossentropy(from_logits=True)
    )
    return model


def test_subclass_target_encoder_is_honoured_and_given_probabilities():
    labels = np.column_stack([Y == 0, Y == 2]).astype(int)
    clf = SplitLabelsClassifier(one_logit_per_label, epochs=30, random_state=0)
    clf.fit(X, labels)
    assert isinstance(clf.target_encoder_, SplitLabels)
    assert [head.logits for head in clf.heads_] == [True, True]
    logits = np.column_stack(
        [keras.ops.convert_to_numpy(out) for out in clf.model_(X, training=False)]
    )
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba, 1 / (1 + np.exp(-logits)), rtol=1e-5)
    np.testing.assert_array_equal(clf.predict(X), np.round(proba).astype(int))
    assert (clf.predict(X) == labels).mean() > 0.8
    assert not hasattr(clf, "decision_function")  # the encoder decodes, not us


def test_feature_encoder_metadata_reaches_the_build_function():
    class TwoInputs(FunctionTransformer):
        def get_metadata(self):
            return {"n_first_": 2}

    class TwoInputClassifier(KerasClassifier):
        @property
        def feature_encoder(self):
            return TwoInputs(lambda X: [X[:, :2], X[:, 2:]])

    def build(meta):
        first = keras.Input((meta["n_first_"],))
        second = keras.Input((meta["n_features_in_"] - meta["n_first_"],))
        joined = keras.layers.Concatenate()([first, second])
        model = keras.Model([first, second], keras.layers.Dense(3)(joined))
        model.compile("adam", keras.losses.SparseCategoricalCrossentropy(True))
        return model

    clf = TwoInputClassifier(build, epochs=2, random_state=0).fit(X, Y)
    assert clf.predict_proba(X).shape == (150, 3)


def test_initialize_wraps_a_trained_model_as_is_and_fit_trains_a_copy():
    trained = logits_head({"X_shape_": X.shape, "n_classes_": 3})
    trained.fit(X, Y, epochs=3, verbose=0)
    weights = [w.copy() for w in trained.get_weights()]
    clf = KerasClassifier(trained).initialize(X, Y)
    assert clf.model_ is trained
    logits = keras.ops.convert_to_numpy(trained(X, training=False))
    np.testing.assert_allclose(clf.decision_function(X), logits, rtol=1e-5, atol=1e-6)
    clf.fit(X, Y)
    assert clf.model_ is not trained
    for before, after in zip(weights, trained.get_weights(), strict=True):
        np.testing.assert_array_equal(before, after)


def test_loss_given_and_compiled_differently_raises():
    with pytest.raises(ValueError, match="but model compiled with"):
        KerasClassifier(logits_head, loss="categorical_hinge").fit(X, Y)
    # The same loss, by another name, is fine.
    KerasRegressor(linear_regression_head, loss="mean_squared_error").fit(X_REG, Y_REG)


def test_object_X_reaches_keras_in_its_float_type():
    clf = KerasClassifier(logits_head, random_state=0).fit(X.astype(object), Y)
    assert clf.X_dtype_ == np.dtype(keras.backend.floatx())


def test_partial_fit_rejects_epoch_arguments_as_scikeras_does():
    clf = KerasClassifier(logits_head)
    with pytest.raises(TypeError, match="Invalid argument `epochs` to `partial_fit`"):
        clf.partial_fit(X, Y, epochs=2)


class TestDeliberateDifferences:
    """Each one is listed, with its reason, in the migration guide."""

    def test_random_state_instance_is_consumed_so_refits_differ(self):
        clf = KerasClassifier(logits_head, random_state=np.random.RandomState(0))
        first = clf.fit(X, Y).predict_proba(X)
        second = clf.fit(X, Y).predict_proba(X)
        assert np.abs(first - second).max() > 1e-4
        seeded = KerasClassifier(logits_head, random_state=0)
        np.testing.assert_array_equal(
            seeded.fit(X, Y).predict_proba(X), clone(seeded).fit(X, Y).predict_proba(X)
        )

    def test_regressor_predicts_float64_as_scikit_learn_regressors_do(self):
        reg = KerasRegressor(linear_regression_head, random_state=0)
        assert reg.fit(X_REG, Y_REG).predict(X_REG).dtype == np.float64
        two_targets = np.column_stack([Y_REG, -Y_REG])
        assert reg.fit(X_REG, two_targets).predict(X_REG).dtype == np.float64

    def test_column_vector_y_continues_a_fit_on_a_1d_y(self):
        clf = KerasClassifier(logits_head, random_state=0).fit(X, Y)
        with pytest.warns(DataConversionWarning):
            clf.partial_fit(X, Y.reshape(-1, 1))
        assert clf.current_epoch == 2

    def test_X_may_change_numeric_dtype_between_incremental_fits(self):
        clf = KerasClassifier(logits_head, random_state=0).fit(X, Y)
        clf.partial_fit(X.astype(np.float64), Y)
        assert clf.current_epoch == 2
