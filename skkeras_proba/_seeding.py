"""``random_state`` for Keras training without process-wide side effects.

Keras draws initial weights, dropout masks and shuffling from Python's
``random``, NumPy's global generator, TensorFlow's global seed and Keras' own
global seed generator. Seeding a fit means setting all four; leaving the process
as we found it means restoring all four afterwards. We never touch TensorFlow's
op-determinism switch: on CPU, seeded Keras training is already repeatable, and
switching it on globally is what makes a later unseeded fit fail with "Random
ops require a seed" (scikeras 0.13).
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator

import keras
import numpy as np
from sklearn.utils import check_random_state

from skkeras_proba._compat import (
    keras_global_seed_state,
    restore_keras_global_seed,
    tf_global_seed,
)

_MAX_SEED = np.iinfo(np.int32).max


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


@contextlib.contextmanager
def seeded(seed: int | None) -> Iterator[None]:
    """Seed every generator Keras uses inside the block, restore them after.

    With ``seed=None`` nothing is touched.
    """
    if seed is None:
        yield
        return
    python_state = random.getstate()
    numpy_state = np.random.get_state()
    keras_state = keras_global_seed_state()
    tf_seed = tf_global_seed()
    keras.utils.set_random_seed(seed)
    try:
        yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)
        restore_keras_global_seed(keras_state, tf_seed)
