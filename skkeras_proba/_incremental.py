"""Checks that an incremental fit's y matches what the model was built for.

``partial_fit`` and ``fit`` with ``warm_start=True`` continue training a model
whose output layer was sized for the classes (or targets) of the first fit.
Labels it has no unit for would be encoded as a neighbouring class and trained
on silently; a y of another shape would fail deep inside Keras. Every check
here runs before the model is touched, so a rejected call changes nothing.
NumPy only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Sequence

_SHOWN = 10


def _shown(values: Sequence) -> list:
    values = list(values)
    return values[:_SHOWN] + (["..."] if len(values) > _SHOWN else [])


def check_target_shape(y: np.ndarray, y_ndim: int, n_columns: int) -> None:
    """Raise if y's dimensions or columns differ from the fitted y's.

    Parameters
    ----------
    y : ndarray
        The new target.
    y_ndim : int
        Dimensions of the y the model was built for.
    n_columns : int
        Its number of columns (1 for a 1-d y).
    """
    if y.ndim != y_ndim:
        raise ValueError(
            f"y has {y.ndim} dimension(s), but the model was built for a y with "
            f"{y_ndim}. Pass y of the same shape as in the first fit, or call fit "
            "with warm_start=False to build a new model."
        )
    columns = 1 if y.ndim == 1 else y.shape[1]
    if columns != n_columns:
        raise ValueError(
            f"y has {columns} columns, but the model was built for {n_columns}. "
            "Pass the same target columns as in the first fit, or call fit with "
            "warm_start=False to build a new model."
        )


def _numeric(dtype: np.dtype) -> bool:
    return dtype.kind in "biuf"


def _can_hold(dtype: np.dtype, classes_dtype: np.dtype) -> bool:
    """Whether labels of ``dtype`` can be compared with the fitted classes.

    Numeric labels must cast safely to the classes' dtype (as scikeras
    checks: uint8 after int64 is fine, float64 after int64 is not); strings
    match strings of any length; object labels are compared value by value.
    """
    if object in (dtype, classes_dtype):
        return True
    if _numeric(dtype) and _numeric(classes_dtype):
        return bool(np.can_cast(dtype, classes_dtype))
    return _numeric(dtype) == _numeric(classes_dtype)


def _unknown_labels(column: np.ndarray, classes: np.ndarray) -> list:
    """Labels of ``column`` that are not in ``classes``, sorted where possible."""
    if _numeric(column.dtype) and _numeric(classes.dtype):
        return np.setdiff1d(np.unique(column), classes).tolist()
    # Object labels may mix types (str and int) that NumPy cannot sort.
    unknown = set(column.tolist()) - set(classes.tolist())
    try:
        return sorted(unknown)
    except TypeError:
        return sorted(unknown, key=repr)


def check_known_labels(y: np.ndarray, classes: Sequence[np.ndarray]) -> None:
    """Raise if a column of y holds labels the model has no output unit for.

    Parameters
    ----------
    y : ndarray of shape (n_samples,) or (n_samples, n_columns)
        The new class labels, already checked by :func:`check_target_shape`.
    classes : list of ndarray
        The fitted classes, one array per column of y.
    """
    columns = [y] if y.ndim == 1 else list(y.T)
    for index, (column, known) in enumerate(zip(columns, classes, strict=True)):
        what = f"Column {index} of y" if len(classes) > 1 else "y"
        if not _can_hold(column.dtype, known.dtype):
            raise ValueError(
                f"Got y with dtype {column.dtype}, but the model was built for "
                f"classes {_shown(known.tolist())} of dtype {known.dtype}: "
                f"{what} cannot be cast to {known.dtype} safely. Pass labels of "
                "the same type as in the first fit, e.g. "
                f"y.astype({str(known.dtype)!r})."
            )
        unknown = _unknown_labels(column, known)
        if unknown:
            raise ValueError(
                f"{what} contains labels {_shown(unknown)} "
                f"that the model was not built for; its classes are "
                f"{_shown(known.tolist())}. An incremental fit (partial_fit, or fit "
                "with warm_start=True) can only train on these. To add classes, fit a "
                "new model (warm_start=False), or pass every label to "
                "partial_fit(..., classes=...) on the first call."
            )


def check_indicator(y: np.ndarray) -> None:
    """Raise if a multi-label y is not a 0/1 indicator matrix."""
    values = np.unique(y)
    if not np.isin(values, (0, 1)).all():
        raise ValueError(
            "y is not a 0/1 indicator matrix: it holds "
            f"{_shown(np.setdiff1d(values, (0, 1)).tolist())}. A multi-label model "
            "continues training on 0/1 columns, one per label."
        )


def check_same_classes(classes: Sequence, fitted: np.ndarray) -> None:
    """Raise if ``partial_fit(classes=...)`` differs from the first call's classes."""
    given = np.unique(np.asarray(classes))
    if given.shape != fitted.shape or not np.array_equal(given, fitted):
        raise ValueError(
            f"classes={_shown(given.tolist())} is not the same as on the first call "
            f"to partial_fit, which built the model for {_shown(fitted.tolist())}. "
            "Pass the same classes, or leave classes out after the first call."
        )
