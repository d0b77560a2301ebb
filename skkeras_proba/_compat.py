"""Version shims and every use of a private Keras, TensorFlow or scikeras name.

Each entry says why it is needed and when it can go.
"""

from __future__ import annotations

from typing import Any

import keras


def _global_state() -> Any:
    # keras.src.backend.common.global_state holds the seed that
    # keras.utils.set_random_seed writes; Keras has no public getter (3.15).
    from keras.src.backend.common import global_state

    return global_state


_KERAS_SEED_KEYS = ("global_random_seed", "global_seed_generator")


def keras_global_seed_state() -> dict[str, Any]:
    """Keras' global seed and seed generator, to restore after a seeded fit."""
    state = _global_state()
    return {key: state.get_global_attribute(key) for key in _KERAS_SEED_KEYS}


def tf_global_seed() -> int | None:
    """TensorFlow's global seed; tf has no public getter (2.21)."""
    if keras.backend.backend() != "tensorflow":
        return None
    from tensorflow.python.eager import context

    return context.global_seed()


def restore_keras_global_seed(keras_state: dict[str, Any], tf_seed: int | None) -> None:
    """Put back what :func:`keras_global_seed_state` and :func:`tf_global_seed` read."""
    state = _global_state()
    for key, value in keras_state.items():
        state.set_global_attribute(key, value)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.random.set_seed(tf_seed)


def tf_op_determinism_enabled() -> bool:
    """Whether TensorFlow's op determinism is on; only a private getter exists."""
    from tensorflow.python.framework import config

    return bool(config.is_op_determinism_enabled())
