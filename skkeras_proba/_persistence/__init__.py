"""Save a fitted estimator to one file and load it back, without pickle.

The file is a zip archive:

``manifest.json``
    ``{"format": "skkeras_proba", "format_version": 2, "library_version": ...,
    "estimator": ...}``: the estimator's class, its constructor parameters
    (``get_params(deep=False)``) and its fitted attributes, as plain JSON data,
    with ``_model_seed_states``, the states of ``model_``'s seed generators
    that Keras' format leaves out (format version 2; version 1 had none).
``keras/<n>.keras``
    Every Keras model the estimator holds (``model_``; ``model=`` or another
    parameter when it is a model instance), in Keras' own ``.keras`` format.

Values that are not JSON (arrays, tuples, dicts with non-string keys, dtypes,
output heads, fitted encoders, Keras objects, functions) are written as small
tagged objects ``{"type": ..., ...}``; a value of any other kind is refused
when saving, with a ``TypeError`` naming it.

Loading treats the file as data from someone else (see
``_checks`` for what it trusts, ``_state`` and ``_consistency`` for how
the state is checked): names are looked up, never imported; Keras loads the
model in its safe mode; the estimator is returned whole, checked against its
model, or not at all.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sklearn.utils.validation import check_is_fitted

from skkeras_proba._base import BaseWrapper
from skkeras_proba._classifier import KerasClassifier
from skkeras_proba._persistence._archive import (
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    Archive,
    library_version,
)
from skkeras_proba._persistence._checks import (
    MAX_DEPTH,
    MAX_MANIFEST_BYTES,
    Damaged,
    LoadError,
    TooLarge,
    allowed_names,
    check_depth,
    clipped,
    json_nodes,
    unresolved_keras_names,
)
from skkeras_proba._persistence._reader import Reader
from skkeras_proba._persistence._writer import Writer
from skkeras_proba._regressor import KerasRegressor

__all__ = ["FORMAT", "FORMAT_VERSION", "get_untrusted_types", "load", "save"]


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
    if not isinstance(estimator, BaseWrapper):
        raise TypeError(
            f"save takes a fitted KerasClassifier or KerasRegressor, got a "
            f"{type(estimator).__name__}. To save a Pipeline, save its Keras step "
            "with save() and the other steps beside it (see the persistence guide)."
        )
    check_is_fitted(estimator)
    path = Path(path)
    writer = Writer()
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "library_version": library_version(),
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
            archive.writestr(MANIFEST, text)
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
    reader = Reader(dict(custom_objects or {}), safe_mode)
    return _reading(path, reader.load)


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


def _reading(path: Path, read: Callable[[Archive], Any]) -> Any:
    """``read(archive)`` on the file at ``path``, every failure a ValueError."""
    with path.open("rb") as file:  # a missing file is an OSError, as usual
        try:
            with zipfile.ZipFile(file) as archive:
                return read(Archive(archive))
        except LoadError as error:
            raise ValueError(error.message(path)) from None
        except Exception as error:  # a file is data: whatever breaks is damage
            damage = Damaged(f"{type(error).__name__}: {clipped(error)}")
            raise ValueError(damage.message(path)) from error


def _untrusted_names(archive: Archive) -> list[str]:
    manifest = archive.manifest()
    allowed = allowed_names()
    names = set()
    for node, _ in json_nodes(manifest):
        if isinstance(node, dict) and node.get("type") == "import":
            name = f"{node.get('module')}.{node.get('name')}"
            names |= set() if name in allowed else {name}
        elif isinstance(node, dict) and node.get("type") == "keras_object":
            names |= unresolved_keras_names(node.get("config"), strict=True)
    with tempfile.TemporaryDirectory() as directory:
        for member in sorted(archive.model_members):
            _, config = archive.extract_model(member, Path(directory))
            names |= unresolved_keras_names(config, strict=False)
    return sorted(names)
