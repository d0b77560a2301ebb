"""One fitted estimator serving predictions from many threads at once."""

import threading

import numpy as np
from sklearn.datasets import load_digits

from skkeras_proba import KerasClassifier
from tests import models

THREADS = 8
CALLS = 2_000  # in total, spread over the threads
MAX_ROWS = 50


def _requests(n_rows: int) -> list[tuple[str, int, int]]:
    """``(method, start, stop)`` of each call: 1 to 50 rows, three methods."""
    rng = np.random.RandomState(0)
    methods = ("predict_proba", "predict", "decision_function")
    sizes = rng.randint(1, MAX_ROWS + 1, size=CALLS)
    starts = rng.randint(0, n_rows - MAX_ROWS, size=CALLS)
    return [
        (methods[i % len(methods)], int(start), int(start + size))
        for i, (start, size) in enumerate(zip(starts, sizes, strict=True))
    ]


def test_threads_calling_one_estimator_get_exactly_the_serial_results():
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    clf = KerasClassifier(models.logits_head, epochs=1, random_state=0, verbose=0)
    clf.fit(X, y)
    requests = _requests(len(X))
    serial = [getattr(clf, m)(X[start:stop]) for m, start, stop in requests]

    threaded: list = [None] * CALLS
    errors: list[BaseException] = []
    ready = threading.Barrier(THREADS)  # all threads call at the same time

    def serve(worker: int) -> None:
        ready.wait()
        try:
            for i in range(worker, CALLS, THREADS):
                method, start, stop = requests[i]
                threaded[i] = getattr(clf, method)(X[start:stop])
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    threads = [threading.Thread(target=serve, args=(w,)) for w in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    for (method, start, stop), expected, got in zip(
        requests, serial, threaded, strict=True
    ):
        assert got.shape == (stop - start, *expected.shape[1:]), method
        np.testing.assert_array_equal(got, expected)
