"""Targets, the y side: target kinds, classes, their checks, encoding y for Keras.

The encoding of y is chosen per head from the loss the model was *compiled*
with (one-hot for categorical cross-entropy, integer codes for the sparse
variant, 0/1 for a single unit), never from the estimator's ``loss`` parameter
alone, so a build function that compiles its own loss just works.

Decoding the model's outputs back into scikit-learn's terms is ``_decode``'s.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from skkeras_proba._losses import ONE_HOT_LOSSES

if TYPE_CHECKING:
    from collections.abc import Sequence

    from skkeras_proba._heads import Head

BINARY = "binary"
MULTICLASS = "multiclass"
MULTILABEL = "multilabel"
MULTIOUTPUT = "multioutput"


def target_kind(y: np.ndarray, type_of_target: str, n_heads: int) -> str:
    """How y maps onto the model's heads.

    Parameters
    ----------
    y : ndarray of shape (n_samples,) or (n_samples, n_columns)
    type_of_target : str
        ``sklearn.utils.multiclass.type_of_target(y)``.
    n_heads : int
        Number of outputs of the model.
    """
    columns = 1 if y.ndim == 1 else y.shape[1]
    if n_heads > 1:
        if columns != n_heads:
            raise ValueError(
                f"y has {columns} column(s), but the model has {n_heads} outputs. "
                "A model with several outputs needs one column of y per output, "
                "in the order of model.outputs."
            )
        return MULTIOUTPUT
    if y.ndim == 1:
        return BINARY if type_of_target == BINARY else MULTICLASS
    if type_of_target == "multilabel-indicator":
        return MULTILABEL
    raise ValueError(
        f"y has {y.shape[1]} columns of labels ({type_of_target}), but the model "
        "has a single output. Build a model with one output per column "
        "(keras.Model(inputs, [head_1, head_2, ...])), or pass a 0/1 indicator "
        "matrix for multi-label classification."
    )


def column_classes(y: np.ndarray, kind: str) -> list[np.ndarray]:
    """Sorted classes of each column of y that a head predicts."""
    if kind == MULTILABEL:
        return [np.arange(y.shape[1])]
    columns = [y] if y.ndim == 1 else [y[:, j] for j in range(y.shape[1])]
    return [np.unique(column) for column in columns]


def check_enough_classes(classes: Sequence[np.ndarray], kind: str) -> None:
    """Raise if a column of y holds fewer than two classes."""
    if kind == MULTILABEL:
        return
    for column, column_classes in enumerate(classes):
        if len(column_classes) < 2:
            where = f" in column {column}" if len(classes) > 1 else ""
            raise ValueError(
                f"y contains 1 class {column_classes.tolist()}{where}; a "
                "classifier needs samples of at least 2 classes."
            )


def check_head_units(head: Head, classes: np.ndarray, kind: str) -> None:
    """Raise if a head's number of units cannot describe these classes."""
    n_classes = len(classes)
    if kind == MULTILABEL:
        valid, advice = {n_classes}, f"Dense({n_classes}, activation='sigmoid')"
    elif n_classes == 2:
        valid = {1, 2}
        advice = "Dense(1, activation='sigmoid') or Dense(2, activation='softmax')"
    else:
        valid, advice = {n_classes}, f"Dense({n_classes}, activation='softmax')"
    if head.units not in valid:
        what = "labels" if kind == MULTILABEL else "classes"
        shown = classes[:10].tolist() + (["..."] if n_classes > 10 else [])
        raise ValueError(
            f"The model's output {head.name!r} has {head.units} units, but y has "
            f"{n_classes} {what} {shown}. For {n_classes} {what} use {advice}."
        )


def class_codes(labels: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Positions of ``labels`` in ``classes``, which may be in any order.

    ``from_trained`` keeps classes in the order of the model's units, so the
    sorted order ``np.searchsorted`` needs cannot be assumed.
    """
    order = np.argsort(classes, kind="stable")
    return order[np.searchsorted(classes[order], labels)]


def encode_column(codes: np.ndarray, n_classes: int, head: Head) -> np.ndarray:
    """Integer class codes of one column, in the form the head's loss expects."""
    if head.loss in ONE_HOT_LOSSES:
        return np.eye(n_classes, dtype=np.float32)[codes]
    if head.units == 1:
        # A column, like the head's (n_samples, 1) output: Keras' own losses
        # accept either, a custom loss may require matching ranks.
        return codes.astype(np.float32)[:, np.newaxis]
    return codes.astype(np.int32)


def encode(
    y: np.ndarray, classes: Sequence[np.ndarray], heads: Sequence[Head], kind: str
) -> list[np.ndarray]:
    """y as Keras training targets, one array per head."""
    if kind == MULTILABEL:
        return [np.asarray(y, dtype=np.float32)]
    columns = [y] if y.ndim == 1 else [y[:, j] for j in range(y.shape[1])]
    return [
        encode_column(class_codes(column, cls), len(cls), head)
        for column, cls, head in zip(columns, classes, heads, strict=True)
    ]
