"""Compiled epochs: each epoch of a fit as one compiled call, callbacks between.

On small tabular data a Keras ``fit`` spends most of its time outside the
training arithmetic: Python dispatch of every step, input iterators, the
epoch machinery, and a new trace for every new model (see the fit profile in
``docs/guide/performance.rst``). Here the data is put on the device once, and
each epoch -- its shuffle, its batches, the last partial batch kept as Keras
keeps it -- runs as one compiled call of Keras' own train step for the model
(its loss and ``loss_weights``, layer losses, non-trainable updates, dropout
seeds, the optimizer's update, the compiled metrics). Epoch-level callbacks
run between the calls, with the model's variables holding the epoch's
result; with ``validation_data`` each epoch's logs gain ``val_*`` entries from
a compiled evaluation.

What this does not cover trains with Keras' ``fit`` as before, and
:func:`compiled_fit_unsupported_because` says why: see its checks. One module
per backend in :data:`BACKENDS` implements the epochs.
"""

from __future__ import annotations

import functools
import time
from numbers import Integral, Real
from typing import TYPE_CHECKING, Any

import keras
import numpy as np

from skkeras_proba._callbacks import overrides_any_hook
from skkeras_proba._common import KERAS_DEFAULT_BATCH_SIZE
from skkeras_proba._compat import (
    backup_initial_epoch,
    keras_builds_from_epoch_batches,
    symbolic_build,
)
from skkeras_proba._fit._input import keras_fit_is_own
from skkeras_proba._fit._loop import BATCH_HOOKS
from skkeras_proba._fit._seeding import process_random_state_turn

if TYPE_CHECKING:
    from collections.abc import Sequence

BACKENDS = ("jax", "tensorflow")
"""Backends with compiled epochs; the others train with Keras' ``fit``."""

_MAX_SEED = np.iinfo(np.int32).max
MAX_DATA_BYTES = 1 << 30
"""Training data larger than this stays with Keras' ``fit``, which batches it."""
MAX_ORDER_ROWS = 1 << 22
"""Row indices given to one call at most, when epochs share calls (16 MiB)."""
CALL_SECONDS = 0.5
"""How long a call of several epochs is planned to take, at most.

Python runs only between calls: a KeyboardInterrupt lands when a call
returns, so a fit's epochs are not all given to one call (which could take
minutes) but to calls sized from the pace of the call before."""
EPOCH_HOOKS = ("on_epoch_begin", "on_epoch_end")

# Keras fit arguments this engine honours, each with the values it supports
# (a callable: whether a value is supported); any other argument, or value,
# leaves the fit to Keras.
_SUPPORTED_ARGUMENTS = {
    "batch_size": lambda v: v is None or (isinstance(v, Integral) and v > 0),
    "validation_batch_size": lambda v: v is None or (isinstance(v, Integral) and v > 0),
    "shuffle": lambda v: isinstance(v, bool | np.bool_),
    "verbose": lambda v: v == 0,
    "validation_split": lambda v: isinstance(v, Real) and v == 0,
    "validation_data": lambda v: (
        v is None or (isinstance(v, tuple | list) and len(v) in (2, 3))
    ),
    "class_weight": lambda v: v is None,
    "steps_per_epoch": lambda v: v is None,
    "validation_steps": lambda v: v is None,
    "validation_freq": lambda v: v == 1,
}


def compiled_fit_unsupported_because(
    model: keras.Model,
    data: tuple[Any, Any, Any],
    settings: dict[str, Any],
    callbacks: Sequence[keras.callbacks.Callback],
) -> str | None:
    """Why this fit must run Keras' ``fit``; None if compiled epochs can run it.

    Parameters
    ----------
    model : keras.Model
        The compiled model about to be trained.
    data : tuple
        ``(x, y, sample_weight)`` as they would be given to Keras' ``fit``.
    settings : dict
        The other arguments of Keras' ``fit`` for this fit, by name (without
        ``x``, ``y``, ``sample_weight``, ``epochs``, ``initial_epoch`` and
        ``callbacks``).
    callbacks : list of keras.callbacks.Callback
        The user's callbacks of the fit.

    Returns
    -------
    reason : str or None
        A sentence saying what in this fit needs Keras' ``fit``, or None.
    """
    backend = keras.backend.backend()
    if backend not in BACKENDS:
        return f"Keras' {backend} backend has no compiled epochs here"
    reason = _model_unsupported_because(model)
    if reason is None:
        reason = _settings_unsupported_because(settings)
    if reason is None and overrides_any_hook(callbacks, BATCH_HOOKS):
        reason = "a callback implements batch hooks"
    if reason is None:
        reason = _data_unsupported_because(data)
    if reason is None and settings.get("validation_data") is not None:
        reason = _data_unsupported_because(
            _unpack(settings["validation_data"]), "validation data"
        )
    return reason


def _model_unsupported_because(model: keras.Model) -> str | None:
    own_steps = all(
        name not in vars(model)
        and getattr(type(model), name) is getattr(keras.Model, name)
        for name in ("train_step", "test_step", "fit")
    )
    if not own_steps or not keras_fit_is_own(model):
        return "the model's train_step, test_step or fit is not Keras' own"
    if model.run_eagerly:
        return "the model is compiled to run eagerly"
    backend_reason = _epochs_class().model_unsupported_because(model)
    if backend_reason is not None:
        return backend_reason
    if model.optimizer is None or all(
        loss is None for loss in keras.tree.flatten(model.loss)
    ):
        return "the model has no optimizer or no loss"  # Keras' fit says which
    if not keras_builds_from_epoch_batches():
        return "this Keras version builds models differently"
    if keras.config.max_epochs() or keras.distribution.distribution() is not None:
        return "Keras caps epochs or distributes training"
    return None


def _settings_unsupported_because(settings: dict[str, Any]) -> str | None:
    for name, value in settings.items():
        supported = _SUPPORTED_ARGUMENTS.get(name)
        if supported is None or not supported(value):
            return f"fit argument {name}={value!r} is left to Keras"
    return None


def _data_unsupported_because(data: tuple, what: str = "data") -> str | None:
    x, y, sample_weight = data
    if y is None:
        return f"the {what} has no targets"
    leaves = [a for a in keras.tree.flatten((x, y, sample_weight)) if a is not None]
    if not all(
        isinstance(a, np.ndarray) and a.dtype.kind in "biuf" and a.ndim >= 1
        for a in leaves
    ):
        return f"the {what} is not numeric NumPy arrays (sparse, a dataset, ...)"
    if len({a.shape[0] for a in leaves}) != 1 or leaves[0].shape[0] == 0:
        return f"the {what}'s arrays do not have the same number of rows"
    if sum(a.nbytes for a in leaves) > MAX_DATA_BYTES:
        return f"the {what} is too large to hold on the device at once"
    return None


def _unpack(data: Any) -> tuple[Any, Any, Any]:
    return (*data, None) if len(data) == 2 else tuple(data)


def _with_weights_per_output(data: tuple) -> tuple:
    """One sample weight array per output, as Keras' array adapter makes them."""
    x, y, sample_weight = data
    if (
        sample_weight is not None
        and keras.tree.is_nested(y)
        and not keras.tree.is_nested(sample_weight)
    ):
        sample_weight = keras.tree.map_structure(lambda _: sample_weight, y)
    return x, y, sample_weight


def _epochs_class() -> type:
    backend = keras.backend.backend()
    if backend == "jax":
        from skkeras_proba._fit._compiled_jax import JaxEpochs

        return JaxEpochs
    if backend == "tensorflow":
        from skkeras_proba._fit._compiled_tensorflow import TensorflowEpochs

        return TensorflowEpochs
    raise ValueError(f"No compiled epochs on Keras' {backend!r} backend.")


def fit_compiled(
    model: keras.Model,
    data: tuple[Any, Any, Any],
    *,
    epochs: int,
    initial_epoch: int,
    settings: dict[str, Any],
    callbacks: list[keras.callbacks.Callback],
) -> keras.callbacks.History:
    """Train ``model`` as Keras' ``fit`` would, an epoch per compiled call.

    Only for a fit :func:`compiled_fit_unsupported_because` accepts. On JAX
    each epoch's row order is drawn from NumPy's global generator, during the
    fit's turn at it (``_seeding``), as Keras on JAX draws it: a seeded fit,
    which has that generator seeded, takes the rows in the order of Keras'
    own fit, and trains the same weights. On TensorFlow, whose Keras shuffles
    inside ``tf.data``, the orders come from a generator of the fit's own,
    seeded from NumPy's global one: a seeded fit is reproducible.

    Parameters
    ----------
    model : keras.Model
        The compiled model to train.
    data : tuple
        ``(x, y, sample_weight)``: NumPy arrays, or nests of them.
    epochs : int
        The epoch to train up to, as Keras' ``epochs``.
    initial_epoch : int
        The epoch to start from.
    settings : dict
        The other arguments of Keras' ``fit`` (see
        :func:`compiled_fit_unsupported_because`).
    callbacks : list of keras.callbacks.Callback
        The fit's callbacks; a ``History`` is added.

    Returns
    -------
    history : keras.callbacks.History
        The model's ``history``, as Keras' ``fit`` returns it.
    """
    data = _with_weights_per_output(data)
    n_rows = keras.tree.flatten(data[0])[0].shape[0]
    batch_size = settings.get("batch_size") or KERAS_DEFAULT_BATCH_SIZE
    shuffle = bool(settings.get("shuffle", True))
    epochs_class = _epochs_class()
    orders = _EpochOrders(epochs_class.shuffles_as_keras, n_rows, shuffle)
    symbolic_build(
        model,
        keras.tree.map_structure(lambda a: None if a is None else a[:batch_size], data),
        on_first_batch=functools.partial(orders.keras_builds, model),
    )
    trainer = epochs_class(model, data, batch_size)
    trainer.compile()
    orders.start()
    validation = settings.get("validation_data")
    if validation is not None:
        validation = trainer.hold(_with_weights_per_output(_unpack(validation)))
    validation_batch_size = settings.get("validation_batch_size") or batch_size
    callback_list = keras.callbacks.CallbackList(
        callbacks,
        add_history=True,
        add_progbar=False,
        verbose=0,
        epochs=epochs,
        steps=-(-n_rows // batch_size),
        model=model,
    )
    model.stop_training = False
    callback_list.on_train_begin()
    per_call = _epochs_per_call(
        epochs_class, callbacks, model, validation is not None, n_rows
    )
    logs: dict[str, float] = {}
    first_epoch = backup_initial_epoch(model) or initial_epoch
    chunk, seconds = range(first_epoch, first_epoch), 0.0
    while chunk.stop < epochs:
        count = _epochs_in_next_call(per_call, len(chunk), seconds)
        chunk = range(chunk.stop, min(chunk.stop + count, epochs))
        callback_list.on_epoch_begin(chunk[0])
        row_orders = orders.next(len(chunk))
        started = time.perf_counter()
        trained = trainer.train_epochs(row_orders)
        seconds = time.perf_counter() - started
        for epoch, epoch_logs in zip(chunk, trained, strict=True):
            if epoch != chunk[0]:  # several per call: no callback hooks epochs
                callback_list.on_epoch_begin(epoch)
            logs = _floats(epoch_logs)
            if validation is not None:
                val_logs = _floats(trainer.evaluate(validation, validation_batch_size))
                logs.update({f"val_{name}": value for name, value in val_logs.items()})
            callback_list.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    if epochs > 0:
        model.optimizer.finalize_variable_values(model.trainable_weights)
    callback_list.on_train_end(logs)
    return model.history


def _epochs_per_call(
    epochs_class: type,
    callbacks: list[keras.callbacks.Callback],
    model: keras.Model,
    validates: bool,
    n_rows: int,
) -> int:
    """The most epochs one call may train: several only where nothing runs between.

    That is, where the backend's trainer can (``several_epochs_per_call``), no
    callback but Keras' ``History``, which only records each epoch's logs,
    hooks an epoch, no validation runs after each epoch, and no callback asked
    to stop as training began (Keras' ``fit`` then still trains one epoch).
    The epochs' orders given to one call are bounded by :data:`MAX_ORDER_ROWS`.
    """
    hooked = [c for c in callbacks if type(c) is not keras.callbacks.History]
    if (
        not epochs_class.several_epochs_per_call
        or overrides_any_hook(hooked, EPOCH_HOOKS)
        or validates
        or model.stop_training
    ):
        return 1
    return max(1, MAX_ORDER_ROWS // n_rows)


def _epochs_in_next_call(limit: int, last_count: int, last_seconds: float) -> int:
    """Epochs for the next call: as many as fit :data:`CALL_SECONDS` at the last pace.

    The first call (``last_count`` 0) trains one epoch, which gives the pace
    (a first fit's first call, which traces, overstates it: the calls after
    it grow). Never more than ``limit`` (:func:`_epochs_per_call`).
    """
    if last_count == 0 or limit == 1:
        return 1
    fitting = CALL_SECONDS * last_count / max(last_seconds, 1e-9)
    return max(1, min(limit, int(fitting)))


def _untrained(model: keras.Model) -> bool:
    """Whether ``model``'s optimizer has yet to take a step.

    Keras draws a shuffle to build a model object's compiled loss and metrics
    on that object's first fit: for a new model, which the orders repeat, but
    also for a trained one restored from a pickle or a file, where a
    continued fit of the model not restored draws none. A trained model
    draws none here either way, so the round trip keeps the row orders.
    """
    # Asked on JAX only (keras_builds). Read as a tensor, since NumPy warns
    # when it takes a Keras variable itself, and compared in NumPy, since a
    # comparison op would compile (20 ms of a first fit).
    iterations = keras.ops.convert_to_tensor(model.optimizer.iterations)
    return int(keras.ops.convert_to_numpy(iterations)) == 0


class _EpochOrders:
    """Each epoch's row order: Keras' draws on JAX, the fit's own elsewhere.

    Where Keras shuffles from NumPy's global generator (JAX) each order is
    drawn from it during the fit's turn at it, and so is the shuffle Keras
    draws when it takes a batch to build the model. Elsewhere (TensorFlow,
    whose Keras shuffles inside ``tf.data``) the orders come from a generator
    of the fit's own, seeded from NumPy's global one as training starts.
    """

    def __init__(self, as_keras: bool, n_rows: int, shuffle: bool) -> None:
        self._as_keras, self._n_rows, self._shuffle = as_keras, n_rows, shuffle
        self._generator: Any = np.random

    def keras_builds(self, model: keras.Model) -> None:
        """Keras' shuffle as it builds ``model``, drawn where it draws (untrained)."""
        if self._as_keras and _untrained(model):
            _epoch_order(np.random, self._n_rows, self._shuffle)

    def start(self) -> None:
        if not self._as_keras:
            seed = np.random.randint(_MAX_SEED)
            self._generator = np.random.RandomState(seed)

    def next(self, count: int) -> np.ndarray:
        """The next ``count`` epochs' row orders, one per row."""
        if not self._as_keras:
            return self._draw(self._generator, count)
        with process_random_state_turn():
            return self._draw(np.random, count)

    def _draw(self, generator: Any, count: int) -> np.ndarray:
        return np.stack(
            [_epoch_order(generator, self._n_rows, self._shuffle) for _ in range(count)]
        )


def _epoch_order(generator: Any, n_rows: int, shuffle: bool) -> np.ndarray:
    """An epoch's row order; from NumPy's global generator, as Keras on JAX."""
    return generator.permutation(n_rows) if shuffle else np.arange(n_rows)


def _floats(logs: dict[str, Any]) -> dict[str, float]:
    return {name: float(value) for name, value in logs.items()}
