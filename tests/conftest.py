"""Test set-up: quiet TensorFlow, one thread pool per xdist worker."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

# Imported once the backend is chosen.
import keras
import pytest


def requires_backend(*backends: str, reason: str) -> pytest.MarkDecorator:
    """Skip a test unless Keras runs on one of ``backends``; ``reason`` says why.

    The skip names the backend that runs, so that ``pytest -ra`` reports it.
    """
    running = keras.backend.backend()
    return pytest.mark.skipif(
        running not in backends,
        reason=f"on Keras' {running} backend: {reason}",
    )
