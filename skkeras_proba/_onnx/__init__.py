"""Fitted estimators, and the Pipelines around them, as one ONNX graph.

:func:`to_onnx` registers a converter for :class:`KerasClassifier` and
:class:`KerasRegressor` with ``skl2onnx`` (its public extension point,
``update_registered_converter``) and converts with ``skl2onnx.to_onnx``, so a
Pipeline, a ``CalibratedClassifierCV`` or a ``VotingClassifier`` around our
estimators converts as it does around scikit-learn's own.

Each converter splices two parts into skl2onnx's graph:

- the Keras model, as Keras' own ONNX export writes it for the backend in use
  (``model.export(format="onnx")``: tf2onnx on TensorFlow, jax2onnx on JAX), of
  the model the estimator reads (``_heads.reading_model``: before a final
  softmax/sigmoid where the head is read so);
- ONNX operators that decode those values as ``predict_proba`` does
  (``_decode``): softmax or sigmoid of logits, the one-unit binary expansion to
  ``[1 - p, p]``, per-row normalisation, independent multi-label columns, in
  float64; then ``label``, an ArgMax gathered from ``classes_``.

A model whose operations the exporter cannot convert raises a ValueError that
names the layer, never a graph that computes something else.

The package: this module registers and writes the converters;
``_decoding.py`` writes the decoding operators, ``_keras_export.py`` exports
the Keras model with Keras' own ONNX export and checks what it wrote.

skl2onnx, onnx and the exporter are imported only when a function here runs:
``import skkeras_proba`` never needs them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import keras
import numpy as np

from skkeras_proba import _targets
from skkeras_proba._classifier import KerasClassifier
from skkeras_proba._heads import reading_model
from skkeras_proba._onnx._decoding import Graph, onnx_decision, onnx_proba
from skkeras_proba._onnx._keras_export import keras_onnx_graph
from skkeras_proba._regressor import KerasRegressor

if TYPE_CHECKING:
    import onnx

_CLASSIFIER_ALIAS = "SkkerasProbaKerasClassifier"
_REGRESSOR_ALIAS = "SkkerasProbaKerasRegressor"
_CLASSIFIER_OPTIONS = {
    "zipmap": [True, False, "columns"],
    "nocl": [True, False],
    "raw_scores": [True, False],
}
_MIN_OPSET = 13  # ReduceSum takes its axes as an input from opset 13


def to_onnx(model: Any, X: Any, **kwargs: Any) -> onnx.ModelProto:
    """Convert a fitted estimator, or a Pipeline or ensemble around it, to ONNX.

    Registers the converters of :class:`KerasClassifier` and
    :class:`KerasRegressor` (and of their subclasses) with ``skl2onnx``, then
    calls ``skl2onnx.to_onnx(model, X, **kwargs)``. Once registered,
    skl2onnx's own ``to_onnx`` and ``convert_sklearn`` convert them too.

    A classifier's graph has scikit-learn's two outputs: ``label`` (the
    original labels, ints or strings; for multi-label targets the 0/1
    indicator matrix) and ``probabilities`` (as ``predict_proba``, columns
    ordered as ``classes_``). By skl2onnx's convention the probabilities come
    as a list of dicts unless the option ``zipmap`` is False
    (``options={"zipmap": False}``). A regressor's graph has one output,
    ``variable``, of shape (n_samples, n_targets).

    Parameters
    ----------
    model : estimator
        A fitted KerasClassifier or KerasRegressor, or a fitted scikit-learn
        estimator that skl2onnx converts (Pipeline, CalibratedClassifierCV,
        VotingClassifier...) containing them.
    X : ndarray of shape (n_samples, n_features)
        A few rows of input; their dtype (float32 or float64) and number of
        columns set the graph's input.
    **kwargs : dict
        Passed to ``skl2onnx.to_onnx``: ``options``, ``target_opset``...

    Returns
    -------
    onnx_model : onnx.ModelProto
        Save it with ``onnx_model.SerializeToString()``; serve it with
        ``onnxruntime.InferenceSession``.

    Raises
    ------
    ValueError
        When the estimator cannot be expressed in ONNX: a layer the Keras
        exporter cannot convert (named), Monte Carlo dropout, a custom feature
        or target encoder, a model with several outputs.

    Notes
    -----
    Needs the ``onnx`` extra: ``pip install "skkeras_proba[onnx]"``.
    """
    skl2onnx = _import("skl2onnx")
    register_converters()
    return skl2onnx.to_onnx(model, X, **kwargs)


def register_converters() -> None:
    """Register the converters of both estimators and their subclasses."""
    skl2onnx = _import("skl2onnx")
    for cls in _with_subclasses(KerasClassifier):
        skl2onnx.update_registered_converter(
            cls,
            _alias(cls, _CLASSIFIER_ALIAS),
            _classifier_shapes,
            _convert_classifier,
            options=_CLASSIFIER_OPTIONS,
        )
    for cls in _with_subclasses(KerasRegressor):
        skl2onnx.update_registered_converter(
            cls, _alias(cls, _REGRESSOR_ALIAS), _regressor_shapes, _convert_regressor
        )


def _import(name: str) -> Any:
    try:
        module = __import__(name)
        __import__("onnx")
    except ImportError as error:
        raise ImportError(
            f"Exporting to ONNX needs {error.name!r}, which is not installed. "
            'Install it with: pip install "skkeras_proba[onnx]".'
        ) from error
    return module


def _with_subclasses(cls: type) -> list[type]:
    found = [cls]
    for sub in cls.__subclasses__():
        found.extend(_with_subclasses(sub))
    return found


def _alias(cls: type, base: str) -> str:
    if cls in (KerasClassifier, KerasRegressor):
        return base
    return f"{base}_{cls.__module__}.{cls.__qualname__}"


# --- what can be exported -------------------------------------------------------


def _check_exportable(estimator: Any) -> None:
    """Raise ValueError for what the graph could not compute as we do."""
    name = type(estimator).__name__
    encoder = estimator.feature_encoder_
    is_identity = getattr(encoder, "func", None) is None and hasattr(encoder, "func")
    if not is_identity:
        raise ValueError(
            f"Cannot export this {name} to ONNX: its feature_encoder "
            f"{type(encoder).__name__} runs Python code that ONNX cannot hold. "
            "Move the encoding into a scikit-learn transformer that skl2onnx "
            "converts (a Pipeline step) or into the Keras model."
        )
    if estimator._custom_target_encoder:
        raise ValueError(
            f"Cannot export this {name} to ONNX: its target_encoder "
            f"{type(estimator.target_encoder_).__name__} decodes predictions in "
            "Python. Use the default target encoding to export it."
        )
    if getattr(estimator, "mc_dropout", 0):
        raise ValueError(
            f"Cannot export this {name} to ONNX: mc_dropout={estimator.mc_dropout} "
            "averages random dropout passes, which the exported graph would not "
            "draw. Set mc_dropout=0 (set_params) before exporting."
        )
    kind = getattr(estimator, "target_kind_", None)
    if kind == _targets.MULTIOUTPUT or len(estimator.model_.outputs) != 1:
        raise ValueError(
            f"Cannot export this {name} to ONNX: its model has "
            f"{len(estimator.model_.outputs)} outputs, and a scikit-learn graph "
            "has one label and one probability output. Export one model per "
            "output instead."
        )


# --- shape calculators ----------------------------------------------------------


def _classifier_shapes(operator: Any) -> None:
    from skl2onnx.common.data_types import Int64TensorType, StringTensorType

    estimator = operator.raw_operator
    _check_exportable(estimator)
    n_rows = operator.inputs[0].get_first_dimension()
    options = operator.scope_inst.get_options(estimator, {"nocl": False})
    label_type = StringTensorType if _string_labels(estimator) else Int64TensorType
    if estimator.target_kind_ == _targets.MULTILABEL:
        n_columns = len(estimator.classes_)
        operator.outputs[0].type = Int64TensorType([n_rows, n_columns])
    else:
        n_columns = len(estimator.classes_)
        label_type = Int64TensorType if options["nocl"] else label_type
        operator.outputs[0].type = label_type([n_rows])
    operator.outputs[1].type = _float_type(operator)([n_rows, n_columns])


def _regressor_shapes(operator: Any) -> None:
    estimator = operator.raw_operator
    _check_exportable(estimator)
    n_rows = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = _float_type(operator)([n_rows, estimator.n_outputs_])


def _float_type(operator: Any) -> type:
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType

    if isinstance(operator.inputs[0].type, DoubleTensorType):
        return DoubleTensorType
    return FloatTensorType


def _string_labels(estimator: Any) -> bool:
    """Whether ``label`` holds strings; raise for labels ONNX cannot hold."""
    classes = np.asarray(estimator.classes_)
    if estimator.target_kind_ == _targets.MULTILABEL:
        return False
    if classes.dtype.kind in "biu":
        return False
    if classes.dtype.kind == "f" and np.all(classes == np.round(classes)):
        return False
    if all(isinstance(c, str) for c in classes.tolist()):
        return True
    raise ValueError(
        f"Cannot export classes_ {classes.tolist()!r} to ONNX: an ONNX label is an "
        "integer or a string. Encode y as integers or strings before fitting."
    )


# --- converters -----------------------------------------------------------------


def _convert_classifier(scope: Any, operator: Any, container: Any) -> None:
    from onnx import TensorProto

    estimator = operator.raw_operator
    options = container.get_options(estimator, {"nocl": False, "raw_scores": False})
    graph = Graph(scope, container)
    (head,) = estimator.heads_
    model = reading_model(estimator.model_, estimator.heads_)
    (raw,) = _splice_keras(graph, operator, model)
    z = graph.node("Flatten", [graph.cast(raw, TensorProto.DOUBLE)], axis=1)
    multilabel = estimator.target_kind_ == _targets.MULTILABEL
    proba = onnx_proba(graph, z, head, multilabel)
    if multilabel:
        half = graph.const(np.array(0.5))
        label = graph.cast(graph.node("Greater", [proba, half]), TensorProto.INT64)
    else:
        label = graph.node("ArgMax", [proba], axis=1, keepdims=0)
        if not options["nocl"]:
            label = graph.node("Gather", [graph.const(_label_values(estimator)), label])
    scores = proba
    if options["raw_scores"]:
        scores = onnx_decision(graph, z, head, multilabel)
    out_type = _proto_type(operator.outputs[1])
    graph.identity(label, operator.outputs[0].full_name)
    graph.identity(graph.cast(scores, out_type), operator.outputs[1].full_name)


def _convert_regressor(scope: Any, operator: Any, container: Any) -> None:
    estimator = operator.raw_operator
    graph = Graph(scope, container)
    (raw,) = _splice_keras(graph, operator, estimator.model_)
    flat = graph.node("Flatten", [raw], axis=1)
    out_type = _proto_type(operator.outputs[0])
    graph.identity(graph.cast(flat, out_type), operator.outputs[0].full_name)


def _proto_type(variable: Any) -> int:
    from skl2onnx.common.data_types import guess_proto_type

    return guess_proto_type(variable.type)


def _label_values(estimator: Any) -> np.ndarray:
    classes = np.asarray(estimator.classes_)
    if _string_labels(estimator):
        return np.array([str(c) for c in classes.tolist()], dtype=object)
    return classes.astype(np.int64)


# --- the Keras model --------------------------------------------------------------


def _splice_keras(graph: Graph, operator: Any, model: keras.Model) -> list[str]:
    """Add ``model``'s ONNX graph on the operator's input; its outputs' names."""
    from onnx import TensorProto, helper, numpy_helper

    container, scope = graph.container, graph.scope
    n_features = operator.raw_operator.n_features_in_
    exported = keras_onnx_graph(model, n_features, _target_opset(container))
    features = graph.cast(operator.inputs[0].full_name, TensorProto.FLOAT)
    (keras_input,) = exported.graph.input
    names = {keras_input.name: features, "": ""}

    def renamed(name: str) -> str:
        if name not in names:
            names[name] = scope.get_unique_variable_name(f"keras_{name}")
        return names[name]

    for tensor in exported.graph.initializer:
        array = numpy_helper.to_array(tensor)
        new = renamed(tensor.name)
        container.add_initializer(new, None, None, numpy_helper.from_array(array, new))
    for node in exported.graph.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        container.add_node(
            node.op_type,
            [renamed(name) for name in node.input],
            [renamed(name) for name in node.output],
            op_domain=node.domain,
            name=scope.get_unique_operator_name(f"keras_{node.op_type}"),
            **attrs,
        )
    return [renamed(output.name) for output in exported.graph.output]


def _target_opset(container: Any) -> int:
    from skl2onnx import get_latest_tested_opset_version

    opset = container.target_opset or get_latest_tested_opset_version()
    if opset < _MIN_OPSET:
        raise ValueError(
            f"target_opset={opset} is too old for this export, which needs opset "
            f"{_MIN_OPSET} or later. Pass target_opset={_MIN_OPSET} or later."
        )
    return opset
