"""``random_state`` for Keras training without process-wide side effects.

Where a Keras fit draws its randomness from (Keras 3.15, TensorFlow 2.21):

- Python's ``random``, process-wide: the default seed of every initializer and
  ``SeedGenerator`` created without one (``Dense`` kernels, ``Dropout``), drawn
  when the layer is created, that is while the model is built.
- Keras' global ``SeedGenerator`` and global seed, per thread (Keras keeps them
  in a ``threading.local``): ``keras.random`` calls made without a seed.
- TensorFlow's global seed, process-wide: read when ``Model.fit`` traces its
  input pipeline, whose per-epoch shuffle (``tf.random.shuffle`` inside
  ``tf.data``) takes its seed from it. Initializers and dropout use stateless
  ops seeded as above, so nothing else in a fit reads it.
- NumPy's global generator, process-wide: on JAX, Keras iterates arrays in
  NumPy and draws each epoch's shuffle from it when the epoch's first batch is
  taken.
- torch's default generator, process-wide, on PyTorch: Keras' ``DataLoader``
  draws each epoch's shuffle from it, and so does every training step of a
  ``Dropout`` layer created without a seed (Keras' torch backend then calls
  ``torch.nn.functional.dropout``, which has no seed argument).

Each fit gets its own generators where that can be done:

- Keras' default seeds come from a ``random.Random(seed)`` of the fit's own
  (``_compat.draw_keras_default_seeds_from``): no other thread can draw from it,
  not even code that knows nothing of our lock (Dask's ``sizeof`` samples with
  Python's ``random`` in the worker's event loop at any moment).
- Keras' per-thread generator and seed are set for the fit's thread.

TensorFlow's and NumPy's global generators cannot be made per-fit, so every
fit of ours (seeded or not) holds one process-wide lock exactly while it may
draw from them: from the start of the fit until Keras begins training (the
model is built and the input pipeline set up), and, on JAX, during the first
step of each epoch, and on PyTorch until training ends (torch's generator
may be drawn at any step, so fits on PyTorch train one after another). A
seeded fit swaps its own states into them (and into
Python's ``random``, for build functions that draw from it, as
``keras.utils.set_random_seed`` would) for those moments and puts the process's
states back before releasing the lock, so its draws form one stream that other
fits of ours do not touch, and code outside the fit never sees its seed.
Training steps run outside the lock, in parallel.

We never touch TensorFlow's op-determinism switch: on CPU, seeded Keras
training is already repeatable, and switching it on globally is what makes a
later unseeded fit fail with "Random ops require a seed" (scikeras 0.13).
"""

from __future__ import annotations

import contextlib
import random
import threading
from typing import TYPE_CHECKING, Any

import keras
import numpy as np

from skkeras_proba._compat import (
    draw_keras_default_seeds_from,
    keras_global_seed_state,
    restore_keras_global_seed,
    set_keras_global_seed,
    set_tf_global_seed,
    tf_global_seed,
)

if TYPE_CHECKING:
    from collections.abc import Iterator
    from types import TracebackType

# Held while a fit may draw from Python's, NumPy's or TensorFlow's process-wide
# random state. Re-entrant so that a build function may itself fit a model.
_process_random_state_lock = threading.RLock()
# The fits running in this thread, innermost last, for the training callback.
_fits_in_thread = threading.local()


def _keras_default_seed_source() -> Any:
    """Where Keras in this thread draws default seeds from: see ``_compat``."""
    fits = getattr(_fits_in_thread, "stack", None)
    if fits and fits[-1].seed is not None:
        return fits[-1].keras_default_seeds
    return random


def _process_random_state() -> tuple[Any, ...]:
    return random.getstate(), np.random.get_state(), _backend_random_state()


def _set_process_random_state(state: tuple[Any, ...]) -> None:
    python_state, numpy_state, backend_state = state
    random.setstate(python_state)
    np.random.set_state(numpy_state)
    _set_backend_random_state(backend_state)


def _seeded_process_random_state(seed: int) -> tuple[Any, ...]:
    # What keras.utils.set_random_seed(seed) would leave in the three.
    return (
        random.Random(seed).getstate(),
        np.random.RandomState(seed).get_state(),
        _seeded_backend_random_state(seed),
    )


def _backend_random_state() -> Any:
    """TensorFlow's global seed, or torch's default generator's state."""
    if keras.backend.backend() == "torch":
        import torch

        return torch.get_rng_state()
    return tf_global_seed()


def _set_backend_random_state(state: Any) -> None:
    if keras.backend.backend() == "torch":
        import torch

        torch.set_rng_state(state)
    else:
        set_tf_global_seed(state)


def _seeded_backend_random_state(seed: int) -> Any:
    if keras.backend.backend() == "torch":
        import torch

        return torch.Generator().manual_seed(seed).get_state()
    return seed


def seeded(seed: int | None) -> FitRandomState:
    """The random state of one fit: enter before building, exit after training.

    With ``seed=None`` nothing is seeded, but the fit still waits its turn for
    the process-wide generators, so that it cannot disturb a seeded fit's draws.
    """
    return FitRandomState(seed)


class FitRandomState:
    """One fit's seeding, and its turns at the process-wide generators.

    Parameters
    ----------
    seed : int or None
        The fit's seed, from ``_common.seed_from``; None leaves everything unseeded.
    """

    def __init__(self, seed: int | None) -> None:
        self.seed = seed
        self._holds_lock = False

    def __enter__(self) -> FitRandomState:
        if self.seed is not None:
            self._keras_state_before = keras_global_seed_state()
            set_keras_global_seed(self.seed)
            self.keras_default_seeds = random.Random(self.seed)
            self._own_state = _seeded_process_random_state(self.seed)
        draw_keras_default_seeds_from(_keras_default_seed_source)
        _fits_in_thread.__dict__.setdefault("stack", []).append(self)
        self.take_process_random_state()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release_process_random_state()
        _fits_in_thread.stack.pop()
        if self.seed is not None:
            restore_keras_global_seed(self._keras_state_before)

    def take_process_random_state(self) -> None:
        """Wait for the process-wide generators; a seeded fit sets its own."""
        if self._holds_lock:
            return
        _process_random_state_lock.acquire()
        self._holds_lock = True
        if self.seed is not None:
            self._process_state = _process_random_state()
            _set_process_random_state(self._own_state)

    def release_process_random_state(self) -> None:
        """Give the process-wide generators back as the process had them."""
        if not self._holds_lock:
            return
        try:
            if self.seed is not None:
                self._own_state = _process_random_state()
                _set_process_random_state(self._process_state)
        finally:
            self._holds_lock = False
            _process_random_state_lock.release()


@contextlib.contextmanager
def process_random_state_turn() -> Iterator[None]:
    """Hold the turn of the fit running in this thread at the process's generators.

    For a draw from NumPy's global generator while training (the compiled
    epochs draw each epoch's row order from it, as Keras on JAX does); the turn
    is given back afterwards if it was not held before. Outside a fit nothing
    is held.
    """
    fits = getattr(_fits_in_thread, "stack", None)
    if not fits:
        yield
        return
    fit = fits[-1]
    held = fit._holds_lock
    fit.take_process_random_state()
    try:
        yield
    finally:
        if not held:
            fit.release_process_random_state()


def release_random_state_callbacks() -> list[keras.callbacks.Callback]:
    """The callback that gives the fit's lock up while Keras trains, if any.

    Comes first among the fit's callbacks, so that the lock is given up before
    the user's callbacks see training begin. Only where each epoch's first
    batch draws from NumPy's global generator (the shuffle on JAX) does it
    implement batch hooks: a callback with a batch hook makes Keras turn every
    batch's logs into Python numbers before the next batch runs, so it is
    avoided where it is not needed. On PyTorch any step may draw from torch's
    generator (the epoch shuffle, ``Dropout`` without a seed), so the fit
    keeps its turn until it ends: no callback.
    """
    backend = keras.backend.backend()
    if backend == "torch":
        return []
    if backend == "jax":
        return [ReleaseRandomStateBetweenShuffles()]
    return [ReleaseRandomStateWhileTraining()]


class ReleaseRandomStateWhileTraining(keras.callbacks.Callback):
    """Let the fit running in this thread give up its lock once training begins.

    Keras calls ``on_train_begin`` once the model is built and the input
    pipeline set up.
    """

    def __init__(self) -> None:
        super().__init__()
        self._fit = _fits_in_thread.stack[-1]

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._fit.release_process_random_state()


class ReleaseRandomStateBetweenShuffles(ReleaseRandomStateWhileTraining):
    """As the base class, and take the lock again for each epoch's first batch.

    There the epoch's shuffle is drawn from NumPy's global generator (Keras on
    JAX); with an epoch per call (``steps_per_execution``) that is the whole
    first call of the epoch.
    """

    def __init__(self) -> None:
        super().__init__()
        self._epoch_starting = False

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch_starting = True

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        if self._epoch_starting:
            self._fit.take_process_random_state()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self._epoch_starting:
            self._epoch_starting = False
            self._fit.release_process_random_state()
