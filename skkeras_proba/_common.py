"""Small facts both engines use, so that neither imports the other.

The fit engine (``_fit/``) and the forward pass (``_forward/``) each import
these downward: Keras' default batch size, the rule that a batch size of -1
means all rows at once (scikeras' convention), and the integer seed a
scikit-learn ``random_state`` gives Keras.
"""

from __future__ import annotations

import numpy as np
from sklearn.utils import check_random_state

KERAS_DEFAULT_BATCH_SIZE = 32
ALL_ROWS = -1
"""A batch size of -1: every row in one batch, as scikeras reads it."""
_MAX_SEED = np.iinfo(np.int32).max


def rows_per_batch(batch_size: int | None, n_rows: int) -> int | None:
    """``batch_size`` with -1 (all rows) resolved to ``n_rows``; else as given."""
    return n_rows if batch_size == ALL_ROWS else batch_size


def seed_from(random_state: int | np.random.RandomState | None) -> int | None:
    """An integer seed for Keras from a scikit-learn ``random_state``.

    None stays None (unseeded); an int is used as is; a RandomState instance
    gives one draw, advancing it as scikit-learn estimators do.
    """
    if random_state is None:
        return None
    if isinstance(random_state, int | np.integer):
        return int(random_state)
    return int(check_random_state(random_state).randint(_MAX_SEED))
