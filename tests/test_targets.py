"""Target layout, encoding chosen from the compiled loss, and unit checks."""

import numpy as np
import pytest

from skkeras_proba import _targets
from skkeras_proba._heads import Head


def _head(units, loss=None, link="softmax", name="out"):
    return Head(name, units, "linear", loss, link, True, "layer")


def test_one_dimensional_y_is_binary_or_multiclass():
    assert _targets.target_kind(np.array([0, 1]), "binary", 1) == _targets.BINARY
    assert _targets.target_kind(np.array([0, 2]), "multiclass", 1) == "multiclass"


def test_indicator_matrix_is_multilabel_for_one_head_and_multioutput_for_several():
    y = np.array([[0, 1], [1, 0]])
    assert _targets.target_kind(y, "multilabel-indicator", 1) == _targets.MULTILABEL
    assert _targets.target_kind(y, "multilabel-indicator", 2) == _targets.MULTIOUTPUT


def test_column_count_must_match_head_count():
    y = np.array([[0, 1, 2], [1, 0, 2]])
    with pytest.raises(ValueError, match=r"y has 3 column\(s\), but the model has 2"):
        _targets.target_kind(y, "multiclass-multioutput", 2)
    with pytest.raises(ValueError, match=r"y has 1 column\(s\), but the model has 2"):
        _targets.target_kind(y[:, 0], "multiclass", 2)
    with pytest.raises(ValueError, match="single output"):
        _targets.target_kind(y, "multiclass-multioutput", 1)


@pytest.mark.parametrize(
    ("loss", "units", "expected"),
    [
        ("categorical_crossentropy", 3, [[0, 0, 1], [1, 0, 0]]),
        ("sparse_categorical_crossentropy", 3, [2, 0]),
        (None, 3, [2, 0]),
    ],
)
def test_encoding_is_chosen_from_the_loss(loss, units, expected):
    encoded = _targets.encode_column(np.array([2, 0]), 3, _head(units, loss))
    np.testing.assert_array_equal(encoded, expected)


def test_binary_one_unit_head_gets_float_zero_one_targets():
    encoded = _targets.encode(
        np.array(["no", "yes", "no"]),
        [np.array(["no", "yes"])],
        [_head(1, "binary_crossentropy", "sigmoid")],
        _targets.BINARY,
    )
    # A column, shaped like the head's output, so custom losses see equal ranks.
    np.testing.assert_array_equal(encoded[0], [[0.0], [1.0], [0.0]])
    assert encoded[0].dtype == np.float32


def test_multioutput_y_is_split_into_one_target_per_head():
    y = np.array([["a", "x"], ["b", "z"], ["a", "y"]], dtype=object)
    classes = _targets.column_classes(y, _targets.MULTIOUTPUT)
    heads = [_head(1, "binary_crossentropy", "sigmoid"), _head(3)]
    first, second = _targets.encode(y, classes, heads, _targets.MULTIOUTPUT)
    np.testing.assert_array_equal(first, [[0], [1], [0]])
    np.testing.assert_array_equal(second, [0, 2, 1])


def test_head_with_wrong_units_names_units_classes_and_a_fix():
    msg = r"output 'dense_2' has 4 units, but y has 3 classes \[.*\]\. For 3 classes"
    with pytest.raises(ValueError, match=msg):
        _targets.check_head_units(
            _head(4, name="dense_2"), np.array(["a", "b", "c"]), "multiclass"
        )


def test_binary_accepts_one_or_two_units():
    for units in (1, 2):
        _targets.check_head_units(_head(units), np.array([0, 1]), _targets.BINARY)
    with pytest.raises(ValueError, match="Dense\\(1, activation='sigmoid'\\)"):
        _targets.check_head_units(_head(3), np.array([0, 1]), _targets.BINARY)


def test_single_class_is_rejected_whatever_the_head():
    with pytest.raises(ValueError, match=r"y contains 1 class \[1\];"):
        _targets.check_enough_classes([np.array([1])], _targets.BINARY)
    with pytest.raises(ValueError, match="1 class \\['a'\\] in column 1"):
        _targets.check_enough_classes(
            [np.array([0, 1]), np.array(["a"])], _targets.MULTIOUTPUT
        )
