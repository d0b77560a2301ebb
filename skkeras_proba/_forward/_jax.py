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

from typing import TYPE_CHECKING, Any

import jax
import keras
import numpy as np

from skkeras_proba._forward._buckets import bucket_rows, pad_rows

if TYPE_CHECKING:
    from collections.abc import Callable


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
    """One model's jitted forward pass; thread-safe, as ``jax.jit`` is."""

    def __init__(self, model: keras.Model) -> None:
        self._model = model
        self._jitted = jax.jit(self._stateless_forward)
        self._variables: tuple[list, list] | None = None
        self.traces = 0
        """How many times the forward pass was traced: once per bucket."""

    def __call__(self, batch: Any) -> Any:
        if self._variables is None:
            if not self._model.built:
                return self._model(batch, training=False)  # builds it
            # The lists are fixed once the model is built; walking the layers
            # for them on every call would cost more than the call itself.
            self._variables = (
                list(self._model.trainable_variables),
                list(self._model.non_trainable_variables),
            )
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
        outputs, updated = self._jitted(
            [v.value for v in trainable], [v.value for v in non_trainable], padded
        )
        for variable, value in zip(non_trainable, updated, strict=True):
            if value is not None:
                variable.assign(value)
        if isinstance(outputs, jax.Array):
            return np.asarray(outputs)[:n_rows]
        return keras.tree.map_structure(lambda o: np.asarray(o)[:n_rows], outputs)

    def _stateless_forward(
        self, trainable: list, non_trainable: list, batch: Any
    ) -> tuple[Any, list]:
        self.traces += 1  # runs only when jax.jit traces, not when it calls
        variables_now = self._variables[0] + self._variables[1]
        values = [*trainable, *non_trainable]
        # model.stateless_call would pass training= to a call() that may not
        # take it; model(...) in a StatelessScope behaves as the eager call.
        state_mapping = list(zip(variables_now, values, strict=True))
        with keras.StatelessScope(state_mapping=state_mapping) as scope:
            outputs = self._model(batch, training=False)
        # Only variables the call assigned come back (None for the others):
        # an inference call usually assigns none, and returns nothing extra.
        updated = []
        for variable, old in zip(self._variables[1], non_trainable, strict=True):
            new = scope.get_current_value(variable)
            updated.append(None if new is old else new)
        return outputs, updated
