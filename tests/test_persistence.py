"""save/load: one file, no pickle, bit-exact predictions, clear refusals."""

import json
import zipfile

import keras
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_iris, make_regression
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skkeras_proba import KerasClassifier, KerasRegressor, load, save
from skkeras_proba._persistence import FORMAT_VERSION
from tests import models

X, Y = load_iris(return_X_y=True)
X = X.astype(np.float32)
NAMES = np.array(["setosa", "versicolor", "virginica"])
# Two columns of different label types: strings and integers, as objects.
Y_MIXED = np.empty((150, 2), dtype=object)
Y_MIXED[:, 0] = NAMES[Y]
Y_MIXED[:, 1] = (X[:, 0] > 5.8).astype(int)
X_REG, Y_REG = make_regression(60, 4, n_targets=2, random_state=0)
# Build functions are named in the file; safe mode takes them from here.
BUILD = {
    name: getattr(models, name)
    for name in (
        "softmax_head",
        "logits_head",
        "sigmoid_unit_head",
        "logit_unit_head",
        "multilabel_logits_head",
        "softmax_heads_per_column",
        "linear_regression_head",
    )
}


def _fit(estimator, X, y):
    return estimator.set_params(epochs=2, random_state=0, verbose=0).fit(X, y)


def _round_trip(estimator, tmp_path):
    path = tmp_path / "estimator.skkeras"
    save(estimator, path)
    return load(path, custom_objects=BUILD)


def _predictions(estimator, X):
    names = ["predict", "predict_proba", "decision_function"]
    return {
        name: getattr(estimator, name)(X) for name in names if hasattr(estimator, name)
    }


FITTED = {
    "binary_sigmoid_unit": lambda: _fit(
        KerasClassifier(models.sigmoid_unit_head), X, (Y == 0).astype(int)
    ),
    "binary_logit_unit": lambda: _fit(
        KerasClassifier(models.logit_unit_head), X, np.where(Y == 0, "a", "b")
    ),
    "multiclass_softmax_strings": lambda: _fit(
        KerasClassifier(models.softmax_head), X, NAMES[Y]
    ),
    "multiclass_logits_routed_params": lambda: _fit(
        KerasClassifier(models.logits_head, model__hidden=8), X, Y
    ),
    "multilabel": lambda: _fit(
        KerasClassifier(models.multilabel_logits_head),
        X,
        np.column_stack([Y == 0, Y == 1, X[:, 0] > 5.8]).astype(int),
    ),
    "multioutput_mixed_labels": lambda: _fit(
        KerasClassifier(models.softmax_heads_per_column), X, Y_MIXED
    ),
    "regressor_single": lambda: _fit(
        KerasRegressor(models.linear_regression_head), X_REG, Y_REG[:, 0]
    ),
    "regressor_multioutput": lambda: _fit(
        KerasRegressor(models.linear_regression_head), X_REG, Y_REG
    ),
}


@pytest.mark.parametrize("case", FITTED)
def test_loaded_estimator_predicts_exactly_what_the_saved_one_did(case, tmp_path):
    estimator = FITTED[case]()
    data = X_REG if case.startswith("regressor") else X
    loaded = _round_trip(estimator, tmp_path)
    expected, got = _predictions(estimator, data), _predictions(loaded, data)
    assert expected.keys() == got.keys()
    for name, value in expected.items():
        if isinstance(value, list):
            for column, loaded_column in zip(value, got[name], strict=True):
                np.testing.assert_array_equal(loaded_column, column)
        else:
            assert got[name].dtype == value.dtype
            np.testing.assert_array_equal(got[name], value)


def test_fitted_state_round_trips_with_its_types(tmp_path):
    estimator = FITTED["multioutput_mixed_labels"]()
    loaded = _round_trip(estimator, tmp_path)
    for original, restored in zip(estimator.classes_, loaded.classes_, strict=True):
        assert restored.dtype == original.dtype
        assert [type(c) for c in restored] == [type(c) for c in original]
        np.testing.assert_array_equal(restored, original)
    assert loaded.heads_ == estimator.heads_
    for name in ("target_kind_", "target_type_", "n_outputs_", "n_features_in_"):
        assert getattr(loaded, name) == getattr(estimator, name)
    for name in ("X_shape_", "X_dtype_", "y_dtype_", "y_ndim_"):
        assert getattr(loaded, name) == getattr(estimator, name)
    assert dict(loaded.history_) == dict(estimator.history_)
    assert loaded.get_params().keys() == estimator.get_params().keys()


def test_feature_names_round_trip(tmp_path):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    estimator = _fit(KerasClassifier(models.softmax_head), frame, Y)
    loaded = _round_trip(estimator, tmp_path)
    np.testing.assert_array_equal(loaded.feature_names_in_, ["a", "b", "c", "d"])
    with pytest.raises(ValueError, match="feature names"):
        loaded.predict(frame.rename(columns={"a": "z"}))


def test_loaded_estimator_refits_clones_and_fits_in_a_pipeline(tmp_path):
    loaded = _round_trip(FITTED["multiclass_logits_routed_params"](), tmp_path)
    loaded.partial_fit(X, Y)  # continues from the saved weights and history
    assert len(loaded.history_["loss"]) == 3
    assert clone(loaded).get_params()["model"] is models.logits_head
    assert loaded.model__hidden == 8
    pipeline = make_pipeline(StandardScaler(), clone(loaded).set_params(epochs=30))
    assert pipeline.fit(X, Y).score(X, Y) > 0.6  # 0.97 here when it trains


def test_keras_objects_classes_and_dicts_as_parameters_round_trip(tmp_path):
    estimator = KerasClassifier(
        models.logits_head,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        optimizer=keras.optimizers.Adam,
        optimizer__learning_rate=0.02,
        metrics=["accuracy"],
        class_weight={0: 1.0, 1: 2.0, 2: 1.0},
        epochs=1,
        verbose=0,
    ).fit(X, Y)
    loaded = _round_trip(estimator, tmp_path)
    assert isinstance(loaded.loss, keras.losses.SparseCategoricalCrossentropy)
    assert loaded.loss.get_config() == estimator.loss.get_config()
    assert loaded.optimizer is keras.optimizers.Adam
    assert loaded.class_weight == {0: 1.0, 1: 2.0, 2: 1.0}
    np.testing.assert_array_equal(loaded.predict_proba(X), estimator.predict_proba(X))
    loaded.fit(X, Y)  # the restored parameters build and compile a new model


def test_wrapped_trained_model_is_saved_once_and_stays_shared(tmp_path):
    trained = FITTED["multiclass_logits_routed_params"]().model_
    wrapped = KerasClassifier.from_trained(trained, classes=NAMES)
    loaded = _round_trip(wrapped, tmp_path)
    assert loaded.model is loaded.model_  # one model, as in the saved estimator
    np.testing.assert_array_equal(loaded.predict_proba(X), wrapped.predict_proba(X))
    np.testing.assert_array_equal(loaded.predict(X), wrapped.predict(X))


def test_file_is_a_zip_of_json_and_a_keras_model(tmp_path):
    path = tmp_path / "estimator.skkeras"
    save(FITTED["multiclass_logits_routed_params"](), path)
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == ["keras/0.keras", "manifest.json"]
        manifest = json.loads(archive.read("manifest.json"))
    assert manifest["format"] == "skkeras_proba"
    assert manifest["format_version"] == FORMAT_VERSION
    assert manifest["estimator"]["params"]["model"] == {
        "type": "import",
        "module": "tests.models",
        "name": "logits_head",
    }


def test_build_function_outside_trusted_packages_needs_custom_objects(tmp_path):
    path = tmp_path / "estimator.skkeras"
    estimator = FITTED["multiclass_logits_routed_params"]()
    save(estimator, path)
    with pytest.raises(ValueError, match=r"custom_objects=\{'logits_head'"):
        load(path)
    unsafe = load(path, safe_mode=False)  # imports tests.models by name
    np.testing.assert_array_equal(unsafe.predict(X), estimator.predict(X))


def _lambda_model(meta):
    inputs = keras.Input((meta["n_features_in_"],))
    scaled = keras.layers.Lambda(lambda x: x * 2.0)(inputs)
    outputs = keras.layers.Dense(meta["n_classes_"], activation="softmax")(scaled)
    model = keras.Model(inputs, outputs)
    model.compile("adam", "sparse_categorical_crossentropy")
    return model


def test_lambda_layer_is_refused_in_safe_mode(tmp_path):
    path = tmp_path / "estimator.skkeras"
    estimator = _fit(KerasClassifier(_lambda_model), X, Y)
    save(estimator, path)
    with pytest.raises(ValueError, match="safe_mode=False") as refused:
        load(path, custom_objects={"_lambda_model": _lambda_model})
    assert "custom_objects=" in str(refused.value)
    loaded = load(
        path, custom_objects={"_lambda_model": _lambda_model}, safe_mode=False
    )
    np.testing.assert_array_equal(loaded.predict_proba(X), estimator.predict_proba(X))


@keras.saving.register_keras_serializable(package="test_persistence")
class _Doubling(keras.layers.Layer):
    def call(self, inputs):
        return inputs * 2.0


class _Halving(keras.layers.Layer):  # not registered with Keras
    def call(self, inputs):
        return inputs * 0.5


def _custom_layer_model(meta):
    inputs = keras.Input((meta["n_features_in_"],))
    outputs = keras.layers.Dense(meta["n_classes_"], activation="softmax")(
        _Halving()(_Doubling()(inputs))
    )
    model = keras.Model(inputs, outputs)
    model.compile("adam", "sparse_categorical_crossentropy")
    return model


def test_unregistered_custom_layer_needs_custom_objects(tmp_path):
    path = tmp_path / "estimator.skkeras"
    estimator = _fit(KerasClassifier(_custom_layer_model), X, Y)
    save(estimator, path)
    build = {"_custom_layer_model": _custom_layer_model}
    with pytest.raises(ValueError, match="custom_objects=") as refused:
        load(path, custom_objects=build)
    assert "_Halving" in str(refused.value)
    loaded = load(path, custom_objects={**build, "_Halving": _Halving})
    np.testing.assert_array_equal(loaded.predict_proba(X), estimator.predict_proba(X))


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"model": lambda meta: models.logits_head(meta)}, "parameter 'model'"),
        ({"random_state": np.random.RandomState(0)}, "parameter 'random_state'"),
        ({"callbacks": [keras.callbacks.History()]}, "parameter 'callbacks'"),
    ],
    ids=["lambda_build_function", "random_state_instance", "callback_instance"],
)
def test_value_that_is_not_plain_data_is_refused_by_name(params, named, tmp_path):
    estimator = KerasClassifier(models.logits_head, epochs=1, verbose=0).fit(X, Y)
    estimator.set_params(**params)
    path = tmp_path / "estimator.skkeras"
    with pytest.raises(TypeError, match=named):
        save(estimator, path)
    assert list(tmp_path.iterdir()) == []  # nothing written, not even a part


def test_save_refuses_unfitted_estimators_and_other_objects(tmp_path):
    with pytest.raises(NotFittedError):
        save(KerasClassifier(models.logits_head), tmp_path / "a.skkeras")
    with pytest.raises(TypeError, match="Pipeline"):
        save(make_pipeline(StandardScaler()), tmp_path / "a.skkeras")


@pytest.fixture(scope="module")
def saved_bytes(tmp_path_factory):
    path = tmp_path_factory.mktemp("saved") / "estimator.skkeras"
    save(FITTED["multiclass_logits_routed_params"](), path)
    return path.read_bytes()


def _rewrite_manifest(data, tmp_path, change):
    source, target = tmp_path / "source.skkeras", tmp_path / "changed.skkeras"
    source.write_bytes(data)
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for name in old.namelist():
            content = old.read(name)
            if name == "manifest.json":
                manifest = json.loads(content)
                change(manifest)
                content = json.dumps(manifest)
            new.writestr(name, content)
    return target


def test_truncated_file_raises_value_error(saved_bytes, tmp_path):
    path = tmp_path / "truncated.skkeras"
    path.write_bytes(saved_bytes[: len(saved_bytes) // 2])
    with pytest.raises(ValueError, match="truncated, corrupted"):
        load(path, custom_objects=BUILD)


def test_corrupted_file_raises_value_error(saved_bytes, tmp_path):
    path = tmp_path / "corrupted.skkeras"
    data = bytearray(saved_bytes)
    start = data.find(b"manifest.json") + len(b"manifest.json")
    data[start + 10 : start + 40] = bytes(30)  # inside the compressed manifest
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="truncated, corrupted"):
        load(path, custom_objects=BUILD)


def test_foreign_files_raise_value_error(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not a model")
    with pytest.raises(ValueError, match="not a file written by"):
        load(text)
    other_zip = tmp_path / "other.zip"
    with zipfile.ZipFile(other_zip, "w") as archive:
        archive.writestr("config.json", "{}")
    with pytest.raises(ValueError, match="not a file written by"):
        load(other_zip)


def test_foreign_manifest_raises_value_error(saved_bytes, tmp_path):
    path = _rewrite_manifest(
        saved_bytes, tmp_path, lambda manifest: manifest.update(format="other")
    )
    with pytest.raises(ValueError, match="not a file written by"):
        load(path, custom_objects=BUILD)


def test_newer_format_version_raises_value_error(saved_bytes, tmp_path):
    newer = FORMAT_VERSION + 1
    path = _rewrite_manifest(
        saved_bytes, tmp_path, lambda manifest: manifest.update(format_version=newer)
    )
    with pytest.raises(ValueError, match=f"format version {newer}.*Upgrade"):
        load(path, custom_objects=BUILD)


def test_malformed_state_raises_value_error(saved_bytes, tmp_path):
    def drop_state(manifest):
        del manifest["estimator"]["state"]

    path = _rewrite_manifest(saved_bytes, tmp_path, drop_state)
    with pytest.raises(ValueError, match="truncated, corrupted"):
        load(path, custom_objects=BUILD)


def test_file_holding_partial_fit_classes_of_earlier_versions_loads(tmp_path):
    clf = KerasClassifier(models.logits_head, random_state=0)
    clf.partial_fit(X, Y, classes=[0, 1, 2])
    assert "_partial_fit_classes" not in vars(clf)  # no longer left behind
    clf._partial_fit_classes = None  # as earlier versions left it, and saved it
    loaded = _round_trip(clf, tmp_path)
    expected, got = _predictions(clf, X), _predictions(loaded, X)
    for name in expected:
        np.testing.assert_array_equal(got[name], expected[name])
    loaded.partial_fit(X, Y)  # and trains on
    assert loaded.current_epoch == 2


def dropout_logits(meta):
    model = keras.Sequential(
        [
            keras.Input((meta["n_features_in_"],)),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dropout(0.3),
            keras.layers.Dense(meta["n_classes_"]),
        ]
    )
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


BUILD["dropout_logits"] = dropout_logits


@pytest.fixture
def dropout_trained():
    return KerasClassifier(dropout_logits, epochs=2, random_state=0).partial_fit(X, Y)


def _weights_difference(a, b):
    return max(
        float(np.max(np.abs(u - v)))
        for u, v in zip(a.model_.get_weights(), b.model_.get_weights(), strict=True)
    )


def test_training_continued_after_a_round_trip_is_the_one_continued_without(
    dropout_trained, tmp_path
):
    # The dropout layer's seed state is saved beside the model, which Keras'
    # format leaves out: the masks, and so the weights, continue as they were.
    loaded = _round_trip(dropout_trained, tmp_path)
    loaded_again = load(tmp_path / "estimator.skkeras", custom_objects=BUILD)
    for estimator in (dropout_trained, loaded, loaded_again):
        estimator.partial_fit(X, Y)
    assert _weights_difference(loaded, dropout_trained) <= 1e-6
    assert _weights_difference(loaded_again, dropout_trained) <= 1e-6


def test_seed_states_that_do_not_fit_the_model_raise_value_error(
    dropout_trained, tmp_path
):
    save(dropout_trained, tmp_path / "saved.skkeras")
    data = (tmp_path / "saved.skkeras").read_bytes()

    def drop_seed_states(manifest):
        manifest["estimator"]["state"]["_model_seed_states"] = []

    path = _rewrite_manifest(data, tmp_path, drop_seed_states)
    with pytest.raises(ValueError, match="_model_seed_states' contradicts the model"):
        load(path, custom_objects=BUILD)


def test_file_of_format_version_1_without_seed_states_loads(dropout_trained, tmp_path):
    save(dropout_trained, tmp_path / "saved.skkeras")
    data = (tmp_path / "saved.skkeras").read_bytes()

    def as_version_1(manifest):
        manifest["format_version"] = 1
        del manifest["estimator"]["state"]["_model_seed_states"]

    loaded = load(_rewrite_manifest(data, tmp_path, as_version_1), custom_objects=BUILD)
    np.testing.assert_array_equal(
        loaded.predict_proba(X), dropout_trained.predict_proba(X)
    )
