"""The forward pass on Keras' TensorFlow backend: one trace, open batch dimension.

``model(x, training=False)`` is traced once into a TensorFlow graph whose batch
dimension is left open (``None``), so any batch size reuses the same trace, and
the trace's concrete function is called directly, skipping ``tf.function``'s
per-call dispatch.

The trace takes the model's variables as arguments (the first model of its
architecture, the template, is run in a ``keras.StatelessScope`` on them), so
it serves every model of the same architecture (``_architecture``): a search
traces one forward pass per architecture, not one per fold. A model without an
architecture key, a large one, or one whose inference call assigns a variable
gets a trace of its own, holding its variables; so does every model after
:data:`SHARED_CALLS` calls, as calling a trace that holds the variables is
faster than passing them.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import keras
import tensorflow as tf

from skkeras_proba._architecture import architecture_key

if TYPE_CHECKING:
    from collections.abc import Callable

SHARED_CALLS = 16
"""Calls a model makes through a shared trace before it traces its own.

Passing the variables costs about 0.2 ms a call (twice a one-row call): a
model scored once in a search skips its own trace; a model that serves
predictions pays for one, once.
"""

SHARED_KEPT = 32
"""Shared traces kept per process (least recently used dropped first)."""

MAX_TEMPLATE_PARAMETERS = 1_000_000
"""Larger models get a trace of their own: a template keeps its weights."""

_shared: OrderedDict[tuple, Any] = OrderedDict()
_shared_lock = threading.Lock()


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
    """One model's forward pass, traced on first use (or shared, see above)."""

    def __init__(self, model: keras.Model) -> None:
        self._model = model
        self.concrete_function = None
        self._variables: list | None = None
        """The model's variables, passed to a shared trace; None: its own."""
        self._shared_calls = 0

    def __call__(self, batch: Any) -> Any:
        if self.concrete_function is None:
            self.concrete_function, self._variables = _shared_trace(self._model, batch)
        if self._variables is None:
            return self.concrete_function(batch)
        self._shared_calls += 1
        if self._shared_calls > SHARED_CALLS:
            # Serving: a trace holding the model's variables is called faster.
            self.concrete_function, self._variables = _trace(self._model, batch), None
            return self.concrete_function(batch)
        return self.concrete_function(self._variables, batch)


def _batch_signature(batch: Any) -> Any:
    return keras.tree.map_structure(
        lambda a: tf.TensorSpec((None, *a.shape[1:]), tf.as_dtype(a.dtype)), batch
    )


def _shared_trace(model: keras.Model, batch: Any) -> tuple[Any, list | None]:
    """The trace serving ``model`` and the variables to pass it (None: its own)."""
    key = architecture_key(model, training=False)
    if key is None or model.count_params() > MAX_TEMPLATE_PARAMETERS:
        return _trace(model, batch), None
    variables = [v.value for v in model.variables]  # the tf.Variables
    signature = _batch_signature(batch)
    cache_key = (key, str(signature), _shapes(variables))
    with _shared_lock:
        if cache_key in _shared:
            _shared.move_to_end(cache_key)
            return _shared[cache_key], variables
        traced = _trace_stateless(model, signature)
        if traced is None:  # the call assigns variables: keep them its own
            return _trace(model, batch), None
        _shared[cache_key] = traced
        while len(_shared) > SHARED_KEPT:
            _shared.popitem(last=False)
        return traced, variables


def _shapes(variables: list) -> tuple:
    return tuple((tuple(v.shape), v.dtype.name) for v in variables)


def _trace_stateless(template: keras.Model, signature: Any) -> Any:
    """``template``'s call traced over its variables' values as arguments.

    None if the call assigns any variable: a stateless trace would drop it.
    """
    template_variables = list(template.variables)
    values = [tf.TensorSpec(v.shape, v.dtype) for v in template_variables]
    assigned = []

    def stateless_call(values: list, x: Any) -> Any:
        mapping = list(zip(template_variables, values, strict=True))
        with keras.StatelessScope(state_mapping=mapping) as scope:
            given = [scope.get_current_value(v) for v in template_variables]
            outputs = template(x, training=False)
        assigned.extend(
            v
            for v, value in zip(template_variables, given, strict=True)
            if scope.get_current_value(v) is not value
        )
        return outputs

    traced = tf.function(
        stateless_call, input_signature=[values, signature], autograph=False
    ).get_concrete_function()
    return None if assigned else traced


def _trace(model: keras.Model, batch: Any) -> Any:
    signature = _batch_signature(batch)
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
