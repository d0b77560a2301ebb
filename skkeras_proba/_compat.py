"""Version shims and every use of a private Keras, TensorFlow or scikit-learn name.

Each entry says why it is needed and when it can go. Nothing is imported from
a private module of scikeras; the private hooks and attributes of its
``BaseWrapper``, which the estimators subclass, are overridden where they
subclass it (``_scikeras_fixes``, ``_base``).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import random
import threading
from typing import TYPE_CHECKING, Any

import keras
import numpy as np

# Row selection and counting that accept sparse matrices, lists and
# DataFrames alike, as scikit-learn's estimators use them internally; and
# scikit-learn's parameter constraints (``_parameter_constraints``, checked by
# ``BaseEstimator._validate_params``) are written with these classes, as in
# every scikit-learn estimator; scikit-learn has no public path for them (1.7).
# When they can go: when scikit-learn exposes them publicly.
from sklearn.utils import _safe_indexing as safe_indexing  # noqa: F401
from sklearn.utils._param_validation import Interval as Interval
from sklearn.utils._param_validation import (
    InvalidParameterError as InvalidParameterError,
)
from sklearn.utils._param_validation import Options as Options
from sklearn.utils._param_validation import StrOptions as StrOptions
from sklearn.utils._param_validation import (
    validate_parameter_constraints as validate_parameter_constraints,
)
from sklearn.utils.validation import _num_samples as num_samples  # noqa: F401

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator


def check_sample_weight(sample_weight: Any, X: Any, dtype: Any = None) -> np.ndarray:
    """``sample_weight`` for ``X`` as scikit-learn's estimators validate it.

    None gives ones, a scalar fills, an array must have one weight per row.
    ``sklearn.utils.validation._check_sample_weight`` is private (1.7). When it
    can go: when scikit-learn makes it public.
    """
    from sklearn.utils.validation import _check_sample_weight

    return _check_sample_weight(sample_weight, X, dtype=dtype)


def _global_state() -> Any:
    # keras.src.backend.common.global_state holds the seed that
    # keras.utils.set_random_seed writes; Keras has no public getter (3.15).
    # Its attributes live in a threading.local: each thread has its own.
    from keras.src.backend.common import global_state

    return global_state


_KERAS_SEED_KEYS = ("global_random_seed", "global_seed_generator")


def keras_global_seed_state() -> dict[str, Any]:
    """This thread's Keras global seed and seed generator, to restore later."""
    state = _global_state()
    return {key: state.get_global_attribute(key) for key in _KERAS_SEED_KEYS}


def set_keras_global_seed(seed: int) -> None:
    """Seed this thread's Keras global seed generator, and only that.

    The part of ``keras.utils.set_random_seed`` that is per thread. The
    generator is created here, from ``seed``, rather than lazily by Keras from
    Python's process-wide ``random`` at some later point of the fit.
    """
    state = _global_state()
    state.set_global_attribute("global_random_seed", seed)
    state.set_global_attribute(
        "global_seed_generator", keras.random.SeedGenerator(seed)
    )


def restore_keras_global_seed(keras_state: dict[str, Any]) -> None:
    """Put back what :func:`keras_global_seed_state` read, in this thread."""
    state = _global_state()
    for key, value in keras_state.items():
        state.set_global_attribute(key, value)


class _KerasPythonRandom:
    """Stands in for the ``random`` module inside Keras' seed generator module.

    Each attribute is looked up, at each draw, on what ``generator_for_thread``
    returns for the drawing thread.
    """

    def __init__(self, generator_for_thread: Callable[[], Any]) -> None:
        self._generator_for_thread = generator_for_thread

    def __getattr__(self, name: str) -> Any:
        return getattr(self._generator_for_thread(), name)


def draw_keras_default_seeds_from(generator_for_thread: Callable[[], Any]) -> None:
    """Make Keras draw its default seeds from ``generator_for_thread()``.

    Why: every initializer and ``SeedGenerator`` created without a seed (a
    ``Dense`` kernel, ``Dropout``) gets one from
    ``keras.src.random.seed_generator.make_default_seed``, which draws from
    Python's process-wide ``random``. Any thread may draw from that at any
    moment (Dask's ``sizeof`` samples with it in the worker's event loop), so a
    seeded fit building its model cannot own it, lock or not. Keras has no
    public hook (3.15); the module's reference to ``random`` is the one place
    all default seeds come from. Installed once, by the first fit; a thread
    outside a seeded fit gets the ``random`` module itself, so Keras draws
    exactly as before.

    When it can go: when Keras takes default seeds from a per-thread or
    replaceable source.
    """
    from keras.src.random import seed_generator

    if not isinstance(seed_generator.python_random, _KerasPythonRandom):
        seed_generator.python_random = _KerasPythonRandom(generator_for_thread)


def tf_global_seed() -> int | None:
    """TensorFlow's global seed; tf has no public getter (2.21)."""
    if keras.backend.backend() != "tensorflow":
        return None
    from tensorflow.python.eager import context

    return context.global_seed()


def set_tf_global_seed(seed: int | None) -> None:
    """Set TensorFlow's process-wide global seed, on the TensorFlow backend.

    As ``tf.random.set_seed`` does, less its clearing of TensorFlow's kernel
    caches (``Context._set_global_seed``): a fit sets the seed as it starts and
    sets it back once training begins, and each clearing makes the next call
    of every traced function instantiate it again (0.15 s for a small model's
    compiled epoch, more than the whole fit). The clearing restarts eager
    stateful random ops of unchanged seeds; a fit runs none (Keras draws with
    stateless ops, ``tf.data`` seeds its shuffle from the global seed when the
    pipeline is made). Remove when TensorFlow sets the seed without clearing.
    """
    if keras.backend.backend() != "tensorflow":
        return
    from tensorflow.python.eager import context

    ctx = context.context()
    ctx._seed = seed
    ctx._rng = random.Random(None if seed is None else int(seed))


def tf_op_determinism_enabled() -> bool:
    """Whether TensorFlow's op determinism is on; only a private getter exists."""
    from tensorflow.python.framework import config

    return bool(config.is_op_determinism_enabled())


def tf_single_threaded_functions() -> contextlib.AbstractContextManager[None]:
    """Run the block's ``tf.function`` calls on TensorFlow's single-threaded executor.

    Why: the default executor hands every op of a graph to a thread pool; a
    small model's training step is some 250 ops of microseconds each, and the
    hand-offs cost more than the arithmetic (on it, the bench's compiled fits
    of digits and of 50,000 rows took 1.6x and 1.9x as long). This executor
    runs the ops in order on the calling thread; kernels still use the
    intra-op pool for their own arithmetic. It is set per thread, and has no
    public switch (2.21). When it can go: when ``tf.function`` takes an
    executor, or the default one runs small ops inline.
    """
    from tensorflow.python.eager import context

    return context.function_executor_type("SINGLE_THREADED_EXECUTOR")


def tf_function_without_retracing_warning(function: Any) -> Any:
    """``function``, a ``tf.function``, without TensorFlow's retracing warning.

    Why: TensorFlow counts the traces of every ``tf.function`` made from one
    Python function's code together, and warns of "excessive retracing" when
    five of the last calls traced. Compiled epochs make one function per
    model, traced at its first call by design; a search of new architectures,
    whose fits take one call each when the epochs share it, looks to that
    count like a function retraced in a loop. The switch is a private
    attribute (2.21). When it can go: when ``tf.function`` takes such an
    option, or counts traces per function.
    """
    function._omit_frequent_tracing_warning = True
    return function


# Fits of ours now inside ``custom_gradients_released`` (any thread), and the
# registry's names when the first of them began.
_registry_lock = threading.Lock()
_fits_in_progress = 0
_names_before_fits: frozenset[str] = frozenset()
_CUSTOM_GRADIENT_PREFIX = "CustomGradient-"


def _gradient_registry() -> dict[str, Any] | None:
    if keras.backend.backend() != "tensorflow":
        return None
    from tensorflow.python.framework import ops

    registry = getattr(getattr(ops, "_gradient_registry", None), "_registry", None)
    return registry if isinstance(registry, dict) else None


@contextlib.contextmanager
def custom_gradients_released() -> Iterator[None]:
    """Forget the ``CustomGradient-N`` entries TensorFlow registers in the block.

    Why: tracing ``tf.custom_gradient`` code (Keras' training step does, through
    ``ReplicaContext.all_reduce``) registers a gradient function in a global,
    never-cleaned registry, and that function's closure keeps the whole traced
    step graph alive (tensorflow/tensorflow#97697): about 4 MiB per fit of a
    small model, for the life of the process, whether the model is kept or not.
    An entry is read only when gradients are taken through the traced op; Keras
    takes them while tracing the very step that registered it, and nothing
    differentiates a traced training step afterwards. Only entries
    that appeared while a fit of ours was running are removed; with fits in
    several threads, removal waits until the last of them finishes, so an
    entry is never removed while a trace of ours may still need it.

    When it can go: when TensorFlow stops registering these globally (2.21
    still does); without the private registry this does nothing.
    """
    global _fits_in_progress, _names_before_fits
    registry = _gradient_registry()
    if registry is None:
        yield
        return
    with _registry_lock:
        if _fits_in_progress == 0:
            _names_before_fits = frozenset(registry)
        _fits_in_progress += 1
    try:
        yield
    finally:
        with _registry_lock:
            _fits_in_progress -= 1
            if _fits_in_progress == 0:
                for name in list(registry):
                    if (
                        name.startswith(_CUSTOM_GRADIENT_PREFIX)
                        and name not in _names_before_fits
                    ):
                        registry.pop(name, None)


def keras_history(tensor: Any) -> tuple[Any, int, int] | None:
    """The operation, node index and output index that produced ``tensor``.

    None when ``tensor`` is not a symbolic Keras tensor. Keras 3.15 keeps them
    in the private ``_keras_history``. When it can go: when Keras makes a
    tensor's producing operation public.
    """
    return getattr(tensor, "_keras_history", None)


def producer_call_input(tensor: Any) -> Any:
    """The tensor (or structure) passed to the call that produced ``tensor``.

    None when that call received other tensors too (a mask, a second input), or
    when ``tensor`` is not a symbolic Keras tensor. Keras 3.15 exposes a layer's
    input only for its first call (``layer.input``); the call behind one tensor
    is reached through the private ``_keras_history`` and ``_inbound_nodes``.
    When it can go: when Keras makes a tensor's producing node public.
    """
    history = keras_history(tensor)
    if history is None:
        return None
    operation, node_index, _ = history
    node = operation._inbound_nodes[node_index]
    args = node.arguments.args
    if not args or len(keras.tree.flatten(args[0])) != len(node.input_tensors):
        return None
    return args[0]


def keras_array_data_adapter() -> type | None:
    """Keras' data adapter for arrays, if ``fit`` takes one in place of ``x``.

    ``keras.src.trainers.data_adapters``: ``fit`` builds an ``ArrayDataAdapter``
    from arrays, and uses an adapter given as ``x`` as it is (checked here,
    once per process). Keras has no public way to set the options of the
    ``tf.data`` pipeline the adapter makes (3.15); remove when it does. None
    where either is missing: the arrays then go to ``fit`` as they are.
    """
    try:
        from keras.src.trainers.data_adapters import get_data_adapter
        from keras.src.trainers.data_adapters.array_data_adapter import (
            ArrayDataAdapter,
        )

        probe = ArrayDataAdapter(np.zeros((1, 1)), batch_size=1)
        return ArrayDataAdapter if get_data_adapter(probe) is probe else None
    except Exception:  # any Keras without this private layout
        return None


@functools.cache
def keras_builds_from_epoch_batches() -> bool:
    """Whether :func:`symbolic_build` can build models with this Keras.

    It feeds ``Trainer._symbolic_build`` an iterator in the form Keras 3.15
    iterates, ``(begin, end, [batch])``; older Keras iterated other forms.
    Read from the method's source once: where it is missing or iterates
    otherwise, compiled epochs leave fits to Keras.
    """
    try:
        source = inspect.getsource(keras.Model._symbolic_build)
    except (AttributeError, OSError, TypeError):
        return False
    return "for _, _, data_or_iterator in iterator" in source


def symbolic_build(
    model: Any, data_batch: tuple[Any, Any, Any], on_first_batch: Callable[[], Any]
) -> None:
    """Build the model, its compiled loss and metrics and optimizer for a batch.

    What Keras' ``fit`` does before its first step (``Trainer._symbolic_build``,
    private in Keras 3.9 to 3.15, iterating an epoch iterator that yields
    ``(begin, end, [batch])``): compiled epochs (``_fit._compiled``), which pass
    every variable to Keras' stateless train step, need them all built first.
    Keras takes a first batch only if something is unbuilt, and taking it
    starts an epoch, drawing its shuffle: ``on_first_batch`` is called then,
    to draw the same. Remove when Keras has a public way to build a model
    for training.
    """

    def first_batch() -> Iterator[tuple[int, int, list]]:
        on_first_batch()
        yield 0, 0, [data_batch]

    model._symbolic_build(iterator=first_batch())


def backup_initial_epoch(model: Any) -> int | None:
    """The epoch ``BackupAndRestore`` restored training to, if it did.

    Keras' ``fit`` starts from ``model._initial_epoch`` when set (Keras 3.15:
    the callback sets it in ``on_train_begin``); compiled epochs do the same.
    """
    return getattr(model, "_initial_epoch", None)
