"""KerasRegressor: a Keras model as a scikit-learn regressor."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import numpy as np
from scikeras.utils.transformers import RegressorTargetEncoder
from sklearn.base import RegressorMixin
from sklearn.metrics import r2_score
from sklearn.utils.validation import column_or_1d

from skkeras_proba._base import BaseWrapper
from skkeras_proba._graph import output_names
from skkeras_proba._incremental import check_target_shape


class KerasRegressor(RegressorMixin, BaseWrapper):
    """A Keras model as a scikit-learn regressor.

    A drop-in replacement for ``scikeras.wrappers.KerasRegressor`` with the same
    parameters and routing, fast prediction, and y's shape kept: y of shape
    (n_samples,) gives predictions of shape (n_samples,), y of shape
    (n_samples, n_targets) gives (n_samples, n_targets).

    Parameters
    ----------
    model : callable or keras.Model, default=None
        A function returning a (compiled) Keras model, or a model instance,
        cloned with fresh weights for every fit. Its output units (summed over
        outputs, for a model with several) must equal y's number of targets.
    build_fn : callable or keras.Model, default=None
        scikeras' deprecated alias of ``model``.
    warm_start : bool, default=False
        If True, ``fit`` continues training the current model.
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, dropout and shuffling for reproducible
        fits, also while other fits run in other threads; no process-wide
        random state is changed. An int gives identical refits; a RandomState
        instance is consumed, one seed per fit, as in scikit-learn.
    optimizer : str, keras.optimizers.Optimizer or class, default="rmsprop"
        Used when the model is not already compiled.
    loss : str, keras.losses.Loss, class or callable, default=None
        Used when the model is not already compiled.
    metrics : list, default=None
        Keras metrics, used when the model is not already compiled.
    batch_size : int, default=None
        Batch size for training (Keras' default of 32 if None).
    validation_batch_size : int, default=None
        Batch size for validation data.
    verbose : int, default=0
        Keras' verbosity during ``fit``.
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
        Training batches per call into Keras' compiled train function.
        ``"auto"`` runs a whole epoch per call unless a callback implements a
        batch-level hook or the model was compiled with its own value: the
        trained weights are the same as with Keras' own loop, only faster on
        small data. Fits of several epochs also let Keras keep its input
        iterator from one epoch to the next (``steps_per_epoch``), and on
        TensorFlow its input pipeline is not autotuned. An int is passed to
        Keras as is, with the arrays; 1 is Keras' own one batch per call. See
        the performance guide.
    reuse_train_trace : bool, default=True
        On TensorFlow, train a freshly built model of Keras' own class and
        parts through a private copy of the same architecture whose train
        step is already traced, so that refits (folds of a search,
        cross-validation) skip Keras' tracing; the weights are the same as the
        model training itself.
        Callbacks see that copy as their ``model``. False: every model trains
        itself. See the performance guide.
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
        Run each training epoch as one compiled call (on JAX and
        TensorFlow): the data is held on the device, and the epoch's shuffle,
        batches and Keras' own train step for the model run in one call, with
        epoch-level callbacks between calls. On JAX the rows come in the
        order of Keras' own ``fit`` with the same seed, so the trained weights
        and ``history_`` are Keras', only faster, and a search compiles once
        per architecture; on TensorFlow they are Keras' with
        ``shuffle=False``, and a shuffled epoch takes its order from a
        generator of the fit's own, reproducible with ``random_state``. Fits
        this does not cover train with Keras' ``fit``: another backend, a
        callback with batch-level hooks, a model with its own ``train_step``
        or ``fit``, ``run_eagerly``, ``steps_per_execution`` other than
        ``"auto"``, sparse X, ``validation_split``, ``verbose`` other than 0,
        ``fit__class_weight``, ``fit__steps_per_epoch``. False: always Keras'
        ``fit``. See the performance guide.
    **kwargs : dict
        Routed parameters such as ``model__hidden=32`` or ``fit__epochs=5``.

    Attributes
    ----------
    model_ : keras.Model
        The trained Keras model.
    n_outputs_ : int
        Number of regression targets (columns of y).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Column names of X, when X was a DataFrame with string column names.
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
    target_type_ : {"continuous", "continuous-multioutput"}
        ``sklearn.utils.multiclass.type_of_target`` of the training y.
    n_outputs_expected_ : int
        Number of model outputs y asks for, as in scikeras.
    target_encoder_ : scikit-learn transformer
        The fitted encoder of y into the model's targets, as in scikeras.
    feature_encoder_ : scikit-learn transformer
        The fitted transformer of X into the model's inputs, as in scikeras.
    X_shape_ : tuple of int
        Shape of the X the estimator was fitted on.
    X_dtype_ : numpy.dtype
        Dtype of the X the estimator was fitted on.
    y_dtype_ : numpy.dtype
        Dtype of the y the estimator was fitted on.
    y_ndim_ : int
        Number of dimensions of that y.

    See Also
    --------
    KerasClassifier : The classification counterpart.

    Examples
    --------
    >>> import keras
    >>> from sklearn.datasets import load_diabetes
    >>> from skkeras_proba import KerasRegressor
    >>> X, y = load_diabetes(return_X_y=True)
    >>> def build(meta):
    ...     model = keras.Sequential([
    ...         keras.Input((meta["n_features_in_"],)),
    ...         keras.layers.Dense(meta["n_outputs_"]),
    ...     ])
    ...     model.compile("adam", "mse")
    ...     return model
    >>> reg = KerasRegressor(build, epochs=2, random_state=0).fit(X, y)
    >>> reg.predict(X[:3]).shape
    (3,)
    """

    _DEFAULT_TARGET_ENCODER = RegressorTargetEncoder

    def __init__(
        self,
        model: Callable[..., keras.Model] | keras.Model | None = None,
        *,
        build_fn: Callable[..., keras.Model] | keras.Model | None = None,
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
            steps_per_execution=steps_per_execution,
            reuse_train_trace=reuse_train_trace,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change,
            tol=tol,
            compile_epochs=compile_epochs,
            **kwargs,
        )

    def _check_y(self, y: Any) -> np.ndarray:
        y = np.asarray(y) if not hasattr(y, "iloc") else y.to_numpy()
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        return y

    def _validate_data(self, X=None, y=None, reset=False, y_numeric=True):
        return super()._validate_data(X, y, reset=reset, y_numeric=True)

    def _check_continuation(self, y: np.ndarray) -> None:
        """Reject a y whose targets differ from those the model was built for."""
        check_target_shape(y, self.y_ndim_, self.n_outputs_)

    @property
    def target_encoder(self) -> RegressorTargetEncoder:
        """The unfitted encoder of y: scikeras' own, or a subclass's.

        As in scikeras, a subclass may return its own scikit-learn transformer:
        ``transform(y)`` gives the Keras targets and ``inverse_transform``
        turns the model's outputs into predictions.
        """
        return RegressorTargetEncoder()

    def _set_target_metadata(self, y: np.ndarray) -> None:
        """Attributes a build function may read from ``meta`` (as scikeras)."""
        self.target_type_ = "continuous" if y.ndim == 1 else "continuous-multioutput"
        self._fit_target_encoder(y)

    def _bind_model(self, X: Any, y: np.ndarray) -> None:
        """Check that the model's output units cover y's targets."""
        if self._custom_target_encoder:  # its encoding is not ours to check
            self._check_expected_outputs()
            return
        try:
            units = [int(t.shape[-1]) for t in self.model_.outputs]
        except AttributeError:  # subclassed model: run it once
            units = self._probe_output_units(X)
        if sum(units) != self.n_outputs_:
            raise ValueError(
                f"The model's outputs {output_names(self.model_)} have {sum(units)} "
                f"units in all, but y has {self.n_outputs_} targets. End the model "
                f"with Dense({self.n_outputs_})."
            )
        self._output_units = units

    def _keras_targets(self, y: np.ndarray) -> list[np.ndarray]:
        if self._custom_target_encoder:
            return self._custom_keras_targets(y)
        y = y.reshape(len(y), -1).astype(np.float32)
        bounds = np.cumsum(self._output_units)[:-1]
        return np.split(y, bounds, axis=1)

    def predict(self, X: Any, **kwargs: Any) -> np.ndarray:
        """Predicted targets.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Inputs.
        **kwargs : dict
            Arguments of ``keras.Model.predict``, forwarded as scikeras does:
            ``batch_size`` is honoured by the fast forward pass; ``verbose``,
            ``steps`` or ``callbacks`` run Keras' own ``predict`` loop.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_targets)
            Float64, as scikit-learn's regressors (scikeras returns Keras'
            float type), shaped like the training y.
        """
        if self._custom_target_encoder:
            return super().predict(X, **kwargs)  # its inverse_transform
        (y_pred,) = self._predict_outputs(X, _as_target_columns, kwargs)
        return y_pred[:, 0] if self.n_outputs_ == 1 else y_pred

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> Any:
        """R², or what a subclass's ``scorer`` returns.

        As in scikeras: ``scorer(y, predict(X), sample_weight=...,
        **score_params)``, with the ``score__<name>`` parameters of the
        estimator as ``score_params`` (``score__multioutput="raw_values"``
        gives one R² per target); rows of zero weight are left out.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Inputs.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            True targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        Returns
        -------
        score : float or ndarray of shape (n_targets,)
            What :meth:`scorer` returns.
        """
        # RegressorMixin.score comes first in the MRO and knows no scorer.
        return self._score(X, y, sample_weight)

    @staticmethod
    def scorer(y_true: Any, y_pred: Any, **kwargs: Any) -> Any:
        """The coefficient of determination, ``sklearn.metrics.r2_score``.

        ``score`` calls it; override it in a subclass to score otherwise, as
        in scikeras.

        Parameters
        ----------
        y_true : array-like of shape (n_samples,) or (n_samples, n_targets)
            True targets.
        y_pred : array-like of shape (n_samples,) or (n_samples, n_targets)
            Predicted targets.
        **kwargs : dict
            Passed to ``r2_score`` (``sample_weight``, ``multioutput``).

        Returns
        -------
        score : float or ndarray of shape (n_targets,)
            R², averaged over targets unless ``multioutput`` says otherwise.
        """
        return r2_score(y_true, y_pred, **kwargs)


def _as_target_columns(raw: list[np.ndarray]) -> list[np.ndarray]:
    """Every head's outputs side by side, as float64.

    scikit-learn's regressors predict float64 (its estimator checks require
    it for multi-output); scikeras returns Keras' float type.
    """
    columns = np.column_stack([r.reshape(len(r), -1) for r in raw])
    return [columns.astype(np.float64)]
