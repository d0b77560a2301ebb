"""One test per place where we override scikeras 0.13 (see _scikeras_fixes.py)."""

import random

import numpy as np
import pandas as pd
import pytest
from sklearn.base import is_classifier, is_regressor
from sklearn.datasets import load_iris
from sklearn.model_selection import StratifiedKFold, check_cv

from skkeras_proba import KerasClassifier, KerasRegressor
from skkeras_proba._compat import tf_op_determinism_enabled
from tests.models import (
    fit_recording_logits_head,
    linear_regression_head,
    logits_head,
    one_hot_softmax_head,
    softmax_heads_per_column,
)

X, Y = load_iris(return_X_y=True)
X = (X - X.mean(axis=0)) / X.std(axis=0)


def test_is_classifier_so_cross_validation_stratifies():
    clf = KerasClassifier(logits_head)
    assert is_classifier(clf) and not is_regressor(clf)
    assert is_regressor(KerasRegressor(linear_regression_head))
    assert isinstance(check_cv(3, Y, classifier=is_classifier(clf)), StratifiedKFold)
    tags = clf.__sklearn_tags__()
    assert tags.input_tags.sparse and tags.classifier_tags.multi_label


def test_validate_data_sets_feature_names_and_standard_messages():
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    clf = KerasClassifier(logits_head, epochs=1, random_state=0).fit(frame, Y)
    np.testing.assert_array_equal(clf.feature_names_in_, ["a", "b", "c", "d"])
    message = "X has 3 features, but KerasClassifier is expecting 4 features as input"
    with (
        pytest.warns(UserWarning, match="does not have valid feature names"),
        pytest.raises(ValueError, match=message),
    ):
        clf.predict(X[:, :3])


def test_predict_proba_of_one_row_keeps_the_samples_axis():
    clf = KerasClassifier(logits_head, epochs=1, random_state=0).fit(X, Y)
    assert clf.predict_proba(X[:1]).shape == (1, 3)


def test_target_encoding_follows_the_loss_compiled_in_the_build_function():
    # categorical_crossentropy needs one-hot targets; the estimator's loss=
    # is not set, scikeras would pass integer labels and fail.
    clf = KerasClassifier(one_hot_softmax_head, epochs=3, random_state=0).fit(X, Y)
    assert clf.heads_[0].loss == "categorical_crossentropy"
    assert clf.score(X, Y) > 0.6


def test_model_instance_is_cloned_per_fit():
    instance = logits_head({"X_shape_": X.shape, "n_classes_": 3})
    before = [w.copy() for w in instance.get_weights()]
    clf = KerasClassifier(instance, epochs=2, random_state=0)
    first = clf.fit(X, Y).predict_proba(X)
    first_model = clf.model_
    second = clf.fit(X, Y).predict_proba(X)
    assert clf.model_ is not first_model and clf.model_ is not instance
    np.testing.assert_allclose(first, second)  # fit is idempotent
    for w_before, w_after in zip(before, instance.get_weights(), strict=True):
        np.testing.assert_array_equal(w_before, w_after)
    assert clf.model_.loss.get_config()["from_logits"]  # compile settings kept


def test_cloned_model_instance_keeps_its_sequential_subclass():
    # keras.models.clone_model alone would make it a plain Sequential
    instance = fit_recording_logits_head({"X_shape_": X.shape, "n_classes_": 3})
    clf = KerasClassifier(instance, epochs=2, random_state=0).fit(X, Y)
    assert type(clf.model_) is type(instance) and clf.model_ is not instance
    assert clf.model_.fit_kwargs["epochs"] == 2  # its own fit ran
    assert clf.model_.loss.get_config()["from_logits"]


def test_class_weight_leaves_callers_sample_weight_untouched():
    weight = np.ones(len(Y))
    clf = KerasClassifier(logits_head, class_weight={0: 5.0, 1: 1.0, 2: 1.0})
    clf.fit(X, Y, sample_weight=weight)
    np.testing.assert_array_equal(weight, np.ones(len(Y)))


@pytest.mark.parametrize(
    "bad", [float("nan"), float("inf"), "heavy", [2.0], True], ids=repr
)
def test_class_weight_that_is_not_a_finite_number_is_rejected_before_training(bad):
    # compute_sample_weight takes any value; NaN trained NaN probabilities.
    clf = KerasClassifier(logits_head, epochs=1, random_state=0).fit(X, Y)
    weights = clf.model_.get_weights()
    clf.set_params(class_weight={0: bad, 1: 1.0, 2: 1.0})
    with pytest.raises(ValueError, match="class_weight must give each class a finite"):
        clf.fit(X, Y)
    for now, before in zip(clf.model_.get_weights(), weights, strict=True):
        np.testing.assert_array_equal(now, before)


def test_class_weight_per_output_folds_into_a_multi_output_fit():
    y = np.column_stack([Y, Y % 2])
    one_per_output = [{0: 1.0, 1: 1.0, 2: 1.0}, {0: 1.0, 1: 3.0}]
    clf = KerasClassifier(
        softmax_heads_per_column, epochs=1, random_state=0, class_weight=one_per_output
    )
    assert clf.fit(X, y).predict(X).shape == y.shape
    with pytest.raises(ValueError, match="finite"):
        clf.set_params(class_weight=[{0: 1.0}, {0: float("nan")}]).fit(X, y)
    with pytest.raises(ValueError, match="one dict of class weights per output"):
        clf.set_params(class_weight=[{0: 1.0}, [1.0, 3.0]]).fit(X, y)


def test_seeded_fit_leaves_global_state_unchanged():
    np.random.seed(0)
    numpy_state = np.random.get_state()[1].copy()
    python_state = random.getstate()
    KerasClassifier(logits_head, epochs=1, random_state=3).fit(X, Y)
    np.testing.assert_array_equal(np.random.get_state()[1], numpy_state)
    assert random.getstate() == python_state
    assert not tf_op_determinism_enabled()
    # scikeras 0.13 fails here with "Random ops require a seed".
    unseeded = KerasClassifier(logits_head, epochs=1).fit(X, Y)
    assert unseeded.predict(X).shape == (len(Y),)
