"""Raw head outputs to what scikit-learn's predict methods return.

For one head at a time: probabilities, log-probabilities, decision values and
labels, from the values the head is read from (see ``Head.read_from``), for one
forward pass (:func:`head_proba`, :func:`head_log_proba`,
:func:`head_decision`, :func:`head_labels`) or for the Monte Carlo dropout
passes of ``Forward.passes`` (:func:`proba_per_pass`, :func:`average_passes`).

:func:`average_passes` turns the passes of one head into the values of a
single pass of the same form (probabilities, or logits of the averaged
probabilities), so that everything downstream decodes them unchanged.

The NumPy maths lives in ``_proba``; this module picks, per head and target
kind, which of it applies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from skkeras_proba import _proba
from skkeras_proba._targets import MULTILABEL

if TYPE_CHECKING:
    from collections.abc import Sequence

    from skkeras_proba._heads import Head


def _independent_labels(head: Head, kind: str) -> bool:
    """A multi-label head of sigmoid units; a softmax over one-hot labels is not."""
    return kind == MULTILABEL and head.link == _proba.SIGMOID


def head_proba(raw: np.ndarray, head: Head, kind: str) -> np.ndarray:
    """Probabilities of one head: (n_samples, n_classes) or (n_samples, n_labels)."""
    if _independent_labels(head, kind):
        return _proba.multilabel_proba(raw, logits=head.reads_logits)
    return _proba.predict_proba(raw, link=head.link, logits=head.reads_logits)


def head_log_proba(raw: np.ndarray, head: Head, kind: str) -> np.ndarray:
    """Log-probabilities of one head, computed stably from logits."""
    if _independent_labels(head, kind):
        if head.reads_logits:
            return _proba.log_sigmoid(raw)
        with np.errstate(divide="ignore"):
            return np.log(np.asarray(raw, dtype=np.float64))
    return _proba.log_proba(raw, link=head.link, logits=head.reads_logits)


def head_decision(raw: np.ndarray, head: Head, kind: str) -> np.ndarray:
    """Decision values of one head, scikit-learn shaped."""
    if _independent_labels(head, kind):
        return _proba.multilabel_decision(raw, logits=head.reads_logits)
    if kind == MULTILABEL:  # one column per label, even for two labels
        return _proba.log_proba(raw, link=head.link, logits=head.reads_logits)
    return _proba.decision_function(raw, link=head.link, logits=head.reads_logits)


def head_labels(proba: np.ndarray, classes: np.ndarray, kind: str) -> np.ndarray:
    """Labels from one head's probabilities, in the original label space."""
    if kind == MULTILABEL:
        return (proba > 0.5).astype(int)
    return classes[np.argmax(proba, axis=1)]


def proba_per_pass(
    passes: Sequence[np.ndarray], heads: Sequence[Head], kind: str
) -> list[np.ndarray]:
    """Each head's probabilities in every pass.

    Parameters
    ----------
    passes, heads, kind
        As for :func:`average_passes`.

    Returns
    -------
    proba : list of ndarray of shape (n_samples, n_passes, n_classes)
        Rows first, as the forward pass gathers them by rows.
    """
    return [
        np.stack(
            [head_proba(p.reshape(len(p), -1), head, kind) for p in head_passes], 1
        )
        for head_passes, head in zip(passes, heads, strict=True)
    ]


def average_passes(
    passes: Sequence[np.ndarray], heads: Sequence[Head], kind: str
) -> list[np.ndarray]:
    """Each head's passes as one set of values of the same form, averaged.

    Parameters
    ----------
    passes : sequence of ndarray of shape (n_passes, n_samples, n_units)
        What each head was read from (see ``Head.read_from``), per pass.
    heads : sequence of Head
        The heads, in the same order.
    kind : str
        The estimator's target kind (``_targets.MULTILABEL`` or another).

    Returns
    -------
    values : list of ndarray of shape (n_samples, n_units)
        Values which the head's decoding turns into the mean of the passes'
        probabilities: that mean itself for heads read as probabilities,
        otherwise logits of it, computed from the passes' log-probabilities
        so that the tails stay exact.
    """
    return [
        _average_head(
            np.asarray(p, dtype=np.float64).reshape(*p.shape[:2], -1), head, kind
        )
        for p, head in zip(passes, heads, strict=True)
    ]


def _average_head(z: np.ndarray, head: Head, kind: str) -> np.ndarray:
    if not head.reads_logits:
        return z.mean(axis=0)
    if kind == MULTILABEL or z.shape[-1] == 1:
        # Log-odds of the mean probability of each unit.
        log_p = _proba.log_mean_exp(_proba.log_sigmoid(z), axis=0)
        log_not_p = _proba.log_mean_exp(_proba.log_sigmoid(-z), axis=0)
        return log_p - log_not_p
    if head.link == _proba.SOFTMAX:
        # Log of the mean distribution: its softmax is the mean distribution.
        return _proba.log_mean_exp(_per_pass(_proba.log_softmax, z), axis=0)
    # Sigmoid units normalised per row: values whose sigmoids are half the mean
    # distribution, which normalising turns back into the mean distribution.
    log_normalised = _per_pass(_proba.log_softmax, _proba.log_sigmoid(z))
    log_p = _proba.log_mean_exp(log_normalised, axis=0)
    half = np.exp(log_p) / 2.0
    return log_p - np.log(2.0) - np.log1p(-half)


def _per_pass(rows_function, z: np.ndarray) -> np.ndarray:
    return np.stack([rows_function(one_pass) for one_pass in z])
