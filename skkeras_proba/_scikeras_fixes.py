"""Every place we override scikeras 0.13, which is no longer maintained.

Each override names the test in ``tests/test_scikeras_fixes.py`` that pins it.
Everything else scikeras does (parameter routing with ``model__``/``fit__``/
``optimizer__``/..., ``meta`` and ``compile_kwargs`` for build functions,
compiling, callbacks, ``history_``) is inherited unchanged.
"""

from __future__ import annotations

import contextlib
import inspect
import reprlib
from collections import defaultdict
from numbers import Real
from typing import Any

import keras
import numpy as np
import scipy.sparse as sp
from scikeras.utils import loss_name, metric_name
from scikeras.wrappers import BaseWrapper
from sklearn.utils import compute_sample_weight
from sklearn.utils.validation import (
    check_array,
    check_consistent_length,
    check_is_fitted,
    validate_data,
)

from skkeras_proba._compat import check_sample_weight, safe_indexing
from skkeras_proba._routing import routed_params
from skkeras_proba._validation import needs_validation


class ScikerasFixes(BaseWrapper):
    """scikeras' ``BaseWrapper`` with its known defects fixed."""

    _routing_prefixes = {*BaseWrapper._routing_prefixes, "score", "callbacks"}
    """scikeras routes ``score__*`` and ``callbacks__*`` parameters but leaves
    them out here, so ``set_params`` rejects one the estimator was not built
    with (a search over ``score__multioutput``, say). Pinned by
    ``test_score_parameters_are_tunable_in_a_search``."""

    def __sklearn_tags__(self):
        """Tags scikit-learn >= 1.6 reads; scikeras only defines ``_more_tags``.

        A subclass's scikeras-style ``_tags`` dict (scikit-learn's tags before
        1.6, which scikit-learn no longer reads) is applied on top. Pinned by
        ``test_is_classifier_so_cross_validation_stratifies`` and
        ``test_subclass_tags_dict_is_applied``.
        """
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.input_tags.allow_nan = False
        tags.target_tags.multi_output = True
        _apply_legacy_tags(tags, _subclass_legacy_tags(type(self)))
        return tags

    def _validate_data(
        self, X: Any = None, y: Any = None, reset: bool = False, y_numeric: bool = False
    ) -> tuple[Any, Any]:
        """Validate with scikit-learn's ``validate_data``.

        scikeras validates by hand: ``feature_names_in_`` is never set and a wrong
        feature count gives a non-standard message. Images and other N-d inputs
        must also match the fitted per-sample shape. Object X becomes Keras'
        float type, as in scikeras (scikit-learn would make it float64). A
        prediction's X that ``validate_data`` would return unchanged skips it
        (see ``_validation.py``). Sparse X becomes CSR, whose rows batches are
        sliced from; Keras' TensorFlow input pipeline also needs the entries in
        row order, which CSC and COO do not keep. Pinned by
        ``test_validate_data_sets_feature_names_and_standard_messages``,
        ``test_object_X_reaches_keras_in_its_float_type`` and
        ``test_sparse_fit_and_partial_fit_equal_the_dense_ones``.
        """
        kwargs = {
            "reset": reset,
            "accept_sparse": "csr",
            "allow_nd": True,
            "dtype": _input_dtype(X),
        }
        if y is not None:
            X, y = validate_data(
                self, X, y, multi_output=True, y_numeric=y_numeric, **kwargs
            )
        elif reset or needs_validation(self, X):
            X = validate_data(self, X, **kwargs)
        if reset:
            self.X_shape_, self.X_dtype_ = X.shape, X.dtype
            if y is not None:  # read by build functions from meta, as in scikeras
                self.y_dtype_, self.y_ndim_ = y.dtype, y.ndim
        elif X.shape[1:] != self.X_shape_[1:]:
            raise ValueError(
                f"X has samples of shape {X.shape[1:]}, but {type(self).__name__} "
                f"was fitted on samples of shape {tuple(self.X_shape_[1:])}. "
                "Reshape X to the shape the model was trained on."
            )
        return X, y

    def _build_keras_model(self) -> keras.Model:
        """Build a fresh model for every fit.

        scikeras trains a model instance passed as ``model=`` in place, so the
        user's object changes and a re-fit continues from trained weights. We
        clone it (fresh weights, same compile settings); seeding is done by the
        caller without scikeras' process-wide side effects (see
        ``_fit/_seeding.py``).
        Pinned by ``test_model_instance_is_cloned_per_fit`` and
        ``test_cloned_model_instance_keeps_its_sequential_subclass``.
        """
        if not isinstance(self.model, keras.Model):
            return super()._build_keras_model()
        return clone_compiled(self.model)

    def _check_model_compatibility(self, y: Any) -> None:
        """Raise if ``loss=`` names another loss than the model was compiled with.

        scikeras runs this check on every fit; its other half, comparing
        ``n_outputs_expected_`` with the model's outputs, is left out: our
        ``_bind_model`` checks each output head against y, with messages naming
        the head (a 0/1 y is multi-label or one column per head depending on
        the model). Pinned by ``test_loss_given_and_compiled_differently_raises``.
        """
        given, compiled = self.loss, getattr(self.model_, "loss", None)
        signature = inspect.signature(type(self).__init__).parameters
        default = signature["loss"].default if "loss" in signature else None
        comparable = (str, keras.losses.Loss, type)
        if not all(isinstance(loss, comparable) for loss in (given, compiled)):
            return  # lists, dicts and plain functions are not compared
        given_name = _loss_name(given)
        if given_name is not None and given_name not in (
            _loss_name(compiled),
            _loss_name(default),  # a subclass's default loss is not "given"
        ):
            raise ValueError(
                f"loss={given!r} but model compiled with {compiled!r}: the build "
                "function compiles its own loss, so the data may not match the "
                "loss function. Pass the same loss to both, or drop loss=."
            )

    def _fit_sample_weight(
        self, X: Any, y: np.ndarray, sample_weight: Any
    ) -> np.ndarray | None:
        """Sample weights with ``class_weight`` folded in, never in place.

        scikeras multiplies the caller's ``sample_weight`` array in place. Only
        an estimator that keeps ``class_weight`` from Keras (the classifier)
        folds it in.
        Pinned by ``test_class_weight_leaves_callers_sample_weight_untouched``.
        """
        class_weight = getattr(self, "class_weight", None)
        if "class_weight" in self._fit_kwargs:
            class_weight = None  # Keras applies it, as in scikeras
        if sample_weight is None and class_weight is None:
            return None
        check_consistent_length(X, y)  # X is not validated yet
        weight = np.array(
            check_sample_weight(sample_weight, X, dtype=np.float32), copy=True
        )
        if class_weight is not None:
            _check_class_weight(class_weight)
            weight = weight * compute_sample_weight(class_weight, y)
        _check_some_weight(weight, "train on")
        return weight

    def _score(self, X: Any, y: Any, sample_weight: Any) -> Any:
        """scikeras' ``score``: ``scorer`` with ``score__*`` parameters.

        y is validated and rows of zero weight are left out before predicting,
        as scikeras does, so a scorer sees arrays and only weighted rows; but
        scikeras indexes X with a boolean mask, which fails on a list, a
        DataFrame or a COO matrix, and calls all-zero weights "nothing to
        train on". Pinned by ``test_rows_of_zero_weight_never_reach_the_scorer``.
        """
        check_is_fitted(self)
        y = check_array(y, ensure_2d=False, dtype=None, input_name="y")
        if sample_weight is not None:
            sample_weight = check_sample_weight(sample_weight, X)
            _check_some_weight(sample_weight, "score")
            X, y, sample_weight = weighted_rows(X, y, sample_weight)
        return self.scorer(
            y,
            self.predict(X),
            sample_weight=sample_weight,
            **routed_params(self, "score"),
        )

    def _scikeras_seeding_off(self) -> None:
        """Leave seeding to the fit engine (``_fit.FitRun``), not to scikeras.

        scikeras 0.13 seeds inside ``_build_keras_model``/``_fit_keras_model``
        when ``_random_state`` is set: it leaves TensorFlow op determinism
        switched on after a seeded fit, so the next unseeded fit fails with
        "Random ops require a seed", and its seeding is process-wide, so fits
        in other threads change each other's results. Pinned by
        ``test_seeded_fit_leaves_global_state_unchanged`` and
        ``test_concurrency.py::test_seeded_fits_in_threads_equal_serial_fits``.
        """
        self._random_state = None

    def _record_history(
        self, history: keras.callbacks.History, warm_start: bool, initial_epoch: int
    ) -> None:
        """``history_`` from a fit's Keras ``History``, as scikeras records it.

        For fits that do not go through scikeras' ``_fit_keras_model`` (compiled
        epochs): a new ``history_`` unless the fit continues one, metric names
        as scikeras writes them. Pinned by
        ``test_compiled_fit.py::test_history_matches_keras_fit_per_epoch``.
        """
        if not warm_start or not hasattr(self, "history_") or initial_epoch == 0:
            self.history_ = defaultdict(list)
        for key, values in history.history.items():
            if not (key == "loss" or key.startswith("val_")):
                with contextlib.suppress(ValueError):  # a custom metric
                    key = metric_name(key)
            self.history_[key] += values


_LEGACY_TAG_FIELDS = {
    "allow_nan": ("input_tags", "allow_nan"),
    "pairwise": ("input_tags", "pairwise"),
    "requires_positive_X": ("input_tags", "positive_only"),
    "multioutput": ("target_tags", "multi_output"),
    "requires_positive_y": ("target_tags", "positive_only"),
    "requires_y": ("target_tags", "required"),
    "array_api_support": (None, "array_api_support"),
    "no_validation": (None, "no_validation"),
    "non_deterministic": (None, "non_deterministic"),
    "requires_fit": (None, "requires_fit"),
}
"""Old tag -> (group, field) of scikit-learn's ``Tags`` with the same meaning."""

_LEGACY_INPUT_TYPES = {
    "1darray": "one_d_array",
    "2darray": "two_d_array",
    "3darray": "three_d_array",
    "sparse": "sparse",
    "categorical": "categorical",
    "string": "string",
    "dict": "dict",
}


def _subclass_legacy_tags(cls: type) -> dict[str, Any]:
    """The ``_tags`` of the classes in ``cls``'s MRO defined outside scikeras
    and this package, merged base first."""
    merged: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        if not klass.__module__.startswith(("scikeras.", "skkeras_proba.")):
            merged.update(vars(klass).get("_tags", {}))
    return merged


def _apply_legacy_tags(tags: Any, legacy: dict[str, Any]) -> None:
    """Set scikit-learn's ``tags`` from a dict of its tags before 1.6.

    Tags without a counterpart (``_xfail_checks``, ...) are left out.
    """
    for name, value in legacy.items():
        if name in _LEGACY_TAG_FIELDS:
            group, field = _LEGACY_TAG_FIELDS[name]
            setattr(tags if group is None else getattr(tags, group), field, value)
        elif name == "X_types":
            for old, field in _LEGACY_INPUT_TYPES.items():
                setattr(tags.input_tags, field, old in value)
        elif name == "poor_score":
            for group in (tags.classifier_tags, tags.regressor_tags):
                if group is not None:
                    group.poor_score = value
        elif name == "multilabel" and tags.classifier_tags is not None:
            tags.classifier_tags.multi_label = value
        elif name == "binary_only" and tags.classifier_tags is not None:
            tags.classifier_tags.multi_class = not value
        elif name == "stateless":
            tags.requires_fit = not value
        elif name == "preserves_dtype" and tags.transformer_tags is not None:
            tags.transformer_tags.preserves_dtype = value


def clone_compiled(model: keras.Model) -> keras.Model:
    """A copy of ``model`` with fresh weights and the same compile settings.

    Of the same class: ``clone_model`` rebuilds a subclass of ``Sequential``
    as a plain ``Sequential``, which would not run the subclass's own code (a
    ``train_step`` of its own, say), so such a model is rebuilt by its class
    from its configuration.
    """
    try:
        clone = keras.models.clone_model(model)
        if type(clone) is not type(model):
            clone = type(model).from_config(model.get_config())
    except (TypeError, ValueError, NotImplementedError) as error:
        raise TypeError(
            f"Cannot clone the {type(model).__name__} passed as model=: {error} "
            "Pass a function that builds and returns the model instead "
            "(model=build_fn), so that every fit starts from fresh weights."
        ) from error
    if model.compiled and not clone.compiled:
        clone.compile_from_config(model.get_compile_config())
    return clone


def _loss_name(loss: Any) -> str | None:
    """scikeras' canonical name of a loss, None for what it cannot name."""
    try:
        return loss_name(loss)
    except (TypeError, ValueError):
        return None


def _input_dtype(X: Any) -> str:
    """The dtype ``validate_data`` gives X: object input becomes Keras' float."""
    dtype = getattr(X, "dtype", None)
    if dtype is None and isinstance(X, list | tuple):
        dtype = np.asarray(X).dtype
    if dtype is not None and np.dtype(dtype).kind in "OUS":
        return keras.backend.floatx()
    return "numeric"


def _check_class_weight(class_weight: Any) -> None:
    """Raise unless every class weight given is a finite number.

    ``compute_sample_weight`` takes any value: a NaN or infinite weight makes
    the loss NaN, and the model then predicts NaN probabilities.
    """
    if not isinstance(class_weight, list):
        class_weight = [class_weight] if isinstance(class_weight, dict) else []
    for weights in class_weight:
        if not isinstance(weights, dict):
            raise ValueError(
                "class_weight as a list holds one dict of class weights per "
                f"output, but an item is {reprlib.repr(weights)}."
            )
        bad = {
            label: weight
            for label, weight in weights.items()
            if isinstance(weight, bool)
            or not isinstance(weight, Real)
            or not np.isfinite(weight)
        }
        if bad:
            raise ValueError(
                f"class_weight must give each class a finite number, but got "
                f"{reprlib.repr(bad)}. Pass weights such as "
                "class_weight={0: 1.0, 1: 2.0}, or class_weight='balanced'."
            )


def _check_some_weight(weight: np.ndarray, nothing_to: str) -> None:
    """Raise unless some sample has a positive weight (fit and score alike)."""
    if not np.any(weight):
        raise ValueError(
            f"All sample weights are zero, so there is nothing to {nothing_to}. "
            "Give at least one sample a positive weight."
        )


def weighted_rows(X: Any, y: Any, weight: np.ndarray) -> tuple[Any, Any, np.ndarray]:
    """The rows of X, y and ``weight`` whose weight is not zero.

    scikit-learn's semantics: a sample of zero weight is absent. X may be any
    array-like (it is not validated yet); sparse formats that cannot be indexed
    by row (COO, DIA, ...) become CSR, which validation would make of them.
    """
    kept = np.flatnonzero(weight)
    if kept.size == weight.size:
        return X, y, weight
    if sp.issparse(X) and X.format not in ("csr", "csc"):
        X = X.tocsr()
    y = None if y is None else safe_indexing(y, kept)
    return safe_indexing(X, kept), y, weight[kept]
