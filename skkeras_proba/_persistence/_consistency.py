"""A restored estimator's fitted state checked against itself and its Keras model.

After ``_state`` has checked each field's type: classes per head against the
head's units, ``heads_`` against what :func:`~skkeras_proba.inspect_heads`
finds on the model, the number and names of features against the model's
input, the regressor's targets against its outputs, ``mc_dropout`` against
the model's dropout layers. Any contradiction is a
:class:`~skkeras_proba._persistence._checks.Damaged` naming the field.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from sklearn.preprocessing import FunctionTransformer

from skkeras_proba import _targets
from skkeras_proba._classifier import KerasClassifier
from skkeras_proba._forward import Forward
from skkeras_proba._forward._mc_dropout import check_has_dropout
from skkeras_proba._heads import inspect_heads
from skkeras_proba._persistence._checks import (
    Damaged,
    shown,
)
from skkeras_proba._persistence._state import custom_target_encoder, same_labels
from skkeras_proba._seed_states import SEED_STATES, check_seed_states


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
        elif not custom_target_encoder(cls, state):
            raise Damaged("attribute 'target_kind_' is None, for labels it encodes")
    elif not custom_target_encoder(cls, state):
        _check_targets(state, units)
    if SEED_STATES in state:
        try:
            check_seed_states(state["model_"], state[SEED_STATES])
        except ValueError as error:
            raise Damaged(
                f"attribute {SEED_STATES!r} contradicts the model: {error}"
            ) from None
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
    if multioutput != isinstance(saved, list) or not same_labels(
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
