"""The batches of a fit on sparse X for a model Keras cannot feed it to.

See ``skkeras_proba/_sparse_input.py``: a subclassed model is trained on
:class:`DenseBatches`, dense one batch at a time, with ``validation_split``
holding out the last rows as Keras does.
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np

from skkeras_proba._common import KERAS_DEFAULT_BATCH_SIZE, rows_per_batch
from skkeras_proba._sparse_input import DenseBatches


def dense_batches_for_fit(
    x: Any,
    y: Any,
    sample_weight: np.ndarray | None,
    batch_size: int | None,
    shuffle: bool,
    validation_split: float,
    validation_batch_size: int | None,
) -> tuple[DenseBatches, DenseBatches | None]:
    """The training batches, and the validation batches of ``validation_split``.

    Arguments as for ``keras.Model.fit``; a batch size of None is Keras'
    default (32), -1 all rows. Validation takes the last
    ``floor(n_samples * validation_split)`` rows, in order, as Keras does.
    """
    n_rows = x.shape[0]
    batch_size = rows_per_batch(batch_size, n_rows) or KERAS_DEFAULT_BATCH_SIZE
    split = math.floor(n_rows * (1.0 - validation_split)) if validation_split else 0
    if validation_split and not 0 < split < n_rows:
        raise ValueError(  # as Keras would for arrays
            f"validation_split={validation_split} of {n_rows} samples leaves no "
            "samples for training or for validation. Pass more samples or "
            "another validation_split."
        )

    def rows(part: Any, start: int, stop: int) -> Any:
        if part is None:
            return None
        return keras.tree.map_structure(lambda a: a[start:stop], part)

    split = split or n_rows
    # Drawn from NumPy's generator, which a seeded fit has seeded (see the
    # module docstring); the orders then come from this fit's own generator.
    seed = int(np.random.randint(np.iinfo(np.int32).max)) if shuffle else None
    train = DenseBatches(
        x[:split],
        rows(y, 0, split),
        rows(sample_weight, 0, split),
        batch_size,
        bool(shuffle),
        seed,
    )
    if split == n_rows:
        return train, None
    validation = DenseBatches(
        x[split:],
        rows(y, split, n_rows),
        rows(sample_weight, split, n_rows),
        rows_per_batch(validation_batch_size, n_rows - split) or batch_size,
        False,
        None,
    )
    return train, validation
