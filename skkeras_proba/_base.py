"""What the classifier and the regressor share: the fit flow and the forward pass."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from numbers import Integral
from typing import Any

import keras
import numpy as np
import scipy.sparse as sp
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils.validation import check_is_fitted

from skkeras_proba._compat import Interval, StrOptions, custom_gradients_released
from skkeras_proba._fit_input import keras_fit_is_own, untuned_input
from skkeras_proba._fit_loop import (
    AUTO,
    KERAS_DEFAULT_BATCH_SIZE,
    check_steps_per_execution,
    steps_per_epoch_for,
    steps_per_execution_for,
)
from skkeras_proba._forward import (
    KERAS_PREDICT_KWARGS,
    Decode,
    Forward,
    needs_keras_predict_loop,
)
from skkeras_proba._scikeras_fixes import ScikerasFixes
from skkeras_proba._trace_reuse import reusable_key, trained_by_trainer
from skkeras_proba._worker_threads import size_framework_threads


class KerasEstimatorBase(ScikerasFixes):
    """Fit a freshly built Keras model, predict through a traced forward pass.

    Subclasses implement ``_check_y`` (validate y), ``_check_continuation``
    (y of an incremental fit against the built model), ``_set_target_metadata``
    (attributes a build function may read from ``meta``), ``_bind_model`` (check
    the built model against y, record ``heads_``) and ``_keras_targets``
    (encode y for Keras).
    """

    _parameter_constraints: dict = {
        "steps_per_execution": [
            StrOptions({"auto"}),
            Interval(Integral, 1, None, closed="left"),
        ],
        "reuse_train_trace": ["boolean"],
    }
    _DEFAULT_TARGET_ENCODER: type
    """The class ``target_encoder`` returns unless a subclass overrides it."""

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "model_") and hasattr(self, "_forward")

    def fit(self, X: Any, y: Any, sample_weight: Any = None, **kwargs: Any):
        """Build a new model and train it on ``(X, y)``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features) or \
                (n_samples, ...)
            Training inputs. N-dimensional arrays (e.g. images) are passed to
            the model as they are.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Per-sample weights; samples with zero weight are left out.
        **kwargs : dict
            Passed to ``keras.Model.fit``; prefer ``fit__<name>`` parameters.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        kwargs.setdefault("epochs", getattr(self, "fit__epochs", self.epochs))
        kwargs.setdefault("initial_epoch", 0)
        self._fit(X, y, sample_weight, warm_start=self.warm_start, **kwargs)
        return self

    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None, **kwargs: Any):
        """Train for one more epoch, building the model on the first call.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training inputs.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Per-sample weights.
        **kwargs : dict
            Passed to ``keras.Model.fit``.

        Returns
        -------
        self : object
            The estimator, trained one epoch further.
        """
        for name in ("epochs", "initial_epoch"):
            if name in kwargs:
                raise TypeError(
                    f"Invalid argument `{name}` to `partial_fit`: it always trains "
                    "one epoch, from the current epoch. Call fit for more epochs."
                )
        self._fit(
            X,
            y,
            sample_weight,
            warm_start=True,
            epochs=1,
            initial_epoch=self.current_epoch,
            **kwargs,
        )
        return self

    def initialize(self, X: Any, y: Any):
        """Build and compile the model for ``(X, y)`` without training it.

        A Keras model instance passed as ``model=`` is used as it is, trained
        weights included (``model_`` is that object): scikeras' way to wrap a
        trained model for inference. ``fit`` still trains a fresh copy, so
        cross-validation folds never share weights.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Inputs the model takes; sets the input shape and feature checks.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets; sets the classes (or targets) the model predicts.

        Returns
        -------
        self : object
            The estimator, ready to predict with the untrained model.
        """
        self._validate_params()
        X, y = self._validate_data(X, self._check_y(y), reset=True)
        with self._seeded_fit_context():
            self._initialize(X, y, reuse_model_instance=True)
        self._forward = self._new_forward()
        return self

    def _fit(
        self,
        X: Any,
        y: Any,
        sample_weight: Any,
        warm_start: bool,
        epochs: int,
        initial_epoch: int,
        **kwargs: Any,
    ) -> None:
        self._validate_params()
        check_steps_per_execution(self.steps_per_execution)
        if y is None:  # scikit-learn's wording, which its checks expect
            raise ValueError(
                f"This {type(self).__name__} estimator requires y to be passed, "
                "but the target y is None."
            )
        reset = not (warm_start and self.__sklearn_is_fitted__())
        X, y = self._validate_data(X, self._check_y(y), reset=reset)
        if not reset:
            self._check_continuation(y)
        if sp.issparse(X):
            X = X.toarray()  # Keras trains on dense tensors only
        weight = self._fit_sample_weight(X, y, sample_weight)
        if weight is not None:
            kept = weight != 0  # scikit-learn semantics: zero weight = absent
            X, y, weight = X[kept], y[kept], weight[kept]
        size_framework_threads()  # in a joblib or Dask worker process only
        with self._seeded_fit_context(), custom_gradients_released():
            if reset:
                self._initialize(X, y)
            targets = self._keras_targets(y)
            self._set_fit_loop(len(X), epochs, kwargs)
            x_fit, y_fit, weight_fit = self._keras_fit_data(
                self._encode_features(X),
                targets[0] if len(targets) == 1 else targets,
                weight,
                kwargs,
            )
            with self._model_to_train(fresh=reset and epochs > 0):
                self._fit_keras_model(
                    x_fit,
                    y_fit,
                    sample_weight=weight_fit,
                    warm_start=warm_start,
                    epochs=epochs,
                    initial_epoch=initial_epoch,
                    **kwargs,
                )
        self._forward = self._new_forward()
        self._after_training(X)

    def _initialize(
        self, X: Any, y: np.ndarray, reuse_model_instance: bool = False
    ) -> None:
        """Fit the encoders, build and compile the model, check it against y.

        ``reuse_model_instance``: a model instance passed as ``model=`` is used
        as is (trained weights kept) rather than cloned, which is how scikeras'
        ``initialize`` wraps a trained model for inference.
        """
        self._set_target_metadata(y)
        self.feature_encoder_ = self.feature_encoder.fit(X)
        vars(self).update(getattr(self.feature_encoder_, "get_metadata", dict)())
        if reuse_model_instance and isinstance(self.model, keras.Model):
            self.model_ = self.model
        else:
            self.model_ = self._build_keras_model()
        self._ensure_compiled_model()
        self._check_model_compatibility(y)
        self._bind_model(X, y)
        self._initialize_callbacks()

    def _set_fit_loop(self, n_rows: int, epochs: int, kwargs: dict[str, Any]) -> None:
        """Set this fit's steps per execution and per epoch (see ``_fit_loop``).

        With ``steps_per_execution="auto"`` an epoch runs in one call unless a
        callback needs batch-level hooks, and Keras keeps its input iterator
        from one epoch to the next. ``kwargs`` are the fit's Keras arguments.
        """
        batch_size = self._fit_setting("batch_size", kwargs)
        given_steps_per_epoch = self._fit_setting("steps_per_epoch", kwargs)
        steps = steps_per_execution_for(
            self.steps_per_execution,
            self.model_,
            self._fit_callbacks,
            n_rows,
            batch_size,
            given_steps_per_epoch,
        )
        if steps is not None:
            self.model_.steps_per_execution = steps
        if given_steps_per_epoch is None:
            steps_per_epoch = steps_per_epoch_for(
                self.steps_per_execution,
                steps,
                epochs,
                self._fit_setting("validation_split", kwargs),
            )
            if steps_per_epoch is not None:
                kwargs["steps_per_epoch"] = steps_per_epoch
                # Keras derives a missing batch size from steps_per_epoch.
                kwargs["batch_size"] = batch_size or KERAS_DEFAULT_BATCH_SIZE

    def _keras_fit_data(
        self, x: Any, y: Any, sample_weight: Any, kwargs: dict[str, Any]
    ) -> tuple[Any, Any, Any]:
        """``x``, ``y`` and ``sample_weight`` to give ``keras.Model.fit``.

        The arrays, or on TensorFlow Keras' own input pipeline for them without
        ``tf.data``'s autotuning, and None for the other two (see
        ``_fit_input``), with ``steps_per_execution="auto"``. The arrays
        otherwise, and wherever Keras or scikeras needs them: for
        ``validation_split``, a batch size of -1 (all rows), and a model whose
        ``fit`` is not Keras' own (it may read the arrays).
        """
        batch_size = self._fit_setting("batch_size", kwargs)
        if (
            self.steps_per_execution != AUTO
            or not keras_fit_is_own(self.model_)
            or self._fit_setting("validation_split", kwargs)
            or batch_size == -1
            or self._fit_setting("validation_batch_size", kwargs) == -1
        ):
            return x, y, sample_weight
        shuffle = self._fit_setting("shuffle", kwargs)
        adapter = untuned_input(
            x,
            y,
            sample_weight,
            batch_size,
            True if shuffle is None else shuffle,  # Keras' default
            self._fit_setting("steps_per_epoch", kwargs),
            self._fit_setting("class_weight", kwargs),
        )
        return (x, y, sample_weight) if adapter is None else (adapter, None, None)

    def _fit_setting(self, name: str, kwargs: dict[str, Any]) -> Any:
        """A ``keras.Model.fit`` argument as scikeras will pass it, or None.

        As scikeras routes it: the call's keyword argument, else ``fit__<name>``,
        else the estimator's parameter of that name if it goes to ``fit``.
        """
        if name in kwargs:
            return kwargs[name]
        if hasattr(self, f"fit__{name}"):
            return getattr(self, f"fit__{name}")
        return getattr(self, name, None) if name in self._fit_kwargs else None

    @contextlib.contextmanager
    def _model_to_train(self, fresh: bool) -> Iterator[None]:
        """``model_`` is, while Keras trains, a trainer whose step is traced.

        See ``_trace_reuse``: a freshly built model of Keras' own parts trains
        through a private trainer of the same architecture, so that a search
        traces the train step once per architecture, not once per fold.
        ``model_`` is the estimator's own model again afterwards, trained.
        """
        model = self.model_
        key = reusable_key(model) if fresh and self.reuse_train_trace else None
        if key is None:
            yield
            return
        with trained_by_trainer(model, key) as trainer:
            self.model_ = trainer
            try:
                yield
            finally:
                self.model_ = model

    @property
    def _custom_target_encoder(self) -> bool:
        """Whether a subclass's ``target_encoder`` encodes y instead of ours."""
        encoder = getattr(self, "target_encoder_", None)
        return encoder is not None and type(encoder) is not self._DEFAULT_TARGET_ENCODER

    def _fit_target_encoder(self, y: np.ndarray) -> None:
        """``target_encoder_`` fitted on y, its metadata merged in (as scikeras)."""
        self.target_encoder_ = self.target_encoder.fit(y)
        vars(self).update(getattr(self.target_encoder_, "get_metadata", dict)())

    def _custom_keras_targets(self, y: np.ndarray) -> list[np.ndarray]:
        """Keras targets from a subclass's ``target_encoder_``, one per output."""
        targets = self.target_encoder_.transform(y)
        return targets if isinstance(targets, list) else [targets]

    def _new_forward(self) -> Forward:
        """The traced forward pass of the fitted ``model_``."""
        return Forward(self.model_)

    def _probe_output_units(self, X: Any) -> list[int]:
        """Units of each output, from running the model on one row of X.

        For subclassed models, whose outputs are unknown until called.
        """
        outputs = Forward(self.model_)(self._encode_features(X[:1]))
        return [int(output.shape[-1]) for output in outputs]

    def _after_training(self, X: Any) -> None:
        """Hook run once the model is trained and ``_forward`` exists."""

    def _encode_features(self, X: Any) -> Any:
        encoder = self.feature_encoder_
        if isinstance(encoder, FunctionTransformer) and encoder.func is None:
            return X  # scikeras' default identity encoder: skip its overhead
        return encoder.transform(X)

    def _predict_outputs(
        self, X: Any, decode: Decode | None, predict_kwargs: dict[str, Any]
    ) -> list[np.ndarray]:
        """Validated X through the model, ``decode``-d batch by batch.

        ``predict_kwargs`` are the Keras ``predict`` arguments a predict method
        was called with, as scikeras forwards them. Decoding each batch as it
        comes out means the raw outputs of all rows never exist at once: memory
        stays at input + output + one batch.
        """
        unknown = set(predict_kwargs) - KERAS_PREDICT_KWARGS
        if unknown:
            raise TypeError(
                f"Got unexpected keyword arguments {sorted(unknown)}. Prediction "
                "takes the arguments of keras.Model.predict: "
                f"{sorted(KERAS_PREDICT_KWARGS)}."
            )
        check_is_fitted(self)
        X, _ = self._validate_data(X, reset=False)
        features = self._encode_features(X)
        requested = {**self._routed_predict_kwargs(), **predict_kwargs}
        if requested.get("batch_size") == -1:
            requested["batch_size"] = _n_rows(features)
        callbacks = getattr(self, "_predict_callbacks", [])
        if needs_keras_predict_loop(requested, callbacks):
            keras_kwargs = {"verbose": self.verbose, "callbacks": callbacks}
            return self._keras_predict(features, decode, {**keras_kwargs, **requested})
        return self._run_forward(features, requested.get("batch_size"), decode)

    def _keras_predict(
        self, features: Any, decode: Decode | None, keras_kwargs: dict[str, Any]
    ) -> list[np.ndarray]:
        """Encoded X through Keras' own ``predict`` loop, for what only it does."""
        return self._forward.keras_predict(features, decode, **keras_kwargs)

    def _routed_predict_kwargs(self) -> dict[str, Any]:
        """``predict__batch_size``, ``predict__verbose``, ... set on the estimator."""
        names = KERAS_PREDICT_KWARGS - {"callbacks"}  # callbacks are built at fit
        return {
            name: getattr(self, f"predict__{name}")
            for name in names
            if hasattr(self, f"predict__{name}")
        }

    def _forward_unchecked(
        self, X: Any, decode: Decode | None = None
    ) -> list[np.ndarray]:
        """The fast path on validated X, for the estimator's own use."""
        batch_size = self._routed_predict_kwargs().get("batch_size")
        if batch_size == -1:
            batch_size = X.shape[0]
        return self._run_forward(self._encode_features(X), batch_size, decode)

    def _run_forward(
        self, X: Any, batch_size: int | None, decode: Decode | None
    ) -> list[np.ndarray]:
        """Encoded X through the forward pass (a classifier may average passes)."""
        return self._forward(X, batch_size, decode)

    def __getstate__(self) -> dict[str, Any]:
        # The traced function cannot be pickled; it is rebuilt on load.
        state = dict(super().__getstate__())  # may be self.__dict__ itself
        state.pop("_forward", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        if "model_" in state:
            self._forward = self._new_forward()


def _n_rows(features: Any) -> int:
    """Rows of the model's input, for ``batch_size=-1`` (all rows at once)."""
    try:
        return features.shape[0]
    except AttributeError:  # scikeras' message for the same situation
        raise ValueError(
            "`batch_size=-1` requires that `X` implement `shape`: the feature "
            f"encoder returned a {type(features).__name__}. Give predict__batch_size "
            "a number of rows instead."
        ) from None
