"""Markers for tests of one Keras backend's own machinery.

``make test`` runs the suite on TensorFlow and again with ``KERAS_BACKEND=jax``
(``make test-torch``: on PyTorch); a test of something only some backends have
is skipped on the others, with the reason shown in the run's summary (``-ra``).
"""

import keras
import pytest

BACKEND = keras.backend.backend()


def requires_backend(*backends: str, reason: str) -> pytest.MarkDecorator:
    """Skip a test unless Keras runs on one of ``backends``; ``reason`` says why.

    The skip names the backend that runs, so that ``pytest -ra`` reports it.
    """
    return pytest.mark.skipif(
        BACKEND not in backends, reason=f"on Keras' {BACKEND} backend: {reason}"
    )


def tensorflow_only(reason: str) -> pytest.MarkDecorator:
    """Skip unless Keras runs on TensorFlow, saying why the test needs it."""
    return requires_backend("tensorflow", reason=reason)
