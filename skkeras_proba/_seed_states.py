"""The states of a model's seed generators, which Keras' saving leaves out.

A ``keras.random.SeedGenerator`` (each ``Dropout`` layer holds one) keeps its
seed and its count of draws in a state variable that ``model.variables``
lists and ``model.weights`` does not, and Keras' ``.keras`` format, which
pickling goes through, does not save it: a restored model draws its dropout
masks from a new, unseeded generator. A training continued after a round
trip would then not be the one continued without it, and two loads of one
file would train apart. The estimators carry these states beside the model
when pickled and saved, and put them back when restored.
"""

from __future__ import annotations

import keras
import numpy as np

SEED_STATES = "_model_seed_states"
"""Where a pickled or saved estimator keeps ``model_``'s seed generator states."""


def _seed_variables(model: keras.Model) -> list:
    weights = {id(weight) for weight in model.weights}
    return [v for v in model.variables if id(v) not in weights]


def seed_states(model: keras.Model) -> list[np.ndarray]:
    """Each seed generator's state, in the order of ``model.variables``."""
    # Copied to a tensor first: NumPy warns when it takes a TensorFlow variable.
    variables = _seed_variables(model)
    return [keras.ops.convert_to_numpy(keras.ops.copy(v)) for v in variables]


def check_seed_states(model: keras.Model, states: list[np.ndarray]) -> None:
    """Raise ``ValueError`` unless ``states`` fit ``model``'s seed generators.

    They fit when they are as many, each of the shape and dtype of its
    generator's state, in the order of ``model.variables``.
    """
    expected = [(tuple(v.shape), np.dtype(v.dtype)) for v in _seed_variables(model)]
    received = [(np.shape(s), np.asarray(s).dtype) for s in states]
    if expected != received:
        raise ValueError(
            f"the model's seed generator states have shapes and dtypes {expected}, "
            f"the states given {received}"
        )


def restore_seed_states(model: keras.Model, states: list[np.ndarray]) -> None:
    """Put back ``states`` taken by :func:`seed_states` from the same architecture.

    Raises
    ------
    ValueError
        If :func:`check_seed_states` refuses them; nothing is assigned then.
    """
    check_seed_states(model, states)
    for variable, state in zip(_seed_variables(model), states, strict=True):
        variable.assign(state)
