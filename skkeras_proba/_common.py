"""Small facts both engines use, so that neither imports the other.

The fit engine (``_fit/``) and the forward pass (``_forward/``) each import
these downward: Keras' default batch size, the rule that a batch size of -1
means all rows at once (scikeras' convention), and the integer seed a
scikit-learn ``random_state`` gives Keras. The estimators resolve -1 against
their features with :func:`batch_size_for`. Warnings raised anywhere in the
package point at the user's call through :func:`user_stacklevel`.
"""

from __future__ import annotations

import inspect
import os
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.utils import check_random_state

KERAS_DEFAULT_BATCH_SIZE = 32
ALL_ROWS = -1
"""A batch size of -1: every row in one batch, as scikeras reads it."""
_MAX_SEED = np.iinfo(np.int32).max
_PACKAGE = f"{Path(__file__).parent}{os.sep}"  # its files, not a sibling's


def rows_per_batch(batch_size: int | None, n_rows: int) -> int | None:
    """``batch_size`` with -1 (all rows) resolved to ``n_rows``; else as given."""
    return n_rows if batch_size == ALL_ROWS else batch_size


def batch_size_for(batch_size: int | None, features: Any) -> int | None:
    """A batch size, -1 (all rows at once) resolved to the rows of ``features``.

    ``features`` are the model's input; see :func:`rows_per_batch`.
    """
    if batch_size != ALL_ROWS:
        return batch_size
    try:
        return rows_per_batch(batch_size, features.shape[0])
    except AttributeError:  # scikeras' message for the same situation
        raise ValueError(
            "`batch_size=-1` requires that `X` implement `shape`: the feature "
            f"encoder returned a {type(features).__name__}. Give batch_size (or "
            "fit__/predict__batch_size) a number of rows instead."
        ) from None


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


def user_stacklevel() -> int:
    """The ``stacklevel`` at which ``warnings.warn`` shows the user's line.

    The number of frames, from the function that warns up, that belong to
    this package: the warning then points at the first caller outside it
    (the user's ``fit``, or scikit-learn's inside a search) however deep the
    package's own calls go, as pandas' ``find_stack_level`` does.
    """
    level = 0
    frame = inspect.currentframe()
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        level += 1
        frame = frame.f_back
    del frame  # a frame refers to its locals: no cycle kept alive
    return level
