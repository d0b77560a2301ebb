"""Marks for tests of scikit-learn features newer than the oldest supported one.

``make test-oldest`` runs the suite on the lower bounds in ``pyproject.toml``;
there, a test of a newer scikit-learn feature is skipped, naming the version it
needs. Everything else must pass on both the oldest and the newest versions.
"""

import pytest
import sklearn
from packaging.version import Version

_SKLEARN = Version(sklearn.__version__).release

requires_temperature_scaling = pytest.mark.skipif(
    _SKLEARN < (1, 8),
    reason='CalibratedClassifierCV(method="temperature") is new in scikit-learn 1.8',
)
