"""Save a fitted estimator to one file and load it back, without pickle.

The file is a zip archive:

``manifest.json``
    ``{"format": "skkeras_proba", "format_version": 1, "library_version": ...,
    "estimator": ...}``: the estimator's class, its constructor parameters
    (``get_params(deep=False)``) and its fitted attributes, as plain JSON data.
``keras/<n>.keras``
    Every Keras model the estimator holds (``model_``; ``model=`` or another
    parameter when it is a model instance), in Keras' own ``.keras`` format.

Values that are not JSON (arrays, tuples, dicts with non-string keys, dtypes,
output heads, fitted encoders, Keras objects, functions) are written as small
tagged objects ``{"type": ..., ...}``; a value of any other kind is refused
when saving, with a ``TypeError`` naming it.

Loading treats the file as data from someone else (see
``_persistence_checks`` for what it trusts and ``_persistence_state`` for how
the state is checked): names are looked up, never imported; Keras loads the
model in its safe mode; the estimator is returned whole, checked against its
model, or not at all.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import json
import math
import os
import re
import shutil
import sys
import tempfile
import zipfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import keras
import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.validation import check_is_fitted

from skkeras_proba._base import KerasEstimatorBase
from skkeras_proba._classifier import KerasClassifier
from skkeras_proba._heads import Head
from skkeras_proba._persistence_checks import (
    ENCODERS,
    ESTIMATORS,
    MAX_ARRAY_BYTES,
    MAX_DEPTH,
    MAX_ITEMSIZE,
    MAX_MANIFEST_BYTES,
    MAX_MODEL_BYTES,
    MAX_NDIM,
    Damaged,
    LoadError,
    TooLarge,
    Untrusted,
    allowed_names,
    check_depth,
    check_keras_config,
    constructor_parameters,
    json_nodes,
    keras_names,
    public_name,
    shadows_class_attribute,
    unregistered_keras_names,
)
from skkeras_proba._persistence_state import (
    check_against_model,
    check_parameters,
    check_state,
    rebuild_encoder,
)
from skkeras_proba._regressor import KerasRegressor

FORMAT = "skkeras_proba"
FORMAT_VERSION = 1
_MANIFEST = "manifest.json"
_MODEL_MEMBER = re.compile(r"keras/(0|[1-9][0-9]{0,5})\.keras")

# Rebuilt on load rather than saved: the traced forward pass, and the callback
# instances fit makes from the ``callbacks`` parameter.
_REBUILT = frozenset({"_forward", "_fit_callbacks", "_predict_callbacks"})

# Keras objects that Keras itself writes as plain configs (get_config).
_KERAS_CONFIG_TYPES = (
    keras.losses.Loss,
    keras.optimizers.Optimizer,
    keras.metrics.Metric,
    keras.initializers.Initializer,
    keras.regularizers.Regularizer,
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
    ValueError
        If the state is larger or nests deeper than :func:`load` reads.
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
        "estimator": writer.estimator(estimator, where="", top=True),
    }
    text = json.dumps(manifest, allow_nan=True)  # before any file is touched
    _check_loadable(manifest, text)
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


def _check_loadable(manifest: dict[str, Any], text: str) -> None:
    """Raise if load would refuse the manifest for its size or nesting."""
    try:
        if len(text) > MAX_MANIFEST_BYTES:
            raise TooLarge(f"{len(text)} bytes of state")
        check_depth(manifest, "state")
    except LoadError as error:
        raise ValueError(
            f"Cannot save the estimator: {error.reason}, more than load reads "
            f"({MAX_MANIFEST_BYTES} bytes, {MAX_DEPTH} levels). Keep large data "
            "out of the estimator's parameters."
        ) from None


def load(
    path: str | os.PathLike,
    *,
    custom_objects: dict[str, Any] | None = None,
    safe_mode: bool = True,
) -> KerasClassifier | KerasRegressor:
    """Load an estimator saved with :func:`save`, running no code from the file.

    A file from someone else is data: names in it are looked up in a fixed
    list of our estimators and encoders and Keras' optimizers, losses,
    metrics, activations and callbacks that touch no files, or in
    ``custom_objects``; no module is imported because the file names it; the
    Keras model is loaded in Keras' safe mode; every parameter and fitted
    attribute is checked, and checked against the model, before the estimator
    is returned. See the persistence guide for the threat model.

    Parameters
    ----------
    path : str or path-like
        A file written by :func:`save`.
    custom_objects : dict, default=None
        Your own functions and classes the file names, by name or
        ``"module.name"``: a build function (``{"build": build}``), an
        estimator subclass, a custom encoder, and custom Keras layers, losses
        or activations as for ``keras.saving.load_model``
        (``{"MyLayer": MyLayer}``). :func:`get_untrusted_types` lists the names
        a file needs. The file decides where each one is used and with which
        arguments: pass only objects that are safe to call so.
    safe_mode : bool, default=True
        False gives up the protection, for a file you trust as you trust code
        you run: Keras runs the file's ``Lambda`` code, and names neither
        allowed nor in ``custom_objects`` are imported from the module the file
        names (running that module's import-time code).

    Returns
    -------
    estimator : KerasClassifier or KerasRegressor
        Fitted, predicting exactly what the saved estimator predicted; it can
        be refitted, cloned and put in a Pipeline.

    Raises
    ------
    ValueError
        If the file names code that is not allowed ("is not trusted"), asks
        for more than load reads ("is refused"), or is truncated, corrupted,
        not written by :func:`save`, contradicts its own model ("is damaged",
        naming the field) or was written by a newer format version. Nothing is
        half-loaded and no global state changes: the estimator is returned
        whole or not at all.

    See Also
    --------
    get_untrusted_types : The names a file needs from ``custom_objects``.
    """
    path = Path(path)
    reader = _Reader(dict(custom_objects or {}), safe_mode)
    return _reading(path, lambda archive: reader.load(archive))


def get_untrusted_types(path: str | os.PathLike) -> list[str]:
    """Names of the functions and classes a file needs beyond what load allows.

    Like ``skops.io.get_untrusted_types``: the file is read, nothing in it is
    imported or run. Pass the objects you recognise as yours to :func:`load`
    with ``custom_objects``; a name you do not recognise is a reason not to
    load the file.

    Parameters
    ----------
    path : str or path-like
        A file written by :func:`save`.

    Returns
    -------
    names : list of str
        Sorted ``"module.name"`` of each: build functions, estimator
        subclasses, custom encoders and their functions, and custom Keras
        objects that are not registered with
        ``keras.saving.register_keras_serializable``. Keras' ``Lambda`` layers
        hold code rather than names: ``load`` refuses them in safe mode.

    Raises
    ------
    ValueError
        If the file is damaged or larger than :func:`load` reads.
    """
    return _reading(Path(path), _untrusted_names)


def _reading(path: Path, read: Any) -> Any:
    """``read(archive)`` on the file at ``path``, every failure a ValueError."""
    with path.open("rb") as file:  # a missing file is an OSError, as usual
        try:
            with zipfile.ZipFile(file) as archive:
                return read(_Archive(archive))
        except LoadError as error:
            raise ValueError(error.message(path)) from None
        except Exception as error:  # a file is data: whatever breaks is damage
            damage = Damaged(f"{type(error).__name__}: {error}")
            raise ValueError(damage.message(path)) from error


def _untrusted_names(archive: _Archive) -> list[str]:
    manifest = archive.manifest()
    allowed = allowed_names()
    names = set()
    for node, _ in json_nodes(manifest):
        if isinstance(node, dict) and node.get("type") == "import":
            name = f"{node.get('module')}.{node.get('name')}"
            names |= set() if name in allowed else {name}
        elif isinstance(node, dict) and node.get("type") == "keras_object":
            names |= unregistered_keras_names(node.get("config"))
    with tempfile.TemporaryDirectory() as directory:
        for member in sorted(archive.model_members):
            _, config = archive.extract_model(member, Path(directory))
            names |= unregistered_keras_names(config)
    return sorted(names)


def _library_version() -> str:
    from skkeras_proba import __version__

    return __version__


class _Archive:
    """A zip file whose member names and sizes are what ``save`` writes."""

    def __init__(self, archive: zipfile.ZipFile) -> None:
        infos = archive.infolist()
        names = [info.filename for info in infos]
        if _MANIFEST not in names:
            raise LoadError(
                f"is not a file written by skkeras_proba.save (it has no {_MANIFEST})",
                "Load it with the tool that wrote it.",
            )
        if len(set(names)) != len(names):
            raise Damaged("it holds several members of the same name")
        for info in infos:
            if info.filename != _MANIFEST and not _MODEL_MEMBER.fullmatch(
                info.filename
            ):
                raise Damaged(f"it holds a member {info.filename!r}")
            if info.flag_bits & 0x1 or info.compress_type not in (
                zipfile.ZIP_STORED,
                zipfile.ZIP_DEFLATED,
            ):
                raise Damaged(f"member {info.filename!r} is encrypted or compressed")
        self.archive = archive
        self.model_members = set(names) - {_MANIFEST}

    def _open(self, name: str, limit: int) -> Any:
        info = self.archive.getinfo(name)
        if info.file_size > limit:
            raise TooLarge(
                f"member {name!r} inflates to {info.file_size} bytes, more than "
                f"the {limit} bytes load reads"
            )
        return self.archive.open(info)

    def manifest(self) -> dict[str, Any]:
        """The manifest, parsed and checked for format, version and depth."""
        with self._open(_MANIFEST, MAX_MANIFEST_BYTES) as member:
            text = member.read(MAX_MANIFEST_BYTES + 1)
        try:
            manifest = json.loads(text)
        except RecursionError:  # json's own nesting limit, far below the stack's
            raise TooLarge(
                f"its manifest nests deeper than {MAX_DEPTH} levels"
            ) from None
        check_depth(manifest, "manifest")
        _check_header(manifest)
        return manifest

    def extract_model(self, name: str, directory: Path) -> tuple[Path, Any]:
        """The member copied to ``directory``, and its Keras config."""
        target = directory / f"{_MODEL_MEMBER.fullmatch(name)[1]}.keras"
        with self._open(name, MAX_MODEL_BYTES) as source, target.open("wb") as copy:
            shutil.copyfileobj(source, copy)  # zipfile stops at the size checked
        with zipfile.ZipFile(target) as model_archive:
            infos = model_archive.infolist()
            if sum(info.file_size for info in infos) > MAX_MODEL_BYTES:
                raise TooLarge(f"the files in {name!r} inflate to more than allowed")
            info = model_archive.getinfo("config.json")
            if info.file_size > MAX_MANIFEST_BYTES:
                raise TooLarge(f"the Keras config in {name!r} is too large")
            config = json.loads(model_archive.read(info))
        return target, config


def _check_header(manifest: Any) -> None:
    named = manifest.get("format") if isinstance(manifest, dict) else None
    if named != FORMAT:
        raise LoadError(
            f"is not a file written by skkeras_proba.save (its manifest names "
            f"format {named!r})",
            "Load it with the tool that wrote it.",
        )
    version = manifest.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise Damaged(f"format_version={version!r}")
    if version > FORMAT_VERSION:
        raise LoadError(
            f"was written in format version {version} by skkeras_proba "
            f"{manifest.get('library_version')!s:.20}; this skkeras_proba "
            f"{_library_version()} reads format versions up to {FORMAT_VERSION}",
            "Upgrade skkeras_proba to load it.",
        )
    expected = {"format", "format_version", "library_version", "estimator"}
    if set(manifest) != expected:
        raise Damaged(f"its manifest has the keys {sorted(manifest)}")


class _Writer:
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
            if name not in params and name not in _REBUILT
        }
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


class _ModelRef:
    """A ``keras/<n>.keras`` member, loaded once the manifest has been read."""

    def __init__(self, member: str) -> None:
        self.member = member


# The keys of each tagged value, besides "type".
_TAGS = {
    "tuple": {"items"},
    "set": {"items"},
    "dict": {"items", "default_list"},
    "ndarray": {"dtype", "shape", "data"},
    "scalar": {"value"},
    "dtype": {"dtype"},
    "head": {"fields"},
    "keras_object": {"config"},
    "keras_model": {"file"},
    "import": {"module", "name"},
    "estimator": {"class", "params", "state"},
}
_DTYPE = re.compile(r"[<>|=]?[biufUO][0-9]{0,10}")
_SCALARS = (type(None), bool, int, float, str, np.generic)


class _Reader:
    """Turns the plain JSON data written by :class:`_Writer` back into values.

    Names are looked up (:meth:`name`), never imported in safe mode; each
    value is checked as it is read, and the whole against the model before
    :meth:`load` returns.
    """

    def __init__(self, custom_objects: dict[str, Any], safe_mode: bool) -> None:
        self.custom_objects = custom_objects
        self.safe_mode = safe_mode
        self._imported: list[Any] = []  # by safe_mode=False

    def user_code(self, obj: Any) -> bool:
        """Whether ``obj`` came from the user: custom_objects or an import."""
        return any(
            obj is own for own in (*self.custom_objects.values(), *self._imported)
        )

    def load(self, archive: _Archive) -> KerasEstimatorBase:
        cls, params, state = self._description(archive.manifest()["estimator"])
        check_parameters(cls, params, self.user_code)
        members = {
            value.member
            for value in (*params.values(), *state.values())
            if isinstance(value, _ModelRef)
        }
        if members != archive.model_members:
            raise Damaged(
                f"its manifest names the models {sorted(members)}, the archive "
                f"holds {sorted(archive.model_members)}"
            )
        with tempfile.TemporaryDirectory() as directory:
            models = {m: self._model(archive, m, Path(directory)) for m in members}
        params, state = (
            {n: _loaded(v, models) for n, v in d.items()} for d in (params, state)
        )
        check_state(cls, state)
        check_against_model(cls, params, state)
        return self._build(cls, params, state)

    def _description(self, data: Any) -> tuple[type, dict, dict]:
        """The estimator's class, parameters and state, models as references."""
        _check_tag(data, "estimator", "the estimator")
        cls = self.name(data["class"], "the estimator class", ESTIMATORS)
        if not (inspect.isclass(cls) and issubclass(cls, KerasEstimatorBase)):
            raise Damaged(f"its estimator class is {cls!r}")
        params = {}
        for name, value in _named(data["params"], "parameters").items():
            where = f"parameter {name!r}"
            if name in ("model", "build_fn"):
                params[name] = self._build_function(value, where)
            else:
                params[name] = self._model_or_value(value, where)
        state = {}
        for name, value in _named(data["state"], "attributes").items():
            where = f"attribute {name!r}"
            if name == "model_":
                _check_tag(value, "keras_model", where)
                state[name] = self._model_ref(value)
            elif name in _REBUILT:  # format 1 wrote fit's empty callback lists
                if self.value(value, where) != []:
                    raise Damaged(f"{where} holds callbacks")
            else:
                state[name] = self.value(value, where)
        return cls, params, state

    def _build_function(self, data: Any, where: str) -> Any:
        """None, a Keras model, or the user's function: never one we allow."""
        if data is None:
            return None
        if isinstance(data, dict) and data.get("type") == "keras_model":
            return self._model_or_value(data, where)
        _check_tag(data, "import", where)
        function = self.name(data, where, {})
        if not callable(function):
            raise Damaged(f"{where} is a {type(function).__name__}")
        return function

    def _model_or_value(self, data: Any, where: str) -> Any:
        if isinstance(data, dict) and data.get("type") == "keras_model":
            _check_tag(data, "keras_model", where)
            return self._model_ref(data)
        return self.value(data, where)

    @staticmethod
    def _model_ref(data: dict[str, Any]) -> _ModelRef:
        member = data["file"]
        if not (isinstance(member, str) and _MODEL_MEMBER.fullmatch(member)):
            raise Damaged(f"it names a Keras model file {_shown(member)}")
        return _ModelRef(member)

    def name(self, data: Any, where: str, allowed: dict[str, Any]) -> Any:
        """The object a name stands for: the user's, an allowed one, or refused.

        One exact lookup of ``module.name``: no module is imported (unless
        ``safe_mode=False``) and no chain of attributes is followed.
        """
        _check_tag(data, "import", where)
        module, name = data["module"], data["name"]
        if not (isinstance(module, str) and isinstance(name, str)):
            raise Damaged(f"{where} is named {_shown(data)}")
        full = f"{module}.{name}"
        for key in (full, name):
            if key in self.custom_objects:
                return self.custom_objects[key]
        if full in allowed:
            return allowed[full]
        if self.safe_mode:
            raise Untrusted(
                f"names {full!r} as {where}",
                f"If {full} is your own, pass it yourself: load(path, "
                f"custom_objects={{{name!r}: {name.rpartition('.')[2]}}}). "
                "skkeras_proba.get_untrusted_types(path) lists every name the "
                "file needs",
            )
        found: Any = importlib.import_module(module)  # the user trusts the file
        for part in name.split("."):
            found = getattr(found, part)
        self._imported.append(found)
        return found

    def value(self, data: Any, where: str) -> Any:
        if data is None or isinstance(data, bool | int | float | str):
            return data
        if isinstance(data, list):
            return [self.value(item, where) for item in data]
        kind = data.get("type") if isinstance(data, dict) else None
        if kind not in _TAGS:
            raise Damaged(f"{where} holds {_shown(data)}")
        _check_tag(data, kind, where)
        return getattr(self, f"_{kind}")(data, where)

    def _tuple(self, data: dict[str, Any], where: str) -> tuple:
        return tuple(self.value(_list(data["items"], where), where))

    def _set(self, data: dict[str, Any], where: str) -> set:
        return set(_hashable(self.value(_list(data["items"], where), where), where))

    def _dict(self, data: dict[str, Any], where: str) -> dict:
        pairs = _list(data["items"], where)
        if not all(isinstance(p, list) and len(p) == 2 for p in pairs):
            raise Damaged(f"{where} holds a dict that is not key-value pairs")
        keys = _hashable([self.value(k, f"{where} key") for k, _ in pairs], where)
        values = [
            self.value(v, f"{where}[{k!r}]")
            for k, (_, v) in zip(keys, pairs, strict=True)
        ]
        items = dict(zip(keys, values, strict=True))
        if not isinstance(data["default_list"], bool):
            raise Damaged(f"{where} holds a dict of unknown kind")
        return defaultdict(list, items) if data["default_list"] else items

    def _ndarray(self, data: dict[str, Any], where: str) -> np.ndarray:
        """An array of the declared size: checked before it is allocated."""
        dtype = self._dtype(data, where)
        shape, items = _list(data["shape"], where), _list(data["data"], where)
        if len(shape) > MAX_NDIM or not all(
            isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape
        ):
            raise Damaged(f"{where} holds an array of shape {_shown(shape)}")
        if math.prod(shape) != len(items):
            raise Damaged(f"{where} holds {len(items)} values for shape {shape}")
        if len(items) * dtype.itemsize > MAX_ARRAY_BYTES:
            raise TooLarge(
                f"{where} holds an array of {len(items)} {dtype.str} values, more "
                f"than the {MAX_ARRAY_BYTES} bytes load allocates"
            )
        if dtype.kind == "O":
            flat = np.empty(len(items), dtype=object)
            flat[:] = [self._element(item, where) for item in items]
        else:
            expected = {"b": bool, "i": int, "u": int, "f": (int, float), "U": str}
            kind = expected[dtype.kind]
            if not all(isinstance(v, kind) for v in items) or (
                dtype.kind in "iuf" and any(isinstance(v, bool) for v in items)
            ):
                raise Damaged(f"{where} holds values that are not {dtype}")
            if dtype.kind == "U" and any(len(v) > dtype.itemsize // 4 for v in items):
                raise Damaged(f"{where} holds strings longer than {dtype}")
            flat = np.array(items, dtype=dtype)
        return flat.reshape(shape)

    def _element(self, data: Any, where: str) -> Any:
        element = self.value(data, where)
        if not isinstance(element, _SCALARS):
            raise Damaged(f"{where} holds an array element {_shown(element)}")
        return element

    def _scalar(self, data: dict[str, Any], where: str) -> np.generic:
        _check_tag(data["value"], "ndarray", where)
        array = self._ndarray(data["value"], where)
        if array.ndim:
            raise Damaged(f"{where} holds a scalar of shape {array.shape}")
        return array[()]

    @staticmethod
    def _dtype(data: dict[str, Any], where: str) -> np.dtype:
        text = data["dtype"]
        if not (isinstance(text, str) and _DTYPE.fullmatch(text)):
            raise Damaged(f"{where} has the dtype {_shown(text)}")
        if np.dtype(text).itemsize > MAX_ITEMSIZE:
            raise TooLarge(
                f"{where} has the dtype {text!r}, wider than the {MAX_ITEMSIZE} "
                "bytes per value load allocates"
            )
        return np.dtype(text)

    @staticmethod
    def _head(data: dict[str, Any], where: str) -> Head:
        fields = data["fields"]
        names = [field.name for field in dataclasses.fields(Head)]
        if not (isinstance(fields, dict) and sorted(fields) == sorted(names)):
            raise Damaged(f"{where} holds a head with the fields {_shown(fields)}")
        loss, logits, units = fields["loss"], fields["logits"], fields["units"]
        strings = ("name", "activation", "link", "source", "read_from")
        if not (
            all(isinstance(fields[n], str) for n in strings)
            and (loss is None or isinstance(loss, str))
            and (logits is None or isinstance(logits, bool))
            and isinstance(units, int)
            and not isinstance(units, bool)
        ):
            raise Damaged(f"{where} holds a head {_shown(fields)}")
        return Head(**fields)

    def _keras_object(self, data: dict[str, Any], where: str) -> Any:
        config = data["config"]
        if self.safe_mode:
            check_keras_config(config, where, functions=True)
        try:
            obj = keras.saving.deserialize_keras_object(
                config, custom_objects=self.custom_objects, safe_mode=self.safe_mode
            )
        except (TypeError, ValueError, KeyError) as error:
            raise Untrusted(
                f"holds a Keras object as {where} that Keras' safe mode does not "
                f"rebuild ({str(error)[:300]})"
            ) from None
        if not isinstance(obj, _KERAS_CONFIG_TYPES):
            raise Damaged(f"{where} holds a Keras {type(obj).__name__}")
        return obj

    def _keras_model(self, data: dict[str, Any], where: str) -> Any:
        raise Damaged(f"{where} holds a Keras model, only parameters and model_ may")

    def _import(self, data: dict[str, Any], where: str) -> Any:
        return self.name(data, where, keras_names())

    def _estimator(self, data: dict[str, Any], where: str) -> BaseEstimator:
        """A default encoder rebuilt from its data, or the user's estimator."""
        cls = self.name(data["class"], f"the class of {where}", ENCODERS)
        params = {
            name: self.value(value, f"{where} parameter {name!r}")
            for name, value in _named(data["params"], where).items()
        }
        state = {
            name: self.value(value, f"{where} attribute {name!r}")
            for name, value in _named(data["state"], where).items()
        }
        if cls in ENCODERS.values():
            return rebuild_encoder(cls, params, state, self.user_code, where)
        if not (inspect.isclass(cls) and issubclass(cls, BaseEstimator)):
            raise Damaged(f"{where} is of class {cls!r}, not an estimator")
        estimator = cls(**params)
        for name in state:
            if not name.isidentifier() or shadows_class_attribute(cls, name):
                raise Damaged(f"{where} sets an attribute {name!r}")
        vars(estimator).update(state)
        return estimator

    def _model(self, archive: _Archive, member: str, directory: Path) -> keras.Model:
        path, config = archive.extract_model(member, directory)
        if self.safe_mode:
            check_keras_config(config, f"the Keras model {member}", functions=False)
        try:
            return keras.saving.load_model(
                path, custom_objects=self.custom_objects, safe_mode=self.safe_mode
            )
        except (TypeError, ValueError) as error:
            raise LoadError(
                f"holds a Keras model that Keras cannot load: {error}\n",
                "A model with custom layers, losses or activations needs them by "
                "name: load(path, custom_objects={'MyLayer': MyLayer}). A Lambda "
                "layer holds Python code, which safe mode never runs: pass "
                "safe_mode=False only for a file you trust.",
            ) from None

    @staticmethod
    def _build(cls: type, params: dict[str, Any], state: dict[str, Any]) -> Any:
        """The estimator, from checked parameters and state."""
        extra = set(params) - constructor_parameters(cls)
        if state.get("_user_params", set()) != extra:
            raise Damaged(
                f"attribute '_user_params' = {_shown(state.get('_user_params'))} "
                f"contradicts the routed parameters {sorted(extra)}"
            )
        estimator = cls(**params)
        try:
            estimator._validate_params()  # what fit checks first
        except InvalidParameterError as error:
            raise Damaged(str(error).rstrip(".")) from None
        # Its __setstate__ rebuilds what is not saved: the forward pass.
        estimator.__setstate__(state)
        estimator._initialize_callbacks()
        return estimator


def _loaded(value: Any, models: dict[str, keras.Model]) -> Any:
    return models[value.member] if isinstance(value, _ModelRef) else value


def _check_tag(data: Any, kind: str, where: str) -> None:
    """Raise unless ``data`` is a tagged value of ``kind`` with exactly its keys."""
    if not (
        isinstance(data, dict)
        and data.get("type") == kind
        and set(data) == {"type", *_TAGS[kind]}
    ):
        raise Damaged(f"{where} is {_shown(data)}, not a {kind}")


def _named(data: Any, where: str) -> dict[str, Any]:
    if not (isinstance(data, dict) and all(isinstance(k, str) for k in data)):
        raise Damaged(f"the {where} are {_shown(data)}")
    return data


def _list(data: Any, where: str) -> list:
    if not isinstance(data, list):
        raise Damaged(f"{where} holds {_shown(data)} where a list belongs")
    return data


def _hashable(values: list, where: str) -> list:
    for value in values:
        try:
            hash(value)
        except TypeError:
            raise Damaged(f"{where} uses {_shown(value)} as a key") from None
    return values


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
