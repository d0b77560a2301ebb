"""The exported ONNX graph, served by onnxruntime, predicts as the estimator does.

Each fitted estimator is exported once per module (export is slow); onnxruntime
runs the graph on held-out rows, one row and 1,000 rows, and its ``label`` and
``probabilities`` are compared with ``predict`` and ``predict_proba``.
"""

import functools

import keras
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.calibration import CalibratedClassifierCV
from sklearn.datasets import (
    make_classification,
    make_multilabel_classification,
    make_regression,
)
from sklearn.ensemble import VotingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

pytest.importorskip("skl2onnx")
onnxruntime = pytest.importorskip("onnxruntime")

from skkeras_proba import KerasClassifier, KerasRegressor, to_onnx  # noqa: E402
from tests import models  # noqa: E402

N_TRAIN = 300
N_HELD_OUT = 1000
ATOL = 1e-5


def _split(X, y):
    X = X.astype(np.float32)
    return (X[:N_TRAIN], y[:N_TRAIN]), (X[N_TRAIN:], y[N_TRAIN:])


def binary_data():
    return _split(*make_classification(N_TRAIN + N_HELD_OUT, 8, random_state=0))


def multiclass_data():
    X, y = make_classification(
        N_TRAIN + N_HELD_OUT, 8, n_informative=5, n_classes=3, random_state=0
    )
    return _split(X, y)


def string_label_data():
    (X, y), (X_test, y_test) = multiclass_data()
    names = np.array(["cat", "dog", "owl"])
    return (X, names[y]), (X_test, names[y_test])


def multilabel_data():
    X, Y = make_multilabel_classification(
        N_TRAIN + N_HELD_OUT, 8, n_classes=3, random_state=0
    )
    return _split(X, Y)


def _classifier(build, **params):
    return KerasClassifier(build, epochs=2, random_state=0, verbose=0, **params)


@functools.cache
def fitted_and_exported(case):
    """``case`` fitted on its training rows, exported, and its held-out rows."""
    make_estimator, data = case
    (X, y), (X_test, _) = data()
    estimator = make_estimator().fit(X, y)
    onnx_model = to_onnx(estimator, X[:1], options={"zipmap": False})
    session = onnxruntime.InferenceSession(
        onnx_model.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    return estimator, session, X_test


def _case(build, data, **params):
    return pytest.param(
        (functools.partial(_classifier, build, **params), data), id=build.__name__
    )


CLASSIFIERS = [
    _case(models.sigmoid_unit_head, binary_data),
    _case(models.logit_unit_head, binary_data),
    _case(models.softmax_head, multiclass_data),
    _case(models.logits_head, multiclass_data),
    pytest.param(
        (functools.partial(_classifier, models.logits_head), string_label_data),
        id="string_labels",
    ),
    _case(models.multilabel_logits_head, multilabel_data),
]


def _pipeline():
    return make_pipeline(StandardScaler(), _classifier(models.logits_head))


def _calibrated_sigmoid():
    return CalibratedClassifierCV(
        _classifier(models.logits_head), method="sigmoid", cv=2
    )


def _calibrated_isotonic():
    return CalibratedClassifierCV(
        _classifier(models.sigmoid_unit_head), method="isotonic", cv=2
    )


def _soft_voting():
    return VotingClassifier(
        [("keras", _classifier(models.softmax_head)), ("lr", LogisticRegression())],
        voting="soft",
        flatten_transform=False,  # skl2onnx converts only this setting
    )


PARENTS = [
    pytest.param((_pipeline, multiclass_data), id="pipeline_standard_scaler"),
    pytest.param((_calibrated_sigmoid, multiclass_data), id="calibrated_sigmoid"),
    pytest.param((_soft_voting, multiclass_data), id="soft_voting"),
]


def _served(session, X):
    return session.run(None, {session.get_inputs()[0].name: X})


@pytest.mark.parametrize("n_rows", [1, N_HELD_OUT])
@pytest.mark.parametrize("case", CLASSIFIERS + PARENTS)
def test_onnxruntime_serves_labels_and_probabilities_of_predict(case, n_rows):
    estimator, session, X_test = fitted_and_exported(case)
    rows = X_test[:n_rows]
    label, proba = _served(session, rows)
    assert_array_equal(label, estimator.predict(rows))
    assert_allclose(proba, estimator.predict_proba(rows), rtol=0, atol=ATOL)


def _nearest_threshold(calibrator, scores):
    """Isotonic calibration as skl2onnx writes it: the nearest threshold's value.

    skl2onnx does not interpolate between thresholds as scikit-learn does (its
    graph of a LogisticRegression differs from predict_proba alike), so the
    graph is checked against this, on our decision values.
    """
    scores = np.clip(scores, calibrator.X_min_, calibrator.X_max_)
    distances = np.abs(scores[:, np.newaxis] - calibrator.X_thresholds_)
    return calibrator.y_thresholds_[distances.argmin(axis=1)]


def test_isotonic_calibration_reads_the_decision_values_of_decision_function():
    calibrated, session, X_test = fitted_and_exported(
        (_calibrated_isotonic, binary_data)
    )
    positive = np.mean(
        [
            _nearest_threshold(c.calibrators[0], c.estimator.decision_function(X_test))
            for c in calibrated.calibrated_classifiers_
        ],
        axis=0,
    )
    _, proba = _served(session, X_test)
    assert_allclose(proba[:, 1], positive, rtol=0, atol=ATOL)
    assert_allclose(proba[:, 0], 1 - positive, rtol=0, atol=ATOL)


def test_string_labels_come_back_as_strings():
    _, session, X_test = fitted_and_exported(CLASSIFIERS[4].values[0])
    label, _ = _served(session, X_test[:5])
    assert set(label) <= {"cat", "dog", "owl"}


def test_graph_has_scikit_learns_classifier_outputs():
    _, session, _ = fitted_and_exported(CLASSIFIERS[0].values[0])
    assert [output.name for output in session.get_outputs()] == [
        "label",
        "probabilities",
    ]


@pytest.mark.parametrize("n_targets", [1, 2])
def test_onnxruntime_serves_regressor_predictions_shaped_as_sklearns(n_targets):
    X, y = make_regression(N_TRAIN + N_HELD_OUT, 8, n_targets=n_targets, random_state=0)
    (X, y), (X_test, _) = _split(X, y)
    regressor = KerasRegressor(
        models.linear_regression_head, epochs=2, random_state=0, verbose=0
    ).fit(X, y)
    session = onnxruntime.InferenceSession(
        to_onnx(regressor, X[:1]).SerializeToString(),
        providers=["CPUExecutionProvider"],
    )
    for n_rows in (1, N_HELD_OUT):
        (served,) = _served(session, X_test[:n_rows])
        expected = regressor.predict(X_test[:n_rows]).reshape(n_rows, n_targets)
        assert served.shape == (n_rows, n_targets)
        assert_allclose(served, expected, rtol=1e-5, atol=ATOL)


class BatchSingularValues(keras.layers.Layer):
    """Singular values of each row read as a 2x2 matrix: no ONNX conversion."""

    def call(self, x):
        matrices = keras.ops.reshape(x, (-1, 2, 2))
        return keras.ops.svd(matrices, compute_uv=False)


def test_layer_the_exporter_cannot_convert_is_named_in_a_value_error():
    inputs = keras.Input((4,))
    x = keras.layers.Dense(4)(inputs)
    x = BatchSingularValues(name="singular_values")(x)
    model = keras.Model(inputs, keras.layers.Dense(3)(x))
    classifier = KerasClassifier.from_trained(model, [0, 1, 2], logits=True)
    X = np.zeros((1, 4), dtype=np.float32)
    with pytest.raises(ValueError, match="layer 'singular_values'"):
        to_onnx(classifier, X, options={"zipmap": False})
