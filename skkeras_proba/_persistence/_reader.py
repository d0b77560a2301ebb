"""Reads a skkeras_proba manifest back into an estimator, trusting nothing in it.

Names are looked up, never imported (see ``_checks``); each value
is checked as it is read; Keras models are loaded, in Keras' safe mode, only
once the manifest has been read whole; and the estimator is built only once
its parameters and state have been checked against each other and against the
models (``_state``, ``_consistency``).
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import math
import re
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import keras
import numpy as np
from sklearn.base import BaseEstimator

from skkeras_proba._base import BaseWrapper
from skkeras_proba._compat import InvalidParameterError
from skkeras_proba._heads import Head
from skkeras_proba._persistence._archive import MODEL_MEMBER, Archive
from skkeras_proba._persistence._checks import (
    ENCODERS,
    ESTIMATORS,
    MAX_ARRAY_BYTES,
    MAX_ITEMSIZE,
    MAX_NDIM,
    Damaged,
    LoadError,
    TooLarge,
    Untrusted,
    check_keras_config,
    clipped,
    constructor_parameters,
    keras_names,
    shadows_class_attribute,
    shown,
)
from skkeras_proba._persistence._consistency import check_against_model
from skkeras_proba._persistence._state import (
    check_parameters,
    check_state,
    rebuild_encoder,
)
from skkeras_proba._persistence._writer import KERAS_CONFIG_TYPES, REBUILT


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


class Reader:
    """Turns the plain JSON data written by ``Writer`` back into an estimator.

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

    def load(self, archive: Archive) -> BaseWrapper:
        cls, params, state = self._description(archive.manifest()["estimator"])
        check_parameters(cls, params, self.user_code)
        if set(params) & set(state):  # an attribute would replace the parameter
            raise Damaged(f"it sets {sorted(set(params) & set(state))} twice")
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
        if not (inspect.isclass(cls) and issubclass(cls, BaseWrapper)):
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
            elif name in REBUILT:  # format 1 wrote fit's empty callback lists
                if value != []:
                    raise Damaged(f"{where} = {shown(value)} holds callbacks")
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
        if not (isinstance(member, str) and MODEL_MEMBER.fullmatch(member)):
            raise Damaged(f"it names a Keras model file {shown(member)}")
        return _ModelRef(member)

    def name(self, data: Any, where: str, allowed: dict[str, Any]) -> Any:
        """The object a name stands for: the user's, an allowed one, or refused.

        One exact lookup of ``module.name``: no module is imported (unless
        ``safe_mode=False``) and no chain of attributes is followed.
        """
        _check_tag(data, "import", where)
        module, name = data["module"], data["name"]
        if not (isinstance(module, str) and isinstance(name, str)):
            raise Damaged(f"{where} is named {shown(data)}")
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
            raise Damaged(f"{where} holds {shown(data)}")
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
            raise Damaged(f"{where} holds an array of shape {shown(shape)}")
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
            raise Damaged(f"{where} holds an array element {shown(element)}")
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
            raise Damaged(f"{where} has the dtype {shown(text)}")
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
            raise Damaged(f"{where} holds a head with the fields {shown(fields)}")
        loss, logits, units = fields["loss"], fields["logits"], fields["units"]
        strings = ("name", "activation", "link", "source", "read_from")
        if not (
            all(isinstance(fields[n], str) for n in strings)
            and (loss is None or isinstance(loss, str))
            and (logits is None or isinstance(logits, bool))
            and isinstance(units, int)
            and not isinstance(units, bool)
        ):
            raise Damaged(f"{where} holds a head {shown(fields)}")
        return Head(**fields)

    def _keras_object(self, data: dict[str, Any], where: str) -> Any:
        config = data["config"]
        if self.safe_mode:
            check_keras_config(config, where, self.custom_objects, strict=True)
        try:
            obj = keras.saving.deserialize_keras_object(
                config, custom_objects=self.custom_objects, safe_mode=self.safe_mode
            )
        except (TypeError, ValueError, KeyError) as error:
            raise Untrusted(
                f"holds a Keras object as {where} that Keras' safe mode does not "
                f"rebuild ({clipped(error)})"
            ) from None
        if not isinstance(obj, KERAS_CONFIG_TYPES):
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
        if any(cls is encoder for encoder in ENCODERS.values()):
            return rebuild_encoder(cls, params, state, self.user_code, where)
        if not (inspect.isclass(cls) and issubclass(cls, BaseEstimator)):
            raise Damaged(f"{where} is of class {cls!r}, not an estimator")
        estimator = cls(**params)
        for name in state:
            if not name.isidentifier() or shadows_class_attribute(cls, name):
                raise Damaged(f"{where} sets an attribute {name!r}")
        vars(estimator).update(state)
        return estimator

    def _model(self, archive: Archive, member: str, directory: Path) -> keras.Model:
        path, config = archive.extract_model(member, directory)
        if self.safe_mode:
            where = f"the Keras model {member}"
            check_keras_config(config, where, self.custom_objects, strict=False)
        try:
            return keras.saving.load_model(
                path, custom_objects=self.custom_objects, safe_mode=self.safe_mode
            )
        except (TypeError, ValueError) as error:
            raise LoadError(
                f"holds a Keras model that Keras cannot load: {clipped(error)}\n",
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
                f"attribute '_user_params' = {shown(state.get('_user_params'))} "
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
        raise Damaged(f"{where} is {shown(data)}, not a {kind}")


def _named(data: Any, where: str) -> dict[str, Any]:
    if not (isinstance(data, dict) and all(isinstance(k, str) for k in data)):
        raise Damaged(f"the {where} are {shown(data)}")
    return data


def _list(data: Any, where: str) -> list:
    if not isinstance(data, list):
        raise Damaged(f"{where} holds {shown(data)} where a list belongs")
    return data


def _hashable(values: list, where: str) -> list:
    for value in values:
        try:
            hash(value)
        except TypeError:
            raise Damaged(f"{where} uses {shown(value)} as a key") from None
    return values
