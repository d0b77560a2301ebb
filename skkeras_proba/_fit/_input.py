"""What a TensorFlow fit is given as ``x``: Keras' own pipeline, not autotuned.

Keras feeds arrays to a TensorFlow fit through a ``tf.data`` pipeline it
builds per fit (``ArrayDataAdapter``), which ends in ``prefetch(AUTOTUNE)``.
Autotuning runs a model thread for every input iterator, and destroying an
iterator waits for that thread to stop. On a busy core the thread only stops
once its optimisation period (10-80 ms) has run out: with one core per
process, as in a search with ``n_jobs`` workers on as many cores, a 10-epoch
digits fit took 0.69 s with autotuning and 0.29 s without (0.39 s and 0.33 s
with the machine to itself).

So on TensorFlow ``fit`` is handed the adapter Keras would have built from the
same arguments -- ``fit`` takes an adapter in place of ``x`` -- with
autotuning switched off in its dataset's options. The pipeline and its
shuffles are Keras' own, so the trained weights are those of Keras' ``fit``
on the arrays (tested); only the prefetch buffer is no longer tuned. Part of
``steps_per_execution="auto"``, which decides when (see ``_loop.py``); Keras
versions without the adapter get the arrays (see ``_compat.py``).
"""

from __future__ import annotations

import functools
from typing import Any

import keras

from skkeras_proba._compat import keras_array_data_adapter


def untuned_input(
    x: Any,
    y: Any,
    sample_weight: Any,
    batch_size: int | None,
    shuffle: bool | str,
    steps_per_epoch: int | None,
    class_weight: Any,
) -> Any | None:
    """Keras' data adapter for these fit arguments, not autotuned; else None.

    Parameters are those of ``keras.Model.fit`` of the same names (``x`` and
    ``y`` as arrays or structures of arrays). None on other backends than
    TensorFlow and where Keras takes no adapter: give ``fit`` the arrays.
    """
    adapter_class = _untuned_adapter_class()
    if adapter_class is None:
        return None
    return adapter_class(
        x,
        y,
        sample_weight=sample_weight,
        batch_size=batch_size,
        steps=steps_per_epoch,
        shuffle=shuffle,
        class_weight=class_weight,
    )


def keras_fit_is_own(model: keras.Model) -> bool:
    """Whether ``model.fit`` is Keras' own, neither overridden nor replaced."""
    return "fit" not in vars(model) and type(model).fit is keras.Model.fit


@functools.cache
def _untuned_adapter_class() -> type | None:
    if keras.backend.backend() != "tensorflow":
        return None
    adapter = keras_array_data_adapter()
    if adapter is None:
        return None
    import tensorflow as tf

    class UntunedArrayDataAdapter(adapter):
        """Keras' array adapter whose ``tf.data`` pipeline is not autotuned."""

        def get_tf_dataset(self) -> tf.data.Dataset:
            options = tf.data.Options()
            options.autotune.enabled = False
            return super().get_tf_dataset().with_options(options)

    return UntunedArrayDataAdapter
