"""Raw head outputs to probabilities, decision values and labels, one pass or many."""

import numpy as np
import pytest

from skkeras_proba import _decode
from skkeras_proba._decode import average_passes
from skkeras_proba._heads import Head
from skkeras_proba._proba import SIGMOID, SOFTMAX, sigmoid, softmax
from skkeras_proba._targets import BINARY, MULTICLASS, MULTILABEL

RNG = np.random.default_rng(0)
PASSES = RNG.normal(scale=20.0, size=(5, 7, 3))


def _head(units, link=SOFTMAX, logits=True):
    return Head("out", units, "linear", None, link, logits, "layer")


# --------------------------------------------------------------- one pass
def test_labels_come_back_in_the_original_label_space():
    proba = np.array([[0.1, 0.9], [0.8, 0.2]])
    labels = _decode.head_labels(proba, np.array([3, 11]), BINARY)
    np.testing.assert_array_equal(labels, [11, 3])
    indicator = _decode.head_labels(proba, np.arange(2), MULTILABEL)
    np.testing.assert_array_equal(indicator, [[0, 1], [1, 0]])


def test_softmax_head_over_one_hot_labels_gives_one_distribution_per_row():
    # One-hot y with Dense(k, "softmax") + categorical cross-entropy is an
    # indicator y, but its labels are exclusive: never a sigmoid per unit.
    raw = np.array([[2.0, 0.0, -1.0], [0.0, 3.0, 0.5]])
    softmax_head, sigmoid_head = _head(3), _head(3, link="sigmoid")
    proba = _decode.head_proba(raw, softmax_head, MULTILABEL)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_allclose(
        np.exp(_decode.head_log_proba(raw, softmax_head, MULTILABEL)), proba
    )
    two_labels = _decode.head_decision(raw[:, :2], _head(2), MULTILABEL)
    assert two_labels.shape == (2, 2)  # one column per label, as for k labels
    independent = _decode.head_proba(raw, sigmoid_head, MULTILABEL)
    np.testing.assert_allclose(independent, 1 / (1 + np.exp(-raw)))


# -------------------------------------------------------- averaged passes
@pytest.mark.parametrize(
    ("head", "kind", "probabilities"),
    [
        (_head(3, SOFTMAX), MULTICLASS, softmax),
        (_head(3, SIGMOID), MULTILABEL, sigmoid),
        (
            _head(3, SIGMOID),
            MULTICLASS,
            lambda z: sigmoid(z) / sigmoid(z).sum(1)[:, None],
        ),
    ],
)
def test_averaged_logits_give_the_mean_of_the_probabilities(head, kind, probabilities):
    (averaged,) = average_passes([PASSES], [head], kind)
    expected = np.mean([probabilities(z) for z in PASSES], axis=0)
    np.testing.assert_allclose(probabilities(averaged), expected, rtol=1e-9, atol=1e-15)


def test_averaged_log_odds_of_a_single_unit_stay_finite_at_the_tails():
    passes = np.array([[[800.0]], [[900.0]]])  # probabilities 1 - 1e-348...
    (averaged,) = average_passes([passes], [_head(1, SIGMOID)], BINARY)
    assert np.isfinite(averaged).all() and averaged[0, 0] > 800


def test_probability_heads_are_averaged_as_they_are():
    probabilities = RNG.dirichlet(np.ones(3), size=(4, 6))
    (averaged,) = average_passes(
        [probabilities], [_head(3, SOFTMAX, logits=False)], MULTICLASS
    )
    np.testing.assert_allclose(averaged, probabilities.mean(axis=0))
