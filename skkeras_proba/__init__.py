"""Keras models as first-class scikit-learn classifiers and regressors."""

from skkeras_proba._versions import __version__, warn_about_unsupported_versions

# Before Keras and scikeras are imported, so that an out-of-range version is
# named even when importing it is what fails.
warn_about_unsupported_versions()

from skkeras_proba._base import BaseWrapper  # noqa: E402
from skkeras_proba._classifier import KerasClassifier  # noqa: E402
from skkeras_proba._heads import Head, inspect_heads  # noqa: E402
from skkeras_proba._onnx import to_onnx  # noqa: E402
from skkeras_proba._persistence import get_untrusted_types, load, save  # noqa: E402
from skkeras_proba._regressor import KerasRegressor  # noqa: E402

__all__ = [
    "BaseWrapper",
    "Head",
    "KerasClassifier",
    "KerasRegressor",
    "__version__",
    "get_untrusted_types",
    "inspect_heads",
    "load",
    "save",
    "to_onnx",
]
