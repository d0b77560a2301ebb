"""Keras models as first-class scikit-learn classifiers and regressors."""

from skkeras_proba._classifier import KerasClassifier
from skkeras_proba._heads import Head, inspect_heads
from skkeras_proba._persistence import load, save
from skkeras_proba._regressor import KerasRegressor

__version__ = "0.1.0"

__all__ = [
    "Head",
    "KerasClassifier",
    "KerasRegressor",
    "__version__",
    "inspect_heads",
    "load",
    "save",
]
