"""inspect_heads on built, untrained models: one decision per head, with a reason."""

import warnings

import keras
import numpy as np
import pytest

from skkeras_proba import Head, inspect_heads
from skkeras_proba._heads import reading_model, resolve_heads, warn_on_loss_mismatch
from skkeras_proba._proba import sigmoid, softmax

# Eager outputs as NumPy on any backend (torch's need detaching).
_numpy = keras.ops.convert_to_numpy


def _seq(*layers, loss=None):
    model = keras.Sequential([keras.Input((4,)), *layers])
    if loss is not None:
        model.compile("adam", loss)
    return model


def _only(model, **kwargs) -> Head:
    (head,) = inspect_heads(model, **kwargs)
    return head


@pytest.mark.parametrize(
    ("layers", "link", "logits"),
    [
        ([keras.layers.Dense(3, activation="softmax")], "softmax", False),
        ([keras.layers.Dense(1, activation="sigmoid")], "sigmoid", False),
        ([keras.layers.Dense(3)], "softmax", True),
        ([keras.layers.Dense(1)], "sigmoid", True),
        ([keras.layers.Dense(3), keras.layers.Softmax()], "softmax", False),
        ([keras.layers.Dense(3), keras.layers.Activation("softmax")], "softmax", False),
        ([keras.layers.Dense(2), keras.layers.Activation("sigmoid")], "sigmoid", False),
        (
            [keras.layers.Dense(3), keras.layers.Activation("log_softmax")],
            "softmax",
            True,
        ),
        (
            [keras.layers.Dense(3, activation="softmax"), keras.layers.Dropout(0.5)],
            "softmax",
            False,
        ),
    ],
)
def test_layer_activation_decides_probabilities_or_logits(layers, link, logits):
    head = _only(_seq(*layers))
    assert (head.link, head.logits, head.source) == (link, logits, "layer")


def test_nested_model_as_last_layer_is_looked_inside():
    inner = keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(3, activation="softmax")]
    )
    head = _only(_seq(keras.layers.Dense(8), inner))
    assert (head.logits, head.activation, head.units) == (False, "softmax", 3)


def test_keras_ops_softmax_in_functional_graph_is_recognised():
    inputs = keras.Input((4,))
    outputs = keras.ops.softmax(keras.layers.Dense(3)(inputs))
    head = _only(keras.Model(inputs, outputs))
    assert (head.logits, head.link) == (False, "softmax")


def test_loss_from_logits_means_logits_even_behind_an_unknown_layer():
    inputs = keras.Input((4,))
    outputs = keras.layers.Lambda(lambda t: t * 2.0)(keras.layers.Dense(3)(inputs))
    model = keras.Model(inputs, outputs)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    head = _only(model)
    assert (head.logits, head.source) == (True, "loss")


def test_unknown_layer_without_loss_hint_is_left_undecided():
    inputs = keras.Input((4,))
    outputs = keras.layers.Lambda(lambda t: t * 2.0)(keras.layers.Dense(3)(inputs))
    head = _only(keras.Model(inputs, outputs))
    assert head.logits is None and head.source == "outputs"


def test_user_override_wins_over_layer_and_loss():
    model = _seq(keras.layers.Dense(3, activation="softmax"))
    head = _only(model, logits=True)
    assert (head.logits, head.source) == (True, "override")


def test_one_override_per_head_of_a_multi_output_model():
    inputs = keras.Input((4,))
    model = keras.Model(
        inputs,
        [
            keras.layers.Dense(1, activation="sigmoid", name="binary")(inputs),
            keras.layers.Dense(3, name="three")(inputs),
        ],
    )
    binary, three = inspect_heads(model, logits=["auto", True])
    assert (binary.name, binary.logits, binary.source) == ("binary", False, "layer")
    assert (three.name, three.logits, three.source) == ("three", True, "override")
    with pytest.raises(ValueError, match="logits has 3 values, but the model has 2"):
        inspect_heads(model, logits=[True, True, True])


def test_losses_given_as_dict_are_matched_to_heads_by_name():
    inputs = keras.Input((4,))
    model = keras.Model(
        inputs,
        [
            keras.layers.Dense(1, name="a")(inputs),
            keras.layers.Dense(3, name="b")(inputs),
        ],
    )
    model.compile(
        "adam",
        loss={
            "b": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            "a": keras.losses.BinaryCrossentropy(from_logits=True),
        },
    )
    a, b = inspect_heads(model)
    assert (a.loss, a.source, a.link) == ("binary_crossentropy", "loss", "sigmoid")
    assert (b.loss, b.source, b.link) == (
        "sparse_categorical_crossentropy",
        "loss",
        "softmax",
    )


def test_binary_loss_makes_a_multi_unit_linear_head_sigmoid():
    head = _only(_seq(keras.layers.Dense(4), loss="binary_crossentropy"))
    assert (head.link, head.logits) == ("sigmoid", True)


def test_linear_head_with_probability_loss_warns_to_use_from_logits():
    model = _seq(keras.layers.Dense(3), loss="sparse_categorical_crossentropy")
    with pytest.warns(UserWarning, match=r"SparseCategoricalCrossentropy\(from_logits"):
        warn_on_loss_mismatch(inspect_heads(model))


def test_softmax_head_with_probability_loss_does_not_warn():
    model = _seq(
        keras.layers.Dense(3, activation="softmax"),
        loss="sparse_categorical_crossentropy",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_on_loss_mismatch(inspect_heads(model))


def test_undecided_head_is_resolved_from_outputs_with_a_warning():
    undecided = Head("out", 3, "unknown", None, "softmax", None, "outputs")
    probabilities = np.array([[0.2, 0.3, 0.5]])
    with pytest.warns(UserWarning, match="logits=False"):
        (resolved,) = resolve_heads([undecided], [probabilities])
    assert (resolved.logits, resolved.source) == (False, "outputs")
    with pytest.warns(UserWarning, match="logits=True"):
        (resolved,) = resolve_heads([undecided], [probabilities * 4 - 1])
    assert resolved.logits is True


def test_subclassed_model_needs_output_units():
    class Custom(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(3)

        def call(self, x):
            return self.dense(x)

    model = Custom()
    with pytest.raises(TypeError, match="output_units"):
        inspect_heads(model)
    (head,) = inspect_heads(model, output_units=[3])
    assert (head.units, head.logits, head.link) == (3, None, "softmax")


def _functional(make_output):
    inputs = keras.Input((4,))
    return keras.Model(inputs, make_output(keras.layers.Dense(8)(inputs)))


PROBABILITY_HEADS = {
    "Dense softmax": lambda: _seq(keras.layers.Dense(3, activation="softmax")),
    "Dense sigmoid": lambda: _seq(keras.layers.Dense(1, activation="sigmoid")),
    "Softmax layer": lambda: _seq(keras.layers.Dense(3), keras.layers.Softmax()),
    "Activation sigmoid": lambda: _seq(
        keras.layers.Dense(2), keras.layers.Activation("sigmoid")
    ),
    "then Dropout and Flatten": lambda: _seq(
        keras.layers.Dense(3, activation="softmax"),
        keras.layers.Dropout(0.5),
        keras.layers.Flatten(),
    ),
    "EinsumDense softmax": lambda: _seq(
        keras.layers.EinsumDense("ab,bc->ac", 3, bias_axes="c", activation="softmax")
    ),
    "nested Sequential": lambda: _seq(
        keras.layers.Dense(8),
        keras.Sequential(
            [keras.Input((8,)), keras.layers.Dense(3, activation="softmax")]
        ),
    ),
    "keras.ops.sigmoid": lambda: _functional(
        lambda x: keras.ops.sigmoid(keras.layers.Dense(2)(x))
    ),
}


@pytest.mark.parametrize(
    "make_model", PROBABILITY_HEADS.values(), ids=list(PROBABILITY_HEADS)
)
def test_probability_head_is_read_from_the_values_its_activation_receives(
    make_model,
):
    model = make_model()
    head = _only(model)
    assert (head.logits, head.read_from, head.reads_logits) == (
        False,
        "pre_activation",
        True,
    )
    X = np.random.default_rng(0).normal(scale=30.0, size=(50, 4)).astype("float32")
    read = _numpy(reading_model(model, [head])(X)).astype(np.float64)
    link = softmax if head.link == "softmax" else sigmoid
    np.testing.assert_allclose(link(read), _numpy(model(X)), atol=1e-6)
    assert np.abs(read).max() > 20  # beyond float32's sigmoid: not probabilities


def test_reading_model_shares_weights_and_leaves_the_model_unchanged():
    model = _seq(keras.layers.Dense(8), keras.layers.Dense(3, activation="softmax"))
    head = model.layers[-1]
    X = np.ones((2, 4), dtype="float32")
    before = _numpy(model(X))
    reading = reading_model(model, inspect_heads(model))
    reading(X)
    assert head.activation is keras.activations.softmax
    assert {id(w) for w in reading.weights} <= {id(w) for w in model.weights}
    np.testing.assert_array_equal(_numpy(model(X)), before)
    model.layers[-1].bias.assign([5.0, 0.0, 0.0])  # one set of weights: seen by both
    np.testing.assert_allclose(softmax(_numpy(reading(X))), _numpy(model(X)), atol=1e-6)


def test_logits_heads_are_read_from_the_model_itself():
    model = _seq(keras.layers.Dense(3))
    head = _only(model)
    assert (head.read_from, head.reads_logits) == ("output", True)
    assert reading_model(model, [head]) is model


def test_softmax_inside_a_custom_layer_is_read_from_the_output_and_says_so():
    class DenseSoftmax(keras.layers.Layer):
        def build(self, input_shape):
            self.dense = keras.layers.Dense(3)

        def call(self, x):
            return keras.ops.softmax(self.dense(x))

    head = _only(_seq(DenseSoftmax()), logits=False)
    assert (head.logits, head.read_from, head.reads_logits) == (False, "output", False)
