"""Which Keras models run the same computation: a key per architecture.

A function compiled for one model -- its train step, its forward pass -- can
serve every model of the same architecture when the weights come in as
arguments: a search that builds a new model per fold then compiles once per
architecture. :func:`architecture_key` is equal for two models exactly when
such a function may serve both; the fit engine (``_fit``) and the forward pass
(``_forward``) key their compiled functions with it.

Only models of Keras' own classes made entirely of Keras' own parts are
keyed: a model subclass may compute differently (its own ``call`` or
``train_step``), a custom layer, loss or metric may behave differently with
the same configuration, so such models get functions of their own.
"""

from __future__ import annotations

import json
from typing import Any

import keras

_TENSOR_REFERENCE = "__keras_tensor__"

_RUNS_OUTSIDE_CODE = frozenset(
    {"Lambda", "TorchModuleWrapper", "JaxLayer", "FlaxLayer", "TFSMLayer"}
)


def architecture_key(model: keras.Model, training: bool = True) -> str | None:
    """Equal for models with the same train step and forward pass; None: no key.

    The model's and its compile configuration with generated names (``dense_3``,
    ``adam_1``) replaced by their order of appearance, and its steps per
    execution. None for models of a class or with parts from outside Keras
    (a subclass may override ``train_step``, which a trainer, a copy of
    Keras' class, would not run), and for models compiled to run eagerly
    (nothing is traced).

    Parameters
    ----------
    model : keras.Model
        The model.
    training : bool, default=True
        False for a key of the forward pass alone: the compile configuration
        is left out (it does not change inference, and reading the
        optimizer's configuration reads its variables, which on JAX warns).
    """
    if not _from_keras(type(model).__module__):
        return None
    try:
        config = {"model": model.get_config()}
        if training:
            config["compile"] = model.get_compile_config()
            config["steps_per_execution"] = model.steps_per_execution
    except (NotImplementedError, TypeError, ValueError, AttributeError):
        return None
    if model.run_eagerly or not _only_keras_parts(config):
        return None
    names: dict[str, str] = {}
    _collect_names(config, names)
    try:
        return json.dumps(_renamed(config, names), sort_keys=True)
    except TypeError:  # something not serialisable to JSON: not keyed
        return None


def _only_keras_parts(config: Any) -> bool:
    """Whether every serialised object in a configuration comes from Keras.

    Keras layers that run code from elsewhere (a ``Lambda``'s function, whose
    closure its configuration does not hold; wrapped framework modules) count
    as from elsewhere. The references to tensors that wire a functional
    model's layers (class ``__keras_tensor__``, no module) are Keras' own.
    """
    if isinstance(config, dict):
        module = config.get("module")
        name = config.get("class_name")
        if (
            "class_name" in config
            and name != _TENSOR_REFERENCE
            and (not _from_keras(module) or name in _RUNS_OUTSIDE_CODE)
        ):
            return False
        return all(_only_keras_parts(value) for value in config.values())
    if isinstance(config, list | tuple):
        return all(_only_keras_parts(value) for value in config)
    return not callable(config)


def _from_keras(module: Any) -> bool:
    return isinstance(module, str) and module.split(".")[0] == "keras"


def _collect_names(config: Any, names: dict[str, str]) -> None:
    """Names of layers, models and optimizers, in order of appearance."""
    if isinstance(config, dict):
        if str(config.get("class_name", "")).endswith("DTypePolicy"):
            return  # its "name" is a dtype, which changes the computation
        name = config.get("name")
        if isinstance(name, str):
            names.setdefault(name, f"name_{len(names)}")
        for value in config.values():
            _collect_names(value, names)
    elif isinstance(config, list | tuple):
        for value in config:
            _collect_names(value, names)


def _renamed(config: Any, names: dict[str, str]) -> Any:
    if isinstance(config, dict):
        return {key: _renamed(value, names) for key, value in config.items()}
    if isinstance(config, list | tuple):
        return [_renamed(value, names) for value in config]
    if isinstance(config, str):
        return names.get(config, config)
    return config
