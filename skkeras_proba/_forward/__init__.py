"""The fast forward pass used by every predict-like method.

``keras.Model.predict`` builds a data pipeline and a callback loop on every
call: about 75 ms for a single row. Calling the model eagerly costs a few
milliseconds of Python per layer. Instead ``model(x, training=False)`` is
compiled once, by the module of the Keras backend in use (see
:func:`compile_forward`: a TensorFlow trace, a jitted JAX function), with its
batch dimension left open, and the input is streamed through it in batches.
Each batch's raw outputs are decoded (into probabilities, labels...) before
the next batch runs and written into a preallocated output, so memory stays at
input + output + one batch.

A :class:`Forward` holds the compiled pass. Estimators keep one per fitted
model, drop it when pickled and rebuild it when unpickled (see ``_base.py``).
It also runs Monte Carlo dropout passes (:meth:`Forward.passes`, averaged by
:meth:`Forward.averaged`) through a second compiled pass, of a copy of the
model whose dropout is always active.

The package, one module per job:

- ``_tensorflow.py``, ``_jax.py``, ``_torch.py``: compile the pass on one
  Keras backend each; only the chosen backend's module is imported (see
  :func:`_backend_module`), so the package needs only that backend's
  framework;
- ``_buckets.py``: the row buckets that bound the compilations of the
  backends that compile per input shape (JAX, PyTorch);
- ``_mc_dropout.py``: the copy of the model whose dropout is always active,
  and the seeds of its passes.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import keras
import numpy as np
import scipy.sparse as sp

from skkeras_proba._callbacks import overrides_any_hook
from skkeras_proba._common import KERAS_DEFAULT_BATCH_SIZE
from skkeras_proba._forward._mc_dropout import dropout_active_copy, reseed
from skkeras_proba._sparse_input import DenseBatches, keras_feeds_sparse_to

if TYPE_CHECKING:
    from types import ModuleType

DEFAULT_BATCH_SIZE = 8192
"""Rows per forward call when ``predict__batch_size`` is not set.

Large enough that per-call overhead vanishes, small enough that one batch of
activations of a typical tabular or small image model stays in a few MiB. A
backend's forward module may set its own ``DEFAULT_BATCH_SIZE`` (see
:func:`default_batch_size`).
"""

SPARSE_BATCH_VALUES = 2**21
"""Values of one densified batch of sparse X when no batch size is asked for.

Each batch of a sparse X is made dense for the forward pass. For a wide X (a
one-hot encoding of 20,000 categories, say) the default batch would be GiBs,
so its rows are cut to hold at most this many values: 8 MiB of float32.
"""

Decode = Callable[[list[np.ndarray]], list[np.ndarray]]
"""Maps one batch's raw outputs (one array per head) to arrays with the same rows."""


Read = Callable[[keras.Model], keras.Model]
"""Maps a model to the model whose outputs are read (see ``_heads.reading_model``)."""


class Forward:
    """Batched, traced inference for one Keras model.

    Parameters
    ----------
    model : keras.Model
        A built model. Its outputs are returned as a list, in the order of
        ``model.outputs`` (dict outputs are ordered by ``model.output_names``).
    read : callable, default=None
        Applied to ``model`` (and to its dropout-active copy for
        :meth:`passes`) to get the model actually run; e.g. one returning
        each head's pre-activation values. None runs ``model`` itself.
    """

    def __init__(self, model: keras.Model, read: Read | None = None) -> None:
        self.model = model
        self._read = read
        self._traced = _Traced(model if read is None else read(model))
        self.batch_size = default_batch_size()
        """Rows per forward call when a call gives none."""
        self._stochastic: tuple[keras.Model, _Traced] | None = None
        self._stochastic_lock = threading.Lock()

    def __call__(
        self, X: Any, batch_size: int | None = None, decode: Decode | None = None
    ) -> list[np.ndarray]:
        """Outputs of every head for all rows of ``X``, decoded batch by batch.

        Parameters
        ----------
        X : ndarray, sparse matrix, or list/dict of ndarrays
            Model input with samples on the first axis.
        batch_size : int, default=None
            Rows per forward call; :attr:`batch_size` if None (for sparse X,
            at most :data:`SPARSE_BATCH_VALUES` values per batch).
        decode : callable, default=None
            Applied to each batch's raw outputs (a list with one array per
            head); it returns a list of arrays with the batch's rows, e.g.
            probabilities. None keeps the raw outputs.

        Returns
        -------
        outputs : list of ndarray
            What ``decode`` returns, for all ``len(X)`` rows.
        """
        return _batched(self._traced, X, batch_size or self._rows_for(X), decode)

    def keras_predict(
        self, X: Any, decode: Decode | None = None, **predict_kwargs: Any
    ) -> list[np.ndarray]:
        """Outputs of every head through Keras' own ``predict`` loop.

        For what only that loop does (see :func:`needs_keras_predict_loop`):
        ``model.predict`` of the model itself, so its callbacks see that model,
        and its outputs (after any final activation) are returned, decoded.
        Sparse X goes to Keras as it is, or in dense batches to a subclassed
        model (see ``_sparse_input``).
        """
        if sp.issparse(X) and not keras_feeds_sparse_to(self.model):
            batch_size = predict_kwargs.pop("batch_size", None)
            batch_size = batch_size or KERAS_DEFAULT_BATCH_SIZE
            X = DenseBatches(X, None, None, batch_size, False, None)
        outputs = self._traced.to_list(self.model.predict(X, **predict_kwargs))
        return decode(outputs) if decode is not None else outputs

    def passes(
        self,
        X: Any,
        n_passes: int,
        seed: int,
        batch_size: int | None = None,
        decode: Decode | None = None,
    ) -> list[np.ndarray]:
        """Outputs of ``n_passes`` forward passes with dropout active.

        The same ``seed``, ``X`` and ``batch_size`` give the same passes.
        Concurrent calls on one :class:`Forward` run one after the other.

        Parameters
        ----------
        X, batch_size
            As for :meth:`__call__`.
        n_passes : int
            Stochastic passes per row.
        seed : int
            Seeds the dropout masks.
        decode : callable, default=None
            Applied to each batch's outputs: a list with one array of shape
            (n_passes, batch_rows, ...) per head; it returns a list of arrays
            with the batch's rows on the first axis. None keeps the passes
            with rows first: (batch_rows, n_passes, ...).

        Returns
        -------
        outputs : list of ndarray
            What ``decode`` returns, for all ``len(X)`` rows.
        """
        with self._stochastic_lock:
            if self._stochastic is None:
                copy = dropout_active_copy(self.model)
                run = copy if self._read is None else self._read(copy)
                self._stochastic = copy, _Traced(run)
            copy, traced = self._stochastic
            reseed(copy, seed)

            def run_passes(batch: Any) -> list[np.ndarray]:
                per_pass = [traced(batch) for _ in range(n_passes)]
                return [np.stack(head) for head in zip(*per_pass, strict=True)]

            def rows_first(outputs: list[np.ndarray]) -> list[np.ndarray]:
                return [np.swapaxes(output, 0, 1) for output in outputs]

            return _batched(
                run_passes, X, batch_size or self._rows_for(X), decode or rows_first
            )

    def averaged(
        self,
        X: Any,
        n_passes: int,
        seed: int,
        average: Decode,
        batch_size: int | None = None,
        decode: Decode | None = None,
    ) -> list[np.ndarray]:
        """The mean prediction of ``n_passes`` passes with dropout active.

        Parameters
        ----------
        X, n_passes, seed, batch_size
            As for :meth:`passes`.
        average : callable
            Maps one batch's passes (one array of shape (n_passes, batch_rows,
            ...) per head) to one set of outputs with the batch's rows, e.g.
            ``_decode.average_passes``.
        decode : callable, default=None
            As for :meth:`__call__`, applied to the averaged outputs.

        Returns
        -------
        outputs : list of ndarray
            What ``decode`` returns, for all ``len(X)`` rows.
        """

        def average_then_decode(passes: list[np.ndarray]) -> list[np.ndarray]:
            averaged = average(passes)
            return averaged if decode is None else decode(averaged)

        return self.passes(X, n_passes, seed, batch_size, average_then_decode)

    def _rows_for(self, X: Any) -> int:
        """Rows per forward call when a call gives none: fewer for wide sparse X."""
        if not sp.issparse(X):
            return self.batch_size
        return max(1, min(self.batch_size, SPARSE_BATCH_VALUES // X.shape[1]))


class _Traced:
    """One model's forward pass, compiled for the backend on first use."""

    def __init__(self, model: keras.Model) -> None:
        self.model = model
        self._function = compile_forward(model)

    def __call__(self, batch: Any) -> list[np.ndarray]:
        return self.to_list(self._function(batch))

    def to_list(self, result: Any) -> list[np.ndarray]:
        if isinstance(result, dict):
            names = getattr(self.model, "output_names", None) or sorted(result)
            result = [result[name] for name in names]
        elif not isinstance(result, list | tuple):
            result = [result]
        return [
            r if isinstance(r, np.ndarray) else keras.ops.convert_to_numpy(r)
            for r in result
        ]


def compile_forward(model: keras.Model) -> Callable[[Any], Any]:
    """The current backend's compiled ``model(batch, training=False)``.

    Backends without a module of their own (numpy, openvino) call the model
    eagerly.
    """
    module = _backend_module()
    if module is None:
        return functools.partial(_eager_call, model)
    return module.compile_forward(model)


def default_batch_size() -> int:
    """Rows per forward call on the current backend when none is asked for."""
    return getattr(_backend_module(), "DEFAULT_BATCH_SIZE", DEFAULT_BATCH_SIZE)


def _backend_module() -> ModuleType | None:
    """The module compiling the forward pass on the Keras backend in use.

    Each has ``compile_forward(model) -> forward``, where ``forward(batch)``
    returns ``model(batch, training=False)``. Imported here, on first use,
    rather than at the top: importing a backend's module imports its
    framework, and only the chosen backend's framework need be installed.
    None for backends without a module of their own.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        from skkeras_proba._forward import _tensorflow as module
    elif backend == "jax":
        from skkeras_proba._forward import _jax as module
    elif backend == "torch":
        from skkeras_proba._forward import _torch as module
    else:
        return None
    return module


KERAS_PREDICT_KWARGS = frozenset({"batch_size", "verbose", "steps", "callbacks"})
"""Keyword arguments of ``keras.Model.predict`` that predict methods accept."""

PREDICT_HOOKS = (
    "on_predict_begin",
    "on_predict_end",
    "on_predict_batch_begin",
    "on_predict_batch_end",
)


def needs_keras_predict_loop(
    predict_kwargs: dict[str, Any], callbacks: list[keras.callbacks.Callback]
) -> bool:
    """Whether a prediction must run through ``keras.Model.predict``.

    The traced forward pass honours ``batch_size``; Keras' loop is needed for
    anything else it does: ``verbose`` (its progress bar), ``steps``, explicit
    ``callbacks``, and callbacks that implement a predict hook. Callbacks meant
    for training only (``EarlyStopping``, ...) keep the fast path.
    """
    if set(predict_kwargs) - {"batch_size"}:
        return True
    return overrides_any_hook(callbacks, PREDICT_HOOKS)


def _batched(
    run: Callable[[Any], list[np.ndarray]],
    X: Any,
    batch_size: int,
    decode: Decode | None,
) -> list[np.ndarray]:
    """``decode(run(batch))`` for each batch of ``X``, gathered into arrays."""
    n_samples = _n_samples(X)
    outputs: list[np.ndarray] | None = None
    for start in range(0, n_samples, batch_size):
        stop = min(start + batch_size, n_samples)
        batch = run(_take(X, start, stop))
        if decode is not None:
            batch = decode(batch)
        if outputs is None:
            outputs = [np.empty((n_samples, *b.shape[1:]), b.dtype) for b in batch]
        for out, b in zip(outputs, batch, strict=True):
            out[start:stop] = b
    return outputs if outputs is not None else []


def _eager_call(model: keras.Model, batch: Any) -> Any:
    return model(batch, training=False)


def _n_samples(X: Any) -> int:
    if isinstance(X, dict):
        return _n_samples(next(iter(X.values())))
    if isinstance(X, list | tuple):
        return _n_samples(X[0])
    return X.shape[0]


def _take(X: Any, start: int, stop: int) -> Any:
    """Rows ``start:stop`` of ``X`` as dense arrays of Keras' float type."""
    if isinstance(X, dict):
        return {key: _take(value, start, stop) for key, value in X.items()}
    if isinstance(X, list | tuple):
        return [_take(value, start, stop) for value in X]
    batch = X[start:stop]
    if sp.issparse(batch):
        batch = batch.toarray()
    if batch.dtype.kind in "fiub":
        return np.ascontiguousarray(batch, dtype=keras.backend.floatx())
    return np.ascontiguousarray(batch)
