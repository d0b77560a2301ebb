"""``BaseWrapper``: what every estimator here shares, the fit flow and the forward pass.

It is scikeras' ``BaseWrapper`` with our fit and predict machinery -- the
fit engine (``_fit.FitRun``) and the forward pass (``_forward.Forward``),
which it calls and which know nothing of estimators -- and it is public, as
in scikeras: users subclass it for wrappers of their own (a
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
import functools
from collections.abc import Iterator
from numbers import Integral
from typing import Any

import keras
import numpy as np
import scipy.sparse as sp
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils.validation import check_is_fitted

from skkeras_proba._common import batch_size_for
from skkeras_proba._compat import (
    Interval,
    StrOptions,
    num_samples,
    safe_indexing,
)
from skkeras_proba._fit import (
    SCIKERAS_CONSTRAINTS,
    TRAINING_CONTROL_CONSTRAINTS,
    BestEpoch,
    FitRun,
    check_fit_arguments,
    check_parameters,
    finish_training,
    fit_holdout,
)
from skkeras_proba._forward import (
    Decode,
    Forward,
    needs_keras_predict_loop,
)
from skkeras_proba._routing import (
    compiled_fit_settings,
    fit_setting,
    predict_arguments,
    routed_predict_kwargs,
)
from skkeras_proba._scikeras_fixes import ScikerasFixes, weighted_rows
from skkeras_proba._seed_states import (
    SEED_STATES,
    restore_seed_states,
    seed_states,
)
from skkeras_proba._sparse_input import keras_feeds_sparse_to


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
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the rows ``fit`` is given and stop
        training when the loss on them stops improving, as ``MLPClassifier``
        does. The hold-out is stratified by class for a single-output
        classifier and shuffled otherwise, drawn with ``random_state``, never
        the last rows (as Keras' ``validation_split`` takes them). Training
        stops after ``n_iter_no_change`` epochs without an improvement of more
        than ``tol`` in the validation loss (the compiled loss, with the
        sample and class weights), and ``model_`` gets the weights of the best
        epoch; ``epochs`` is the most it trains. Not with ``partial_fit``,
        ``validation_split`` or ``validation_data``. See the training control
        guide.
    validation_fraction : float, default=0.1
        Share of the rows held out with ``early_stopping=True``, rounded up;
        strictly between 0 and 1.
    n_iter_no_change : int, default=10
        Epochs without an improvement after which early stopping stops.
    tol : float, default=1e-4
        How much the validation loss must decrease to count as an improvement.
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
    n_iter_ : int
        Epochs trained, ``len(loss_curve_)``: fewer than ``epochs`` when
        training stopped early.
    loss_curve_ : list of float
        Training loss per epoch (``history_["loss"]``).
    validation_loss_curve_ : list of float or None
        Validation loss per epoch with ``early_stopping=True``, else None.
    best_validation_loss_ : float or None
        With ``early_stopping=True``, the lowest validation loss, that of the
        epoch whose weights ``model_`` holds; else None.

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
        **SCIKERAS_CONSTRAINTS,
        **TRAINING_CONTROL_CONSTRAINTS,
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
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 10,
        tol: float = 1e-4,
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
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.compile_epochs = compile_epochs

    def _validate_params(self) -> None:
        # scikit-learn's check, which a deeply nested value would crash.
        check_parameters(
            self._parameter_constraints,
            self.get_params(deep=False),
            type(self).__name__,
        )

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
        self._validate_params()
        if self.early_stopping:  # scikit-learn's rule: a hold-out needs a whole fit
            raise ValueError(
                "partial_fit trains one epoch on the rows it is given, so there is "
                "nothing to stop early: early_stopping=True works with fit only. "
                "Set early_stopping=False, or call fit."
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
        state_before = dict(vars(self))
        self._scikeras_seeding_off()
        self._wraps_given_model = True
        try:
            with FitRun.seeding(self.random_state):
                self._initialize(X, y)
        except BaseException:
            _restore_attributes(self, state_before)
            raise
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
        self._set_feature_metadata(X)
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
        check_fit_arguments(self, {**kwargs, "epochs": epochs})
        run = FitRun(
            self.random_state,
            self.steps_per_execution,
            self.reuse_train_trace,
            self.compile_epochs,
        )
        reset = not (warm_start and self.__sklearn_is_fitted__())
        X, y, weight, holdout = self._checked_fit_data(
            X, y, sample_weight, reset, kwargs
        )
        state_before = dict(vars(self))
        self._scikeras_seeding_off()
        epochs_done = keras.callbacks.History()
        stopper = None
        try:
            with run:
                if reset:
                    X, y = self._initialize(X, y)
                self._ensure_compiled_model()
                if holdout is not None:
                    X, y, weight = self._hold_out(holdout, X, y, weight, kwargs)
                    stopper = BestEpoch(self.tol, self.n_iter_no_change)
                data = (self._encode_features(X), self._keras_fit_targets(y), weight)
                # Ahead of the user's callbacks: both have seen an epoch before
                # a callback of the user's can stop the fit with an exception.
                own_callbacks = [epochs_done, *([stopper] if stopper else [])]
                self._train(
                    run,
                    data,
                    reset and epochs > 0,
                    own_callbacks,
                    warm_start,
                    epochs,
                    initial_epoch,
                    kwargs,
                )
        except BaseException:
            # Once an epoch has ended, the model keeps the epochs it trained (a
            # KeyboardInterrupt, a callback's error), as in Keras' fit, and the
            # fitted attributes describe them, as MLPClassifier's do after an
            # interruption. Before that the call was refused: the estimator
            # is as it was, not a new model behind the old fit's attributes.
            if epochs_done.history:
                self._record_history(epochs_done, warm_start, initial_epoch)
                self._finish_training(X, stopper, epochs)
            else:
                _restore_attributes(self, state_before)
            raise
        self._finish_training(X, stopper, epochs)

    def _checked_fit_data(
        self, X: Any, y: Any, sample_weight: Any, reset: bool, kwargs: dict[str, Any]
    ) -> tuple[Any, Any, Any, Any]:
        """``(X, y, sample_weight)`` as the fit trains on them, and its hold-out.

        Every check of the fit's data runs here, before anything changes: y,
        the weights (rows of zero weight left out), a continuing fit's X and y
        against the fitted model (not ``reset``), the hold-out's settings.
        """
        if y is None and self.__sklearn_tags__().target_tags.required:
            raise ValueError(  # scikit-learn's wording, which its checks expect
                f"This {type(self).__name__} estimator requires y to be passed, "
                "but the target y is None."
            )
        y = self._check_y(y)
        weight = self._fit_sample_weight(X, y, sample_weight)
        if not reset:  # all checked before the model is touched
            X, y = self._validate_data(X, y, reset=False)
            self._check_continuation(y)
        if weight is not None:
            X, y, weight = weighted_rows(X, y, weight)
        holdout = fit_holdout(  # its errors before any change
            X,
            y,
            self._stratify_labels(y),
            early_stopping=self.early_stopping,
            validation_fraction=self.validation_fraction,
            random_state=self.random_state,
            validation_split=fit_setting(self, "validation_split", kwargs),
            validation_data=fit_setting(self, "validation_data", kwargs),
        )
        return X, y, weight, holdout

    def _train(
        self,
        run: FitRun,
        data: tuple[Any, Any, Any],
        fresh: bool,
        own_callbacks: list[keras.callbacks.Callback],
        warm_start: bool,
        epochs: int,
        initial_epoch: int,
        kwargs: dict[str, Any],
    ) -> None:
        """Train ``model_`` with compiled epochs where they run, else Keras' ``fit``.

        Keras' ``fit`` is driven as the fit engine decides. ``data`` is
        ``(x, y, sample_weight)`` as the model takes them; ``own_callbacks``
        this fit's ``History`` and early-stopping callback, which run before
        the user's; ``kwargs`` the fit's other Keras arguments.
        """
        history = run.compiled_fit(
            self.model_,
            [*own_callbacks, *self._fit_callbacks],
            data,
            compiled_fit_settings(self, data[0], kwargs),
            epochs=epochs,
            initial_epoch=initial_epoch,
            fresh=fresh,
        )
        if history is not None:
            self._record_history(history, warm_start, initial_epoch)
            return
        setting = functools.partial(fit_setting, self, kwargs=kwargs)
        run.set_loop(
            self.model_,
            self._fit_callbacks,
            num_samples(data[0]),
            epochs,
            setting,
            kwargs,
        )
        x_fit, y_fit, weight_fit = run.keras_data(self.model_, *data, setting, kwargs)
        with self._model_to_train(run, fresh, own_callbacks):
            self._fit_keras_model(
                x_fit,
                y_fit,
                sample_weight=weight_fit,
                warm_start=warm_start,
                epochs=epochs,
                initial_epoch=initial_epoch,
                **kwargs,
            )

    def _finish_training(self, X: Any, stopper: BestEpoch | None, epochs: int) -> None:
        """The fitted attributes and the forward pass of the model as trained."""
        history = getattr(self, "history_", {})
        vars(self).update(finish_training(self.model_, history, stopper, epochs))
        self._forward = self._new_forward()
        self._after_training(X)

    # ----------------------------------------------------- training control

    def _stratify_labels(self, y: Any) -> np.ndarray | None:
        """Labels a hold-out is stratified by; None: a shuffled split."""
        return None

    def _hold_out(
        self,
        holdout: tuple[np.ndarray, np.ndarray],
        X: Any,
        y: Any,
        weight: np.ndarray | None,
        kwargs: dict[str, Any],
    ) -> tuple[Any, Any, np.ndarray | None]:
        """The training rows; the validation rows go to Keras' ``validation_data``."""
        train, validation = holdout
        x_val = self._encode_features(safe_indexing(X, validation))
        if sp.issparse(x_val) and not keras_feeds_sparse_to(self.model_):
            x_val = x_val.toarray()
        kwargs["validation_data"] = (
            x_val,
            None if y is None else self._keras_fit_targets(y[validation]),
            None if weight is None else weight[validation],
        )
        y = None if y is None else y[train]
        return safe_indexing(X, train), y, None if weight is None else weight[train]

    # ------------------------------------------- hooks, scikeras' behaviour

    def _check_y(self, y: Any) -> Any:
        """y before validation; as given (None for a model trained without)."""
        return y

    def _set_target_metadata(self, y: Any) -> None:
        """Fit ``target_encoder_`` on y and merge its metadata, as scikeras."""
        self._fit_target_encoder(y)
        self._fitted_y_shape = None if y is None else np.shape(y)[1:]

    def _set_feature_metadata(self, X: Any) -> None:
        """Fit ``feature_encoder_`` on X and merge its metadata, as scikeras."""
        self.feature_encoder_ = self.feature_encoder.fit(X)
        vars(self).update(getattr(self.feature_encoder_, "get_metadata", dict)())

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

    # ------------------------------------------------------------- fit loop

    @contextlib.contextmanager
    def _model_to_train(
        self,
        run: FitRun,
        fresh: bool,
        own_callbacks: list[keras.callbacks.Callback],
    ) -> Iterator[None]:
        """``model_`` and the fit's callbacks as the fit engine trains them.

        ``model_`` may be, while Keras trains, a trainer whose step is traced
        (see ``FitRun.training``); it is the estimator's own model again
        afterwards, trained. The callbacks are ``own_callbacks`` (the fit's
        ``History`` and early stopping), then the user's, for this fit only.
        """
        model, callbacks = self.model_, self._fit_callbacks
        own_first = [*own_callbacks, *callbacks]
        with run.training(model, own_first, fresh) as (trainer, fit_callbacks):
            self.model_ = trainer
            self._fit_callbacks = fit_callbacks
            try:
                yield
            finally:
                self.model_, self._fit_callbacks = model, callbacks

    # --------------------------------------------------- the target encoder

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

    # ----------------------------------------------------- the forward pass

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
        requested = predict_arguments(self, predict_kwargs)  # TypeError first
        check_is_fitted(self)
        X, _ = self._validate_data(X, reset=False)
        features = self._encode_features(X)
        if "batch_size" in requested:
            requested["batch_size"] = batch_size_for(requested["batch_size"], features)
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

    def _forward_unchecked(
        self, X: Any, decode: Decode | None = None
    ) -> list[np.ndarray]:
        """The fast path on validated X, for the estimator's own use."""
        return self._run_forward(
            self._encode_features(X), self._routed_batch_size(X), decode
        )

    def _routed_batch_size(self, X: Any) -> int | None:
        """``predict__batch_size`` for validated X, -1 resolved to its rows."""
        batch_size = routed_predict_kwargs(self).get("batch_size")
        return batch_size_for(batch_size, X)

    def _run_forward(
        self, X: Any, batch_size: int | None, decode: Decode | None
    ) -> list[np.ndarray]:
        """Encoded X through the forward pass (a classifier may average passes)."""
        return self._forward(X, batch_size, decode)

    # --------------------------------------------------------------- pickle

    def __getstate__(self) -> dict[str, Any]:
        # The traced function cannot be pickled; it is rebuilt on load. The
        # model pickles through Keras' saving, which leaves out the states of
        # its seed generators: they travel beside it.
        state = dict(super().__getstate__())  # may be self.__dict__ itself
        state.pop("_forward", None)
        if "model_" in state:
            state[SEED_STATES] = seed_states(self.model_)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        model_seed_states = state.pop(SEED_STATES, None)
        super().__setstate__(state)
        if "model_" in state:
            if model_seed_states is not None:
                restore_seed_states(self.model_, model_seed_states)
            self._forward = self._new_forward()


def _restore_attributes(estimator: BaseWrapper, state: dict[str, Any]) -> None:
    """Give ``estimator`` back the attributes ``state`` (a copy of its ``vars``) holds.

    A refused fit or ``initialize`` may have set new ones (``model_``,
    ``classes_``, the forward pass) before failing; those go, and the ones it
    replaced come back, so a fitted estimator predicts as before and an
    unfitted one stays unfitted.
    """
    attributes = vars(estimator)
    # Deleting only the names the call added, not clearing them all, keeps
    # the parameters readable throughout (a clone or get_params meanwhile).
    for name in attributes.keys() - state.keys():
        del attributes[name]
    attributes.update(state)
