"""Walking a built Keras model's graph back from its outputs.

:func:`producer_activation` follows an output tensor back to the activation
applied last to it, looking through a trailing ``Activation``/``Softmax``
layer, nested models and shape-only layers, without building anything.

A head whose last layer applies the softmax or sigmoid itself is read
*before* that activation where the graph allows (``Head.read_from``):
:func:`pre_activation_model` returns the values the activation receives, from
which the probabilities are computed in float64. The model's float32
softmax/sigmoid rounds probabilities within ~1e-8 of 0 or 1 to exactly 0 or 1;
its input does not.

Only Keras is imported here; which activation makes a head emit probabilities
or logits is decided in ``_heads``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import keras

from skkeras_proba._compat import keras_history, producer_call_input
from skkeras_proba._losses import snake_case
from skkeras_proba._proba import SIGMOID, SOFTMAX

if TYPE_CHECKING:
    from collections.abc import Sequence

# Layers that only move values around: the activation that matters is before them.
_PASSTHROUGH_LAYERS = (
    "Dropout",
    "Flatten",
    "Reshape",
    "Identity",
    "ActivityRegularization",
    "GaussianNoise",
    "GaussianDropout",
    "AlphaDropout",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "SpatialDropout3D",
)
# Activations whose output is a probability; every other one yields scores.
PROBABILITY_ACTIVATIONS = {"softmax": SOFTMAX, "sigmoid": SIGMOID}
# Layers whose ``call`` ends with ``self.activation(x)`` (when not None) on a
# result computed from the input and the weights alone: called with no
# activation, they give the values their activation receives.
_LINEAR_THEN_ACTIVATION = ("Dense", "EinsumDense")


def output_names(model: keras.Model) -> list[str]:
    """Names of a model's outputs, in the order the model returns them."""
    names = getattr(model, "output_names", None)
    if names:
        return list(names)
    tensors = graph_outputs(model) or [None]
    # Sequential models have no output names: name a head by its last layer.
    return [
        getattr((keras_history(t) or [None])[0], "name", f"output_{i}")
        for i, t in enumerate(tensors)
    ]


def graph_outputs(model: keras.Model) -> list[Any] | None:
    """A model's symbolic output tensors; None for a model without them."""
    try:
        return list(model.outputs)
    except (AttributeError, ValueError):
        return None  # subclassed models have no symbolic outputs


def _activation_name(fn: Any) -> str:
    name = getattr(fn, "__name__", None) or type(fn).__name__
    return snake_case(name) if name[:1].isupper() else name


BuildTensor = Callable[[], Any]
"""Builds, in the model's graph, the tensor holding a head's pre-activation."""


def producer_activation(tensor: Any) -> tuple[str, BuildTensor | None]:
    """The activation applied last to ``tensor``, following the graph backwards.

    Returns the activation's name and, when it is a softmax or sigmoid whose
    input can be reached, a function building that input as a tensor of the
    same graph (None otherwise). Nothing is built while looking.
    """
    history = keras_history(tensor)
    if history is None:
        return "unknown", None
    operation = history[0]
    kind = type(operation).__name__
    call_input = producer_call_input(tensor)
    if kind in _PASSTHROUGH_LAYERS:
        before = operation.input if call_input is None else call_input
        activation, build = producer_activation(before)
        if call_input is None or _shape(call_input) != _shape(tensor):
            build = None  # the layer moves values: pre-activations would not align
        return activation, build
    if kind in ("Softmax", "Sigmoid", "LogSoftmax", "LogSigmoid"):
        activation = snake_case(kind)  # a layer or a keras.ops op of that name
        on_last_axis = getattr(operation, "axis", -1) in (-1, len(tensor.shape) - 1)
        reachable = call_input is not None and on_last_axis
        return activation, _existing(call_input) if reachable else None
    if isinstance(operation, keras.Model):
        inner = graph_outputs(operation)
        if not inner:
            return "unknown", None
        activation, build_inner = producer_activation(inner[history[2]])
        if build_inner is None or call_input is None:
            return activation, None
        return activation, functools.partial(
            _nested_pre_activation, operation, build_inner, call_input
        )
    if not (hasattr(operation, "activation") and callable(operation.activation)):
        return "unknown", None
    activation = _activation_name(operation.activation)
    if activation not in PROBABILITY_ACTIVATIONS or call_input is None:
        return activation, None
    if kind == "Activation":
        return activation, _existing(call_input)
    unquantized = getattr(operation, "quantization_mode", None) is None
    if kind in _LINEAR_THEN_ACTIVATION and unquantized:
        return activation, functools.partial(_without_activation, operation, call_input)
    return activation, None


def _shape(tensor: Any) -> tuple | None:
    shape = getattr(tensor, "shape", None)
    return None if shape is None else tuple(shape)


def _existing(tensor: Any) -> BuildTensor:
    return lambda: tensor


def _nested_pre_activation(
    model: keras.Model, build_inner: BuildTensor, call_input: Any
) -> Any:
    # A new model over the nested one's layers, called on the outer tensor.
    inner_reader = keras.Model(
        _input_structure(model), build_inner(), name=f"{model.name}_pre_activation"
    )
    return inner_reader(call_input)


def _input_structure(model: keras.Model) -> Any:
    """A model's symbolic inputs, structured as it is called (dict, list...)."""
    if isinstance(model, keras.Sequential):  # its ``input`` is its caller's
        return model.inputs[0]
    return model.input


def _without_activation(layer: keras.layers.Layer, call_input: Any) -> Any:
    return _WithoutActivation(layer)(call_input)


class _IdentityActivationView:
    """Reads through to ``layer``, except that its activation is absent.

    Only reads: the layer itself is never changed, so other threads may keep
    using it while a reading model is built or run.
    """

    activation = None

    def __init__(self, layer: keras.layers.Layer) -> None:
        self._layer = layer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._layer, name)


class _WithoutActivation(keras.layers.Layer):
    """``layer``'s computation up to, not including, its activation.

    Runs the layer's own ``call`` on its own weights (shared, not copied), with
    the layer's dtype policy.
    """

    def __init__(self, layer: keras.layers.Layer) -> None:
        super().__init__(name=f"{layer.name}_pre_activation", dtype=layer.dtype_policy)
        self._view = _IdentityActivationView(layer)
        self._call = type(layer).call

    def call(self, inputs: Any) -> Any:
        return self._call(self._view, inputs)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return self._view.compute_output_shape(input_shape)


def pre_activation_model(
    model: keras.Model, pre_activation: Sequence[bool]
) -> keras.Model:
    """The model returning, for the outputs asked for, what their activation receives.

    ``model`` itself when no output is asked for; otherwise a model over the
    same layers and weights (nothing copied, nothing of ``model`` changed)
    that returns, for each output whose ``pre_activation`` is True, the values
    its final softmax/sigmoid receives, and the other outputs as they are, one
    tensor per output in the order of ``model.outputs``.

    Parameters
    ----------
    model : keras.Model
        A Functional or Sequential model.
    pre_activation : sequence of bool
        One per output; True only where :func:`producer_activation` found a
        way to build the activation's input.

    Returns
    -------
    model : keras.Model
    """
    if not any(pre_activation):
        return model
    outputs = []
    for tensor, before in zip(graph_outputs(model), pre_activation, strict=True):
        if before:
            _, build = producer_activation(tensor)
            tensor = build()
        outputs.append(tensor)
    return keras.Model(
        _input_structure(model), outputs, name=f"{model.name}_pre_activation"
    )
