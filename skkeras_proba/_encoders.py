"""The classifier's default ``target_encoder``, in scikeras' encoder interface.

scikeras fits ``est.target_encoder`` on y before the model is built, merges its
``get_metadata()`` into the estimator (so build functions read ``classes_``,
``n_classes_``, ... from ``meta``), keeps the fitted encoder as
``target_encoder_`` for incremental fits, and lets subclasses override the
property to encode y their own way. :class:`ClassifierTargetEncoder` is what
``KerasClassifier.target_encoder`` returns unless a subclass overrides it: it
learns the classes of each column of y. How y is then encoded for each output
head depends on the loss the built model was compiled with, which only the
estimator knows (see ``_targets.encode``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_is_fitted

from skkeras_proba import _targets


class ClassifierTargetEncoder(TransformerMixin, BaseEstimator):
    """Class labels of each column of y, and their integer codes.

    Parameters
    ----------
    classes : array-like of shape (n_classes,), default=None
        Every class a 1-d y will ever hold, sorted when fitted; None learns
        them from y. ``KerasClassifier`` passes classes to :meth:`fit`
        instead; the parameter stays for encoders saved with it.

    Attributes
    ----------
    target_type_ : str
        ``type_of_target`` of y (of ``classes`` when given).
    column_classes_ : list of ndarray
        Classes of each column of y, sorted unless given to :meth:`fit`; for
        a multi-label y, the label indices unless given.
    multilabel_ : bool
        Whether y is a 0/1 indicator matrix.
    classes_ : ndarray or list of ndarray
        ``column_classes_[0]``, or the whole list for several columns of labels.
    n_classes_ : int or list of int
        Number of classes, per column for several columns of labels.
    n_outputs_ : int
        Number of columns of y.
    n_outputs_expected_ : int
        Number of model outputs y asks for: one per column of labels.
    """

    def __init__(self, classes: Any = None) -> None:
        self.classes = classes

    def fit(
        self, y: np.ndarray, classes: Sequence[Any] | None = None
    ) -> ClassifierTargetEncoder:
        """Learn the classes of y; raise if a column holds fewer than two.

        Parameters
        ----------
        y : ndarray of shape (n_samples,) or (n_samples, n_columns)
            Class labels, or a 0/1 indicator matrix.
        classes : list of array-like, default=None
            The classes of each column of y, kept in the order given (the
            order of the model's output units); for a multi-label y, one
            array naming its labels. None: the ``classes`` parameter (sorted),
            else the sorted classes of y.

        Returns
        -------
        self : ClassifierTargetEncoder
        """
        y = np.asarray(y)
        self.target_type_ = label_type(y)
        self.multilabel_ = self.target_type_ == "multilabel-indicator"
        kind = _targets.MULTILABEL if self.multilabel_ else _targets.MULTICLASS
        if y.ndim == 2 and not self.multilabel_:
            kind = _targets.MULTIOUTPUT
        if classes is None and self.classes is not None and y.ndim == 1:
            classes = [np.unique(np.asarray(self.classes))]
        if classes is None:
            classes = _targets.column_classes(y, kind)
        else:
            classes = [np.asarray(column) for column in classes]
            if y.ndim == 1:
                _check_given_classes(classes[0], y)
                self.target_type_ = type_of_target(classes[0])
        _targets.check_enough_classes(classes, kind)  # before building a model
        self.column_classes_ = classes
        several = kind == _targets.MULTIOUTPUT
        self.classes_ = classes if several else classes[0]
        self.n_classes_ = [len(c) for c in classes] if several else len(classes[0])
        self.n_outputs_ = 1 if y.ndim == 1 else y.shape[1]
        self.n_outputs_expected_ = len(classes) if several else 1
        return self

    def transform(self, y: np.ndarray) -> np.ndarray:
        """Integer class codes, column by column; an indicator y as it is.

        Parameters
        ----------
        y : ndarray of shape (n_samples,) or (n_samples, n_columns)

        Returns
        -------
        codes : ndarray of int, shaped like y
        """
        check_is_fitted(self)
        y = np.asarray(y)
        if self.multilabel_:
            return y.astype(int)
        columns = [y] if y.ndim == 1 else list(y.T)
        codes = [
            _targets.class_codes(column, classes)
            for column, classes in zip(columns, self.column_classes_, strict=True)
        ]
        return codes[0] if y.ndim == 1 else np.column_stack(codes)

    def inverse_transform(self, codes: np.ndarray) -> np.ndarray:
        """Labels from integer codes: the inverse of :meth:`transform`."""
        check_is_fitted(self)
        codes = np.asarray(codes)
        if self.multilabel_:
            return codes
        if codes.ndim == 1:
            return self.column_classes_[0][codes]
        return np.column_stack(
            [c[column] for c, column in zip(self.column_classes_, codes.T, strict=True)]
        )

    def get_metadata(self) -> dict[str, Any]:
        """What the estimator exposes to build functions through ``meta``."""
        check_is_fitted(self)
        return {
            "target_type_": self.target_type_,
            "classes_": self.classes_,
            "n_classes_": self.n_classes_,
            "n_outputs_": self.n_outputs_,
            "n_outputs_expected_": self.n_outputs_expected_,
        }


def _check_given_classes(classes: np.ndarray, y: np.ndarray) -> None:
    """Raise if y holds labels that are not in the given classes."""
    unseen = np.setdiff1d(y, classes)
    if unseen.size:
        raise ValueError(
            f"y contains labels {unseen[:10].tolist()} that are not in "
            f"classes={classes[:10].tolist()}. Pass every label to classes=."
        )


def label_type(y: np.ndarray) -> str:
    """``type_of_target``, also for object y whose columns hold different types."""
    if y.ndim == 2 and y.dtype == object:
        return "multiclass-multioutput"
    return type_of_target(y)
