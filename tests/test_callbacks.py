"""Which hooks a callback implements: the test both fast paths rely on."""

import keras

from skkeras_proba._callbacks import overrides_any_hook
from skkeras_proba._fit._loop import BATCH_HOOKS
from skkeras_proba._forward import PREDICT_HOOKS


class EpochLogger(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        pass


class BatchLogger(EpochLogger):
    def on_train_batch_end(self, batch, logs=None):
        pass


class PredictLogger(keras.callbacks.Callback):
    def on_predict_batch_end(self, batch, logs=None):
        pass


class InheritsBatchHook(BatchLogger):
    """Overrides nothing itself: the hook of its parent class still runs."""


class TestOverridesAnyHook:
    def test_no_callbacks_override_nothing(self):
        assert not overrides_any_hook([], BATCH_HOOKS)

    def test_epoch_level_callbacks_have_no_batch_or_predict_hook(self):
        callbacks = [EpochLogger(), keras.callbacks.EarlyStopping()]
        assert not overrides_any_hook(callbacks, BATCH_HOOKS)
        assert not overrides_any_hook(callbacks, PREDICT_HOOKS)

    def test_one_overriding_callback_among_many_is_found(self):
        assert overrides_any_hook([EpochLogger(), BatchLogger()], BATCH_HOOKS)

    def test_hook_inherited_from_a_user_class_counts(self):
        assert overrides_any_hook([InheritsBatchHook()], BATCH_HOOKS)

    def test_hooks_are_told_apart_by_kind(self):
        assert overrides_any_hook([PredictLogger()], PREDICT_HOOKS)
        assert not overrides_any_hook([PredictLogger()], BATCH_HOOKS)
        assert not overrides_any_hook([BatchLogger()], PREDICT_HOOKS)
