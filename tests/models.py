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
    model.compile(
        keras.optimizers.Adam(learning_rate), "sparse_categorical_crossentropy"
    )
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


def multilabel_logits_head(meta, hidden=HIDDEN, learning_rate=0.01):
    """Dense(n_labels) linear + BinaryCrossentropy(from_logits=True)."""
    inputs, x = _body(meta, hidden)
    outputs = keras.layers.Dense(meta["n_classes_"])(x)
    model = keras.Model(inputs, outputs)
    model.compile(
        keras.optimizers.Adam(learning_rate),
        keras.losses.BinaryCrossentropy(from_logits=True),
    )
    return model


def softmax_heads_per_column(meta, hidden=HIDDEN, learning_rate=0.01):
    """One Dense(n_classes_j, softmax) head per column of a multi-output y."""
    inputs, x = _body(meta, hidden)
    outputs = [
        keras.layers.Dense(n_classes, activation="softmax", name=f"column_{j}")(x)
        for j, n_classes in enumerate(meta["n_classes_"])
    ]
    model = keras.Model(inputs, outputs)
    model.compile(
        keras.optimizers.Adam(learning_rate),
        ["sparse_categorical_crossentropy"] * len(outputs),
    )
    return model


def auto_head(meta, hidden=HIDDEN, learning_rate=0.01):
    """Picks the head from the target type, as a user's build function might.

    Used by scikit-learn's estimator checks, which mix binary, multiclass,
    multi-label and multi-output targets.
    """
    factories = {
        "binary": logit_unit_head,
        "multilabel-indicator": multilabel_logits_head,
        "multiclass-multioutput": softmax_heads_per_column,
    }
    factory = factories.get(meta["target_type_"], logits_head)
    return factory(meta, hidden, learning_rate)


def linear_regression_head(meta, hidden=HIDDEN, learning_rate=0.01):
    """Dense(n_outputs) linear + mean squared error."""
    inputs, x = _body(meta, hidden)
    outputs = keras.layers.Dense(meta["n_outputs_"])(x)
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.Adam(learning_rate), "mse")
    return model


class FitRecordingSequential(keras.Sequential):
    """A ``Sequential`` subclass that keeps the keyword arguments of its ``fit``.

    Stands for any model class of the user's own: its ``fit_kwargs`` exist
    only if its own code ran.
    """

    def fit(self, *args, **kwargs):
        self.fit_kwargs = kwargs
        return super().fit(*args, **kwargs)


def fit_recording_logits_head(meta):
    """A ``FitRecordingSequential`` of Dense(n_classes) linear, from logits."""
    model = FitRecordingSequential(
        [keras.Input(meta["X_shape_"][1:]), keras.layers.Dense(meta["n_classes_"])]
    )
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model
