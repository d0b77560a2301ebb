"""KerasClassifier and KerasRegressor inside scikit-learn's meta-estimators and tools.

Every test trains real (tiny) Keras models on scikit-learn's bundled data sets.
Fitted estimators that several tests only read are shared through module-scoped
fixtures; the tests that share one carry the same ``xdist_group`` so that
``--dist loadgroup`` fits each of them once. Under plain ``-n`` (load
scheduling) the first tests are dealt out one by one, so the standalone
meta-estimator tests come first and the fixture-sharing tests sit together last.
"""

import pickle
import warnings

import joblib
import keras
import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone, is_classifier, is_regressor
from sklearn.calibration import CalibratedClassifierCV
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.ensemble import StackingClassifier, VotingClassifier
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import (
    GridSearchCV,
    KFold,
    StratifiedKFold,
    TunedThresholdClassifierCV,
    check_cv,
    cross_val_score,
)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

from skkeras_proba import KerasClassifier, KerasRegressor
from tests.models import (
    linear_regression_head,
    logit_unit_head,
    logits_head,
    sigmoid_unit_head,
    softmax_head,
)
from tests.sklearn_features import requires_temperature_scaling

# ------------------------------------------------------------------------ data
IRIS = load_iris()
X_IRIS_RAW, Y_IRIS = IRIS.data, IRIS.target  # rows sorted by class
X_IRIS = (X_IRIS_RAW - X_IRIS_RAW.mean(axis=0)) / X_IRIS_RAW.std(axis=0)
IRIS_NAMES = np.asarray(IRIS.target_names)  # ["setosa", "versicolor", "virginica"]
IRIS_FRAME = pd.DataFrame(X_IRIS, columns=IRIS.feature_names)

CANCER = load_breast_cancer()
X_CANCER = (CANCER.data - CANCER.data.mean(axis=0)) / CANCER.data.std(axis=0)
Y_CANCER = CANCER.target  # 0 = malignant, 1 = benign
# Sorted, the string labels put "malignant" second: column 1 of predict_proba.
Y_CANCER_STR = np.where(Y_CANCER == 0, "malignant", "benign")

# Shared training settings: a few epochs, fast learning rate, seeded.
FAST = {"epochs": 10, "batch_size": 32, "random_state": 0}


def iris_classifier(**params):
    """A logits KerasClassifier that fits iris well within 10 epochs."""
    return KerasClassifier(logits_head, model__learning_rate=0.05, **{**FAST, **params})


def dense_units(model):
    """Units of every Dense layer of a Keras model, input to output."""
    return [
        layer.units for layer in model.layers if isinstance(layer, keras.layers.Dense)
    ]


# -------------------------------------------------- pipelines and cross-validation
def make_pipeline_clf():
    return Pipeline([("scale", StandardScaler()), ("clf", iris_classifier())])


def test_keras_classifier_and_its_pipeline_are_classifiers_so_check_cv_stratifies():
    pipe = make_pipeline_clf()
    assert is_classifier(pipe.named_steps["clf"]) and is_classifier(pipe)
    assert not is_regressor(pipe)
    assert isinstance(
        check_cv(3, Y_IRIS, classifier=is_classifier(pipe)), StratifiedKFold
    )


def test_cross_val_score_of_pipeline_uses_stratified_folds_and_finite_log_loss():
    # iris is sorted by class: unstratified 3-fold splits would hold out one
    # whole class per fold, and neg_log_loss would fail on labels unseen in fit.
    scores = cross_val_score(
        make_pipeline_clf(),
        X_IRIS_RAW,
        Y_IRIS,
        cv=3,
        scoring="neg_log_loss",
        error_score="raise",
    )
    assert scores.shape == (3,) and np.isfinite(scores).all()
    assert (scores > -np.log(3)).all()  # every fold beats a uniform guess


# --------------------------------------------------------------------- grid search
def test_grid_search_with_two_loky_workers_routes_model_params_and_sets_best_params():
    grid = {"model__hidden": [4, 16], "epochs": [2, 5]}
    search = GridSearchCV(iris_classifier(), grid, cv=2, n_jobs=2, error_score="raise")
    with joblib.parallel_config(backend="loky"):  # worker processes, not threads
        search.fit(X_IRIS, Y_IRIS)
    assert set(search.best_params_) == {"model__hidden", "epochs"}
    assert search.best_params_["model__hidden"] in grid["model__hidden"]
    assert search.best_params_["epochs"] in grid["epochs"]
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert len(search.cv_results_["params"]) == 4
    best = search.best_estimator_
    # model__hidden reached the build function's `hidden` argument.
    assert dense_units(best.model_) == [search.best_params_["model__hidden"], 3]
    assert best.epochs == search.best_params_["epochs"]
    assert search.best_score_ > 0.6


# --------------------------------------------------------------------- calibration
@pytest.mark.parametrize(
    "method",
    [
        "sigmoid",
        "isotonic",
        pytest.param("temperature", marks=requires_temperature_scaling),
    ],
)
def test_calibrated_classifier_cv_on_logits_model_gives_probabilities(method):
    calibrated = CalibratedClassifierCV(iris_classifier(), method=method, cv=2)
    calibrated.fit(X_IRIS, Y_IRIS)
    proba = calibrated.predict_proba(X_IRIS)
    assert proba.shape == (150, 3)
    assert ((proba >= 0) & (proba <= 1)).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(calibrated.classes_, [0, 1, 2])
    assert calibrated.score(X_IRIS, Y_IRIS) > 0.8


# ----------------------------------------------------------------------- ensembles
def test_soft_voting_averages_keras_and_logistic_regression_probabilities():
    vote = VotingClassifier(
        [("keras", iris_classifier()), ("logreg", LogisticRegression())],
        voting="soft",
    ).fit(X_IRIS, Y_IRIS)
    members = [est.predict_proba(X_IRIS) for est in vote.estimators_]
    np.testing.assert_allclose(
        vote.predict_proba(X_IRIS), np.mean(members, axis=0), rtol=1e-6
    )
    assert vote.score(X_IRIS, Y_IRIS) > 0.85


def test_stacking_classifier_stacks_keras_predict_proba():
    stack = StackingClassifier(
        [("keras", iris_classifier())], final_estimator=LogisticRegression(), cv=2
    ).fit(X_IRIS, Y_IRIS)
    assert stack.stack_method_ == ["predict_proba"]
    features = stack.transform(X_IRIS)
    assert features.shape == (150, 3)
    np.testing.assert_allclose(features.sum(axis=1), 1.0, rtol=1e-6)
    proba = stack.predict_proba(X_IRIS)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert stack.score(X_IRIS, Y_IRIS) > 0.85


# ------------------------------------------------------------- threshold tuning
def test_tuned_threshold_classifier_cv_tunes_binary_logits_model_on_probabilities():
    clf = KerasClassifier(logit_unit_head, **FAST)
    tuned = TunedThresholdClassifierCV(clf, scoring="balanced_accuracy", cv=2)
    tuned.fit(X_CANCER, Y_CANCER)
    assert tuned.estimator_.heads_[0].logits  # a Dense(1) logits head
    # The threshold is on predict_proba, so it is a probability.
    assert 0.0 < tuned.best_threshold_ < 1.0
    assert tuned.best_score_ > 0.85
    positive = tuned.estimator_.predict_proba(X_CANCER)[:, 1] >= tuned.best_threshold_
    np.testing.assert_array_equal(
        tuned.predict(X_CANCER), tuned.classes_[positive.astype(int)]
    )


# ------------------------------------------------------------------------ labels
@pytest.mark.parametrize(
    "labels",
    [IRIS_NAMES, np.array([3, 7, 11])],
    ids=["strings", "non_contiguous_integers"],
)
def test_labels_round_trip_through_predict(labels):
    y = labels[Y_IRIS]
    clf = iris_classifier().fit(X_IRIS, y)
    np.testing.assert_array_equal(clf.classes_, np.sort(labels))
    predicted = clf.predict(X_IRIS)
    assert predicted.shape == (150,) and predicted.dtype.kind == y.dtype.kind
    assert set(np.unique(predicted)) <= set(labels)
    assert (predicted == y).mean() > 0.85
    assert clf.score(X_IRIS, y) > 0.85


# -------------------------------------------------------------------- regressor
X_REG = X_IRIS[:, [0, 1, 3]]  # sepal length, sepal width, petal width
Y_PETAL_LENGTH = X_IRIS_RAW[:, 2]
Y_PETALS = X_IRIS_RAW[:, 2:]  # petal length and width


def iris_regressor():
    return KerasRegressor(linear_regression_head, model__learning_rate=0.05, **FAST)


def test_regressor_predicts_one_dimension_for_one_dimensional_y():
    reg = iris_regressor().fit(X_REG, Y_PETAL_LENGTH)
    prediction = reg.predict(X_REG)
    assert prediction.shape == (150,) and prediction.dtype == np.float64
    assert reg.score(X_REG, Y_PETAL_LENGTH) > 0.5


def test_regressor_predicts_two_columns_for_two_column_y():
    reg = iris_regressor().fit(X_IRIS[:, :2], Y_PETALS)
    prediction = reg.predict(X_IRIS[:, :2])
    assert prediction.shape == (150, 2) and reg.n_outputs_ == 2
    assert np.isfinite(prediction).all()
    assert reg.score(X_IRIS[:, :2], Y_PETALS) > 0.3


def test_regressor_works_in_cross_val_score_with_unstratified_folds():
    reg = iris_regressor()
    assert is_regressor(reg) and not is_classifier(reg)
    assert type(check_cv(2, Y_PETAL_LENGTH, classifier=is_classifier(reg))) is KFold
    scores = cross_val_score(
        reg,
        X_REG,
        Y_PETAL_LENGTH,
        cv=KFold(2, shuffle=True, random_state=0),
        error_score="raise",
    )
    assert scores.shape == (2,) and np.isfinite(scores).all()
    assert scores.mean() > 0.3


# ------------------------------------ one fitted multiclass logits classifier
@pytest.fixture(scope="module")
def iris_clf():
    """Fitted on the even rows of iris; the odd rows are held out."""
    return iris_classifier().fit(X_IRIS[::2], Y_IRIS[::2])


@requires_temperature_scaling
@pytest.mark.xdist_group("iris_clf")
def test_temperature_calibration_of_frozen_fitted_classifier_keeps_its_predictions(
    iris_clf,
):
    X_cal, y_cal = X_IRIS[1::2], Y_IRIS[1::2]
    proba_before = iris_clf.predict_proba(X_IRIS)
    calibrated = CalibratedClassifierCV(FrozenEstimator(iris_clf), method="temperature")
    calibrated.fit(X_cal, y_cal)
    proba = calibrated.predict_proba(X_IRIS)
    assert proba.shape == (150, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    # Temperature scaling divides the logits by one T > 0: the ranking stays.
    assert calibrated.calibrated_classifiers_[0].calibrators[0].beta_ > 0
    np.testing.assert_array_equal(calibrated.predict(X_IRIS), iris_clf.predict(X_IRIS))
    # The frozen classifier was not refitted.
    np.testing.assert_array_equal(iris_clf.predict_proba(X_IRIS), proba_before)


@pytest.mark.xdist_group("iris_clf")
def test_clone_of_fitted_classifier_is_unfitted_with_equal_params(iris_clf):
    copy = clone(iris_clf)
    assert copy.get_params() == iris_clf.get_params()
    assert copy.get_params()["model__learning_rate"] == 0.05
    assert not hasattr(copy, "model_") and not hasattr(copy, "classes_")
    with pytest.raises(NotFittedError):
        check_is_fitted(copy)
    with pytest.raises(NotFittedError):
        copy.predict_proba(X_IRIS)


@pytest.mark.xdist_group("iris_clf")
def test_pickle_round_trip_gives_identical_predict_proba(iris_clf):
    restored = pickle.loads(pickle.dumps(iris_clf))
    assert restored.model_ is not iris_clf.model_
    np.testing.assert_array_equal(
        restored.predict_proba(X_IRIS), iris_clf.predict_proba(X_IRIS)
    )
    np.testing.assert_array_equal(restored.classes_, iris_clf.classes_)


@pytest.mark.xdist_group("iris_clf")
def test_joblib_round_trip_gives_identical_predict_proba(iris_clf, tmp_path):
    path = tmp_path / "clf.joblib"
    joblib.dump(iris_clf, path)
    restored = joblib.load(path)
    np.testing.assert_array_equal(
        restored.predict_proba(X_IRIS), iris_clf.predict_proba(X_IRIS)
    )
    np.testing.assert_array_equal(restored.predict(X_IRIS), iris_clf.predict(X_IRIS))


@pytest.mark.xdist_group("iris_clf")
def test_multiclass_decision_function_has_one_column_per_class(iris_clf):
    decision = iris_clf.decision_function(X_IRIS)
    assert decision.shape == (150, 3)
    np.testing.assert_array_equal(
        iris_clf.classes_[decision.argmax(axis=1)], iris_clf.predict(X_IRIS)
    )
    proba = iris_clf.predict_proba(X_IRIS)
    shifted = decision - decision.max(axis=1, keepdims=True)
    softmax = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(proba, softmax, rtol=1e-6, atol=1e-12)


@pytest.mark.xdist_group("iris_clf")
def test_multiclass_log_proba_of_logits_model_is_finite_for_extreme_inputs(iris_clf):
    np.testing.assert_allclose(
        iris_clf.predict_log_proba(X_IRIS),
        np.log(iris_clf.predict_proba(X_IRIS)),
        rtol=1e-5,
        atol=1e-7,
    )
    extreme = X_IRIS * 1000
    log_proba = iris_clf.predict_log_proba(extreme)
    assert np.isfinite(log_proba).all()
    assert (log_proba <= 0).all()
    np.testing.assert_allclose(np.exp(log_proba).sum(axis=1), 1.0, rtol=1e-12)
    proba = iris_clf.predict_proba(extreme)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)


@pytest.mark.xdist_group("iris_clf")
def test_dataframe_at_predict_after_array_fit_warns_like_sklearn(iris_clf):
    assert not hasattr(iris_clf, "feature_names_in_")
    with pytest.warns(UserWarning, match="X has feature names, but KerasClassifier"):
        iris_clf.predict(IRIS_FRAME)


# -------------------------------------------------- a model instance as model=
@pytest.fixture(scope="module")
def instance_fits():
    """An estimator given a compiled model instance, fitted twice, and a clone."""
    instance = logits_head({"X_shape_": X_IRIS.shape, "n_classes_": 3})
    weights_before = [w.copy() for w in instance.get_weights()]
    clf = KerasClassifier(instance, **FAST)
    first_proba = clf.fit(X_IRIS, Y_IRIS).predict_proba(X_IRIS)
    first_model = clf.model_
    second_proba = clf.fit(X_IRIS, Y_IRIS).predict_proba(X_IRIS)
    other = clone(clf).fit(X_IRIS, Y_IRIS)
    return {
        "instance": instance,
        "weights_before": weights_before,
        "clf": clf,
        "first_proba": first_proba,
        "first_model": first_model,
        "second_proba": second_proba,
        "other": other,
    }


@pytest.mark.xdist_group("instance_fits")
def test_model_instance_passed_as_model_is_never_trained(instance_fits):
    instance = instance_fits["instance"]
    assert instance_fits["clf"].model_ is not instance
    assert instance_fits["first_model"] is not instance
    for before, after in zip(
        instance_fits["weights_before"], instance.get_weights(), strict=True
    ):
        np.testing.assert_array_equal(before, after)


@pytest.mark.xdist_group("instance_fits")
def test_refitting_a_seeded_estimator_with_model_instance_gives_identical_proba(
    instance_fits,
):
    assert instance_fits["clf"].model_ is not instance_fits["first_model"]
    np.testing.assert_array_equal(
        instance_fits["first_proba"], instance_fits["second_proba"]
    )
    # The fits trained: the probabilities are not those of fresh weights.
    assert (instance_fits["first_proba"].argmax(axis=1) == Y_IRIS).mean() > 0.8


@pytest.mark.xdist_group("instance_fits")
def test_fitted_clones_of_model_instance_estimator_share_no_keras_objects(
    instance_fits,
):
    clf, other = instance_fits["clf"], instance_fits["other"]
    assert other.model_ is not clf.model_
    assert other.model_ is not instance_fits["instance"]
    own_variables = {id(v) for v in clf.model_.weights}
    assert not own_variables & {id(v) for v in other.model_.weights}
    np.testing.assert_array_equal(
        other.predict_proba(X_IRIS), instance_fits["second_proba"]
    )


# ---------------------------------------------------------------- feature names
@pytest.fixture(scope="module")
def frame_clf():
    return iris_classifier(epochs=2).fit(IRIS_FRAME, Y_IRIS)


@pytest.mark.xdist_group("frame_clf")
def test_dataframe_input_sets_feature_names_in(frame_clf):
    np.testing.assert_array_equal(frame_clf.feature_names_in_, IRIS.feature_names)
    assert frame_clf.n_features_in_ == 4
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # same column names: no warning
        assert frame_clf.predict(IRIS_FRAME).shape == (150,)


@pytest.mark.xdist_group("frame_clf")
def test_dataframe_with_other_column_names_at_predict_raises_like_sklearn(frame_clf):
    renamed = IRIS_FRAME.set_axis(["a", "b", "c", "d"], axis=1)
    with pytest.raises(ValueError, match="feature names should match those"):
        frame_clf.predict_proba(renamed)
    reordered = IRIS_FRAME[IRIS.feature_names[::-1]]
    with pytest.raises(ValueError, match="Feature names must be in the same order"):
        frame_clf.predict(reordered)


@pytest.mark.xdist_group("frame_clf")
def test_array_at_predict_after_dataframe_fit_warns_like_sklearn(frame_clf):
    with pytest.warns(UserWarning, match="X does not have valid feature names"):
        frame_clf.predict(X_IRIS)


# ------------------------------------------- binary heads: proba and decision
BINARY_HEADS = {
    # name: (factory, expected (units, logits) of the head it builds)
    "logit_unit": (logit_unit_head, (1, True)),
    "sigmoid_unit": (sigmoid_unit_head, (1, False)),
    "softmax_2_units": (softmax_head, (2, False)),
}


@pytest.fixture(scope="module", params=sorted(BINARY_HEADS))
def binary_clf(request):
    """A binary classifier on breast cancer with string labels, one per head form."""
    factory, expected_head = BINARY_HEADS[request.param]
    clf = KerasClassifier(factory, **FAST).fit(X_CANCER, Y_CANCER_STR)
    assert (clf.heads_[0].units, clf.heads_[0].logits) == expected_head
    return clf


@pytest.mark.xdist_group("binary_clf")
def test_binary_predict_proba_has_two_columns_in_classes_order(binary_clf):
    np.testing.assert_array_equal(binary_clf.classes_, ["benign", "malignant"])
    proba = binary_clf.predict_proba(X_CANCER)
    assert proba.shape == (len(X_CANCER), 2) and proba.dtype == np.float64
    assert ((proba >= 0) & (proba <= 1)).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    # Column 1 is "malignant": high where the sample is malignant.
    malignant = Y_CANCER_STR == "malignant"
    assert proba[malignant, 1].mean() > 0.7 and proba[~malignant, 1].mean() < 0.3
    predicted = binary_clf.predict(X_CANCER)
    np.testing.assert_array_equal(predicted, binary_clf.classes_[proba.argmax(axis=1)])
    assert (predicted == Y_CANCER_STR).mean() > 0.9


@pytest.mark.xdist_group("binary_clf")
def test_binary_decision_function_is_one_column_of_positive_class_log_odds(binary_clf):
    decision = binary_clf.decision_function(X_CANCER)
    assert decision.shape == (len(X_CANCER),)
    proba = binary_clf.predict_proba(X_CANCER)
    np.testing.assert_allclose(1 / (1 + np.exp(-decision)), proba[:, 1], atol=1e-6)
    predicted = binary_clf.predict(X_CANCER)
    confident = np.abs(decision) > 1e-3
    np.testing.assert_array_equal(
        (decision > 0)[confident], (predicted == "malignant")[confident]
    )


@pytest.mark.xdist_group("binary_clf")
def test_binary_predict_log_proba_equals_log_of_predict_proba(binary_clf):
    log_proba = binary_clf.predict_log_proba(X_CANCER)
    assert log_proba.shape == (len(X_CANCER), 2)
    proba = binary_clf.predict_proba(X_CANCER)
    # A probability within float64 rounding of 0 (1 - p for p near 1) has no
    # accurate logarithm to compare with; predict_log_proba of a logits head
    # is exact there and is checked to be finite below.
    representable = proba > 1e-8
    assert representable.mean() > 0.5
    np.testing.assert_allclose(
        log_proba[representable], np.log(proba[representable]), rtol=1e-6, atol=1e-9
    )
    if binary_clf.heads_[0].logits:
        assert np.isfinite(log_proba).all()


@pytest.mark.xdist_group("binary_clf")
def test_binary_probabilities_stay_valid_for_extreme_inputs(binary_clf):
    proba = binary_clf.predict_proba(X_CANCER * 1000)
    assert np.isfinite(proba).all() and ((proba >= 0) & (proba <= 1)).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    if binary_clf.heads_[0].logits:
        log_proba = binary_clf.predict_log_proba(X_CANCER * 1000)
        assert np.isfinite(log_proba).all()
        np.testing.assert_allclose(np.exp(log_proba).sum(axis=1), 1.0, rtol=1e-12)
