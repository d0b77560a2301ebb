"""``BaseWrapper``: wrappers written on it the scikeras way run unchanged.

The two subclasses scikeras' documentation and tests show -- an autoencoder
transformer (its AutoEncoders notebook and ``tests/test_basewrapper.py``) and
an estimator with its own build method, target encoder and scorer -- with our
fit machinery and its safety: seeds, parameter validation, incremental-fit
checks.
"""

import keras
import numpy as np
import pytest
from sklearn.base import BaseEstimator, RegressorMixin, TransformerMixin, clone
from sklearn.datasets import load_diabetes, load_digits
from sklearn.metrics import mean_squared_error, r2_score
from sklearn.model_selection import GridSearchCV
from sklearn.utils import get_tags

from skkeras_proba import BaseWrapper, KerasClassifier, KerasRegressor

DIGITS = (load_digits().data / 16).astype(np.float32)  # in [0, 1]
X_REG, Y_REG = load_diabetes(return_X_y=True)


def test_estimators_are_base_wrappers_as_in_scikeras():
    assert issubclass(KerasClassifier, BaseWrapper)
    assert issubclass(KerasRegressor, BaseWrapper)


# The AutoEncoder of scikeras' AutoEncoders notebook, with its import swapped.


class AutoEncoder(BaseWrapper, TransformerMixin):
    """A class that enables transform and fit_transform."""

    encoder_model_: BaseWrapper
    decoder_model_: BaseWrapper

    def _keras_build_fn(self, encoding_dim, meta):
        n_features_in = meta["n_features_in_"]

        encoder_input = keras.Input(shape=(n_features_in,))
        encoder_output = keras.layers.Dense(encoding_dim, activation="relu")(
            encoder_input
        )
        encoder_model = keras.Model(encoder_input, encoder_output)

        decoder_input = keras.Input(shape=(encoding_dim,))
        decoder_output = keras.layers.Dense(
            n_features_in, activation="sigmoid", name="decoder"
        )(decoder_input)
        decoder_model = keras.Model(decoder_input, decoder_output)

        autoencoder_input = keras.Input(shape=(n_features_in,))
        encoded_img = encoder_model(autoencoder_input)
        reconstructed_img = decoder_model(encoded_img)

        autoencoder_model = keras.Model(autoencoder_input, reconstructed_img)

        self.encoder_model_ = BaseWrapper(encoder_model, verbose=self.verbose)
        self.decoder_model_ = BaseWrapper(decoder_model, verbose=self.verbose)

        return autoencoder_model

    def _initialize(self, X, y=None):
        X, _ = super()._initialize(X=X, y=y)
        X_tf = self.encoder_model_.initialize(X).predict(X)
        self.decoder_model_.initialize(X_tf)
        return X, X

    def initialize(self, X):
        self._initialize(X=X, y=X)
        return self

    def fit(self, X, *, sample_weight=None):
        super().fit(X=X, y=X, sample_weight=sample_weight)
        return self

    def score(self, X):
        return 1 - mean_squared_error(self.predict(X), X)

    def transform(self, X):
        X = self.feature_encoder_.transform(X)
        return self.encoder_model_.predict(X)

    def inverse_transform(self, X_tf):
        X = self.decoder_model_.predict(X_tf)
        return self.feature_encoder_.inverse_transform(X)


def autoencoder(**params):
    settings = {
        "loss": "binary_crossentropy",
        "encoding_dim": 8,
        "random_state": 0,
        "epochs": 5,
        "verbose": False,
        "optimizer": "adam",
    }
    return AutoEncoder(**{**settings, **params})


def test_scikeras_autoencoder_notebook_runs_unchanged():
    untrained = autoencoder(epochs=0).fit(DIGITS)
    ae = autoencoder().fit(DIGITS)
    codes = ae.transform(DIGITS)
    assert codes.shape == (len(DIGITS), 8)
    roundtrip = ae.inverse_transform(codes)
    # The encoder and decoder share the trained autoencoder's layers.
    np.testing.assert_allclose(roundtrip, ae.predict(DIGITS), rtol=1e-4, atol=1e-5)
    assert ae.score(DIGITS) > untrained.score(DIGITS) + 0.02
    assert mean_squared_error(DIGITS, roundtrip) < 0.7 * mean_squared_error(
        DIGITS, untrained.inverse_transform(untrained.transform(DIGITS))
    )


def test_autoencoder_refits_identically_and_clones():
    first = autoencoder().fit(DIGITS).transform(DIGITS[:50])
    second = clone(autoencoder()).fit(DIGITS).transform(DIGITS[:50])
    np.testing.assert_array_equal(first, second)
    assert clone(autoencoder()).get_params()["encoding_dim"] == 8


def test_autoencoder_hyperparameters_are_searchable():
    search = GridSearchCV(autoencoder(epochs=2), {"encoding_dim": [4, 8]}, cv=2)
    search.fit(DIGITS[:400])
    assert search.best_params_["encoding_dim"] in (4, 8)


# scikeras' tests/test_basewrapper.py, on digits instead of MNIST (no network):
# wrappers around models sharing layers, one trained with partial_fit.


class AutoEncoderTransformer(BaseWrapper, TransformerMixin):
    """Enables the ``transform`` and ``fit_transform`` methods."""

    def fit(self, X):
        self.initialize(X)
        return self

    def transform(self, X):
        return self.predict(X)


def test_scikeras_basewrapper_test_runs_unchanged():
    encoding_dim = 8
    input_img = keras.Input(shape=(64,))
    encoded = keras.layers.Dense(encoding_dim, activation="relu")(input_img)
    decoded = keras.layers.Dense(64, activation="sigmoid")(encoded)
    autoencoder_model = keras.Model(input_img, decoded)
    encoder_model = keras.Model(input_img, encoded)
    encoded_input = keras.Input(shape=(encoding_dim,))
    decoder_layer = autoencoder_model.layers[-1]
    decoder_model = keras.Model(encoded_input, decoder_layer(encoded_input))

    compile_params = {"optimizer": "adam", "loss": "binary_crossentropy"}
    fit_params = {"batch_size": 32, "shuffle": True, "random_state": 0}
    params = {**compile_params, **fit_params}
    autoencoder = BaseWrapper(model=autoencoder_model, **params)
    encoder = AutoEncoderTransformer(model=encoder_model, **params)
    decoder = AutoEncoderTransformer(model=decoder_model, **params)

    def roundtrip_mse():
        roundtrip = decoder.transform(encoder.transform(DIGITS))
        return mean_squared_error(roundtrip, DIGITS)

    autoencoder.initialize(DIGITS, DIGITS)
    encoded_images = encoder.fit_transform(DIGITS)
    assert encoded_images.shape == (DIGITS.shape[0], encoding_dim)
    roundtrip_imgs = decoder.fit_transform(encoded_images)
    assert roundtrip_imgs.shape == DIGITS.shape
    mse_untrained = roundtrip_mse()

    for _ in range(5):
        autoencoder.partial_fit(DIGITS, DIGITS)  # trains the shared layers in place

    assert roundtrip_mse() < mse_untrained * 0.5
    assert autoencoder.model_ is autoencoder_model


def test_initialize_needs_no_loss_for_inference():
    inputs = keras.Input((64,))
    model = keras.Model(inputs, keras.layers.Dense(3)(inputs))
    wrapper = BaseWrapper(model).initialize(DIGITS)
    expected = keras.ops.convert_to_numpy(model(DIGITS, training=False))
    np.testing.assert_allclose(wrapper.predict(DIGITS), expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="must provide a loss"):
        wrapper.partial_fit(DIGITS, DIGITS[:, :3])


# An estimator written on BaseWrapper as scikeras' docs show: a build method
# taking routed parameters, meta and compile_kwargs, a target encoder and a
# scorer.


class Standardize(TransformerMixin, BaseEstimator):
    """y to zero mean and unit variance, as one column, and back."""

    def fit(self, y):
        self.mean_, self.std_ = np.mean(y), np.std(y)
        return self

    def transform(self, y):
        return ((y - self.mean_) / self.std_).reshape(-1, 1)

    def inverse_transform(self, y):
        return np.ravel(y) * self.std_ + self.mean_


class StandardizedRegressor(BaseWrapper, RegressorMixin):
    def _keras_build_fn(self, hidden, meta, compile_kwargs):
        model = keras.Sequential(
            [
                keras.Input((meta["n_features_in_"],)),
                keras.layers.Dense(hidden, activation="relu"),
                keras.layers.Dense(1),
            ]
        )
        model.compile(**compile_kwargs)
        return model

    @property
    def target_encoder(self):
        return Standardize()

    @staticmethod
    def scorer(y_true, y_pred, **kwargs):
        return r2_score(y_true, y_pred, **kwargs)


def standardized_regressor(**params):
    settings = {
        "hidden": 16,
        "loss": "mse",
        "optimizer": "adam",
        "optimizer__learning_rate": 0.02,
        "epochs": 20,
        "random_state": 0,
    }
    return StandardizedRegressor(**{**settings, **params})


def test_scikeras_style_estimator_trains_predicts_and_scores():
    reg = standardized_regressor().fit(X_REG, Y_REG)
    y_pred = reg.predict(X_REG)
    assert y_pred.shape == Y_REG.shape
    assert abs(y_pred.mean() - Y_REG.mean()) < 0.2 * Y_REG.std()  # decoded
    assert reg.score(X_REG, Y_REG) == pytest.approx(r2_score(Y_REG, y_pred))
    assert reg.score(X_REG, Y_REG) > 0.3


def test_scikeras_style_estimator_in_a_grid_search():
    search = GridSearchCV(standardized_regressor(epochs=5), {"hidden": [2, 16]}, cv=2)
    search.fit(X_REG, Y_REG)
    assert set(search.cv_results_["param_hidden"]) == {2, 16}


def test_seeded_fits_of_a_subclass_are_identical():
    first = standardized_regressor(epochs=2).fit(X_REG, Y_REG).predict(X_REG)
    second = standardized_regressor(epochs=2).fit(X_REG, Y_REG).predict(X_REG)
    np.testing.assert_array_equal(first, second)


def test_subclass_parameters_are_validated_before_fitting():
    reg = standardized_regressor(steps_per_execution=0)
    with pytest.raises(ValueError, match="steps_per_execution"):
        reg.fit(X_REG, Y_REG)
    assert not hasattr(reg, "model_")


def test_incremental_fit_of_another_y_shape_is_rejected_before_training():
    reg = standardized_regressor(epochs=1).fit(X_REG, Y_REG)
    weights = [w.copy() for w in reg.model_.get_weights()]
    with pytest.raises(ValueError, match=r"y has samples of shape \(2,\)"):
        reg.partial_fit(X_REG, np.column_stack([Y_REG, Y_REG]))
    with pytest.raises(ValueError, match="features"):
        reg.partial_fit(X_REG[:, :5], Y_REG)
    for before, after in zip(weights, reg.model_.get_weights(), strict=True):
        np.testing.assert_array_equal(before, after)
    assert reg.current_epoch == 1


def test_model_instance_is_cloned_per_fit_as_for_the_estimators():
    inputs = keras.Input((X_REG.shape[1],))
    model = keras.Model(inputs, keras.layers.Dense(1)(inputs))
    model.compile("adam", "mse")
    weights = [w.copy() for w in model.get_weights()]
    wrapper = BaseWrapper(model, epochs=2, random_state=0).fit(X_REG, Y_REG)
    assert wrapper.model_ is not model
    for before, after in zip(weights, model.get_weights(), strict=True):
        np.testing.assert_array_equal(before, after)


def test_unknown_parameter_gets_scikeras_message():
    with pytest.raises(ValueError, match="Invalid parameter test for estimator"):
        BaseWrapper().set_params(test=1)


def test_subclass_tags_dict_is_applied():
    class Tagged(BaseWrapper, TransformerMixin):
        _tags = {"requires_y": False, "allow_nan": True, "X_types": ["2darray"]}

    tags = get_tags(Tagged())
    assert tags.input_tags.allow_nan and not tags.input_tags.sparse
    assert not tags.target_tags.required
    # Our own classes keep theirs (scikeras' BaseWrapper._tags is not applied).
    assert not get_tags(KerasRegressor()).regressor_tags.poor_score
