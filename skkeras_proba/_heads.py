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
*before* that activation where the graph allows (``Head.read_from``), so that
its probabilities are computed in float64.

The graph is walked by ``_graph``, which also builds the model returning the
values before the activation; the compiled loss is read by ``_losses``; the
maths lives in ``_proba``.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import TYPE_CHECKING, Any, Literal

from skkeras_proba._common import user_stacklevel
from skkeras_proba._graph import (
    PROBABILITY_ACTIVATIONS,
    graph_outputs,
    output_names,
    pre_activation_model,
    producer_activation,
)
from skkeras_proba._losses import (
    BINARY_LOSSES,
    INTEGER_LOSSES,
    ONE_HOT_LOSSES,
    loss_class_name,
    loss_from_logits,
    loss_name,
    losses_per_output,
)
from skkeras_proba._proba import SIGMOID, SOFTMAX, looks_like_probabilities

if TYPE_CHECKING:
    from collections.abc import Sequence

    import keras
    import numpy as np

LogitsOption = Literal["auto"] | bool
READ_OUTPUT = "output"
READ_PRE_ACTIVATION = "pre_activation"


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


def _link(activation: str, loss: str | None, units: int) -> str:
    if activation in PROBABILITY_ACTIVATIONS:
        return PROBABILITY_ACTIVATIONS[activation]
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
    return activation not in PROBABILITY_ACTIVATIONS, "layer"


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
    tensors = graph_outputs(model)
    if tensors is not None:
        units = [int(t.shape[-1]) if t.shape else 1 for t in tensors]
        traces = [producer_activation(t) for t in tensors]
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
    return pre_activation_model(
        model, [head.read_from == READ_PRE_ACTIVATION for head in heads]
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
                stacklevel=user_stacklevel(),
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
                "Treating the output as logits; compile with keras.losses."
                f"{loss_class_name(head.loss)}(from_logits=True) to train it "
                "correctly.",
                UserWarning,
                stacklevel=user_stacklevel(),
            )
