"""TensorFlow's thread pools sized to a worker process's share of the machine.

joblib's process workers (``GridSearchCV(n_jobs=2)``, ``cross_val_score``, ...)
and Dask's worker processes each get a share of the cores: joblib tells BLAS
and OpenMP through ``OMP_NUM_THREADS`` (``cpu_count() // n_jobs``) in the
worker's environment, Dask gives each worker ``nthreads`` task threads.
TensorFlow reads neither and sizes its pools to every core of the machine, so
two workers on two cores run four busy threads and a search barely speeds up.
The first fit in such a worker process sizes TensorFlow's pools to the share,
as joblib does for BLAS. Nothing is changed in a process the user runs the
estimator in directly, nor where the pools were already set or TensorFlow has
already started (its pools are fixed for the life of a process then).
"""

from __future__ import annotations

import multiprocessing
import os
import sys

import keras

_LOKY_WORKER = "LokyProcess"
_DASK_WORKER = "Dask Worker process"


def worker_thread_share() -> int | None:
    """Threads this process may use when it is a joblib or Dask worker, else None."""
    name = multiprocessing.current_process().name
    if name.startswith(_LOKY_WORKER):
        try:
            return max(int(os.environ.get("OMP_NUM_THREADS", "")), 1)
        except ValueError:
            return None
    if name.startswith(_DASK_WORKER):
        distributed = sys.modules.get("distributed")
        try:
            return int(distributed.get_worker().nthreads)
        except (AttributeError, ValueError):  # not in one of the worker's tasks
            return None
    return None


def size_framework_threads() -> None:
    """In a worker process, size TensorFlow's pools to the worker's share, once."""
    share = worker_thread_share()
    if share is None or keras.backend.backend() != "tensorflow":
        return
    import tensorflow as tf

    threading = tf.config.threading
    if threading.get_intra_op_parallelism_threads() or (
        threading.get_inter_op_parallelism_threads()
    ):
        return  # set already: by the user, or by an earlier fit in this process
    try:
        threading.set_intra_op_parallelism_threads(share)
        threading.set_inter_op_parallelism_threads(share)
    except RuntimeError:
        return  # TensorFlow has started in this process: too late to resize
