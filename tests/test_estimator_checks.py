"""scikit-learn's own estimator checks, run on both estimators.

Checks that cannot hold are listed with a one-line reason; ``xfail_strict``
makes a check that starts passing fail the run, so the list stays honest.
"""

import pytest
from sklearn.utils._testing import SkipTest
from sklearn.utils.estimator_checks import estimator_checks_generator

from skkeras_proba import KerasClassifier, KerasRegressor
from tests.models import auto_head, linear_regression_head

EXPECTED_FAILED_CHECKS: dict[str, str] = {}


def _cases():
    estimators = {
        "KerasClassifier": KerasClassifier(
            auto_head, epochs=20, batch_size=16, random_state=0
        ),
        "KerasRegressor": KerasRegressor(
            linear_regression_head, epochs=20, batch_size=16, random_state=0
        ),
    }
    for name, estimator in estimators.items():
        for est, check in estimator_checks_generator(
            estimator,
            expected_failed_checks=EXPECTED_FAILED_CHECKS,
            mark="xfail",
            xfail_strict=True,
        ):
            check_name = getattr(check, "func", check).__name__
            kwargs = getattr(check, "keywords", {})
            suffix = ",".join(f"{k}={v}" for k, v in kwargs.items())
            yield pytest.param(est, check, id=f"{name}-{check_name}({suffix})")


@pytest.mark.parametrize(("estimator", "check"), list(_cases()))
def test_sklearn_compatible_estimator(estimator, check):
    try:
        check(estimator)
    except SkipTest as skip:
        pytest.skip(str(skip))
