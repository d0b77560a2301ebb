"""Monte Carlo dropout: a copy of a model whose dropout stays on at prediction.

Keeping dropout active at prediction time and averaging several stochastic
passes (Gal & Ghahramani, 2016) turns a network trained with dropout into an
approximate Bayesian model average; the spread of the passes measures how
unsure the model is.

Dropout is switched on for ``Dropout`` layers only. Calling the model with
``training=True`` would also switch batch normalisation to batch statistics
(and update its moving averages), so the passes run on a copy of the model
whose ``Dropout`` layers always drop: :func:`dropout_active_copy`. The copy has
its own weights (copied, so the caller's model is never changed, and other
threads may use it meanwhile) and its own seed generators, which
:func:`reseed` sets before each prediction so that passes are reproducible.

:meth:`Forward.passes <skkeras_proba._forward.Forward.passes>` runs the copy;
``_decode.average_passes`` averages what the passes give.
"""

from __future__ import annotations

import secrets

import keras
import numpy as np

from skkeras_proba._common import seed_from

# Each dropout layer's seed state starts this many draws apart, so that the
# streams of two layers never meet within one prediction (one draw per pass and
# batch, up to 2**20 of them).
_DRAWS_PER_LAYER = 2**20


class _AlwaysDropout(keras.layers.Dropout):
    """A ``Dropout`` that drops whatever ``training`` says."""

    def call(self, inputs, training=None):
        return super().call(inputs, training=True)


def dropout_layers(model: keras.Model) -> list[keras.layers.Dropout]:
    """Every ``Dropout`` layer (and subclass) with a positive rate, nested included."""
    found = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            found.extend(dropout_layers(layer))
        elif isinstance(layer, keras.layers.Dropout) and layer.rate > 0:
            found.append(layer)
    return found


def check_has_dropout(model: keras.Model, n_passes: int) -> None:
    """Raise unless ``model`` has dropout for ``n_passes`` passes to vary."""
    if not dropout_layers(model):
        raise ValueError(
            f"mc_dropout={n_passes} asks for Monte Carlo dropout, but the model "
            f"{model.name!r} has no Dropout layer with a positive rate, so every "
            "pass would give the same probabilities. Add "
            "keras.layers.Dropout(rate) layers to the model, or set mc_dropout=0."
        )


def _copy_layer(layer: keras.layers.Layer) -> keras.layers.Layer:
    if isinstance(layer, keras.layers.Dropout) and layer.rate > 0:
        # Any fixed seed: reseed() sets the state before every prediction. A
        # seed rather than None, because Keras' PyTorch backend ignores the
        # state of a Dropout created without one and draws from torch's
        # process-wide generator instead.
        return _AlwaysDropout(**{**layer.get_config(), "seed": 0})
    return layer.__class__.from_config(layer.get_config())


def dropout_active_copy(model: keras.Model) -> keras.Model:
    """A copy of ``model``, weights included, whose dropout is always active.

    Raises
    ------
    ValueError
        If the model has no dropout layer, or its dropout layers cannot be
        reached (a subclassed model, or a layer Keras cannot copy).
    """
    check_has_dropout(model, n_passes=1)
    try:
        copy = keras.models.clone_model(
            model, clone_function=_copy_layer, recursive=True
        )
    except (TypeError, ValueError, NotImplementedError) as error:
        raise ValueError(
            f"Cannot switch on the dropout of {type(model).__name__} "
            f"{model.name!r} for mc_dropout: keras.models.clone_model cannot "
            f"copy it ({error}). Build the model with the Functional or "
            "Sequential API from layers that implement get_config()."
        ) from error
    active = [layer for layer in dropout_layers(copy) if type(layer) is _AlwaysDropout]
    if len(active) != len(dropout_layers(model)):
        raise ValueError(
            f"Cannot switch on the dropout inside {type(model).__name__} "
            f"{model.name!r} for mc_dropout: its layers are created by its own "
            "code (a subclassed model). Build the model with the Functional or "
            "Sequential API."
        )
    copy.set_weights(model.get_weights())
    return copy


def reseed(copy: keras.Model, seed: int) -> None:
    """Start the dropout masks of :func:`dropout_active_copy`'s copy at ``seed``."""
    for index, layer in enumerate(dropout_layers(copy)):
        state = layer.seed_generator.state
        start = np.array([seed, index * _DRAWS_PER_LAYER])
        state.assign(start.astype(keras.backend.standardize_dtype(state.dtype)))


def passes_seed(random_state: int | np.random.RandomState | None) -> int:
    """The seed of one prediction's dropout masks, from ``random_state``.

    An int always gives the same passes; a RandomState instance gives a new,
    reproducible seed per prediction; None a fresh one.
    """
    seed = seed_from(random_state)
    return secrets.randbelow(2**31) if seed is None else seed
