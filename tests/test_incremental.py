"""Incremental fits (partial_fit, warm_start) never train on a mis-matched y.

Each rejected call must raise before the model is touched: weights, optimizer
state, classes and history stay exactly as they were.
"""

import keras
import numpy as np
import pytest
from sklearn.datasets import (
    load_breast_cancer,
    load_iris,
    make_multilabel_classification,
)

from skkeras_proba import KerasClassifier, KerasRegressor
from skkeras_proba._incremental import (
    check_indicator,
    check_known_labels,
    check_same_classes,
    check_target_shape,
)
from tests.models import (
    linear_regression_head,
    logits_head,
    multilabel_logits_head,
    sigmoid_unit_head,
)

X_IRIS, Y_IRIS = load_iris(return_X_y=True)
X_IRIS = (X_IRIS - X_IRIS.mean(axis=0)) / X_IRIS.std(axis=0)
X_CANCER, Y_CANCER = load_breast_cancer(return_X_y=True)
X_CANCER = (X_CANCER - X_CANCER.mean(axis=0)) / X_CANCER.std(axis=0)


def _state(estimator):
    """Everything a rejected call must leave as it was."""
    return {
        "weights": [w.copy() for w in estimator.model_.get_weights()],
        "optimizer": [
            keras.ops.convert_to_numpy(v).copy()
            for v in estimator.model_.optimizer.variables
        ],
        "epoch": estimator.current_epoch,
        "history": {k: list(v) for k, v in estimator.history_.items()},
        "classes": getattr(estimator, "classes_", None),
    }


def _assert_unchanged(before, after):
    for name in ("weights", "optimizer"):
        assert len(before[name]) == len(after[name])
        for b, a in zip(before[name], after[name], strict=True):
            np.testing.assert_array_equal(b, a)
    assert before["epoch"] == after["epoch"]
    assert before["history"] == after["history"]
    np.testing.assert_array_equal(before["classes"], after["classes"])


class TestCheckFunctions:
    def test_target_shape_rejects_other_dimensions_and_columns(self):
        check_target_shape(np.zeros(3), 1, 1)
        check_target_shape(np.zeros((3, 2)), 2, 2)
        with pytest.raises(ValueError, match="2 dimension"):
            check_target_shape(np.zeros((3, 2)), 1, 1)
        with pytest.raises(
            ValueError, match="3 columns, but the model was built for 2"
        ):
            check_target_shape(np.zeros((3, 3)), 2, 2)

    def test_known_labels_lists_the_unknown_ones(self):
        classes = [np.array([0, 1])]
        check_known_labels(np.array([1, 0, 1]), classes)
        with pytest.raises(ValueError, match=r"labels \[2, 7\].*classes are \[0, 1\]"):
            check_known_labels(np.array([0, 7, 2, 7]), classes)

    def test_known_labels_names_the_column_of_a_multioutput_y(self):
        classes = [np.array(["a", "b"]), np.array([0, 1, 2])]
        y = np.array([["a", 0], ["b", 5]], dtype=object)
        with pytest.raises(ValueError, match=r"Column 1 of y contains labels \[5\]"):
            check_known_labels(y, classes)

    def test_known_labels_rejects_a_dtype_that_cannot_hold_the_classes(self):
        with pytest.raises(ValueError, match="Got y with dtype int64, but"):
            check_known_labels(np.array([0, 1]), [np.array(["no", "yes"])])
        with pytest.raises(ValueError, match="Got y with dtype <U3, but"):
            check_known_labels(np.array(["0", "1", "two"]), [np.array([0, 1])])
        with pytest.raises(ValueError, match="cannot be cast to int64 safely"):
            check_known_labels(np.array([0.0, 1.0]), [np.array([0, 1])])

    def test_known_labels_accepts_narrower_numbers_and_strings_of_any_length(self):
        check_known_labels(np.array([0, 1], dtype=np.uint8), [np.array([0, 1])])
        check_known_labels(np.array([0, 1]), [np.array([0.0, 1.0])])
        check_known_labels(np.array(["no", "yes"]), [np.array(["no", "yes", "maybe"])])

    def test_known_labels_accepts_mixed_object_labels(self):
        classes = [np.array(["a", 1], dtype=object)]
        check_known_labels(np.array([1, "a"], dtype=object), classes)
        with pytest.raises(ValueError, match=r"\['b'\]"):
            check_known_labels(np.array(["b", 1], dtype=object), classes)

    def test_indicator_must_be_zero_one(self):
        check_indicator(np.array([[0, 1], [1, 1]]))
        with pytest.raises(ValueError, match=r"holds \[2\]"):
            check_indicator(np.array([[0, 2], [1, 1]]))

    def test_same_classes_ignores_order_but_not_content(self):
        check_same_classes([2, 0, 1], np.array([0, 1, 2]))
        with pytest.raises(ValueError, match="not the same as on the first call"):
            check_same_classes([0, 1, 3], np.array([0, 1, 2]))


def test_partial_fit_rejects_unseen_label_on_a_one_unit_head():
    clf = KerasClassifier(sigmoid_unit_head, random_state=0)
    clf.partial_fit(X_CANCER, Y_CANCER)
    before = _state(clf)
    y = Y_CANCER.copy()
    y[:5] = 7
    with pytest.raises(ValueError, match=r"labels \[7\].*classes are \[0, 1\]"):
        clf.partial_fit(X_CANCER, y)
    _assert_unchanged(before, _state(clf))


def test_partial_fit_rejects_unseen_label_on_a_multiclass_head():
    # Without the check Keras fails with "label value of 3 ... outside the valid range".
    clf = KerasClassifier(logits_head, random_state=0)
    clf.partial_fit(X_IRIS, Y_IRIS)
    before = _state(clf)
    with pytest.raises(ValueError, match=r"labels \[3\]"):
        clf.partial_fit(X_IRIS, np.where(Y_IRIS == 2, 3, Y_IRIS))
    _assert_unchanged(before, _state(clf))


def test_warm_start_fit_rejects_unseen_label():
    clf = KerasClassifier(logits_head, warm_start=True, epochs=1, random_state=0)
    clf.fit(X_IRIS[Y_IRIS < 2], Y_IRIS[Y_IRIS < 2])
    before = _state(clf)
    with pytest.raises(ValueError, match=r"labels \[2\]"):
        clf.fit(X_IRIS, Y_IRIS)
    _assert_unchanged(before, _state(clf))


def test_incremental_fit_rejects_other_feature_count_and_target_shape():
    clf = KerasClassifier(logits_head, random_state=0).partial_fit(X_IRIS, Y_IRIS)
    before = _state(clf)
    with pytest.raises(ValueError, match="X has 3 features"):
        clf.partial_fit(X_IRIS[:, :3], Y_IRIS)
    with pytest.raises(ValueError, match="2 dimension"):
        clf.partial_fit(X_IRIS, np.column_stack([Y_IRIS, Y_IRIS]))
    _assert_unchanged(before, _state(clf))


def test_incremental_fit_rejects_labels_of_another_type():
    labels = np.array(["setosa", "versicolor", "virginica"])[Y_IRIS]
    clf = KerasClassifier(logits_head, random_state=0).partial_fit(X_IRIS, labels)
    before = _state(clf)
    with pytest.raises(ValueError, match="Got y with dtype int64"):
        clf.partial_fit(X_IRIS, Y_IRIS)
    _assert_unchanged(before, _state(clf))


def test_partial_fit_rejects_other_classes_on_a_later_call():
    clf = KerasClassifier(logits_head, random_state=0)
    clf.partial_fit(X_IRIS, Y_IRIS, classes=[0, 1, 2])
    before = _state(clf)
    with pytest.raises(ValueError, match="not the same as on the first call"):
        clf.partial_fit(X_IRIS, Y_IRIS, classes=[0, 1, 2, 3])
    _assert_unchanged(before, _state(clf))
    clf.partial_fit(X_IRIS, Y_IRIS, classes=[2, 1, 0])  # same classes: trains on
    assert clf.current_epoch == before["epoch"] + 1


def test_partial_fit_classes_sets_target_type_for_the_build_function():
    seen = {}

    def build(meta):
        seen.update(target_type=meta["target_type_"], n_classes=meta["n_classes_"])
        return logits_head(meta)

    first = Y_IRIS < 2  # only classes 0 and 1 in the first batch
    clf = KerasClassifier(build, random_state=0)
    clf.partial_fit(X_IRIS[first], Y_IRIS[first], classes=[0, 1, 2])
    assert seen == {"target_type": "multiclass", "n_classes": 3}
    assert clf.model_.outputs[0].shape[-1] == 3
    clf.partial_fit(X_IRIS, Y_IRIS)  # class 2 arrives later and is accepted
    assert clf.predict_proba(X_IRIS).shape == (150, 3)


class _SharedLayers(KerasClassifier):
    """Overrides scikeras' _initialize(X, y) hook as its contract allows."""

    def _initialize(self, X, y=None):
        X, y = super()._initialize(X, y)
        self.shared_layers_ = len(self.model_.layers)
        return X, y


def test_partial_fit_classes_pass_through_an_overridden_initialize():
    first = Y_IRIS < 2
    clf = _SharedLayers(logits_head, random_state=0)
    clf.partial_fit(X_IRIS[first], Y_IRIS[first], classes=[2, 0, 1])
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2])
    assert clf.shared_layers_ > 0 and clf.model_.outputs[0].shape[-1] == 3
    assert "_partial_fit_classes" not in vars(clf)  # left behind by no call
    clf.fit(X_IRIS[first], Y_IRIS[first])  # a later fit learns from its y alone
    np.testing.assert_array_equal(clf.classes_, [0, 1])


def test_multilabel_partial_fit_rejects_other_columns_and_values():
    X, Y = make_multilabel_classification(n_samples=60, n_classes=3, random_state=0)
    clf = KerasClassifier(multilabel_logits_head, random_state=0).partial_fit(X, Y)
    before = _state(clf)
    with pytest.raises(ValueError, match="4 columns, but the model was built for 3"):
        clf.partial_fit(X, np.column_stack([Y, Y[:, 0]]))
    _assert_unchanged(before, _state(clf))


def test_regressor_warm_start_rejects_other_target_columns():
    rng = np.random.RandomState(0)
    X, y = rng.normal(size=(40, 3)), rng.normal(size=40)
    reg = KerasRegressor(linear_regression_head, warm_start=True, random_state=0)
    reg.fit(X, y)
    before = _state(reg)
    with pytest.raises(ValueError, match="2 dimension"):
        reg.fit(X, np.column_stack([y, y]))
    _assert_unchanged(before, _state(reg))
    reg.fit(X, y)  # a matching y continues training
    assert any(
        not np.array_equal(b, a)
        for b, a in zip(before["weights"], reg.model_.get_weights(), strict=True)
    )
