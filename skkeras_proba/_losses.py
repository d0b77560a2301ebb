"""What a compiled Keras loss says about a head: its name, ``from_logits``, family.

A loss given in any form Keras accepts (a string, an alias, a function, a
``keras.losses.Loss`` instance or class, a ``functools.partial``) is named by
:func:`loss_name` in one canonical snake_case spelling, so that the families
below can be looked up: the target encoding a head's loss needs
(``_targets.encode_column``) and the link it implies (``_heads``) are read
from them. Only Keras is imported here.
"""

from __future__ import annotations

import contextlib
import functools
from typing import TYPE_CHECKING, Any

import keras

if TYPE_CHECKING:
    from collections.abc import Sequence

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
        name = fn.__name__ if fn is not None else snake_case(type(loss).__name__)
    elif isinstance(loss, type):
        name = snake_case(loss.__name__)
    else:
        name = getattr(loss, "__name__", type(loss).__name__)
    name = snake_case(name) if name[:1].isupper() else name
    return _LOSS_ALIASES.get(name, name)


def loss_from_logits(loss: Any) -> bool:
    """Whether a loss object was configured with ``from_logits=True``."""
    if isinstance(loss, functools.partial):
        return bool(loss.keywords.get("from_logits", False))
    if isinstance(loss, keras.losses.Loss):
        return bool(loss.get_config().get("from_logits", False))
    return False


def loss_class_name(name: str | None) -> str:
    """The ``keras.losses`` class name of a canonical loss name."""
    return "".join(part.capitalize() for part in (name or "").split("_"))


def snake_case(camel: str) -> str:
    """``CamelCase`` spelled as Keras spells its functions: ``camel_case``.

    Keras names a loss's class and function alike
    (``SparseCategoricalCrossentropy``, ``sparse_categorical_crossentropy``),
    and an activation's layer and function alike (``Softmax``, ``softmax``):
    names are compared in this spelling.
    """
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
