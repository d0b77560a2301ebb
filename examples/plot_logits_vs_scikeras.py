"""
Logits in, probabilities out: compared with scikeras
====================================================

Training on logits -- a last layer without activation and a loss with
``from_logits=True`` -- is the numerically sound way to train a Keras
classifier. This example trains such a network on scikit-learn's
breast-cancer data through both wrappers and compares what their
``predict_proba`` returns: scikeras hands back the model's raw output,
:class:`skkeras_proba.KerasClassifier` sees that the output is a logit and
returns probabilities, which scikit-learn's metrics and calibration then
accept. ``make demo`` runs this script.
"""

# %%
# The data and the model
# ----------------------
#
# Three splits: one to train on, one to calibrate on (below), one to test on.
# The build function ends in ``Dense(1)`` with no activation: the network
# outputs one log-odds score ``z`` per sample, and the loss applies the
# sigmoid itself (``from_logits=True``).

import keras
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import scikeras.wrappers
from sklearn.calibration import CalibratedClassifierCV
from sklearn.datasets import load_breast_cancer
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import accuracy_score, brier_score_loss, log_loss
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skkeras_proba import KerasClassifier

X, y = load_breast_cancer(return_X_y=True)
X_train, X_rest, y_train, y_rest = train_test_split(
    X, y, test_size=0.4, stratify=y, random_state=0
)
X_cal, X_test, y_cal, y_test = train_test_split(
    X_rest, y_rest, test_size=0.5, stratify=y_rest, random_state=0
)


def build_logits_model(meta):
    """Dense(1) without activation: one log-odds score per sample."""
    model = keras.Sequential(
        [
            keras.Input((meta["n_features_in_"],)),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(1),  # no activation: logits
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(0.01),
        loss=keras.losses.BinaryCrossentropy(from_logits=True),
    )
    return model


# %%
# Both wrappers, same model, same seed
# ------------------------------------
#
# 60 epochs: long enough for the network to become over-confident, which
# makes the logits large.

EPOCHS = 60
ours = make_pipeline(
    StandardScaler(),
    KerasClassifier(build_logits_model, epochs=EPOCHS, random_state=0),
).fit(X_train, y_train)
theirs = make_pipeline(
    StandardScaler(),
    scikeras.wrappers.KerasClassifier(
        build_logits_model, epochs=EPOCHS, random_state=0, verbose=0
    ),
).fit(X_train, y_train)

# %%
# When it was fitted, our classifier inspected the output head and recorded
# what it found and why in ``heads_``: one linear unit trained with
# ``from_logits=True`` (``source='loss'``) is read through a sigmoid and
# expanded to two columns ``[1 - p, p]``, ordered as ``classes_``.

head = ours[-1].heads_[0]
print(f"units={head.units}, activation={head.activation!r}, loss={head.loss!r}")
print(f"link={head.link!r}, logits={head.logits}, source={head.source!r}")

# %%
# What ``predict_proba`` returns
# ------------------------------
#
# The first test rows from each. scikeras returns ``[1 - z, z]`` of the
# logit ``z``; ours returns ``[1 - sigmoid(z), sigmoid(z)]``.

proba = {"skkeras_proba": ours.predict_proba(X_test)}
proba["scikeras"] = theirs.predict_proba(X_test)
with np.printoptions(precision=4, suppress=True):
    for name, p in proba.items():
        print(f"{name}:\n{p[:3]}")

# %%
# Plotted against the logit of each test sample (our
# ``decision_function``), the positive-class column of scikeras leaves the
# band of probabilities altogether, while ours follows the sigmoid (right:
# the same curves, closer in).

logit = ours.decision_function(X_test)
order = np.argsort(logit)
fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharex=True)
for ax, ylim in zip(axes, [None, (-0.5, 1.5)], strict=True):
    ax.axhspan(0, 1, color="tab:green", alpha=0.15, label="[0, 1]")
    for name in ["scikeras", "skkeras_proba"]:
        ax.plot(logit[order], proba[name][order, 1], ".-", label=name)
    ax.set_ylim(ylim)
    ax.set_xlabel("logit z of the test sample")
axes[0].set_ylabel("predict_proba(X_test)[:, 1]")
axes[0].legend()
fig.suptitle("The positive-class column of predict_proba")
fig.tight_layout()

# %%
# Only probabilities can be scored as probabilities: scikit-learn's
# ``log_loss`` and ``brier_score_loss`` refuse the scikeras output, and soft
# voting would average it with other models' probabilities unnoticed.


def score_or_error(metric, p):
    try:
        return f"{metric(y_test, p[:, 1]):.3f}"
    except ValueError:
        return "ValueError"


def scores(p):
    return {
        "accuracy": f"{accuracy_score(y_test, p.argmax(axis=1)):.3f}",
        "smallest value": f"{p.min():.2f}",
        "largest value": f"{p.max():.2f}",
        "rows outside [0, 1]": f"{((p < 0) | (p > 1)).any(axis=1).mean():.0%}",
        "log_loss": score_or_error(log_loss, p),
        "brier_score_loss": score_or_error(brier_score_loss, p),
    }


print(pd.DataFrame({name: scores(p) for name, p in proba.items()}).to_string())
try:
    log_loss(y_test, proba["scikeras"][:, 1])
except ValueError as error:
    print(f"\nlog_loss(y_test, scikeras' column 1) raises ValueError:\n{error}")

# %%
# Calibrating the probabilities
# -----------------------------
#
# Because ``predict_proba`` returns probabilities and ``decision_function``
# logits, scikit-learn's calibration works on the fitted pipeline as it
# would on any classifier. Temperature scaling divides the logits by one
# number fitted on the calibration split (``FrozenEstimator``: the network
# is not retrained), which tempers the over-confidence without changing a
# single prediction.

calibrated = CalibratedClassifierCV(FrozenEstimator(ours), method="temperature")
calibrated.fit(X_cal, y_cal)
proba["skkeras_proba, temperature-scaled"] = calibrated.predict_proba(X_test)
table = pd.DataFrame({name: scores(p) for name, p in proba.items()})
print(table.loc[["log_loss", "brier_score_loss"]].to_string())
