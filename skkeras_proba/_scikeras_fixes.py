"""Every place we override scikeras 0.13, which is no longer maintained.

Each override names the test in ``tests/test_scikeras_fixes.py`` that pins it.
Everything else scikeras does (parameter routing with ``model__``/``fit__``/
``optimizer__``/..., ``meta`` and ``compile_kwargs`` for build functions,
compiling, callbacks, ``history_``) is inherited unchanged.
"""

from __future__ import annotations

import inspect
from typing import Any

import keras
import numpy as np
from scikeras.utils import loss_name
from scikeras.wrappers import BaseWrapper
from sklearn.utils import compute_sample_weight
from sklearn.utils.validation import validate_data

from skkeras_proba._compat import check_sample_weight
from skkeras_proba._seeding import release_random_state_callbacks, seed_from, seeded
from skkeras_proba._validation import needs_validation


class ScikerasFixes(BaseWrapper):
    """scikeras' ``BaseWrapper`` with its known defects fixed."""

    def __sklearn_tags__(self):
        """Tags scikit-learn >= 1.6 reads; scikeras only defines ``_more_tags``.

        Pinned by ``test_is_classifier_so_cross_validation_stratifies``.
        """
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.input_tags.allow_nan = False
        tags.target_tags.multi_output = True
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
        (see ``_validation.py``). Pinned by
        ``test_validate_data_sets_feature_names_and_standard_messages``
        and ``test_object_X_reaches_keras_in_its_float_type``.
        """
        kwargs = {
            "reset": reset,
            "accept_sparse": ["csr", "csc"],
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
        caller without scikeras' process-wide side effects (see ``_seeding``).
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

        scikeras multiplies the caller's ``sample_weight`` array in place.
        Pinned by ``test_class_weight_leaves_callers_sample_weight_untouched``.
        """
        class_weight = getattr(self, "class_weight", None)
        if sample_weight is None and class_weight is None:
            return None
        weight = np.array(
            check_sample_weight(sample_weight, X, dtype=np.float32), copy=True
        )
        if class_weight is not None:
            weight = weight * compute_sample_weight(class_weight, y)
        if not np.any(weight):
            raise ValueError(
                "All sample weights are zero, so there is nothing to train on. "
                "Give at least one sample a positive weight."
            )
        return weight

    def _seeded_fit_context(self):
        """Seed model building and training without touching global state.

        scikeras 0.13 leaves TensorFlow op determinism switched on after a
        seeded fit, so the next unseeded fit fails with "Random ops require a
        seed", and its seeding is process-wide, so fits in other threads change
        each other's results. Pinned by
        ``test_seeded_fit_leaves_global_state_unchanged`` and
        ``test_concurrency.py::test_seeded_fits_in_threads_equal_serial_fits``.
        """
        # scikeras seeds inside _build_keras_model/_fit_keras_model when
        # _random_state is set; keep it None so only our context seeds.
        self._random_state = None
        return seeded(seed_from(self.random_state))

    def _fit_keras_model(self, *args: Any, **kwargs: Any) -> None:
        """Train with the lock of ``_seeding`` given up once training begins.

        Other fits then build while this one trains. Pinned by
        ``test_concurrency.py::test_other_fits_build_while_a_fit_trains``.
        """
        callbacks = self._fit_callbacks
        self._fit_callbacks = [*release_random_state_callbacks(), *callbacks]
        try:
            super()._fit_keras_model(*args, **kwargs)
        finally:
            self._fit_callbacks = callbacks


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
