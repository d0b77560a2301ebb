"""Writes an estimator as the plain JSON data of a skkeras_proba manifest.

Values that are not JSON (arrays, tuples, sets, dicts with non-string keys,
dtypes, output heads, fitted encoders, Keras objects, functions and classes)
become small tagged objects ``{"type": ..., ...}``, which
``_reader`` reads back; a value of any other kind is refused with a
``TypeError`` naming it. A Keras model is written as its own member, and only
as a parameter's value or ``model_``.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import sys
from collections import defaultdict
from typing import Any

import keras
import numpy as np
from sklearn.base import BaseEstimator

from skkeras_proba._heads import Head
from skkeras_proba._persistence._archive import model_member
from skkeras_proba._persistence._checks import (
    MAX_ARRAY_BYTES,
    MAX_ITEMSIZE,
    MAX_NDIM,
    public_name,
)
from skkeras_proba._seed_states import SEED_STATES, seed_states

# Rebuilt on load rather than saved: the traced forward pass, and the callback
# instances fit makes from the ``callbacks`` parameter.
REBUILT = frozenset({"_forward", "_fit_callbacks", "_predict_callbacks"})

# Keras objects that Keras itself writes as plain configs (get_config).
KERAS_CONFIG_TYPES = (
    keras.losses.Loss,
    keras.optimizers.Optimizer,
    keras.metrics.Metric,
    keras.initializers.Initializer,
    keras.regularizers.Regularizer,
)


class Writer:
    """Turns values into plain JSON data, collecting Keras models to write."""

    def __init__(self) -> None:
        self.models: dict[str, keras.Model] = {}
        self._model_files: dict[int, str] = {}

    def estimator(
        self, estimator: BaseEstimator, where: str, top: bool = False
    ) -> dict[str, Any]:
        """``top``: the saved estimator, whose parameters and ``model_`` may be
        Keras models (load looks for models there only)."""
        params = estimator.get_params(deep=False)
        fitted = {
            name: value
            for name, value in vars(estimator).items()
            if name not in params and name not in REBUILT
        }
        if top and "model_" in fitted:  # Keras' format leaves them out
            fitted[SEED_STATES] = seed_states(fitted["model_"])
        kind = "parameter" if not where else f"{where} parameter"
        state = "attribute" if not where else f"{where} attribute"
        return {
            "type": "estimator",
            "class": self.importable(type(estimator), where or "estimator class"),
            "params": {
                n: self.top_value(v, f"{kind} {n!r}", top) for n, v in params.items()
            },
            "state": {
                n: self.top_value(v, f"{state} {n!r}", top and n == "model_")
                for n, v in fitted.items()
            },
        }

    def top_value(self, value: Any, where: str, model_allowed: bool) -> Any:
        if model_allowed and isinstance(value, keras.Model):
            return {"type": "keras_model", "file": self._model_file(value)}
        return self.value(value, where)

    def value(self, value: Any, where: str) -> Any:
        if value is None or isinstance(value, bool | int | float | str):
            return value
        if isinstance(value, list):
            return [self.value(v, f"{where}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, tuple):
            items = [self.value(v, f"{where}[{i}]") for i, v in enumerate(value)]
            return {"type": "tuple", "items": items}
        if isinstance(value, set | frozenset):
            items = [self.value(v, f"{where} item") for v in sorted(value, key=repr)]
            return {"type": "set", "items": items}
        if isinstance(value, dict):
            return self._dict(value, where)
        if isinstance(value, np.ndarray):
            return self._array(value, where)
        if isinstance(value, np.generic):
            return {"type": "scalar", "value": self._array(np.asarray(value), where)}
        if isinstance(value, np.dtype):
            return {"type": "dtype", "dtype": self._dtype(value, where)}
        if isinstance(value, Head):
            return {"type": "head", "fields": dataclasses.asdict(value)}
        if isinstance(value, KERAS_CONFIG_TYPES):
            return {"type": "keras_object", "config": self._keras_config(value, where)}
        if isinstance(value, BaseEstimator):
            return self.estimator(value, where)
        if inspect.isfunction(value) or inspect.isclass(value):
            return self.importable(value, where)
        raise _unsaveable(value, where)

    def _dict(self, value: dict, where: str) -> dict[str, Any]:
        if isinstance(value, defaultdict) and value.default_factory is not list:
            raise _unsaveable(value, where)
        items = [
            [self.value(k, f"{where} key"), self.value(v, f"{where}[{k!r}]")]
            for k, v in value.items()
        ]
        return {"type": "dict", "items": items, "default_list": _is_list_dict(value)}

    def _array(self, array: np.ndarray, where: str) -> dict[str, Any]:
        dtype = self._dtype(array.dtype, where)
        if array.nbytes > MAX_ARRAY_BYTES or array.ndim > MAX_NDIM:
            raise _unsaveable(array, where)
        if array.dtype.kind in "biufU":
            data = array.ravel().tolist()
        elif array.dtype.kind == "O":
            data = [self.value(v, f"{where} element") for v in array.ravel()]
        else:
            raise _unsaveable(array, where)
        return {"type": "ndarray", "dtype": dtype, "shape": array.shape, "data": data}

    @staticmethod
    def _dtype(dtype: np.dtype, where: str) -> str:
        if (
            dtype.fields is not None
            or dtype.kind not in "biufUO"
            or dtype.itemsize > MAX_ITEMSIZE
        ):
            raise _unsaveable(dtype, where)
        return dtype.str

    def _model_file(self, model: keras.Model) -> str:
        # One file per model object: model= and model_ may be the same model.
        if id(model) not in self._model_files:
            name = model_member(len(self.models))
            self._model_files[id(model)] = name
            self.models[name] = model
        return self._model_files[id(model)]

    @staticmethod
    def _keras_config(value: Any, where: str) -> Any:
        config = keras.saving.serialize_keras_object(value)
        try:
            json.dumps(config)
        except (TypeError, ValueError):
            raise _unsaveable(value, where) from None
        return config

    @staticmethod
    def importable(value: Any, where: str) -> dict[str, str]:
        """A module-level function or class, by the name that imports it.

        Objects load allows without custom_objects are written by their public
        name (``keras.losses.Huber``), which outlives their module's.
        """
        public = public_name(value)
        if public is not None:
            module, _, name = public.rpartition(".")
            return {"type": "import", "module": module, "name": name}
        module, name = getattr(value, "__module__", None), value.__qualname__
        found = sys.modules.get(module) if module else None
        for part in name.split("."):
            found = getattr(found, part, None)
        if found is not value:
            raise _unsaveable(value, where)
        return {"type": "import", "module": module, "name": name}


def _is_list_dict(value: dict) -> bool:
    return isinstance(value, defaultdict) and value.default_factory is list


def _unsaveable(value: Any, where: str) -> TypeError:
    shown = repr(value)
    shown = shown if len(shown) <= 80 else shown[:77] + "..."
    return TypeError(
        f"Cannot save {where or 'the estimator'} = {shown}: a "
        f"{type(value).__name__} cannot be written as plain data. skkeras_proba.save "
        "writes numbers, strings, lists, dicts, NumPy arrays (of numbers or "
        f"strings, up to {MAX_ARRAY_BYTES} bytes), Keras models (as a parameter or "
        "model_), Keras objects with get_config and module-level functions or "
        "classes; pass one of those (e.g. an int random_state, a build function "
        "defined at module level, callbacks as classes), or pickle the estimator "
        "instead."
    )
