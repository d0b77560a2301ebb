"""
Tuning a Keras model with GridSearchCV
======================================

:class:`~skkeras_proba.KerasClassifier` is a scikit-learn classifier, so
scikit-learn's model selection works on a Keras model as on any other: the
build function's own arguments are searched as ``model__*`` parameters,
folds are stratified, and because ``predict_proba`` returns probabilities,
the search can rank candidates by log-loss. Here a small network is tuned
on the digits data: the width of its hidden layer and its dropout rate.
"""

# %%
# Data
# ----
#
# The 8x8 digit images, flattened to 64 features scaled to [0, 1]; a quarter
# is held out for the end.

import keras
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.datasets import load_digits
from sklearn.metrics import accuracy_score, log_loss
from sklearn.model_selection import GridSearchCV, train_test_split

from skkeras_proba import KerasClassifier

X, y = load_digits(return_X_y=True)
X = X / 16.0
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, stratify=y, random_state=0
)

# %%
# A build function with parameters
# --------------------------------
#
# Arguments of the build function after ``meta`` become parameters of the
# estimator, prefixed ``model__``: ``model__hidden=64`` calls
# ``build(meta, hidden=64)``. The search sets them through ``set_params``,
# as for any scikit-learn estimator.


def build(meta, hidden=32, dropout=0.0):
    model = keras.Sequential(
        [
            keras.Input((meta["n_features_in_"],)),
            keras.layers.Dense(hidden, activation="relu"),
            keras.layers.Dropout(dropout),
            keras.layers.Dense(meta["n_classes_"]),  # logits
        ]
    )
    model.compile(
        keras.optimizers.Adam(0.01),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


clf = KerasClassifier(build, epochs=10, random_state=0)

# %%
# The search
# ----------
#
# Four candidates, two stratified folds each. Two scores are recorded:
# accuracy, and log-loss (``neg_log_loss``: scikit-learn maximises scores),
# which needs probabilities from ``predict_proba`` and also rewards a model
# for knowing when it is unsure. The best candidate by log-loss is refitted
# on the whole training set.

search = GridSearchCV(
    clf,
    {"model__hidden": [16, 64], "model__dropout": [0.0, 0.3]},
    scoring={"log_loss": "neg_log_loss", "accuracy": "accuracy"},
    refit="log_loss",
    cv=2,
)
search.fit(X_train, y_train)
print("best parameters:", search.best_params_)

# %%
# The results table
# -----------------
#
# One row per candidate from ``cv_results_``, by rank; log-loss is shown as
# a loss again (lower is better).

results = pd.DataFrame(search.cv_results_)
table = pd.DataFrame(
    {
        "hidden": results["param_model__hidden"],
        "dropout": results["param_model__dropout"],
        "log-loss": -results["mean_test_log_loss"],
        "log-loss std": results["std_test_log_loss"],
        "accuracy": results["mean_test_accuracy"],
        "rank": results["rank_test_log_loss"],
    }
)
table.sort_values("rank").set_index("rank").round(4)

# %%
# The same scores as a picture: each cell is a candidate's mean log-loss
# over the folds.

grid = table.pivot(index="dropout", columns="hidden", values="log-loss")
fig, ax = plt.subplots(figsize=(4.5, 3.5))
image = ax.imshow(grid.to_numpy(), cmap="viridis_r")
ax.set_xticks(range(grid.shape[1]), grid.columns)
ax.set_yticks(range(grid.shape[0]), grid.index)
ax.set_xlabel("model__hidden")
ax.set_ylabel("model__dropout")
for (row, column), value in np.ndenumerate(grid.to_numpy()):
    color = "w" if value > grid.to_numpy().mean() else "k"  # dark cells: white
    ax.text(column, row, f"{value:.3f}", ha="center", va="center", color=color)
fig.colorbar(image, label="mean log-loss over the folds")
ax.set_title("Cross-validated log-loss")
fig.tight_layout()

# %%
# The refitted model on the held-out data
# ---------------------------------------
#
# ``best_estimator_`` is a fitted :class:`~skkeras_proba.KerasClassifier`;
# the search itself predicts through it.

proba = search.predict_proba(X_test)
print(f"test log-loss {log_loss(y_test, proba):.3f}")
print(f"test accuracy {accuracy_score(y_test, search.predict(X_test)):.3f}")
head = search.best_estimator_.heads_[0]
print(f"its head: link={head.link!r}, logits={head.logits}")
