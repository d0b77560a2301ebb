"""TensorFlow's pools are sized in joblib worker processes, and only there."""

import joblib
import pytest
import tensorflow as tf
from sklearn.datasets import load_iris

from skkeras_proba import KerasClassifier
from skkeras_proba._fit._worker_threads import worker_thread_share
from tests.backends import requires_backend
from tests.models import logits_head

pytestmark = requires_backend(
    "tensorflow",
    reason="only TensorFlow's thread pools are sized by a fit; PyTorch and JAX "
    "read the OMP_NUM_THREADS that joblib sets in each worker themselves",
)

X, Y = load_iris(return_X_y=True)


def _pools():
    threading = tf.config.threading
    return (
        threading.get_intra_op_parallelism_threads(),
        threading.get_inter_op_parallelism_threads(),
    )


def _fit_and_report_pools():
    before = _pools()
    KerasClassifier(logits_head, random_state=0).fit(X, Y)
    return before, _pools(), worker_thread_share()


def test_a_process_run_directly_is_no_worker_and_keeps_its_pools():
    assert worker_thread_share() is None
    before = _pools()
    KerasClassifier(logits_head, random_state=0).fit(X, Y)
    assert _pools() == before


@pytest.mark.xdist_group("worker_processes")
def test_fit_in_a_joblib_worker_sizes_pools_to_the_worker_share():
    share = max(joblib.cpu_count() // 2, 1)  # what joblib gives each of 2 workers
    own_pools = _pools()
    with joblib.parallel_config(backend="loky", inner_max_num_threads=share):
        results = joblib.Parallel(n_jobs=2)(
            joblib.delayed(_fit_and_report_pools)() for _ in range(2)
        )
    for before, after, worker_share in results:
        assert worker_share == share
        assert before in ((0, 0), (share, share))  # a reused worker was sized
        assert after == (share, share)
    assert _pools() == own_pools  # the process that ran the search: untouched
