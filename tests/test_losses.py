"""Loss facts read from a compiled model: one canonical name per loss."""

import keras
import pytest

from skkeras_proba._losses import loss_name


@pytest.mark.parametrize(
    ("loss", "name"),
    [
        ("sparse_categorical_crossentropy", "sparse_categorical_crossentropy"),
        ("categorical_crossentropy", "categorical_crossentropy"),
        ("CategoricalCrossentropy", "categorical_crossentropy"),
        (keras.losses.CategoricalCrossentropy(), "categorical_crossentropy"),
        (keras.losses.binary_crossentropy, "binary_crossentropy"),
        (keras.losses.BinaryFocalCrossentropy, "binary_focal_crossentropy"),
        ("mse", "mean_squared_error"),
    ],
)
def test_loss_name_is_canonical_whatever_its_form(loss, name):
    assert loss_name(loss) == name
