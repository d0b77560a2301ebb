"""Training control: early stopping on a stratified hold-out, parameters checked."""

import warnings

import keras
import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_wine, make_classification
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.preprocessing import StandardScaler

from skkeras_proba import KerasClassifier, KerasRegressor, load, save
from skkeras_proba._compat import InvalidParameterError
from skkeras_proba._fit._early_stopping import (
    BestEpoch,
    holdout_indices,
    warn_if_tail_lacks_classes,
)
from tests import models
from tests.backends import requires_backend

# Wine, sorted by class as load_wine returns it: 59, 71 and 48 rows.
_WINE_X, WINE_Y = load_wine(return_X_y=True)
WINE_X = StandardScaler().fit_transform(_WINE_X).astype("float32")
# Few informative features and 30% of labels flipped: a wide model overfits.
NOISY_X, NOISY_Y = make_classification(
    n_samples=200, n_features=20, n_informative=3, flip_y=0.3, random_state=0
)
NOISY_X = NOISY_X.astype("float32")


def overfitting_logits(meta):
    """Wide, fast learner: the hold-out loss turns up within a few epochs."""
    model = keras.Sequential(
        [
            keras.Input((meta["n_features_in_"],)),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(meta["n_classes_"]),
        ]
    )
    model.compile(
        keras.optimizers.Adam(0.05),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


class WeightsPerEpoch(keras.callbacks.Callback):
    """The model's weights at the end of every epoch."""

    def __init__(self):
        super().__init__()
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append(self.model.get_weights())


# ------------------------------------------------------------- the hold-out


class TestHoldoutIndices:
    def test_stratified_split_holds_every_class_in_both_parts_of_sorted_data(self):
        train, validation = holdout_indices(len(WINE_Y), WINE_Y, 0.1, 0)
        for part in (train, validation):
            assert set(WINE_Y[part]) == {0, 1, 2}
        assert np.array_equal(np.sort(np.r_[train, validation]), np.arange(178))
        assert len(validation) == 18  # ceil(0.1 * 178), as scikit-learn rounds
        # Class shares as in the whole data, within a row.
        expected = 18 * np.bincount(WINE_Y) / 178
        assert np.all(np.abs(np.bincount(WINE_Y[validation]) - expected) <= 1)

    def test_same_random_state_gives_the_same_split_another_gives_another(self):
        first = holdout_indices(len(WINE_Y), WINE_Y, 0.2, 3)
        again = holdout_indices(len(WINE_Y), WINE_Y, 0.2, 3)
        other = holdout_indices(len(WINE_Y), WINE_Y, 0.2, 4)
        assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
        assert not np.array_equal(first[1], other[1])

    def test_unstratified_split_is_shuffled_not_the_tail(self):
        _, validation = holdout_indices(100, None, 0.2, 0)
        assert len(validation) == 20
        assert not np.array_equal(validation, np.arange(80, 100))

    @pytest.mark.parametrize(
        ("n_rows", "labels", "fraction", "match"),
        [
            (10, None, 0.1, "1 for validation.*at least 2"),
            (30, np.repeat([0, 1, 2], 10), 0.05, "every one of the 3 classes"),
            (9, np.r_[np.zeros(8), 1], 0.3, r"classes \[1.0\] have a single row"),
        ],
        ids=["one-row", "fewer-rows-than-classes", "single-row-class"],
    )
    def test_too_small_a_part_raises_saying_what_to_change(
        self, n_rows, labels, fraction, match
    ):
        with pytest.raises(ValueError, match=match):
            holdout_indices(n_rows, labels, fraction, 0)


class TestTailWarning:
    def test_sorted_tail_warns_naming_early_stopping(self):
        with pytest.warns(UserWarning, match="early_stopping=True"):
            warn_if_tail_lacks_classes(np.repeat([0, 1, 2], 10), 0.2)

    def test_tail_with_a_class_training_lacks_warns(self):
        labels = np.r_[np.repeat([0, 1], 9), 2, 0]
        with pytest.warns(UserWarning, match=r"classes \[2\], which the training"):
            warn_if_tail_lacks_classes(labels, 0.1)

    def test_mixed_tail_and_no_split_are_silent(self):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            warn_if_tail_lacks_classes(np.tile([0, 1, 2], 10), 0.2)
            warn_if_tail_lacks_classes(np.repeat([0, 1, 2], 10), 0.0)
            warn_if_tail_lacks_classes(None, 0.2)


# ---------------------------------------------------- the stopping callback


class TestBestEpoch:
    @pytest.fixture
    def stopper_on_model(self):
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        stopper = BestEpoch(tol=0.1, n_iter_no_change=2)
        stopper.set_model(model)
        return stopper, model

    def _epoch(self, stopper, model, epoch, loss):
        model.layers[0].kernel.assign(np.full((2, 1), float(epoch)))
        stopper.on_epoch_end(epoch, {"loss": 1.0, "val_loss": loss})

    def test_stops_after_n_iter_no_change_epochs_within_tol(self, stopper_on_model):
        stopper, model = stopper_on_model
        for epoch, loss in enumerate([1.0, 0.5, 0.45, 0.42]):
            self._epoch(stopper, model, epoch, loss)
        # 0.45 and 0.42 improve on the best by less than tol=0.1: no reset of
        # the count, but the lowest loss's weights are the ones kept.
        assert stopper.stopped and model.stop_training
        assert stopper.best_loss == 0.42
        stopper.restore(model)
        assert np.all(keras.ops.convert_to_numpy(model.layers[0].kernel) == 3.0)

    def test_restore_gives_the_best_epochs_weights(self, stopper_on_model):
        stopper, model = stopper_on_model
        for epoch, loss in enumerate([1.0, 0.5, 0.7]):
            self._epoch(stopper, model, epoch, loss)
        assert not stopper.stopped
        stopper.restore(model)
        assert np.all(keras.ops.convert_to_numpy(model.layers[0].kernel) == 1.0)

    def test_epochs_running_out_while_improving_warns_to_raise_epochs(
        self, stopper_on_model
    ):
        stopper, model = stopper_on_model
        for epoch, loss in enumerate([1.0, 0.5]):
            self._epoch(stopper, model, epoch, loss)
        with pytest.warns(ConvergenceWarning, match="Raise epochs"):
            stopper.warn_if_still_improving(2, 2)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            stopper.warn_if_still_improving(2, 5)  # stopped by something else
            BestEpoch(0.0, 3).warn_if_still_improving(0, 0)  # epochs=0: no epoch


# ------------------------------------------------------- fits, end to end


@pytest.fixture(scope="module", params=[False, True], ids=["own", "reused-trace"])
def early_stopped(request):
    """An overfitting fit stopped early, with the weights of each epoch.

    Trained by the model itself, or by a copy whose train step is already
    traced (``reuse_train_trace``): the best weights must reach ``model_``.
    """
    record = WeightsPerEpoch()
    clf = KerasClassifier(
        overfitting_logits,
        epochs=60,
        early_stopping=True,
        validation_fraction=0.2,
        n_iter_no_change=3,
        tol=0.0,
        callbacks=[record],
        reuse_train_trace=request.param,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf.fit(NOISY_X, NOISY_Y)
    return clf, record.weights


def test_early_stopping_stops_before_epochs_on_an_overfitting_model(early_stopped):
    clf, weights = early_stopped
    assert clf.n_iter_ < 60
    assert clf.n_iter_ == len(weights) == len(clf.loss_curve_)
    assert clf.validation_loss_curve_ == clf.history_["val_loss"]
    assert clf.loss_curve_ == clf.history_["loss"]
    curve = clf.validation_loss_curve_
    assert clf.best_validation_loss_ == min(curve)
    assert curve.index(min(curve)) == clf.n_iter_ - 1 - 3  # then 3 without


def test_early_stopping_restores_the_best_epochs_weights(early_stopped):
    clf, weights = early_stopped
    curve = clf.validation_loss_curve_
    best = weights[curve.index(min(curve))]
    for restored, recorded in zip(clf.model_.get_weights(), best, strict=True):
        np.testing.assert_array_equal(restored, recorded)
    # predict_proba follows the restored weights: the best epoch's hold-out loss.
    _, validation = holdout_indices(len(NOISY_Y), NOISY_Y, 0.2, 0)
    proba = clf.predict_proba(NOISY_X[validation])
    loss = -np.mean(np.log(proba[np.arange(len(validation)), NOISY_Y[validation]]))
    assert loss == pytest.approx(clf.best_validation_loss_, rel=1e-4, abs=1e-6)


def test_epochs_running_out_while_improving_warns_and_keeps_the_best():
    clf = KerasClassifier(
        models.logits_head,
        epochs=2,
        early_stopping=True,
        random_state=0,
    )
    with pytest.warns(ConvergenceWarning, match="Raise epochs") as record:
        clf.fit(WINE_X, WINE_Y)
    assert clf.n_iter_ == 2 and len(clf.validation_loss_curve_) == 2
    assert clf.best_validation_loss_ == min(clf.validation_loss_curve_)
    assert _warned_at(record, "Raise epochs") == {__file__}


def test_regressor_convergence_warning_points_at_the_users_call():
    X, y = load_diabetes(return_X_y=True)
    reg = KerasRegressor(models.linear_regression_head, early_stopping=True)
    with pytest.warns(ConvergenceWarning, match="Raise epochs") as record:
        reg.fit(X, y / 100)  # 1 epoch, still improving
    assert _warned_at(record, "Raise epochs") == {__file__}


def _warned_at(record: pytest.WarningsRecorder, text: str) -> set[str]:
    """The files the warnings containing ``text`` point at: the user's line."""
    return {w.filename for w in record if text in str(w.message)}


def test_without_early_stopping_curves_follow_history_and_validation_is_none():
    reg = KerasRegressor(models.linear_regression_head, epochs=2, random_state=0)
    X, y = load_diabetes(return_X_y=True)
    reg.fit(X, y / 100)
    assert reg.n_iter_ == 2 and reg.loss_curve_ == reg.history_["loss"]
    assert reg.validation_loss_curve_ is None and reg.best_validation_loss_ is None


# ------------------------------------------- a fit stopped by an exception


class InterruptAtEpoch(keras.callbacks.Callback):
    """Ctrl-C as epoch ``epoch`` ends (never, for None): after Keras' History."""

    def __init__(self, epoch=None):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt


def _interruptible(compile_epochs, epochs):
    return KerasClassifier(
        models.logits_head,
        epochs=epochs,
        callbacks=[InterruptAtEpoch()],
        compile_epochs=compile_epochs,
        random_state=0,
    )


@pytest.mark.parametrize("compile_epochs", [False, True])
def test_an_interrupted_refit_describes_the_epochs_it_trained(compile_epochs):
    clf = _interruptible(compile_epochs, epochs=6).fit(WINE_X, WINE_Y)
    assert clf.n_iter_ == 6
    clf.set_params(callbacks=[InterruptAtEpoch(2)])
    with pytest.raises(KeyboardInterrupt):
        clf.fit(WINE_X, WINE_Y)
    # The model trained 3 epochs; the attributes say so, not the earlier fit.
    three = _interruptible(compile_epochs, epochs=3).fit(WINE_X, WINE_Y)
    assert clf.n_iter_ == len(clf.history_["loss"]) == 3
    assert clf.loss_curve_ == three.loss_curve_
    np.testing.assert_allclose(
        clf.predict_proba(WINE_X), three.predict_proba(WINE_X), atol=1e-6
    )


@pytest.mark.parametrize("compile_epochs", [False, True])
def test_an_interrupted_partial_fit_adds_its_epoch_to_the_history(compile_epochs):
    clf = _interruptible(compile_epochs, epochs=1)
    for _ in range(2):
        clf.partial_fit(WINE_X, WINE_Y)
    clf.callbacks[0].epoch = 2  # the callback the model was built with
    with pytest.raises(KeyboardInterrupt):
        clf.partial_fit(WINE_X, WINE_Y)
    assert clf.n_iter_ == clf.current_epoch == len(clf.loss_curve_) == 3


@requires_backend("jax", reason="JAX's compiled epochs set the model from each result")
def test_ctrl_c_as_an_epoch_is_taken_leaves_the_model_at_that_epoch(monkeypatch):
    from skkeras_proba._fit import _compiled_jax

    assigned = []
    assign = _compiled_jax._assign

    def interrupted_once(variables, values):
        # Ctrl-C as the third epoch's weights are set, before its optimizer
        # state (each epoch sets four groups of variables).
        assign(variables, values)
        assigned.append(variables)
        if len(assigned) == 2 * 4 + 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(_compiled_jax, "_assign", interrupted_once)
    clf = _interruptible(compile_epochs=True, epochs=6)
    with pytest.raises(KeyboardInterrupt):
        clf.fit(WINE_X, WINE_Y)
    monkeypatch.undo()
    three = _interruptible(compile_epochs=True, epochs=3).fit(WINE_X, WINE_Y)
    for model in (clf.model_, three.model_):
        assert model.optimizer.iterations.numpy() == 3 * 6  # 6 batches of 32 rows
    for now, trained in zip(
        clf.model_.get_weights(), three.model_.get_weights(), strict=True
    ):
        np.testing.assert_array_equal(now, trained)


def test_an_interrupted_early_stopping_fit_keeps_its_best_epoch():
    record = WeightsPerEpoch()
    clf = KerasClassifier(
        overfitting_logits,
        epochs=60,
        early_stopping=True,
        n_iter_no_change=50,
        callbacks=[record, InterruptAtEpoch(9)],
        random_state=0,
    )
    with pytest.raises(KeyboardInterrupt):
        clf.fit(NOISY_X, NOISY_Y)
    curve = clf.validation_loss_curve_
    assert clf.n_iter_ == len(curve) == len(record.weights) == 10
    assert clf.best_validation_loss_ == min(curve)
    best = record.weights[curve.index(min(curve))]
    for restored, recorded in zip(clf.model_.get_weights(), best, strict=True):
        np.testing.assert_array_equal(restored, recorded)


class FailAsTrainingBegins(keras.callbacks.Callback):
    """Raises as training begins, once ``armed``."""

    armed = False

    def on_train_begin(self, logs=None):
        if self.armed:
            raise RuntimeError("refused before the first epoch")


def _fitted_to_fail_as_training_begins(compile_epochs, warm_start):
    """A fitted classifier, and its callback: arm it, and the next fit fails."""
    fail = FailAsTrainingBegins()
    clf = KerasClassifier(
        models.logits_head,
        epochs=2,
        callbacks=[fail],
        compile_epochs=compile_epochs,
        warm_start=warm_start,
        random_state=0,
    )
    return clf.fit(WINE_X, WINE_Y), fail


@pytest.mark.parametrize("compile_epochs", [False, True])
def test_a_warm_fit_stopped_before_its_first_epoch_changes_nothing(compile_epochs):
    clf, fail = _fitted_to_fail_as_training_begins(compile_epochs, warm_start=True)
    before = (dict(clf.history_), clf.n_iter_, clf.model_.get_weights())
    fail.armed = True
    with pytest.raises(RuntimeError, match="refused"):
        clf.fit(WINE_X, WINE_Y)
    assert (dict(clf.history_), clf.n_iter_) == before[:2]
    for now, then in zip(clf.model_.get_weights(), before[2], strict=True):
        np.testing.assert_array_equal(now, then)


def _assert_same_attributes(estimator, attributes):
    """``estimator`` holds exactly ``attributes``, the same objects."""
    assert vars(estimator).keys() == attributes.keys()
    changed = [k for k, v in attributes.items() if vars(estimator)[k] is not v]
    assert not changed, f"attributes replaced: {changed}"


def logits_for_three_classes(meta, hidden=models.HIDDEN):
    """The logits head, refusing to build for any other number of classes."""
    if meta["n_classes_"] != 3:
        raise ValueError("this build function makes three-class models")
    return models.logits_head(meta, hidden)


TWO_CLASSES = WINE_Y < 2


@pytest.mark.parametrize("compile_epochs", [False, True])
def test_a_refit_refused_before_its_first_epoch_leaves_the_fit_before(
    compile_epochs,
):
    # The new model is built, for two classes, before the callback refuses.
    clf, fail = _fitted_to_fail_as_training_begins(compile_epochs, warm_start=False)
    attributes, proba = dict(vars(clf)), clf.predict_proba(WINE_X)
    fail.armed = True
    with pytest.raises(RuntimeError, match="refused"):
        clf.fit(WINE_X[TWO_CLASSES], WINE_Y[TWO_CLASSES])
    _assert_same_attributes(clf, attributes)
    np.testing.assert_array_equal(clf.predict_proba(WINE_X), proba)


def test_a_refit_or_initialize_whose_build_fails_leaves_the_fit_before():
    # The classes of the new y are learnt before the build function refuses.
    clf = KerasClassifier(logits_for_three_classes, epochs=2, random_state=0)
    clf.fit(WINE_X, WINE_Y)
    attributes, proba = dict(vars(clf)), clf.predict_proba(WINE_X)
    for call in (clf.fit, clf.initialize):
        with pytest.raises(ValueError, match="three-class models"):
            call(WINE_X[TWO_CLASSES], WINE_Y[TWO_CLASSES])
        _assert_same_attributes(clf, attributes)
    np.testing.assert_array_equal(clf.predict(WINE_X), proba.argmax(axis=1))


def test_a_first_fit_refused_before_its_first_epoch_leaves_no_model():
    fail = FailAsTrainingBegins()
    fail.armed = True
    clf = KerasClassifier(models.logits_head, callbacks=[fail], random_state=0)
    attributes = dict(vars(clf))
    with pytest.raises(RuntimeError, match="refused"):
        clf.fit(WINE_X, WINE_Y)
    _assert_same_attributes(clf, attributes)
    with pytest.raises(NotFittedError):
        clf.predict_proba(WINE_X)


def test_regressor_early_stops_on_a_shuffled_hold_out_and_round_trips(tmp_path):
    X, y = load_diabetes(return_X_y=True)
    reg = KerasRegressor(
        models.linear_regression_head,
        epochs=3,
        early_stopping=True,
        n_iter_no_change=1,
        tol=1e9,  # no epoch improves by that much: stop after the first
        random_state=0,
    ).fit(X, y / 100)
    assert reg.n_iter_ == 2 and len(reg.validation_loss_curve_) == 2
    save(reg, tmp_path / "reg.skkeras")
    loaded = load(tmp_path / "reg.skkeras", custom_objects=models.__dict__)
    for name in ("n_iter_", "loss_curve_", "validation_loss_curve_"):
        assert getattr(loaded, name) == getattr(reg, name)
    assert loaded.best_validation_loss_ == reg.best_validation_loss_
    np.testing.assert_array_equal(loaded.predict(X[:5]), reg.predict(X[:5]))


def test_keras_validation_split_on_sorted_classes_warns_once():
    clf = KerasClassifier(models.logits_head, validation_split=0.2, random_state=0)
    with pytest.warns(UserWarning) as record:
        clf.fit(WINE_X, WINE_Y)
    tail = [w for w in record if "validation_split=0.2" in str(w.message)]
    assert len(tail) == 1
    assert tail[0].filename == __file__


# ------------------------------------------------ errors, before any change


def test_partial_fit_with_early_stopping_raises_before_building():
    clf = KerasClassifier(models.logits_head, early_stopping=True)
    with pytest.raises(ValueError, match="early_stopping=True works with fit only"):
        clf.partial_fit(WINE_X, WINE_Y)
    assert not hasattr(clf, "model_")


@pytest.mark.parametrize(
    "given", [{"validation_split": 0.1}, {"fit__validation_split": 0.1}]
)
def test_early_stopping_with_keras_validation_split_raises(given):
    clf = KerasClassifier(models.logits_head, early_stopping=True, **given)
    with pytest.raises(ValueError, match="takes no validation_split"):
        clf.fit(WINE_X, WINE_Y)
    assert not hasattr(clf, "model_")


def test_hold_out_too_small_raises_before_building():
    clf = KerasClassifier(
        models.logits_head, early_stopping=True, validation_fraction=0.01
    )
    with pytest.raises(ValueError, match="Raise validation_fraction"):
        clf.fit(WINE_X, WINE_Y)
    assert not hasattr(clf, "model_")


BAD_PARAMETERS = [
    ("epochs", -1),
    ("epochs", "ten"),
    ("batch_size", 0),
    ("batch_size", 2.5),
    ("validation_batch_size", -2),
    ("validation_split", 1.5),
    ("shuffle", "no"),
    ("verbose", -3),
    ("warm_start", "yes"),
    ("run_eagerly", 1.0),
    ("random_state", "seed"),
    ("optimizer", 0.01),
    ("optimizer", None),
    ("loss", 3),
    ("metrics", 3),
    ("callbacks", 3),
    ("model", "dense"),
    ("steps_per_execution", 0),
    ("reuse_train_trace", "no"),
    ("early_stopping", "yes"),
    ("validation_fraction", 0.0),
    ("validation_fraction", 1.0),
    ("n_iter_no_change", 0),
    ("tol", -1e-4),
    ("mc_dropout", -1),
    ("class_weight", "even"),
    ("logits", "maybe"),
    ("fit__epochs", -1),
    ("fit__batch_size", 0),
    ("fit__shuffle", "no"),
]


@pytest.fixture(scope="module")
def fitted():
    return KerasClassifier(models.logits_head, random_state=0).fit(WINE_X, WINE_Y)


@pytest.mark.parametrize(("name", "value"), BAD_PARAMETERS)
def test_bad_parameter_is_rejected_leaving_a_fitted_estimator_unchanged(
    fitted, name, value
):
    _assert_rejected_leaving_unchanged(
        fitted, name, value, f"'{name}' parameter of KerasClassifier"
    )


@pytest.mark.parametrize("name", ["batch_size", "fit__batch_size"])
def test_parameter_nested_too_deeply_to_show_is_rejected_naming_it(fitted, name):
    # scikit-learn's message shows the value: repr overflowed Python's stack.
    deep = []
    for _ in range(5000):
        deep = [deep]
    _assert_rejected_leaving_unchanged(
        fitted, name, deep, f"'{name}' parameter of KerasClassifier is nested"
    )


def _assert_rejected_leaving_unchanged(fitted, name, value, match):
    """Refitting with ``name=value`` raises ``match``; the model is as it was."""
    model, weights = fitted.model_, fitted.model_.get_weights()
    params = fitted.get_params(deep=False)
    clf = fitted.set_params(**{name: value})
    try:
        with pytest.raises(InvalidParameterError, match=match):
            clf.fit(WINE_X, WINE_Y)
    finally:  # the fixture is shared: put the parameter back
        if name in params:
            clf.set_params(**{name: params[name]})
        else:
            delattr(clf, name)
    assert clf.model_ is model
    for now, before in zip(clf.model_.get_weights(), weights, strict=True):
        np.testing.assert_array_equal(now, before)


@pytest.mark.parametrize("given", [{"batch_size": 0}, {"epochs": -2}])
def test_bad_fit_keyword_argument_is_rejected(given):
    clf = KerasClassifier(models.logits_head)
    with pytest.raises(InvalidParameterError, match=f"'{next(iter(given))}'"):
        clf.fit(WINE_X, WINE_Y, **given)
    assert not hasattr(clf, "model_")


def test_values_scikeras_accepts_stay_accepted():
    KerasClassifier(
        models.logits_head,
        batch_size=-1,
        validation_batch_size=-1,
        verbose="auto",
        shuffle="batch",
        optimizer=keras.optimizers.Adam,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics={"out": ["accuracy"]},
        callbacks={"stop": keras.callbacks.EarlyStopping()},
        random_state=np.random.RandomState(0),
        epochs=0,
        fit__batch_size=-1,
    )._validate_params()
