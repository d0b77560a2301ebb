"""The fit engine: how an estimator's Keras model is built and trained.

One entry point, :class:`FitRun`, which ``BaseWrapper._fit`` uses as::

    run = FitRun(random_state, steps_per_execution, reuse_train_trace)
    with run:  # seeded, worker threads sized; build the model inside
        run.set_loop(model, callbacks, n_rows, epochs, settings, kwargs)
        x, y, sample_weight = run.keras_data(model, x, y, sample_weight, ...)
        with run.training(model, callbacks, fresh) as (trainer, callbacks):
            ...  # keras.Model.fit on the trainer, with these callbacks

preceded by ``run.compiled_fit(...)``, which trains with compiled epochs
where the fit allows them and returns None where Keras' ``fit`` must run.

and ``FitRun.seeding(random_state)`` alone where a model is built but not
trained (``initialize``). The arithmetic of training is Keras' own; what the
engine decides is how Keras is driven, each in one module:

- ``_loop.py``: ``steps_per_execution`` and ``"auto"``'s whole policy (an
  epoch per call, the kept input iterator, the untuned input).
- ``_input.py``: Keras' input pipeline on TensorFlow, without autotuning.
- ``_sparse_batches.py``: dense batches of sparse X for a subclassed model.
- ``_trace_reuse.py``: a fresh model trained through a trainer of the same
  architecture whose train step is already traced.
- ``_seeding.py``: ``random_state`` without process-wide side effects.
- ``_worker_threads.py``: TensorFlow's thread pools in a worker process.
- ``_compiled.py``: compiled epochs, each epoch one compiled call of Keras'
  train step with callbacks between calls, and what they do not cover;
  ``_compiled_jax.py`` and ``_compiled_tensorflow.py`` run the epochs.
- ``_early_stopping.py``: the stratified hold-out of ``early_stopping=True``,
  the callback keeping the best epoch's weights and the training attributes
  a fit ends with (``n_iter_``, ``loss_curve_``, ...).
- ``_parameters.py``: the constraints of every training parameter, also
  routed ``fit__*`` values.

Facts the forward pass shares (Keras' default batch size, ``batch_size=-1``,
the seed of a ``random_state``) live in ``skkeras_proba._common``, so neither
engine imports the other.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import scipy.sparse as sp

from skkeras_proba._common import KERAS_DEFAULT_BATCH_SIZE, seed_from
from skkeras_proba._compat import custom_gradients_released
from skkeras_proba._fit._compiled import (
    compiled_fit_unsupported_because,
    fit_compiled,
)
from skkeras_proba._fit._early_stopping import (
    BestEpoch,
    finish_training,
    fit_holdout,
)
from skkeras_proba._fit._input import untuned_input
from skkeras_proba._fit._loop import (
    AUTO,
    check_steps_per_execution,
    steps_per_epoch_for,
    steps_per_execution_for,
    untuned_input_allowed,
)
from skkeras_proba._fit._parameters import (
    KERAS_FIT_CONSTRAINTS,
    SCIKERAS_CONSTRAINTS,
    TRAINING_CONTROL_CONSTRAINTS,
    check_fit_arguments,
    check_parameters,
)
from skkeras_proba._fit._seeding import (
    FitRandomState,
    release_random_state_callbacks,
    seeded,
)
from skkeras_proba._fit._sparse_batches import dense_batches_for_fit
from skkeras_proba._fit._trace_reuse import reusable_key, trained_by_trainer
from skkeras_proba._fit._worker_threads import size_framework_threads
from skkeras_proba._sparse_input import keras_feeds_sparse_to

if TYPE_CHECKING:
    import keras
    import numpy as np

__all__ = [
    "KERAS_FIT_CONSTRAINTS",
    "SCIKERAS_CONSTRAINTS",
    "TRAINING_CONTROL_CONSTRAINTS",
    "BestEpoch",
    "FitRun",
    "check_fit_arguments",
    "check_parameters",
    "finish_training",
    "fit_holdout",
]


class FitRun:
    """One fit of a Keras model: its seeding, its loop, its input, its trainer.

    Parameters
    ----------
    random_state : int, RandomState instance or None
        The estimator's ``random_state``.
    steps_per_execution : "auto" or int, default="auto"
        The estimator's ``steps_per_execution``.
    reuse_train_trace : bool, default=True
        Whether a freshly built model may train through a trainer whose train
        step is already traced.
    compile_epochs : bool, default=True
        Whether a fit may run each epoch as one compiled call (see
        ``_compiled.py``).

    Raises
    ------
    ValueError
        When the current Keras backend cannot run ``steps_per_execution``:
        raised here, before the estimator changes.
    """

    def __init__(
        self,
        random_state: int | np.random.RandomState | None,
        steps_per_execution: int | str = AUTO,
        reuse_train_trace: bool = True,
        compile_epochs: bool = True,
    ) -> None:
        check_steps_per_execution(steps_per_execution)
        self._random_state = random_state
        self._setting = steps_per_execution
        self._reuse_train_trace = reuse_train_trace
        self._compile_epochs = compile_epochs
        self._contexts = contextlib.ExitStack()

    @staticmethod
    def seeding(random_state: int | np.random.RandomState | None) -> FitRandomState:
        """The seeding of a fit alone: for building a model without training it."""
        return seeded(seed_from(random_state))

    def __enter__(self) -> FitRun:
        size_framework_threads()  # in a joblib or Dask worker process only
        self._contexts.enter_context(self.seeding(self._random_state))
        self._contexts.enter_context(custom_gradients_released())
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._contexts.__exit__(*exc_info)

    def compiled_fit(
        self,
        model: keras.Model,
        callbacks: list[keras.callbacks.Callback],
        data: tuple[Any, Any, Any],
        settings: dict[str, Any],
        *,
        epochs: int,
        initial_epoch: int,
        fresh: bool,
    ) -> keras.callbacks.History | None:
        """Train ``model`` with compiled epochs, or None where they cannot run.

        ``data`` is ``(x, y, sample_weight)`` as the model takes them,
        ``settings`` the fit's other Keras ``fit`` arguments; ``epochs`` more
        epochs from ``initial_epoch``. None leaves everything unchanged: the
        fit then goes through Keras' ``fit`` (:meth:`set_loop`,
        :meth:`keras_data`, :meth:`training`).
        """
        if not self._compile_epochs or self._setting != AUTO:
            return None
        if compiled_fit_unsupported_because(model, data, settings, callbacks):
            return None
        with self.training(model, callbacks, fresh) as (trainer, fit_callbacks):
            return fit_compiled(
                trainer,
                data,
                epochs=initial_epoch + epochs,
                initial_epoch=initial_epoch,
                settings=settings,
                callbacks=fit_callbacks,
            )

    def set_loop(
        self,
        model: keras.Model,
        callbacks: list[keras.callbacks.Callback],
        n_rows: int,
        epochs: int,
        setting: Callable[[str], Any],
        kwargs: dict[str, Any],
    ) -> None:
        """Set this fit's steps per execution on ``model`` and per epoch in ``kwargs``.

        ``setting(name)`` is the fit's Keras argument ``name`` as it will be
        passed (None if not given); ``kwargs`` are the fit's Keras arguments.
        """
        batch_size = setting("batch_size")
        given_steps_per_epoch = setting("steps_per_epoch")
        steps = steps_per_execution_for(
            self._setting, model, callbacks, n_rows, batch_size, given_steps_per_epoch
        )
        if steps is not None:
            model.steps_per_execution = steps
        if given_steps_per_epoch is None:
            steps_per_epoch = steps_per_epoch_for(
                self._setting, steps, epochs, setting("validation_split")
            )
            if steps_per_epoch is not None:
                kwargs["steps_per_epoch"] = steps_per_epoch
                # Keras derives a missing batch size from steps_per_epoch.
                kwargs["batch_size"] = batch_size or KERAS_DEFAULT_BATCH_SIZE

    def keras_data(
        self,
        model: keras.Model,
        x: Any,
        y: Any,
        sample_weight: Any,
        setting: Callable[[str], Any],
        kwargs: dict[str, Any],
    ) -> tuple[Any, Any, Any]:
        """``x``, ``y`` and ``sample_weight`` to give ``keras.Model.fit``.

        Sparse X for a model that cannot take it: dense batches (see
        ``_sparse_batches.py``) and None for the other two. Else the arrays (a
        sparse matrix stays sparse), or where ``_loop.py`` allows, Keras' own
        untuned input pipeline for them and None for the other two.
        """
        batch_size = setting("batch_size")
        shuffle = setting("shuffle")
        shuffle = True if shuffle is None else shuffle  # Keras' default
        if sp.issparse(x) and not keras_feeds_sparse_to(model):
            x, validation = dense_batches_for_fit(
                x,
                y,
                sample_weight,
                batch_size,
                shuffle,
                setting("validation_split"),
                setting("validation_batch_size"),
            )
            kwargs["shuffle"] = False  # the batches come shuffled
            if validation is not None:
                kwargs.update(validation_split=0.0, validation_data=validation)
            return x, None, None
        if not untuned_input_allowed(
            self._setting,
            model,
            setting("validation_split"),
            batch_size,
            setting("validation_batch_size"),
        ):
            return x, y, sample_weight
        adapter = untuned_input(
            x,
            y,
            sample_weight,
            batch_size,
            shuffle,
            setting("steps_per_epoch"),
            setting("class_weight"),
        )
        return (x, y, sample_weight) if adapter is None else (adapter, None, None)

    @contextlib.contextmanager
    def training(
        self,
        model: keras.Model,
        callbacks: list[keras.callbacks.Callback],
        fresh: bool,
    ) -> Iterator[tuple[keras.Model, list[keras.callbacks.Callback]]]:
        """The model to call ``fit`` on, and the callbacks to give it.

        The model is, for a freshly built model of Keras' own parts, a trainer
        of the same architecture whose train step is already traced (see
        ``_trace_reuse.py``); ``model`` holds the trained state afterwards.
        The callbacks start with the one that lets other fits build while
        this one trains (see ``_seeding.py``).
        """
        callbacks = [*release_random_state_callbacks(), *callbacks]
        key = reusable_key(model) if fresh and self._reuse_train_trace else None
        if key is None:
            yield model, callbacks
            return
        with trained_by_trainer(model, key) as trainer:
            yield trainer, callbacks
