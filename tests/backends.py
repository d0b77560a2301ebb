"""Markers for tests of one Keras backend's own machinery.

``make test`` runs the suite on TensorFlow and again with ``KERAS_BACKEND=jax``;
a test of something only one backend has is skipped on the others, with the
reason shown in the run's summary (``-ra``).
"""

import keras
import pytest

BACKEND = keras.backend.backend()


def tensorflow_only(reason: str) -> pytest.MarkDecorator:
    """Skip unless Keras runs on TensorFlow, saying why the test needs it."""
    return pytest.mark.skipif(
        BACKEND != "tensorflow", reason=f"TensorFlow only: {reason}"
    )
