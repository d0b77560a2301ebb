"""Bad input raises scikit-learn's exception types, with messages that help.

Most errors are raised before any training; the few that need a fitted
estimator share module-scoped ones trained for a single epoch.
"""

import keras
import numpy as np
import pytest
from sklearn.datasets import load_digits, load_iris
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import InvalidParameterError

from skkeras_proba import KerasClassifier, KerasRegressor
from tests.integration_models import (
    fixed_units_regression_head,
    fixed_units_softmax_head,
)
from tests.models import linear_regression_head, logit_unit_head, logits_head

X_IRIS, Y_IRIS = load_iris(return_X_y=True)
X_IRIS = (X_IRIS - X_IRIS.mean(axis=0)) / X_IRIS.std(axis=0)

DIGITS = load_digits()
IMAGES = (DIGITS.images[:200] / 16.0)[..., np.newaxis]  # (200, 8, 8, 1)
Y_DIGITS = DIGITS.target[:200]

ONE_EPOCH = {"epochs": 1, "batch_size": 64, "random_state": 0}


def classifier(model=logits_head, **params):
    return KerasClassifier(model, **{**ONE_EPOCH, **params})


@pytest.fixture(scope="module")
def fitted_clf():
    return classifier().fit(X_IRIS, Y_IRIS)


@pytest.fixture(scope="module")
def fitted_image_clf():
    return classifier().fit(IMAGES, Y_DIGITS)


def with_value(X, value):
    X = X.copy()
    X[3, 1] = value
    return X


# ------------------------------------------------------------------ bad X at fit
@pytest.mark.parametrize(
    ("value", "message"),
    [(np.nan, "Input X contains NaN"), (np.inf, "Input X contains infinity")],
    ids=["nan", "inf"],
)
def test_fit_rejects_nan_and_inf_in_X(value, message):
    with pytest.raises(ValueError, match=message):
        classifier().fit(with_value(X_IRIS, value), Y_IRIS)


def test_fit_rejects_one_dimensional_X():
    with pytest.raises(ValueError, match="Expected 2D array, got 1D array"):
        classifier().fit(X_IRIS[:, 0], Y_IRIS)


def test_fit_rejects_empty_X():
    with pytest.raises(ValueError, match=r"Found array with 0 sample\(s\)"):
        classifier().fit(X_IRIS[:0], Y_IRIS[:0])


def test_fit_rejects_X_without_features():
    with pytest.raises(ValueError, match=r"Found array with 0 feature\(s\)"):
        classifier().fit(X_IRIS[:, :0], Y_IRIS)


# ------------------------------------------------------------------- bad y at fit
@pytest.mark.parametrize(
    ("model", "params"),
    [
        (logits_head, {}),
        (logit_unit_head, {}),
        (fixed_units_softmax_head, {"model__units": 2}),
    ],
    ids=["units_from_meta", "one_unit", "two_fixed_units"],
)
def test_fit_rejects_a_single_class_in_y(model, params):
    # Whatever the model's head, even a Dense(2) built for a binary problem,
    # the problem is the target: say that a classifier needs two classes.
    with pytest.raises(ValueError, match="at least 2 classes"):
        classifier(model, **params).fit(X_IRIS[:50], Y_IRIS[:50])


def test_classifier_rejects_continuous_y_as_unknown_label_type():
    with pytest.raises(ValueError, match="Unknown label type: continuous"):
        classifier().fit(X_IRIS, X_IRIS[:, 0])


def test_fit_rejects_a_y_of_the_wrong_length():
    with pytest.raises(
        ValueError, match=r"inconsistent numbers of samples: \[150, 149\]"
    ):
        classifier().fit(X_IRIS, Y_IRIS[:-1])


def test_fit_rejects_model_whose_output_units_do_not_match_the_classes():
    with pytest.raises(ValueError, match="has 4 units, but y has 3 classes") as error:
        classifier(fixed_units_softmax_head, model__units=4).fit(X_IRIS, Y_IRIS)
    assert "Dense(3, activation='softmax')" in str(error.value)


@pytest.mark.parametrize(
    ("labels", "shown"),
    [([3, 7, 11], "[3, 7, 11]"), (["a", "b", "c"], "['a', 'b', 'c']")],
    ids=["integers", "strings"],
)
def test_head_mismatch_message_lists_the_classes_as_the_user_wrote_them(labels, shown):
    # Not as NumPy scalar reprs such as np.int64(3) or np.str_('a').
    y = np.asarray(labels)[Y_IRIS]
    with pytest.raises(ValueError, match="has 4 units") as error:
        classifier(fixed_units_softmax_head, model__units=4).fit(X_IRIS, y)
    assert f"3 classes {shown}." in str(error.value)


def test_regressor_rejects_model_whose_output_units_do_not_match_the_targets():
    with pytest.raises(ValueError, match="have 3 units in all, but y has 2 targets"):
        KerasRegressor(fixed_units_regression_head, model__units=3, **ONE_EPOCH).fit(
            X_IRIS[:, :2], X_IRIS[:, 2:]
        )


def test_regressor_rejects_nan_in_y():
    y = X_IRIS[:, 2].copy()
    y[5] = np.nan
    with pytest.raises(ValueError, match="Input y contains NaN"):
        KerasRegressor(linear_regression_head, **ONE_EPOCH).fit(X_IRIS[:, :2], y)


# --------------------------------------------------------------- bad parameters
def test_invalid_logits_parameter_raises_invalid_parameter_error():
    with pytest.raises(
        InvalidParameterError, match=r"'logits' parameter of KerasClassifier must be"
    ) as error:
        classifier(logits="yes").fit(X_IRIS, Y_IRIS)
    assert "Got 'yes' instead" in str(error.value)
    assert isinstance(error.value, ValueError)  # as scikit-learn's own


def test_all_zero_sample_weight_raises_value_error():
    with pytest.raises(ValueError, match="zero"):
        classifier().fit(X_IRIS, Y_IRIS, sample_weight=np.zeros(len(Y_IRIS)))


def test_sample_weight_of_the_wrong_length_raises_value_error():
    with pytest.raises(ValueError, match=r"sample_weight.shape == \(149,\), expected"):
        classifier().fit(X_IRIS, Y_IRIS, sample_weight=np.ones(149))


# ------------------------------------------------------------ predict before fit
@pytest.mark.parametrize(
    "method", ["predict", "predict_proba", "predict_log_proba", "decision_function"]
)
def test_classifier_methods_before_fit_raise_not_fitted_error(method):
    with pytest.raises(NotFittedError, match="KerasClassifier instance is not fitted"):
        getattr(classifier(), method)(X_IRIS)


def test_score_before_fit_raises_not_fitted_error():
    with pytest.raises(NotFittedError, match="not fitted yet"):
        classifier().score(X_IRIS, Y_IRIS)


def test_regressor_predict_before_fit_raises_not_fitted_error():
    reg = KerasRegressor(linear_regression_head)
    with pytest.raises(NotFittedError, match="KerasRegressor instance is not fitted"):
        reg.predict(X_IRIS)


# ---------------------------------------------------------------- bad X at predict
@pytest.mark.xdist_group("fitted_clf")
@pytest.mark.parametrize("method", ["predict", "predict_proba", "decision_function"])
def test_wrong_number_of_features_at_predict_names_both_counts(fitted_clf, method):
    with pytest.raises(
        ValueError,
        match="X has 3 features, but KerasClassifier is expecting 4 features",
    ):
        getattr(fitted_clf, method)(X_IRIS[:, :3])


@pytest.mark.xdist_group("fitted_clf")
@pytest.mark.parametrize(
    ("value", "message"),
    [(np.nan, "Input X contains NaN"), (-np.inf, "Input X contains infinity")],
    ids=["nan", "-inf"],
)
def test_predict_rejects_nan_and_inf_in_X(fitted_clf, value, message):
    with pytest.raises(ValueError, match=message):
        fitted_clf.predict_proba(with_value(X_IRIS, value))


@pytest.mark.xdist_group("fitted_clf")
def test_predict_rejects_one_dimensional_and_empty_X(fitted_clf):
    with pytest.raises(ValueError, match="Expected 2D array, got 1D array"):
        fitted_clf.predict(X_IRIS[0])
    with pytest.raises(ValueError, match=r"Found array with 0 sample\(s\)"):
        fitted_clf.predict_proba(X_IRIS[:0])


@pytest.mark.xdist_group("fitted_image_clf")
@pytest.mark.parametrize(
    "shape", [(8, 4, 1), (8, 8), (8, 8, 3)], ids=["narrow", "no_channels", "rgb"]
)
def test_images_of_wrong_shape_at_predict_name_both_shapes(fitted_image_clf, shape):
    X = np.zeros((5, *shape))
    with pytest.raises(
        ValueError,
        match=rf"samples of shape \({', '.join(map(str, shape))},?\), but "
        r"KerasClassifier was fitted on samples of shape \(8, 8, 1\)",
    ):
        fitted_image_clf.predict_proba(X)


@pytest.mark.xdist_group("fitted_image_clf")
def test_flattened_images_at_predict_name_the_feature_counts(fitted_image_clf):
    with pytest.raises(ValueError, match="X has 64 features, but KerasClassifier"):
        fitted_image_clf.predict(IMAGES.reshape(len(IMAGES), -1))


def test_a_model_compiled_with_only_none_losses_fails_as_keras_fit_does():
    """``loss=[None]`` is no loss: Keras' fit says so, compiled epochs step aside."""

    def build():
        model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
        model.compile("adam", loss=[None])
        return model

    with pytest.raises(ValueError, match="loss"):
        KerasRegressor(build).fit(np.array([[0.0], [1.0]]), np.array([0.0, 1.0]))
