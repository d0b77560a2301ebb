"""The classifier's default target encoder: classes per column, codes, meta."""

import numpy as np
import pytest

from skkeras_proba._encoders import ClassifierTargetEncoder


def test_learns_sorted_classes_and_round_trips_labels():
    y = np.array(["b", "a", "c", "a"])
    encoder = ClassifierTargetEncoder().fit(y)
    np.testing.assert_array_equal(encoder.classes_, ["a", "b", "c"])
    codes = encoder.transform(y)
    np.testing.assert_array_equal(codes, [1, 0, 2, 0])
    np.testing.assert_array_equal(encoder.inverse_transform(codes), y)
    assert encoder.get_metadata() == {
        "target_type_": "multiclass",
        "classes_": encoder.classes_,
        "n_classes_": 3,
        "n_outputs_": 1,
        "n_outputs_expected_": 1,
    }


def test_given_classes_may_hold_labels_y_lacks():
    encoder = ClassifierTargetEncoder(classes=[3, 1, 2]).fit(np.array([1, 2, 1]))
    np.testing.assert_array_equal(encoder.classes_, [1, 2, 3])
    assert encoder.target_type_ == "multiclass"  # from the classes, not from y
    with pytest.raises(ValueError, match=r"labels \[4\] that are not in classes"):
        ClassifierTargetEncoder(classes=[1, 2]).fit(np.array([1, 4]))


def test_multioutput_y_gives_one_set_of_classes_per_column():
    y = np.array([["a", 0], ["b", 1], ["a", 2]], dtype=object)
    encoder = ClassifierTargetEncoder().fit(y)
    assert encoder.n_outputs_expected_ == 2
    assert encoder.n_classes_ == [2, 3]
    codes = encoder.transform(y)
    np.testing.assert_array_equal(codes, [[0, 0], [1, 1], [0, 2]])
    np.testing.assert_array_equal(encoder.inverse_transform(codes), y)


def test_indicator_y_is_multilabel_with_label_indices_as_classes():
    y = np.array([[0, 1, 1], [1, 0, 0]])
    encoder = ClassifierTargetEncoder().fit(y)
    assert encoder.multilabel_ and encoder.n_outputs_expected_ == 1
    np.testing.assert_array_equal(encoder.classes_, [0, 1, 2])
    np.testing.assert_array_equal(encoder.transform(y), y)


def test_a_single_class_is_rejected_before_any_model_is_built():
    with pytest.raises(ValueError, match=r"y contains 1 class \[5\]"):
        ClassifierTargetEncoder().fit(np.array([5, 5, 5]))


def test_classes_given_to_fit_keep_their_order_and_encode_by_it():
    encoder = ClassifierTargetEncoder().fit(
        np.array(["b", "c"]), classes=[np.array(["c", "a", "b"])]
    )
    np.testing.assert_array_equal(encoder.classes_, ["c", "a", "b"])
    codes = encoder.transform(np.array(["a", "b", "c"]))
    np.testing.assert_array_equal(codes, [1, 2, 0])
    np.testing.assert_array_equal(encoder.inverse_transform(codes), ["a", "b", "c"])
    with pytest.raises(ValueError, match=r"labels \['d'\] that are not in classes"):
        ClassifierTargetEncoder().fit(np.array(["a", "d"]), classes=[["a", "b"]])
