"""``BaseWrapper``: what every estimator here shares, the fit flow and the forward pass.

It is scikeras' ``BaseWrapper`` with our fit and predict machinery, and it is
public, as in scikeras: users subclass it for wrappers of their own (a
transformer such as an autoencoder, an estimator with its own ``predict``)
with scikeras' contract. A build function (``model=``) or a
``_keras_build_fn`` method builds the model from routed parameters and
``meta``; the ``feature_encoder`` and ``target_encoder`` properties turn X and
y into what the model takes; ``_initialize`` validates, fits the encoders and
builds the model; ``predict`` returns the model's outputs through
``target_encoder_.inverse_transform``; ``score`` calls the ``scorer`` static
method with ``score__*`` parameters. :class:`KerasClassifier` and
:class:`KerasRegressor` override the hooks below to check y against the model
and decode its outputs themselves.

Hooks a subclass may override: ``_check_y`` (y before validation),
``_set_target_metadata`` (fit ``target_encoder_``, attributes for ``meta``),
``_bind_model`` (check the built model against y), ``_check_continuation`` (y
of an incremental fit against the built model), ``_keras_targets`` (y as
Keras targets, one array per output), ``_after_training``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from numbers import Integral
from typing import Any

import keras
import numpy as np
import scipy.sparse as sp
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils.validation import (
    check_array,
    check_is_fitted,
)

from skkeras_proba._compat import (
    Interval,
    StrOptions,
    check_sample_weight,
    custom_gradients_released,
    num_samples,
    safe_indexing,
)
from skkeras_proba._fit._compiled import (
    compiled_fit_unsupported_because,
    fit_compiled,
)
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
from skkeras_proba._seeding import ReleaseRandomStateWhileTraining
from skkeras_proba._sparse_input import dense_batches_for_fit, keras_feeds_sparse_to
from skkeras_proba._trace_reuse import reusable_key, trained_by_trainer
from skkeras_proba._worker_threads import size_framework_threads


class BaseWrapper(ScikerasFixes):
    """A Keras model as a scikit-learn estimator: scikeras' ``BaseWrapper``.

    The base of :class:`KerasClassifier` and :class:`KerasRegressor`, and of
    wrappers written the scikeras way: subclass it, give the model through
    ``model=`` or a ``_keras_build_fn`` method, and override ``feature_encoder``
    or ``target_encoder`` (scikit-learn transformers), ``predict``, ``scorer``
    or ``_initialize`` as scikeras documents. Fitting trains the model on
    ``feature_encoder_.transform(X)`` and ``target_encoder_.transform(y)``
    (both identities by default); ``predict`` returns the model's outputs
    through ``target_encoder_.inverse_transform``. Fits are seeded by
    ``random_state`` without process-wide side effects, incremental fits check
    X and y against the built model before training, and parameters are
    validated, as for the two estimators.

    Parameters
    ----------
    model : callable or keras.Model, default=None
        A function returning a (compiled) Keras model, or a model instance,
        cloned with fresh weights for every fit (:meth:`initialize` uses the
        instance itself). None: the subclass's ``_keras_build_fn`` method
        builds the model.
    build_fn : callable or keras.Model, default=None
        scikeras' deprecated alias of ``model``.
    warm_start : bool, default=False
        If True, ``fit`` continues training the current model.
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, dropout and shuffling for reproducible
        fits, also while other fits run in other threads; no process-wide
        random state is changed.
    optimizer : str, keras.optimizers.Optimizer or class, default="rmsprop"
        Used when the model is not already compiled.
    loss : str, keras.losses.Loss, class or callable, default=None
        Used when the model is not already compiled; training needs one.
    metrics : list, default=None
        Keras metrics, used when the model is not already compiled.
    batch_size : int, default=None
        Batch size for training (Keras' default of 32 if None).
    validation_batch_size : int, default=None
        Batch size for validation data.
    verbose : int, default=0
        Keras' verbosity during ``fit`` (scikeras' default is 1).
    callbacks : list of keras.callbacks.Callback, default=None
        Callbacks for ``fit``.
    validation_split : float, default=0.0
        Fraction of the training data held out for validation in Keras.
    shuffle : bool, default=True
        Whether Keras shuffles the training data every epoch.
    run_eagerly : bool, default=False
        Compile the model to run eagerly (for debugging).
    epochs : int, default=1
        Number of training epochs.
    steps_per_execution : "auto" or int, default="auto"
        Training batches per call into Keras' compiled train function; see
        :class:`KerasClassifier`.
    reuse_train_trace : bool, default=True
        On TensorFlow, train a freshly built model through a private copy of
        the same architecture whose train step is already traced; see
        :class:`KerasClassifier`.
    compile_epochs : bool, default=True
        Run each training epoch as one compiled call where the fit allows it;
        False trains with Keras' ``fit``. See :class:`KerasClassifier`.
    **kwargs : dict
        Parameters of the build function (``model__<name>`` or ``<name>``) and
        routed parameters: ``fit__*``, ``predict__*``, ``compile__*``,
        ``optimizer__*``, ``loss__*``, ``metrics__*``, ``callbacks__*`` and
        ``score__*`` (passed to ``scorer``).

    Attributes
    ----------
    model_ : keras.Model
        The trained (or, after :meth:`initialize`, the built) Keras model.
    feature_encoder_ : transformer
        ``feature_encoder`` fitted on X.
    target_encoder_ : transformer
        ``target_encoder`` fitted on y.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Column names of X, when X was a DataFrame with string column names.
    X_shape_ : tuple of int
        Shape of the X the model was built for.
    history_ : dict
        Keras training history, one list per metric.

    See Also
    --------
    KerasClassifier : A classifier with correct probabilities.
    KerasRegressor : A regressor.

    Examples
    --------
    An autoencoder as a transformer, as in scikeras' documentation:

    >>> import keras
    >>> from sklearn.base import TransformerMixin
    >>> from sklearn.datasets import load_digits
    >>> from skkeras_proba import BaseWrapper
    >>> class AutoEncoder(BaseWrapper, TransformerMixin):
    ...     def _keras_build_fn(self, encoding_dim, meta):
    ...         inputs = keras.Input((meta["n_features_in_"],))
    ...         code = keras.layers.Dense(encoding_dim, activation="relu")(inputs)
    ...         decoded = keras.layers.Dense(meta["n_features_in_"])(code)
    ...         self.encoder_ = BaseWrapper(keras.Model(inputs, code))
    ...         return keras.Model(inputs, decoded)
    ...     def _initialize(self, X, y=None):
    ...         X, y = super()._initialize(X, y)
    ...         self.encoder_.initialize(X)
    ...         return X, y
    ...     def fit(self, X, y=None):
    ...         return super().fit(X, X)
    ...     def transform(self, X):
    ...         return self.encoder_.predict(X)
    >>> X = load_digits().data / 16
    >>> ae = AutoEncoder(encoding_dim=8, loss="mse", epochs=2, random_state=0)
    >>> ae.fit_transform(X).shape
    (1797, 8)
    """

    _parameter_constraints: dict = {
        "steps_per_execution": [
            StrOptions({"auto"}),
            Interval(Integral, 1, None, closed="left"),
        ],
        "reuse_train_trace": ["boolean"],
        "compile_epochs": ["boolean"],
    }
    _DEFAULT_TARGET_ENCODER: type = FunctionTransformer
    """The class ``target_encoder`` returns unless a subclass overrides it."""
    _wraps_given_model = False
    """Set while :meth:`initialize` runs: a model instance is used as it is."""

    def __init__(
        self,
        model: Any = None,
        *,
        build_fn: Any = None,
        warm_start: bool = False,
        random_state: int | np.random.RandomState | None = None,
        optimizer: Any = "rmsprop",
        loss: Any = None,
        metrics: list | None = None,
        batch_size: int | None = None,
        validation_batch_size: int | None = None,
        verbose: int = 0,
        callbacks: list | None = None,
        validation_split: float = 0.0,
        shuffle: bool = True,
        run_eagerly: bool = False,
        epochs: int = 1,
        steps_per_execution: int | str = "auto",
        reuse_train_trace: bool = True,
        compile_epochs: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            model=model,
            build_fn=build_fn,
            warm_start=warm_start,
            random_state=random_state,
            optimizer=optimizer,
            loss=loss,
            metrics=metrics,
            batch_size=batch_size,
            validation_batch_size=validation_batch_size,
            verbose=verbose,
            callbacks=callbacks,
            validation_split=validation_split,
            shuffle=shuffle,
            run_eagerly=run_eagerly,
            epochs=epochs,
            **kwargs,
        )
        self.steps_per_execution = steps_per_execution
        self.reuse_train_trace = reuse_train_trace
        self.compile_epochs = compile_epochs

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "model_") and hasattr(self, "_forward")

    def fit(self, X: Any, y: Any, sample_weight: Any = None, **kwargs: Any):
        """Build a new model and train it on ``(X, y)``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features) or \
                (n_samples, ...)
            Training inputs. N-dimensional arrays (e.g. images) are passed to
            the model as they are; sparse matrices stay sparse (see the
            performance guide).
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

    def initialize(self, X: Any, y: Any = None):
        """Build and compile the model for ``(X, y)`` without training it.

        A Keras model instance passed as ``model=`` is used as it is, trained
        weights included (``model_`` is that object): scikeras' way to wrap a
        trained model for inference. ``fit`` still trains a fresh copy, so
        cross-validation folds never share weights.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Inputs the model takes; sets the input shape and feature checks.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs), \
                default=None
            Targets; sets the classes (or targets) the model predicts. The
            classifier and the regressor need it.

        Returns
        -------
        self : object
            The estimator, ready to predict with the untrained model.
        """
        self._validate_params()
        self._wraps_given_model = True
        try:
            with self._seeded_fit_context():
                self._initialize(X, y)
        finally:
            del self._wraps_given_model
        return self

    def _initialize(self, X: Any, y: Any = None) -> tuple[Any, Any]:
        """Validate X and y, fit the encoders, build and compile the model.

        scikeras' hook, with its contract: it returns the validated ``(X, y)``,
        and a subclass may override it, calling it first, to set up what
        depends on the built model (models sharing its layers, say). Runs in
        every fit that builds a new model and in :meth:`initialize`. A model
        without a loss is compiled all the same, for inference; training
        checks for one (``_ensure_compiled_model``).
        """
        X, y = self._validate_data(X, self._check_y(y), reset=True)
        self._set_target_metadata(y)
        self.feature_encoder_ = self.feature_encoder.fit(X)
        vars(self).update(getattr(self.feature_encoder_, "get_metadata", dict)())
        if self._wraps_given_model and isinstance(self.model, keras.Model):
            self.model_ = self.model
        else:
            self.model_ = self._build_keras_model()
        if not self.model_.compiled:
            self.model_.compile(**self._get_compile_kwargs())
        self._check_model_compatibility(y)
        self._bind_model(X, y)
        self._initialize_callbacks()
        self._forward = self._new_forward()
        return X, y

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
        if y is None and self.__sklearn_tags__().target_tags.required:
            raise ValueError(  # scikit-learn's wording, which its checks expect
                f"This {type(self).__name__} estimator requires y to be passed, "
                "but the target y is None."
            )
        reset = not (warm_start and self.__sklearn_is_fitted__())
        y = self._check_y(y)
        weight = self._fit_sample_weight(X, y, sample_weight)
        if not reset:  # all checked before the model is touched
            X, y = self._validate_data(X, y, reset=False)
            self._check_continuation(y)
        if weight is not None:
            X, y, weight = _weighted_rows(X, y, weight)
        size_framework_threads()  # in a joblib or Dask worker process only
        with self._seeded_fit_context(), custom_gradients_released():
            if reset:
                X, y = self._initialize(X, y)
            self._ensure_compiled_model()
            x_fit, y_fit = self._encode_features(X), self._keras_fit_targets(y)
            fresh = reset and epochs > 0
            if not self._fit_compiled(
                (x_fit, y_fit, weight), fresh, warm_start, epochs, initial_epoch, kwargs
            ):
                self._set_fit_loop(num_samples(X), epochs, kwargs)
                x_fit, y_fit, weight_fit = self._keras_fit_data(
                    x_fit, y_fit, weight, kwargs
                )
                with self._model_to_train(fresh=fresh):
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

    # ------------------------------------------- hooks, scikeras' behaviour

    def _check_y(self, y: Any) -> Any:
        """y before validation; as given (None for a model trained without)."""
        return y

    def _set_target_metadata(self, y: Any) -> None:
        """Fit ``target_encoder_`` on y and merge its metadata, as scikeras."""
        self._fit_target_encoder(y)
        self._fitted_y_shape = None if y is None else np.shape(y)[1:]

    def _bind_model(self, X: Any, y: Any) -> None:
        """Check the built model against the encoders' ``n_outputs_expected_``."""
        self._check_expected_outputs()

    def _check_continuation(self, y: Any) -> None:
        """Reject a y of another shape than the model was built for."""
        if y is None or self._fitted_y_shape is None:
            return  # nothing to compare
        shape = np.shape(y)[1:]
        if shape != self._fitted_y_shape:
            raise ValueError(
                f"y has samples of shape {shape}, but the model was built for y "
                f"with samples of shape {self._fitted_y_shape}. Pass y shaped as "
                "in the first fit, or call fit with warm_start=False to build a "
                "new model."
            )

    def _keras_targets(self, y: Any) -> list[Any]:
        """y as Keras targets, one per model output: ``target_encoder_``'s."""
        return self._custom_keras_targets(y)

    def _after_training(self, X: Any) -> None:
        """Hook run once the model is trained and ``_forward`` exists."""

    def _keras_fit_targets(self, y: Any) -> Any:
        """What ``keras.Model.fit`` gets as y: one array, a list, or None."""
        if y is None:
            return None
        targets = self._keras_targets(y)
        return targets[0] if len(targets) == 1 else targets

    def _check_expected_outputs(self) -> None:
        """scikeras' check of ``n_outputs_expected_`` (an encoder's metadata)."""
        expected = getattr(self, "n_outputs_expected_", None)
        outputs = getattr(self.model_, "outputs", None)
        if expected and outputs is not None and expected != len(outputs):
            raise ValueError(
                f"The target encoder expects a model with {expected} outputs, but "
                f"the model has {len(outputs)}. Give the model one output per "
                "target the encoder returns."
            )

    # -------------------------------------------------------------- predict

    def predict(self, X: Any, **kwargs: Any) -> Any:
        """The model's outputs for X, through ``target_encoder_.inverse_transform``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Inputs.
        **kwargs : dict
            Arguments of ``keras.Model.predict``, forwarded as scikeras does.

        Returns
        -------
        y_pred : ndarray or list of ndarray
            What ``target_encoder_.inverse_transform`` makes of the outputs
            (one array, or a list of one per output); by default the outputs.
        """
        return self.target_encoder_.inverse_transform(self._predict_raw(X, **kwargs))

    def _predict_raw(self, X: Any, **kwargs: Any) -> Any:
        """scikeras' hook: the model's outputs for X, a list for several."""
        outputs = self._predict_outputs(X, None, kwargs)
        return outputs[0] if len(outputs) == 1 else outputs

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> Any:
        """``scorer(y, predict(X))``; BaseWrapper itself has no ``scorer``.

        A subclass defines the ``scorer`` static method, as in scikeras.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Inputs.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            True targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights; samples with zero weight are left out.

        Returns
        -------
        score : float
            What ``scorer`` returns.
        """
        return self._score(X, y, sample_weight)

    def _score(self, X: Any, y: Any, sample_weight: Any) -> Any:
        """scikeras' ``score``: ``scorer`` with ``score__*`` parameters.

        y is validated and rows of zero weight are left out before predicting,
        as scikeras does, so a scorer sees arrays and only weighted rows.
        """
        check_is_fitted(self)
        y = check_array(y, ensure_2d=False, dtype=None, input_name="y")
        if sample_weight is not None:
            sample_weight = check_sample_weight(sample_weight, X)
            if not np.any(sample_weight):
                raise ValueError(
                    "All sample weights are zero, so there is nothing to score. "
                    "Give at least one sample a positive weight."
                )
            X, y, sample_weight = _weighted_rows(X, y, sample_weight)
        return self.scorer(
            y,
            self.predict(X),
            sample_weight=sample_weight,
            **self._routed_params("score"),
        )

    def _routed_params(self, destination: str) -> dict[str, Any]:
        """Parameters ``<destination>__<name>``, by name, as scikeras routes them."""
        prefix = f"{destination}__"
        return {
            name[len(prefix) :]: value
            for name, value in self.get_params(deep=False).items()
            if name.startswith(prefix)
        }

    # ------------------------------------------------------------- fit loop

    def _fit_compiled(
        self,
        data: tuple[Any, Any, Any],
        fresh: bool,
        warm_start: bool,
        epochs: int,
        initial_epoch: int,
        kwargs: dict[str, Any],
    ) -> bool:
        """Train with compiled epochs (see ``_fit._compiled``) if they can.

        ``data`` is ``(x, y, sample_weight)`` for Keras' ``fit``, ``kwargs`` the
        fit's Keras arguments; a ``fresh`` model trains through an idle trainer
        on TensorFlow, whose epoch function is traced already (see
        ``_model_to_train``). False, with nothing changed, where this fit needs
        Keras' ``fit``; it then trains as before.
        """
        if not self.compile_epochs or self.steps_per_execution != AUTO:
            return False
        settings = {**self._routed_fit_settings(), **kwargs}
        if settings.get("batch_size") == -1:
            settings["batch_size"] = num_samples(data[0])
        callbacks = self._fit_callbacks
        if compiled_fit_unsupported_because(self.model_, data, settings, callbacks):
            return False
        with self._model_to_train(fresh=fresh):
            history = fit_compiled(
                self.model_,
                data,
                epochs=initial_epoch + epochs,
                initial_epoch=initial_epoch,
                settings=settings,
                callbacks=[ReleaseRandomStateWhileTraining(), *callbacks],
            )
        self._record_history(history, warm_start, initial_epoch)
        return True

    def _routed_fit_settings(self) -> dict[str, Any]:
        """Keras ``fit`` arguments as scikeras routes them, but the data's."""
        settings = {
            name: getattr(self, name)
            for name in self._fit_kwargs - _FIT_CALL_ARGUMENTS
            if hasattr(self, name)
        }
        routed = {
            name: value
            for name, value in self._routed_params("fit").items()
            if not name.startswith("callbacks") and name not in _FIT_CALL_ARGUMENTS
        }
        return {**settings, **routed}

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

        Sparse X for a model that cannot take it: dense batches (see
        ``_sparse_input``) and None for the other two. Else the arrays (a
        sparse matrix stays sparse), or on TensorFlow Keras' own input pipeline
        for them without ``tf.data``'s autotuning, and None for the other two
        (see ``_fit_input``), with ``steps_per_execution="auto"``. The arrays
        otherwise, and wherever Keras or scikeras needs them: for
        ``validation_split``, a batch size of -1 (all rows), and a model whose
        ``fit`` is not Keras' own (it may read the arrays).
        """
        batch_size = self._fit_setting("batch_size", kwargs)
        shuffle = self._fit_setting("shuffle", kwargs)
        shuffle = True if shuffle is None else shuffle  # Keras' default
        if sp.issparse(x) and not keras_feeds_sparse_to(self.model_):
            x, validation = dense_batches_for_fit(
                x,
                y,
                sample_weight,
                batch_size,
                shuffle,
                self._fit_setting("validation_split", kwargs),
                self._fit_setting("validation_batch_size", kwargs),
            )
            kwargs["shuffle"] = False  # the batches come shuffled
            if validation is not None:
                kwargs.update(validation_split=0.0, validation_data=validation)
            return x, None, None
        if (
            self.steps_per_execution != AUTO
            or not keras_fit_is_own(self.model_)
            or self._fit_setting("validation_split", kwargs)
            or batch_size == -1
            or self._fit_setting("validation_batch_size", kwargs) == -1
        ):
            return x, y, sample_weight
        adapter = untuned_input(
            x,
            y,
            sample_weight,
            batch_size,
            shuffle,
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

    def _custom_keras_targets(self, y: Any) -> list[Any]:
        """Keras targets from ``target_encoder_``, one per output."""
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


_FIT_CALL_ARGUMENTS = frozenset({"epochs", "initial_epoch", "sample_weight"})
"""Keras ``fit`` arguments that every fit sets itself."""


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


def _weighted_rows(X: Any, y: Any, weight: np.ndarray) -> tuple[Any, Any, np.ndarray]:
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


"""The name ``_persistence`` imports; remove once it imports ``BaseWrapper``."""
