"""Every head shape a Keras classifier can have, each with a logits variant."""

import pickle
import warnings

import keras
import numpy as np
import pytest
from sklearn.base import BaseEstimator
from sklearn.calibration import CalibratedClassifierCV
from sklearn.datasets import (
    load_breast_cancer,
    load_digits,
    load_iris,
    make_multilabel_classification,
)
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import GridSearchCV, cross_val_score

from skkeras_proba import KerasClassifier, KerasRegressor
from skkeras_proba._proba import log_sigmoid, log_softmax, sigmoid, softmax
from tests.models import (
    linear_regression_head,
    logits_head,
    multilabel_logits_head,
    sigmoid_unit_head,
    softmax_head,
    softmax_heads_per_column,
)
from tests.sklearn_features import requires_temperature_scaling

# ---------------------------------------------------------------- multi-label
X_ML, Y_ML = make_multilabel_classification(
    n_samples=300, n_features=10, n_classes=4, random_state=0
)
X_ML = X_ML / X_ML.max()


def multilabel_head(meta, logits=True, hidden=16):
    inputs = keras.Input((meta["n_features_in_"],))
    x = keras.layers.Dense(hidden, activation="relu")(inputs)
    activation = None if logits else "sigmoid"
    outputs = keras.layers.Dense(meta["n_classes_"], activation=activation)(x)
    model = keras.Model(inputs, outputs)
    model.compile(
        keras.optimizers.Adam(0.01),
        keras.losses.BinaryCrossentropy(from_logits=logits),
    )
    return model


@pytest.mark.parametrize("logits", [True, False])
def test_multilabel_proba_is_per_label_and_predict_is_indicator(logits):
    clf = KerasClassifier(
        multilabel_head, model__logits=logits, epochs=30, random_state=0
    ).fit(X_ML, Y_ML)
    proba = clf.predict_proba(X_ML)
    assert proba.shape == Y_ML.shape and ((proba >= 0) & (proba <= 1)).all()
    np.testing.assert_array_equal(clf.predict(X_ML), (proba > 0.5).astype(int))
    decision = clf.decision_function(X_ML)
    np.testing.assert_allclose(1 / (1 + np.exp(-decision)), proba, rtol=1e-5)
    assert (clf.predict(X_ML) == Y_ML).mean() > 0.75
    assert clf.heads_[0].logits is logits


def test_multilabel_works_in_cross_validation_and_grid_search():
    clf = KerasClassifier(multilabel_head, epochs=5, random_state=0)
    assert cross_val_score(clf, X_ML, Y_ML, cv=2).shape == (2,)
    search = GridSearchCV(clf, {"model__hidden": [4, 8]}, cv=2).fit(X_ML, Y_ML)
    assert search.best_params_["model__hidden"] in (4, 8)


# --------------------------------------------------------------- multi-output
X_IRIS, Y_IRIS = load_iris(return_X_y=True)
X_IRIS = (X_IRIS - X_IRIS.mean(axis=0)) / X_IRIS.std(axis=0)
IS_SETOSA = np.where(Y_IRIS == 0, "setosa", "other")
Y_TASKS = np.empty((150, 2), dtype=object)
Y_TASKS[:, 0], Y_TASKS[:, 1] = IS_SETOSA, Y_IRIS


def two_task_model(meta, logits=False, loss_as="list"):
    inputs = keras.Input((meta["n_features_in_"],))
    x = keras.layers.Dense(16, activation="relu")(inputs)
    binary = keras.layers.Dense(
        1, activation=None if logits else "sigmoid", name="setosa"
    )(x)
    species = keras.layers.Dense(
        3, activation=None if logits else "softmax", name="species"
    )(x)
    model = keras.Model(inputs, [binary, species])
    losses = [
        keras.losses.BinaryCrossentropy(from_logits=logits),
        keras.losses.SparseCategoricalCrossentropy(from_logits=logits),
    ]
    if loss_as == "dict":
        losses = {"species": losses[1], "setosa": losses[0]}
    model.compile(keras.optimizers.Adam(0.02), losses)
    return model


@pytest.mark.parametrize(("logits", "loss_as"), [(False, "list"), (True, "dict")])
def test_multi_output_model_gives_one_prediction_column_and_proba_per_head(
    logits, loss_as
):
    clf = KerasClassifier(
        two_task_model,
        model__logits=logits,
        model__loss_as=loss_as,
        epochs=40,
        random_state=0,
    ).fit(X_IRIS, Y_TASKS)
    assert [list(c) for c in clf.classes_] == [["other", "setosa"], [0, 1, 2]]
    assert [h.logits for h in clf.heads_] == [logits, logits]
    assert [h.link for h in clf.heads_] == ["sigmoid", "softmax"]
    setosa, species = clf.predict_proba(X_IRIS)
    assert setosa.shape == (150, 2) and species.shape == (150, 3)
    np.testing.assert_allclose(species.sum(axis=1), 1.0)
    predicted = clf.predict(X_IRIS)
    assert predicted.shape == (150, 2)
    assert (predicted[:, 0] == IS_SETOSA).mean() > 0.9
    assert (predicted[:, 1] == Y_IRIS).mean() > 0.8
    assert clf.score(X_IRIS, Y_TASKS) > 0.75


def test_logits_accepts_one_value_per_head():
    clf = KerasClassifier(
        two_task_model, logits=["auto", False], epochs=1, random_state=0
    ).fit(X_IRIS, Y_TASKS)
    assert [h.source for h in clf.heads_] == ["layer", "override"]


def test_multi_output_errors_name_the_head():
    clf = KerasClassifier(two_task_model, epochs=1)
    with pytest.raises(ValueError, match=r"y has 3 column\(s\), but the model has 2"):
        clf.fit(X_IRIS, np.column_stack([Y_TASKS, Y_IRIS]))
    four_species = Y_TASKS.copy()
    four_species[:, 1] = np.arange(150) % 4
    with pytest.raises(ValueError, match="'species' has 3 units, but y has 4"):
        clf.fit(X_IRIS, four_species)


# ------------------------------------------------------ heads without a graph
class LinearScores(keras.Model):
    """A subclassed model: no symbolic outputs to inspect."""

    def __init__(self, units=3, **kwargs):
        super().__init__(**kwargs)
        self.dense = keras.layers.Dense(units)

    def call(self, x):
        return self.dense(x)


def subclassed_logits_model(meta):
    model = LinearScores(meta["n_classes_"])
    model.compile(keras.optimizers.Adam(0.05), "sparse_categorical_crossentropy")
    return model


def test_subclassed_head_is_decided_from_training_outputs_with_a_warning():
    clf = KerasClassifier(subclassed_logits_model, epochs=5, random_state=0)
    with pytest.warns(UserWarning, match="Pass logits=True") as record:
        clf.fit(X_IRIS, Y_IRIS)
    assert (clf.heads_[0].logits, clf.heads_[0].source) == (True, "outputs")
    # The warning shows the user's fit call, not a line of this package.
    guessed = [w for w in record if "Pass logits=True" in str(w.message)]
    assert [w.filename for w in guessed] == [__file__]
    np.testing.assert_allclose(clf.predict_proba(X_IRIS).sum(axis=1), 1.0)


def test_explicit_logits_silences_the_guess_for_a_subclassed_model():
    clf = KerasClassifier(subclassed_logits_model, logits=True, epochs=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf.fit(X_IRIS, Y_IRIS)
    assert clf.heads_[0].source == "override"


class TransformedScores(LinearScores):
    """Takes a Python function: Keras cannot rebuild it from its config."""

    def __init__(self, transform, **kwargs):
        super().__init__(**kwargs)
        self.transform = transform

    def call(self, x):
        return self.transform(self.dense(x))


def test_subclassed_model_instance_is_cloned_when_keras_can_rebuild_it():
    instance = LinearScores(3)
    instance.compile("adam", "sparse_categorical_crossentropy")
    clf = KerasClassifier(instance, logits=True, epochs=1).fit(X_IRIS, Y_IRIS)
    assert clf.model_ is not instance and not instance.built


def test_model_instance_keras_cannot_clone_fails_and_says_what_to_do():
    instance = TransformedScores(lambda t: t)
    instance.compile("adam", "sparse_categorical_crossentropy")
    with pytest.raises(TypeError, match="Pass a function that builds"):
        KerasClassifier(instance).fit(X_IRIS, Y_IRIS)


def sigmoid_units_for_classes(meta):
    inputs = keras.Input((meta["n_features_in_"],))
    outputs = keras.layers.Dense(meta["n_classes_"], activation="sigmoid")(inputs)
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.Adam(0.05), "categorical_crossentropy")
    return model


def test_sigmoid_units_on_a_multiclass_target_are_normalised_per_row():
    clf = KerasClassifier(sigmoid_units_for_classes, epochs=5, random_state=0)
    clf.fit(X_IRIS, Y_IRIS)
    assert clf.heads_[0].link == "sigmoid"
    proba = clf.predict_proba(X_IRIS)
    raw = keras.ops.convert_to_numpy(clf.model_(X_IRIS.astype("float32")))
    np.testing.assert_allclose(proba, raw / raw.sum(axis=1, keepdims=True), rtol=1e-5)


# --------------------------------------------------------------------- images
DIGITS = load_digits()
IMAGES = (DIGITS.images[..., np.newaxis] / 16.0)[:600]
Y_DIGITS = DIGITS.target[:600]


def small_cnn(meta, logits=True):
    model = keras.Sequential(
        [
            keras.Input(meta["X_shape_"][1:]),
            keras.layers.Conv2D(8, 3, activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(
                meta["n_classes_"], activation=None if logits else "softmax"
            ),
        ]
    )
    model.compile(
        keras.optimizers.Adam(0.01),
        keras.losses.SparseCategoricalCrossentropy(from_logits=logits),
    )
    return model


@pytest.mark.parametrize("logits", [True, False])
def test_cnn_on_digit_images_predicts_probabilities(logits):
    clf = KerasClassifier(small_cnn, model__logits=logits, epochs=5, random_state=0)
    clf.fit(IMAGES[:500], Y_DIGITS[:500])
    proba = clf.predict_proba(IMAGES[500:])
    assert proba.shape == (100, 10)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert clf.score(IMAGES[500:], Y_DIGITS[500:]) > 0.7  # chance: 0.1
    with pytest.raises(ValueError, match=r"samples of shape \(8, 4, 1\)"):
        clf.predict(IMAGES[:5, :, :4])


def test_cnn_works_in_cross_validation_and_grid_search():
    clf = KerasClassifier(small_cnn, epochs=2, random_state=0)
    scores = cross_val_score(clf, IMAGES[:300], Y_DIGITS[:300], cv=2)
    assert (scores > 0.3).all()
    search = GridSearchCV(clf, {"epochs": [1, 2]}, cv=2).fit(
        IMAGES[:300], Y_DIGITS[:300]
    )
    assert search.best_params_["epochs"] in (1, 2)


# ------------------------------------------------------ trained outside sklearn
@pytest.fixture(scope="module")
def trained_cnn():
    keras.utils.set_random_seed(0)
    cnn = small_cnn({"X_shape_": IMAGES.shape, "n_classes_": 10}, logits=True)
    cnn.fit(IMAGES[:400], Y_DIGITS[:400], epochs=4, verbose=0)
    return cnn


def test_from_trained_is_fitted_and_gives_exactly_softmax_of_logits(trained_cnn):
    clf = KerasClassifier.from_trained(trained_cnn, classes=range(10))
    logits = keras.ops.convert_to_numpy(trained_cnn(IMAGES[400:], training=False))
    np.testing.assert_allclose(
        clf.predict_proba(IMAGES[400:]), softmax(logits), rtol=1e-6
    )
    np.testing.assert_allclose(clf.decision_function(IMAGES[400:]), logits, rtol=1e-6)
    assert clf.n_features_in_ == 8 and clf.score(IMAGES[400:], Y_DIGITS[400:]) > 0.7


@requires_temperature_scaling
def test_from_trained_model_can_be_temperature_calibrated(trained_cnn):
    frozen = FrozenEstimator(
        KerasClassifier.from_trained(trained_cnn, classes=range(10))
    )
    calibrated = CalibratedClassifierCV(frozen, method="temperature")
    calibrated.fit(IMAGES[400:500], Y_DIGITS[400:500])
    proba = calibrated.predict_proba(IMAGES[500:])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


def test_fit_on_from_trained_estimator_trains_a_fresh_clone(trained_cnn):
    weights = [w.copy() for w in trained_cnn.get_weights()]
    clf = KerasClassifier.from_trained(trained_cnn, classes=range(10))
    clf.set_params(epochs=1).fit(IMAGES[:100], Y_DIGITS[:100])
    assert clf.model_ is not trained_cnn
    for before, after in zip(weights, trained_cnn.get_weights(), strict=True):
        np.testing.assert_array_equal(before, after)


# Set by training alone, which from_trained does not do.
TRAINING_ONLY = {
    "history_",
    "n_iter_",
    "loss_curve_",
    "validation_loss_curve_",
    "best_validation_loss_",
}


def _same(one, other):
    """Equal values, also for arrays, encoders and nested lists."""
    if type(one) is not type(other):
        return False
    if isinstance(one, np.ndarray):
        return one.dtype == other.dtype and np.array_equal(one, other)
    if isinstance(one, BaseEstimator):
        return _same(vars(one), vars(other))
    if isinstance(one, dict):
        return one.keys() == other.keys() and all(_same(one[k], other[k]) for k in one)
    if isinstance(one, list | tuple):
        return len(one) == len(other) and all(map(_same, one, other))
    return one == other


@pytest.mark.parametrize(
    "build, X, y",
    [
        (sigmoid_unit_head, X_IRIS, (Y_IRIS == 0).astype(int)),
        (logits_head, X_IRIS, Y_IRIS),
        (logits_head, X_IRIS, np.array(["setosa", "versicolor", "virginica"])[Y_IRIS]),
        (multilabel_logits_head, X_ML, Y_ML),
        (softmax_heads_per_column, X_IRIS, np.column_stack([Y_IRIS, Y_IRIS % 2])),
    ],
    ids=["binary", "multiclass", "str-labels", "multilabel", "multioutput"],
)
def test_from_trained_sets_every_fitted_attribute_fit_sets(build, X, y):
    """The one exception: X_shape_ has no number of samples, as none were seen.

    X is float32, the dtype of the model's input, which from_trained records as
    X_dtype_.
    """
    X = X.astype(np.float32)
    fitted = KerasClassifier(build, random_state=0).fit(X, y)
    wrapped = KerasClassifier.from_trained(
        fitted.model_, fitted.classes_, multilabel=fitted.target_kind_ == "multilabel"
    )
    expected = {n for n in vars(fitted) if n.endswith("_") and n[0] != "_"}
    assert expected - TRAINING_ONLY == {n for n in vars(wrapped) if n.endswith("_")}
    assert wrapped.X_shape_ == (None, *fitted.X_shape_[1:])
    for name in sorted(expected - TRAINING_ONLY - {"X_shape_"}):
        assert _same(getattr(wrapped, name), getattr(fitted, name)), name
    np.testing.assert_array_equal(wrapped.predict(X), fitted.predict(X))
    assert _same(wrapped.predict_proba(X), fitted.predict_proba(X))


def test_from_trained_keeps_classes_in_unit_order():
    X = X_IRIS.astype(np.float32)
    fitted = KerasClassifier(logits_head, random_state=0).fit(X, Y_IRIS)
    wrapped = KerasClassifier.from_trained(fitted.model_, classes=["c", "a", "b"])
    np.testing.assert_array_equal(wrapped.classes_, ["c", "a", "b"])
    np.testing.assert_array_equal(
        wrapped.predict(X), np.array(["c", "a", "b"])[fitted.predict(X)]
    )
    np.testing.assert_array_equal(
        wrapped.target_encoder_.transform(np.array(["a", "b", "c"])), [1, 2, 0]
    )


# ----------------------------------------------------------------- regression
def test_regressor_keeps_y_shape_for_single_and_multi_output():
    X = X_IRIS[:, :2]
    single = KerasRegressor(linear_regression_head, epochs=20, random_state=0)
    assert single.fit(X, X_IRIS[:, 2]).predict(X).shape == (150,)
    multi = KerasRegressor(linear_regression_head, epochs=20, random_state=0)
    prediction = multi.fit(X, X_IRIS[:, 2:]).predict(X)
    assert prediction.shape == (150, 2) and prediction.dtype == np.float64
    assert multi.score(X, X_IRIS[:, 2:]) > 0.5


# ----------------------------------------------------------------- exact tails
def float64_pre_activation(model, X, layer_name):
    """What the Dense layer ``layer_name`` computes before its activation.

    Its input from Keras, then kernel and bias applied in float64 by NumPy:
    independent of the estimator's own way of reading pre-activations.
    """
    layer = model.get_layer(layer_name)
    features = keras.Model(model.input, layer.input)(X.astype(np.float32))
    kernel, bias = layer.get_weights()
    return keras.ops.convert_to_numpy(features).astype(np.float64) @ kernel + bias


X_CANCER, Y_CANCER = load_breast_cancer(return_X_y=True)
X_CANCER = (X_CANCER - X_CANCER.mean(axis=0)) / X_CANCER.std(axis=0)


@pytest.fixture(scope="module")
def saturated_sigmoid_head():
    """Dense(1, sigmoid) trained until its float32 output is 0 or 1 on many rows."""
    return KerasClassifier(sigmoid_unit_head, epochs=60, random_state=0).fit(
        X_CANCER, Y_CANCER
    )


def test_saturated_sigmoid_head_gives_no_zero_probability_and_no_minus_inf(
    saturated_sigmoid_head,
):
    clf = saturated_sigmoid_head
    model_output = keras.ops.convert_to_numpy(clf.model_(X_CANCER.astype(np.float32)))
    assert ((model_output == 0) | (model_output == 1)).sum() > 50  # saturated
    assert clf.heads_[0].read_from == "pre_activation"
    proba = clf.predict_proba(X_CANCER)
    log_proba = clf.predict_log_proba(X_CANCER)
    assert (proba > 0).all() and np.isfinite(log_proba).all()
    # A probability of exactly 1 only where float64 itself rounds to 1.
    scores = clf.decision_function(X_CANCER)
    assert (np.abs(scores[proba.max(axis=1) == 1.0]) > 36).all()
    # Rows the model saturates keep distinct scores: their ranking survives.
    saturated = model_output[:, 0] == 1
    assert len(np.unique(scores[saturated])) > 0.9 * saturated.sum()


def test_sigmoid_head_matches_float64_maths_on_its_pre_activation(
    saturated_sigmoid_head,
):
    clf = saturated_sigmoid_head
    z = float64_pre_activation(clf.model_, X_CANCER, clf.heads_[0].name)[:, 0]
    np.testing.assert_allclose(clf.decision_function(X_CANCER), z, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        clf.predict_log_proba(X_CANCER),
        np.column_stack([log_sigmoid(-z), log_sigmoid(z)]),
        rtol=1e-5,
        atol=1e-5,
    )
    np.testing.assert_allclose(
        clf.predict_proba(X_CANCER)[:, 0], sigmoid(-z), rtol=1e-4, atol=1e-12
    )


def test_exact_tails_survive_pickling(saturated_sigmoid_head):
    restored = pickle.loads(pickle.dumps(saturated_sigmoid_head))
    assert restored.heads_ == saturated_sigmoid_head.heads_
    np.testing.assert_array_equal(
        restored.predict_log_proba(X_CANCER),
        saturated_sigmoid_head.predict_log_proba(X_CANCER),
    )


def test_softmax_head_matches_float64_maths_on_its_pre_activation():
    clf = KerasClassifier(softmax_head, epochs=30, random_state=0).fit(X_IRIS, Y_IRIS)
    assert clf.heads_[0].read_from == "pre_activation"
    z = float64_pre_activation(clf.model_, X_IRIS, clf.heads_[0].name)
    np.testing.assert_allclose(clf.decision_function(X_IRIS), z, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        clf.predict_log_proba(X_IRIS), log_softmax(z), rtol=1e-5, atol=1e-5
    )
    np.testing.assert_allclose(clf.predict_proba(X_IRIS), softmax(z), atol=1e-6)


def test_multilabel_sigmoid_head_matches_float64_maths_on_its_pre_activation():
    clf = KerasClassifier(
        multilabel_head, model__logits=False, epochs=10, random_state=0
    ).fit(X_ML, Y_ML)
    assert clf.heads_[0].read_from == "pre_activation"
    z = float64_pre_activation(clf.model_, X_ML, clf.heads_[0].name)
    np.testing.assert_allclose(clf.decision_function(X_ML), z, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        clf.predict_log_proba(X_ML), log_sigmoid(z), rtol=1e-5, atol=1e-5
    )
    np.testing.assert_allclose(clf.predict_proba(X_ML), sigmoid(z), atol=1e-6)


def test_multi_output_heads_match_float64_maths_on_their_pre_activations():
    clf = KerasClassifier(
        two_task_model, model__logits=False, epochs=10, random_state=0
    ).fit(X_IRIS, Y_TASKS)
    assert [h.read_from for h in clf.heads_] == ["pre_activation"] * 2
    z_setosa = float64_pre_activation(clf.model_, X_IRIS, "setosa")[:, 0]
    z_species = float64_pre_activation(clf.model_, X_IRIS, "species")
    log_setosa, log_species = clf.predict_log_proba(X_IRIS)
    np.testing.assert_allclose(
        log_setosa,
        np.column_stack([log_sigmoid(-z_setosa), log_sigmoid(z_setosa)]),
        rtol=1e-5,
        atol=1e-5,
    )
    np.testing.assert_allclose(
        log_species, log_softmax(z_species), rtol=1e-5, atol=1e-5
    )
    setosa_scores, species_scores = clf.decision_function(X_IRIS)
    np.testing.assert_allclose(setosa_scores, z_setosa, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(species_scores, z_species, rtol=1e-5, atol=1e-5)


def test_training_targets_of_from_trained_code_labels_by_unit_order():
    """Classes in unit order, not sorted: a further fit codes y by that order.

    Coded by sorted position, ``partial_fit`` would train the model towards a
    permutation of its own units.
    """
    X = X_IRIS.astype(np.float32)
    fitted = KerasClassifier(logits_head, random_state=0).fit(X, Y_IRIS)
    names = np.array(["c", "a", "b"])
    wrapped = KerasClassifier.from_trained(fitted.model_, classes=names)
    (targets,) = wrapped._keras_targets(names[Y_IRIS])
    np.testing.assert_array_equal(np.ravel(targets), Y_IRIS)
