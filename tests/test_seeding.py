"""random_state seeds Keras for the duration of a fit, and nothing else."""

import random
import threading

import keras
import numpy as np

from skkeras_proba._common import seed_from
from skkeras_proba._compat import (
    keras_global_seed_state,
    tf_global_seed,
    tf_op_determinism_enabled,
)
from skkeras_proba._fit._seeding import seeded
from tests.backends import requires_backend


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


def test_seeded_draws_form_one_stream_across_turns():
    # Between its turns a fit's generators are the process's; its own draws
    # continue where they stopped, as if nothing had run in between.
    with seeded(5) as fit:
        first = (random.random(), np.random.rand())
        fit.release_process_random_state()
        random.random(), np.random.rand()  # drawn by someone else meanwhile
        fit.take_process_random_state()
        second = (random.random(), np.random.rand())
    python, numpy = random.Random(5), np.random.RandomState(5)
    assert first == (python.random(), numpy.rand())
    assert second == (python.random(), numpy.rand())


def test_keras_seed_generator_is_seeded_per_thread_and_restored():
    before = keras_global_seed_state()
    with seeded(11):
        inside = keras.random.uniform((3,))
    with seeded(11):
        again = keras.random.uniform((3,))
    assert keras_global_seed_state() == before
    np.testing.assert_array_equal(inside, again)


def test_fit_waits_while_another_holds_the_process_generators():
    other_entered = threading.Event()

    def other_fit():
        with seeded(None):
            other_entered.set()

    with seeded(1):
        thread = threading.Thread(target=other_fit)
        thread.start()
        assert not other_entered.wait(0.5)
    thread.join(timeout=60)
    assert other_entered.is_set()


def test_keras_default_seeds_ignore_draws_by_other_code():
    # Dask's sizeof, for one, samples with Python's random in another thread
    # at any moment; a seeded build must not see those draws.
    with seeded(7):
        undisturbed = _weights()
    with seeded(7):
        random.random()
        disturbed = _weights()
    np.testing.assert_array_equal(undisturbed, disturbed)


@requires_backend("torch", reason="torch's generator is drawn from on PyTorch only")
def test_seeded_block_seeds_and_restores_torch_generator():
    import torch

    torch.manual_seed(123)
    before = torch.get_rng_state()
    with seeded(5):
        inside = torch.rand(3)
    with seeded(5):
        again = torch.rand(3)
    assert torch.equal(torch.get_rng_state(), before)
    assert torch.equal(inside, again)
    torch.manual_seed(5)  # what keras.utils.set_random_seed(5) would do
    assert torch.equal(inside, torch.rand(3))
