"""What :func:`skkeras_proba.load` trusts in a file, and the limits it reads within.

A file is data written by someone else. Loading it may only:

- look names up, by their one full name, in :func:`allowed_names` (our
  estimators and default encoders, Keras' optimizers, losses, metrics,
  activations, initializers, regularizers, constraints and schedules, and
  the callbacks that touch neither files nor the network) or in the user's
  ``custom_objects``; it never imports a module because a file names it and
  never follows a dotted chain of attributes;
- hand Keras configs to Keras' own deserialisation in safe mode, after
  :func:`check_keras_config` made sure Keras will import nothing either;
- read within the limits below.

Everything that fails is a :class:`LoadError`, which ``load`` turns into a
``ValueError`` worded by kind: not trusted, too large, or damaged.
"""

from __future__ import annotations

import functools
import inspect
import re
import sys
import types
from collections.abc import Callable, Iterator
from typing import Any

import keras
from scikeras.utils.transformers import RegressorTargetEncoder
from sklearn.preprocessing import FunctionTransformer

from skkeras_proba._classifier import KerasClassifier
from skkeras_proba._encoders import ClassifierTargetEncoder
from skkeras_proba._regressor import KerasRegressor

MAX_MANIFEST_BYTES = 16 * 2**20
"""``manifest.json`` (and a ``.keras`` member's ``config.json``), inflated."""
MAX_MODEL_BYTES = 2 * 2**30
"""One ``keras/<n>.keras`` member, inflated; also all the files inside it."""
MAX_DEPTH = 64
"""Nesting of ``manifest.json``: a fitted estimator needs about 15 levels."""
MAX_ARRAY_BYTES = 256 * 2**20
"""One array, as NumPy would allocate it."""
MAX_ITEMSIZE = 2**16
"""Bytes per array element: a string label of 16,384 characters."""
MAX_NDIM = 32
"""Dimensions of one array (NumPy's own limit is 64)."""


class LoadError(Exception):
    """Why a file is not loaded; ``message(path)`` is what the user reads."""

    def __init__(self, reason: str, fix: str | None = None) -> None:
        super().__init__(reason)
        self.reason, self.fix = reason, fix

    def message(self, path: Any) -> str:
        return f"{path} {self.reason}. {self.fix}"


class Untrusted(LoadError):
    """The file names code that load does not run unless the user hands it over."""

    def message(self, path: Any) -> str:
        fix = self.fix or (
            "If you wrote the file, pass that object yourself: "
            "load(path, custom_objects={'name': obj}); "
            "skkeras_proba.get_untrusted_types(path) lists every such name"
        )
        return (
            f"{path} is not trusted: it {self.reason}. load runs no code that a "
            f"file names unless you hand it over. {fix}."
        )


class TooLarge(LoadError):
    """The file asks for more memory or nesting than load reads."""

    def message(self, path: Any) -> str:
        return (
            f"{path} is refused: {self.reason}. Save the estimator again with "
            "skkeras_proba.save, which stays within these limits."
        )


class Damaged(LoadError):
    """The file is broken, or contradicts itself or its model."""

    def message(self, path: Any) -> str:
        return (
            f"{path} is damaged (truncated, corrupted or not a file written by "
            f"skkeras_proba.save): {self.reason}. Save the estimator again with "
            "skkeras_proba.save."
        )


ESTIMATORS: dict[str, type] = {
    "skkeras_proba.KerasClassifier": KerasClassifier,
    "skkeras_proba.KerasRegressor": KerasRegressor,
    # The names format version 1 was first written with.
    "skkeras_proba._classifier.KerasClassifier": KerasClassifier,
    "skkeras_proba._regressor.KerasRegressor": KerasRegressor,
}
"""Estimator classes a file may name; subclasses come from ``custom_objects``."""

ENCODERS: dict[str, type] = {
    "skkeras_proba._encoders.ClassifierTargetEncoder": ClassifierTargetEncoder,
    "scikeras.utils.transformers.RegressorTargetEncoder": RegressorTargetEncoder,
    "sklearn.preprocessing.FunctionTransformer": FunctionTransformer,
    "sklearn.preprocessing._function_transformer.FunctionTransformer": (
        FunctionTransformer
    ),
}
"""The default encoders: rebuilt from their fitted data, field by field."""

# Public Keras namespaces whose classes (of the given base) and functions
# compute and nothing else: no file, network or process-wide effect.
_KERAS_NAMESPACES = {
    "keras.activations": None,
    "keras.constraints": keras.constraints.Constraint,
    "keras.initializers": keras.initializers.Initializer,
    "keras.losses": keras.losses.Loss,
    "keras.metrics": keras.metrics.Metric,
    "keras.optimizers": keras.optimizers.Optimizer,
    "keras.optimizers.schedules": keras.optimizers.schedules.LearningRateSchedule,
    "keras.regularizers": keras.regularizers.Regularizer,
}
_NOT_MODELLING = frozenset({"get", "serialize", "deserialize"})
# ModelCheckpoint, BackupAndRestore, CSVLogger, TensorBoard, OrbaxCheckpoint
# write or read files the file would choose, RemoteMonitor posts to a URL:
# each needs custom_objects.
_SAFE_CALLBACKS = (
    "Callback",
    "EarlyStopping",
    "History",
    "LambdaCallback",
    "LearningRateScheduler",
    "ProgbarLogger",
    "ReduceLROnPlateau",
    "SwapEMAWeights",
    "TerminateOnNaN",
)


@functools.cache
def _keras_namespace(namespace: str) -> dict[str, Any]:
    """The classes (of the namespace's base) and functions of one namespace."""
    # Our own namespace names, reached from the keras package itself: older
    # Keras versions do not list these namespaces in sys.modules.
    module = functools.reduce(getattr, namespace.split(".")[1:], keras)
    base = _KERAS_NAMESPACES[namespace]
    found = {}
    for attribute in dir(module):
        obj = getattr(module, attribute)
        is_class = inspect.isclass(obj) and base is not None
        if (is_class and issubclass(obj, base)) or (
            inspect.isfunction(obj) and attribute not in _NOT_MODELLING
        ):
            found[f"{namespace}.{attribute}"] = obj
    return found


@functools.cache
def keras_names() -> dict[str, Any]:
    """Keras classes and functions a file may name, by public and module name."""
    found: dict[str, Any] = {}
    for namespace in _KERAS_NAMESPACES:
        found.update(_keras_namespace(namespace))
    for attribute in _SAFE_CALLBACKS:
        found[f"keras.callbacks.{attribute}"] = getattr(keras.callbacks, attribute)
    # Format version 1 named them by module: keras.src.losses.losses.Huber.
    for obj in list(found.values()):
        found.setdefault(f"{obj.__module__}.{obj.__qualname__}", obj)
    return found


@functools.cache
def _loss_functions() -> frozenset[int]:
    """Ids of the functions of keras.losses and keras.metrics."""
    namespaces = ("keras.losses", "keras.metrics")
    return frozenset(id(f) for n in namespaces for f in _keras_namespace(n).values())


def allowed_names() -> dict[str, Any]:
    """Every name a file may use without ``custom_objects``."""
    return {**keras_names(), **ENCODERS, **ESTIMATORS}


@functools.cache
def _public_names() -> dict[int, str]:
    public = {}
    for name, obj in allowed_names().items():
        if not name.startswith(f"{obj.__module__}."):  # a public alias
            public.setdefault(id(obj), name)
    return public


def public_name(obj: Any) -> str | None:
    """The public name ``save`` writes for an allowed object, if it has one."""
    return _public_names().get(id(obj))


def json_nodes(data: Any) -> Iterator[tuple[Any, int]]:
    """Every list and dict in parsed JSON with its depth, without recursion."""
    stack = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        yield node, depth
        children = node.values() if isinstance(node, dict) else node
        stack.extend(
            (child, depth + 1) for child in children if isinstance(child, list | dict)
        )


def check_depth(data: Any, what: str) -> None:
    """Raise if parsed JSON nests deeper than :data:`MAX_DEPTH`."""
    if not isinstance(data, list | dict):
        return
    for _, depth in json_nodes(data):
        if depth > MAX_DEPTH:
            raise TooLarge(f"its {what} nests deeper than {MAX_DEPTH} levels")


# Keras configs of data, not of classes or functions; arrays are checked.
_KERAS_DATA = frozenset({"__keras_tensor__", "__bytes__", "__ellipsis__", "__slice__"})
_KERAS_ARRAYS = frozenset({"__numpy__", "__tensor__"})
_KERAS_DTYPE = re.compile(r"bool|u?int(8|16|32|64)|b?float(16|32|64)")
_KERAS_CODE = frozenset({"__lambda__", "__typespec__"})


def _keras_nodes(config: Any) -> Iterator[dict]:
    """Each node of a Keras config that Keras rebuilds an object from."""
    for node, _ in json_nodes(config):
        if isinstance(node, dict) and "class_name" in node:
            class_name = node["class_name"]
            if not (isinstance(class_name, str) and class_name in _KERAS_DATA):
                yield node


def _keras_name(node: dict) -> str:
    """``module.name`` of the class or function a Keras config node names."""
    function = node["class_name"] == "function"
    return (
        f"{node.get('module')}.{node.get('config') if function else node['class_name']}"
    )


def _resolved_by_keras(
    node: dict, custom_objects: dict[str, Any], strict: bool
) -> bool:
    """Whether Keras finds the node's class or function, importing nothing.

    ``strict``: among :func:`keras_names` only, as for configs in the manifest,
    whose objects fit may call with arguments from the file. Otherwise any
    class Keras exports from a module already imported, as Keras' safe mode
    allows in a model. Registered and custom objects are the user's.
    """
    module = node.get("module")
    for key in (node.get("registered_name"), node["class_name"]):
        if isinstance(key, str) and keras.saving.get_registered_object(
            key, custom_objects
        ):
            return True
    if module == "builtins" and node["class_name"] == "function":
        return True  # Keras looks among its own losses, activations, ...
    if strict:
        return _keras_name(node) in keras_names()
    keras_module = isinstance(module, str) and module.split(".")[0] == "keras"
    return keras_module and _already_imported(module)


def _already_imported(module: str) -> bool:
    """Whether naming ``module`` makes Keras import nothing new.

    In ``sys.modules``, or a namespace already bound inside the keras package
    (older Keras versions bind ``keras.optimizers`` and the like without
    listing them in ``sys.modules``). Looked up with ``vars``, so that no
    module's ``__getattr__`` hook runs.
    """
    if module in sys.modules:
        return True
    root, *parts = module.split(".")
    found: Any = sys.modules.get(root) if root == "keras" else None
    for part in parts:
        found = vars(found).get(part) if isinstance(found, types.ModuleType) else None
    return isinstance(found, types.ModuleType)


def check_keras_config(
    config: Any, where: str, custom_objects: dict[str, Any], strict: bool
) -> None:
    """Raise unless Keras can rebuild ``config`` without importing anything.

    Keras' safe mode refuses lambdas and its non-modelling functions, but
    imports any ``keras.*`` module a config names (its own test modules
    among them): here every module must already be imported, and, ``strict``,
    every class and function among :func:`keras_names`. Arrays may only be
    of numbers.
    """
    for node in _keras_nodes(config):
        class_name, module = node["class_name"], node.get("module")
        if class_name in _KERAS_CODE:
            raise Untrusted(
                f"holds Python code in {where} ({class_name}, as a Lambda layer does)",
                "Safe mode never runs it: pass safe_mode=False only for a file you "
                "trust as you trust code you run. (Custom layers, losses or "
                "activations are different: pass them as custom_objects={'MyLayer': "
                "MyLayer}.)",
            )
        if class_name in _KERAS_ARRAYS:
            dtype = (node.get("config") or {}).get("dtype")
            if not (isinstance(dtype, str) and _KERAS_DTYPE.fullmatch(dtype)):
                raise Damaged(f"{where} holds an array of dtype {dtype!r}")
            continue
        if module is not None and not isinstance(module, str):
            raise Damaged(f"{where} names module {module!r}")
        if module not in (None, "builtins") and not _already_imported(module):
            raise Untrusted(
                f"names module {module!r} (in {where}), which is not imported",
                f"Import {module} yourself before loading, if you trust it",
            )
        if strict and not _resolved_by_keras(node, custom_objects, strict):
            raise Untrusted(f"names {_keras_name(node)!r} in {where}")


def unresolved_keras_names(config: Any, strict: bool) -> set[str]:
    """Names in a Keras config that load resolves only through custom_objects."""
    return {
        _keras_name(node)
        for node in _keras_nodes(config)
        if node["class_name"] not in _KERAS_CODE | _KERAS_ARRAYS
        and not _resolved_by_keras(node, {}, strict)
    }


def shadows_class_attribute(cls: type, name: str) -> bool:
    """Whether setting ``name`` on an instance would hide a method or property."""
    try:
        found = inspect.getattr_static(cls, name)
    except AttributeError:
        return False
    return callable(found) or hasattr(found, "__get__")


def constructor_parameters(cls: type) -> set[str]:
    """Names ``cls.__init__`` takes besides ``**kwargs`` (routed parameters)."""
    variadic = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    parameters = inspect.signature(cls.__init__).parameters.values()
    return {p.name for p in parameters if p.kind not in variadic} - {"self"}


def walk_values(value: Any) -> Iterator[Any]:
    """``value`` and, inside lists, tuples and dicts, every element and value."""
    yield value
    if isinstance(value, list | tuple):
        for item in value:
            yield from walk_values(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from walk_values(item)


UserCode = Callable[[Any], bool]
"""Whether an object is the user's: from ``custom_objects``, or imported by
``safe_mode=False``. The user's code fits any slot."""


def check_callables(
    value: Any, where: str, accepts: Callable[[Any], bool], user_code: UserCode
) -> None:
    """Raise if a class or function in ``value`` is not for the slot ``where``.

    ``accepts`` says which Keras classes and functions the slot takes. (Keras
    objects rebuilt from configs are instances, already checked for type.)
    """
    for item in walk_values(value):
        code = inspect.isclass(item) or inspect.isroutine(item)
        if code and not accepts(item) and not user_code(item):
            name = getattr(item, "__qualname__", type(item).__name__)
            raise Untrusted(
                f"names {getattr(item, '__module__', '')}.{name} as {where}, "
                "which does not take it",
                "save never writes it there, so the file was edited. Pass it in "
                "custom_objects only if it is your own object, meant for that place",
            )


def _is_optimizer(obj: Any) -> bool:
    return isinstance(obj, keras.optimizers.Optimizer) or _subclass(
        obj, keras.optimizers.Optimizer
    )


def _is_loss(obj: Any) -> bool:
    keras_function = inspect.isfunction(obj) and id(obj) in _loss_functions()
    return keras_function or _subclass(obj, keras.losses.Loss)


def _is_metric(obj: Any) -> bool:
    return _is_loss(obj) or _subclass(obj, keras.metrics.Metric)


def _is_callback(obj: Any) -> bool:
    allowed = (getattr(keras.callbacks, name) for name in _SAFE_CALLBACKS)
    return any(obj is callback for callback in allowed)


def _subclass(obj: Any, base: type) -> bool:
    return inspect.isclass(obj) and issubclass(obj, base)


# Parameters that hold Keras objects or code: what each takes, and the Keras
# classes and functions allowed in it. A class or function given there is
# called by fit with arguments the file chooses (routed parameters).
_CODE_PARAMETERS: dict[str, tuple[tuple, Callable[[Any], bool]]] = {
    "optimizer": ((str, keras.optimizers.Optimizer), _is_optimizer),
    "loss": ((type(None), str, keras.losses.Loss, list, tuple, dict), _is_loss),
    "metrics": ((type(None), list, tuple, dict), _is_metric),
    "callbacks": ((type(None), list, tuple, dict), _is_callback),
    "fit__callbacks": ((type(None), list, tuple, dict), _is_callback),
    "predict__callbacks": ((type(None), list, tuple, dict), _is_callback),
}


def check_code_parameter(name: str, value: Any, user_code: UserCode) -> None:
    """Raise if a parameter holding Keras objects holds anything else."""
    if name not in _CODE_PARAMETERS:
        return
    kinds, accepts = _CODE_PARAMETERS[name]
    code = inspect.isclass(value) or inspect.isroutine(value)
    if not (isinstance(value, kinds) or code or user_code(value)):
        raise Damaged(f"parameter {name!r} is a {type(value).__name__}")
    check_callables(value, f"parameter {name!r}", accepts, user_code)


_ROUTED_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


def check_extra_parameter(cls: type, name: str) -> None:
    """Raise unless ``name`` can be a routed parameter (``model__hidden``).

    scikeras sets every extra constructor argument as an attribute: one named
    like a method, a property or a fitted attribute would replace it.
    """
    if (
        not _ROUTED_NAME.fullmatch(name)
        or name.endswith("_")
        or shadows_class_attribute(cls, name)
    ):
        raise Damaged(f"it names a parameter {name!r}, which no estimator takes")


def shown(value: Any) -> str:
    """A value from the file, shortened for a message."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def clipped(error: BaseException, limit: int = 600) -> str:
    """An error's message, its middle cut out when long (Keras' quote configs)."""
    text = str(error)
    half = limit // 2
    return text if len(text) <= limit else f"{text[:half]} [...] {text[-half:]}"
