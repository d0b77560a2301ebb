"""Save a fitted estimator to one file and load it back, without pickle.

The file is a zip archive:

``manifest.json``
    ``{"format": "skkeras_proba", "format_version": 1, "library_version": ...,
    "estimator": ...}``: the estimator's class, its constructor parameters
    (``get_params(deep=False)``) and its fitted attributes, as plain JSON data.
``keras/<n>.keras``
    Every Keras model the estimator holds (``model_``; ``model=`` when it is a
    model instance), in Keras' own ``.keras`` format.

Values that are not JSON (arrays, tuples, dicts with non-string keys, dtypes,
output heads, fitted encoders, Keras objects, functions) are written as small
tagged objects ``{"type": ..., ...}``; a value of any other kind is refused
when saving, with a ``TypeError`` naming it. Loading runs no code the file
names unless told to: Keras loads the model in its safe mode, and a function or
class named in the file (a build function, an estimator subclass) is taken from
``custom_objects`` or from keras, scikit-learn, scikeras and skkeras_proba
only; ``safe_mode=False`` imports the module the file names.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import json
import os
import sys
import tempfile
import zipfile
import zlib
from collections import defaultdict
from pathlib import Path
from typing import Any

import keras
import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from skkeras_proba._base import KerasEstimatorBase
from skkeras_proba._classifier import KerasClassifier
from skkeras_proba._heads import Head
from skkeras_proba._regressor import KerasRegressor

FORMAT = "skkeras_proba"
FORMAT_VERSION = 1
_MANIFEST = "manifest.json"

# Packages whose functions and classes a file may name without custom_objects:
# importing them runs no code from the file's author.
_TRUSTED_PACKAGES = frozenset({"keras", "sklearn", "scikeras", "skkeras_proba"})

# Attributes rebuilt on load rather than saved: the traced forward pass.
_REBUILT = frozenset({"_forward"})

# Keras objects that Keras itself writes as plain configs (get_config).
_KERAS_CONFIG_TYPES = (
    keras.losses.Loss,
    keras.optimizers.Optimizer,
    keras.metrics.Metric,
    keras.initializers.Initializer,
    keras.regularizers.Regularizer,
)

_CORRUPT_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    UnicodeDecodeError,
    json.JSONDecodeError,
)


def save(estimator: KerasClassifier | KerasRegressor, path: str | os.PathLike) -> None:
    """Save a fitted estimator to one file, without pickle.

    The file holds the Keras model in Keras' own ``.keras`` format, and the
    estimator's parameters and fitted state as plain JSON data. It is written
    to a temporary file first and then moved into place, so ``path`` never
    holds a half-written file.

    Parameters
    ----------
    estimator : KerasClassifier or KerasRegressor
        A fitted estimator. Its parameters must be plain data (numbers,
        strings, lists, dicts, arrays), Keras objects with a config (losses,
        optimizers, metrics), Keras models, or module-level functions and
        classes (a build function is saved by its importable name).
    path : str or path-like
        Where to write the file (by convention, ending in ``.skkeras``).

    Raises
    ------
    TypeError
        If ``estimator`` is not one of ours, or a parameter or attribute cannot
        be written as plain data (a lambda, a ``RandomState``, a callback
        instance): the message names it. Nothing is written.
    sklearn.exceptions.NotFittedError
        If the estimator is not fitted.

    See Also
    --------
    load : Read the file back.
    """
    if not isinstance(estimator, KerasEstimatorBase):
        raise TypeError(
            f"save takes a fitted KerasClassifier or KerasRegressor, got a "
            f"{type(estimator).__name__}. To save a Pipeline, save its Keras step "
            "with save() and the other steps beside it (see the persistence guide)."
        )
    check_is_fitted(estimator)
    path = Path(path)
    writer = _Writer()
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "library_version": _library_version(),
        "estimator": writer.estimator(estimator, where=""),
    }
    text = json.dumps(manifest, allow_nan=True)  # before any file is touched
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".part")
    os.close(handle)
    try:
        with (
            tempfile.TemporaryDirectory() as models_dir,
            zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as archive,
        ):
            archive.writestr(_MANIFEST, text)
            for name, model in writer.models.items():
                model_path = Path(models_dir) / Path(name).name
                model.save(model_path)
                archive.write(model_path, name)
        os.replace(temporary, path)
    finally:
        Path(temporary).unlink(missing_ok=True)


def load(
    path: str | os.PathLike,
    *,
    custom_objects: dict[str, Any] | None = None,
    safe_mode: bool = True,
) -> KerasClassifier | KerasRegressor:
    """Load an estimator saved with :func:`save`.

    Parameters
    ----------
    path : str or path-like
        A file written by :func:`save`.
    custom_objects : dict, default=None
        Functions and classes the file names, by name: custom Keras layers,
        losses or activations as for ``keras.saving.load_model`` (e.g.
        ``{"MyLayer": MyLayer}``), and a build function or estimator subclass
        by its name or ``"module.name"`` (e.g. ``{"build": build}``).
    safe_mode : bool, default=True
        Keras' safe mode: a ``Lambda`` layer's Python code is refused rather
        than run, and only keras, scikit-learn, scikeras and skkeras_proba are
        imported for names not in ``custom_objects``. Pass False only for a
        file you trust: it runs the file's Lambda code and imports the modules
        it names.

    Returns
    -------
    estimator : KerasClassifier or KerasRegressor
        Fitted, predicting exactly what the saved estimator predicted; it can
        be refitted, cloned and put in a Pipeline.

    Raises
    ------
    ValueError
        If the file is truncated, corrupted, not written by :func:`save`, or
        written by a newer format version; if it names code that safe mode
        does not run. Nothing is half-loaded: the estimator is returned whole
        or not at all.
    """
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            manifest = _read_manifest(archive, path)
            with tempfile.TemporaryDirectory() as models_dir:
                reader = _Reader(archive, Path(models_dir), custom_objects, safe_mode)
                estimator = reader.value(manifest["estimator"], where="")
    except _CORRUPT_ERRORS as error:
        raise ValueError(_corrupt_message(path, error)) from error
    except (KeyError, TypeError, AttributeError, IndexError) as error:
        raise ValueError(_corrupt_message(path, error)) from error
    if not isinstance(estimator, KerasEstimatorBase):
        raise ValueError(_corrupt_message(path, "it holds no estimator"))
    return estimator


def _read_manifest(archive: zipfile.ZipFile, path: Path) -> dict[str, Any]:
    try:
        manifest = json.loads(archive.read(_MANIFEST))
    except KeyError:
        raise ValueError(
            f"{path} is not a file written by skkeras_proba.save (it has no "
            f"{_MANIFEST}). Load it with the tool that wrote it."
        ) from None
    named = manifest.get("format") if isinstance(manifest, dict) else None
    if named != FORMAT:
        raise ValueError(
            f"{path} is not a file written by skkeras_proba.save (its manifest "
            f"names format {named!r}). Load it with the tool that wrote it."
        )
    version = manifest.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise ValueError(_corrupt_message(path, f"format_version={version!r}"))
    if version > FORMAT_VERSION:
        raise ValueError(
            f"{path} was written in format version {version} by skkeras_proba "
            f"{manifest.get('library_version')}; this skkeras_proba "
            f"{_library_version()} reads format versions up to {FORMAT_VERSION}. "
            "Upgrade skkeras_proba to load it."
        )
    return manifest


def _corrupt_message(path: Path, error: Any) -> str:
    return (
        f"{path} is truncated, corrupted or not a file written by "
        f"skkeras_proba.save ({error}). Save the estimator again with "
        "skkeras_proba.save."
    )


def _library_version() -> str:
    from skkeras_proba._versions import __version__

    return __version__


class _Writer:
    """Turns values into plain JSON data, collecting Keras models to write."""

    def __init__(self) -> None:
        self.models: dict[str, keras.Model] = {}
        self._model_files: dict[int, str] = {}

    def estimator(self, estimator: BaseEstimator, where: str) -> dict[str, Any]:
        params = estimator.get_params(deep=False)
        fitted = {
            name: value
            for name, value in vars(estimator).items()
            if name not in params and name not in _REBUILT
        }
        kind = "parameter" if not where else f"{where} parameter"
        state = "attribute" if not where else f"{where} attribute"
        return {
            "type": "estimator",
            "class": self.importable(type(estimator), where or "estimator class"),
            "params": {n: self.value(v, f"{kind} {n!r}") for n, v in params.items()},
            "state": {n: self.value(v, f"{state} {n!r}") for n, v in fitted.items()},
        }

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
        if isinstance(value, keras.Model):
            return {"type": "keras_model", "file": self._model_file(value)}
        if isinstance(value, _KERAS_CONFIG_TYPES):
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
        if array.dtype.kind in "biufU":
            data = array.ravel().tolist()
        elif array.dtype.kind == "O":
            data = [self.value(v, f"{where} element") for v in array.ravel()]
        else:
            raise _unsaveable(array, where)
        return {"type": "ndarray", "dtype": dtype, "shape": array.shape, "data": data}

    @staticmethod
    def _dtype(dtype: np.dtype, where: str) -> str:
        if dtype.fields is not None or dtype.kind not in "biufUO":
            raise _unsaveable(dtype, where)
        return dtype.str

    def _model_file(self, model: keras.Model) -> str:
        # One file per model object: model= and model_ may be the same model.
        if id(model) not in self._model_files:
            name = f"keras/{len(self.models)}.keras"
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
        """A module-level function or class, by the name that imports it."""
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
        "writes numbers, strings, lists, dicts, NumPy arrays, Keras models, Keras "
        "objects with get_config and module-level functions or classes; pass one "
        "of those (e.g. an int random_state, a build function defined at module "
        "level, callbacks as classes), or pickle the estimator instead."
    )


class _Reader:
    """Turns the plain JSON data written by :class:`_Writer` back into values."""

    def __init__(
        self,
        archive: zipfile.ZipFile,
        models_dir: Path,
        custom_objects: dict[str, Any] | None,
        safe_mode: bool,
    ) -> None:
        self.archive = archive
        self.models_dir = models_dir
        self.custom_objects = dict(custom_objects or {})
        self.safe_mode = safe_mode
        self._models: dict[str, keras.Model] = {}

    def value(self, data: Any, where: str) -> Any:
        if data is None or isinstance(data, bool | int | float | str):
            return data
        if isinstance(data, list):
            return [self.value(v, where) for v in data]
        kind = data["type"]
        if kind == "tuple":
            return tuple(self.value(v, where) for v in data["items"])
        if kind == "set":
            return {self.value(v, where) for v in data["items"]}
        if kind == "dict":
            items = {
                self.value(k, where): self.value(v, where) for k, v in data["items"]
            }
            return defaultdict(list, items) if data["default_list"] else items
        if kind == "ndarray":
            return self._array(data, where)
        if kind == "scalar":
            return self._array(data["value"], where)[()]
        if kind == "dtype":
            return np.dtype(data["dtype"])
        if kind == "head":
            return Head(**data["fields"])
        if kind == "keras_model":
            return self._model(data["file"])
        if kind == "keras_object":
            return keras.saving.deserialize_keras_object(
                data["config"],
                custom_objects=self.custom_objects,
                safe_mode=self.safe_mode,
            )
        if kind == "import":
            return self._import(data["module"], data["name"], where)
        if kind == "estimator":
            return self._estimator(data)
        raise KeyError(f"unknown value type {kind!r}")

    def _array(self, data: dict[str, Any], where: str) -> np.ndarray:
        dtype = np.dtype(data["dtype"])
        if dtype.kind == "O":
            items = [self.value(v, where) for v in data["data"]]
            flat = np.empty(len(items), dtype=object)
            flat[:] = items
        elif dtype.kind in "biufU":
            flat = np.array(data["data"], dtype=dtype)
        else:
            raise KeyError(f"unknown array dtype {dtype}")
        return flat.reshape(data["shape"])

    def _estimator(self, data: dict[str, Any]) -> BaseEstimator:
        cls = self._import(data["class"]["module"], data["class"]["name"], "class")
        if not (inspect.isclass(cls) and issubclass(cls, BaseEstimator)):
            raise TypeError(f"{cls!r} is not a scikit-learn estimator class")
        params = {
            n: self.value(v, f"parameter {n!r}") for n, v in data["params"].items()
        }
        state = {n: self.value(v, n) for n, v in data["state"].items()}
        estimator = cls(**params)
        if isinstance(estimator, KerasEstimatorBase):
            # Its __setstate__ rebuilds what is not saved: the forward pass.
            estimator.__setstate__(state)
        else:  # scikit-learn's __setstate__ is for pickles: it warns here
            vars(estimator).update(state)
        return estimator

    def _model(self, name: str) -> keras.Model:
        if name not in self._models:
            model_path = self.models_dir / Path(name).name
            model_path.write_bytes(self.archive.read(name))
            try:
                self._models[name] = keras.saving.load_model(
                    model_path,
                    custom_objects=self.custom_objects,
                    safe_mode=self.safe_mode,
                )
            except (TypeError, ValueError) as error:
                raise ValueError(
                    f"Cannot load the Keras model in the file: {error}\nA model "
                    "with custom layers, losses or activations needs them by "
                    "name: load(path, custom_objects={'MyLayer': MyLayer}). A "
                    "Lambda layer holds Python code, which safe mode never runs: "
                    "pass safe_mode=False only for a file you trust."
                ) from error
        return self._models[name]

    def _import(self, module: str, name: str, where: str) -> Any:
        for key in (f"{module}.{name}", name):
            if key in self.custom_objects:
                return self.custom_objects[key]
        if self.safe_mode and module.split(".")[0] not in _TRUSTED_PACKAGES:
            raise ValueError(
                f"The file names {module}.{name} as {where}; safe mode imports "
                f"only from {sorted(_TRUSTED_PACKAGES)}. Pass it by name, "
                f"load(path, custom_objects={{{name!r}: {name}}}), or pass "
                "safe_mode=False to import its module (only for a file you trust)."
            )
        found: Any = importlib.import_module(module)
        for part in name.split("."):
            found = getattr(found, part)
        return found
