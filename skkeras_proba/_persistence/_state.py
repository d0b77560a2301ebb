"""The parameters and fitted state a file restores, checked before load returns.

Each field is checked for its type, then against the others and against the
loaded Keras model: classes per head against the head's units, ``heads_``
against what :func:`~skkeras_proba.inspect_heads` finds on the model, the
number and names of features against the model's input. The default encoders
are rebuilt from their fitted data, field by field. Any contradiction is a
:class:`~skkeras_proba._persistence._checks.Damaged` naming the field.
"""

from __future__ import annotations

import dataclasses
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
from skkeras_proba._forward import Forward
from skkeras_proba._forward._mc_dropout import check_has_dropout
from skkeras_proba._heads import Head, inspect_heads
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


def _custom_target_encoder(cls: type, state: dict[str, Any]) -> bool:
    encoder = state.get("target_encoder_")
    return encoder is not None and type(encoder) is not cls._DEFAULT_TARGET_ENCODER


def check_state(cls: type, state: dict[str, Any]) -> None:
    """Raise if a fitted attribute is missing, unknown or of the wrong type.

    Attributes a subclass adds are the user's: they are plain data by then.
    """
    classifier = issubclass(cls, KerasClassifier)
    schema = _CLASSIFIER_STATE if classifier else _REGRESSOR_STATE
    ours = cls in (KerasClassifier, KerasRegressor)
    custom_encoder = _custom_target_encoder(cls, state)
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
    if not _same_labels(classes, columns) or encoder.n_classes_ != n_classes:
        raise Damaged("classes_ and n_classes_ contradict its column_classes_")


def _same_labels(one: list[np.ndarray], other: list[np.ndarray]) -> bool:
    return len(one) == len(other) and all(
        a.dtype == b.dtype and a.shape == b.shape and bool(np.all(a == b))
        for a, b in zip(one, other, strict=True)
    )


def check_against_model(
    cls: type, params: dict[str, Any], state: dict[str, Any]
) -> None:
    """Raise if the fitted state contradicts itself or the loaded ``model_``."""
    _check_features(state)
    units = _output_units(state)
    if issubclass(cls, KerasClassifier):
        _check_heads(params, state, units)
        if state["target_kind_"] is not None:
            _check_classes(state)
        elif not _custom_target_encoder(cls, state):
            raise Damaged("attribute 'target_kind_' is None, for labels it encodes")
    elif not _custom_target_encoder(cls, state):
        _check_targets(state, units)
    if params.get("mc_dropout"):
        try:
            check_has_dropout(state["model_"], params["mc_dropout"])
        except ValueError as error:
            raise Damaged(
                f"parameter 'mc_dropout' contradicts the model: {error}"
            ) from None


def _check_features(state: dict[str, Any]) -> None:
    n_features, shape = state["n_features_in_"], state["X_shape_"]
    if shape[1] != n_features:
        raise Damaged(
            f"attribute 'n_features_in_' = {n_features} contradicts X_shape_ = {shape}"
        )
    names = state.get("feature_names_in_")
    if names is not None and names.shape != (n_features,):
        raise Damaged(
            f"attribute 'feature_names_in_' has {len(names)} names for "
            f"{n_features} features"
        )
    encoder = state["feature_encoder_"]
    if not isinstance(encoder, FunctionTransformer) or encoder.func is not None:
        return  # the user's encoder decides what the model gets
    if getattr(encoder, "n_features_in_", n_features) != n_features:
        raise Damaged(
            f"the feature encoder's n_features_in_ = {encoder.n_features_in_} "
            f"contradicts n_features_in_ = {n_features}"
        )
    inputs = getattr(state["model_"], "inputs", None)
    if inputs and len(inputs) == 1:
        expected = tuple(inputs[0].shape[1:])
        if len(expected) != len(shape) - 1 or any(
            e is not None and e != s for e, s in zip(expected, shape[1:], strict=True)
        ):
            raise Damaged(
                f"attribute 'X_shape_' = {shape} contradicts the model's input "
                f"shape {(None, *expected)}"
            )


def _output_units(state: dict[str, Any]) -> list[int]:
    """Units of each output of the model: from its graph, else from one call."""
    model = state["model_"]
    outputs = getattr(model, "outputs", None)
    if outputs:
        return [int(t.shape[-1]) if t.shape else 1 for t in outputs]
    shape = (1, *state["X_shape_"][1:])
    X = np.zeros(shape, dtype=state.get("X_dtype_", np.float32))
    encoder = state["feature_encoder_"]
    if not isinstance(encoder, FunctionTransformer) or encoder.func is not None:
        X = encoder.transform(X)
    return [int(output.shape[-1]) for output in Forward(model)(X)]


def _check_heads(params: dict[str, Any], state: dict[str, Any], units: list[int]):
    """``heads_`` must be what inspecting the model finds (``logits`` decided)."""
    logits = params.get("logits", "auto")
    try:
        found = inspect_heads(state["model_"], logits, output_units=units)
    except ValueError as error:  # e.g. one logits value per output
        raise Damaged(f"parameter 'logits' contradicts the model: {error}") from None
    heads = state["heads_"]
    if len(heads) != len(found):
        raise Damaged(
            f"attribute 'heads_' has {len(heads)} heads; the model has "
            f"{len(found)} outputs"
        )
    for head, inspected in zip(heads, found, strict=True):
        # Undecided from the graph: fit decided it from the outputs.
        if inspected.logits is None and isinstance(head.logits, bool):
            inspected = dataclasses.replace(inspected, logits=head.logits)
        if head != inspected:
            raise Damaged(
                f"attribute 'heads_' contradicts the model: the file says {head}, "
                f"the model's output is {inspected}"
            )


def _check_classes(state: dict[str, Any]) -> None:
    kind, heads = state["target_kind_"], state["heads_"]
    classes = state.get("_head_classes")
    if classes is None or len(classes) != len(heads):
        raise Damaged(
            f"attribute '_head_classes' does not give classes for each of the "
            f"{len(heads)} heads"
        )
    try:
        _targets.check_enough_classes(classes, kind)
        for head, head_classes in zip(heads, classes, strict=True):
            _targets.check_head_units(head, head_classes, kind)
    except ValueError as error:
        raise Damaged(f"attribute 'classes_' contradicts the model: {error}") from None
    one_column = kind in (_targets.BINARY, _targets.MULTICLASS)
    if one_column and (kind == _targets.BINARY) != (len(classes[0]) == 2):
        raise Damaged(
            f"attribute 'target_kind_' = {kind!r} for {len(classes[0])} classes"
        )
    multioutput = kind == _targets.MULTIOUTPUT
    saved = state.get("classes_")
    if multioutput != isinstance(saved, list) or not _same_labels(
        saved if multioutput else [saved], classes
    ):
        raise Damaged(f"attribute 'classes_' = {shown(saved)} contradicts heads_")
    n_classes = [len(c) for c in classes] if multioutput else len(classes[0])
    if state.get("n_classes_") != n_classes:
        raise Damaged(
            f"attribute 'n_classes_' = {state.get('n_classes_')} is not {n_classes}"
        )
    n_outputs = len(heads) if multioutput else 1
    if kind == _targets.MULTILABEL:
        n_outputs = len(classes[0])
    _expect(state, "n_outputs_", n_outputs)
    _expect(state, "y_ndim_", 1 if one_column else 2)
    _check_encoder_outputs(state)


def _check_targets(state: dict[str, Any], units: list[int]) -> None:
    _expect(state, "_output_units", units)
    _expect(state, "n_outputs_", sum(units))
    _expect(state, "y_ndim_", 1 if sum(units) == 1 else 2)
    _check_encoder_outputs(state)


def _check_encoder_outputs(state: dict[str, Any]) -> None:
    """The default target encoder saw the columns of y the estimator did."""
    encoder = state.get("target_encoder_")
    if encoder is not None and hasattr(encoder, "n_outputs_"):
        seen = {"target_encoder_.n_outputs_": encoder.n_outputs_}
        _expect(seen, "target_encoder_.n_outputs_", state["n_outputs_"])


def _expect(state: dict[str, Any], name: str, expected: Any) -> None:
    if state.get(name) != expected:
        raise Damaged(
            f"attribute {name!r} = {shown(state.get(name))} contradicts the "
            f"model and the other attributes, which give {expected!r}"
        )
