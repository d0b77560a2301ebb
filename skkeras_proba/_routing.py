"""Which value each Keras argument takes, as scikeras routes parameters.

scikeras routes an estimator's parameters by prefix: ``fit__batch_size``
goes to ``keras.Model.fit`` only, ``predict__batch_size`` to ``predict``
only, ``score__<name>`` to the ``scorer``; a plain parameter of a name
``keras.Model.fit`` takes goes to ``fit``; and a keyword argument of the call
wins over both. These functions read the estimator's parameters the same
way, for the fit and predict paths that do not go through scikeras' own
``_fit_keras_model`` (compiled epochs, the traced forward pass), so that a
scikeras user's routed parameters mean the same everywhere.
"""

from __future__ import annotations

from numbers import Integral
from typing import Any

from skkeras_proba._common import batch_size_for
from skkeras_proba._compat import Interval
from skkeras_proba._fit import KERAS_FIT_CONSTRAINTS, check_parameters
from skkeras_proba._forward import KERAS_PREDICT_KWARGS

FIT_CALL_ARGUMENTS = frozenset({"epochs", "initial_epoch", "sample_weight"})
"""Keras ``fit`` arguments that every fit sets itself."""

_PREDICT_CONSTRAINTS: dict[str, list[Any]] = {
    "batch_size": KERAS_FIT_CONSTRAINTS["batch_size"],
    "verbose": KERAS_FIT_CONSTRAINTS["verbose"],
    "steps": [Interval(Integral, 1, None, closed="left"), None],
}
"""``keras.Model.predict``'s arguments but ``callbacks``, as ``fit``'s are checked."""


def routed_params(estimator: Any, destination: str) -> dict[str, Any]:
    """Parameters ``<destination>__<name>``, by name, as scikeras routes them."""
    prefix = f"{destination}__"
    return {
        name[len(prefix) :]: value
        for name, value in estimator.get_params(deep=False).items()
        if name.startswith(prefix)
    }


def fit_setting(estimator: Any, name: str, kwargs: dict[str, Any]) -> Any:
    """A ``keras.Model.fit`` argument as scikeras will pass it, or None.

    The call's keyword argument, else ``fit__<name>``, else the estimator's
    parameter of that name if it goes to ``fit`` (``_fit_kwargs``).
    """
    if name in kwargs:
        return kwargs[name]
    if hasattr(estimator, f"fit__{name}"):
        return getattr(estimator, f"fit__{name}")
    return getattr(estimator, name, None) if name in estimator._fit_kwargs else None


def compiled_fit_settings(
    estimator: Any, x: Any, kwargs: dict[str, Any]
) -> dict[str, Any]:
    """A fit's ``keras.Model.fit`` arguments as scikeras routes them, but the data's.

    ``batch_size=-1`` (all rows) is resolved against ``x``, the model's input.
    """
    settings = {
        name: getattr(estimator, name)
        for name in estimator._fit_kwargs - FIT_CALL_ARGUMENTS
        if hasattr(estimator, name)
    }
    routed = {
        name: value
        for name, value in routed_params(estimator, "fit").items()
        if not name.startswith("callbacks") and name not in FIT_CALL_ARGUMENTS
    }
    settings = {**settings, **routed, **kwargs}
    if "batch_size" in settings:
        settings["batch_size"] = batch_size_for(settings["batch_size"], x)
    return settings


def routed_predict_kwargs(estimator: Any) -> dict[str, Any]:
    """``predict__batch_size``, ``predict__verbose``, ... set on the estimator."""
    names = KERAS_PREDICT_KWARGS - {"callbacks"}  # callbacks are built at fit
    routed = {
        name: getattr(estimator, f"predict__{name}")
        for name in names
        if hasattr(estimator, f"predict__{name}")
    }
    _check_predict_arguments(routed, type(estimator).__name__, prefix="predict__")
    return routed


def predict_arguments(estimator: Any, given: dict[str, Any]) -> dict[str, Any]:
    """A prediction's ``keras.Model.predict`` arguments: routed, then the call's.

    ``given`` are the keyword arguments a predict method was called with, as
    scikeras forwards them; any that ``keras.Model.predict`` does not take is
    a ``TypeError``, a value it would not take an ``InvalidParameterError``.
    """
    unknown = set(given) - KERAS_PREDICT_KWARGS
    if unknown:
        raise TypeError(
            f"Got unexpected keyword arguments {sorted(unknown)}. Prediction "
            "takes the arguments of keras.Model.predict: "
            f"{sorted(KERAS_PREDICT_KWARGS)}."
        )
    _check_predict_arguments(given, f"{type(estimator).__name__}.predict")
    return {**routed_predict_kwargs(estimator), **given}


def _check_predict_arguments(
    values: dict[str, Any], caller: str, prefix: str = ""
) -> None:
    """Hold ``values`` to :data:`_PREDICT_CONSTRAINTS`, each named ``prefix + name``."""
    checked = {
        name: value for name, value in values.items() if name in _PREDICT_CONSTRAINTS
    }
    if checked:
        check_parameters(
            {prefix + name: _PREDICT_CONSTRAINTS[name] for name in checked},
            {prefix + name: value for name, value in checked.items()},
            caller,
        )
