"""NumPy maths turning a head's raw output into probabilities and decision values.

Pure NumPy: no Keras, no scikit-learn. Every function works in float64 so that
probabilities computed from float32 model outputs sum to one to double precision
and log-probabilities of confident predictions stay finite.

A head's raw output is described by two words (see ``skkeras_proba._heads``):

``logits``
    True when the output is an unnormalised score, False when it is already a
    probability.
``link``
    ``"softmax"`` (units are mutually exclusive classes) or ``"sigmoid"``
    (each unit is an independent probability).
"""

from __future__ import annotations

import functools

import numpy as np

SOFTMAX = "softmax"
SIGMOID = "sigmoid"

# Probabilities are clipped to [TINY, 1 - TINY] only where a log-odds must be
# recovered from a probability; log_proba itself is never clipped.
_TINY = np.finfo(np.float64).tiny


# NumPy reduces along a short last axis one row at a time, ~20x slower than a
# vector operation per column; heads have few columns, so rows are reduced by
# columns up to this width (see test_row_reductions_match_numpy).
_FEW_COLUMNS = 32


def _row_max(z: np.ndarray) -> np.ndarray:
    """Maximum of each row of a 2-D array, shape (n_rows, 1)."""
    if z.shape[1] > _FEW_COLUMNS:
        return z.max(axis=1, keepdims=True)
    return functools.reduce(np.maximum, z.T)[:, np.newaxis]


def _row_sum(z: np.ndarray) -> np.ndarray:
    """Sum of each row of a 2-D float64 array, shape (n_rows, 1)."""
    return (z @ np.ones(z.shape[1]))[:, np.newaxis]


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax, shifted by the row maximum for stability."""
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - _row_max(z))
    return e / _row_sum(e)


def log_softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax, finite for any finite input."""
    z = np.asarray(z, dtype=np.float64)
    shifted = z - _row_max(z)
    return shifted - np.log(_row_sum(np.exp(shifted)))


def sigmoid(z: np.ndarray) -> np.ndarray:
    """Element-wise logistic function, without overflow for large ``|z|``."""
    z = np.asarray(z, dtype=np.float64)
    return np.exp(-np.logaddexp(0.0, -z))


def log_sigmoid(z: np.ndarray) -> np.ndarray:
    """Element-wise ``log(sigmoid(z))``, finite for any finite input."""
    return -np.logaddexp(0.0, -np.asarray(z, dtype=np.float64))


def log_mean_exp(a: np.ndarray, axis: int = 0) -> np.ndarray:
    """``log(mean(exp(a)))`` along ``axis``, finite for any finite input.

    The log of an average of probabilities, from their logs: exact where the
    probabilities themselves would underflow.
    """
    a = np.asarray(a, dtype=np.float64)
    top = a.max(axis=axis, keepdims=True)
    mean = np.mean(np.exp(a - top), axis=axis)
    return np.squeeze(top, axis=axis) + np.log(mean)


def logit(p: np.ndarray) -> np.ndarray:
    """Element-wise log-odds ``log(p / (1 - p))`` of probabilities."""
    p = np.clip(np.asarray(p, dtype=np.float64), _TINY, 1.0)
    return np.log(p) - np.log1p(-np.minimum(p, 1.0 - np.finfo(np.float64).eps))


def scores_of(proba: np.ndarray, *, link: str) -> np.ndarray:
    """Scores whose softmax (or sigmoid) gives back ``proba``: the inverse link.

    For outputs that were taken after the activation where the pre-activation
    values are expected; the float32 tails of ``proba`` stay as they are.
    """
    if link == SOFTMAX:
        with np.errstate(divide="ignore"):
            return np.log(np.asarray(proba, dtype=np.float64))
    return logit(proba)


def activate(raw: np.ndarray, *, link: str, logits: bool) -> np.ndarray:
    """What a probability head would emit: ``raw`` as is, or its softmax/sigmoid.

    Keeps the head's own layout (one column for a one-unit sigmoid head), for
    code written against Keras' outputs, such as a custom scikeras encoder.
    """
    if not logits:
        return np.asarray(raw)
    return softmax(raw) if link == SOFTMAX else sigmoid(raw)


def _binary_scores(raw: np.ndarray, *, link: str, logits: bool) -> np.ndarray:
    """Log-odds of the positive class for a binary head, shape (n_samples,)."""
    raw = np.asarray(raw, dtype=np.float64)
    if raw.shape[1] == 1:
        return raw[:, 0] if logits else logit(raw[:, 0])
    log_p = log_proba(raw, link=link, logits=logits)
    return log_p[:, 1] - log_p[:, 0]


def predict_proba(raw: np.ndarray, *, link: str, logits: bool) -> np.ndarray:
    """Class probabilities from one head's raw output.

    Parameters
    ----------
    raw : ndarray of shape (n_samples, n_units)
        What the model's head returned.
    link : {"softmax", "sigmoid"}
        How the head's units relate to classes.
    logits : bool
        Whether ``raw`` holds unnormalised scores (True) or probabilities.

    Returns
    -------
    proba : ndarray of shape (n_samples, n_classes)
        Rows sum to one. A single unit is expanded to two columns
        ``[1 - p, p]``; several sigmoid units describing mutually exclusive
        classes are normalised per row.
    """
    raw = np.asarray(raw, dtype=np.float64)
    if raw.shape[1] == 1:
        z = raw[:, 0]
        if logits:  # sigmoid(-z), not 1 - sigmoid(z): exact for tiny probabilities
            return np.column_stack([sigmoid(-z), sigmoid(z)])
        return np.column_stack([1.0 - z, z])
    if link == SOFTMAX and logits:
        return softmax(raw)
    # float32 softmax outputs sum to 1 only within ~1e-7: renormalise in float64.
    p = sigmoid(raw) if logits else raw
    return p / _row_sum(p)


def log_proba(raw: np.ndarray, *, link: str, logits: bool) -> np.ndarray:
    """Log of :func:`predict_proba`, computed without ``log(softmax(z))``.

    For logits heads the result is finite for any finite input; for heads that
    already output probabilities it is ``log(p)``, which is ``-inf`` only where
    the model itself returned a probability of exactly zero.
    """
    raw = np.asarray(raw, dtype=np.float64)
    with np.errstate(divide="ignore"):
        if raw.shape[1] == 1:
            if logits:
                z = raw[:, 0]
                return np.column_stack([log_sigmoid(-z), log_sigmoid(z)])
            p = raw[:, 0]
            return np.column_stack([np.log1p(-p), np.log(p)])
        if not logits:
            return np.log(predict_proba(raw, link=link, logits=False))
        if link == SOFTMAX:
            return log_softmax(raw)
        log_p = log_sigmoid(raw)
        return log_softmax(log_p)


def decision_function(raw: np.ndarray, *, link: str, logits: bool) -> np.ndarray:
    """Scikit-learn decision values from one head's raw output.

    Returns
    -------
    scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
        For two classes, the log-odds of the second class (positive means
        ``classes_[1]``). For more classes, per-class log-probabilities up to a
        per-row constant: the raw logits where the head emits logits.
    """
    raw = np.asarray(raw, dtype=np.float64)
    n_classes = max(raw.shape[1], 2)
    if n_classes == 2:
        return _binary_scores(raw, link=link, logits=logits)
    if logits and link == SOFTMAX:
        return raw
    return log_proba(raw, link=link, logits=logits)


def multilabel_proba(raw: np.ndarray, *, logits: bool) -> np.ndarray:
    """Independent per-label probabilities of a multi-label sigmoid head."""
    return sigmoid(raw) if logits else np.asarray(raw, dtype=np.float64)


def multilabel_decision(raw: np.ndarray, *, logits: bool) -> np.ndarray:
    """Per-label log-odds of a multi-label sigmoid head."""
    raw = np.asarray(raw, dtype=np.float64)
    return raw if logits else logit(raw)


def looks_like_probabilities(raw: np.ndarray, *, link: str) -> bool:
    """Whether outputs are plausibly probabilities rather than logits.

    Used only when a head cannot be inspected: every value must lie in
    ``[0, 1]`` and, for a softmax head with several units, rows must sum to 1.
    """
    raw = np.asarray(raw, dtype=np.float64)
    if raw.size == 0 or raw.min() < 0.0 or raw.max() > 1.0:
        return False
    if link == SOFTMAX and raw.shape[1] > 1:
        return bool(np.allclose(raw.sum(axis=1), 1.0, atol=1e-3))
    return True
