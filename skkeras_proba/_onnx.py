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

skl2onnx, onnx and the exporter are imported only when a function here runs:
``import skkeras_proba`` never needs them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from typing import TYPE_CHECKING, Any

import keras
import numpy as np

from skkeras_proba import _targets
from skkeras_proba._classifier import KerasClassifier
from skkeras_proba._heads import Head, reading_model
from skkeras_proba._proba import SOFTMAX
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
# tf2onnx 1.17 writes opsets up to 18; a later target is reached with onnx's
# version converter.
_MAX_TF2ONNX_OPSET = 18
_MIN_OPSET = 13  # ReduceSum takes its axes as an input from opset 13
_EXPORTERS = {"tensorflow": "tf2onnx", "jax": "jax2onnx", "torch": "torch.onnx"}
_TINY = float(np.finfo(np.float64).tiny)
_ONE_MINUS_EPS = 1.0 - float(np.finfo(np.float64).eps)


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


class _Graph:
    """Adds nodes and constants to skl2onnx's container under unique names."""

    def __init__(self, scope: Any, container: Any) -> None:
        self.scope = scope
        self.container = container

    def node(self, op_type: str, inputs: list[str], **attrs: Any) -> str:
        output = self.scope.get_unique_variable_name(op_type.lower())
        self.container.add_node(
            op_type,
            inputs,
            [output],
            name=self.scope.get_unique_operator_name(op_type),
            **attrs,
        )
        return output

    def const(self, value: Any) -> str:
        from onnx import TensorProto, numpy_helper

        name = self.scope.get_unique_variable_name("const")
        if np.asarray(value).dtype == object:  # strings: no raw_data in ONNX
            content = [str(v).encode("utf-8") for v in value]
            self.container.add_initializer(
                name, TensorProto.STRING, [len(content)], content
            )
            return name
        self.container.add_initializer(
            name, None, None, numpy_helper.from_array(np.asarray(value), name)
        )
        return name

    def cast(self, name: str, to: int) -> str:
        return self.node("Cast", [name], to=to)

    def identity(self, name: str, output: str) -> None:
        self.container.add_node(
            "Identity", [name], [output], name=self.scope.get_unique_operator_name("Id")
        )


def _convert_classifier(scope: Any, operator: Any, container: Any) -> None:
    from onnx import TensorProto

    estimator = operator.raw_operator
    options = container.get_options(estimator, {"nocl": False, "raw_scores": False})
    graph = _Graph(scope, container)
    (head,) = estimator.heads_
    model = reading_model(estimator.model_, estimator.heads_)
    (raw,) = _splice_keras(graph, operator, model)
    z = graph.node("Flatten", [graph.cast(raw, TensorProto.DOUBLE)], axis=1)
    multilabel = estimator.target_kind_ == _targets.MULTILABEL
    proba = _proba(graph, z, head, multilabel)
    if multilabel:
        half = graph.const(np.array(0.5))
        label = graph.cast(graph.node("Greater", [proba, half]), TensorProto.INT64)
    else:
        label = graph.node("ArgMax", [proba], axis=1, keepdims=0)
        if not options["nocl"]:
            label = graph.node("Gather", [graph.const(_label_values(estimator)), label])
    scores = _decision(graph, z, head, multilabel) if options["raw_scores"] else proba
    out_type = _proto_type(operator.outputs[1])
    graph.identity(label, operator.outputs[0].full_name)
    graph.identity(graph.cast(scores, out_type), operator.outputs[1].full_name)


def _convert_regressor(scope: Any, operator: Any, container: Any) -> None:
    estimator = operator.raw_operator
    graph = _Graph(scope, container)
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


# --- decoding, as _decode and _proba do it, in ONNX operators ---------------------


def _proba(graph: _Graph, z: str, head: Head, multilabel: bool) -> str:
    """``_decode.head_proba`` of the head's values ``z`` (float64, 2-d)."""
    logits = head.reads_logits
    if multilabel and head.link != SOFTMAX:
        return graph.node("Sigmoid", [z]) if logits else z
    if head.units == 1:
        if logits:  # sigmoid(-z), not 1 - sigmoid(z), as _proba.predict_proba
            negative = graph.node("Sigmoid", [graph.node("Neg", [z])])
            return graph.node("Concat", [negative, graph.node("Sigmoid", [z])], axis=1)
        one_minus = graph.node("Sub", [graph.const(np.array(1.0)), z])
        return graph.node("Concat", [one_minus, z], axis=1)
    if head.link == SOFTMAX and logits:
        return graph.node("Softmax", [z], axis=1)
    p = graph.node("Sigmoid", [z]) if logits else z
    return graph.node("Div", [p, _row_sum(graph, p)])


def _row_sum(graph: _Graph, p: str) -> str:
    return graph.node("ReduceSum", [p, graph.const(np.array([1]))], keepdims=1)


def _decision(graph: _Graph, z: str, head: Head, multilabel: bool) -> str:
    """``_decode.head_decision`` of ``z``, two columns ``[-d, d]`` for binary.

    skl2onnx's parents (``CalibratedClassifierCV``) read decision values from
    the probability output when they set the ``raw_scores`` option, one
    column per class, as its linear classifiers write them.
    """
    logits = head.reads_logits
    if multilabel and head.link != SOFTMAX:
        return z if logits else _logit(graph, z)
    if head.units == 1:
        d = z if logits else _logit(graph, z)
        return graph.node("Concat", [graph.node("Neg", [d]), d], axis=1)
    if head.link == SOFTMAX and logits:
        scores = z
    else:
        scores = graph.node("Log", [_proba(graph, z, head, multilabel)])
    if head.units == 2 and not multilabel:
        zero = graph.const(np.array([0]))
        one = graph.const(np.array([1]))
        d = graph.node(
            "Sub",
            [
                graph.node("Gather", [scores, one], axis=1),
                graph.node("Gather", [scores, zero], axis=1),
            ],
        )
        return graph.node("Concat", [graph.node("Neg", [d]), d], axis=1)
    return scores


def _logit(graph: _Graph, p: str) -> str:
    """``_proba.logit``: log-odds of probabilities, clipped to stay finite."""
    clipped = graph.node(
        "Clip", [p, graph.const(np.array(_TINY)), graph.const(np.array(_ONE_MINUS_EPS))]
    )
    one_minus = graph.node("Sub", [graph.const(np.array(1.0)), clipped])
    return graph.node(
        "Sub", [graph.node("Log", [clipped]), graph.node("Log", [one_minus])]
    )


# --- the Keras model --------------------------------------------------------------


def _splice_keras(graph: _Graph, operator: Any, model: keras.Model) -> list[str]:
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
    from skl2onnx.common._topology import get_latest_tested_opset_version

    opset = container.target_opset or get_latest_tested_opset_version()
    if opset < _MIN_OPSET:
        raise ValueError(
            f"target_opset={opset} is too old for this export, which needs opset "
            f"{_MIN_OPSET} or later. Pass target_opset={_MIN_OPSET} or later."
        )
    return opset


def keras_onnx_graph(model: keras.Model, n_features: int, opset: int) -> Any:
    """``model`` exported by Keras' own ONNX export, at ``opset``, checked.

    Parameters
    ----------
    model : keras.Model
        A built model taking a float32 matrix of ``n_features`` columns.
    n_features : int
        Columns of its input.
    opset : int
        Opset of the default ONNX domain wanted.

    Returns
    -------
    graph : onnx.ModelProto
        Only operators of ONNX's standard domains, no subgraphs.

    Raises
    ------
    ValueError
        Naming the layer whose operations the exporter could not convert.
    """
    try:
        exported = _export(model, (None, n_features), opset)
        problem = _unconvertible(exported)
    except Exception as error:  # the exporter's own exception: say which layer
        exported, problem = None, f"{type(error).__name__}: {error}"
    if problem is None:
        return exported
    layer = _first_unconvertible_layer(model)
    where = f"layer {layer.name!r} ({type(layer).__name__})" if layer else "model"
    raise ValueError(
        f"Cannot export the Keras model to ONNX: Keras' ONNX export "
        f"({_EXPORTERS.get(keras.backend.backend(), keras.backend.backend())}) "
        f"cannot convert the {where}: {problem}. Rewrite that layer with "
        "operations the exporter converts (keras.layers, keras.ops), or serve "
        "the estimator in Python."
    )


def _export(model: keras.Model, shape: tuple, opset: int) -> Any:
    import onnx
    from onnx import version_converter

    backend = keras.backend.backend()
    export_opset = min(opset, _MAX_TF2ONNX_OPSET) if backend == "tensorflow" else opset
    spec = keras.InputSpec(shape=shape, dtype="float32")
    with tempfile.TemporaryDirectory() as folder, _quiet_exporter():
        path = os.path.join(folder, "model.onnx")
        model.export(
            path,
            format="onnx",
            verbose=False,
            input_signature=[spec],
            opset_version=export_opset,
        )
        exported = onnx.load(path)
    if _default_opset(exported) != opset:
        exported = version_converter.convert_version(exported, opset)
    return exported


def _default_opset(exported: Any) -> int:
    return next(o.version for o in exported.opset_import if o.domain in ("", "ai.onnx"))


@contextlib.contextmanager
def _quiet_exporter():
    """Silence tf2onnx's log: what it could not convert is reported by us."""
    logger = logging.getLogger("tf2onnx")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def _unconvertible(exported: Any) -> str | None:
    """What in an exported graph is not standard ONNX, or None."""
    import onnx

    unknown = sorted(
        {n.op_type for n in exported.graph.node if not _is_standard(n.domain, n)}
    )
    if unknown:
        return f"it has no ONNX conversion for the operation(s) {unknown}"
    nested = sorted(
        {
            n.op_type
            for n in exported.graph.node
            for a in n.attribute
            if a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)
        }
    )
    if nested:
        return f"it wrote control flow ({nested}), which this export cannot splice"
    return None


def _is_standard(domain: str, node: Any) -> bool:
    import onnx

    return domain in ("", "ai.onnx", "ai.onnx.ml") and onnx.defs.has(
        node.op_type, domain
    )


def _first_unconvertible_layer(model: keras.Model) -> keras.layers.Layer | None:
    """The first layer whose export on its own fails, or None if none does.

    Only on the error path: each layer is exported on its own, as a model from
    its input to its output (layers called once in a Functional or Sequential
    graph).
    """
    for layer in _leaf_layers(model):
        try:
            alone = keras.Model(layer.input, layer.output)
            shape = tuple(alone.inputs[0].shape)
        except (AttributeError, ValueError, TypeError):
            continue  # not a single-call layer of a graph: cannot be isolated
        try:
            problem = _unconvertible(_export(alone, shape, _MAX_TF2ONNX_OPSET))
        except Exception as error:  # the exporter's own failure: what we look for
            problem = str(error)
        if problem is not None:
            return layer
    return None


def _leaf_layers(model: keras.Model) -> list[keras.layers.Layer]:
    leaves = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            leaves.extend(_leaf_layers(layer))
        elif not isinstance(layer, keras.layers.InputLayer):
            leaves.append(layer)
    return leaves
