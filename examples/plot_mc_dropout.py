"""
Knowing when the model does not know: Monte Carlo dropout
=========================================================

A probability says how likely each class is *if the model is right*. How
far to trust the model on a given input is a second question, and Monte
Carlo dropout answers it: dropout stays on at prediction time, each forward
pass drops different units, and where the passes disagree the model is
unsure. With :class:`~skkeras_proba.KerasClassifier` it is one parameter,
``mc_dropout=n``; :meth:`~skkeras_proba.KerasClassifier.predict_proba_passes`
returns the passes themselves.

The task: a digit reader trained on the digits 0 to 4 only, which should
hand the inputs it cannot read -- here, the digits 5 to 9 it has never seen
-- to a person rather than guess.
"""

# %%
# Data: digits the model knows, and digits it does not
# ----------------------------------------------------

import keras
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.datasets import load_digits
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from skkeras_proba import KerasClassifier

digits = load_digits()
X, y = digits.data / 16.0, digits.target
known = y < 5
X_train, X_test, y_train, y_test = train_test_split(
    X[known], y[known], test_size=0.3, stratify=y[known], random_state=0
)
X_unknown = X[~known]  # digits 5-9: never seen in training

# %%
# A network with dropout
# ----------------------
#
# ``mc_dropout=30``: ``predict_proba`` averages 30 passes with dropout on
# (only the ``Dropout`` layers; the masks are drawn from ``random_state``,
# so the same seed gives the same passes).


def with_dropout(meta):
    model = keras.Sequential(
        [
            keras.Input((meta["n_features_in_"],)),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dropout(0.3),
            keras.layers.Dense(meta["n_classes_"]),  # logits
        ]
    )
    model.compile(
        keras.optimizers.Adam(0.01),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


clf = KerasClassifier(with_dropout, epochs=10, mc_dropout=30, random_state=0)
clf.fit(X_train, y_train)
print(f"accuracy on held-out digits 0-4: {clf.score(X_test, y_test):.3f}")

# %%
# Two measures of uncertainty
# ---------------------------
#
# From the passes ``p`` (pass, sample, class) and the entropy
# ``H(q) = -sum_k q_k log q_k``: the *predictive entropy* ``H(mean p)`` is
# the total uncertainty of a prediction; the *mutual information*
# ``H(mean p) - mean H(p)`` is the part due to the passes disagreeing, the
# model's uncertainty about itself. Both are 0 for a confident, unanimous
# prediction.


def entropy(proba):
    """Entropy of each distribution over the last axis, in nats."""
    return -np.sum(proba * np.log(np.clip(proba, 1e-300, None)), axis=-1)


def uncertainty(X):
    passes = clf.predict_proba_passes(X)  # (30, n_samples, 5)
    total = entropy(passes.mean(axis=0))
    return passes, total, total - entropy(passes).mean(axis=0)


passes_known, entropy_known, mi_known = uncertainty(X_test)
passes_unknown, entropy_unknown, mi_unknown = uncertainty(X_unknown)
pd.DataFrame(
    {
        "digits 0-4 (test)": [entropy_known.mean(), mi_known.mean()],
        "digits 5-9 (never seen)": [entropy_unknown.mean(), mi_unknown.mean()],
    },
    index=["mean predictive entropy", "mean mutual information"],
).round(3)

# %%
# How well does each measure tell the unseen digits from the known ones?
# The ROC AUC of the score as a detector: 0.5 is chance, 1 is perfect.

is_unknown = np.r_[np.zeros(len(X_test)), np.ones(len(X_unknown))]
scores = {
    "predictive entropy": (entropy_known, entropy_unknown),
    "mutual information": (mi_known, mi_unknown),
}
for name, (known_score, unknown_score) in scores.items():
    auc = roc_auc_score(is_unknown, np.r_[known_score, unknown_score])
    print(f"{name}: ROC AUC {auc:.3f}")

# %%
# Where the passes disagree
# -------------------------
#
# The inputs with the lowest and the highest mutual information, and below
# each, how the 30 passes spread the probability of the class it was read
# as: the confident predictions are unanimous, the uncertain ones scatter.

X_all = np.r_[X_test, X_unknown]
y_all = np.r_[y_test, y[~known]]
passes_all = np.concatenate([passes_known, passes_unknown], axis=1)
mi_all = np.r_[mi_known, mi_unknown]
picks = np.r_[np.argsort(mi_all)[:3], np.argsort(mi_all)[-3:]]

fig, axes = plt.subplots(2, 6, figsize=(8, 3.6), height_ratios=[2, 1])
for column, sample in enumerate(picks):
    predicted = passes_all[:, sample].mean(axis=0).argmax()
    axes[0, column].imshow(X_all[sample].reshape(8, 8), cmap="gray_r")
    axes[0, column].set_title(f"a {y_all[sample]}, read {predicted}")
    axes[0, column].axis("off")
    per_pass = passes_all[:, sample, predicted]
    axes[1, column].hist(per_pass, bins=10, range=(0, 1))
    axes[1, column].set(xticks=[0, 1], yticks=[])
    axes[1, column].set_xlabel(f"MI {mi_all[sample]:.2f}")
fig.suptitle("Lowest (left) and highest (right) mutual information")
fig.tight_layout()

# %%
# Handing the uncertain inputs to a person
# ----------------------------------------
#
# A reader that answers only when the score is below a threshold, and
# passes the rest on. Each threshold is set so that it answers a given
# fraction of the digits it knows; the curve shows how many of the unseen
# digits it would then still answer -- all of them wrongly.

answered = np.linspace(0.5, 1, 11)  # fraction of the digits 0-4 answered
fig, ax = plt.subplots(figsize=(6, 4))
for name, (known_score, unknown_score) in scores.items():
    thresholds = np.quantile(known_score, answered)
    slipped = [(unknown_score <= t).mean() for t in thresholds]
    ax.plot(answered, slipped, "o-", label=name)
ax.set_xlabel("fraction of the digits 0-4 answered")
ax.set_ylabel("fraction of the digits 5-9 answered")
ax.legend()
ax.set_title("Answering only below an uncertainty threshold")
fig.tight_layout()

# %%
# Answering nine in ten of the digits it knows, the reader passes on most
# of the digits it has never seen, and what it does answer it reads more
# accurately:

threshold = np.quantile(entropy_known, 0.9)
answer = entropy_known <= threshold
correct = clf.predict(X_test) == y_test
print(
    f"digits 0-4 answered: {answer.mean():.0%}, of which correct: "
    f"{correct[answer].mean():.1%} (all: {correct.mean():.1%})"
)
print(f"digits 5-9 answered: {(entropy_unknown <= threshold).mean():.0%}")
