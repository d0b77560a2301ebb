"""KerasClassifier: a Keras model as a scikit-learn classifier.

``fit`` and ``from_trained`` bind the same way: ``_validate_data`` and
``_set_feature_metadata`` set the feature side, ``_set_target_metadata`` fits
``target_encoder_`` and merges its metadata, ``_bind_heads`` binds the
model's heads to its classes; ``from_trained`` runs them on an X and y of one
row per class, its classes in unit order.

``partial_fit(classes=...)`` gives the classes to the encoder's ``fit`` as an
argument, from ``_set_target_metadata``. Between the two stands scikeras'
``_initialize(X, y)`` hook, which subclasses override calling
``super()._initialize(X, y)``: an argument added to it would be dropped by
those overrides, so the classes cross it as ``_partial_fit_classes``, set for
the duration of that ``partial_fit`` call only (saved files of earlier
versions hold it as None, which loads and is ignored).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from numbers import Integral
from typing import Any

import keras
import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.metrics import accuracy_score
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d

from skkeras_proba import _decode, _proba, _targets
from skkeras_proba._base import BaseWrapper
from skkeras_proba._compat import Interval, StrOptions
from skkeras_proba._encoders import ClassifierTargetEncoder, label_type
from skkeras_proba._forward import Decode, Forward
from skkeras_proba._forward._mc_dropout import check_has_dropout, passes_seed
from skkeras_proba._heads import (
    READ_PRE_ACTIVATION,
    Head,
    LogitsOption,
    inspect_heads,
    reading_model,
    resolve_heads,
    warn_on_loss_mismatch,
)
from skkeras_proba._incremental import (
    check_indicator,
    check_known_labels,
    check_same_classes,
    check_target_shape,
)

_ROWS_TO_DECIDE_HEADS = 1000
_ONE_COLUMN_KINDS = (_targets.BINARY, _targets.MULTICLASS)


def _labels_of(classes: list[np.ndarray], multilabel: bool) -> np.ndarray:
    """A y holding every class, shaped as ``fit``'s y for these heads."""
    if multilabel and len(classes) == 1:
        return np.eye(len(classes[0]), dtype=int)  # one row per label
    if len(classes) == 1:
        return classes[0]
    rows = max(len(column) for column in classes)
    kinds = {column.dtype.kind for column in classes}
    # column_stack would turn mixed labels (e.g. str and int) into strings.
    dtype = np.result_type(*classes) if len(kinds) == 1 else object
    return np.column_stack([np.resize(c, rows).astype(dtype) for c in classes])


def _uses_own_target_encoding(clf: KerasClassifier) -> bool:
    """False once fitted with a subclass's ``target_encoder``: its encoder
    decodes labels and probabilities, and decision values are not defined."""
    return not clf._custom_target_encoder


class KerasClassifier(ClassifierMixin, BaseWrapper):
    """A Keras model as a scikit-learn classifier, with correct probabilities.

    A drop-in replacement for ``scikeras.wrappers.KerasClassifier``: the same
    parameters and routing (``model__*``, ``fit__*``, ``predict__*``,
    ``optimizer__*``, ``loss__*``, build functions taking ``meta`` and
    ``compile_kwargs``). On top, each output head of the model is inspected at
    fit time -- probabilities or logits, softmax or sigmoid -- and
    ``predict_proba`` always returns probabilities whose rows sum to one.

    Parameters
    ----------
    model : callable or keras.Model, default=None
        A function returning a (compiled) Keras model, or a model instance. An
        instance is cloned with fresh weights for every fit; the object passed
        is never trained.
    build_fn : callable or keras.Model, default=None
        scikeras' deprecated alias of ``model``.
    logits : "auto", bool or list of those, default="auto"
        Whether the model outputs logits (True) or probabilities (False).
        ``"auto"`` decides per head: a compiled loss with ``from_logits=True``
        means logits, otherwise the activation producing the output decides.
        Give a list for one value per output head.
    mc_dropout : int, default=0
        Monte Carlo dropout: the number of stochastic forward passes, with
        the model's ``Dropout`` layers active (and nothing else: batch
        normalisation stays in inference mode), whose probabilities
        ``predict_proba`` averages. ``predict``, ``predict_log_proba`` and
        ``decision_function`` follow the averaged probabilities;
        :meth:`predict_proba_passes` returns the passes themselves. The masks
        are drawn from ``random_state``. 0 switches it off. The model must
        contain ``Dropout`` layers; the passes run on a copy of it, so its
        weights are held twice in memory.
    class_weight : dict, list of dict, "balanced" or None, default=None
        Weights per class, folded into ``sample_weight`` (never in place);
        a list holds one dict per output of a multi-output y.
    warm_start : bool, default=False
        If True, ``fit`` continues training the current model.
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, dropout and shuffling for reproducible
        fits, and the dropout masks of ``mc_dropout`` passes, also while other
        fits run in other threads; no process-wide random state is changed. An
        int gives identical refits; a RandomState instance is consumed, one
        seed per fit, as in scikit-learn.
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
        Routed parameters such as ``model__hidden=32``, ``fit__epochs=5``,
        ``predict__batch_size=1024`` or ``optimizer__learning_rate=0.01``.

    Attributes
    ----------
    model_ : keras.Model
        The trained Keras model.
    heads_ : tuple of Head
        One description per output head: units, link, whether it emits logits
        and why (``source``).
    classes_ : ndarray of shape (n_classes,) or list of ndarray
        Class labels; for a multi-output model, one array per head. For
        multi-label targets, the label indices.
    n_classes_ : int or list of int
        Number of classes (per head for multi-output models).
    target_type_ : str
        ``sklearn.utils.multiclass.type_of_target`` of the training y.
    n_features_in_ : int
        Number of features (size of the second axis of X) seen during fit.
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
    target_kind_ : {"binary", "multiclass", "multilabel", "multioutput"} or None
        How y is encoded for the model: one column of labels (two classes or
        more), a 0/1 indicator matrix, or one column of labels per output
        head; None when a subclass's ``target_encoder`` encodes y.
    n_outputs_ : int
        Number of columns of y.
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
    KerasRegressor : The regression counterpart.

    Examples
    --------
    >>> import keras
    >>> from sklearn.datasets import load_iris
    >>> from skkeras_proba import KerasClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> def build(meta):
    ...     model = keras.Sequential([
    ...         keras.Input((meta["n_features_in_"],)),
    ...         keras.layers.Dense(meta["n_classes_"]),  # logits
    ...     ])
    ...     model.compile("adam", keras.losses.SparseCategoricalCrossentropy(
    ...         from_logits=True))
    ...     return model
    >>> clf = KerasClassifier(build, epochs=2, random_state=0).fit(X, y)
    >>> clf.heads_[0].logits
    True
    >>> clf.predict_proba(X[:2]).sum(axis=1).round(6)
    array([1., 1.])
    """

    _DEFAULT_TARGET_ENCODER = ClassifierTargetEncoder
    _parameter_constraints: dict = {
        **BaseWrapper._parameter_constraints,
        "logits": [StrOptions({"auto"}), "boolean", list, tuple],
        "mc_dropout": [Interval(Integral, 0, None, closed="left")],
        "class_weight": [dict, list, StrOptions({"balanced"}), None],
    }

    def __init__(
        self,
        model: Callable[..., keras.Model] | keras.Model | None = None,
        *,
        build_fn: Callable[..., keras.Model] | keras.Model | None = None,
        logits: LogitsOption | Sequence[LogitsOption] = "auto",
        mc_dropout: int = 0,
        class_weight: dict | str | None = None,
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
        self.logits = logits
        self.mc_dropout = mc_dropout
        self.class_weight = class_weight

    @property
    def _fit_kwargs(self) -> set[str]:
        # class_weight is folded into sample_weight, not passed to Keras.
        return BaseWrapper._fit_kwargs - {"class_weight"}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags

    @classmethod
    def from_trained(
        cls,
        model: keras.Model,
        classes: Any,
        *,
        logits: LogitsOption | Sequence[LogitsOption] = "auto",
        multilabel: bool = False,
    ) -> KerasClassifier:
        """Wrap an already trained Keras model as a fitted classifier.

        Parameters
        ----------
        model : keras.Model
            A trained Functional or Sequential model; it is used as is.
        classes : array-like or list of array-like
            The labels the output units stand for, in unit order; one
            array-like per head for a model with several outputs.
        logits : "auto", bool or list of those, default="auto"
            As for the constructor.
        multilabel : bool, default=False
            Whether a single sigmoid head predicts independent labels.

        Returns
        -------
        classifier : KerasClassifier
            Fitted: ``predict``, ``predict_proba``, ``decision_function`` and
            ``score`` work at once. ``fit`` trains a fresh clone of ``model``.
        """
        clf = cls(model=model, logits=logits)
        clf._validate_params()
        heads = inspect_heads(model, logits)
        undecided = [h.name for h in heads if h.logits is None]
        if undecided:
            raise ValueError(
                f"Cannot tell whether outputs {undecided} emit probabilities or "
                "logits from the model's graph, and there is no training data to "
                "look at. Pass logits=True or logits=False."
            )
        per_head = [classes] if len(heads) == 1 else list(classes)
        given = [np.asarray(c) for c in per_head]
        # fit's binding path, on an X and y of one row per class: the model is
        # used as it is (neither built nor compiled) and never trained.
        input_shape = tuple(model.inputs[0].shape)
        y = _labels_of(given, multilabel)
        shape = (len(y), *(d or 1 for d in input_shape[1:]))
        X = np.zeros(shape, model.inputs[0].dtype)
        X, y = clf._validate_data(X, clf._check_y(y), reset=True)
        clf.X_shape_ = input_shape  # no samples were seen: (None, ...)
        clf._set_target_metadata(y, classes=given)
        clf._set_feature_metadata(X)
        clf.model_ = model
        clf._bind_heads(heads, y)
        clf._forward = clf._new_forward()
        return clf

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
            Class labels; a 0/1 indicator matrix for multi-label targets, or
            one column per output head for a multi-output model.
        sample_weight : array-like of shape (n_samples,), default=None
            Per-sample weights; samples with zero weight are left out.
        **kwargs : dict
            Passed to ``keras.Model.fit``; prefer ``fit__<name>`` parameters.

        Returns
        -------
        self : KerasClassifier
            The fitted classifier.
        """
        return super().fit(X, y, sample_weight=sample_weight, **kwargs)

    def partial_fit(
        self,
        X: Any,
        y: Any,
        classes: Any = None,
        sample_weight: Any = None,
        **kwargs: Any,
    ):
        """Train for one more epoch, building the model on the first call.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training inputs.
        y : array-like of shape (n_samples,)
            Class labels.
        classes : array-like of shape (n_classes,), default=None
            All classes that will ever be seen; needed on the first call when
            that call's y does not contain every class.
        sample_weight : array-like of shape (n_samples,), default=None
            Per-sample weights.
        **kwargs : dict
            Passed to ``keras.Model.fit``.

        Returns
        -------
        self : KerasClassifier
            The classifier, trained one epoch further.
        """
        if self.__sklearn_is_fitted__():
            if classes is not None and self.target_kind_ in _ONE_COLUMN_KINDS:
                check_same_classes(classes, self._head_classes[0])  # before training
            return super().partial_fit(X, y, sample_weight=sample_weight, **kwargs)
        # Carried across scikeras' _initialize(X, y) hook to _set_target_metadata
        # (see the module docstring), and never left behind.
        self._partial_fit_classes = classes
        try:
            return super().partial_fit(X, y, sample_weight=sample_weight, **kwargs)
        finally:
            del self._partial_fit_classes

    @property
    def target_encoder(self) -> ClassifierTargetEncoder:
        """The unfitted encoder that learns the classes of y (scikeras' hook).

        A subclass may return its own scikit-learn transformer, as in scikeras:
        its ``fit(y)`` and ``get_metadata()`` feed ``meta``, ``transform(y)``
        gives the Keras targets, and ``inverse_transform(outputs,
        return_proba=...)`` turns the model's outputs (probabilities, also for
        logits heads) into labels or probabilities.
        """
        return ClassifierTargetEncoder()

    def _check_y(self, y: Any) -> np.ndarray:
        y = np.asarray(y) if not hasattr(y, "iloc") else y.to_numpy()
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if y.ndim == 2 and y.dtype == object:
            # type_of_target sorts all of y at once, which fails for columns of
            # different label types (e.g. str and int): check column by column.
            for column in y.T:
                check_classification_targets(np.asarray(column.tolist()))
        else:
            check_classification_targets(y)
        return y

    def _stratify_labels(self, y: np.ndarray) -> np.ndarray | None:
        """Labels of a single-output y; a multi-output y is split shuffled."""
        return y if y.ndim == 1 else None

    def _check_continuation(self, y: np.ndarray) -> None:
        """Reject a y the fitted model has no output units for."""
        check_target_shape(y, self.y_ndim_, self.n_outputs_)
        if self._custom_target_encoder:
            return  # its transform checks the labels, as in scikeras
        if self.target_kind_ == _targets.MULTILABEL:
            check_indicator(y)
        else:
            check_known_labels(y, self._head_classes)

    def _set_target_metadata(
        self, y: np.ndarray, classes: list[np.ndarray] | None = None
    ) -> None:
        """Attributes a build function may read from ``meta`` (as scikeras).

        ``classes``, one array per column of y in the order of the model's
        units, are given to our encoder's ``fit`` (``from_trained``'s, or
        ``partial_fit``'s sorted); a subclass's encoder learns from y alone,
        as in scikeras.
        """
        self.target_type_ = label_type(y)
        given = getattr(self, "_partial_fit_classes", None)
        if classes is None and given is not None and y.ndim == 1:
            classes = [np.unique(np.asarray(given))]
        encoder = self.target_encoder
        if classes is not None and type(encoder) is ClassifierTargetEncoder:
            self.target_encoder_ = encoder.fit(y, classes=classes)
        else:
            self.target_encoder_ = encoder.fit(y)
        vars(self).update(getattr(self.target_encoder_, "get_metadata", dict)())

    def _bind_model(self, X: Any, y: np.ndarray) -> None:
        """Inspect the built model's heads and check them against y."""
        output_units = None
        if not hasattr(self.model_, "outputs"):  # subclassed: run it once
            output_units = self._probe_output_units(X)
        heads = inspect_heads(self.model_, self.logits, output_units=output_units)
        if self._custom_target_encoder:  # its encoding is not ours to check
            self.heads_ = tuple(heads)
            self.target_kind_ = None  # the encoder decodes predictions
            self._check_expected_outputs()
            return
        self._bind_heads(heads, y)
        warn_on_loss_mismatch(self.heads_)
        if self.mc_dropout:  # before training, not at the first prediction
            check_has_dropout(self.model_, self.mc_dropout)

    def _bind_heads(self, heads: Sequence[Head], y: np.ndarray) -> None:
        """Bind the heads to the classes ``target_encoder_`` learnt from y."""
        kind = _targets.target_kind(y, self.target_type_, len(heads))
        classes = self.target_encoder_.column_classes_
        if kind == _targets.MULTIOUTPUT and self.target_encoder_.multilabel_:
            # A 0/1 y looks multi-label until the model shows one head per column.
            self.target_type_ = "multiclass-multioutput"
            if len(classes) != len(heads):  # not given per head: learnt from y
                classes = _targets.column_classes(y, kind)
        self._bind(heads, classes, kind)

    def _bind(self, heads: Sequence[Head], classes: list[np.ndarray], kind: str):
        if len(classes) != len(heads):
            raise ValueError(
                f"Got {len(classes)} sets of classes for a model with "
                f"{len(heads)} outputs; give one per output."
            )
        _targets.check_enough_classes(classes, kind)
        for head, head_classes in zip(heads, classes, strict=True):
            _targets.check_head_units(head, head_classes, kind)
        self.heads_ = tuple(heads)
        self.target_kind_ = kind
        self._head_classes = classes
        self._set_classes(classes, kind)

    def _set_classes(self, classes: list[np.ndarray], kind: str) -> None:
        """``classes_`` and ``n_classes_``: one entry per head if multi-output."""
        multioutput = kind == _targets.MULTIOUTPUT
        self.classes_ = classes if multioutput else classes[0]
        self.n_classes_ = [len(c) for c in classes] if multioutput else len(classes[0])

    def _new_forward(self) -> Forward:
        # Softmax/sigmoid heads are read before their activation (exact tails).
        return Forward(self.model_, functools.partial(reading_model, heads=self.heads_))

    def _run_forward(
        self, X: Any, batch_size: int | None, decode: Decode | None
    ) -> list[np.ndarray]:
        if not self.mc_dropout:
            return self._forward(X, batch_size, decode)
        average = functools.partial(
            _decode.average_passes, heads=self.heads_, kind=self.target_kind_
        )
        return self._forward.averaged(
            X, self.mc_dropout, self._mc_seed(), average, batch_size, decode
        )

    def _keras_predict(
        self, features: Any, decode: Decode | None, keras_kwargs: dict[str, Any]
    ) -> list[np.ndarray]:
        if self.mc_dropout:
            raise ValueError(
                "verbose, steps, callbacks or a callback with predict hooks ask for "
                "Keras' own predict loop, which runs one pass without dropout, but "
                f"mc_dropout={self.mc_dropout} averages passes with dropout. Leave "
                "those predict arguments out, or set mc_dropout=0."
            )
        outputs = super()._keras_predict(features, None, keras_kwargs)
        # Keras' loop gives the model's outputs; heads read before their
        # activation expect scores, so the activation is inverted (its float32
        # tails stay: exact tails need the traced reading of the fast path).
        scores = [
            _proba.scores_of(output, link=head.link)
            if head.read_from == READ_PRE_ACTIVATION
            else output
            for output, head in zip(outputs, self.heads_, strict=True)
        ]
        return scores if decode is None else decode(scores)

    def _mc_seed(self) -> int:
        return passes_seed(self.random_state)

    def _keras_targets(self, y: np.ndarray) -> list[np.ndarray]:
        if self._custom_target_encoder:
            return self._custom_keras_targets(y)
        return _targets.encode(y, self._head_classes, self.heads_, self.target_kind_)

    def _after_training(self, X: Any) -> None:
        if any(head.logits is None for head in self.heads_):
            raw = self._forward_unchecked(X[:_ROWS_TO_DECIDE_HEADS])
            self.heads_ = resolve_heads(self.heads_, raw)

    def _per_head(
        self, X: Any, decode: Callable, predict_kwargs: dict[str, Any]
    ) -> list[np.ndarray]:
        """``decode(raw, head, target_kind_)`` of every head, batch by batch."""

        def decode_batch(raw: list[np.ndarray]) -> list[np.ndarray]:
            return [
                decode(r.reshape(len(r), -1), head, self.target_kind_)
                for r, head in zip(raw, self.heads_, strict=True)
            ]

        return self._predict_outputs(X, decode_batch, predict_kwargs)

    def _labels(self, raw: list[np.ndarray]) -> list[np.ndarray]:
        """One batch's labels, one array per head."""
        kind = self.target_kind_
        return [
            _decode.head_labels(
                _decode.head_proba(r.reshape(len(r), -1), head, kind), classes, kind
            )
            for r, head, classes in zip(
                raw, self.heads_, self._head_classes, strict=True
            )
        ]

    def _head_outputs(self, raw: list[np.ndarray]) -> list[np.ndarray]:
        """One batch's outputs as probability heads would emit them."""
        return [
            _proba.activate(
                r.reshape(len(r), -1), link=h.link, logits=h.reads_logits
            ).reshape(r.shape)
            for r, h in zip(raw, self.heads_, strict=True)
        ]

    def _predict_raw(self, X: Any, **kwargs: Any) -> Any:
        """The outputs of probability heads (logits heads' activated), as
        scikeras' hook returns them: one array, or a list for several heads."""
        outputs = self._predict_outputs(X, self._head_outputs, kwargs)
        return outputs[0] if len(outputs) == 1 else outputs

    def _custom_encoder_predictions(
        self, X: Any, predict_kwargs: dict[str, Any], return_proba: bool
    ) -> Any:
        """Labels or probabilities from a subclass's ``target_encoder_``."""
        outputs = self._predict_raw(X, **predict_kwargs)
        if return_proba:
            return self.target_encoder_.inverse_transform(outputs, return_proba=True)
        return self.target_encoder_.inverse_transform(outputs)

    def _single_or_list(self, per_head: list[np.ndarray]) -> Any:
        return per_head if self.target_kind_ == _targets.MULTIOUTPUT else per_head[0]

    def predict_proba(self, X: Any, **kwargs: Any) -> np.ndarray | list[np.ndarray]:
        """Class probabilities for X.

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
        proba : ndarray of shape (n_samples, n_classes) or list of ndarray
            Column ``j`` is the probability of ``classes_[j]``; rows sum to
            one, also for one-unit sigmoid and logits heads. For multi-label
            targets, independent per-label probabilities of shape
            (n_samples, n_labels); for multi-output models, one array per head.
        """
        if self._custom_target_encoder:
            return self._custom_encoder_predictions(X, kwargs, return_proba=True)
        return self._single_or_list(self._per_head(X, _decode.head_proba, kwargs))

    def predict_log_proba(self, X: Any, **kwargs: Any) -> np.ndarray | list[np.ndarray]:
        """Log of class probabilities, computed stably from logits.

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
        log_proba : ndarray of shape (n_samples, n_classes) or list of ndarray
            Same layout as :meth:`predict_proba`.
        """
        if self._custom_target_encoder:
            with np.errstate(divide="ignore"):
                return np.log(self.predict_proba(X, **kwargs))
        return self._single_or_list(self._per_head(X, _decode.head_log_proba, kwargs))

    @available_if(_uses_own_target_encoding)
    def decision_function(self, X: Any, **kwargs: Any) -> np.ndarray | list[np.ndarray]:
        """Logits: confidence scores per class.

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
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
            For two classes, the log-odds of ``classes_[1]``; otherwise the
            per-class logits (log-probabilities for probability heads). For
            multi-label targets, per-label log-odds.
        """
        return self._single_or_list(self._per_head(X, _decode.head_decision, kwargs))

    def predict_proba_passes(self, X: Any) -> np.ndarray | list[np.ndarray]:
        """Class probabilities of each Monte Carlo dropout pass.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        proba : ndarray of shape (n_passes, n_samples, n_classes) or list
            ``proba[i]`` is what :meth:`predict_proba` would return from pass
            ``i`` alone (``n_passes = mc_dropout``); their mean over the first
            axis is :meth:`predict_proba`. For multi-output models, one array
            per head.

        Notes
        -----
        With ``p = predict_proba_passes(X)`` and ``H(q) = -sum(q * log(q))``
        over classes, the predictive entropy ``H(p.mean(axis=0))`` is the
        total uncertainty of a prediction, and the mutual information
        ``H(p.mean(axis=0)) - H(p).mean(axis=0)`` is the part due to the
        model's uncertainty about its weights (passes disagreeing), which
        grows on inputs unlike the training data.
        """
        if not self.mc_dropout:
            raise ValueError(
                "predict_proba_passes needs Monte Carlo dropout, but mc_dropout=0. "
                "Set mc_dropout to the number of passes, e.g. "
                "clf.set_params(mc_dropout=30)."
            )
        check_is_fitted(self)
        X, _ = self._validate_data(X, reset=False)
        per_head = self._forward.passes(
            self._encode_features(X),
            self.mc_dropout,
            self._mc_seed(),
            self._routed_batch_size(X),
            functools.partial(
                _decode.proba_per_pass, heads=self.heads_, kind=self.target_kind_
            ),
        )
        return self._single_or_list([np.swapaxes(p, 0, 1) for p in per_head])

    def predict(self, X: Any, **kwargs: Any) -> np.ndarray:
        """Predicted labels, in the label space of the training y.

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
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            The most probable class; for multi-label targets the 0/1 indicator
            matrix (threshold 0.5); for multi-output models one column per head.
        """
        if self._custom_target_encoder:
            return self._custom_encoder_predictions(X, kwargs, return_proba=False)
        labels = self._predict_outputs(X, self._labels, kwargs)
        if self.target_kind_ != _targets.MULTIOUTPUT:
            return labels[0]
        dtypes = {column.dtype for column in labels}
        # column_stack would turn mixed labels (e.g. str and int) into strings.
        dtype = dtypes.pop() if len(dtypes) == 1 else object
        return np.column_stack([column.astype(dtype) for column in labels])

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Mean accuracy, or what a subclass's ``scorer`` returns.

        As in scikeras: ``scorer(y, predict(X), sample_weight=...,
        **score_params)``, with the ``score__<name>`` parameters of the
        estimator as ``score_params``; rows of zero weight are left out.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Inputs.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            True labels.
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        Returns
        -------
        score : float
            Fraction of samples whose every label is predicted correctly
            (see :meth:`scorer`).
        """
        # ClassifierMixin.score comes first in the MRO and knows no scorer.
        return self._score(X, y, sample_weight)

    @staticmethod
    def scorer(y_true: Any, y_pred: Any, **kwargs: Any) -> float:
        """Accuracy; for several columns of labels, the subset accuracy.

        ``score`` calls it; override it in a subclass to score otherwise, as
        in scikeras. ``sklearn.metrics.accuracy_score`` for one column of
        labels and for multi-label targets; for several columns of classes
        (multi-output), which it rejects, the fraction of rows whose every
        label is right, computed by it on per-row correctness so that its
        arguments (``sample_weight``, ``normalize``) keep their meaning.

        Parameters
        ----------
        y_true : array-like of shape (n_samples,) or (n_samples, n_outputs)
            True labels.
        y_pred : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Predicted labels.
        **kwargs : dict
            Passed to ``accuracy_score``.

        Returns
        -------
        score : float
            The accuracy.
        """
        y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
        if y_true.ndim == 2 and label_type(y_true) == "multiclass-multioutput":
            correct = np.all(y_true == y_pred, axis=1)
            y_true, y_pred = np.ones_like(correct), correct
        return accuracy_score(y_true, y_pred, **kwargs)
