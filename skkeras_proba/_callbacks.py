"""Which of Keras' callback hooks a user's callbacks implement.

Both fast paths change how often Keras calls some hooks: an epoch per call in
the fit loop calls the batch hooks once per epoch, and the compiled forward
pass calls no predict hook at all. Each path is taken only when no callback
overrides the hooks it changes; a hook a callback merely inherits from
``keras.callbacks.Callback`` does nothing, so skipping it changes nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import keras

if TYPE_CHECKING:
    from collections.abc import Iterable


def overrides_any_hook(
    callbacks: Iterable[keras.callbacks.Callback], hooks: tuple[str, ...]
) -> bool:
    """Whether a callback's class overrides one of ``hooks`` of Keras' base class."""
    return any(
        getattr(type(callback), hook) is not getattr(keras.callbacks.Callback, hook)
        for callback in callbacks
        for hook in hooks
    )
