"""
Early stopping on a stratified hold-out
=======================================

How many epochs should a network train? With ``early_stopping=True``,
:class:`~skkeras_proba.KerasClassifier` answers as scikit-learn's
``MLPClassifier`` does: it holds out part of the training rows, stratified by
class, and stops when the loss on them stops improving, keeping the weights
of the best epoch. Here it is compared with a fixed number of epochs on the
breast cancer data, sorted by class as many CSV exports are -- the case where
Keras' own ``validation_split``, the last rows of X, validates on a single
class.
"""

# %%
# Data
# ----
#
# The breast cancer data, standardised; a stratified quarter is kept for the
# end and the training rows are sorted by class.

import keras
import matplotlib.pyplot as plt
from sklearn.datasets import load_breast_cancer
from sklearn.metrics import log_loss
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from skkeras_proba import KerasClassifier

X, y = load_breast_cancer(return_X_y=True)
X = StandardScaler().fit_transform(X)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, stratify=y, random_state=0
)
# Sorted by class: the last rows, a tail split, are all of one class.
order = y_train.argsort(kind="stable")
X_train, y_train = X_train[order], y_train[order]


def build(meta, hidden=64):
    model = keras.Sequential(
        [
            keras.Input((meta["n_features_in_"],)),
            keras.layers.Dense(hidden, activation="relu"),
            keras.layers.Dense(meta["n_classes_"]),  # logits
        ]
    )
    model.compile(
        keras.optimizers.Adam(0.002),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


# %%
# A fixed number of epochs against early stopping
# -----------------------------------------------
#
# The fixed run trains all 100 epochs. The early-stopping run holds out a
# stratified 20% of the training rows, stops after 5 epochs without an
# improvement of its validation loss and keeps its best epoch's weights. On
# the test rows, the network trained for 100 epochs has grown over-confident:
# here its log-loss is higher, after many more epochs.

fixed = KerasClassifier(build, epochs=100, random_state=0).fit(X_train, y_train)
stopped = KerasClassifier(
    build,
    epochs=100,
    early_stopping=True,
    validation_fraction=0.2,
    n_iter_no_change=5,
    random_state=0,
).fit(X_train, y_train)

for name, clf in [("100 epochs", fixed), ("early stopping", stopped)]:
    test_loss = log_loss(y_test, clf.predict_proba(X_test))
    print(f"{name:>15}: {clf.n_iter_:3d} epochs, test log-loss {test_loss:.3f}")

# %%
# The learning curves
# -------------------
#
# ``loss_curve_`` is the training loss per epoch, ``validation_loss_curve_``
# the loss on the hold-out; ``best_validation_loss_`` marks the epoch whose
# weights the model kept.

fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(fixed.loss_curve_, label="training loss, 100 epochs", color="grey")
ax.plot(stopped.loss_curve_, label="training loss, early stopping")
ax.plot(stopped.validation_loss_curve_, label="validation loss (hold-out)")
best = stopped.validation_loss_curve_.index(stopped.best_validation_loss_)
ax.axvline(best, color="black", linestyle=":", label="weights kept")
ax.set(xlabel="epoch", ylabel="cross-entropy", yscale="log")
ax.legend()
fig.tight_layout()
plt.show()
