"""The constraints of every constructor parameter, and of routed ``fit__*`` values.

scikeras checks none of its parameters: ``epochs=-1`` or ``batch_size=0`` are
accepted silently, ``epochs="ten"`` fails deep inside Keras. Declared here as
scikit-learn declares its own (``_parameter_constraints``), they are checked
by ``BaseEstimator._validate_params`` at the top of every fit, before any
model is built. What scikeras accepts stays accepted: a batch size of -1 (all
rows), callbacks as a dict or a single callback or class, optimizers and
losses as names, classes or instances.
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any

import keras

from skkeras_proba._compat import (
    Interval,
    InvalidParameterError,
    Options,
    StrOptions,
    validate_parameter_constraints,
)

_BATCH_SIZE = [
    Interval(Integral, 1, None, closed="left"),
    Options(Integral, {-1}),
    None,
]

KERAS_FIT_CONSTRAINTS: dict[str, list[Any]] = {
    "batch_size": _BATCH_SIZE,
    "validation_batch_size": _BATCH_SIZE,
    "verbose": [Interval(Integral, 0, 2, closed="both"), StrOptions({"auto"})],
    "validation_split": [Interval(Real, 0, 1, closed="left")],
    "shuffle": ["boolean", StrOptions({"batch"})],
    "epochs": [Interval(Integral, 0, None, closed="left")],
}
"""Parameters scikeras passes to ``keras.Model.fit``: also checked as ``fit__*``."""

SCIKERAS_CONSTRAINTS: dict[str, list[Any]] = {
    **KERAS_FIT_CONSTRAINTS,
    "model": [callable, None],
    "build_fn": [callable, None],
    "warm_start": ["boolean"],
    "random_state": ["random_state"],
    "optimizer": [str, dict, keras.optimizers.Optimizer, type],
    "loss": [str, dict, list, tuple, callable, None],
    "metrics": [list, tuple, dict, str, callable, None],
    "callbacks": [list, dict, keras.callbacks.Callback, type, None],
    "run_eagerly": ["boolean"],
}
"""scikeras' constructor parameters."""

OBJECT_PARAMETERS = frozenset(
    {"model", "build_fn", "optimizer", "loss", "metrics", "callbacks"}
)
"""The parameters above that hold code or Keras objects, not plain data."""

TRAINING_CONTROL_CONSTRAINTS: dict[str, list[Any]] = {
    "early_stopping": ["boolean"],
    "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
    "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
    "tol": [Interval(Real, 0, None, closed="left")],
}
"""The early stopping parameters, with ``MLPClassifier``'s constraints."""


def check_fit_arguments(estimator: Any, kwargs: dict[str, Any]) -> None:
    """Check routed ``fit__*`` parameters and ``fit`` keyword arguments.

    Each is held to the constraint of the constructor parameter of the same
    name, raising scikit-learn's ``InvalidParameterError`` naming it.
    """
    params = estimator.get_params(deep=False)
    given = {
        f"fit__{name}": params[f"fit__{name}"]
        for name in KERAS_FIT_CONSTRAINTS
        if f"fit__{name}" in params
    }
    given.update(
        {name: kwargs[name] for name in KERAS_FIT_CONSTRAINTS if name in kwargs}
    )
    constraints = {
        key: KERAS_FIT_CONSTRAINTS[key.removeprefix("fit__")] for key in given
    }
    check_parameters(constraints, given, type(estimator).__name__)


def check_parameters(
    constraints: dict[str, list[Any]], params: dict[str, Any], caller: str
) -> None:
    """scikit-learn's check of ``params`` against ``constraints``, for any value.

    scikit-learn's error message shows the rejected value with ``repr``, which
    exceeds Python's recursion limit on a value nested thousands deep: that
    value is rejected with the same ``InvalidParameterError``, naming it.
    """
    try:
        validate_parameter_constraints(constraints, params, caller)
    except RecursionError:
        name = next(name for name, value in params.items() if not _printable(value))
        raise InvalidParameterError(
            f"The {name!r} parameter of {caller} is nested too deeply to be "
            "checked or shown. Give it a value of the documented type."
        ) from None


def _printable(value: Any) -> bool:
    try:
        repr(value)
    except RecursionError:
        return False
    return True
