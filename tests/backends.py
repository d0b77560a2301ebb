"""Markers for tests of one Keras backend's own machinery.

``make test`` runs the suite on TensorFlow and again with ``KERAS_BACKEND=jax``
(``make test-torch``: on PyTorch); a test of something only some backends have
is skipped on the others, with the reason shown in the run's summary (``-ra``).
"""

import contextlib
from collections.abc import Iterator

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


@contextlib.contextmanager
def jax_compilations(caplog: pytest.LogCaptureFixture) -> Iterator[list[str]]:
    """JAX's messages for what it compiles inside the block, filled on exit.

    Each is JAX's "Compiling <function> ..." message, so a test can count the
    compilations of one function or assert there were none.
    """
    import jax

    compiled: list[str] = []
    first = len(caplog.records)
    with jax.log_compiles(True), caplog.at_level("WARNING", logger="jax"):
        yield compiled
    messages = (record.getMessage() for record in caplog.records[first:])
    compiled.extend(m for m in messages if m.startswith("Compiling"))
