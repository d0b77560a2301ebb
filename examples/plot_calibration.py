"""
Calibrating an over-confident network
=====================================

A classifier is calibrated when, among the samples to which it gives a
probability of 0.8, about 80% are positive. Networks trained to a low
training loss are often over-confident: their probabilities crowd towards 0
and 1 more than the data warrant. This example trains such a network, then
compares the three calibrations of scikit-learn's
``CalibratedClassifierCV`` on it -- temperature
scaling, sigmoid (Platt) and isotonic -- with reliability diagrams
(``CalibrationDisplay``) and proper scoring rules.
Logistic regression, well calibrated by construction, is the reference.
"""

# %%
# Data with label noise
# ---------------------
#
# A generated binary problem with 10% of its labels flipped: no model can be
# certain, so a probability near 0 or 1 is over-confidence. Three splits:
# the network trains on the first, the calibrations are fitted on the
# second, and everything is judged on the third.

import keras
import matplotlib.pyplot as plt
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV, CalibrationDisplay
from sklearn.datasets import make_classification
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score
from sklearn.model_selection import train_test_split

from skkeras_proba import KerasClassifier

X, y = make_classification(
    n_samples=6000, n_features=20, n_informative=4, flip_y=0.1, random_state=0
)
X_train, X_rest, y_train, y_rest = train_test_split(
    X, y, train_size=2000, random_state=0
)
X_cal, X_test, y_cal, y_test = train_test_split(
    X_rest, y_rest, train_size=1000, random_state=0
)

# %%
# A network that over-fits
# ------------------------
#
# Two wide hidden layers and 40 epochs on 2,000 noisy samples: enough
# capacity to memorise part of the noise. The last layer outputs a logit.


def wide_logits(meta):
    model = keras.Sequential(
        [
            keras.Input((meta["n_features_in_"],)),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(1),  # no activation: a logit
        ]
    )
    model.compile(
        keras.optimizers.Adam(0.01),
        keras.losses.BinaryCrossentropy(from_logits=True),
    )
    return model


network = KerasClassifier(wide_logits, epochs=40, batch_size=64, random_state=0)
network.fit(X_train, y_train)

# %%
# Calibrating the trained network
# -------------------------------
#
# ``FrozenEstimator`` tells ``CalibratedClassifierCV`` that the network is
# already trained, so only the calibration map is fitted, on the calibration
# split. Temperature scaling divides the logits by one fitted number;
# sigmoid calibration fits a slope and an intercept on them; isotonic
# regression fits any monotone map of the probabilities.

models = {"network": network}
for method in ["temperature", "sigmoid", "isotonic"]:
    calibrated = CalibratedClassifierCV(FrozenEstimator(network), method=method)
    models[f"network + {method}"] = calibrated.fit(X_cal, y_cal)
models["logistic regression"] = LogisticRegression().fit(X_train, y_train)

# %%
# Reliability diagrams
# --------------------
#
# Each curve is the fraction of positives in a bin of predicted
# probabilities, against the mean probability in that bin; a calibrated
# model follows the diagonal. Below it, how the test samples' probabilities
# are spread.

fig = plt.figure(figsize=(10, 8))
grid = fig.add_gridspec(2, len(models), height_ratios=[3, 1])
curve_ax = fig.add_subplot(grid[0, :])
displays = {}
for name, model in models.items():
    displays[name] = CalibrationDisplay.from_estimator(
        model, X_test, y_test, n_bins=10, name=name, ax=curve_ax
    )
curve_ax.set_title("Reliability diagrams on the test split")
for column, (name, display) in enumerate(displays.items()):
    ax = fig.add_subplot(grid[1, column])
    color = display.line_.get_color()
    ax.hist(display.y_prob, bins=10, range=(0, 1), color=color)
    ax.set_title(name, fontsize="small")
    ax.set_xlabel("predicted probability", fontsize="small")
fig.tight_layout()

# %%
# The network's curve lies below the diagonal at high probabilities and
# above it at low ones, and its histogram piles up at 0 and 1: it is more
# confident than it is right. The three calibrations bring the curve back
# towards the diagonal; isotonic regression, a step function fitted on
# 1,000 samples, is the least smooth.
#
# Scores
# ------
#
# Log-loss and the Brier score are proper scoring rules: lower is better,
# and they reward calibration as well as discrimination. ROC AUC measures
# the ranking alone; temperature and sigmoid calibration are monotone in
# the logit, so they leave it unchanged.

pd.DataFrame(
    {
        name: {
            "log-loss": log_loss(y_test, display.y_prob),
            "Brier score": brier_score_loss(y_test, display.y_prob),
            "ROC AUC": roc_auc_score(y_test, display.y_prob),
        }
        for name, display in displays.items()
    }
).T.round(3)
