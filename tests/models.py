"""Tiny Keras model factories, named by the head they build.

Every factory is a scikeras-style build function: it reads the data's shape
from ``meta`` and returns a compiled model.
"""

import keras

HIDDEN = 16


def _body(meta, hidden=HIDDEN):
    inputs = keras.Input(meta["X_shape_"][1:])
    x = keras.layers.Flatten()(inputs) if len(meta["X_shape_"]) > 2 else inputs
    return inputs, keras.layers.Dense(hidden, activation="relu")(x)


def softmax_head(meta, hidden=HIDDEN, learning_rate=0.01):
    """Dense(n_classes, softmax) + sparse categorical cross-entropy."""
    inputs, x = _body(meta, hidden)
    outputs = keras.layers.Dense(meta["n_classes_"], activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.Adam(learning_rate), "sparse_categorical_crossentropy")
    return model


def logits_head(meta, hidden=HIDDEN, learning_rate=0.01):
    """Dense(n_classes) linear + SparseCategoricalCrossentropy(from_logits=True)."""
    inputs, x = _body(meta, hidden)
    outputs = keras.layers.Dense(meta["n_classes_"])(x)
    model = keras.Model(inputs, outputs)
    model.compile(
        keras.optimizers.Adam(learning_rate),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def sigmoid_unit_head(meta, hidden=HIDDEN, learning_rate=0.01):
    """Dense(1, sigmoid) + binary cross-entropy, for binary targets."""
    inputs, x = _body(meta, hidden)
    outputs = keras.layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.Adam(learning_rate), "binary_crossentropy")
    return model


def logit_unit_head(meta, hidden=HIDDEN, learning_rate=0.01):
    """Dense(1) linear + BinaryCrossentropy(from_logits=True), for binary targets."""
    inputs, x = _body(meta, hidden)
    outputs = keras.layers.Dense(1)(x)
    model = keras.Model(inputs, outputs)
    model.compile(
        keras.optimizers.Adam(learning_rate),
        keras.losses.BinaryCrossentropy(from_logits=True),
    )
    return model


def one_hot_softmax_head(meta, hidden=HIDDEN, learning_rate=0.01):
    """Dense(n_classes, softmax) compiled with categorical (one-hot) cross-entropy."""
    inputs, x = _body(meta, hidden)
    outputs = keras.layers.Dense(meta["n_classes_"], activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.Adam(learning_rate), "categorical_crossentropy")
    return model


def auto_head(meta, hidden=HIDDEN, learning_rate=0.01):
    """Picks the head from the target: one logit unit for binary, else n logits.

    Used by scikit-learn's estimator checks, which mix binary and multiclass y.
    """
    if meta["target_type_"] == "binary":
        return logit_unit_head(meta, hidden, learning_rate)
    return logits_head(meta, hidden, learning_rate)


def linear_regression_head(meta, hidden=HIDDEN, learning_rate=0.01):
    """Dense(n_outputs) linear + mean squared error."""
    inputs, x = _body(meta, hidden)
    outputs = keras.layers.Dense(meta["n_outputs_"])(x)
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.Adam(learning_rate), "mse")
    return model
