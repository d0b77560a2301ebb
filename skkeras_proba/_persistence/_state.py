"""The parameters and fitted state a file restores, each checked for its type.

Every constructor parameter is held to the constraints ``fit`` checks, every
fitted attribute to its type, and the default encoders are rebuilt from their
fitted data, field by field. ``_consistency`` then checks the fields against
each other and against the loaded Keras model. Anything wrong is a
:class:`~skkeras_proba._persistence._checks.Damaged` naming the field.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from numbers import Integral, Real
from typing import Any

import keras
import numpy as np
from scikeras.utils.transformers import RegressorTargetEncoder
from sklearn.base import BaseEstimator
from sklearn.preprocessing import FunctionTransformer

from skkeras_proba import _targets
from skkeras_proba._classifier import KerasClassifier
from skkeras_proba._compat import (
    InvalidParameterError,
    validate_parameter_constraints,
)
from skkeras_proba._encoders import ClassifierTargetEncoder
from skkeras_proba._fit._parameters import OBJECT_PARAMETERS
from skkeras_proba._heads import Head
from skkeras_proba._persistence._checks import (
    Damaged,
    Untrusted,
    UserCode,
    check_code_parameter,
    check_extra_parameter,
    constructor_parameters,
    shadows_class_attribute,
    shown,
)
from skkeras_proba._regressor import KerasRegressor
from skkeras_proba._seed_states import SEED_STATES


def check_parameters(cls: type, params: dict[str, Any], user_code: UserCode) -> None:
    """Raise if a constructor parameter has a type fit would not accept."""
    named = constructor_parameters(cls)
    for name, value in params.items():
        if name not in named:
            check_extra_parameter(cls, name)
        check_code_parameter(name, value, user_code)
    # The constraints fit checks (_validate_params); the parameters holding
    # code or Keras objects are checked as code above (a model is still a
    # reference into the file here).
    constraints = {
        name: constraint
        for name, constraint in cls._parameter_constraints.items()
        if name not in OBJECT_PARAMETERS
    }
    given = {n: params[n] for n in constraints if n in params}
    try:
        validate_parameter_constraints(constraints, given, cls.__name__)
    except InvalidParameterError as error:
        raise Damaged(str(error).rstrip(".")) from None


def _count(value: Any) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool) and value >= 0


def _positive(value: Any) -> bool:
    return _count(value) and value >= 1


def _labels(value: Any) -> bool:
    """Sorted, distinct class labels of one head, as fit finds them."""
    if not (isinstance(value, np.ndarray) and value.ndim == 1 and value.size):
        return False
    try:
        unique = np.unique(value)
    except TypeError:  # labels of types that do not compare
        return False
    return len(unique) == len(value) and bool(np.all(unique == value))


def _label_lists(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(map(_labels, value))


def _names(value: Any) -> bool:
    return (
        isinstance(value, np.ndarray)
        and value.dtype == object
        and value.ndim == 1
        and all(isinstance(name, str) for name in value)
    )


def _history(value: Any) -> bool:
    return (
        isinstance(value, defaultdict)
        and value.default_factory is list
        and all(
            isinstance(key, str)
            and isinstance(values, list)
            and all(isinstance(v, Real) and not isinstance(v, bool) for v in values)
            for key, values in value.items()
        )
    )


def _losses(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, float) for v in value)


_KINDS = (
    _targets.BINARY,
    _targets.MULTICLASS,
    _targets.MULTILABEL,
    _targets.MULTIOUTPUT,
)

# The type of every fitted attribute, with the words an error shows.
_STATE: dict[str, tuple[Callable[[Any], bool], str]] = {
    "X_dtype_": (lambda v: isinstance(v, np.dtype), "a dtype"),
    "X_shape_": (
        lambda v: (
            isinstance(v, tuple)
            and len(v) >= 2
            and all(d is None or _count(d) for d in v)
        ),
        "a tuple of at least two ints (or None)",
    ),
    # Saved by earlier versions after partial_fit; no longer left behind.
    "_partial_fit_classes": (lambda v: v is None, "None"),
    "_random_state": (lambda v: v is None or _count(v), "None or an int"),
    "_user_params": (
        lambda v: isinstance(v, set) and all(isinstance(n, str) for n in v),
        "a set of str",
    ),
    "feature_encoder_": (lambda v: isinstance(v, BaseEstimator), "an encoder"),
    "feature_names_in_": (_names, "an object array of str"),
    "history_": (_history, "a defaultdict(list) of numbers by str"),
    "model_": (lambda v: isinstance(v, keras.Model), "a Keras model"),
    "n_iter_": (_count, "an int >= 0"),
    "loss_curve_": (_losses, "a list of floats"),
    "validation_loss_curve_": (
        lambda v: v is None or _losses(v),
        "None or a list of floats",
    ),
    "best_validation_loss_": (
        lambda v: v is None or isinstance(v, float),
        "None or a float",
    ),
    "n_features_in_": (_positive, "a positive int"),
    SEED_STATES: (
        lambda v: (
            isinstance(v, list)
            and all(isinstance(a, np.ndarray) and a.dtype.kind in "iu" for a in v)
        ),
        "a list of integer arrays",
    ),
    "n_outputs_": (_positive, "a positive int"),
    "n_outputs_expected_": (_positive, "a positive int"),
    "target_encoder_": (lambda v: isinstance(v, BaseEstimator), "an encoder"),
    "target_type_": (lambda v: isinstance(v, str), "a str"),
    "y_dtype_": (lambda v: isinstance(v, np.dtype), "a dtype"),
    "y_ndim_": (lambda v: _count(v) and v in (1, 2), "1 or 2"),
}
_CLASSIFIER_STATE = {
    **_STATE,
    "classes_": (
        lambda v: _labels(v) or _label_lists(v),
        "an array of sorted distinct labels, or a list of them",
    ),
    "n_classes_": (
        lambda v: (
            _positive(v) or (isinstance(v, list) and bool(v) and all(map(_positive, v)))
        ),
        "a positive int or a list of them",
    ),
    "heads_": (
        lambda v: (
            isinstance(v, tuple) and bool(v) and all(isinstance(h, Head) for h in v)
        ),
        "a tuple of Head",
    ),
    "target_kind_": (lambda v: v is None or v in _KINDS, f"None or one of {_KINDS}"),
    "_head_classes": (_label_lists, "a list of arrays of sorted distinct labels"),
}
_REGRESSOR_STATE = {
    **_STATE,
    "_output_units": (
        lambda v: isinstance(v, list) and bool(v) and all(map(_positive, v)),
        "a list of positive ints",
    ),
}
_REQUIRED = ("model_", "n_features_in_", "X_shape_", "feature_encoder_", "y_ndim_")
_CLASSIFIER_REQUIRED = (*_REQUIRED, "heads_", "target_kind_", "n_outputs_")
_REGRESSOR_REQUIRED = (*_REQUIRED, "n_outputs_", "_output_units")
# Attributes a subclass's own target encoder sets (scikeras merges its
# get_metadata() into the estimator): not ours to type.
_TARGET_METADATA = {"classes_", "n_classes_", "target_type_", "n_outputs_expected_"}


def custom_target_encoder(cls: type, state: dict[str, Any]) -> bool:
    """Whether the saved ``target_encoder_`` is a subclass's own, not ours."""
    encoder = state.get("target_encoder_")
    return encoder is not None and type(encoder) is not cls._DEFAULT_TARGET_ENCODER


def check_state(cls: type, state: dict[str, Any]) -> None:
    """Raise if a fitted attribute is missing, unknown or of the wrong type.

    Attributes a subclass adds are the user's: they are plain data by then.
    """
    classifier = issubclass(cls, KerasClassifier)
    schema = _CLASSIFIER_STATE if classifier else _REGRESSOR_STATE
    ours = cls in (KerasClassifier, KerasRegressor)
    custom_encoder = custom_target_encoder(cls, state)
    if ours and custom_encoder:
        raise Damaged(
            f"attribute 'target_encoder_' is a {type(state['target_encoder_'])}, "
            f"but {cls.__name__} encodes y with a {cls._DEFAULT_TARGET_ENCODER}"
        )
    for name in _CLASSIFIER_REQUIRED if classifier else _REGRESSOR_REQUIRED:
        if name not in state:
            raise Damaged(f"attribute {name!r} is missing")
    for name, value in state.items():
        if shadows_class_attribute(cls, name) or not name.isidentifier():
            raise Damaged(f"it sets an attribute {name!r}, which no estimator has")
        if name not in schema or (custom_encoder and name in _TARGET_METADATA):
            if ours:
                raise Damaged(f"it sets an unknown attribute {name!r}")
            continue
        valid, expected = schema[name]
        if not valid(value):
            raise Damaged(f"attribute {name!r} = {shown(value)} is not {expected}")
    _check_training_record(state)


def _check_training_record(state: dict[str, Any]) -> None:
    """Raise if the training attributes contradict each other.

    ``n_iter_`` counts ``loss_curve_``; ``best_validation_loss_`` is one of
    ``validation_loss_curve_`` (both None without early stopping).
    """
    curve = state.get("loss_curve_")
    if "n_iter_" in state and curve is not None and state["n_iter_"] != len(curve):
        raise Damaged(
            f"attribute 'n_iter_' = {shown(state['n_iter_'])} is not the length "
            "of 'loss_curve_'"
        )
    if "best_validation_loss_" not in state:
        return
    best = state["best_validation_loss_"]
    validation = state.get("validation_loss_curve_")
    if (best is None) != (validation is None) or (
        best is not None and best not in validation
    ):
        raise Damaged(
            f"attribute 'best_validation_loss_' = {shown(best)} is not one of "
            "'validation_loss_curve_'"
        )


def rebuild_encoder(
    cls: type,
    params: dict[str, Any],
    state: dict[str, Any],
    user_code: UserCode,
    where: str,
) -> BaseEstimator:
    """A default encoder from its parameters and fitted data, field by field."""
    check, fitted = _ENCODER_FIELDS[cls]
    try:
        check(params, user_code)
        unknown = set(state) - set(fitted)
        if unknown:
            raise Damaged(f"has unknown attributes {sorted(unknown)}")
        for name, value in state.items():
            valid, expected = fitted[name]
            if not valid(value):
                raise Damaged(f"attribute {name!r} = {shown(value)} is not {expected}")
        encoder = cls(**params)
        vars(encoder).update(state)
        if state and cls is ClassifierTargetEncoder:
            _check_classifier_encoder(encoder)
        if state and cls is RegressorTargetEncoder:
            shape = encoder._y_shape
            if encoder.n_outputs_ != (1 if len(shape) == 1 else shape[1]):
                raise Damaged(f"n_outputs_ contradicts its y shape {shape}")
    except (Damaged, Untrusted) as error:
        error.reason = f"{where}, a {cls.__name__}, {error.reason}"
        raise
    return encoder


def _function_transformer_params(params: dict[str, Any], user_code: UserCode) -> None:
    """A FunctionTransformer runs its functions on X: only the user's, or none."""
    unknown = set(params) - set(FunctionTransformer().get_params())
    if unknown:
        raise Damaged(f"has unknown parameters {sorted(unknown)}")
    for name in ("func", "inverse_func", "feature_names_out"):
        value = params.get(name)
        if callable(value) and not user_code(value):
            raise Untrusted(
                f"names {getattr(value, '__qualname__', value)!r} as its {name}"
            )
    try:
        FunctionTransformer(**params)._validate_params()
    except InvalidParameterError as error:
        raise Damaged(str(error).rstrip(".")) from None


def _no_params(params: dict[str, Any], user_code: UserCode) -> None:
    if params:
        raise Damaged(f"has no parameters, got {sorted(params)}")


def _classes_param(params: dict[str, Any], user_code: UserCode) -> None:
    if set(params) - {"classes"} or not (
        params.get("classes") is None or _labels(params["classes"])
    ):
        raise Damaged(f"has the parameters {shown(params)}")


_ENCODER_FIELDS: dict[type, tuple[Callable, dict[str, tuple[Callable, str]]]] = {
    FunctionTransformer: (
        _function_transformer_params,
        {n: _STATE[n] for n in ("n_features_in_", "feature_names_in_")},
    ),
    ClassifierTargetEncoder: (
        _classes_param,
        {
            "target_type_": _STATE["target_type_"],
            "multilabel_": (lambda v: isinstance(v, bool), "a bool"),
            "column_classes_": _CLASSIFIER_STATE["_head_classes"],
            "classes_": _CLASSIFIER_STATE["classes_"],
            "n_classes_": _CLASSIFIER_STATE["n_classes_"],
            "n_outputs_": _STATE["n_outputs_"],
            "n_outputs_expected_": _STATE["n_outputs_expected_"],
        },
    ),
    RegressorTargetEncoder: (
        _no_params,
        {
            "_y_dtype": _STATE["y_dtype_"],
            "_y_shape": (
                lambda v: (
                    isinstance(v, tuple) and len(v) in (1, 2) and all(map(_count, v))
                ),
                "a tuple of one or two ints",
            ),
            "n_outputs_": _STATE["n_outputs_"],
            "n_outputs_expected_": _STATE["n_outputs_expected_"],
        },
    ),
}


def _check_classifier_encoder(encoder: ClassifierTargetEncoder) -> None:
    columns = encoder.column_classes_
    several = isinstance(encoder.classes_, list)
    classes = columns if several else [encoder.classes_]
    n_classes = [len(c) for c in columns] if several else len(columns[0])
    if not same_labels(classes, columns) or encoder.n_classes_ != n_classes:
        raise Damaged("classes_ and n_classes_ contradict its column_classes_")


def same_labels(one: list[np.ndarray], other: list[np.ndarray]) -> bool:
    """Whether two lists of label arrays are equal, dtypes and shapes too."""
    return len(one) == len(other) and all(
        a.dtype == b.dtype and a.shape == b.shape and bool(np.all(a == b))
        for a, b in zip(one, other, strict=True)
    )
