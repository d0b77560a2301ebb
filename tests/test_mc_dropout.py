"""Monte Carlo dropout: averaged, reproducible passes with only dropout active."""

import pickle

import keras
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_iris, make_multilabel_classification
from sklearn.ensemble import VotingClassifier

from skkeras_proba import KerasClassifier

X, Y = load_iris(return_X_y=True)
X = (X - X.mean(axis=0)) / X.std(axis=0)
IS_SETOSA = (Y == 0).astype(int)


def dropout_model(meta, head="softmax", rate=0.5, batch_norm=False):
    inputs = keras.Input((meta["n_features_in_"],))
    x = keras.layers.Dense(32, activation="relu")(inputs)
    if batch_norm:
        x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Dropout(rate)(x)
    if head == "sigmoid":
        outputs = keras.layers.Dense(1, activation="sigmoid")(x)
        loss = "binary_crossentropy"
    elif head == "multilabel":
        outputs = keras.layers.Dense(meta["n_classes_"], activation="sigmoid")(x)
        loss = "binary_crossentropy"
    else:
        outputs = keras.layers.Dense(meta["n_classes_"], activation="softmax")(x)
        loss = "sparse_categorical_crossentropy"
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.Adam(0.01), loss)
    return model


def no_dropout_model(meta):
    return dropout_model(meta, rate=0.0)


@pytest.fixture(scope="module")
def fitted():
    return KerasClassifier(dropout_model, epochs=10, random_state=0).fit(X, Y)


def _with(clf, **params):
    # A copy sharing the fitted model, so that each test sets its own params.
    return KerasClassifier.from_trained(clf.model_, clf.classes_).set_params(**params)


def test_mc_dropout_is_reproducible_with_a_seed(fitted):
    first = _with(fitted, mc_dropout=8, random_state=1).predict_proba(X)
    again = _with(fitted, mc_dropout=8, random_state=1).predict_proba(X)
    other = _with(fitted, mc_dropout=8, random_state=2).predict_proba(X)
    np.testing.assert_array_equal(first, again)
    assert np.abs(first - other).max() > 1e-3


def test_mc_dropout_passes_survive_pickling(fitted):
    clf = pickle.loads(pickle.dumps(fitted)).set_params(mc_dropout=4, random_state=3)
    expected = clf.predict_proba(X)
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(restored.predict_proba(X), expected)


def test_mc_dropout_off_changes_nothing(fitted):
    clf = _with(fitted, random_state=0)
    deterministic = clf.predict_proba(X)
    np.testing.assert_array_equal(deterministic, fitted.predict_proba(X))
    assert (
        np.abs(clf.set_params(mc_dropout=5).predict_proba(X) - deterministic).max()
        > 1e-3
    )
    np.testing.assert_array_equal(
        clf.set_params(mc_dropout=0).predict_proba(X), deterministic
    )


@pytest.mark.parametrize(
    ("head", "y"),
    [
        ("softmax", Y),
        ("sigmoid", IS_SETOSA),
        (
            "multilabel",
            make_multilabel_classification(
                n_samples=150, n_features=4, n_classes=3, random_state=0
            )[1],
        ),
    ],
)
def test_predict_proba_is_the_mean_of_the_passes(head, y):
    clf = KerasClassifier(
        dropout_model, model__head=head, epochs=3, mc_dropout=6, random_state=0
    ).fit(X, y)
    passes = clf.predict_proba_passes(X)
    proba = clf.predict_proba(X)
    assert passes.shape == (6, *proba.shape)
    assert np.abs(passes[0] - passes[1]).max() > 1e-3  # the passes differ
    np.testing.assert_allclose(passes.mean(axis=0), proba, atol=1e-12)
    np.testing.assert_allclose(np.exp(clf.predict_log_proba(X)), proba, atol=1e-12)
    expected = (proba > 0.5).astype(int) if head == "multilabel" else proba.argmax(1)
    if head != "multilabel":
        expected = clf.classes_[expected]
    np.testing.assert_array_equal(clf.predict(X), expected)


def test_batch_normalisation_stays_in_inference_mode():
    # Dropout that almost never drops: the passes must equal the plain
    # prediction, which they would not if batch normalisation used the
    # statistics of each batch (one row here).
    clf = KerasClassifier(
        dropout_model,
        model__rate=1e-7,
        model__batch_norm=True,
        epochs=3,
        random_state=0,
        predict__batch_size=1,
    ).fit(X, Y)
    batch_norm = next(
        layer
        for layer in clf.model_.layers
        if isinstance(layer, keras.layers.BatchNormalization)
    )
    moving_mean = batch_norm.moving_mean.numpy().copy()
    deterministic = clf.predict_proba(X[:20])
    np.testing.assert_allclose(
        clf.set_params(mc_dropout=3).predict_proba(X[:20]), deterministic, atol=1e-6
    )
    np.testing.assert_array_equal(batch_norm.moving_mean.numpy(), moving_mean)


def test_mc_dropout_leaves_the_callers_model_unchanged(fitted):
    model = fitted.model_
    dropout = next(
        layer for layer in model.layers if isinstance(layer, keras.layers.Dropout)
    )
    seed_state = dropout.seed_generator.state.numpy().copy()
    weights = [w.copy() for w in model.get_weights()]
    _with(fitted, mc_dropout=4, random_state=0).predict_proba(X)
    np.testing.assert_array_equal(dropout.seed_generator.state.numpy(), seed_state)
    for before, after in zip(weights, model.get_weights(), strict=True):
        np.testing.assert_array_equal(before, after)


def test_model_without_dropout_is_an_error_at_fit():
    clf = KerasClassifier(no_dropout_model, epochs=1, mc_dropout=5)
    with pytest.raises(ValueError, match=r"mc_dropout=5 .* no Dropout layer"):
        clf.fit(X, Y)


def test_passes_need_mc_dropout(fitted):
    with pytest.raises(ValueError, match="mc_dropout=0"):
        fitted.predict_proba_passes(X)


@pytest.mark.parametrize("mc_dropout", [-1, 2.5, "10"])
def test_mc_dropout_must_be_a_non_negative_integer(mc_dropout):
    with pytest.raises(ValueError, match="mc_dropout"):
        KerasClassifier(dropout_model, mc_dropout=mc_dropout).fit(X, Y)


def deep_ensemble(seeds):
    members = [
        (f"seed_{seed}", KerasClassifier(dropout_model, epochs=3, random_state=seed))
        for seed in seeds
    ]
    return VotingClassifier(members, voting="soft")


def test_deep_ensemble_soft_votes_over_seeds():
    ensemble = deep_ensemble([0, 1, 2]).fit(X, Y)
    members = [member.predict_proba(X) for member in ensemble.estimators_]
    assert np.abs(members[0] - members[1]).max() > 1e-2  # seeds differ
    proba = ensemble.predict_proba(X)
    np.testing.assert_allclose(proba, np.mean(members, axis=0), atol=1e-12)
    np.testing.assert_array_equal(ensemble.classes_, [0, 1, 2])
    assert (ensemble.predict(X) == Y).mean() > 0.7
    # Seeded members make the whole ensemble reproducible.
    again = clone(deep_ensemble([0, 1, 2])).fit(X, Y).predict_proba(X)
    np.testing.assert_array_equal(again, proba)
