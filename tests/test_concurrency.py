"""A seeded fit gives the same model whatever else runs in the process."""

import functools
import random
import threading
from concurrent.futures import ThreadPoolExecutor

import keras
import numpy as np
import pytest
from sklearn.datasets import load_wine
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skkeras_proba import KerasClassifier
from skkeras_proba._compat import (
    keras_global_seed_state,
    restore_keras_global_seed,
    set_keras_global_seed,
    set_tf_global_seed,
    tf_global_seed,
    tf_op_determinism_enabled,
)
from tests.backends import requires_backend
from tests.models import softmax_head

# These tests run fits in several threads or processes of their own; one xdist
# worker runs them one after another, and computes the serial results once.
pytestmark = pytest.mark.xdist_group("concurrency")

RAW_X, Y = load_wine(return_X_y=True)
X = StandardScaler().fit_transform(RAW_X).astype("float32")
HIDDEN_SIZES = (4, 8, 16, 4, 8, 16)
ROUNDS = 3


def _fit_proba(hidden, random_state=0):
    clf = KerasClassifier(
        softmax_head,
        model__hidden=hidden,
        epochs=5,
        random_state=random_state,
        verbose=0,
    )
    return clf.fit(X, Y).predict_proba(X)


@functools.cache
def _serial_proba(hidden):
    # Cached rather than a fixture: xdist may run other modules' tests between
    # these, which would tear a module fixture down and fit again.
    return _fit_proba(hidden)


def test_seeded_fits_in_threads_equal_serial_fits():
    for _ in range(ROUNDS):
        with ThreadPoolExecutor(4) as pool:
            probas = list(pool.map(_fit_proba, HIDDEN_SIZES))
        for hidden, proba in zip(HIDDEN_SIZES, probas, strict=True):
            np.testing.assert_array_equal(proba, _serial_proba(hidden))


def test_seeded_fit_beside_unseeded_fits_equals_its_serial_fit():
    hidden_sizes, seeds = (4, 8, 16, 8), (0, None, None, 0)
    with ThreadPoolExecutor(4) as pool:
        probas = list(pool.map(_fit_proba, hidden_sizes, seeds))
    np.testing.assert_array_equal(probas[0], _serial_proba(4))
    np.testing.assert_array_equal(probas[3], _serial_proba(8))


def _backend_generator_state():
    """What keras.utils.set_random_seed sets in the backend, comparable with ==.

    TensorFlow's global seed; on PyTorch, the state of torch's generator.
    """
    if keras.backend.backend() == "torch":
        import torch

        return torch.get_rng_state().tolist()
    return tf_global_seed()


@pytest.fixture
def process_seeded_by_user():
    """The process seeded as a user would, and put back afterwards."""
    saved = random.getstate(), np.random.get_state(), tf_global_seed()
    keras_saved = keras_global_seed_state()
    if keras.backend.backend() == "torch":
        import torch

        torch_saved = torch.get_rng_state()
    keras.utils.set_random_seed(123)
    yield
    random.setstate(saved[0])
    np.random.set_state(saved[1])
    set_tf_global_seed(saved[2])
    restore_keras_global_seed(keras_saved)
    if keras.backend.backend() == "torch":
        torch.set_rng_state(torch_saved)


def test_overlapping_seeded_fits_leave_global_random_state_unchanged(
    process_seeded_by_user,
):
    python_before, numpy_before = random.getstate(), np.random.get_state()[1].copy()
    backend_before, keras_before = _backend_generator_state(), keras_global_seed_state()

    def fit_in_thread(hidden):
        set_keras_global_seed(1000 + hidden)  # this thread's own Keras seed
        keras_before = keras_global_seed_state()
        _fit_proba(hidden, random_state=hidden)
        return keras_global_seed_state() == keras_before

    with ThreadPoolExecutor(3) as pool:
        keras_state_kept = list(pool.map(fit_in_thread, (4, 8, 16)))
    assert keras_state_kept == [True, True, True]
    assert random.getstate() == python_before
    np.testing.assert_array_equal(np.random.get_state()[1], numpy_before)
    assert _backend_generator_state() == backend_before
    if keras.backend.backend() == "tensorflow":
        # What keras.utils.set_random_seed(123) left (Keras' own seed only from 3.4).
        assert backend_before == 123
    assert keras_global_seed_state() == keras_before
    assert not tf_op_determinism_enabled()


class _FitAnotherWhileTraining(keras.callbacks.Callback):
    """At the first epoch, start a second fit and wait until it builds."""

    def __init__(self):
        super().__init__()
        self.other_built = threading.Event()
        self.other_fit = threading.Thread(target=self._fit_other)

    def _fit_other(self):
        def build_and_signal(meta):
            self.other_built.set()
            return softmax_head(meta)

        KerasClassifier(build_and_signal, epochs=1, verbose=0).fit(X, Y)

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 0:
            self.other_fit.start()
            # A fit that held the build lock while training would block the
            # other fit's build until this fit ends; 60 s only bounds a failure.
            self.built_while_training = self.other_built.wait(timeout=60)


@requires_backend(
    "tensorflow",
    "jax",
    reason="on PyTorch a fit keeps torch's process-wide generator until it ends "
    "(any training step may draw from it), so other fits wait to build",
)
def test_other_fits_build_while_a_fit_trains():
    fit_another = _FitAnotherWhileTraining()
    KerasClassifier(
        softmax_head, epochs=1, random_state=0, callbacks=[fit_another], verbose=0
    ).fit(X, Y)
    fit_another.other_fit.join()
    assert fit_another.built_while_training


@pytest.fixture(scope="module")
def dask_client():
    import distributed

    # One cluster for every run: each worker imports TensorFlow once.
    with (
        distributed.LocalCluster(
            n_workers=2,
            processes=True,
            threads_per_worker=2,
            host="127.0.0.1",
            dashboard_address=":0",
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


def _grid_search():
    pipeline = make_pipeline(
        StandardScaler(),
        KerasClassifier(softmax_head, epochs=3, random_state=0, verbose=0),
    )
    return GridSearchCV(
        pipeline,
        {"kerasclassifier__model__hidden": [4, 8]},
        cv=2,
        scoring="neg_log_loss",
        refit=False,
    )


def test_grid_search_on_dask_workers_equals_local_search(dask_client):
    import joblib

    local = _grid_search().fit(RAW_X, Y).cv_results_["mean_test_score"]
    for _ in range(3):
        with joblib.parallel_backend("dask"):
            search = _grid_search().set_params(n_jobs=-1).fit(RAW_X, Y)
        np.testing.assert_array_equal(search.cv_results_["mean_test_score"], local)
