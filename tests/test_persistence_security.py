"""load treats a file as data: crafted files are refused before any effect.

Every case starts from a real file written by ``save`` and edits it as an
attacker would (the manifest, the member names and sizes, the Keras model's own
config). Each must raise a ``ValueError`` worded by kind -- "not trusted" for
code the file names, "refused" for sizes beyond the limits, "damaged" for a
broken or self-contradicting file -- with no code run (a canary file the
payload would create does not exist), no module imported, and Keras' safe-mode
switch as it was.
"""

import io
import json
import struct
import sys
import zipfile
from contextlib import nullcontext

import keras
import numpy as np
import pytest
from keras.src.saving import serialization_lib  # the safe-mode switch, read-only
from sklearn.datasets import load_iris, make_regression
from sklearn.preprocessing import FunctionTransformer

from skkeras_proba import (
    KerasClassifier,
    KerasRegressor,
    get_untrusted_types,
    load,
    save,
)
from skkeras_proba._persistence._checks import MAX_MANIFEST_BYTES
from tests import models

X, Y = load_iris(return_X_y=True)
X_REG, Y_REG = make_regression(40, 4, n_targets=2, random_state=0)
BUILD = {
    "logits_head": models.logits_head,
    "linear_regression_head": models.linear_regression_head,
}
NOT_TRUSTED, REFUSED, DAMAGED = "is not trusted", "is refused", "is damaged"


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """Bytes of real files: a classifier with a routed parameter, a regressor."""
    directory = tmp_path_factory.mktemp("saved")
    estimators = {
        "classifier": KerasClassifier(
            models.logits_head, model__hidden=4, epochs=1, random_state=0
        ).fit(X, Y),
        "regressor": KerasRegressor(
            models.linear_regression_head, model__hidden=4, epochs=1, random_state=0
        ).fit(X_REG, Y_REG),
    }
    files = {}
    for name, estimator in estimators.items():
        path = directory / f"{name}.skkeras"
        save(estimator, path)
        # Whatever Keras' loader imports on its first use is imported now.
        load(path, custom_objects=BUILD).predict(X[:2])
        files[name] = path.read_bytes()
    return files


@pytest.fixture
def canary(tmp_path):
    """A file that any payload below would create, were its code run."""
    return tmp_path / "canary"


def _rezip(data, tmp_path, edit_member=lambda name, content: content, extra=()):
    """The file, each member passed through ``edit_member``, ``extra`` added."""
    target = tmp_path / "edited.skkeras"
    with (
        zipfile.ZipFile(io.BytesIO(data)) as old,
        zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as new,
    ):
        for name in old.namelist():
            new.writestr(name, edit_member(name, old.read(name)))
        for name, content in extra:
            new.writestr(name, content)
    return target


def _edited(data, tmp_path, change):
    """The file with ``change(manifest)`` applied to its manifest."""

    def edit(name, content):
        if name != "manifest.json":
            return content
        manifest = json.loads(content)
        change(manifest)
        return json.dumps(manifest)

    return _rezip(data, tmp_path, edit)


def _assert_refused(path, match, **kwargs):
    """load raises ``match`` and changes nothing: no module, no flag, no file."""
    canary = path.parent / "canary"
    modules = set(sys.modules)
    safe_mode_switch = serialization_lib.in_safe_mode()
    kwargs.setdefault("custom_objects", BUILD)
    with pytest.raises(ValueError, match=match) as refused:
        load(path, **kwargs)
    assert set(sys.modules) - modules == set()
    assert serialization_lib.in_safe_mode() is safe_mode_switch
    assert not canary.exists()
    return str(refused.value)


def _name(module, name):
    return {"type": "import", "module": module, "name": name}


def _set(section, name, value):
    """An edit setting ``estimator[section][name]`` to ``value``."""
    return lambda manifest: manifest["estimator"][section].__setitem__(name, value)


def _routed(name, value):
    """An edit adding the routed parameter ``name``, as scikeras records it."""

    def edit(manifest):
        manifest["estimator"]["params"][name] = value
        manifest["estimator"]["state"]["_user_params"]["items"].append(name)

    return edit


def _set_all(*edits):
    def change(manifest):
        for edit in edits:
            edit(manifest)

    return change


# Names that reach code through a module the old loader trusted by its first
# part: importing the module, then following the name as attributes.
ROOTS = [
    "keras",
    "keras.src.ops.numpy",
    "keras.src.saving.saving_lib",
    "sklearn",
    "sklearn.base",
    "scikeras.wrappers",
    "skkeras_proba",
    "skkeras_proba._persistence",
    "numpy",
]
PAYLOADS = ["builtins.exec", "np.full_like", "os.popen", "importlib.import_module"]


def _slots(named):
    """Every place a file names code, each holding ``named``."""
    encoder_with = {
        "type": "estimator",
        "class": _name("sklearn.preprocessing", "FunctionTransformer"),
        "params": {"func": named},
        "state": {},
    }
    return {
        "build function": _set("params", "model", named),
        "estimator class": lambda m: m["estimator"].__setitem__("class", named),
        "optimizer": _set("params", "optimizer", named),
        "loss": _set("params", "loss", named),
        "metric": _set("params", "metrics", [named]),
        "callback": _set("params", "callbacks", [named]),
        "routed parameter": _set("params", "model__hidden", named),
        "feature encoder function": _set("state", "feature_encoder_", encoder_with),
        "target encoder class": lambda m: m["estimator"]["state"][
            "target_encoder_"
        ].__setitem__("class", named),
    }


@pytest.mark.parametrize("root", ROOTS)
@pytest.mark.parametrize("payload", PAYLOADS)
def test_dotted_chain_through_an_allowed_root_is_refused_in_every_slot(
    root, payload, saved, tmp_path
):
    for slot, edit in _slots(_name(root, payload)).items():
        path = _edited(saved["classifier"], tmp_path, edit)
        assert f"{root}.{payload}" in _assert_refused(path, NOT_TRUSTED), slot


def test_the_reported_exploits_are_refused(saved, tmp_path, canary):
    # Code run on predict: exec over a byte array that np.full_like builds.
    source = f"open({str(canary)!r}, 'w')"
    builder = {
        "type": "estimator",
        "class": _name("sklearn.pipeline", "Pipeline"),
        "params": {"steps": [["bytes", _name("sklearn.base", "np.full_like")]]},
        "state": {},
    }
    exec_encoder = {
        "type": "estimator",
        "class": _name(
            "sklearn.preprocessing._function_transformer", "FunctionTransformer"
        ),
        "params": {
            "func": _name("keras.src.ops.numpy", "builtins.exec"),
            "kw_args": {
                "type": "dict",
                "items": [["source", source]],
                "default_list": False,
            },
        },
        "state": {"n_features_in_": 4},
    }
    edits = {
        "exec_on_predict": _set_all(
            _set("state", "feature_encoder_", exec_encoder),
            _routed("model__builder", builder),
        ),
        "shell_command_on_fit": _set_all(
            _set("params", "model", _name("keras.src.saving.saving_lib", "os.popen")),
            _routed("model__cmd", f"touch {canary}"),
        ),
        "safe_mode_switched_off_on_fit": _set(
            "params", "model", _name("keras.config", "enable_unsafe_deserialization")
        ),
        "file_download_on_fit": _set_all(
            _set("params", "model", _name("keras.utils", "get_file")),
            _routed("model__origin", "http://127.0.0.1:9/x"),
        ),
    }
    for edit in edits.values():
        _assert_refused(_edited(saved["classifier"], tmp_path, edit), NOT_TRUSTED)


def _function_config(module, name):
    """How Keras writes a function into a config."""
    return {
        "module": module,
        "class_name": "function",
        "config": name,
        "registered_name": name,
    }


def _edited_keras_config(data, tmp_path, change):
    """The file with ``change(config)`` applied to its Keras model's config."""

    def edit(name, content):
        if name != "keras/0.keras":
            return content
        target = io.BytesIO()
        with (
            zipfile.ZipFile(io.BytesIO(content)) as old,
            zipfile.ZipFile(target, "w") as new,
        ):
            for member in old.namelist():
                inner = old.read(member)
                if member == "config.json":
                    config = json.loads(inner)
                    change(config)
                    inner = json.dumps(config)
                new.writestr(member, inner)
        return target.getvalue()

    return _rezip(data, tmp_path, edit)


def _first_dense(config):
    return next(
        layer for layer in config["config"]["layers"] if layer["class_name"] == "Dense"
    )


# Keras' deny-list of non-modelling functions (absent in the oldest Keras
# supported, where this parametrization is empty and skipped).
@pytest.mark.parametrize(
    "api", sorted(getattr(serialization_lib, "NON_MODELING_APIS", ()))
)
def test_keras_deny_listed_function_is_refused_in_the_manifest_and_the_model(
    api, saved, tmp_path
):
    module, _, name = api.rpartition(".")
    in_manifest = {
        "imported": _set("params", "loss", _name(module, name)),
        "as_keras_config": _set(
            "params",
            "loss",
            {"type": "keras_object", "config": _function_config(module, name)},
        ),
    }
    for where, edit in in_manifest.items():
        path = _edited(saved["classifier"], tmp_path, edit)
        assert api in _assert_refused(path, NOT_TRUSTED), where

    def activation(config):
        _first_dense(config)["config"]["activation"] = _function_config(module, name)

    # Inside the .keras member, Keras' own deny-list refuses it.
    path = _edited_keras_config(saved["classifier"], tmp_path, activation)
    assert "not a modeling function" in _assert_refused(path, "Keras cannot load")


def _keras_object(module, class_name="Thing"):
    return {
        "type": "keras_object",
        "config": {"module": module, "class_name": class_name, "config": {}},
    }


# Modules whose import alone has effects: a test module importing pytest and
# registering objects, a switch in scikit-learn, one that is not installed.
UNIMPORTED = [
    "keras.src.layers.core.dense_test",
    "keras.src.saving.saving_lib_test",
    "sklearn.experimental.enable_iterative_imputer",
    "sklearn.linear_model.tests.test_ridge",
    "not_an_installed_module",
]


@pytest.mark.parametrize("module", UNIMPORTED)
def test_naming_a_module_imports_nothing(module, saved, tmp_path):
    edits = {
        "class": lambda m: m["estimator"].__setitem__(
            "class", _name(module, "IterativeImputer")
        ),
        "keras config in the manifest": _set("params", "loss", _keras_object(module)),
    }
    for where, edit in edits.items():
        path = _edited(saved["classifier"], tmp_path, edit)
        assert module in _assert_refused(path, NOT_TRUSTED), where

    def layer_module(config):
        _first_dense(config)["module"] = module

    path = _edited_keras_config(saved["classifier"], tmp_path, layer_module)
    assert module in _assert_refused(path, NOT_TRUSTED)


@pytest.mark.parametrize(
    ("module", "name", "expected"),
    [
        ("builtins", "dict", NOT_TRUSTED),
        ("collections", "OrderedDict", NOT_TRUSTED),
        ("numpy", "ndarray", NOT_TRUSTED),
        ("keras.optimizers", "Adam", NOT_TRUSTED),
        ("skkeras_proba._heads", "Head", NOT_TRUSTED),
        ("sklearn.linear_model", "LogisticRegression", NOT_TRUSTED),
        ("sklearn.preprocessing", "FunctionTransformer", NOT_TRUSTED),
        ("tests.models", "logits_head", DAMAGED),  # the user's, not a class
    ],
)
def test_estimator_class_must_be_one_of_ours(module, name, expected, saved, tmp_path):
    edit = lambda m: m["estimator"].__setitem__("class", _name(module, name))  # noqa: E731
    _assert_refused(_edited(saved["classifier"], tmp_path, edit), expected)


@pytest.mark.parametrize(
    ("slot", "named"),
    [
        ("optimizer", _name("keras.losses", "Huber")),
        ("loss", _name("keras.optimizers", "Adam")),
        ("metrics", [_name("keras.callbacks", "EarlyStopping")]),
        ("callbacks", [_name("keras.losses", "Huber")]),
        ("model", _name("keras.losses", "mean_squared_error")),
        ("model", _name("skkeras_proba", "KerasClassifier")),
    ],
    ids=lambda value: str(value)[:40],
)
def test_allowed_name_in_a_slot_that_does_not_take_it_is_refused(
    slot, named, saved, tmp_path
):
    path = _edited(saved["classifier"], tmp_path, _set("params", slot, named))
    _assert_refused(path, NOT_TRUSTED)


@pytest.mark.parametrize(
    "callback",
    [
        "CSVLogger",
        "ModelCheckpoint",
        "BackupAndRestore",
        "TensorBoard",
        "RemoteMonitor",
    ],
)
def test_callbacks_that_write_files_or_post_need_custom_objects(
    callback, saved, tmp_path, canary
):
    edit = _set_all(
        _set("params", "callbacks", [_name("keras.callbacks", callback)]),
        _routed("callbacks__0__filename", str(canary)),
    )
    path = _edited(saved["classifier"], tmp_path, edit)
    _assert_refused(path, NOT_TRUSTED)
    assert f"keras.callbacks.{callback}" in get_untrusted_types(path)


def _function_transformer(**params):
    return {
        "type": "estimator",
        "class": _name("sklearn.preprocessing", "FunctionTransformer"),
        "params": params,
        "state": {"n_features_in_": 4},
    }


@pytest.mark.parametrize("parameter", ["func", "inverse_func", "feature_names_out"])
@pytest.mark.parametrize(
    "function",
    [
        _name("keras.activations", "relu"),  # allowed elsewhere, not here
        _name("numpy", "exp"),
        _name("builtins", "exec"),
    ],
)
def test_feature_encoder_function_that_the_user_did_not_pass_is_refused(
    parameter, function, saved, tmp_path
):
    encoder = _function_transformer(**{parameter: function})
    path = _edited(
        saved["classifier"], tmp_path, _set("state", "feature_encoder_", encoder)
    )
    _assert_refused(path, NOT_TRUSTED)


# keras.src.losses.losses.huber is huber's own path, so on the allow-list by
# the format-1 names; what refuses it depends on Keras: newer versions do not
# deserialise a plain function there (not trusted), older ones do and the loss
# slot refuses the function (damaged). Refused, with nothing run, either way.
_HUBER_BY_MODULE = f"{NOT_TRUSTED}|{DAMAGED}"


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        # Public in Keras, but not an optimizer, loss or metric: it reads a
        # SavedModel from a path of the file's choosing.
        (
            {"module": "keras.layers", "class_name": "TFSMLayer", "config": {}},
            NOT_TRUSTED,
        ),
        (_function_config("keras.utils", "set_random_seed"), NOT_TRUSTED),
        (_function_config("keras.src.losses.losses", "huber"), _HUBER_BY_MODULE),
        (
            {
                "class_name": "__numpy__",
                "config": {"value": ["a"], "dtype": "<U50000000"},
            },
            DAMAGED,
        ),
        ({"module": ["keras"], "class_name": "Adam", "config": {}}, DAMAGED),
    ],
    ids=["class_outside_the_list", "function", "module_path", "wide_array", "module"],
)
def test_keras_config_in_the_manifest_names_only_allowed_objects(
    config, expected, saved, tmp_path
):
    edit = _set("params", "loss", {"type": "keras_object", "config": config})
    _assert_refused(_edited(saved["classifier"], tmp_path, edit), expected)


def test_keras_config_with_a_lambda_in_the_manifest_is_refused(saved, tmp_path):
    config = {
        "module": "keras.metrics",
        "class_name": "MeanMetricWrapper",
        "config": {
            "fn": {"class_name": "__lambda__", "config": {"value": "AAAA"}},
            "name": "x",
        },
    }
    edit = _set("params", "metrics", [{"type": "keras_object", "config": config}])
    path = _edited(saved["classifier"], tmp_path, edit)
    assert "safe_mode=False" in _assert_refused(path, NOT_TRUSTED)


def _declared_size(path, member, size):
    """The file with ``member``'s size in the zip's central directory replaced."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        position = archive.start_dir
    while data[position : position + 4] == b"PK\x01\x02":
        name_length, extra_length, comment_length = struct.unpack_from(
            "<HHH", data, position + 28
        )
        name = data[position + 46 : position + 46 + name_length].decode()
        if name == member:
            struct.pack_into("<I", data, position + 24, size)
        position += 46 + name_length + extra_length + comment_length
    path.write_bytes(bytes(data))
    return path


def test_manifest_that_inflates_beyond_the_limit_is_refused_unread(saved, tmp_path):
    padding = b" " * (MAX_MANIFEST_BYTES + 1)  # a 64 KiB member, inflated

    def pad(name, content):
        return content + padding if name == "manifest.json" else content

    _assert_refused(_rezip(saved["classifier"], tmp_path, pad), REFUSED)


@pytest.mark.parametrize(
    ("member", "size", "expected"),
    [
        ("keras/0.keras", 0xFFFFFFFF, REFUSED),  # a bomb, 4 GiB declared
        ("manifest.json", 0xFFFFFFFF, REFUSED),
        ("manifest.json", 100, DAMAGED),  # more data than declared
        ("keras/0.keras", 100, DAMAGED),
    ],
)
def test_member_sizes_are_checked_before_reading(
    member, size, expected, saved, tmp_path
):
    path = tmp_path / "edited.skkeras"
    path.write_bytes(saved["classifier"])
    _assert_refused(_declared_size(path, member, size), expected)


def _deep(data, tmp_path, text):
    """The file with ``text`` as the value of a routed parameter, verbatim."""

    def edit(name, content):
        if name != "manifest.json":
            return content
        return content.replace(b'"model__hidden": 4', b'"model__hidden": ' + text)

    return _rezip(data, tmp_path, edit)


@pytest.mark.parametrize(
    "text",
    [
        b'{"type": "tuple", "items": [' * 3000 + b"0" + b"]}" * 3000,
        b'{"type": "tuple", "items": [' * 40 + b"0" + b"]}" * 40,
        b"[" * 100_000 + b"]" * 100_000,
    ],
    ids=["tuples_3000_deep", "tuples_40_deep", "lists_100000_deep"],
)
def test_nesting_beyond_the_limit_is_refused(text, saved, tmp_path):
    _assert_refused(_deep(saved["classifier"], tmp_path, text), REFUSED)


def _array(dtype, shape, data):
    return {"type": "ndarray", "dtype": dtype, "shape": shape, "data": data}


@pytest.mark.parametrize(
    ("array", "expected"),
    [
        (_array("<U50000000", [1], ["a"]), REFUSED),  # 200 MB for one value
        (_array("<U16384", [5000], [""] * 5000), REFUSED),  # 5,000 x 64 KiB
        (_array("<i8", [10**9], [0]), DAMAGED),
        (_array("<i8", [100_000, 100_000], []), DAMAGED),
        (_array("<i8", [1] * 40, [0]), DAMAGED),
        (_array("<i8", [-1], []), DAMAGED),
        (_array("<i8", [1], [10**30]), DAMAGED),
        (_array("<i8", [1], ["1"]), DAMAGED),
        (_array("<U1", [1], ["ab"]), DAMAGED),
        (
            _array("|O", [1], [{"type": "dict", "items": [], "default_list": False}]),
            DAMAGED,
        ),
        (_array("<V8", [1], [0]), DAMAGED),
        (_array("(2,)i8", [1], [0]), DAMAGED),
        (_array("M8[ns]", [1], [0]), DAMAGED),
    ],
    ids=lambda value: str(value)[:40],
)
def test_arrays_are_checked_before_they_are_allocated(array, expected, saved, tmp_path):
    path = _edited(saved["classifier"], tmp_path, _set("state", "classes_", array))
    _assert_refused(path, expected)


@pytest.mark.parametrize(
    ("members", "expected"),
    [
        ([("keras/..", b"x")], DAMAGED),
        ([("../evil.keras", b"x")], DAMAGED),
        ([("/tmp/evil.keras", b"x")], DAMAGED),
        ([("keras/1.keras", b"x")], DAMAGED),  # not named by the manifest
        ([("manifest.json", b"{}")], DAMAGED),  # a second manifest
        ([("keras/", b"")], DAMAGED),
    ],
    ids=lambda value: str(value)[:30],
)
def test_member_names_are_matched_exactly(members, expected, saved, tmp_path):
    duplicate = members[0][0] == "manifest.json"
    warns = pytest.warns(UserWarning, match="Duplicate") if duplicate else nullcontext()
    with warns:
        path = _rezip(saved["classifier"], tmp_path, extra=members)
    _assert_refused(path, expected)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["edited.skkeras"]


@pytest.mark.parametrize(
    "file", ["keras/..", "keras/0.keras/..", "../keras/0.keras", "keras/00.keras", 7]
)
def test_model_member_named_by_the_manifest_is_matched_exactly(file, saved, tmp_path):
    edit = _set("state", "model_", {"type": "keras_model", "file": file})
    _assert_refused(_edited(saved["classifier"], tmp_path, edit), DAMAGED)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["edited.skkeras"]


def _manifest(data):
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return json.loads(archive.read("manifest.json"))


@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_a_wrong_type_in_any_field_is_refused_naming_the_field(kind, saved, tmp_path):
    estimator = _manifest(saved[kind])["estimator"]
    wrong = {"state": 12.5, "params": {"type": "set", "items": []}}
    for section, value in wrong.items():
        for name in estimator[section]:
            if "__" in name:
                continue  # a routed parameter is the build function's data
            path = _edited(saved[kind], tmp_path, _set(section, name, value))
            assert f"'{name}'" in _assert_refused(path, DAMAGED), name
    for encoder in ("target_encoder_", "feature_encoder_"):
        for name in estimator["state"][encoder]["state"]:

            def edit(manifest, encoder=encoder, name=name):
                manifest["estimator"]["state"][encoder]["state"][name] = 12.5

            path = _edited(saved[kind], tmp_path, edit)
            assert f"'{name}'" in _assert_refused(path, DAMAGED), (encoder, name)


def _labels(*labels):
    return _array("<i8", [len(labels)], list(labels))


def _head(**fields):
    def edit(manifest):
        heads = manifest["estimator"]["state"]["heads_"]["items"]
        heads[0]["fields"].update(fields)

    return edit


def _two_heads(manifest):
    heads = manifest["estimator"]["state"]["heads_"]["items"]
    heads.append(heads[0])


CLASSIFIER_CONTRADICTIONS = {
    "five_classes_for_three_units": (
        _set_all(
            _set("state", "classes_", _labels(0, 1, 2, 3, 4)),
            _set("state", "_head_classes", [_labels(0, 1, 2, 3, 4)]),
            _set("state", "n_classes_", 5),
        ),
        "classes_",
    ),
    "two_classes_for_three_units": (
        _set_all(
            _set("state", "classes_", _labels(0, 1)),
            _set("state", "_head_classes", [_labels(0, 1)]),
            _set("state", "n_classes_", 2),
        ),
        "classes_",
    ),
    "classes_unlike_the_heads_classes": (
        _set("state", "classes_", _labels(0, 1, 7)),
        "classes_",
    ),
    "unsorted_classes": (_set("state", "classes_", _labels(2, 1, 0)), "classes_"),
    "n_classes_": (_set("state", "n_classes_", 4), "n_classes_"),
    "heads_seven_units": (_head(units=7), "heads_"),
    "heads_probabilities": (_head(logits=False), "heads_"),
    "heads_sigmoid": (_head(link="sigmoid"), "heads_"),
    "heads_pre_activation": (_head(read_from="pre_activation"), "heads_"),
    "heads_units_as_text": (_head(units="3"), "heads_"),
    "heads_two": (_two_heads, "heads_"),
    "n_features_in_text": (_set("state", "n_features_in_", "4"), "n_features_in_"),
    "n_features_in_five": (_set("state", "n_features_in_", 5), "n_features_in_"),
    "X_shape_five_features": (
        _set_all(
            _set("state", "n_features_in_", 5),
            _set("state", "X_shape_", {"type": "tuple", "items": [150, 5]}),
            lambda m: m["estimator"]["state"]["feature_encoder_"]["state"].update(
                n_features_in_=5
            ),
        ),
        "X_shape_",
    ),
    "feature_names_three": (
        _set("state", "feature_names_in_", _array("|O", [3], ["a", "b", "c"])),
        "feature_names_in_",
    ),
    "feature_names_numbers": (
        _set("state", "feature_names_in_", _array("|O", [4], [1, 2, 3, 4])),
        "feature_names_in_",
    ),
    "n_outputs_": (_set("state", "n_outputs_", 2), "n_outputs_"),
    "y_ndim_": (_set("state", "y_ndim_", 2), "y_ndim_"),
    "target_kind_binary": (_set("state", "target_kind_", "binary"), "target_kind_"),
    "target_kind_multilabel": (
        _set("state", "target_kind_", "multilabel"),
        "n_outputs_",
    ),
    "target_kind_none": (_set("state", "target_kind_", None), "target_kind_"),
    "mc_dropout_without_dropout": (_set("params", "mc_dropout", 2), "mc_dropout"),
    "logits_for_two_heads": (_set("params", "logits", [True, False]), "logits"),
    "logits_false": (_set("params", "logits", False), "heads_"),
    "_user_params": (
        _set("state", "_user_params", {"type": "set", "items": ["epochs"]}),
        "_user_params",
    ),
    "encoder_classes": (
        lambda m: m["estimator"]["state"]["target_encoder_"]["state"].__setitem__(
            "n_classes_", 4
        ),
        "ClassifierTargetEncoder",
    ),
}
REGRESSOR_CONTRADICTIONS = {
    "_output_units": (_set("state", "_output_units", [3]), "_output_units"),
    "n_outputs_": (_set("state", "n_outputs_", 3), "n_outputs_"),
    "y_ndim_": (_set("state", "y_ndim_", 1), "y_ndim_"),
    "target_encoder_classifier": (
        lambda m: m["estimator"]["state"]["target_encoder_"].__setitem__(
            "class", _name("skkeras_proba._encoders", "ClassifierTargetEncoder")
        ),
        "target_encoder_",
    ),
}


@pytest.mark.parametrize(
    ("kind", "case"),
    [("classifier", case) for case in CLASSIFIER_CONTRADICTIONS]
    + [("regressor", case) for case in REGRESSOR_CONTRADICTIONS],
)
def test_state_contradicting_itself_or_the_model_is_refused_naming_it(
    kind, case, saved, tmp_path
):
    cases = (
        CLASSIFIER_CONTRADICTIONS if kind == "classifier" else REGRESSOR_CONTRADICTIONS
    )
    edit, field = cases[case]
    message = _assert_refused(_edited(saved[kind], tmp_path, edit), DAMAGED)
    assert field in message


@pytest.mark.parametrize(
    ("section", "name"),
    [
        ("params", "predict"),
        ("params", "_forward"),
        ("params", "model_"),
        ("params", "feature_encoder"),
        ("params", "__class__"),
        ("params", "a b"),
        ("state", "predict_proba"),
        ("state", "__class__"),
        ("state", "__dict__"),
        ("state", "_forward"),
        ("state", "score"),
        ("state", "unknown_"),
    ],
)
def test_names_that_would_replace_methods_are_refused(section, name, saved, tmp_path):
    path = _edited(saved["classifier"], tmp_path, _set(section, name, 1))
    _assert_refused(path, DAMAGED)


@pytest.mark.parametrize(
    "value",
    [
        {"type": "pickle", "data": "gASV"},
        {"type": "import", "module": "tests.models", "name": "logits_head", "x": 1},
        {"type": "import", "module": ["tests"], "name": "logits_head"},
        {"type": "tuple", "items": 5},
        {"type": "set", "items": [[1, 2]]},
        {"type": "dict", "items": [[[1], 2]], "default_list": False},
        {"type": "dict", "items": [[1, 2, 3]], "default_list": False},
        {"type": "dict", "items": [], "default_list": "yes"},
        {"type": "scalar", "value": _array("<i8", [2], [1, 2])},
        {"type": "dtype", "dtype": "float64; import os"},
        {"type": "tuple", "items": [{"type": "keras_model", "file": "keras/0.keras"}]},
        {"type": "estimator", "class": _name("tests.models", "logits_head")},
    ],
    ids=lambda value: str(value)[:40],
)
def test_malformed_values_are_refused(value, saved, tmp_path):
    path = _edited(
        saved["classifier"], tmp_path, _set("params", "model__hidden", value)
    )
    _assert_refused(path, DAMAGED)


def _round_trip(estimator, tmp_path, **kwargs):
    path = tmp_path / "estimator.skkeras"
    save(estimator, path)
    return path, load(path, **kwargs)


def test_get_untrusted_types_lists_what_the_file_needs_from_the_user(saved, tmp_path):
    classifier = tmp_path / "classifier.skkeras"
    classifier.write_bytes(saved["classifier"])
    assert get_untrusted_types(classifier) == ["tests.models.logits_head"]
    regressor = tmp_path / "regressor.skkeras"
    regressor.write_bytes(saved["regressor"])
    assert get_untrusted_types(regressor) == ["tests.models.linear_regression_head"]
    chain = _name("keras.src.ops.numpy", "builtins.exec")
    path = _edited(saved["classifier"], tmp_path, _set("params", "loss", chain))
    assert "keras.src.ops.numpy.builtins.exec" in get_untrusted_types(path)


def test_file_naming_only_allowed_objects_needs_nothing(saved, tmp_path):
    trained = load(_rezip(saved["classifier"], tmp_path), custom_objects=BUILD).model_
    wrapped = KerasClassifier.from_trained(trained, classes=["a", "b", "c"])
    path, loaded = _round_trip(wrapped, tmp_path)  # no custom_objects
    assert get_untrusted_types(path) == []
    np.testing.assert_array_equal(loaded.predict_proba(X), wrapped.predict_proba(X))


class _Halving(keras.layers.Layer):  # not registered with Keras
    def call(self, inputs):
        return inputs * 0.5


def _halving_model(meta):
    inputs = keras.Input((meta["n_features_in_"],))
    outputs = keras.layers.Dense(meta["n_classes_"])(_Halving()(inputs))
    model = keras.Model(inputs, outputs)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def _log1p_features(X):
    return np.log1p(X)


class _LogFeaturesClassifier(KerasClassifier):
    """A user's subclass: its own feature encoder, with its own function."""

    @property
    def feature_encoder(self):
        return FunctionTransformer(_log1p_features)


def test_users_own_classes_and_functions_load_through_custom_objects(tmp_path):
    estimator = _LogFeaturesClassifier(
        _halving_model,
        epochs=1,
        random_state=0,
        callbacks=[keras.callbacks.EarlyStopping],
        callbacks__0__monitor="loss",
    ).fit(X, Y)
    path = tmp_path / "estimator.skkeras"
    save(estimator, path)
    module = __name__
    assert get_untrusted_types(path) == sorted(
        f"{module}.{name}"
        for name in (
            "_Halving",
            "_LogFeaturesClassifier",
            "_halving_model",
            "_log1p_features",
        )
    )
    own = {
        "_Halving": _Halving,
        "_LogFeaturesClassifier": _LogFeaturesClassifier,
        "_halving_model": _halving_model,
    }
    message = _assert_refused(path, NOT_TRUSTED, custom_objects=own)
    assert "_log1p_features" in message
    loaded = load(path, custom_objects={**own, "_log1p_features": _log1p_features})
    assert type(loaded) is _LogFeaturesClassifier
    assert loaded.feature_encoder_.func is _log1p_features
    np.testing.assert_array_equal(loaded.predict_proba(X), estimator.predict_proba(X))
    assert isinstance(loaded._fit_callbacks[0], keras.callbacks.EarlyStopping)
    loaded.partial_fit(X, Y)  # the callbacks are rebuilt, not saved


def test_custom_objects_replace_what_the_allow_list_refuses(saved, tmp_path, canary):
    edit = _set_all(
        _set("params", "callbacks", [_name("keras.callbacks", "CSVLogger")]),
        _routed("callbacks__0__filename", str(canary)),
    )
    path = _edited(saved["classifier"], tmp_path, edit)
    loaded = load(
        path, custom_objects={**BUILD, "CSVLogger": keras.callbacks.CSVLogger}
    )
    assert not canary.exists()  # only fit writes the log: the user said so
    loaded.partial_fit(X, Y)
    assert canary.exists()


def test_save_refuses_what_load_would_refuse(saved, tmp_path):
    estimator = load(_rezip(saved["classifier"], tmp_path), custom_objects=BUILD)
    deep = []
    for _ in range(70):
        deep = [deep]
    path = tmp_path / "refused.skkeras"
    with pytest.raises(ValueError, match="64 levels"):
        save(estimator.set_params(model__deep=deep), path)
    estimator.set_params(model__deep=None)
    with pytest.raises(TypeError, match="model__models"):
        save(estimator.set_params(model__models=[estimator.model_]), path)
    assert not path.exists()


def test_allowed_objects_load_by_public_and_by_module_name(saved, tmp_path):
    # save writes public names; files from the first release name modules.
    for module in ("keras.optimizers", "keras.src.optimizers.adam"):
        edit = _set("params", "optimizer", _name(module, "Adam"))
        path = _edited(saved["classifier"], tmp_path, edit)
        assert load(path, custom_objects=BUILD).optimizer is keras.optimizers.Adam


@pytest.mark.parametrize(
    "content",
    [b"", b"PK\x05\x06" + bytes(18), b"\x00" * 100],
    ids=["empty", "empty_zip", "zeros"],
)
def test_empty_or_broken_container_is_not_taken_for_a_file_of_ours(content, tmp_path):
    path = tmp_path / "broken.skkeras"
    path.write_bytes(content)
    _assert_refused(path, "not a file written by skkeras_proba.save")
