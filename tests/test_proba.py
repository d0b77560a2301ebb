"""The NumPy maths: probabilities, log-probabilities and decision values."""

import numpy as np
import pytest

from skkeras_proba import _proba

RNG = np.random.RandomState(0)
LOGITS_3 = RNG.normal(scale=3, size=(50, 3)).astype(np.float32)
LOGIT_1 = RNG.normal(scale=3, size=(50, 1)).astype(np.float32)


def test_softmax_rows_sum_to_one_and_match_definition():
    expected = np.exp(LOGITS_3) / np.exp(LOGITS_3).sum(axis=1, keepdims=True)
    p = _proba.predict_proba(LOGITS_3, link="softmax", logits=True)
    np.testing.assert_allclose(p, expected, rtol=1e-6)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-12)


def test_single_logit_unit_expands_to_two_columns_ordered_negative_positive():
    p = _proba.predict_proba(LOGIT_1, link="sigmoid", logits=True)
    assert p.shape == (50, 2)
    np.testing.assert_allclose(p[:, 1], 1 / (1 + np.exp(-LOGIT_1[:, 0])), rtol=1e-6)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)


def test_single_probability_unit_is_used_as_positive_class_probability():
    q = np.array([[0.2], [0.9]], dtype=np.float32)
    p = _proba.predict_proba(q, link="sigmoid", logits=False)
    np.testing.assert_allclose(p, [[0.8, 0.2], [0.1, 0.9]], rtol=1e-6)


def test_sigmoid_units_over_exclusive_classes_are_normalised_per_row():
    q = np.array([[0.9, 0.9, 0.2]])
    p = _proba.predict_proba(q, link="sigmoid", logits=False)
    np.testing.assert_allclose(p, [[0.45, 0.45, 0.1]])


def test_log_proba_of_logits_is_finite_where_log_of_proba_is_not():
    extreme = np.array([[1000.0, -1000.0, 0.0]])
    log_p = _proba.log_proba(extreme, link="softmax", logits=True)
    assert np.isfinite(log_p).all()
    np.testing.assert_allclose(log_p, [[0.0, -2000.0, -1000.0]])
    binary = _proba.log_proba(np.array([[800.0]]), link="sigmoid", logits=True)
    np.testing.assert_allclose(binary, [[-800.0, 0.0]])


@pytest.mark.parametrize(
    ("raw", "link", "logits"),
    [
        (LOGITS_3, "softmax", True),
        (LOGIT_1, "sigmoid", True),
        (_proba.softmax(LOGITS_3), "softmax", False),
        (_proba.sigmoid(LOGIT_1), "sigmoid", False),
        (_proba.sigmoid(LOGITS_3), "sigmoid", False),
    ],
)
def test_log_proba_equals_log_of_predict_proba(raw, link, logits):
    np.testing.assert_allclose(
        _proba.log_proba(raw, link=link, logits=logits),
        np.log(_proba.predict_proba(raw, link=link, logits=logits)),
        rtol=1e-6,
        atol=1e-9,
    )


def test_binary_decision_is_log_odds_of_second_class_for_every_head_form():
    z = LOGIT_1[:, 0].astype(np.float64)
    two_logits = np.column_stack([np.zeros_like(z), z])
    forms = [
        (LOGIT_1, "sigmoid", True),
        (_proba.sigmoid(LOGIT_1), "sigmoid", False),
        (two_logits, "softmax", True),
        (_proba.softmax(two_logits), "softmax", False),
    ]
    for raw, link, logits in forms:
        decision = _proba.decision_function(raw, link=link, logits=logits)
        assert decision.shape == (50,)
        np.testing.assert_allclose(decision, z, rtol=1e-5, atol=1e-6)


def test_multiclass_decision_of_logits_head_is_the_logits():
    decision = _proba.decision_function(LOGITS_3, link="softmax", logits=True)
    np.testing.assert_array_equal(decision, LOGITS_3.astype(np.float64))


def test_decision_and_proba_rank_samples_identically():
    decision = _proba.decision_function(LOGIT_1, link="sigmoid", logits=True)
    proba = _proba.predict_proba(LOGIT_1, link="sigmoid", logits=True)[:, 1]
    np.testing.assert_array_equal(np.argsort(decision), np.argsort(proba))


def test_logit_of_certain_probability_stays_finite():
    assert np.isfinite(_proba.logit(np.array([0.0, 1.0]))).all()


def test_multilabel_proba_and_decision_are_per_label():
    np.testing.assert_allclose(
        _proba.multilabel_proba(LOGITS_3, logits=True), _proba.sigmoid(LOGITS_3)
    )
    np.testing.assert_allclose(
        _proba.multilabel_decision(_proba.sigmoid(LOGITS_3), logits=False),
        LOGITS_3,
        rtol=1e-5,
        atol=1e-5,
    )


@pytest.mark.parametrize(
    ("raw", "link", "expected"),
    [
        (np.array([[0.2, 0.8], [0.5, 0.5]]), "softmax", True),
        (np.array([[0.2, 0.7], [0.5, 0.5]]), "softmax", False),
        (np.array([[0.2, 0.7]]), "sigmoid", True),
        (np.array([[-0.1, 0.7]]), "sigmoid", False),
        (np.array([[1.5]]), "sigmoid", False),
    ],
)
def test_looks_like_probabilities(raw, link, expected):
    assert _proba.looks_like_probabilities(raw, link=link) is expected


@pytest.mark.parametrize("n_columns", [1, 2, 3, 32, 33, 200])
def test_row_reductions_match_numpy(n_columns):
    z = np.random.default_rng(0).normal(size=(50, n_columns)) * 30
    np.testing.assert_array_equal(_proba._row_max(z), z.max(axis=1, keepdims=True))
    np.testing.assert_allclose(
        _proba._row_sum(z), z.sum(axis=1, keepdims=True), rtol=1e-12, atol=1e-12
    )
