"""``needs_validation``: skipping ``validate_data`` only where it is a no-op.

Checked against scikit-learn itself: wherever ``needs_validation`` says no,
``validate_data`` returns the very same array and warns about nothing; every
other kind of X is sent through it.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import validate_data

from skkeras_proba._validation import needs_validation

X = load_iris().data
FITTED = StandardScaler().fit(X)  # any estimator fitted by validate_data will do
FRAME_FITTED = StandardScaler().fit(pd.DataFrame(X, columns=list("abcd")))


def with_value(value):
    bad = X.copy()
    bad[3, 1] = value
    return bad


INPUTS_THAT_NEED_IT = {
    "a list": X.tolist(),
    "a dataframe": pd.DataFrame(X, columns=list("abcd")),
    "integers": X.astype(np.int64),
    "float16": X.astype(np.float16),
    "big-endian floats": X.astype(">f8"),
    "a memmap-like subclass": X.view(np.memmap),
    "one dimension": X[:, 0],
    "three dimensions": X[:, :, np.newaxis],
    "no rows": X[:0],
    "too few columns": X[:, :3],
    "NaN": with_value(np.nan),
    "infinity": with_value(-np.inf),
    "a sum that overflows": np.full((2, 4), np.finfo(np.float64).max),
}


@pytest.mark.parametrize("X_in", INPUTS_THAT_NEED_IT.values(), ids=INPUTS_THAT_NEED_IT)
def test_anything_but_a_plain_finite_float_array_is_validated(X_in):
    assert needs_validation(FITTED, X_in)


@pytest.mark.parametrize(
    "X_in",
    [X, X.astype(np.float32), X[:1], np.asfortranarray(X), X[::2], X[:, ::-1]],
    ids=["float64", "float32", "one row", "fortran order", "row stride", "reversed"],
)
def test_validate_data_returns_a_plain_float_array_itself_without_warning(X_in):
    assert not needs_validation(FITTED, X_in)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        validated = validate_data(FITTED, X_in, reset=False, dtype="numeric")
    assert validated is X_in


def test_an_estimator_fitted_on_feature_names_always_validates():
    # validate_data warns that an ndarray has no feature names
    assert needs_validation(FRAME_FITTED, X)
    with pytest.warns(UserWarning, match="X does not have valid feature names"):
        validate_data(FRAME_FITTED, X, reset=False)


def test_an_unfitted_estimator_always_validates():
    assert needs_validation(StandardScaler(), X)
