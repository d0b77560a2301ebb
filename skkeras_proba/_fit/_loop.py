"""How Keras' ``fit`` loop is driven: steps per execution and per epoch.

On small tabular data a Keras fit spends most of its time outside the
training maths (see the fit profile in ``docs/guide/performance.rst``): one
call into the compiled train function per batch, each with its Python and
dispatch overhead. ``steps_per_execution`` set to the batches of one epoch
runs the whole epoch in one call. The batches, their order and every update
are the same as with one batch per call, so the trained weights equal those
of Keras' own fit with the same seed (tested); what changes is that
batch-level callback hooks (``on_train_batch_begin``/``_end``) are called once
per epoch instead of per batch, and the progress bar advances an epoch at a
time. So it is only chosen when no callback implements a batch hook, and not
for a model compiled to run eagerly (for debugging).

Keras also makes a new input iterator at the start and at the end of every
epoch, each instantiating the input pipeline (``tf.data`` on TensorFlow), so
every epoch but the first builds one that is thrown away. Given
``steps_per_epoch``, Keras keeps the iterator made at the end of an epoch for
the next one. "auto" passes it, as the batches of an epoch, to fits of more
than one epoch: the batches and the trained weights stay the same (tested).
Not to ``partial_fit`` (one epoch makes the same two iterators either way)
nor with ``validation_split`` (which trains on fewer rows).

On TensorFlow, "auto" also hands ``fit`` Keras' own input pipeline without
``tf.data``'s autotuning (see ``_input.py``), except where Keras or scikeras
needs the arrays: with ``validation_split`` (Keras splits arrays only), a
batch size of -1 (all rows, which scikeras resolves) and a model whose
``fit`` is not Keras' own (it may read the arrays).

An estimator's ``steps_per_execution="auto"`` applies all of this, decided
here and nowhere else; an integer is used as Keras' ``steps_per_execution``
(1 gives Keras' own loop) with the arrays as input. Keras' PyTorch
backend runs one batch per call only, so there "auto" leaves Keras' loop as it
is.
"""

from __future__ import annotations

import math

import keras

from skkeras_proba._callbacks import overrides_any_hook
from skkeras_proba._common import ALL_ROWS, KERAS_DEFAULT_BATCH_SIZE, rows_per_batch
from skkeras_proba._fit._input import keras_fit_is_own

AUTO = "auto"
_BACKENDS_WITH_MULTI_STEP = ("tensorflow", "jax")

BATCH_HOOKS = (
    "on_batch_begin",
    "on_batch_end",
    "on_train_batch_begin",
    "on_train_batch_end",
)


def batches_per_epoch(n_rows: int, batch_size: int | None) -> int:
    """The batches Keras makes of ``n_rows`` rows (its default batch size: 32)."""
    return max(1, math.ceil(n_rows / (batch_size or KERAS_DEFAULT_BATCH_SIZE)))


def check_steps_per_execution(setting: int | str) -> None:
    """Reject a setting the current Keras backend cannot run, before fitting."""
    if setting == AUTO or int(setting) == 1:
        return
    if keras.backend.backend() not in _BACKENDS_WITH_MULTI_STEP:
        raise ValueError(
            f"steps_per_execution={setting!r}, but Keras' "
            f"{keras.backend.backend()!r} backend runs one batch per call. "
            'Use steps_per_execution="auto" or 1.'
        )


def steps_per_execution_for(
    setting: int | str,
    model: keras.Model,
    callbacks: list[keras.callbacks.Callback],
    n_rows: int,
    batch_size: int | None,
    steps_per_epoch: int | None = None,
) -> int | None:
    """Keras' ``steps_per_execution`` for one fit; None leaves the model's own.

    Parameters
    ----------
    setting : "auto" or int
        The estimator's ``steps_per_execution``.
    model : keras.Model
        The compiled model about to be trained.
    callbacks : list of keras.callbacks.Callback
        The user's callbacks of the fit.
    n_rows : int
        Training rows passed to ``fit`` (before any validation split).
    batch_size : int or None
        The fit's batch size; None for Keras' default, -1 for all rows.
    steps_per_epoch : int or None
        The fit's own ``steps_per_epoch``, when given: an epoch is then that
        many batches.
    """
    if getattr(model, "train_function", None) is not None:
        # An incremental fit reuses the traced train function, which was
        # traced for the model's current steps_per_execution.
        return None
    if setting != AUTO:
        return int(setting)
    if model.steps_per_execution != 1:
        return None  # compiled with a value of the user's choosing
    if model.run_eagerly:
        return None  # debugging: Keras' loop, one batch at a time
    if keras.backend.backend() not in _BACKENDS_WITH_MULTI_STEP:
        return None
    if overrides_any_hook(callbacks, BATCH_HOOKS):
        return None
    batches = batches_per_epoch(n_rows, rows_per_batch(batch_size, n_rows))
    return min(batches, steps_per_epoch) if steps_per_epoch else batches


def steps_per_epoch_for(
    setting: int | str,
    steps_per_execution: int | None,
    epochs: int,
    validation_split: float,
) -> int | None:
    """Keras' ``steps_per_epoch`` for one fit; None leaves it to Keras.

    Parameters
    ----------
    setting : "auto" or int
        The estimator's ``steps_per_execution``.
    steps_per_execution : int or None
        What ``steps_per_execution_for`` chose for this fit: the batches of
        an epoch when "auto" runs an epoch per call.
    epochs : int
        Epochs this fit trains.
    validation_split : float
        The fit's ``validation_split``.
    """
    if setting != AUTO or steps_per_execution is None:
        return None
    if epochs <= 1 or validation_split:
        return None
    return steps_per_execution


def untuned_input_allowed(
    setting: int | str,
    model: keras.Model,
    validation_split: float | None,
    batch_size: int | None,
    validation_batch_size: int | None,
) -> bool:
    """Whether "auto" may hand ``fit`` Keras' untuned input for the arrays.

    Parameters
    ----------
    setting : "auto" or int
        The estimator's ``steps_per_execution``.
    model : keras.Model
        The model about to be trained.
    validation_split : float or None
        The fit's ``validation_split``.
    batch_size, validation_batch_size : int or None
        The fit's batch sizes; -1 for all rows.
    """
    return not (
        setting != AUTO
        or not keras_fit_is_own(model)
        or validation_split
        or batch_size == ALL_ROWS
        or validation_batch_size == ALL_ROWS
    )
