"""When ``validate_data`` has nothing to do for a prediction's X.

At one row scikit-learn's ``validate_data`` costs more than a small model's
traced forward pass: about 100 µs here, most of it asking whether X is some
kind of dataframe. Most predictions are handed a plain, finite float ndarray
of the width the estimator was fitted on; for that X,
``validate_data(estimator, X, reset=False)`` returns X itself and warns about
nothing, so it can be skipped. Every other X still goes through
``validate_data``, which raises its usual errors with its usual messages.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def needs_validation(estimator: Any, X: Any) -> bool:
    """Whether ``validate_data(estimator, X, reset=False)`` could change or reject X.

    False only for a 2-D ndarray (not a subclass such as a memmap) of native
    float32 or float64 with at least one row, the fitted ``n_features_in_``
    columns, only finite values, given to an estimator fitted without feature
    names. ``validate_data`` returns such an X unchanged, without a warning.
    """
    if type(X) is not np.ndarray or X.ndim != 2 or X.dtype not in _FLOAT_DTYPES:
        return True
    if X.shape[0] == 0 or X.shape[1] != getattr(estimator, "n_features_in_", None):
        return True
    if hasattr(estimator, "feature_names_in_"):  # validate_data would warn
        return True
    # scikit-learn's own first test: a finite sum means finite values, and an
    # overflowing sum only sends X through the full check.
    with np.errstate(over="ignore"):
        return not np.isfinite(X.sum())
