"""Read a built Keras model and describe each of its output heads.

This is where "does this model output probabilities or logits, softmax or
sigmoid?" is decided, once per head, in this order:

1. ``override`` -- the user said so (the estimator's ``logits`` parameter);
2. ``loss``     -- the head was compiled with a loss that has ``from_logits=True``;
3. ``layer``    -- the layer (or op) producing the output has a softmax/sigmoid
   activation (probabilities) or a linear one (logits), looking through a
   trailing ``Activation``/``Softmax`` layer, nested models and shape-only layers;
4. ``outputs``  -- the graph cannot be read (custom layers, subclassed models):
   decided from the model's outputs on training data, see :func:`resolve_heads`.

A head whose last layer applies the softmax or sigmoid itself is then read
*before* that activation where the graph allows (``Head.read_from``):
:func:`reading_model` returns the values the activation receives, from which
the probabilities are computed in float64. The model's float32 softmax/sigmoid
rounds probabilities within ~1e-8 of 0 or 1 to exactly 0 or 1; its input does
not.

Only Keras is imported here; the maths lives in ``skkeras_proba._proba``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import warnings
from collections.abc import Callable, Sequence
from typing import Any, Literal

import keras
import numpy as np

from skkeras_proba._compat import producer_call_input
from skkeras_proba._proba import SIGMOID, SOFTMAX, looks_like_probabilities

LogitsOption = Literal["auto"] | bool

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
_PROBABILITY_ACTIVATIONS = {"softmax": SOFTMAX, "sigmoid": SIGMOID}
# Layers whose ``call`` ends with ``self.activation(x)`` (when not None) on a
# result computed from the input and the weights alone: called with no
# activation, they give the values their activation receives.
_LINEAR_THEN_ACTIVATION = ("Dense", "EinsumDense")
READ_OUTPUT = "output"
READ_PRE_ACTIVATION = "pre_activation"

# Losses by the target encoding they need and the link they imply.
ONE_HOT_LOSSES = frozenset(
    {"categorical_crossentropy", "categorical_focal_crossentropy", "kl_divergence"}
)
INTEGER_LOSSES = frozenset({"sparse_categorical_crossentropy"})
BINARY_LOSSES = frozenset({"binary_crossentropy", "binary_focal_crossentropy"})
_LOSS_ALIASES = {
    "cce": "categorical_crossentropy",
    "scce": "sparse_categorical_crossentropy",
    "bce": "binary_crossentropy",
    "kld": "kl_divergence",
    "kullback_leibler_divergence": "kl_divergence",
}


@dataclasses.dataclass(frozen=True)
class Head:
    """What one output of a Keras model emits.

    Attributes
    ----------
    name : str
        The output's name in the model (``model.output_names``).
    units : int
        Size of the output's last axis.
    activation : str
        The final activation found in the graph (``"softmax"``, ``"sigmoid"``,
        ``"linear"``, another activation's name) or ``"unknown"``.
    loss : str or None
        Canonical name of the loss compiled for this head, if known.
    link : {"softmax", "sigmoid"}
        How scores map to probabilities: one distribution over the units, or one
        independent probability per unit.
    logits : bool or None
        True when the head emits unnormalised scores, False when it emits
        probabilities, None while undecided (the estimator then decides it
        from the model's outputs on the training data).
    source : {"override", "loss", "layer", "outputs"}
        Why ``logits`` has its value.
    read_from : {"output", "pre_activation"}
        Which values the estimator reads. ``"pre_activation"``: the head's
        last layer applies the softmax/sigmoid itself and the values that
        activation receives are read instead, so that probabilities are
        computed in float64 and are exactly 0 or 1 only where float64 says
        so. ``"output"``: what the model returns; for a probability head this
        means its graph could not be followed back to those values (a custom
        layer, a subclassed model, a quantized layer), and probabilities
        closer to 0 or 1 than float32 resolves are exactly 0 or 1.
    """

    name: str
    units: int
    activation: str
    loss: str | None
    link: str
    logits: bool | None
    source: str
    read_from: str = READ_OUTPUT

    @property
    def reads_logits(self) -> bool | None:
        """Whether the values read (see ``read_from``) are unnormalised scores."""
        return self.logits or self.read_from == READ_PRE_ACTIVATION


def loss_name(loss: Any) -> str | None:
    """Canonical snake_case name of a Keras loss given in any accepted form."""
    if loss is None:
        return None
    if isinstance(loss, str):
        name = loss
        with contextlib.suppress(ValueError):  # not a Keras loss identifier
            name = getattr(keras.losses.get(loss), "__name__", loss)
    elif isinstance(loss, functools.partial):
        return loss_name(loss.func)
    elif isinstance(loss, keras.losses.Loss):
        fn = getattr(loss, "fn", None)
        name = fn.__name__ if fn is not None else _snake(type(loss).__name__)
    elif isinstance(loss, type):
        name = _snake(loss.__name__)
    else:
        name = getattr(loss, "__name__", type(loss).__name__)
    name = _snake(name) if name[:1].isupper() else name
    return _LOSS_ALIASES.get(name, name)


def loss_from_logits(loss: Any) -> bool:
    """Whether a loss object was configured with ``from_logits=True``."""
    if isinstance(loss, functools.partial):
        return bool(loss.keywords.get("from_logits", False))
    if isinstance(loss, keras.losses.Loss):
        return bool(loss.get_config().get("from_logits", False))
    return False


def _snake(camel: str) -> str:
    out = []
    for i, char in enumerate(camel):
        if char.isupper() and i and not camel[i - 1].isupper():
            out.append("_")
        out.append(char.lower())
    return "".join(out)


def losses_per_output(loss: Any, output_names: Sequence[str]) -> list[Any]:
    """Spread a compiled ``loss`` (single, list or dict) over the outputs."""
    if isinstance(loss, dict):
        return [loss.get(name) for name in output_names]
    if isinstance(loss, list | tuple):
        if len(loss) == len(output_names):
            return list(loss)
        return [loss[0] if len(loss) == 1 else None] * len(output_names)
    return [loss] * len(output_names)


def output_names(model: keras.Model) -> list[str]:
    """Names of a model's outputs, in the order the model returns them."""
    names = getattr(model, "output_names", None)
    if names:
        return list(names)
    tensors = _graph_outputs(model) or [None]
    # Sequential models have no output names: name a head by its last layer.
    return [
        getattr(getattr(t, "_keras_history", [None])[0], "name", f"output_{i}")
        for i, t in enumerate(tensors)
    ]


def _graph_outputs(model: keras.Model) -> list[Any] | None:
    try:
        return list(model.outputs)
    except (AttributeError, ValueError):
        return None  # subclassed models have no symbolic outputs


def _activation_name(fn: Any) -> str:
    name = getattr(fn, "__name__", None) or type(fn).__name__
    return _snake(name) if name[:1].isupper() else name


_BuildTensor = Callable[[], Any]
"""Builds, in the model's graph, the tensor holding a head's pre-activation."""


def _producer_activation(tensor: Any) -> tuple[str, _BuildTensor | None]:
    """The activation applied last to ``tensor``, following the graph backwards.

    Returns the activation's name and, when it is a softmax or sigmoid whose
    input can be reached, a function building that input as a tensor of the
    same graph (None otherwise). Nothing is built while looking.
    """
    history = getattr(tensor, "_keras_history", None)
    if history is None:
        return "unknown", None
    operation = history[0]
    kind = type(operation).__name__
    call_input = producer_call_input(tensor)
    if kind in _PASSTHROUGH_LAYERS:
        before = operation.input if call_input is None else call_input
        activation, build = _producer_activation(before)
        if call_input is None or _shape(call_input) != _shape(tensor):
            build = None  # the layer moves values: pre-activations would not align
        return activation, build
    if kind in ("Softmax", "Sigmoid", "LogSoftmax", "LogSigmoid"):
        activation = _snake(kind)  # a layer or a keras.ops op of that name
        on_last_axis = getattr(operation, "axis", -1) in (-1, len(tensor.shape) - 1)
        reachable = call_input is not None and on_last_axis
        return activation, _existing(call_input) if reachable else None
    if isinstance(operation, keras.Model):
        inner = _graph_outputs(operation)
        if not inner:
            return "unknown", None
        activation, build_inner = _producer_activation(inner[history[2]])
        if build_inner is None or call_input is None:
            return activation, None
        return activation, functools.partial(
            _nested_pre_activation, operation, build_inner, call_input
        )
    if not (hasattr(operation, "activation") and callable(operation.activation)):
        return "unknown", None
    activation = _activation_name(operation.activation)
    if activation not in _PROBABILITY_ACTIVATIONS or call_input is None:
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


def _existing(tensor: Any) -> _BuildTensor:
    return lambda: tensor


def _nested_pre_activation(
    model: keras.Model, build_inner: _BuildTensor, call_input: Any
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


def _link(activation: str, loss: str | None, units: int) -> str:
    if activation in _PROBABILITY_ACTIVATIONS:
        return _PROBABILITY_ACTIVATIONS[activation]
    if loss in BINARY_LOSSES or units == 1:
        return SIGMOID
    return SOFTMAX


def _decide_logits(
    activation: str, loss: Any, override: bool | str
) -> tuple[bool | None, str]:
    if override != "auto":
        return bool(override), "override"
    if loss_from_logits(loss):
        return True, "loss"
    if activation == "unknown":
        return None, "outputs"
    return activation not in _PROBABILITY_ACTIVATIONS, "layer"


def inspect_heads(
    model: keras.Model,
    logits: LogitsOption | Sequence[LogitsOption] = "auto",
    *,
    output_units: Sequence[int] | None = None,
) -> tuple[Head, ...]:
    """Describe every output head of a built Keras model.

    Parameters
    ----------
    model : keras.Model
        A built Sequential, Functional or subclassed model, compiled or not.
    logits : "auto", bool or sequence of those, default="auto"
        The user's word, one value for all heads or one per head.
    output_units : sequence of int, default=None
        Units per output, needed only for models without symbolic outputs
        (subclassed models); read from the graph otherwise.

    Returns
    -------
    heads : tuple of Head
        One per output. A head whose ``logits`` is None could not be decided
        from the graph; the estimator decides it from the model's outputs on
        the training data.

    Examples
    --------
    >>> import keras
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    >>> head, = inspect_heads(model)
    >>> head.link, head.logits, head.source
    ('softmax', True, 'layer')
    """
    names = output_names(model)
    tensors = _graph_outputs(model)
    if tensors is not None:
        units = [int(t.shape[-1]) if t.shape else 1 for t in tensors]
        traces = [_producer_activation(t) for t in tensors]
    elif output_units is not None:
        units = list(output_units)
        traces = [("unknown", None)] * len(units)
    else:
        raise TypeError(
            f"Cannot read the outputs of {type(model).__name__}: it has no symbolic "
            "outputs. Pass output_units=, or build the model with the Functional "
            "or Sequential API."
        )
    if len(names) != len(units):
        names = [f"output_{i}" for i in range(len(units))]
    overrides = _per_head(logits, len(units))
    losses = losses_per_output(getattr(model, "loss", None), names)
    heads = []
    for name, n_units, (activation, build), loss, override in zip(
        names, units, traces, losses, overrides, strict=True
    ):
        is_logits, source = _decide_logits(activation, loss, override)
        canonical = loss_name(loss)
        reachable = is_logits is False and build is not None
        heads.append(
            Head(
                name=name,
                units=n_units,
                activation=activation,
                loss=canonical,
                link=_link(activation, canonical, n_units),
                logits=is_logits,
                source=source,
                read_from=READ_PRE_ACTIVATION if reachable else READ_OUTPUT,
            )
        )
    return tuple(heads)


def reading_model(model: keras.Model, heads: Sequence[Head]) -> keras.Model:
    """The model whose outputs are the values each head is read from.

    ``model`` itself when every head reads its output; otherwise a model over
    the same layers and weights (nothing copied, nothing of ``model`` changed)
    that returns, for each head with ``read_from="pre_activation"``, the values
    its final softmax/sigmoid receives, and the other heads' outputs as they
    are, one tensor per head in the order of ``heads``.

    Parameters
    ----------
    model : keras.Model
        The model ``heads`` were read from by :func:`inspect_heads`.
    heads : sequence of Head
        Its heads.

    Returns
    -------
    model : keras.Model
    """
    if all(head.read_from == READ_OUTPUT for head in heads):
        return model
    outputs = []
    for tensor, head in zip(_graph_outputs(model), heads, strict=True):
        if head.read_from == READ_PRE_ACTIVATION:
            _, build = _producer_activation(tensor)
            tensor = build()
        outputs.append(tensor)
    return keras.Model(
        _input_structure(model), outputs, name=f"{model.name}_pre_activation"
    )


def _per_head(logits: Any, n_heads: int) -> list[bool | str]:
    if isinstance(logits, list | tuple):
        if len(logits) != n_heads:
            raise ValueError(
                f"logits has {len(logits)} values, but the model has {n_heads} "
                f"outputs. Give one value per output, or a single value for all."
            )
        return list(logits)
    return [logits] * n_heads


def resolve_heads(
    heads: Sequence[Head], raw_outputs: Sequence[np.ndarray]
) -> tuple[Head, ...]:
    """Decide undecided heads from their outputs on training data.

    A head whose graph could not be read is taken to emit probabilities when
    every output lies in ``[0, 1]`` (and softmax rows sum to one), logits
    otherwise. A warning says so, since only ``logits=`` makes this certain.
    """
    resolved = []
    for head, raw in zip(heads, raw_outputs, strict=True):
        if head.logits is None:
            is_logits = not looks_like_probabilities(raw, link=head.link)
            warnings.warn(
                f"Could not tell from the graph whether output {head.name!r} emits "
                f"probabilities or logits; its outputs on the training data look "
                f"like {'logits' if is_logits else 'probabilities'}. Pass "
                f"logits={is_logits} to the estimator to make this explicit.",
                UserWarning,
                stacklevel=4,
            )
            head = dataclasses.replace(head, logits=is_logits, source="outputs")
        resolved.append(head)
    return tuple(resolved)


def warn_on_loss_mismatch(heads: Sequence[Head]) -> None:
    """Warn where a logits head is trained with a loss that expects probabilities.

    Keras then applies its loss to raw scores as if they were probabilities
    (it clips them into ``[eps, 1 - eps]``), which trains badly; the estimator
    still treats the head as logits, which is what it outputs.
    """
    for head in heads:
        expects_probabilities = head.loss in (
            ONE_HOT_LOSSES | INTEGER_LOSSES | BINARY_LOSSES
        )
        if head.logits and head.source == "layer" and expects_probabilities:
            warnings.warn(
                f"Output {head.name!r} has no softmax/sigmoid activation, so it "
                f"emits logits, but its loss {head.loss!r} expects probabilities. "
                f"Treating the output as logits; compile with "
                f"keras.losses.{_camel(head.loss)}(from_logits=True) to train it "
                "correctly.",
                UserWarning,
                stacklevel=4,
            )


def _camel(snake: str | None) -> str:
    return "".join(part.capitalize() for part in (snake or "").split("_"))
