"""The Keras model as Keras' own ONNX export writes it, checked.

``model.export(format="onnx")`` on the backend in use (tf2onnx on TensorFlow,
jax2onnx on JAX); a graph with an operator the exporter could not convert
raises a ValueError naming the layer.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from typing import Any

import keras

# tf2onnx 1.17 writes opsets up to 18; a later target is reached with onnx's
# version converter.
_MAX_TF2ONNX_OPSET = 18
_EXPORTERS = {"tensorflow": "tf2onnx", "jax": "jax2onnx", "torch": "torch.onnx"}


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
