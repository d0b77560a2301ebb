"""Early stopping on a hold-out part of the training rows, as scikit-learn does.

Keras' ``validation_split`` validates on the last rows of X, taken before any
shuffle: on data sorted by class (``load_wine``, many CSV exports) those rows
are all of one class, which the model never trains on. ``early_stopping=True``
holds out ``validation_fraction`` of the rows instead, stratified by class for
a single-output classifier, shuffled with ``random_state`` otherwise, as
``MLPClassifier`` does; the fit passes them to Keras as ``validation_data``,
so the validation loss is Keras' compiled loss with the hold-out's sample
weights. :class:`BestEpoch` stops training after ``n_iter_no_change`` epochs
without an improvement of more than ``tol`` and keeps the weights of the best
epoch, which the fit puts back even when the epochs run out.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import keras
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils.validation import check_consistent_length

from skkeras_proba._common import user_stacklevel
from skkeras_proba._compat import num_samples

VALIDATION_LOSS = "val_loss"


def fit_holdout(
    X: Any,
    y: Any,
    labels: np.ndarray | None,
    *,
    early_stopping: bool,
    validation_fraction: float,
    random_state: int | np.random.RandomState | None,
    validation_split: float | None,
    validation_data: Any,
) -> tuple[np.ndarray, np.ndarray] | None:
    """The rows of a fit's early-stopping split, or None without early stopping.

    Checked before anything is built or changed. Without early stopping, warns
    when Keras' ``validation_split`` tail misrepresents the classes.

    Parameters
    ----------
    X, y : array-like
        The fit's rows, not validated yet; y may be None.
    labels : ndarray of shape (n_rows,) or None
        Labels to stratify by (``_stratify_labels``); None: a shuffled split.
    early_stopping, validation_fraction, random_state : as the estimator's
        Its parameters of those names.
    validation_split, validation_data : as Keras' ``fit`` gets them
        The fit's own validation settings, which early stopping excludes.

    Returns
    -------
    (train, validation) or None
        Sorted row indices of each part (see :func:`holdout_indices`).
    """
    if not early_stopping:
        warn_if_tail_lacks_classes(labels, validation_split)
        return None
    if y is not None:
        check_consistent_length(X, y)
    if validation_split or validation_data is not None:
        raise ValueError(
            "early_stopping=True validates on a hold-out of "
            f"validation_fraction={validation_fraction!r} of the rows, so the fit "
            "takes no validation_split or validation_data of its own. Drop those, "
            "or set early_stopping=False."
        )
    return holdout_indices(num_samples(X), labels, validation_fraction, random_state)


def holdout_indices(
    n_rows: int,
    labels: np.ndarray | None,
    fraction: float,
    random_state: int | np.random.RandomState | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of the training part and of the validation part.

    Parameters
    ----------
    n_rows : int
        Rows the fit was given.
    labels : ndarray of shape (n_rows,) or None
        Class labels to stratify by (a single-output classifier's y); None
        for a shuffled split.
    fraction : float
        ``validation_fraction``: the share of rows held out, rounded up.
    random_state : int, RandomState instance or None
        The estimator's ``random_state``: an int gives the same split on
        every fit.

    Returns
    -------
    train, validation : ndarray of int
        Sorted row indices; together, every row once.
    """
    n_validation = math.ceil(fraction * n_rows)
    _check_sizes(n_rows, n_validation, labels, fraction)
    train, validation = train_test_split(
        np.arange(n_rows),
        test_size=n_validation,
        stratify=labels,
        random_state=random_state,
    )
    return np.sort(train), np.sort(validation)


def _check_sizes(
    n_rows: int, n_validation: int, labels: np.ndarray | None, fraction: float
) -> None:
    """Raise unless both parts can hold 2 rows and, if stratified, every class."""
    fix = "Raise validation_fraction, or give the fit more rows."
    if n_validation < 2 or n_rows - n_validation < 1:
        raise ValueError(
            f"early_stopping=True holds out validation_fraction={fraction!r} of "
            f"{n_rows} rows: {n_validation} for validation, {n_rows - n_validation} "
            f"for training, but validation needs at least 2 and training 1. {fix}"
        )
    if labels is None:
        return
    classes, counts = np.unique(labels, return_counts=True)
    if n_validation < len(classes) or n_rows - n_validation < len(classes):
        raise ValueError(
            f"early_stopping=True holds out validation_fraction={fraction!r} of "
            f"{n_rows} rows: {n_validation} for validation, {n_rows - n_validation} "
            f"for training, too few for each part to hold every one of the "
            f"{len(classes)} classes. {fix}"
        )
    rare = classes[counts < 2]
    if rare.size:
        raise ValueError(
            f"early_stopping=True needs every class in both the training and the "
            f"validation part, but classes {rare.tolist()} have a single row. Give "
            "the fit more rows of those classes, or set early_stopping=False."
        )


def warn_if_tail_lacks_classes(labels: np.ndarray | None, split: float) -> None:
    """Warn when Keras' ``validation_split`` tail misrepresents the classes.

    Keras validates on the last ``split`` of the rows, unshuffled. The warning
    is given when those rows hold a class the training part lacks, or only one
    class: the validation metrics then say little about the model.
    """
    if labels is None or not split:
        return
    split_at = math.floor(len(labels) * (1.0 - split))  # Keras' own rounding
    tail = np.unique(labels[split_at:])
    unseen = np.setdiff1d(tail, labels[:split_at])
    if unseen.size == 0 and tail.size > 1:
        return
    what = (
        f"classes {unseen.tolist()}, which the training part lacks"
        if unseen.size
        else f"the single class {tail.tolist()}"
    )
    warnings.warn(
        f"validation_split={split!r} validates on the last {len(labels) - split_at} "
        f"rows of X, as Keras does, before any shuffle; they hold {what}. Use "
        "early_stopping=True with validation_fraction for a stratified, shuffled "
        "hold-out, or shuffle X and y before fitting.",
        UserWarning,
        stacklevel=user_stacklevel(),
    )


class BestEpoch(keras.callbacks.Callback):
    """Stop when the validation loss stops improving; keep the best weights.

    ``MLPClassifier``'s rule: an epoch improves on the best so far when its
    validation loss is lower by more than ``tol``, and training stops after
    ``n_iter_no_change`` epochs in a row without one; the weights kept are
    those of the epoch of lowest validation loss, lower by any amount. Unlike
    Keras' ``EarlyStopping(restore_best_weights=True)``, which restores only
    when it stops training, the weights are kept for :meth:`restore`, which
    the fit calls after every training run, stopped or not.

    Parameters
    ----------
    tol : float
        ``tol``: the improvement that counts.
    n_iter_no_change : int
        Epochs without improvement before training stops.
    """

    def __init__(self, tol: float, n_iter_no_change: int) -> None:
        super().__init__()
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.best_loss: float | None = None
        self.stopped = False
        self._best_weights: list[np.ndarray] | None = None
        self._epochs_without_improvement = 0

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        loss = (logs or {}).get(VALIDATION_LOSS)
        if loss is None:
            raise ValueError(
                f"Early stopping found no {VALIDATION_LOSS!r} in the logs of epoch "
                f"{epoch}: Keras did not evaluate the validation part. Remove "
                "validation_freq from the fit parameters."
            )
        loss = float(loss)
        if self.best_loss is None or loss < self.best_loss - self.tol:
            self._epochs_without_improvement = 0
        else:
            self._epochs_without_improvement += 1
        if self.best_loss is None or loss < self.best_loss:
            self.best_loss = loss
            self._best_weights = self.model.get_weights()
        if self._epochs_without_improvement >= self.n_iter_no_change:
            self.stopped = True
            self.model.stop_training = True

    def restore(self, model: keras.Model) -> None:
        """Give ``model`` (the trained model) the best epoch's weights."""
        if self._best_weights is not None:
            model.set_weights(self._best_weights)

    def warn_if_still_improving(self, epochs_run: int, epochs: int) -> None:
        """``ConvergenceWarning`` when the epochs ran out before the stop rule hit."""
        if self.stopped or epochs_run < epochs or self.best_loss is None:
            return
        warnings.warn(
            f"Early stopping: the {epochs} epochs ran out while the validation loss "
            f"was still improving (by more than tol={self.tol!r} within the last "
            f"{min(self.n_iter_no_change, epochs)} epochs), so training may not "
            "have converged. Raise epochs.",
            ConvergenceWarning,
            stacklevel=user_stacklevel(),
        )


def finish_training(
    model: keras.Model, history: dict[str, list], stopper: BestEpoch | None, epochs: int
) -> dict[str, Any]:
    """The best epoch's weights put back into ``model``; the fitted attributes.

    Parameters
    ----------
    model : keras.Model
        The trained model; with early stopping it gets the weights of the
        epoch of lowest validation loss (Keras' ``EarlyStopping`` restores
        them only when it stops training).
    history : dict
        ``history_``: the epochs of this fit and of the earlier ones
        ``partial_fit`` adds to.
    stopper : BestEpoch or None
        The fit's early-stopping callback; None without early stopping.
    epochs : int
        The epochs the fit was given: a ``ConvergenceWarning`` says when they
        ran out before the stop rule hit.

    Returns
    -------
    dict
        ``loss_curve_``, ``n_iter_``, ``validation_loss_curve_`` and
        ``best_validation_loss_`` (both None without early stopping).
    """
    loss_curve = [float(loss) for loss in history.get("loss", [])]
    attributes = {
        "loss_curve_": loss_curve,
        "n_iter_": len(loss_curve),
        "validation_loss_curve_": None,
        "best_validation_loss_": None,
    }
    if stopper is None:
        return attributes
    stopper.restore(model)
    attributes["validation_loss_curve_"] = [float(v) for v in history[VALIDATION_LOSS]]
    attributes["best_validation_loss_"] = stopper.best_loss
    stopper.warn_if_still_improving(len(loss_curve), epochs)
    return attributes
