"""Train on a model whose train step is already traced: one trace per architecture.

Every new Keras model traces its train step (forward pass, gradients,
optimizer update) on its first ``fit``, and on small data that trace is a
large part of the fit (see the fit profile in ``docs/guide/performance.rst``).
A search builds a new model for every fold, so it pays the trace again and
again for the same architecture. The trace holds the variables of the model
it was made for, so another model cannot use it; but that model can train on
another model's weights.

So this module keeps, per process, a few idle *trainers*: private copies of
models, traced by the fit they first trained for, keyed by architecture and
compile settings. A fit of a model with the same key copies its fresh state
into an idle trainer -- every variable (weights, dropout seed states) and the
optimizer's freshly built variables (step counter, learning rate, moments) --
lets the trainer train, and copies all of it back. The computation is the trainer's
trace of the same step on the same values, so the weights equal those of the
model training itself (tested against Keras' own ``fit``). A trainer is never
handed out: the estimator's ``model_`` is always its own model.

Only on TensorFlow: there the epoch shuffle comes from ``tf.data`` ops seeded
when the input pipeline is made, so it is the same for a trainer. On JAX and
PyTorch the shuffle draws from a global generator, and Keras' first fit of a
new model draws one extra shuffle while building its metrics (from a first
batch), which a trainer, already built, would skip: its batches would come in
another order than the model's own fit.

Only models of Keras' own classes made entirely of Keras' own parts are
keyed: a model subclass may train differently (its own ``train_step``), a
custom layer, loss or metric may behave differently with the same
configuration, so such models train themselves, as they do when no trainer is
idle.
"""

from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING

import keras

from skkeras_proba._architecture import architecture_key

if TYPE_CHECKING:
    from collections.abc import Iterator

IDLE_TRAINERS = 4
"""Architectures with idle trainers kept per process (least recently used
dropped first), and idle trainers kept per architecture."""

MAX_PARAMETERS = 1_000_000
"""Larger models train themselves (a trainer holds a copy of the weights)."""

_idle: OrderedDict[str, list[keras.Model]] = OrderedDict()
_idle_lock = threading.Lock()


def reusable_key(model: keras.Model) -> str | None:
    """The model's key if a trainer may train it, else None.

    Large models are left to train themselves (an idle trainer holds a second
    copy of the weights), and so are models of a ``tf.distribute`` strategy:
    a trainer holds its variables outside the strategy.
    """
    if keras.backend.backend() != "tensorflow" or model.count_params() > MAX_PARAMETERS:
        return None
    from skkeras_proba._fit._compiled_tensorflow import distributed

    return None if distributed(model) else architecture_key(model)


@contextlib.contextmanager
def trained_by_trainer(model: keras.Model, key: str) -> Iterator[keras.Model]:
    """The model to call ``fit`` on in place of ``model``, a fresh one.

    Yields a trainer holding ``model``'s state: an idle one, whose train step
    is already traced, or else a new copy of ``model``, which traces it during
    this fit and is kept idle afterwards. Once the fit has run, or stopped
    on an exception, ``model`` holds the trained state.
    """
    trainer = _take_idle(key) or _new_trainer(model)
    if not _copy_fresh_state(model, trainer):
        yield model
        return
    try:
        yield trainer
        model.history = trainer.history  # set once the fit's callbacks start
    finally:
        # Also when the fit stops on an exception (a KeyboardInterrupt, a
        # callback's error): ``model`` keeps the epochs trained, as it would
        # had it trained itself.
        _copy_variables(trainer.variables, model.variables)
        _copy_variables(trainer.optimizer.variables, model.optimizer.variables)
        _give_back(key, trainer)


def _new_trainer(model: keras.Model) -> keras.Model:
    trainer = keras.models.clone_model(model)
    trainer.compile_from_config(model.get_compile_config())
    trainer.steps_per_execution = model.steps_per_execution
    return trainer


def _take_idle(key: str) -> keras.Model | None:
    with _idle_lock:
        trainers = _idle.get(key)
        if not trainers:
            return None
        _idle.move_to_end(key)
        return trainers.pop()


def _give_back(key: str, trainer: keras.Model) -> None:
    with _idle_lock:
        trainers = _idle.setdefault(key, [])
        if len(trainers) < IDLE_TRAINERS:  # fits in many threads make many
            trainers.append(trainer)
        _idle.move_to_end(key)
        while len(_idle) > IDLE_TRAINERS:
            _idle.popitem(last=False)


def _copy_fresh_state(model: keras.Model, trainer: keras.Model) -> bool:
    """Give the trainer ``model``'s variables and a freshly built optimizer.

    False (nothing changed) when the two do not line up, which the key should
    already rule out.
    """
    for each in (model, trainer):
        if not each.optimizer.built:
            each.optimizer.build(each.trainable_variables)
    pairs = [
        (model.variables, trainer.variables),
        (model.optimizer.variables, trainer.optimizer.variables),
    ]
    if not all(_same_shapes(source, target) for source, target in pairs):
        return False
    for source, target in pairs:
        _copy_variables(source, target)
    return True


def _same_shapes(source: list, target: list) -> bool:
    return len(source) == len(target) and all(
        tuple(a.shape) == tuple(b.shape) and a.dtype == b.dtype
        for a, b in zip(source, target, strict=True)
    )


def _copy_variables(source: list, target: list) -> None:
    for a, b in zip(source, target, strict=True):
        b.assign(a.value)
