"""``score`` as in scikeras: the ``scorer`` static method and ``score__*`` routing.

scikeras' ``score`` calls ``self.scorer(y, predict(X), sample_weight=...,
**score_params)`` with the estimator's ``score__<name>`` parameters, and its
documentation tells users to override ``scorer`` to change the metric.
"""

import keras
import numpy as np
import pytest
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.datasets import load_diabetes, load_iris
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import GridSearchCV
from sklearn.preprocessing import LabelEncoder

from skkeras_proba import BaseWrapper, KerasClassifier, KerasRegressor
from tests.models import linear_regression_head, logits_head

X, Y = load_iris(return_X_y=True)
X = ((X - X.mean(axis=0)) / X.std(axis=0)).astype(np.float32)
X_REG, Y_REG = load_diabetes(return_X_y=True)
Y_REG_TWO = np.column_stack([Y_REG, -Y_REG / 10])


class ConstantScoreClassifier(KerasClassifier):
    @staticmethod
    def scorer(y_true, y_pred, **kwargs):
        return 42.0


class ConstantScoreRegressor(KerasRegressor):
    @staticmethod
    def scorer(y_true, y_pred, **kwargs):
        return 42.0


class RecordingRegressor(KerasRegressor):
    """Keeps what ``score`` hands its scorer."""

    calls: list = []

    @staticmethod
    def scorer(y_true, y_pred, **kwargs):
        RecordingRegressor.calls.append((y_true, y_pred, kwargs))
        return r2_score(y_true, y_pred, **kwargs)


@pytest.fixture(scope="module")
def classifier():
    return KerasClassifier(logits_head, epochs=3, random_state=0).fit(X, Y)


@pytest.fixture(scope="module")
def two_target_regressor():
    return KerasRegressor(linear_regression_head, epochs=3, random_state=0).fit(
        X_REG, Y_REG_TWO
    )


@pytest.mark.parametrize(
    ("estimator", "X_", "y"),
    [
        (ConstantScoreClassifier(logits_head, random_state=0), X, Y),
        (ConstantScoreRegressor(linear_regression_head, random_state=0), X_REG, Y_REG),
    ],
    ids=["classifier", "regressor"],
)
def test_score_calls_a_subclass_scorer(estimator, X_, y):
    assert estimator.fit(X_, y).score(X_, y) == 42.0


def test_default_scorers_are_accuracy_and_r2(classifier, two_target_regressor):
    assert classifier.score(X, Y) == accuracy_score(Y, classifier.predict(X))
    reg = two_target_regressor
    assert reg.score(X_REG, Y_REG_TWO) == pytest.approx(
        r2_score(Y_REG_TWO, reg.predict(X_REG))
    )


def test_score_multioutput_raw_values_gives_one_r2_per_target(two_target_regressor):
    reg = clone(two_target_regressor).set_params(score__multioutput="raw_values")
    reg.fit(X_REG, Y_REG_TWO)
    scores = reg.score(X_REG, Y_REG_TWO)
    assert scores.shape == (2,)
    np.testing.assert_allclose(
        scores, r2_score(Y_REG_TWO, reg.predict(X_REG), multioutput="raw_values")
    )


def test_score_parameters_reach_the_scorer_and_survive_clone():
    RecordingRegressor.calls.clear()
    reg = RecordingRegressor(
        linear_regression_head, random_state=0, score__multioutput="variance_weighted"
    )
    clone(reg).fit(X_REG, Y_REG_TWO).score(X_REG, Y_REG_TWO)
    (_, _, kwargs) = RecordingRegressor.calls[-1]
    assert kwargs == {"sample_weight": None, "multioutput": "variance_weighted"}


def test_rows_of_zero_weight_never_reach_the_scorer():
    RecordingRegressor.calls.clear()
    reg = RecordingRegressor(linear_regression_head, random_state=0).fit(X_REG, Y_REG)
    weight = np.ones(len(Y_REG))
    weight[::2] = 0
    reg.score(X_REG, Y_REG, sample_weight=weight)
    (y_true, y_pred, kwargs) = RecordingRegressor.calls[-1]
    np.testing.assert_array_equal(y_true, Y_REG[1::2])
    assert len(y_pred) == len(kwargs["sample_weight"]) == len(Y_REG[1::2])
    with pytest.raises(ValueError, match="zero"):
        reg.score(X_REG, Y_REG, sample_weight=np.zeros(len(Y_REG)))


def test_score_parameters_are_tunable_in_a_search():
    search = GridSearchCV(
        KerasRegressor(linear_regression_head, random_state=0),
        {"score__multioutput": ["uniform_average", "variance_weighted"]},
        cv=2,
    ).fit(X_REG, Y_REG_TWO)
    assert len(search.cv_results_["mean_test_score"]) == 2


def test_base_wrapper_has_no_scorer_as_in_scikeras():
    def build(meta):
        model = keras.Sequential(
            [keras.Input((meta["n_features_in_"],)), keras.layers.Dense(1)]
        )
        model.compile("adam", "mse")
        return model

    wrapper = BaseWrapper(build, random_state=0).fit(X_REG, Y_REG)
    with pytest.raises(NotImplementedError, match="Scoring is not implemented"):
        wrapper.score(X_REG, Y_REG)


def test_multioutput_classifier_scores_subset_accuracy_by_default():
    def two_heads(meta):
        inputs = keras.Input((meta["n_features_in_"],))
        hidden = keras.layers.Dense(8, activation="relu")(inputs)
        outputs = [keras.layers.Dense(n)(hidden) for n in meta["n_classes_"]]
        model = keras.Model(inputs, outputs)
        model.compile(
            keras.optimizers.Adam(0.05),
            keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        return model

    y = np.column_stack([Y, Y == 2])
    clf = KerasClassifier(two_heads, epochs=5, random_state=0).fit(X, y)
    subset = np.mean(np.all(clf.predict(X) == y, axis=1))
    assert clf.score(X, y) == pytest.approx(subset)
    assert clf.score(X, y, sample_weight=np.ones(len(y))) == pytest.approx(subset)


# scikeras' documented multi-output example (its DataTransformers notebook, 3.):
# a custom target encoder splitting y into one Keras target per output, and a
# scorer averaging the per-output accuracies.


class MultiOutputTransformer(TransformerMixin, BaseEstimator):
    def fit(self, y):
        y_bin, y_cat = y[:, 0], y[:, 1]
        self.bin_encoder_ = LabelEncoder().fit(y_bin)
        self.cat_encoder_ = LabelEncoder().fit(y_cat)
        self.n_classes_ = [
            self.bin_encoder_.classes_.size,
            self.cat_encoder_.classes_.size,
        ]
        self.n_outputs_expected_ = 2
        return self

    def transform(self, y):
        y_bin, y_cat = y[:, 0], y[:, 1]
        return [self.bin_encoder_.transform(y_bin), self.cat_encoder_.transform(y_cat)]

    def inverse_transform(self, y, return_proba=False):
        if return_proba:
            return np.column_stack(y)
        y_pred_bin = (y[0] > 0.5).astype(int).reshape(-1)
        y_pred_cat = np.argmax(y[1], axis=1)
        return np.column_stack(
            [
                self.bin_encoder_.inverse_transform(y_pred_bin),
                self.cat_encoder_.inverse_transform(y_pred_cat),
            ]
        )

    def get_metadata(self):
        return {
            "n_classes_": self.n_classes_,
            "n_outputs_expected_": self.n_outputs_expected_,
        }


class MultiOutputClassifier(KerasClassifier):
    @property
    def target_encoder(self):
        return MultiOutputTransformer()

    @staticmethod
    def scorer(y_true, y_pred, **kwargs):
        y_bin, y_cat = y_true[:, 0], y_true[:, 1]
        y_pred_bin, y_pred_cat = y_pred[:, 0], y_pred[:, 1]
        return np.mean(
            [accuracy_score(y_bin, y_pred_bin), accuracy_score(y_cat, y_pred_cat)]
        )


def get_clf_model(meta):
    inp = keras.layers.Input(shape=(meta["n_features_in_"],))
    x1 = keras.layers.Dense(100, activation="relu")(inp)
    out_bin = keras.layers.Dense(1, activation="sigmoid")(x1)
    out_cat = keras.layers.Dense(meta["n_classes_"][1], activation="softmax")(x1)
    model = keras.Model(inputs=inp, outputs=[out_bin, out_cat])
    model.compile(loss=["binary_crossentropy", "sparse_categorical_crossentropy"])
    return model


def test_scikeras_multi_output_example_scores_with_its_scorer():
    rng = np.random.RandomState(0)
    y = np.column_stack([rng.randint(0, 2, 100), rng.randint(0, 5, 100)])
    X_ = (y - y.mean(axis=0)) / y.std(axis=0)  # the labels as features
    clf = MultiOutputClassifier(model=get_clf_model, epochs=30, random_state=0)
    score = clf.fit(X_, y).score(X_, y)
    y_pred = clf.predict(X_)
    expected = np.mean([np.mean(y_pred[:, i] == y[:, i]) for i in range(2)])
    assert score == pytest.approx(expected)
    assert score > 0.7  # learnable: the features are the labels


def test_encoder_expecting_more_outputs_than_the_model_has_is_rejected():
    def one_output(meta):
        inputs = keras.Input((meta["n_features_in_"],))
        model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(inputs))
        model.compile(loss="sparse_categorical_crossentropy")
        return model

    y = np.column_stack([Y == 0, Y]).astype(int)
    with pytest.raises(ValueError, match="expects a model with 2 outputs"):
        MultiOutputClassifier(model=one_output).fit(X, y)
