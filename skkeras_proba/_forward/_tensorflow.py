"""The forward pass on Keras' TensorFlow backend: one trace, open batch dimension.

``model(x, training=False)`` is traced once into a TensorFlow graph whose batch
dimension is left open (``None``), so any batch size reuses the same trace, and
the trace's concrete function is called directly, skipping ``tf.function``'s
per-call dispatch.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import keras
import tensorflow as tf

if TYPE_CHECKING:
    from collections.abc import Callable


def compile_forward(model: keras.Model) -> Callable[[Any], Any]:
    """``model(batch, training=False)``, traced on the first batch.

    Parameters
    ----------
    model : keras.Model
        A built model.

    Returns
    -------
    forward : callable
        Takes a batch (an ndarray, or a list/dict of them, as the model takes)
        and returns the model's outputs, in the model's output structure.
    """
    return _TracedForward(model)


class _TracedForward:
    """One model's forward pass, traced on first use."""

    def __init__(self, model: keras.Model) -> None:
        self._model = model
        self.concrete_function = None

    def __call__(self, batch: Any) -> Any:
        if self.concrete_function is None:
            self.concrete_function = _trace(self._model, batch)
        return self.concrete_function(batch)


def _trace(model: keras.Model, batch: Any) -> Any:
    signature = keras.tree.map_structure(
        lambda a: tf.TensorSpec((None, *a.shape[1:]), tf.as_dtype(a.dtype)), batch
    )
    # A partial, not a closure: TensorFlow counts traces per __code__ object,
    # so closures over different models would look like one function being
    # retraced and trigger its retracing warning.
    traced = tf.function(
        functools.partial(_inference_call, model),
        input_signature=[signature],
        autograph=False,
    )
    # Calling the concrete function skips tf.function's per-call dispatch.
    return traced.get_concrete_function()


def _inference_call(model: keras.Model, x: Any) -> Any:
    return model(x, training=False)
