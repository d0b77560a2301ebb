"""random_state seeds Keras for the duration of a fit, and nothing else."""

import random

import keras
import numpy as np

from skkeras_proba._compat import tf_global_seed, tf_op_determinism_enabled
from skkeras_proba._seeding import seed_from, seeded


def _weights():
    layer = keras.layers.Dense(4)
    layer.build((None, 3))
    return keras.ops.convert_to_numpy(layer.kernel)


def test_seeded_block_gives_identical_initial_weights():
    with seeded(7):
        first = _weights()
    with seeded(7):
        second = _weights()
    np.testing.assert_array_equal(first, second)


def test_seeded_block_restores_python_numpy_and_tensorflow_generators():
    np.random.seed(123)
    random.seed(123)
    numpy_before = np.random.get_state()[1].copy()
    python_before = random.getstate()
    tf_before = tf_global_seed()
    with seeded(0):
        np.random.rand(5)
        random.random()
    np.testing.assert_array_equal(np.random.get_state()[1], numpy_before)
    assert random.getstate() == python_before
    assert tf_global_seed() == tf_before
    assert not tf_op_determinism_enabled()


def test_no_seed_touches_nothing():
    state = np.random.get_state()[1].copy()
    with seeded(None):
        pass
    np.testing.assert_array_equal(np.random.get_state()[1], state)


def test_seed_from_int_none_and_random_state():
    assert seed_from(None) is None
    assert seed_from(5) == 5
    assert seed_from(np.int64(5)) == 5
    rng = np.random.RandomState(0)
    first, second = seed_from(rng), seed_from(rng)
    assert first != second  # a RandomState advances, as in scikit-learn
    assert seed_from(np.random.RandomState(0)) == first
