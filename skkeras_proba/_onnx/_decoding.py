"""Decoding in ONNX operators, as ``_decode`` and ``_proba`` do it in NumPy.

The values a head is read from (float64, 2-d) become ``predict_proba``'s
probabilities (:func:`onnx_proba`) or ``decision_function``'s scores
(:func:`onnx_decision`), written into skl2onnx's graph through :class:`Graph`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from skkeras_proba._proba import SOFTMAX

if TYPE_CHECKING:
    from skkeras_proba._heads import Head

_TINY = float(np.finfo(np.float64).tiny)
_ONE_MINUS_EPS = 1.0 - float(np.finfo(np.float64).eps)


class Graph:
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


def onnx_proba(graph: Graph, z: str, head: Head, multilabel: bool) -> str:
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


def _row_sum(graph: Graph, p: str) -> str:
    return graph.node("ReduceSum", [p, graph.const(np.array([1]))], keepdims=1)


def onnx_decision(graph: Graph, z: str, head: Head, multilabel: bool) -> str:
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
        scores = graph.node("Log", [onnx_proba(graph, z, head, multilabel)])
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


def _logit(graph: Graph, p: str) -> str:
    """``_proba.logit``: log-odds of probabilities, clipped to stay finite."""
    clipped = graph.node(
        "Clip", [p, graph.const(np.array(_TINY)), graph.const(np.array(_ONE_MINUS_EPS))]
    )
    one_minus = graph.node("Sub", [graph.const(np.array(1.0)), clipped])
    return graph.node(
        "Sub", [graph.node("Log", [clipped]), graph.node("Log", [one_minus])]
    )
