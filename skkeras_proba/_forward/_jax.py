"""The forward pass on Keras' JAX backend: jitted, stateless, bucketed rows.

A ``keras.StatelessScope`` runs the model on variable values given as arguments,
so one ``jax.jit`` of it serves the model as its weights change (a
``partial_fit``, a ``set_weights``) instead of baking them in as constants.
Each call reads the values afresh.

``jax.jit`` compiles once per input shape. To leave the batch dimension open
without compiling for every batch size, a batch's rows are padded with zeros
to the next row bucket (``_buckets.py``) and the outputs cut back.

Variables that a call updates (the seed state of a dropout layer kept active
for Monte Carlo dropout) are written back to the model after the call, as an
eager call would have left them.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import jax
import keras
import numpy as np

from skkeras_proba._architecture import architecture_key
from skkeras_proba._forward._buckets import bucket_rows, pad_rows

if TYPE_CHECKING:
    from collections.abc import Callable

SHARED_KEPT = 32
"""Architectures whose forward function is kept per process (least recently
used dropped first)."""

MAX_TEMPLATE_PARAMETERS = 1_000_000
"""Larger models get a function of their own: a template keeps its weights."""

_shared: OrderedDict[str, _SharedForward] = OrderedDict()
_shared_lock = threading.Lock()


def compile_forward(model: keras.Model) -> Callable[[Any], Any]:
    """``model(batch, training=False)`` as a jitted, stateless function.

    Parameters
    ----------
    model : keras.Model
        A model; if it is not built yet, its first call runs eagerly and
        builds it.

    Returns
    -------
    forward : callable
        Takes a batch (an ndarray, or a list/dict of them, as the model takes)
        and returns the model's outputs as NumPy arrays, in the model's
        output structure.
    """
    return _JittedForward(model)


class _JittedForward:
    """One model's forward pass, through the jitted function of its architecture.

    Thread-safe: calls of the shared function take the model's values as
    arguments, and a shape not traced yet is traced under the function's lock.
    """

    def __init__(self, model: keras.Model) -> None:
        self._model = model
        self._variables: tuple[list, list] | None = None
        self._shared: _SharedForward | None = None

    @property
    def traces(self) -> int:
        """How many times the function serving this model was traced."""
        return 0 if self._shared is None else self._shared.traces

    def __call__(self, batch: Any) -> Any:
        if self._shared is None:
            if not self._model.built:
                return self._model(batch, training=False)  # builds it
            # The lists are fixed once the model is built; walking the layers
            # for them on every call would cost more than the call itself.
            self._variables = (
                list(self._model.trainable_variables),
                list(self._model.non_trainable_variables),
            )
            self._shared = _shared_forward(self._model, self._variables)
        trainable, non_trainable = self._variables
        # A single array, the common case, skips the tree walks: at one row
        # they would cost as much as the rest of the Python around the call.
        single = isinstance(batch, np.ndarray)
        n_rows = len(batch if single else keras.tree.flatten(batch)[0])
        rows = bucket_rows(n_rows)
        padded = (
            pad_rows(batch, rows)
            if single
            else keras.tree.map_structure(lambda a: pad_rows(a, rows), batch)
        )
        outputs, updated = self._shared(
            [v.value for v in trainable], [v.value for v in non_trainable], padded
        )
        for variable, value in zip(non_trainable, updated, strict=True):
            if value is not None:
                variable.assign(value)
        if isinstance(outputs, jax.Array):
            return np.asarray(outputs)[:n_rows]
        return keras.tree.map_structure(lambda o: np.asarray(o)[:n_rows], outputs)


class _SharedForward:
    """``template(batch, training=False)`` jitted over values given as arguments.

    The template is the first model of its architecture to predict; its own
    values are never read, so the function serves every model of the same
    architecture (its variables line up with the template's, in order).
    """

    def __init__(self, template: keras.Model, variables: tuple[list, list]) -> None:
        self._template = template
        self.template_variables = variables
        self._jitted = jax.jit(self._stateless_forward)
        self._lock = threading.Lock()
        self._signatures: set[tuple] = set()
        self.traces = 0
        """How many times the function was traced: once per bucket."""
        self.traced_rows: set[int] = set()
        """The padded row counts it was traced for."""

    def __call__(self, trainable: list, non_trainable: list, batch: Any) -> Any:
        signature = tuple((a.shape, a.dtype.str) for a in keras.tree.flatten(batch))
        if signature in self._signatures:
            return self._jitted(trainable, non_trainable, batch)
        # Tracing calls the template, which sets attributes of its layers:
        # two threads must not trace it at once.
        with self._lock:
            outputs = self._jitted(trainable, non_trainable, batch)
            self._signatures.add(signature)
        return outputs

    def _stateless_forward(
        self, trainable: list, non_trainable: list, batch: Any
    ) -> tuple[Any, list]:
        self.traces += 1  # runs only when jax.jit traces, not when it calls
        self.traced_rows.add(len(keras.tree.flatten(batch)[0]))
        template_trainable, template_non_trainable = self.template_variables
        values = [*trainable, *non_trainable]
        # model.stateless_call would pass training= to a call() that may not
        # take it; model(...) in a StatelessScope behaves as the eager call.
        state_mapping = list(
            zip(template_trainable + template_non_trainable, values, strict=True)
        )
        with keras.StatelessScope(state_mapping=state_mapping) as scope:
            outputs = self._template(batch, training=False)
        # Only variables the call assigned come back (None for the others):
        # an inference call usually assigns none, and returns nothing extra.
        updated = []
        for variable, old in zip(template_non_trainable, non_trainable, strict=True):
            new = scope.get_current_value(variable)
            updated.append(None if new is old else new)
        return outputs, updated


def _shared_forward(model: keras.Model, variables: tuple[list, list]) -> _SharedForward:
    """The forward function of ``model``'s architecture, made on first use.

    A model without an architecture key (``_architecture``), or too large to
    keep as a template, gets a function of its own.
    """
    key = architecture_key(model, training=False)
    if key is None or model.count_params() > MAX_TEMPLATE_PARAMETERS:
        return _SharedForward(model, variables)
    with _shared_lock:
        shared = _shared.get(key)
        if shared is not None and _line_up(shared.template_variables, variables):
            _shared.move_to_end(key)
            return shared
        shared = _shared[key] = _SharedForward(model, variables)
        _shared.move_to_end(key)
        while len(_shared) > SHARED_KEPT:
            _shared.popitem(last=False)
        return shared


def _line_up(template: tuple[list, list], variables: tuple[list, list]) -> bool:
    """Whether every variable has its template's shape and dtype, in order."""
    return all(
        len(a) == len(b)
        and all(
            tuple(u.shape) == tuple(v.shape) and u.dtype == v.dtype
            for u, v in zip(a, b, strict=True)
        )
        for a, b in zip(template, variables, strict=True)
    )
