"""Compiled epochs on Keras' JAX backend: Keras' own stateless train step, scanned.

Keras' JAX trainer is functional: ``model.train_step(state, batch)`` takes the
trainable, non-trainable, optimizer and metric variables as arguments and
returns them updated, with the logs of the compiled metrics. One epoch here
is one jitted call: the rows taken in the epoch's order (an argument), a
``lax.scan`` of the train step over the full batches,
and one more step on the last, partial batch, which Keras keeps as it is
(padding it with zero weights would change the loss' reduction and the
statistics of a ``BatchNormalization``). The logs of the epoch's last step
are the metrics over the whole epoch, as Keras reports them.

Because the state is an argument, the compiled epoch of one model serves every
model of the same architecture and compile settings (the key of
``_architecture.architecture_key``): a search compiles once per architecture
and training set shape, and every later fold reuses it. Compilations are made
ahead of time under a lock, so that two threads never trace the same template
model at once (tracing sets attributes of the model it traces).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import jax
import jax.numpy as jnp
import keras
import numpy as np

from skkeras_proba._architecture import architecture_key

COMPILED_KEPT = 32
"""Compiled epoch functions kept per process (least recently used dropped)."""

_compiled: OrderedDict[tuple, Any] = OrderedDict()
_compile_lock = threading.Lock()
compilations = 0
"""How many epoch or evaluation functions this process compiled (for tests)."""


def _tree_take(tree: Any, rows: Any) -> Any:
    return jax.tree_util.tree_map(lambda a: jnp.take(a, rows, axis=0), tree)


def _epoch_function(template: keras.Model, n_rows: int, batch_size: int):
    """One epoch of ``template``'s train step over ``n_rows`` rows in ``order``."""
    full, rest = divmod(n_rows, batch_size)

    def epoch(state, metrics_reset, data, order):
        trainable, non_trainable, optimizer_vars, _ = state
        state = (trainable, non_trainable, optimizer_vars, metrics_reset)
        logs = None
        if full:
            batches = order[: full * batch_size].reshape(full, batch_size)

            def step(state, rows):
                logs, state = template.train_step(state, _tree_take(data, rows))
                return state, logs

            state, logs = jax.lax.scan(step, state, batches)
            logs = jax.tree_util.tree_map(lambda a: a[-1], logs)
        if rest:
            last = _tree_take(data, order[full * batch_size :])
            logs, state = template.train_step(state, last)
        return logs, state

    return epoch


def _evaluation_function(template: keras.Model, n_rows: int, batch_size: int):
    """``template``'s test step over ``n_rows`` rows in order: Keras' evaluate."""
    full, rest = divmod(n_rows, batch_size)

    def evaluate(state, metrics_reset, data):
        trainable, non_trainable = state
        state = (trainable, non_trainable, metrics_reset)
        logs = None
        if full:
            batches = jnp.arange(full * batch_size).reshape(full, batch_size)

            def step(state, rows):
                logs, state = template.test_step(state, _tree_take(data, rows))
                return state, logs

            state, logs = jax.lax.scan(step, state, batches)
            logs = jax.tree_util.tree_map(lambda a: a[-1], logs)
        if rest:
            rows = jnp.arange(full * batch_size, n_rows)
            logs, state = template.test_step(state, _tree_take(data, rows))
        return logs

    return evaluate


def _signature(tree: Any) -> tuple:
    leaves, structure = jax.tree_util.tree_flatten(tree)
    return (str(structure), *((a.shape, str(a.dtype)) for a in leaves))


def _compiled_function(
    kind: str, model: keras.Model, key: str | None, args: tuple, sizes: tuple
):
    """The ahead-of-time compiled ``kind`` function for these arguments.

    Kept per process under the model's architecture ``key``; a model without
    one (``architecture_key``) compiles for itself, every time.
    """
    global compilations
    cache_key = (kind, key, sizes, _signature(args))
    with _compile_lock:
        if key is not None and cache_key in _compiled:
            _compiled.move_to_end(cache_key)
            return _compiled[cache_key]
        make = _epoch_function if kind == "epoch" else _evaluation_function
        # The template is the model itself: its train step only reads its
        # structure and configuration; every value comes in as an argument.
        compiled = jax.jit(make(model, *sizes)).lower(*args).compile()
        compilations += 1
        if key is not None:
            _compiled[cache_key] = compiled
            while len(_compiled) > COMPILED_KEPT:
                _compiled.popitem(last=False)
        return compiled


def _on_device(data: Any) -> Any:
    """``data``'s arrays as JAX arrays, in JAX's dtypes (float64 to float32).

    ``jax.device_put`` rather than ``jnp.asarray``, which compiles a
    function for each new shape and dtype of NumPy array (about 10 ms each,
    paid again for every fold of another size).
    """
    return jax.device_put(data)


def _values(variables: list) -> list:
    return [v.value for v in variables]


def _assign(variables: list, values: list) -> None:
    for variable, value in zip(variables, values, strict=True):
        variable.assign(value)


class JaxEpochs:
    """Train ``model`` an epoch per call; the model's variables follow each epoch.

    Parameters
    ----------
    model : keras.Model
        A compiled, built model (its optimizer and metrics built).
    data : tuple
        ``(x, y, sample_weight)`` as Keras takes them, arrays in nests.
    batch_size : int
        Rows per batch; the last batch keeps the remaining rows.
    """

    shuffles_as_keras = True
    """Each epoch's order is drawn from NumPy's global generator, as Keras'."""
    several_epochs_per_call = False
    """A call is one epoch: a scan over epochs would be one more compilation."""

    @staticmethod
    def model_unsupported_because(model: keras.Model) -> str | None:
        """Why ``model`` must train with Keras' ``fit`` on JAX; None if it need not."""
        if not model.jit_compile:
            return "the model is compiled without jit_compile"
        return None

    def __init__(self, model: keras.Model, data: tuple, batch_size: int) -> None:
        self._model = model
        self._data = _on_device(data)
        self._n_rows = int(jax.tree_util.tree_leaves(self._data[0])[0].shape[0])
        self._batch_size = min(batch_size, self._n_rows)
        self._key = architecture_key(model)
        self._evaluations: dict[tuple, Any] = {}
        model.reset_metrics()
        self._metrics_reset = _values(model.metrics_variables)

    def _state(self) -> tuple:
        model = self._model
        return (
            _values(model.trainable_variables),
            _values(model.non_trainable_variables),
            _values(model.optimizer.variables),
            self._metrics_reset,
        )

    def compile(self) -> None:
        """Compile the epoch function now (taken from the cache if it is)."""
        sizes = (self._n_rows, self._batch_size)
        args = self._epoch_args(np.arange(self._n_rows))
        self._epoch = _compiled_function("epoch", self._model, self._key, args, sizes)

    def _epoch_args(self, order: np.ndarray) -> tuple:
        order = order.astype(np.int32)
        return (self._state(), self._metrics_reset, self._data, order)

    def train_epochs(self, orders: np.ndarray) -> list[dict[str, Any]]:
        """Train an epoch per row of ``orders``: each epoch's logs."""
        return [self._train_epoch(order) for order in orders]

    def _train_epoch(self, order: np.ndarray) -> dict[str, Any]:
        logs, state = self._epoch(*self._epoch_args(order))
        try:
            self._take(state)
        except KeyboardInterrupt:
            # Stopped between two assignments, the model would hold the
            # weights of one epoch and the optimizer state of the one before:
            # the epoch has trained whole, so the model takes it whole.
            self._take(state)
            raise
        return logs

    def _take(self, state: tuple) -> None:
        """The model's variables set to an epoch's ``state``."""
        model = self._model
        _assign(model.trainable_variables, state[0])
        _assign(model.non_trainable_variables, state[1])
        _assign(model.optimizer.variables, state[2])
        _assign(model.metrics_variables, state[3])

    def hold(self, data: tuple) -> Any:
        """``data`` as device arrays, for :meth:`evaluate` every epoch."""
        return _on_device(data)

    def evaluate(self, data: Any, batch_size: int) -> dict[str, Any]:
        """Keras' ``evaluate`` of the model on held ``data``, compiled: its logs."""
        model = self._model
        n_rows = int(jax.tree_util.tree_leaves(data[0])[0].shape[0])
        args = (
            (
                _values(model.trainable_variables),
                _values(model.non_trainable_variables),
            ),
            self._metrics_reset,
            data,
        )
        sizes = (n_rows, min(batch_size, n_rows))
        if sizes not in self._evaluations:
            self._evaluations[sizes] = _compiled_function(
                "evaluate", model, self._key, args, sizes
            )
        return self._evaluations[sizes](*args)
