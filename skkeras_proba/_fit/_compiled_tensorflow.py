"""Compiled epochs on Keras' TensorFlow backend: a graph loop of Keras' train step.

Epochs run in calls of a ``tf.function``, one or several per call: for each
epoch the metrics reset, a ``tf.while_loop`` calls the model's own
``train_step`` on each batch gathered from the data (held as tensors for the
whole fit) in the epoch's row order, the last batch keeping the remaining rows
(the batch dimension of the traced step is open), and the metrics' results
are kept. Where no callback needs to run between epochs (``_compiled.py``
decides), a fit's epochs share calls: each call saves TensorFlow's dispatch of
the function, about a millisecond, which on small data is as long as the
epoch's training.
Keras' TensorFlow train step updates the model's variables in place, so the
function belongs to its model: it is kept per model (a ``partial_fit`` or a
warm start reuses it; a fresh model trains through an idle trainer of
``_trace_reuse`` whose function is traced already) and traced with the row
and batch dimensions left open, so that the same model on another number of
rows or epochs does not trace again (``_function``). It is not compiled
with XLA, as Keras' own TensorFlow fit on CPU is not: XLA draws other
dropout masks from the same seeds.

On a machine with CPUs only, the functions run on TensorFlow's
single-threaded executor (``_compat.tf_single_threaded_functions``): a small
model's step is hundreds of tiny ops, which the default executor spends more
time scheduling on its thread pool than computing.

Each epoch's row order comes from a generator of the fit's own, seeded from
NumPy's global generator as training starts: taking the fit's turn at the
process's generators each epoch would set TensorFlow's global seed each time,
which clears TensorFlow's caches of instantiated functions (an epoch then
takes many times as long).
"""

from __future__ import annotations

import functools
import weakref
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from skkeras_proba._compat import (
    tf_function_without_retracing_warning,
    tf_single_threaded_functions,
)

_epochs: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
compilations = 0
"""How many epoch functions this process traced (for tests)."""


def _take(data: Any, rows: tf.Tensor) -> Any:
    return tf.nest.map_structure(lambda a: tf.gather(a, rows), data)


def _epochs_function(model: keras.Model, batch_size: int):
    """Epochs of ``model``'s train step, each over the rows in its order.

    ``orders`` holds the epochs' row orders one after another (a flat vector,
    so that a call for one epoch and a call for several share a trace); the
    result is each metric's value at the end of each epoch, stacked. The loops
    are written out, for ``tf.function`` without AutoGraph (``_function``),
    which makes tracing slower and would convert the model's own code, which
    Keras' ``fit`` leaves as it is.
    """

    def epochs(data, orders):
        global compilations
        compilations += 1  # runs while tracing only
        n_rows = tf.shape(tf.nest.flatten(data)[0])[0]
        n_epochs = tf.shape(orders)[0] // n_rows

        def train_batch(order, start):
            # One traced step serves every batch, the last, partial one
            # included (its slice stops at the end): traced once, not twice.
            model.train_step(_take(data, order[start : start + batch_size]))
            return (start + batch_size,)

        def train_epoch(epoch, results):
            model.reset_metrics()
            order = orders[epoch * n_rows : (epoch + 1) * n_rows]
            tf.while_loop(
                lambda start: start < n_rows,
                functools.partial(train_batch, order),
                (tf.constant(0),),
            )
            epoch_results = model.get_metrics_result()
            return epoch + 1, {
                name: results[name].write(epoch, epoch_results[name])
                for name in results
            }

        results = {
            name: tf.TensorArray(value.dtype, n_epochs, element_shape=value.shape)
            for name, value in model.get_metrics_result().items()
        }
        _, results = tf.while_loop(
            lambda epoch, _: epoch < n_epochs, train_epoch, (tf.constant(0), results)
        )
        return {name: array.stack() for name, array in results.items()}

    return epochs


def _evaluation_function(model: keras.Model, batch_size: int):
    """``model``'s test step over all rows in order: Keras' ``evaluate``.

    Its loop is written out, as :func:`_epochs_function`'s are.
    """

    def evaluate(data):
        model.reset_metrics()
        n_rows = tf.shape(tf.nest.flatten(data)[0])[0]

        def test_batch(start):
            rows = tf.range(start, tf.minimum(start + batch_size, n_rows))
            model.test_step(_take(data, rows))
            return (start + batch_size,)

        tf.while_loop(lambda start: start < n_rows, test_batch, (tf.constant(0),))
        return model.get_metrics_result()

    return evaluate


def _function(kind: str, model: keras.Model, batch_size: int, data: Any):
    """``model``'s ``kind`` function for data shaped as ``data``, any row count.

    Traced with the row dimension open (and the orders of any length), so a
    fit on other rows, a fit of other epochs and a ``partial_fit`` call the
    same trace; data of another structure, dtype or feature shape gets a
    function of its own.
    """
    signature = tf.nest.map_structure(
        lambda a: tf.TensorSpec([None, *a.shape[1:]], a.dtype), data
    )
    functions = _epochs.setdefault(model, {})
    key = (kind, batch_size, repr(signature))
    if key not in functions:
        if kind == "epochs":
            function = _epochs_function(model, batch_size)
            signature = (signature, tf.TensorSpec([None], tf.int32))
        else:
            function = _evaluation_function(model, batch_size)
            signature = (signature,)
        functions[key] = tf_function_without_retracing_warning(
            tf.function(function, input_signature=signature, autograph=False)
        )
    return functions[key]


@functools.cache
def _cpus_only() -> bool:
    """Whether TensorFlow sees CPUs alone: a GPU's kernels keep the default executor."""
    return all(d.device_type == "CPU" for d in tf.config.list_logical_devices())


def distributed(model: keras.Model) -> bool:
    """Whether ``model`` trains under a ``tf.distribute`` strategy.

    Keras' ``fit`` runs such a model's step through the strategy's replicas
    (``strategy.run``); outside every scope, ``tf.distribute.get_strategy()``
    is the default strategy, which every undistributed model holds.
    """
    return (
        tf.distribute.has_strategy()
        or model.distribute_strategy is not tf.distribute.get_strategy()
    )


def _call(function: Any, *args: Any) -> Any:
    if not _cpus_only():
        return function(*args)
    with tf_single_threaded_functions():
        return function(*args)


def _tensors(data: Any) -> Any:
    return tf.nest.map_structure(tf.convert_to_tensor, data)


class TensorflowEpochs:
    """Train ``model`` an epoch, or several, per call of a ``tf.function``.

    ``shuffles_as_keras`` is False: the rows of each epoch come in an order of
    the fit's own (see the module's docstring). Several epochs can run in one
    call (``several_epochs_per_call``), which saves a call's dispatch, the
    metrics' reset and their results' fetch per epoch.

    Parameters
    ----------
    model : keras.Model
        A compiled, built model (its optimizer and metrics built).
    data : tuple
        ``(x, y, sample_weight)`` as Keras takes them, arrays in nests.
    batch_size : int
        Rows per batch; the last batch keeps the remaining rows.
    """

    shuffles_as_keras = False
    several_epochs_per_call = True
    """An epoch's order is an argument, not a draw: epochs can share a call."""

    @staticmethod
    def model_unsupported_because(model: keras.Model) -> str | None:
        """Why ``model`` must train with Keras' ``fit`` on TensorFlow; None if not."""
        if distributed(model):
            return "the model is trained under a tf.distribute strategy"
        return None

    def __init__(self, model: keras.Model, data: tuple, batch_size: int) -> None:
        self._model = model
        self._data = _tensors(_without_none(data))
        self._batch_size = batch_size

    def compile(self) -> None:
        """Take the model's epoch function for this data; traced at its first call."""
        self._epochs = _function("epochs", self._model, self._batch_size, self._data)

    def train_epochs(self, orders: np.ndarray) -> list[dict[str, Any]]:
        """Train an epoch per row of ``orders``, in one call: each epoch's logs."""
        flat_orders = tf.constant(orders.ravel(), tf.int32)
        results = _call(self._epochs, self._data, flat_orders)
        results = {name: values.numpy() for name, values in results.items()}
        return [
            {name: values[epoch] for name, values in results.items()}
            for epoch in range(len(orders))
        ]

    def hold(self, data: tuple) -> Any:
        """``data`` as tensors, for :meth:`evaluate` every epoch."""
        return _tensors(_without_none(data))

    def evaluate(self, data: Any, batch_size: int) -> dict[str, Any]:
        """Keras' ``evaluate`` of the model on held ``data``, compiled: its logs."""
        evaluate = _function("evaluate", self._model, batch_size, data)
        return _call(evaluate, data)


def _without_none(data: tuple) -> tuple:
    """``(x, y)`` without weights, else ``(x, y, sample_weight)``: Keras' packing."""
    return data[:2] if data[2] is None else data
