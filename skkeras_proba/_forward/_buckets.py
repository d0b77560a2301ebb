"""Row buckets: a few batch shapes for forward passes compiled per shape.

A function compiled for one input shape (``jax.jit``, a TorchScript trace)
would be compiled again for every batch size. Padding each batch's rows with
zeros to the next bucket (powers of two from :data:`MIN_BUCKET_ROWS` up to
:data:`LARGEST_POWER_OF_TWO_BUCKET`, then multiples of it) and cutting the
outputs back bounds that to about 14 compilations whatever the batch sizes.
Rows must not see each other in inference (true of Keras layers: batch
normalisation uses its moving statistics), or the padding rows would change
the real ones.
"""

from __future__ import annotations

import numpy as np

MIN_BUCKET_ROWS = 8
"""Smallest padded batch: one compilation covers every batch of 1 to 8 rows."""

LARGEST_POWER_OF_TWO_BUCKET = 8192
"""Above this, batches are padded to a multiple of it rather than doubled."""


def bucket_rows(n_rows: int) -> int:
    """Rows the batch of ``n_rows`` is padded to."""
    if n_rows <= MIN_BUCKET_ROWS:
        return MIN_BUCKET_ROWS
    if n_rows <= LARGEST_POWER_OF_TWO_BUCKET:
        return 1 << (n_rows - 1).bit_length()
    return -(-n_rows // LARGEST_POWER_OF_TWO_BUCKET) * LARGEST_POWER_OF_TWO_BUCKET


def pad_rows(array: np.ndarray, rows: int) -> np.ndarray:
    """``array`` with zero rows appended up to ``rows`` rows."""
    if len(array) == rows:
        return array
    padded = np.zeros((rows, *array.shape[1:]), array.dtype)
    padded[: len(array)] = array
    return padded
