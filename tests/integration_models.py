"""Model factories for the integration and error tests, beyond tests/models.py.

These build heads whose size is fixed by the caller rather than read from
``meta``, to provoke mismatches between a model and its targets.
"""

import keras

HIDDEN = 16


def _body(meta, hidden=HIDDEN):
    inputs = keras.Input(meta["X_shape_"][1:])
    x = keras.layers.Flatten()(inputs) if len(meta["X_shape_"]) > 2 else inputs
    return inputs, keras.layers.Dense(hidden, activation="relu")(x)


def fixed_units_softmax_head(meta, units=4, hidden=HIDDEN):
    """Dense(units, softmax) + sparse categorical cross-entropy, whatever y is."""
    inputs, x = _body(meta, hidden)
    outputs = keras.layers.Dense(units, activation="softmax", name="scores")(x)
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    return model


def fixed_units_regression_head(meta, units=3, hidden=HIDDEN):
    """Dense(units) linear + mean squared error, whatever y is."""
    inputs, x = _body(meta, hidden)
    outputs = keras.layers.Dense(units, name="targets")(x)
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.Adam(0.01), "mse")
    return model
