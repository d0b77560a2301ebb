"""Sparse X: sparse into Keras where it can, else dense one batch at a time.

A scipy sparse matrix goes to ``keras.Model.fit`` as it is wherever Keras can
feed it. Keras' data adapters slice it batch by batch -- a ``tf.SparseTensor``
per batch on TensorFlow, a JAX ``BCOO`` array on JAX, a dense array on
PyTorch -- and the ``Input`` layer of a Functional or Sequential model
densifies a sparse batch, unless it is declared ``sparse=True`` (then layers
such as ``Dense`` compute on the sparse batch itself). Memory stays at the
sparse matrix plus one batch, and where Keras slices the matrix, the
batches, their order and the trained weights are those of the same rows
given densely (tested). scikeras hands Keras the matrix the same way.

A subclassed model has no ``Input`` layer: its ``call`` would be handed the
sparse batch, which most layers cannot take. It is given
:class:`DenseBatches` instead, a ``keras.utils.PyDataset`` that densifies one
batch at a time: the rows in order, or with ``shuffle`` in a new order each
epoch, drawn from a generator seeded from NumPy's when the fit starts (which
a seeded fit seeds, see ``_fit/_seeding.py``), so a seeded fit is
repeatable; the order is not the one Keras would draw. ``validation_split``
holds out the last rows, as Keras does (``_fit/_sparse_batches.py`` makes the
fit's batches). The forward pass densifies a subclassed model's batches the
same way.

On JAX, a model whose ``Input`` is not ``sparse=True`` gets
:class:`DenseBatches` too: a ``BCOO`` batch's shape holds its count of stored
values, so the jitted train step would compile again for nearly every batch,
only for the ``Input`` layer to densify the batch.
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np

_BACKENDS_WITH_SPARSE_TENSORS = ("tensorflow", "jax")
"""Where Keras hands a model sparse batches; elsewhere it densifies each batch."""
_BACKENDS_COMPILING_PER_SPARSE_BATCH = ("jax",)
"""Where a sparse batch's count of stored values is part of its shape.

A JAX ``BCOO`` batch's is, so the jitted train step compiles again for nearly
every batch (a 2,000 x 300 CSR matrix at 5% density, 3 epochs: 39 s, against
2.5 s in dense batches). A model whose ``Input`` densifies the batch anyway is
given dense batches there."""


def keras_feeds_sparse_to(model: keras.Model) -> bool:
    """Whether ``model`` is trained on sparse X through Keras' own input.

    True on backends where Keras densifies each batch itself, and for a model
    with ``Input`` layers (Functional, Sequential) on TensorFlow; on JAX only
    for a model with an ``Input`` declared ``sparse=True`` (see
    :data:`_BACKENDS_COMPILING_PER_SPARSE_BATCH`). False for a subclassed
    model on TensorFlow or JAX.
    """
    backend = keras.backend.backend()
    if backend not in _BACKENDS_WITH_SPARSE_TENSORS:
        return True
    inputs = getattr(model, "inputs", None) or []
    if backend in _BACKENDS_COMPILING_PER_SPARSE_BATCH:
        return any(keras_input.sparse for keras_input in inputs)
    return bool(inputs)


class DenseBatches(keras.utils.PyDataset):
    """Rows of a sparse matrix as dense batches, with their targets and weights.

    Parameters
    ----------
    x : sparse matrix of shape (n_samples, n_features)
        The model's input.
    y : array-like, list or dict of array-like, or None
        Targets, with samples on the first axis; None for none.
    sample_weight : ndarray of shape (n_samples,) or None
        Per-sample weights.
    batch_size : int
        Rows per batch; the last batch may be shorter.
    shuffle : bool
        Whether the rows come in a new random order every epoch.
    seed : int or None
        Seeds the orders.
    """

    def __init__(
        self,
        x: Any,
        y: Any,
        sample_weight: np.ndarray | None,
        batch_size: int,
        shuffle: bool,
        seed: int | None,
    ) -> None:
        super().__init__()
        self._x = x.tocsr()  # rows are sliced; a no-op for CSR
        self._y = y
        self._sample_weight = sample_weight
        self._batch_size = batch_size
        self._orders = np.random.default_rng(seed) if shuffle else None
        self._order = self._new_order()

    def __len__(self) -> int:
        return math.ceil(self._x.shape[0] / self._batch_size)

    def __getitem__(self, index: int) -> tuple[Any, ...]:
        rows: Any = slice(index * self._batch_size, (index + 1) * self._batch_size)
        if self._order is not None:
            rows = self._order[rows]
        batch = [self._x[rows].toarray().astype(keras.backend.floatx(), copy=False)]
        for part in (self._y, self._sample_weight):
            if part is not None:
                batch.append(keras.tree.map_structure(lambda a: a[rows], part))
        return tuple(batch)

    def on_epoch_end(self) -> None:
        self._order = self._new_order()

    def _new_order(self) -> np.ndarray | None:
        """The rows of the coming epoch, in order; None for the rows as they are."""
        if self._orders is None:
            return None
        return self._orders.permutation(self._x.shape[0])
